"""The shopper's words for an after-sales request's state and for an order's events (its timeline), and
which events' notes a shopper may read: one table for every view that shows them (the H5 shop, the API)."""

from flask_babel import lazy_gettext as _l

from app.orders.models import RefundRequestStatus

REFUND_REQUEST_TEXT = {
    RefundRequestStatus.REQUESTED: _l("Waiting for the shop"),
    RefundRequestStatus.APPROVED: _l("Approved, the money is on its way back"),
    RefundRequestStatus.REFUNDED: _l("Refunded"),
    RefundRequestStatus.REJECTED: _l("Rejected by the shop"),
    RefundRequestStatus.CANCELLED: _l("Withdrawn by you"),
    RefundRequestStatus.AWAITING_RETURN: _l("Approved: please send the goods back"),
    RefundRequestStatus.RETURNING: _l("Goods on their way back to the shop"),
    RefundRequestStatus.RECEIVED: _l("The shop has the goods; the replacement is coming"),
    RefundRequestStatus.EXCHANGED: _l("Replacement shipped"),
    RefundRequestStatus.CLOSED: _l("Closed: the goods were not sent back in time"),
}
# The timeline in the shopper's words. Events not listed here are the shop's own business.
EVENT_TEXT = {
    "placed": _l("Order placed"),
    "paid": _l("Payment received"),
    "manual_payment_claimed": _l("You said you have paid by transfer"),
    "manual_payment_rejected": _l("The shop could not find your transfer"),
    "shipped": _l("Shipped"),
    "completed": _l("You confirmed receipt"),
    "auto_completed": _l("Receipt confirmed automatically"),
    "cancelled": _l("Order cancelled"),
    "refund_requested": _l("You asked for after-sales service"),
    "refund_withdrawn": _l("You withdrew the refund request"),
    "refund_approved": _l("The shop agreed to the refund"),
    "refund_rejected": _l("The shop rejected the refund request"),
    "refunded": _l("Refund paid back"),
    "return_approved": _l("The shop agreed: please send the goods back"),
    "return_shipped": _l("You sent the goods back"),
    "return_received": _l("The shop received the returned goods"),
    "return_refused": _l("The shop refused the returned goods"),
    "replacement_shipped": _l("The shop shipped the replacement"),
    "exchange_refunded": _l("No replacement could be sent: the shop refunds the goods instead"),
    "aftersales_closed": _l("Request closed: the goods were not sent back in time"),
    "payment_flagged": _l("A payment arrived after the order closed; the shop will return it"),
    "flagged_payment_returned": _l("The late payment has been returned"),
    "group_seat_taken": _l("You took a place in the group buy"),
    "group_seat_missed": _l("The group buy was already full: your payment is refunded in full"),
    "signed_for": _l("The carrier says the parcel was signed for"),
    "parcel_returned": _l("The carrier says the parcel is going back to the shop"),
    "parcel_problem": _l("The carrier reports a delivery problem"),
}

# Whose words may be shown beside an event: the shop's reasons and the parcel's tracking number.
EVENT_NOTE_SHOWN = {
    "shipped",
    "cancelled",
    "manual_payment_rejected",
    "return_shipped",
    "return_refused",
    "replacement_shipped",
}
