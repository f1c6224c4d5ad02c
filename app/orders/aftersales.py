"""After-sales types (仅退款 / 退货退款 / 换货): which a shopper may ask for on an order, the reasons each
offers, the shopper's photos, the parcel typed for a return or a replacement, and what each request is
waiting for (the back office's "next action", the shopper's timeline)."""

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.orders.carriers import carrier_by_code
from app.orders.events import OrderError
from app.orders.models import (
    MAX_AFTERSALES_PHOTOS,
    AfterSalesKind,
    Order,
    OrderEvent,
    OrderStatus,
    Refund,
    RefundRequestStatus,
)
from app.orders.transitions import TRACKING_RE

KIND_LABELS = {
    AfterSalesKind.REFUND_ONLY: _l("Refund only"),
    AfterSalesKind.RETURN_REFUND: _l("Return and refund"),
    AfterSalesKind.EXCHANGE: _l("Exchange"),
}
KINDS_WITH_RETURN = (AfterSalesKind.RETURN_REFUND, AfterSalesKind.EXCHANGE)

NOT_RECEIVED = _l("Parcel not received")
OTHER = _l("Other")
REASONS = {
    AfterSalesKind.REFUND_ONLY: (
        _l("I no longer want it"),
        _l("I ordered the wrong item or size"),
        _l("Not shipped in time"),
        NOT_RECEIVED,
        OTHER,
    ),
    AfterSalesKind.RETURN_REFUND: (
        _l("I no longer want it"),
        _l("I ordered the wrong item or size"),
        _l("Quality problem"),
        _l("Not as described"),
        _l("Damaged on arrival"),
        _l("Items missing from the parcel"),
        OTHER,
    ),
    AfterSalesKind.EXCHANGE: (
        _l("Wrong size or colour"),
        _l("Quality problem"),
        _l("Damaged on arrival"),
        _l("Not as described"),
        OTHER,
    ),
}

# What each open state waits for, and who is to act (the back office's list and the shopper's page).
NEXT_ACTION = {
    RefundRequestStatus.REQUESTED: _l("Shop to approve or reject"),
    RefundRequestStatus.AWAITING_RETURN: _l("Buyer to send the goods back"),
    RefundRequestStatus.RETURNING: _l("Shop to confirm the returned goods"),
    RefundRequestStatus.RECEIVED: _l("Shop to ship the replacement"),
    RefundRequestStatus.APPROVED: _l("Money on its way back"),
}

# What the order (its banner, the order list, the distributor's view) says while a request is open: an
# exchange brings no money back, so it is not called a refund.
OPEN_REQUEST_TEXT = {
    AfterSalesKind.REFUND_ONLY: _l("Refund requested"),
    AfterSalesKind.RETURN_REFUND: _l("Return and refund in progress"),
    AfterSalesKind.EXCHANGE: _l("Exchange in progress"),
}

# Order events that belong to an after-sales request: the shopper's timeline of the request.
TIMELINE_ACTIONS = (
    "refund_requested",
    "refund_withdrawn",
    "refund_approved",
    "refund_rejected",
    "refunded",
    "return_approved",
    "return_shipped",
    "return_received",
    "return_refused",
    "replacement_shipped",
    "exchange_refunded",
    "aftersales_closed",
)


def kind_label(kind: str) -> str:
    return str(KIND_LABELS.get(kind, kind))


def moves_money(refund_or_kind) -> bool:
    """Whether a request (or a type) brings money back: all but an exchange."""
    kind = getattr(refund_or_kind, "kind", refund_or_kind)
    return kind != AfterSalesKind.EXCHANGE


def open_request_text(order: Order) -> str:
    """The open request's type in the shopper's words, or "" when none is open."""
    refund = order.open_refund
    text = OPEN_REQUEST_TEXT.get(refund.kind) if refund is not None else None
    return str(text) if text else ""


def next_action(refund: Refund) -> str:
    text = NEXT_ACTION.get(refund.status)
    return str(text) if text else ""


def parse_kind(kind: str | None) -> AfterSalesKind:
    try:
        return AfterSalesKind(kind or AfterSalesKind.REFUND_ONLY)
    except ValueError:
        raise OrderError(_l("Please choose the type of request."), "kind") from None


def allowed_kinds(order: Order) -> tuple[AfterSalesKind, ...]:
    """Before the parcel leaves only the money can go back; once shipped the goods can come back too."""
    if order.status == OrderStatus.PAID:
        return (AfterSalesKind.REFUND_ONLY,)
    if order.status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        return tuple(AfterSalesKind)
    return ()


def default_kind(order: Order) -> AfterSalesKind:
    """What the request form opens on: once the goods are with the shopper, sending them back."""
    kinds = allowed_kinds(order)
    return (
        AfterSalesKind.RETURN_REFUND if AfterSalesKind.RETURN_REFUND in kinds else AfterSalesKind.REFUND_ONLY
    )


def reasons_for(kind: str) -> tuple:
    return REASONS.get(kind, ())


def check_kind(order: Order, kind: AfterSalesKind, *, not_received: bool | None, line_count: int) -> None:
    """Refuse a type the order cannot have now. 仅退款 on a shipped order only when the shopper says the
    parcel has not arrived (`not_received` False); None is a caller that does not ask (the money-back
    paths that predate the types). An exchange is of one line's units (one replacement SKU)."""
    if kind not in allowed_kinds(order):
        raise OrderError(_l("This type of request is not possible for this order now."), "kind")
    if kind == AfterSalesKind.REFUND_ONLY and order.status != OrderStatus.PAID and not_received is False:
        raise OrderError(
            _l("The parcel has been shipped: choose return and refund, or say it has not arrived."), "kind"
        )
    if kind == AfterSalesKind.EXCHANGE and line_count != 1:
        raise OrderError(_l("An exchange is for one item at a time."), "items")


def clean_parcel(carrier_code: str | None, tracking_no: str | None) -> tuple[str, str, str]:
    """(carrier name, carrier code, tracking number) of a parcel typed by a shopper or the merchant; the
    carrier from the list (app/orders/carriers.py)."""
    carrier = carrier_by_code((carrier_code or "").strip())
    if carrier is None:
        raise OrderError(_l("Please choose the carrier."), "carrier")
    number = (tracking_no or "").strip().replace(" ", "")
    if not number:
        raise OrderError(_l("Please enter the tracking number."), "tracking_no")
    if not TRACKING_RE.match(number):
        raise OrderError(
            _l("Please enter a valid tracking number (letters, digits and dashes)."), "tracking_no"
        )
    return str(carrier.name), carrier.code, number


def photo_keys(refund: Refund) -> list[str]:
    return list(refund.photos or [])


def check_photo_count(count: int) -> None:
    if count > MAX_AFTERSALES_PHOTOS:
        raise OrderError(_l("At most %(n)d photos.", n=MAX_AFTERSALES_PHOTOS), "photos")


def timeline(session: Session, order: Order) -> list[OrderEvent]:
    """The order's after-sales events, oldest first."""
    return [event for event in order.events if event.action in TIMELINE_ACTIONS]


def request_events(refund: Refund) -> list[OrderEvent]:
    """One request's own events, oldest first (each of their notes starts with the request's number)."""
    return [
        event
        for event in refund.order.events
        if event.action in TIMELINE_ACTIONS and (event.note or "").split(" ", 1)[0] == refund.number
    ]
