"""Moments other areas react to, inside the same transaction (distribution creates commission on
`order_paid`, adjusts it on `refund_completed`; payments sends the money back on `refund_approved`).
Receivers get the session and the order (the refund, for refund_approved)."""

from blinker import Namespace

_signals = Namespace()

order_paid = _signals.signal("order-paid")
order_completed = _signals.signal("order-completed")
refund_approved = _signals.signal("refund-approved")
refund_completed = _signals.signal("refund-completed")
