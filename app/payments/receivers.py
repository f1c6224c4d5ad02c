"""Payments react to order events, inside the order's own transaction."""

from app.orders import signals
from app.payments import services


def _on_refund_approved(refund, *, session, actor=None, **_):
    services.send_refund(session, refund, actor=actor)


def connect() -> None:
    signals.refund_approved.connect(_on_refund_approved)
