"""Gateway-facing endpoints: notifies (WeChat Pay, Alipay), the WeChat Pay page (JSAPI / H5) and WeChat
silent login. The sandbox's own routes are in sandbox_views (never registered in production)."""

import logging
import secrets
from urllib.parse import quote

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.auth import start_session
from app.extensions import csrf, db
from app.orders.access import is_buyer
from app.orders.events import record_event
from app.orders.models import OrderStatus, Refund
from app.orders.refunds import complete_refund
from app.payments import alipay, get_provider, wechat_web
from app.payments.gateways import GatewayNotConfigured, payment_settings, public_url
from app.payments.models import Payment, PaymentStatus
from app.payments.services import PaymentError, confirm_payment
from app.payments.wechat_web import WechatApiError
from app.payments.wechatpay import GatewayError
from app.webutil import in_wechat, safe_next

OAUTH_SESSION_KEY = "wechat_oauth"
# The openid WeChat's OAuth gave this browser: the payer for JSAPI, whichever account is signed in (an
# openid already linked to another account is not linked again, but its holder may still pay).
PAYER_OPENID_KEY = "wechat_payer_openid"

bp = Blueprint("payments", __name__)
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- real gateways


def _settle_notify(provider: str, out_trade_no: str, amount_fen: int | None, trade_no: str | None, raw: dict):
    """confirm_payment for a verified notify. Returns None on success (incl. duplicates), else a reason."""
    if amount_fen is None:
        return "amount"
    try:
        result = confirm_payment(
            db.session,
            provider=provider,
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            gateway_trade_no=trade_no,
            raw=raw,
        )
    except PaymentError as error:
        db.session.rollback()
        log.warning("%s notify refused: %s (%s)", provider, error.message, out_trade_no)
        return str(error.message)
    db.session.commit()
    log.info("%s notify %s: %s", provider, out_trade_no, result.outcome)
    return None


def _wechat_fail(message: str, status: int = 400):
    # A 4xx/5xx with {"code": "FAIL"} makes WeChat retry (15 s, 15 s, 30 s, 3 min, … for about a day).
    return jsonify({"code": "FAIL", "message": message}), status


@bp.post("/notify/wechat")
@csrf.exempt
def wechat_notify():
    provider = get_provider("wechat")
    data = provider.parse_notify(db.session, request.headers, request.get_data())
    if data is None:
        log.warning("wechat notify refused: signature, age or decryption")
        return _wechat_fail("signature", 401)
    resource = data["resource"]
    settings = payment_settings(db.session)
    if data.get("event_type", "").startswith("REFUND."):
        return _wechat_refund_notify(data, resource, settings)
    # Paid through the official account (H5) or inside the mini-program: both AppIDs are the shop's.
    appids = {appid for appid in (settings.wechat_appid, settings.mp_appid) if appid}  # never "" or None
    if resource.get("mchid") != settings.wechat_mchid or resource.get("appid") not in appids:
        log.warning("wechat notify for another merchant refused: %s", resource.get("out_trade_no"))
        return _wechat_fail("merchant")
    if data.get("event_type") != "TRANSACTION.SUCCESS" or resource.get("trade_state") != "SUCCESS":
        return "", 204
    amount = (resource.get("amount") or {}).get("total")
    problem = _settle_notify(
        "wechat",
        str(resource.get("out_trade_no", "")),
        amount if isinstance(amount, int) else None,
        resource.get("transaction_id"),
        resource,
    )
    return _wechat_fail(problem) if problem else ("", 204)


def _wechat_refund_notify(data: dict, resource: dict, settings):
    if resource.get("mchid") != settings.wechat_mchid:
        return _wechat_fail("merchant")
    refund = db.session.scalar(
        select(Refund).where(Refund.number == str(resource.get("out_refund_no", ""))[:32])
    )
    if refund is None:
        return _wechat_fail("unknown refund")
    if data.get("event_type") == "REFUND.SUCCESS" and resource.get("refund_status") == "SUCCESS":
        complete_refund(db.session, refund, actor=None)
    else:
        record_event(
            db.session,
            refund.order,
            "refund_failed",
            machine="gateway",
            note=f"{refund.number} {resource.get('refund_status', '')}",
        )
    db.session.commit()
    return "", 204


@bp.post("/notify/alipay")
@csrf.exempt
def alipay_notify():
    provider = get_provider("alipay")
    data = provider.parse_notify(db.session, request.form.to_dict())
    if data is None:
        log.warning("alipay notify refused: signature or app_id")
        return "fail", 400
    if data.get("trade_status") not in alipay.PAID_STATES:
        return "success"  # WAIT_BUYER_PAY / TRADE_CLOSED: nothing to do, stop the retries
    problem = _settle_notify(
        "alipay",
        data.get("out_trade_no", ""),
        alipay.amount_fen(data.get("total_amount")),
        data.get("trade_no"),
        data,
    )
    return ("fail", 400) if problem else "success"


@bp.get("/wechat/<out_trade_no>")
@login_required
def wechat_pay(out_trade_no: str):
    """JSAPI inside WeChat (needs the shopper's openid: silent OAuth first), H5 outside it."""
    payment = db.session.scalar(
        select(Payment).where(Payment.out_trade_no == out_trade_no[:32], Payment.provider == "wechat")
    )
    if payment is None or not is_buyer(payment.order, current_user):
        abort(404)
    order = payment.order
    result_url = url_for("shop.pay_result", number=order.number)
    if payment.status != PaymentStatus.PENDING or order.status != OrderStatus.PENDING_PAYMENT:
        return redirect(result_url)
    provider = get_provider("wechat")
    try:
        if in_wechat():
            openid = session.get(PAYER_OPENID_KEY) or current_user.wechat_openid
            if not openid and request.args.get("oauth"):  # back from OAuth without one: never loop
                raise WechatApiError("WeChat's OAuth gave no openid")
            if not openid:
                back = url_for("payments.wechat_pay", out_trade_no=payment.out_trade_no, oauth=1)
                return redirect(url_for("payments.wechat_oauth", next=back))
            params = provider.jsapi(db.session, order, payment, openid)
            return render_template(
                "payments/wechat_jsapi.html",
                order=order,
                payment=payment,
                params=params,
                result_url=result_url,
            )
        h5_url = provider.h5(db.session, order, payment, request.remote_addr or "")
    except (GatewayError, GatewayNotConfigured, WechatApiError) as error:
        log.error("wechat pay for %s failed: %s", out_trade_no, error)
        flash(_("WeChat Pay is not available right now. Please try again or choose another method."), "error")
        return redirect(url_for("shop.order_detail", number=order.number))
    return redirect(
        f"{h5_url}&redirect_url={quote(public_url('shop.pay_result', number=order.number), safe='')}"
    )


# ---------------------------------------------------------------- WeChat silent login


@bp.get("/wechat/oauth")
def wechat_oauth():
    """Start snsapi_base: WeChat sends the shopper back with a code; `next` (and the share ref, kept in the
    session) survive the round trip."""
    if not wechat_web.configured(db.session):
        abort(404)
    state = secrets.token_urlsafe(16)
    session[OAUTH_SESSION_KEY] = {
        "state": state,
        "next": safe_next(request.args.get("next"), url_for("shop.index")),
    }
    return redirect(wechat_web.authorize_url(db.session, public_url("payments.wechat_oauth_callback"), state))


@bp.get("/wechat/oauth/callback")
def wechat_oauth_callback():
    pending = session.pop(OAUTH_SESSION_KEY, None) or {}
    target = pending.get("next") or url_for("shop.index")
    code, state = request.args.get("code"), request.args.get("state")
    expected = str(pending.get("state", "")).encode()
    if not code or not pending or not secrets.compare_digest(str(state or "").encode(), expected):
        return redirect(target)  # the shopper declined, or a stale/forged state: carry on as a guest
    try:
        openid = wechat_web.openid_for_code(db.session, code)
        session[PAYER_OPENID_KEY] = openid
        user = accounts.sign_in_with_openid(
            db.session, openid, current_user if current_user.is_authenticated else None
        )
    except (WechatApiError, accounts.AccountError) as error:
        db.session.rollback()
        log.warning("wechat oauth failed: %s", error)
        return redirect(target)
    db.session.commit()
    if not current_user.is_authenticated:
        start_session(user)
    return redirect(target)
