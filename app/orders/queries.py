"""Back-office views of orders: filters and tabs, the merchant's actions, bulk shipping, alerts, takings."""

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import User
from app.catalog.services import _escape_like

# The tabs of the back-office order list, in display order: a status, or an after-sales state.
from app.orders.events import OrderError, record_event
from app.orders.models import (
    OPEN_REFUND_STATUSES,
    UNPAID_STATUSES,
    AfterSalesKind,
    Order,
    OrderEvent,
    OrderStatus,
    OrderTracking,
    Refund,
    RefundLine,
    RefundRequestStatus,
    RefundStatus,
)
from app.orders.tracking import HELD_STATES
from app.orders.transitions import ship_order
from app.timeutil import local_midnight_utc

ORDER_TABS = (
    "all",
    "pending_payment",
    "awaiting_confirmation",
    "paid",
    "shipped",
    "completed",
    "cancelled",
    "after_sales",
    "refunded",
)


def _tab_condition(tab: str):
    if tab == "after_sales":
        return Order.refund_status == RefundStatus.REQUESTED
    if tab == "refunded":
        return Order.refund_status.in_([RefundStatus.PARTIAL, RefundStatus.FULL])
    if tab in ORDER_TABS and tab != "all":
        return Order.status == tab
    return None


@dataclass
class OrderFilters:
    """What the merchant narrowed the order list to. Dates are the shop's local calendar dates."""

    tab: str = "all"
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _order_filter_conditions(filters: OrderFilters) -> list:
    conditions = []
    if filters.date_from:
        conditions.append(Order.created_at >= local_midnight_utc(filters.date_from))
    if filters.date_to:
        conditions.append(Order.created_at < local_midnight_utc(filters.date_to + timedelta(days=1)))
    q = (filters.q or "").strip()
    if q:
        like = f"%{_escape_like(q)}%"
        buyers = select(User.id).where(User.mobile.like(like, escape="\\"))
        conditions.append(
            or_(
                Order.number.like(like, escape="\\"),
                Order.ship_mobile.like(like, escape="\\"),
                Order.ship_recipient.ilike(like, escape="\\"),
                Order.user_id.in_(buyers),
            )
        )
    return conditions


def admin_orders_query(filters: OrderFilters) -> Select:
    """The back-office order list: newest first, lines and buyer loaded in a fixed number of queries."""
    query = select(Order).where(*_order_filter_conditions(filters))
    condition = _tab_condition(filters.tab)
    if condition is not None:
        query = query.where(condition)
    return query.options(selectinload(Order.lines), selectinload(Order.user)).order_by(
        Order.created_at.desc(), Order.id.desc()
    )


def admin_order_tab_counts(session: Session, filters: OrderFilters) -> dict[str, int]:
    """How many orders each tab holds under the same dates and keyword: one query."""
    columns = []
    for tab in ORDER_TABS:
        condition = _tab_condition(tab)
        columns.append(func.count() if condition is None else func.count().filter(condition))
    row = session.execute(select(*columns).select_from(Order).where(*_order_filter_conditions(filters))).one()
    return dict(zip(ORDER_TABS, (value or 0 for value in row), strict=True))


def admin_order(session: Session, number: str, *also_load) -> Order | None:
    """One order with everything the back-office order page shows, and `also_load` (what other areas show
    beside it, such as its payments). The caller expires it if due."""
    return session.scalar(
        select(Order)
        .where(Order.number == str(number)[:20])
        .options(
            selectinload(Order.lines),
            selectinload(Order.user),
            selectinload(Order.refunds).selectinload(Refund.lines).selectinload(RefundLine.order_line),
            selectinload(Order.events).selectinload(OrderEvent.actor),
            *also_load,
        )
    )


STAFF_NOTE_MAX = 500


def add_staff_note(session: Session, order: Order, *, actor: User, note: str) -> OrderEvent:
    """A note for the shop's own people (the buyer never sees it). Notes are only ever added, never
    edited, so the trail stays honest."""
    note = "\n".join(" ".join(line.split()) for line in (note or "").strip().splitlines()).strip()
    if not note:
        raise OrderError(_l("Please write the note first."), "note")
    if len(note) > STAFF_NOTE_MAX:
        raise OrderError(_l("The note may have at most %(n)d characters.", n=STAFF_NOTE_MAX), "note")
    return record_event(session, order, "staff_note", actor=actor, note=note)


@dataclass
class BulkShipResult:
    """One row of a bulk-ship file and what became of it."""

    row: int
    number: str
    carrier: str
    tracking_no: str
    ok: bool = False
    message: str = ""


def ship_orders_in_bulk(
    session: Session, rows: list[tuple[str, str, str]], *, actor: User
) -> list[BulkShipResult]:
    """Ship every (order number, carrier, tracking number) row through ship_order, each in its own
    savepoint: a bad row is reported and the others still go out. The caller commits."""
    numbers = {str(number).strip()[:20] for number, _carrier, _tracking in rows}
    found: dict[str, Order] = {}
    listed = sorted(n for n in numbers if n)
    for start in range(0, len(listed), 500):
        for order in session.scalars(select(Order).where(Order.number.in_(listed[start : start + 500]))):
            found[order.number] = order
    results: list[BulkShipResult] = []
    seen: set[str] = set()
    for index, (number, carrier, tracking_no) in enumerate(rows, start=2):  # row 1 is the header
        number = str(number).strip()
        result = BulkShipResult(index, number, str(carrier).strip(), str(tracking_no).strip())
        results.append(result)
        order = found.get(number[:20])
        if not number:
            result.message = str(_l("The order number is missing."))
        elif order is None or len(number) > 20:
            result.message = str(_l("No order with this number."))
        elif number in seen:
            result.message = str(_l("This order appears more than once in the file."))
        else:
            seen.add(number)
            try:
                with session.begin_nested():
                    ship_order(
                        session, order, actor=actor, carrier=result.carrier, tracking_no=result.tracking_no
                    )
            except OrderError as error:
                session.refresh(order)
                result.message = str(error.message)
            else:
                result.ok = True
    return results


def admin_refunds_query(*also_load, open_only: bool) -> Select:
    """The after-sales queue: open requests first (oldest first, they have waited longest), then the
    handled ones, newest first; `also_load` as for admin_order."""
    is_open = Refund.status.in_([str(s) for s in OPEN_REFUND_STATUSES])
    query = select(Refund).options(
        selectinload(Refund.lines).selectinload(RefundLine.order_line),
        selectinload(Refund.order).selectinload(Order.user),
        *also_load,
    )
    if open_only:
        return query.where(is_open).order_by(Refund.created_at, Refund.id)
    return query.order_by(case((is_open, 0), else_=1), Refund.id.desc())


def staff_actions(order: Order) -> set[str]:
    """What the back office may do with an order now (payments adds what concerns its payment); the
    services check again when it is done."""
    actions = set()
    if order.status in UNPAID_STATUSES:
        actions.add("cancel")
    if order.status == OrderStatus.PAID and order.refund_status != RefundStatus.REQUESTED:
        actions.add("ship")
    return actions


def next_step(order: Order) -> str:
    """What the order list's button says the merchant should do next: confirm, handle, ship or view."""
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        return "confirm"
    if order.refund_status == RefundStatus.REQUESTED:
        return "handle"
    if order.status == OrderStatus.PAID:
        return "ship"
    return "view"


def refund_actions(refund: Refund) -> set[str]:
    """The merchant's buttons on a request (payments adds marking an approved one paid back by hand): approve
    (the refund, or the return for 退货退款 / 换货) or reject an open request; confirm or refuse goods that
    came back; ship an exchange's replacement, or refund its units when none can be sent."""
    if refund.status == RefundRequestStatus.REQUESTED:
        return {"approve" if refund.kind == AfterSalesKind.REFUND_ONLY else "approve_return", "reject"}
    if refund.status == RefundRequestStatus.RETURNING:
        return {"receive", "refuse"}
    if refund.status == RefundRequestStatus.RECEIVED:
        return {"ship_replacement", "refund_instead"}
    return set()


def alert_counts() -> dict:
    """The order numbers the back office's menu and dashboard flag, as scalar subqueries that the back
    office runs in one statement with other areas' (payments': money to send back)."""
    return {
        "to_ship": _count(Order, Order.status == OrderStatus.PAID),
        "awaiting_confirmation": _count(Order, Order.status == OrderStatus.AWAITING_CONFIRMATION),
        "open_refunds": _count(Refund, Refund.status.in_([str(s) for s in OPEN_REFUND_STATUSES])),
        "parcels_held": _count(
            Order.__table__.join(
                OrderTracking.__table__, OrderTracking.order_id == Order.id
            ),  # (one row each)
            Order.status == OrderStatus.SHIPPED,
            OrderTracking.state.in_(HELD_STATES),
        ),
    }


def _count(model, *conditions):
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()
