"""An order's life after placement: cancel and expire (stock back), paid, shipped, completed."""

import re
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.models import Product
from app.catalog.services import adjust_stock
from app.orders import signals
from app.orders.access import require_buyer
from app.orders.carriers import carrier_by_code, carrier_for_name
from app.orders.events import OrderError, change_status
from app.orders.models import UNPAID_STATUSES, Order, OrderStatus, OrderTracking, Refund, RefundStatus
from app.orders.tracking import HELD_STATES
from app.settings.services import get_shop_settings
from app.timeutil import utcnow


def cancel_order(session: Session, order: Order, *, actor: User | None, reason: str) -> bool:
    """Cancel an unpaid order and give its stock back — exactly once, whoever calls first."""
    allowed = (OrderStatus.PENDING_PAYMENT,) if actor is None or not actor.is_back_office else UNPAID_STATUSES
    if not change_status(
        session,
        order,
        allowed,
        OrderStatus.CANCELLED,
        "cancelled",
        actor=actor,
        note=reason,
        cancelled_at=utcnow(),
        cancel_reason=reason[:200],
    ):
        return False
    for line in order.lines:
        if line.sku_id is not None:
            adjust_stock(session, line.sku_id, line.qty)
    signals.order_cancelled.send(order, session=session)
    return True


def shopper_cancel(session: Session, order: Order, user: User) -> None:
    require_buyer(order, user)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderError(_l("Only unpaid orders can be cancelled. For a paid order, ask for a refund."))
    if not cancel_order(session, order, actor=user, reason=str(_l("Cancelled by the buyer"))):
        raise OrderError(_l("Only unpaid orders can be cancelled. For a paid order, ask for a refund."))


def expire_if_due(session: Session, order: Order, now: datetime | None = None) -> bool:
    """Lazily cancel an unpaid order whose time is up (the cron job does the same in bulk)."""
    if order.status == OrderStatus.PENDING_PAYMENT and order.expires_at <= (now or utcnow()):
        return cancel_order(session, order, actor=None, reason=str(_l("Not paid in time")))
    return False


def expire_due_orders(session: Session, now: datetime | None = None) -> int:
    """`flask orders expire`: cancel every unpaid order past its time, each in its own transaction."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.expires_at <= now)
            .order_by(Order.id)
        )
    )
    session.commit()
    done = 0
    for order_id in ids:
        order = session.get(Order, order_id)
        if expire_if_due(session, order, now):
            done += 1
        session.commit()
    return done


def mark_paid(
    session: Session, order: Order, *, method: str, actor: User | None = None, note: str = ""
) -> bool:
    """The order's side of confirm_payment: unpaid → paid once. Returns False if it could not take it."""
    if not change_status(
        session,
        order,
        UNPAID_STATUSES,
        OrderStatus.PAID,
        "paid",
        actor=actor,
        machine="gateway",
        note=note,
        paid_at=utcnow(),
        payment_method=method,
    ):
        return False
    sold: dict[int, int] = {}
    for line in order.lines:
        if line.product_id is not None:
            sold[line.product_id] = sold.get(line.product_id, 0) + line.qty
    if sold:
        # One statement for the whole order. updated_at stays: a sale is not an edit of the product (posters
        # and caches key on it).
        session.execute(
            update(Product)
            .where(Product.id.in_(list(sold)))
            .values(
                sales_count=Product.sales_count + case(sold, value=Product.id, else_=0),
                updated_at=Product.updated_at,
            )
            .execution_options(synchronize_session=False)
        )
    signals.order_paid.send(order, session=session)
    return True


CARRIER_MAX, TRACKING_RE = 32, re.compile(r"^[A-Za-z0-9-]{4,40}$")


def ship_order(
    session: Session,
    order: Order,
    *,
    actor: User,
    carrier: str,
    tracking_no: str,
    carrier_code: str | None = None,
) -> None:
    """Ship with a carrier from the list (its 快递100 code) or one typed in (a known name finds its code)."""
    known = carrier_by_code(carrier_code) or carrier_for_name(carrier)
    if carrier_code and known is None:
        raise OrderError(_l("Please choose the carrier."), "carrier")
    carrier = " ".join((carrier or "").split())
    tracking_no = (tracking_no or "").strip().replace(" ", "")
    if not carrier or len(carrier) > CARRIER_MAX:
        raise OrderError(_l("Please enter the carrier."), "carrier")
    if not TRACKING_RE.match(tracking_no):
        raise OrderError(
            _l("Please enter a valid tracking number (letters, digits and dashes)."), "tracking_no"
        )
    if order.refund_status == RefundStatus.REQUESTED:
        raise OrderError(_l("This order has an open after-sales request. Handle it before shipping."))
    if order.status == OrderStatus.PAID:
        signals.order_shipping.send(order, session=session)
    if not change_status(
        session,
        order,
        (OrderStatus.PAID,),
        OrderStatus.SHIPPED,
        "shipped",
        actor=actor,
        note=f"{carrier} {tracking_no}",
        shipped_at=utcnow(),
        carrier=carrier,
        carrier_code=known.code if known else None,
        tracking_no=tracking_no,
    ):
        raise OrderError(_l("Only paid orders that have not been shipped can be shipped."))
    signals.order_shipped.send(order, session=session)


def complete_order(session: Session, order: Order, *, actor: User | None, automatic: bool = False) -> bool:
    action = "auto_completed" if automatic else "completed"
    # The job never completes an order whose shopper has just opened an after-sales request (it picks its
    # orders first and completes them one by one): checked again in the UPDATE itself.
    held = (Order.refund_status != RefundStatus.REQUESTED,) if automatic else ()
    if not change_status(
        session,
        order,
        (OrderStatus.SHIPPED,),
        OrderStatus.COMPLETED,
        action,
        actor=actor,
        where=held,
        completed_at=utcnow(),
    ):
        return False
    signals.order_completed.send(order, session=session)
    return True


def confirm_receipt(session: Session, order: Order, user: User) -> None:
    require_buyer(order, user)
    if not complete_order(session, order, actor=user):
        raise OrderError(_l("Only shipped orders can be confirmed as received."))


def autocomplete_orders(session: Session, now: datetime | None = None) -> int:
    """`flask orders autocomplete`: shipped orders are received automatically N days after the carrier said
    they were signed for, or after they were shipped when that is not known (not while an after-sales request
    is open, nor while the latest trace says the parcel is returned, refused or has a problem, nor until N days
    after an exchange's replacement was shipped)."""
    now = now or utcnow()
    days = get_shop_settings(session).autocomplete_days or 10
    replacement_on_its_way = (
        select(Refund.id)
        .where(Refund.order_id == Order.id, Refund.replacement_shipped_at > now - timedelta(days=days))
        .exists()
    )
    ids = list(
        session.scalars(
            select(Order.id)
            .outerjoin(OrderTracking, OrderTracking.order_id == Order.id)
            .where(
                Order.status == OrderStatus.SHIPPED,
                func.coalesce(Order.signed_at, Order.shipped_at) <= now - timedelta(days=days),
                Order.refund_status != RefundStatus.REQUESTED,
                # not while the carrier says the parcel is going back, was refused or is stuck
                or_(OrderTracking.state.is_(None), OrderTracking.state.not_in(HELD_STATES)),
                ~replacement_on_its_way,
            )
        )
    )
    session.commit()
    done = 0
    for order_id in ids:
        if complete_order(session, session.get(Order, order_id), actor=None, automatic=True):
            done += 1
        session.commit()
    return done
