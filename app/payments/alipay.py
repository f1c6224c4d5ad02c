"""Alipay mobile web pay (alipay.trade.wap.pay) through python-alipay-sdk: outside WeChat only (WeChat
blocks Alipay pages — the shop shows an "open in browser" guide there); verified async notifies;
synchronous refunds; queries and closes for reconciling. Amounts cross the wire as yuan strings made
by money.yuan from integer fen — never floats."""

import logging
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.money import MoneyError, parse_yuan, yuan
from app.orders.models import Order, Refund
from app.payments.base import PaymentProvider, PaymentStart
from app.payments.gateways import (
    GatewayNotConfigured,
    alipay_client,
    alipay_complete,
    payment_settings,
    public_url,
)
from app.payments.models import Payment
from app.payments.wechatpay import GatewayError, description

log = logging.getLogger(__name__)

PAID_STATES = ("TRADE_SUCCESS", "TRADE_FINISHED")
_SHANGHAI = ZoneInfo("Asia/Shanghai")


class AlipayProvider(PaymentProvider):
    name = "alipay"
    label = _l("Alipay")
    inside_wechat = False

    def is_enabled(self, app, session: Session) -> bool:
        settings = payment_settings(session)
        return settings.alipay_enabled and alipay_complete(settings)

    def start(self, session: Session, order: Order, payment: Payment) -> PaymentStart:
        client = alipay_client(payment_settings(session))
        query = client.api_alipay_trade_wap_pay(
            subject=description(order),
            out_trade_no=payment.out_trade_no,
            total_amount=yuan(payment.amount_fen),
            return_url=public_url("shop.pay_result", number=order.number),
            notify_url=public_url("payments.alipay_notify"),
            time_expire=order.expires_at.astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        )
        return PaymentStart(redirect_url=f"{client._gateway}?{query}")

    def refund(self, session: Session, payment: Payment, refund: Refund) -> bool:
        result = _call(
            "alipay refund",
            alipay_client(payment_settings(session)).api_alipay_trade_refund,
            refund_amount=yuan(refund.amount_fen),
            out_trade_no=payment.out_trade_no,
            out_request_no=refund.number,  # the same number refunds once: safe to retry
            refund_reason=refund.reason[:80],
        )
        if result.get("code") != "10000":
            raise GatewayError(f"alipay refund: {result.get('sub_msg') or result.get('msg')}")
        return True  # Alipay refunds synchronously

    def query(self, session: Session, payment: Payment) -> dict:
        return _call(
            "alipay query",
            alipay_client(payment_settings(session)).api_alipay_trade_query,
            unknown_trade={"trade_status": "WAIT_BUYER_PAY"},
            out_trade_no=payment.out_trade_no,
        )

    def close(self, session: Session, payment: Payment) -> None:
        _call(  # a trade never opened at the gateway has nothing to close
            "alipay close",
            alipay_client(payment_settings(session)).api_alipay_trade_close,
            unknown_trade={},
            out_trade_no=payment.out_trade_no,
        )

    def parse_notify(self, session: Session, form: dict) -> dict | None:
        """The verified notify fields, or None when the signature does not verify."""
        data = dict(form)
        signature = data.pop("sign", None)
        if not signature:
            return None
        settings = payment_settings(session)
        from alipay.exceptions import AliPayException

        try:
            verified = alipay_client(settings).verify(dict(data), signature)
        except (AliPayException, GatewayNotConfigured, ValueError, TypeError) as error:
            log.warning("alipay notify could not be verified: %s", error)
            return None
        if not verified or data.get("app_id") != settings.alipay_app_id:
            return None
        return data


def _call(what: str, method, *, unknown_trade: dict | None = None, **kwargs) -> dict:
    """Call the SDK. Where `unknown_trade` is given, a trade the gateway does not know (never opened there)
    answers it; any other refusal, bad answer or network failure becomes GatewayError."""
    from alipay.exceptions import AliPayException, AliPayValidationError  # loaded with the client

    try:
        return method(**kwargs)
    except AliPayException as error:
        if unknown_trade is not None and "ACQ.TRADE_NOT_EXIST" in str(error):
            return unknown_trade
        raise GatewayError(f"{what}: {error}") from error
    except (AliPayValidationError, OSError) as error:
        raise GatewayError(f"{what}: {error}") from error


def amount_fen(text: str | None) -> int | None:
    try:
        return parse_yuan(text)
    except MoneyError:
        return None
