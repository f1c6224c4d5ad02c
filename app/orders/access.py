"""Who may see and act on which order: the one place that decides it, for every view and service.

A shopper sees only their own orders (anything else is "does not exist", never "forbidden": the number of
someone else's order tells them nothing). The back office sees every order (its blueprint checks the role);
a distributor sees their team's orders masked, through distribution.queries."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import User
from app.db_types import parse_id
from app.orders.events import OrderError
from app.orders.models import (
    REFUNDABLE_STATUSES,
    WITHDRAWABLE_REQUEST_STATUSES,
    Order,
    OrderStatus,
    RefundStatus,
)


def is_buyer(order: Order | None, user) -> bool:
    """Whether `user` (a User, or the current user proxy) bought this order."""
    return order is not None and getattr(user, "is_authenticated", True) and order.user_id == user.id


def require_buyer(order: Order, user: User, error: type[Exception] = OrderError) -> None:
    if not is_buyer(order, user):
        raise error(_l("This order does not exist."))


def user_order(session: Session, user_id: int, number: str) -> Order:
    """A shopper's own order by its number, or OrderError."""
    order = session.scalar(
        select(Order).where(Order.number == str(number)[:20]).options(selectinload(Order.lines))
    )
    if order is None or order.user_id != user_id:
        raise OrderError(_l("This order does not exist."))
    return order


def user_order_by_id(session: Session, user_id: int, order_id) -> Order:
    """A shopper's own order by its id (the API's address for it), or OrderError."""
    order_id = parse_id(order_id)
    order = (
        session.scalar(select(Order).where(Order.id == order_id).options(selectinload(Order.lines)))
        if order_id is not None
        else None
    )
    if order is None or order.user_id != user_id:
        raise OrderError(_l("This order does not exist."))
    return order


def shopper_actions(order: Order, no_refund: set[int] | frozenset[int] = frozenset()) -> set[str]:
    """The buttons the buyer's order page offers. The services check every one again when it is used.
    No "refund" for the orders in `no_refund` (a 拼团 order while its group forms, or one it refunds:
    marketing.group_orders.no_after_sales)."""
    actions = set()
    if order.status == OrderStatus.PENDING_PAYMENT:
        actions |= {"pay", "cancel"}
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        actions.add("transfer_info")
    if order.status == OrderStatus.SHIPPED:
        actions.add("receive")
    if (
        order.status in REFUNDABLE_STATUSES
        and order.refund_status in (RefundStatus.NONE, RefundStatus.PARTIAL)
        and any(line.refundable_qty > 0 for line in order.lines)
        and order.id not in no_refund
    ):
        actions.add("refund")
    if order.open_refund is not None and order.open_refund.status in WITHDRAWABLE_REQUEST_STATUSES:
        actions.add("withdraw")
    return actions
