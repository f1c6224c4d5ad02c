"""Moments other areas react to, inside the same transaction (distribution creates commission on
`order_paid`, adjusts it on `refund_completed`). Receivers get the session and the order."""

from blinker import Namespace

_signals = Namespace()

order_paid = _signals.signal("order-paid")
order_completed = _signals.signal("order-completed")
refund_completed = _signals.signal("refund-completed")
