"""The sandbox provider, for development and demos only (never in production): a page that plays the
gateway, then delivers a notify signed with an HMAC of the app's secret to the same notify path the
real gateways use."""

import hashlib
import hmac
import json
import secrets

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.orders.models import Order, Refund
from app.payments.base import PaymentProvider, PaymentStart
from app.payments.models import Payment
from app.timeutil import utcnow

SIGNATURE_HEADER = "X-Sandbox-Signature"


def _key() -> bytes:
    return hmac.new(
        current_app.config["SECRET_KEY"].encode(), b"fenxiao-sandbox-notify", hashlib.sha256
    ).digest()


def sign(body: bytes) -> str:
    return hmac.new(_key(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature: str | None) -> bool:
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged header may hold any).
    return bool(signature) and hmac.compare_digest(sign(body).encode(), signature.encode())


def notify_body(payment: Payment, *, status: str = "SUCCESS") -> bytes:
    """What the sandbox "gateway" says when the shopper pays: amount in fen, like WeChat Pay."""
    return json.dumps(
        {
            "out_trade_no": payment.out_trade_no,
            "trade_no": "SBX" + secrets.token_hex(8).upper(),
            "amount_fen": payment.amount_fen,
            "trade_state": status,
            "time": utcnow().isoformat(),
        },
        separators=(",", ":"),
    ).encode()


class SandboxProvider(PaymentProvider):
    name = "sandbox"
    label = _l("Sandbox payment (demo)")

    def is_enabled(self, app, session: Session) -> bool:
        return app.config["FENXIAO_ENV"] != "production" and app.config.get("SANDBOX_PAYMENTS", True)

    def start(self, session: Session, order: Order, payment: Payment) -> PaymentStart:
        return PaymentStart(redirect_url=url_for("sandbox.gateway", out_trade_no=payment.out_trade_no))

    def refund(self, session: Session, payment: Payment, refund: Refund) -> bool:
        return True  # the sandbox gives the money back at once

    def parse_notify(self, headers, body: bytes) -> dict | None:
        """The verified notify, or None when the signature is missing or wrong."""
        if not verify(body, headers.get(SIGNATURE_HEADER)):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
