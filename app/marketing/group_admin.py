"""拼团 in the back office: what its pages read (activities with their group counts, an activity's groups
with members and orders, the refunds in flight) and the changes to an activity's SKUs one at a time. The
rules stay in app.marketing.groups: a SKU added or repriced goes through save_group_buy with the rest of
the activity as it is, so every check (price below list, one activity per SKU, stopped) applies."""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from app.marketing import group_orders, groups
from app.marketing.errors import MarketingError
from app.marketing.models import (
    BuyGroup,
    BuyGroupMember,
    BuyGroupStatus,
    GroupBuy,
    GroupBuyItem,
    GroupRefundState,
)
from app.orders.models import Order, OrderLine, OrderStatus, Refund

STATES = (BuyGroupStatus.OPEN, BuyGroupStatus.FULL, BuyGroupStatus.FAILED, BuyGroupStatus.CANCELLED)
IN_FLIGHT = (GroupRefundState.DUE, GroupRefundState.SENT)
STOPPABLE = ("running", "upcoming")


@dataclass(frozen=True)
class ActivityRow:
    group_buy: GroupBuy
    status: str
    counts: Counter  # groups by state
    actions: tuple[str, ...]


def activities(session: Session) -> list[ActivityRow]:
    """Every activity, newest first, with its groups counted by state (two queries)."""
    found = session.scalars(
        select(GroupBuy).options(selectinload(GroupBuy.items)).order_by(GroupBuy.id.desc())
    ).all()
    counts: dict[int, Counter] = {row.id: Counter() for row in found}
    for group_buy_id, state, n in session.execute(
        select(BuyGroup.group_buy_id, BuyGroup.status, func.count()).group_by(
            BuyGroup.group_buy_id, BuyGroup.status
        )
    ):
        if group_buy_id in counts:
            counts[group_buy_id][state] = n
    rows = []
    for group_buy in found:
        status = groups.status_of(group_buy)
        actions = (() if status == "stopped" else ("edit",)) + (("stop",) if status in STOPPABLE else ())
        rows.append(ActivityRow(group_buy, status, counts[group_buy.id], actions))
    return rows


def groups_of(session: Session, group_buy_id: int, state: str | None = None) -> list[BuyGroup]:
    """An activity's groups (those a leader paid for, or whose leader never paid: pending ones are the
    leader's checkout, not yet a group), newest first, with members, their orders and shoppers."""
    query = (
        select(BuyGroup)
        .where(BuyGroup.group_buy_id == group_buy_id, BuyGroup.status.in_(STATES))
        .options(
            selectinload(BuyGroup.members)
            .selectinload(BuyGroupMember.order)
            .options(selectinload(Order.user), selectinload(Order.lines)),
        )
        .order_by(BuyGroup.id.desc())
    )
    if state in STATES:
        query = query.where(BuyGroup.status == state)
    return list(session.scalars(query))


def state_counts(session: Session, group_buy_id: int) -> Counter:
    return Counter(
        dict(
            session.execute(
                select(BuyGroup.status, func.count())
                .where(BuyGroup.group_buy_id == group_buy_id, BuyGroup.status.in_(STATES))
                .group_by(BuyGroup.status)
            ).all()
        )
    )


@dataclass(frozen=True)
class RefundRow:
    member: BuyGroupMember
    order: Order
    refund: Refund | None
    amount_fen: int  # what goes back: the refund's amount once written, else the order's total
    gateway: str | None  # the provider that took the money (the order's payment method)
    manual: bool  # a manual transfer: the merchant pays it back by hand and marks it


def refunds_in_flight(session: Session) -> list[RefundRow]:
    """Group refunds due or sent and not done, oldest first, with the order, its refund and the gateway
    that took the money (two queries)."""
    members = session.scalars(
        select(BuyGroupMember)
        .where(BuyGroupMember.refund_state.in_(IN_FLIGHT))
        .options(
            selectinload(BuyGroupMember.order).selectinload(Order.user), selectinload(BuyGroupMember.group)
        )
        .order_by(BuyGroupMember.id)
    ).all()
    refund_ids = [member.refund_id for member in members if member.refund_id]
    refunds = {
        refund.id: refund for refund in session.scalars(select(Refund).where(Refund.id.in_(refund_ids)))
    }
    return [
        RefundRow(
            member,
            member.order,
            refunds.get(member.refund_id),
            refunds[member.refund_id].amount_fen if member.refund_id in refunds else member.order.total_fen,
            member.order.payment_method,
            member.order.payment_method == "manual",
        )
        for member in members
    ]


def held_orders(session: Session, orders: Iterable[Order]) -> dict[int, str]:
    """{order id: "waiting" | "refunding"} for the orders among these that must not be shipped because of
    their group: 待成团 (group not full yet), or going back (group failed, or paid after the last seat) and
    not refunded yet. Only orders with a group-buy line are asked about, so a page without any costs no
    query (their lines are loaded already wherever orders are listed)."""
    ids = sorted(
        {order.id for order in orders if any(line.activity_kind == groups.KIND for line in order.lines)}
    )
    if not ids:
        return {}
    held = {order_id: "waiting" for order_id in group_orders.waiting_for_group(session, ids)}
    for order_id in session.scalars(
        select(BuyGroupMember.order_id).where(
            BuyGroupMember.order_id.in_(ids), BuyGroupMember.refund_state.in_(IN_FLIGHT)
        )
    ):
        held[order_id] = "refunding"
    return held


def held_paid_count():
    """How many paid orders held_orders would hold back, as a scalar subquery for the back office's "to
    ship" badge: their group is not full yet, or they are going back."""
    return (
        select(func.count())
        .select_from(BuyGroupMember)
        .join(Order, Order.id == BuyGroupMember.order_id)
        .join(BuyGroup, BuyGroup.id == BuyGroupMember.group_id)
        .where(
            Order.status == OrderStatus.PAID,
            or_(
                BuyGroupMember.refund_state.in_(IN_FLIGHT),
                (BuyGroupMember.refund_state == GroupRefundState.NONE)
                & BuyGroup.status.in_([BuyGroupStatus.PENDING, BuyGroupStatus.OPEN]),
            ),
        )
        .scalar_subquery()
    )


# ---- an activity's SKUs, one at a time -----------------------------------------------------------------


def _drafts(group_buy: GroupBuy) -> list[groups.ItemDraft]:
    return [groups.ItemDraft(item.sku_id, item.price_fen) for item in group_buy.items]


def _data(group_buy: GroupBuy, items: list[groups.ItemDraft]) -> dict:
    return {
        "name": group_buy.name,
        "starts_at": group_buy.starts_at,
        "ends_at": group_buy.ends_at,
        "group_size": group_buy.group_size,
        "hours": group_buy.hours,
        "per_user_limit": group_buy.per_user_limit,
        "allow_points": group_buy.allow_points,
        "pays_commission": group_buy.pays_commission,
        "items": items,
    }


def save_settings(session: Session, group_buy: GroupBuy | None, data: dict) -> GroupBuy:
    """The activity's own fields as the form says; its SKUs stay as they are (a new one takes the SKUs the
    form chose)."""
    if group_buy is not None:
        data = data | {"items": _drafts(group_buy)}
    return groups.save_group_buy(session, group_buy, data)


def save_item(session: Session, group_buy: GroupBuy, draft: groups.ItemDraft) -> GroupBuy:
    """Add a SKU at a group price, or change the price of one already in the activity."""
    items = [item for item in _drafts(group_buy) if item.sku_id != draft.sku_id] + [draft]
    return groups.save_group_buy(session, group_buy, _data(group_buy, items))


def items_with_orders(session: Session, item_ids) -> set[int]:
    """The activity rows among these that group-buy orders were placed for (one query)."""
    ids = sorted(set(item_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(OrderLine.activity_id)
            .where(OrderLine.activity_kind == groups.KIND, OrderLine.activity_id.in_(ids))
            .distinct()
        )
    )


def remove_item(session: Session, group_buy: GroupBuy, item_id: int) -> None:
    """Take a SKU out of the activity — refused once a group-buy order was placed for it (its groups and
    orders name the SKU's row), and for the last SKU (stop the activity instead)."""
    item = session.get(GroupBuyItem, item_id)
    if item is None or item.group_buy_id != group_buy.id:
        raise MarketingError(_l("This product is not in this activity."), "items")
    if group_buy.is_stopped:
        raise MarketingError(_l("This activity has been stopped."))
    if items_with_orders(session, [item.id]):
        raise MarketingError(
            _l(
                "Groups have been opened for this product, so it stays in the activity. Stop the activity "
                "to end it."
            ),
            "items",
        )
    if len(group_buy.items) == 1:
        raise MarketingError(
            _l("An activity needs at least one product. Stop the activity instead."), "items"
        )
    group_buy.items = [row for row in group_buy.items if row.id != item.id]
    session.flush()
