"""Paying an order inside the mini-program: WeChat Pay JSAPI opened for the mini-program's AppID and the
shopper's mini-program openid, answered as wx.requestPayment's parameters; and the order's payment state
for the client to poll afterwards (the notify marks it paid; the gateway is asked too, in case the notify is
late). The same services as the H5 shop's WeChat Pay page: start_payment, WechatPayProvider.jsapi,
confirm_payment."""

import logging

from flask import current_app
from flask_babel import gettext as _
from spectree import Response

from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_payments import (
    OrderPaymentOut,
    PaymentAttemptOut,
    RequestPaymentParams,
    WechatPayOut,
)
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.extensions import db
from app.orders.access import is_buyer
from app.orders.events import OrderError
from app.orders.models import PAID_STATUSES, Order, OrderStatus
from app.orders.transitions import expire_if_due
from app.payments import get_provider, wechat_mp
from app.payments.gateways import GatewayNotConfigured
from app.payments.models import Payment, PaymentStatus
from app.payments.services import PaymentError, settle_from_gateway, start_payment
from app.payments.wechatpay import GatewayError

log = logging.getLogger(__name__)
WECHAT = "wechat"


def _own_order(order_id: int) -> Order:
    """The caller's own order (expired on the way if its time is up), or 404 for anyone else's."""
    order = db.session.get(Order, order_id)
    if order is None or not is_buyer(order, api_user()):
        raise ApiError(404, _("This order does not exist."))
    expire_if_due(db.session, order)
    db.session.commit()  # a lazy expiry is a change to keep
    return order


@bp.post("/orders/<int:order_id>/pay/wechat")
@login_required
@spec.validate(
    resp=Response(
        HTTP_200=WechatPayOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_409=ErrorBody, HTTP_503=ErrorBody
    ),
    tags=["payments"],
    security={BEARER: []},
)
def pay_wechat(order_id: int):
    """Pay an unpaid order with WeChat Pay inside the mini-program

    Opens (or reuses) the order's WeChat Pay attempt for the mini-program and answers wx.requestPayment's
    parameters, signed. Then poll GET /orders/{order_id}/payment: the order is paid when the shop hears
    from WeChat Pay, not when requestPayment's success callback runs. 409 order_not_payable: paid,
    cancelled or expired; 409 needs_wechat_login: the account signed in with a password, so WeChat Pay has
    no payer (log in with WeChat: POST /auth/wechat-mini); 503 wechat_pay_off / mini_program_off: the shop
    does not take WeChat Pay in the mini-program; 503 wechat_pay_unavailable: the gateway could not be
    reached."""
    user = api_user()
    order = _own_order(order_id)
    if not get_provider(WECHAT).is_enabled(current_app, db.session):
        raise ApiError(503, _("The shop does not take WeChat Pay at the moment."), code="wechat_pay_off")
    if not wechat_mp.configured(db.session):
        raise ApiError(503, _("The shop has not set up its mini-program yet."), code="mini_program_off")
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise ApiError(409, _("This order cannot be paid any more."), code="order_not_payable")
    if not user.mp_openid:
        raise ApiError(
            409,
            _("To pay with WeChat Pay in the mini-program, please log in with WeChat first."),
            code="needs_wechat_login",
        )
    appid = wechat_mp.appid(db.session)
    try:
        # An attempt the H5 shop opened for the official account's AppID is not reused: a new one is opened.
        payment = start_payment(db.session, order, WECHAT, user=user, appid=appid)
    except OrderError as refusal:
        db.session.rollback()
        raise ApiError(409, refusal.message, code="order_not_payable") from None
    db.session.commit()
    try:
        params = get_provider(WECHAT).jsapi(db.session, order, payment, user.mp_openid, appid=appid)
    except (GatewayError, GatewayNotConfigured) as error:
        db.session.rollback()
        log.error("mini-program wechat pay for %s failed: %s", payment.out_trade_no, error)
        raise ApiError(
            503,
            _("WeChat Pay is not available right now. Please try again in a minute."),
            code="wechat_pay_unavailable",
        ) from None
    db.session.commit()
    return WechatPayOut(
        payment_id=payment.id,
        out_trade_no=payment.out_trade_no,
        amount=Money.of(payment.amount_fen),
        app_id=params.appId,
        request_payment=RequestPaymentParams(
            timeStamp=params.timeStamp,
            nonceStr=params.nonceStr,
            package=params.package,
            signType=params.signType,
            paySign=params.paySign,
        ),
    )


def _latest_payment(order: Order) -> Payment | None:
    return max(order.payments, key=lambda p: p.id, default=None)


def _ask_the_gateway(order: Order) -> None:
    """The order is still unpaid here: ask WeChat Pay about its pending attempt (the notify may be late).
    A gateway that cannot answer just leaves the state as it is."""
    payment = _latest_payment(order)
    if payment is None or payment.provider != WECHAT or payment.status != PaymentStatus.PENDING:
        return
    try:
        if settle_from_gateway(db.session, payment):
            db.session.commit()
    except (GatewayError, GatewayNotConfigured, PaymentError) as error:
        db.session.rollback()
        log.warning("payment query for %s: %s", payment.out_trade_no, error)
    db.session.refresh(order)


def _state(order: Order) -> str:
    if order.status in PAID_STATUSES or order.status == OrderStatus.REFUNDED:
        return "paid"
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        return "awaiting"
    if order.status == OrderStatus.CANCELLED:
        return "cancelled"
    return "waiting"


@bp.get("/orders/<int:order_id>/payment")
@login_required
@spec.validate(
    resp=Response(HTTP_200=OrderPaymentOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["payments"],
    security={BEARER: []},
)
def order_payment(order_id: int):
    """Whether the order is paid

    Poll after wx.requestPayment (every two seconds or so, for half a minute): `paid` once the shop has the
    money. While it is unpaid, WeChat Pay is asked about the latest attempt too."""
    order = _own_order(order_id)
    if order.status == OrderStatus.PENDING_PAYMENT:
        _ask_the_gateway(order)
    payment = _latest_payment(order)
    state = _state(order)
    return OrderPaymentOut(
        order_id=order.id,
        order_status=order.status,
        state=state,
        paid=state == "paid",
        total=Money.of(order.total_fen),
        payment=PaymentAttemptOut(
            id=payment.id,
            out_trade_no=payment.out_trade_no,
            provider=payment.provider,
            status=payment.status,
            amount=Money.of(payment.amount_fen),
        )
        if payment
        else None,
    )
