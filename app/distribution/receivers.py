"""Distribution reacts to order events, inside the order's own transaction."""

from app.distribution import ledger
from app.orders import signals


def _on_order_paid(order, *, session, **_):
    ledger.create_commission_for_order(session, order)


def _on_order_completed(order, *, session, **_):
    ledger.start_freeze(session, order)


def _on_refund_completed(order, *, session, **_):
    ledger.adjust_for_refund(session, order)


def connect() -> None:
    signals.order_paid.connect(_on_order_paid)
    signals.order_completed.connect(_on_order_completed)
    signals.refund_completed.connect(_on_refund_completed)
