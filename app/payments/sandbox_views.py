"""The sandbox gateway (development and demos only): its cashier page, where the buyer plays the gateway,
and its signed notify. These routes are registered only outside production — there they do not exist."""

import logging

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select, update

from app.extensions import csrf, db, login_manager
from app.orders.access import is_buyer
from app.orders.models import OrderStatus
from app.payments import get_provider, sandbox
from app.payments.models import Payment, PaymentStatus
from app.payments.services import PaymentError, confirm_payment

bp = Blueprint("sandbox", __name__)
log = logging.getLogger(__name__)


def init_app(app) -> None:
    if app.config["FENXIAO_ENV"] != "production":
        app.register_blueprint(bp, url_prefix="/pay")


def process_sandbox_notify(headers, body: bytes) -> tuple[int, dict]:
    """The sandbox's notify protocol (modelled on WeChat Pay's): verify, confirm, answer."""
    provider = get_provider("sandbox")
    data = provider.parse_notify(headers, body)
    if data is None:
        log.warning("sandbox notify with a bad signature refused")
        return 401, {"code": "FAIL", "message": "signature"}
    if data.get("trade_state") != "SUCCESS":
        return 200, {"code": "SUCCESS"}
    try:
        result = confirm_payment(
            db.session,
            provider="sandbox",
            out_trade_no=str(data.get("out_trade_no", "")),
            amount_fen=data.get("amount_fen"),
            gateway_trade_no=data.get("trade_no"),
            raw=data,
        )
    except PaymentError as error:
        db.session.rollback()
        log.warning("sandbox notify refused: %s (%s)", error.message, data.get("out_trade_no"))
        return 400, {"code": "FAIL", "message": str(error.message)}
    db.session.commit()
    log.info("sandbox notify %s: %s", result.payment.out_trade_no, result.outcome)
    return 200, {"code": "SUCCESS"}


@bp.post("/notify/sandbox")
@csrf.exempt
def notify():
    _require_sandbox()
    status, body = process_sandbox_notify(request.headers, request.get_data())
    return jsonify(body), status


def _require_sandbox():
    if not get_provider("sandbox").is_enabled(current_app, db.session):
        abort(404)


def _sandbox_payment(out_trade_no: str) -> Payment:
    _require_sandbox()
    payment = db.session.scalar(
        select(Payment).where(Payment.out_trade_no == out_trade_no[:32], Payment.provider == "sandbox")
    )
    # Only the buyer plays the gateway for their own order: nobody else may pay, fail or cancel it.
    if not current_user.is_authenticated:
        abort(login_manager.unauthorized())
    if payment is None or not is_buyer(payment.order, current_user):
        abort(404)
    return payment


@bp.get("/sandbox/<out_trade_no>")
def gateway(out_trade_no: str):
    payment = _sandbox_payment(out_trade_no)
    return render_template("payments/sandbox.html", payment=payment, order=payment.order)


@bp.post("/sandbox/<out_trade_no>")
def act(out_trade_no: str):
    """The shopper's choice on the fake gateway page. "pay" makes the gateway send its signed notify."""
    payment = _sandbox_payment(out_trade_no)
    order_page = url_for("shop.order_detail", number=payment.order.number)
    action = request.form.get("action")
    if (
        action == "pay"
        and payment.status == PaymentStatus.PENDING
        and payment.order.status == OrderStatus.PENDING_PAYMENT
    ):
        body = sandbox.notify_body(payment)
        process_sandbox_notify({sandbox.SIGNATURE_HEADER: sandbox.sign(body)}, body)
        return redirect(url_for("shop.pay_result", number=payment.order.number))
    if action == "fail":
        db.session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.PENDING)
            .values(status=PaymentStatus.FAILED)
        )
        db.session.commit()
        return redirect(url_for("shop.pay_result", number=payment.order.number, failed=1))
    return redirect(order_page)
