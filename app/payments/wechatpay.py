"""WeChat Pay API v3 through the wechatpayv3 SDK: JSAPI inside WeChat (the shopper's openid from OAuth
snsapi_base), H5 outside it; verified, decrypted notifies; refunds with a stable out_refund_no; queries
and closes for reconciling."""

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.orders.models import Order, Refund
from app.payments import wechat_certificates, wechat_web
from app.payments.base import PaymentProvider, PaymentStart
from app.payments.gateways import payment_settings, public_url, wechat_client, wechat_complete
from app.payments.models import Payment

log = logging.getLogger(__name__)

NOTIFY_MAX_AGE_SECONDS = 300  # a notify signed longer ago than this is refused (replay protection)


class GatewayError(RuntimeError):
    """The gateway refused or could not be reached; the message is for logs and the merchant."""


def _call(what: str, method, **kwargs) -> tuple[int, object]:
    """Call the SDK; its network and signature failures (plain Exceptions) become GatewayError."""
    try:
        return method(**kwargs)
    except Exception as error:  # noqa: BLE001 - the SDK raises plain Exception
        raise GatewayError(f"{what}: {error.__class__.__name__}: {str(error)[:200]}") from error


def _check(code: int, message, what: str) -> dict:
    if code not in (200, 204):
        raise GatewayError(f"{what}: HTTP {code} {str(message)[:200]}")
    return json.loads(message) if message else {}


def _place_order(client, pay_type: str, order: Order, payment: Payment, **who) -> dict:
    """Ask the gateway to open a payment ("JSAPI" or "H5") for the attempt; `who` is the payer or the
    scene."""
    from wechatpayv3 import WeChatPayType  # loaded with the client already

    what = f"{pay_type.lower()} order"
    code, message = _call(
        what,
        client.pay,
        description=description(order),
        out_trade_no=payment.out_trade_no,
        amount={"total": payment.amount_fen, "currency": "CNY"},
        time_expire=_rfc3339(order.expires_at),
        pay_type=WeChatPayType[pay_type],
        **who,
    )
    return _check(code, message, what)


def description(order: Order) -> str:
    first = order.lines[0].title if order.lines else order.number
    return (first if len(order.lines) == 1 else f"{first} 等{len(order.lines)}件")[:120]


@dataclass
class JsapiParams:
    """What WeixinJSBridge's getBrandWCPayRequest takes (paySign signed on the server)."""

    appId: str  # noqa: N815 - the names WeChat's JS API uses
    timeStamp: str  # noqa: N815
    nonceStr: str  # noqa: N815
    package: str
    signType: str  # noqa: N815
    paySign: str  # noqa: N815


class WechatPayProvider(PaymentProvider):
    name = "wechat"
    label = _l("WeChat Pay")

    def is_enabled(self, app, session: Session) -> bool:
        settings = payment_settings(session)
        return settings.wechat_enabled and wechat_complete(settings)

    def offered(self, app, session: Session, *, in_wechat: bool) -> bool:
        # JSAPI runs only inside WeChat and needs the payer's openid, which only the official account's
        # OAuth (AppSecret) gives; H5 runs only outside WeChat, and only once the merchant has it activated.
        if not self.is_enabled(app, session):
            return False
        if in_wechat:
            return wechat_web.configured(session)
        return payment_settings(session).wechat_h5_enabled

    def start(self, session: Session, order: Order, payment: Payment) -> PaymentStart:
        return PaymentStart(redirect_url=url_for("payments.wechat_pay", out_trade_no=payment.out_trade_no))

    def jsapi(
        self, session: Session, order: Order, payment: Payment, openid: str, *, appid: str | None = None
    ) -> JsapiParams:
        """Open a JSAPI payment for `openid`, the payer's openid for `appid`: the official account's (the
        H5 shop inside WeChat, the default) or the mini-program's (wx.requestPayment); both must be bound
        to the merchant number. paySign is signed over appId, timeStamp, nonceStr and package."""
        appid = appid or payment_settings(session).wechat_appid
        client = wechat_certificates.client(session, "JSAPI")
        opened = _place_order(client, "JSAPI", order, payment, payer={"openid": openid}, appid=appid)
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        package = f"prepay_id={opened['prepay_id']}"
        pay_sign = client.sign([appid, timestamp, nonce, package])
        return JsapiParams(appid, timestamp, nonce, package, "RSA", pay_sign)

    def h5(self, session: Session, order: Order, payment: Payment, client_ip: str) -> str:
        """The gateway's h5_url (valid for a few minutes) to send the shopper's browser to."""
        client = wechat_certificates.client(session, "H5")
        scene = {"payer_client_ip": client_ip or "127.0.0.1", "h5_info": {"type": "Wap"}}
        return _place_order(client, "H5", order, payment, scene_info=scene)["h5_url"]

    def refund(self, session: Session, payment: Payment, refund: Refund) -> bool:
        client = wechat_certificates.client(session)
        code, message = _call(
            "refund",
            client.refund,
            out_refund_no=refund.number,  # the same number refunds once: safe to retry
            amount={"refund": refund.amount_fen, "total": payment.amount_fen, "currency": "CNY"},
            out_trade_no=payment.out_trade_no,
            reason=refund.reason[:80],
            notify_url=public_url("payments.wechat_notify"),
        )
        data = _check(code, message, "refund")
        return data.get("status") == "SUCCESS"  # otherwise the refund notify completes it

    def query(self, session: Session, payment: Payment) -> dict:
        client = wechat_certificates.client(session)
        code, message = _call("query", client.query, out_trade_no=payment.out_trade_no)
        if code == 404:
            return {"trade_state": "NOTPAY"}
        return _check(code, message, "query")

    def close(self, session: Session, payment: Payment) -> None:
        code, message = _call(
            "close", wechat_certificates.client(session).close, out_trade_no=payment.out_trade_no
        )
        _check(code, message, "close")

    def parse_notify(self, session: Session, headers, body: bytes) -> dict | None:
        """The verified, decrypted notify (None when the signature, the age or the decryption fails).
        Signatures starting WECHATPAY/SIGNTEST/ are WeChat's probes and must never verify."""
        signature = headers.get("Wechatpay-Signature", "")
        if not signature or signature.startswith("WECHATPAY/SIGNTEST/"):
            return None
        try:
            stamp = int(headers.get("Wechatpay-Timestamp", "0"))
        except ValueError:
            return None
        if abs(time.time() - stamp) > NOTIFY_MAX_AGE_SECONDS:
            return None
        settings = payment_settings(session)
        certificates = wechat_certificates.cached_certificates(session)
        if not wechat_certificates.is_known_serial(
            headers.get("Wechatpay-Serial", ""), settings, certificates
        ):
            return None  # refused before the SDK, which would go and download certificates for it
        try:
            data = wechat_client(settings, certificates=certificates).callback(
                {
                    key: headers.get(key, "")
                    for key in (
                        "Wechatpay-Signature",
                        "Wechatpay-Timestamp",
                        "Wechatpay-Nonce",
                        "Wechatpay-Serial",
                        "Wechatpay-Signature-Type",
                    )
                },
                body.decode("utf-8", errors="replace"),
            )
        except Exception as error:  # the SDK raises plain Exceptions for unknown algorithms
            log.warning("wechat notify could not be verified: %s", error)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("resource"), dict):
            return None
        return data


def _rfc3339(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
