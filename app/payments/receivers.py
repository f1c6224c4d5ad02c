"""Payments react to order events, inside the order's own transaction."""

from flask_babel import lazy_gettext as _l

from app.orders import signals
from app.payments import services
from app.payments.gateways import GatewayNotConfigured
from app.payments.wechatpay import GatewayError


def _on_refund_approved(refund, *, session, actor=None, **_):
    """The money goes back as the approval is saved; a gateway that refuses or cannot be reached refuses the
    approval too (the merchant is told why and can press again), rather than an approval with no refund."""
    try:
        services.send_refund(session, refund, actor=actor)
    except (GatewayError, GatewayNotConfigured, OSError) as error:
        raise services.PaymentError(
            _l(
                "The payment gateway did not take the refund (%(reason)s). Nothing was changed; please try again later.",
                reason=str(error)[:200],
            )
        ) from error


def connect() -> None:
    signals.refund_approved.connect(_on_refund_approved)
