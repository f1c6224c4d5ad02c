"""Moments other areas react to, inside the same transaction (marketing takes the coupon and points
on `order_placed` and gives them back on `order_cancelled`; distribution creates commission on
`order_paid`, adjusts it on `refund_completed`; payments sends the money back on `refund_approved`;
notifications writes a WeChat message to its outbox on `order_paid`, `order_shipped` and the refund results).
Receivers get the session and the order (the refund, for refund_approved). A receiver that raises refuses
the change: marketing does so on `order_placed` when the coupon or the points are no longer there."""

from blinker import Namespace

_signals = Namespace()

order_placed = _signals.signal("order-placed")  # also gets offers= and priced= (what price_basket said)
order_cancelled = _signals.signal("order-cancelled")
order_paid = _signals.signal("order-paid")
# Before an order is shipped; a receiver refuses by raising OrderError (marketing: a 拼团 not full yet).
order_shipping = _signals.signal("order-shipping")
order_shipped = _signals.signal("order-shipped")  # after the order is marked shipped
order_completed = _signals.signal("order-completed")
# Before a payment of an unpaid order is started; a receiver refuses by raising (marketing: a 拼团 order
# whose group is full or over: nobody is charged for a place that is gone).
payment_starting = _signals.signal("payment-starting")
# Before a shopper's after-sales request is written; a receiver refuses by raising OrderError (marketing: an
# order whose 拼团 is still forming, or is being refunded by it).
refund_requesting = _signals.signal("refund-requesting")
refund_approved = _signals.signal("refund-approved")
# After refund_approved's receivers ran (payments refunded at once, or handed it on): gets the refund. What
# is said to the buyer listens here, since blinker does not call a signal's receivers in a fixed order.
refund_approval_saved = _signals.signal("refund-approval-saved")
refund_completed = _signals.signal("refund-completed")
refund_rejected = _signals.signal("refund-rejected")  # gets the refund
