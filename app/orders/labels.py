"""The shopper's words for an after-sales request's state and for an order's events (its timeline), and
which events' notes a shopper may read: one table for every view that shows them (the H5 shop, the API)."""

from flask_babel import lazy_gettext as _l

from app.orders.aftersales import open_request_text
from app.orders.models import Order, OrderStatus, RefundRequestStatus, RefundStatus

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


# The shopper's "my orders" tabs, and the words for an order's status (H5 pages and the API).
TAB_STATUSES = {
    "unpaid": (OrderStatus.PENDING_PAYMENT, OrderStatus.AWAITING_CONFIRMATION),
    "to_ship": (OrderStatus.PAID,),
    "to_receive": (OrderStatus.SHIPPED,),
    "done": (OrderStatus.COMPLETED,),
}

STATUS_TEXT = {
    OrderStatus.PENDING_PAYMENT: _l("To pay"),
    OrderStatus.AWAITING_CONFIRMATION: _l("Waiting for the shop to confirm your payment"),
    OrderStatus.PAID: _l("To ship"),
    OrderStatus.SHIPPED: _l("Shipped"),
    OrderStatus.COMPLETED: _l("Completed"),
    OrderStatus.CANCELLED: _l("Cancelled"),
    OrderStatus.REFUNDED: _l("Refunded"),
}
STATUS_HINT = {
    OrderStatus.PENDING_PAYMENT: _l("Please pay before the time runs out, or the order is cancelled."),
    OrderStatus.AWAITING_CONFIRMATION: _l("The shop will check the transfer and confirm it soon."),
    OrderStatus.PAID: _l("Paid. The shop is preparing your parcel."),
    OrderStatus.SHIPPED: _l("Your parcel is on its way."),
    OrderStatus.COMPLETED: _l("Thank you for your order."),
    OrderStatus.CANCELLED: _l("This order was cancelled."),
    OrderStatus.REFUNDED: _l("Everything paid has been refunded."),
}
REFUND_STATUS_TEXT = {
    RefundStatus.REQUESTED: _l("Refund requested"),
    RefundStatus.PARTIAL: _l("Partly refunded"),
    RefundStatus.FULL: _l("Refunded"),
}


def refund_status_text(order: Order) -> str:
    """The order's refund words (the open request's own when there is one); empty once all is refunded."""
    text = REFUND_STATUS_TEXT.get(order.refund_status)
    if order.refund_status == RefundStatus.REQUESTED:
        text = open_request_text(order) or text
    return str(text) if text and order.status != OrderStatus.REFUNDED else ""
