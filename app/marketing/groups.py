"""拼团 group buys (MARKETING.md, "拼团"): activities and their SKUs at a group price, the group price in group
mode only, opening and joining a group at checkout, and the seat an order takes when it is paid. Refunds
and the `flask groups settle` job are in group_refunds.

- Group mode only. A SKU in a running 拼团 is sold at its list price ("单独购买") unless the shopper opens or
  joins a group: `activities_for_skus` here is asked by group-mode checkouts only (offers.for_basket with
  `group=`), never by product pages, listings or the cart, which keep the normal price.
- One unit, one order, one seat. A group-mode order holds one line of quantity 1, so the seat is the order
  and a failed group or an extra payer gives back the whole order.
- The leader opens by paying. The group is written at placement as `pending` (nobody sees or joins it);
  the leader's payment opens it for the activity's `hours`, but never past the activity's end: the window
  the one-activity-per-SKU rule reserved for the SKU is the activity's, and a 秒杀 or 限时折扣 may start the
  minute it ends. So the end of the activity stops new groups, and a group opened near it is shorter.
  Stopping an activity ends its open groups' time at once (they fail at the next settle).
- Seats are taken at payment, by one conditional UPDATE (open, seats left, not expired); the seat that
  fills the group sets it full in the same statement. Unpaid orders hold no seat: more shoppers may be
  paying than there are places left, and the payments decide.
- Refunded at once, not never charged. Checkout refuses a full, failed or expired group, so nobody starts
  paying for a place that is gone; but a payment is decided at the gateway before we hear of it (the
  notify comes after the money moved), so a payer who lost the race for the last seat, or whose group
  failed while they paid, has been charged already. Their order is refunded at once, in the payment's
  own transaction, through its gateway's real refund path; a refusal is kept and `flask groups settle`
  tries again."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, selectinload

from app.catalog.models import Sku
from app.db_types import parse_id
from app.marketing import campaigns, flash, group_refunds, members, pricing, signals
from app.marketing.errors import MarketingError
from app.marketing.group_clash import in_group_between
from app.marketing.models import (
    BuyGroup,
    BuyGroupMember,
    BuyGroupStatus,
    GroupBuy,
    GroupBuyItem,
    GroupRefundState,
    TimedDiscount,
    TimedDiscountItem,
)
from app.orders.events import record_event
from app.orders.models import PAID_STATUSES, UNPAID_STATUSES, Order
from app.timeutil import utcnow

KIND = "group"
MAX_ITEMS = 100
SIZES = range(2, 11)
HOURS = range(1, 73)


@dataclass(frozen=True)
class ItemDraft:
    sku_id: int
    price_fen: int


# ---- activities ---------------------------------------------------------------------------------------


def save_group_buy(session: Session, group_buy: GroupBuy | None, data: dict) -> GroupBuy:
    """Create or edit a 拼团 activity after checking all of it (nothing is written on a refusal). A new size
    or time limit applies to groups opened from then on; an earlier end also ends its open groups then."""
    name = " ".join((data.get("name") or "").split())
    if not name or len(name) > 30:
        raise MarketingError(_l("Give it a name of at most %(n)d characters.", n=30), "name")
    starts_at, ends_at = data.get("starts_at"), data.get("ends_at")
    campaigns.check_dates(starts_at, ends_at)
    size, hours, limit = data.get("group_size"), data.get("hours"), data.get("per_user_limit")
    if size not in SIZES:
        raise MarketingError(_l("A group has 2 to 10 people."), "group_size")
    if hours not in HOURS:
        raise MarketingError(_l("The time limit of a group is 1 to 72 hours."), "hours")
    if limit is not None and limit not in range(1, 10000):
        raise MarketingError(_l("A limit is 1 to 9999, or left empty."), "per_user_limit")
    items = _checked_items(session, data.get("items") or [])
    if group_buy is not None and group_buy.is_stopped:
        raise MarketingError(_l("This activity has been stopped."))
    sku_ids = [item.sku_id for item in items]
    other = _activity_holding(session, sku_ids, starts_at, ends_at, group_buy.id if group_buy else None)
    if other:
        raise MarketingError(
            _l(
                "A SKU is already in “%(name)s” at that time. A SKU can be in one activity at a time.",
                name=other,
            ),
            "items",
        )
    group_buy = group_buy or GroupBuy()
    group_buy.name, group_buy.starts_at, group_buy.ends_at = name, starts_at, ends_at
    group_buy.group_size, group_buy.hours, group_buy.per_user_limit = size, hours, limit
    group_buy.allow_points = bool(data.get("allow_points"))
    group_buy.pays_commission = bool(data.get("pays_commission"))
    existing = {row.sku_id: row for row in group_buy.items}  # a kept SKU keeps its row (unique index)
    rows = []
    for item in items:
        row = existing.get(item.sku_id) or GroupBuyItem(sku_id=item.sku_id)
        row.price_fen = item.price_fen
        rows.append(row)
    group_buy.items = rows
    session.add(group_buy)
    session.flush()
    session.execute(
        update(BuyGroup)
        .where(
            BuyGroup.group_buy_id == group_buy.id,
            BuyGroup.status == BuyGroupStatus.OPEN,
            BuyGroup.expires_at > ends_at,
        )
        .values(expires_at=ends_at)
        .execution_options(synchronize_session=False)
    )
    return group_buy


def _checked_items(session: Session, items: list[ItemDraft]) -> list[ItemDraft]:
    if not items:
        raise MarketingError(_l("Add at least one product."), "items")
    if len(items) > MAX_ITEMS:
        raise MarketingError(_l("At most %(n)d SKUs in one activity.", n=MAX_ITEMS), "items")
    if len({item.sku_id for item in items}) != len(items):
        raise MarketingError(_l("A SKU is listed twice."), "items")
    ids = [item.sku_id for item in items if isinstance(item.sku_id, int)]
    skus = {sku.id: sku for sku in session.scalars(select(Sku).where(Sku.id.in_(ids)))}
    for item in items:
        sku = skus.get(item.sku_id)
        if sku is None:
            raise MarketingError(_l("A product in the list no longer exists."), "items")
        if not isinstance(item.price_fen, int) or not 0 <= item.price_fen < sku.price_fen:
            raise MarketingError(_l("An activity price must be below the list price."), "items")
    return items


def _activity_holding(session: Session, sku_ids, starts_at, ends_at, group_buy_id) -> str | None:
    """The name of another activity (限时折扣, 秒杀 or 拼团) one of these SKUs is in during the time."""
    timed = session.scalar(
        select(TimedDiscount.name)
        .join(TimedDiscountItem, TimedDiscountItem.discount_id == TimedDiscount.id)
        .where(
            TimedDiscountItem.sku_id.in_(sku_ids), *campaigns.overlapping(TimedDiscount, starts_at, ends_at)
        )
        .limit(1)
    )
    return (
        timed
        or flash.in_flash_between(session, sku_ids, starts_at, ends_at)
        or in_group_between(session, sku_ids, starts_at, ends_at, exclude_id=group_buy_id)
    )


def stop_group_buy(session: Session, group_buy_id: int) -> bool:
    """Stop an activity now, for good: no group opens or takes a seat any more, and its open groups' time
    ends now (the next settle fails them and refunds their orders). False when it was already stopped."""
    now = utcnow()
    done = session.execute(
        update(GroupBuy)
        .where(GroupBuy.id == group_buy_id, ~GroupBuy.is_stopped)
        .values(is_stopped=True, stopped_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done:
        session.execute(
            update(BuyGroup)
            .where(
                BuyGroup.group_buy_id == group_buy_id,
                BuyGroup.status == BuyGroupStatus.OPEN,
                BuyGroup.expires_at > now,
            )
            .values(expires_at=now)
            .execution_options(synchronize_session=False)
        )
    return bool(done)


def status_of(group_buy: GroupBuy, now: datetime | None = None) -> str:
    """upcoming | running | ended | stopped."""
    return campaigns.status_of(group_buy, now)


# ---- prices (group mode only) ---------------------------------------------------------------------------


def _running(now: datetime):
    return (~GroupBuy.is_stopped, GroupBuy.starts_at <= now, GroupBuy.ends_at > now)


def _running_items(now: datetime):
    return (
        select(GroupBuyItem, GroupBuy, Sku.price_fen)
        .join(GroupBuy, GroupBuy.id == GroupBuyItem.group_buy_id)
        .join(Sku, Sku.id == GroupBuyItem.sku_id)
        .where(*_running(now))
    )


def activity(item: GroupBuyItem, group_buy: GroupBuy, list_fen: int) -> pricing.Activity:
    return pricing.Activity(
        kind=KIND,
        unit_fen=min(item.price_fen, list_fen),
        points=group_buy.allow_points,
        commission=group_buy.pays_commission,
        key=item.id,
        name=group_buy.name,
        ends_at=group_buy.ends_at,
    )


def activities_for_skus(
    session: Session, sku_ids: Iterable[int], now: datetime | None = None
) -> dict[int, pricing.Activity]:
    """{sku id: its 拼团 activity} for the SKUs in a running one — for a checkout in group mode only."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    rows = session.execute(_running_items(now or utcnow()).where(GroupBuyItem.sku_id.in_(ids))).all()
    return {item.sku_id: activity(item, group_buy, list_fen) for item, group_buy, list_fen in rows}


def lowest_prices(session: Session, product_ids: Iterable[int], now: datetime | None = None) -> dict:
    """{product id: its lowest group price now}: the "拼团价" a listing may show beside the price, never as
    the price of a normal purchase (one query)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    rows = session.execute(
        _running_items(now or utcnow())
        .add_columns(Sku.product_id)
        .where(Sku.product_id.in_(ids), Sku.is_active)
    ).all()
    lowest: dict[int, int] = {}
    for item, group_buy, list_fen, product_id in rows:
        unit = activity(item, group_buy, list_fen).unit_fen
        lowest[product_id] = min(unit, lowest.get(product_id, unit))
    return lowest


# ---- checkout -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupMode:
    """A checkout in group mode, as the form says it (raw values, checked here): open a group of the
    activity `group_buy`, or join the group `group`."""

    group_buy: object = None
    group: object = None

    @property
    def joining(self) -> bool:
        return self.group not in (None, "")

    @property
    def group_id(self) -> int | None:
        return parse_id(self.group) if self.joining else None


def held_groups(session: Session, user_id: int, group_buy_id: int) -> int:
    """The groups of an activity a shopper takes part in: orders unpaid or paid, not cancelled, not being
    refunded."""
    return session.scalar(
        select(func.count())
        .select_from(BuyGroupMember)
        .join(BuyGroup, BuyGroup.id == BuyGroupMember.group_id)
        .join(Order, Order.id == BuyGroupMember.order_id)
        .where(
            BuyGroupMember.user_id == user_id,
            BuyGroup.group_buy_id == group_buy_id,
            BuyGroupMember.refund_state == GroupRefundState.NONE,
            Order.status.in_(UNPAID_STATUSES + PAID_STATUSES),
        )
    )


def _is_member(session: Session, user_id: int, group_id: int) -> bool:
    return bool(
        session.scalar(
            select(BuyGroupMember.id)
            .join(Order, Order.id == BuyGroupMember.order_id)
            .where(
                BuyGroupMember.group_id == group_id,
                BuyGroupMember.user_id == user_id,
                Order.status.in_(UNPAID_STATUSES + PAID_STATUSES),
            )
            .limit(1)
        )
    )


def _joinable(session: Session, group: BuyGroup | None, user_id: int, now: datetime) -> BuyGroup:
    """The group, if this shopper may join it now; MarketingError with the reason otherwise."""
    if group is None or group.status in (BuyGroupStatus.PENDING, BuyGroupStatus.CANCELLED):
        raise MarketingError(_l("This group does not exist."), "group")
    if group.leader_id == user_id:
        raise MarketingError(_l("This is your own group. Share it with friends to fill it."), "group")
    if group.status == BuyGroupStatus.FULL or group.seats_taken >= group.size:
        raise MarketingError(_l("This group is already full. Open a group of your own."), "group")
    if group.status == BuyGroupStatus.FAILED or group.expires_at <= now:
        raise MarketingError(_l("This group's time is up. Open a group of your own."), "group")
    if _is_member(session, user_id, group.id):
        raise MarketingError(_l("You are already in this group."), "group")
    return group


def _running_group_buy(group_buy: GroupBuy | None, now: datetime) -> GroupBuy:
    if group_buy is None:
        raise MarketingError(_l("This group buy does not exist."), "group_buy")
    if group_buy.is_stopped or group_buy.ends_at <= now:
        raise MarketingError(_l("This group buy has ended."), "group_buy")
    if group_buy.starts_at > now:
        raise MarketingError(_l("This group buy has not started yet."), "group_buy")
    return group_buy


def _check_limit(session: Session, user_id: int, group_buy: GroupBuy) -> None:
    limit = group_buy.per_user_limit
    if limit and held_groups(session, user_id, group_buy.id) >= limit:
        raise MarketingError(
            _l("This group buy allows %(n)d per customer.", n=limit),
            "group_buy",
        )


def check_buy(
    session: Session,
    user_id: int,
    mode: GroupMode,
    entries: dict[int, int],
    activities: dict[int, pricing.Activity],
    now: datetime | None = None,
) -> None:
    """Before a group-mode order is placed (reads only: the placement checks again under the shopper's
    lock): one unit of one SKU; the activity running and holding the SKU; when joining, a group of that
    activity that is open, with a place left, not timed out, not the shopper's own and not one they are
    in; the per-customer limit; and the basket priced with this group price. MarketingError otherwise."""
    now = now or utcnow()
    if len(entries) != 1 or next(iter(entries.values())) != 1:
        raise MarketingError(_l("A group-buy order is for one item."), "qty")
    (sku_id,) = entries
    if mode.joining:
        group = _joinable(
            session, session.get(BuyGroup, mode.group_id) if mode.group_id else None, user_id, now
        )
        group_buy = group.group_buy
    else:
        group_buy_id = parse_id(mode.group_buy)
        group_buy = session.get(GroupBuy, group_buy_id) if group_buy_id else None
    group_buy = _running_group_buy(group_buy, now)
    item = session.scalar(
        select(GroupBuyItem).where(GroupBuyItem.group_buy_id == group_buy.id, GroupBuyItem.sku_id == sku_id)
    )
    if item is None:
        raise MarketingError(_l("This item is not in this group buy."), "group_buy")
    _check_limit(session, user_id, group_buy)
    priced_with = activities.get(sku_id)
    if priced_with is None or priced_with.kind != KIND or priced_with.key != item.id:
        raise MarketingError(_l("Prices have changed. Please check the new total and submit again."), "total")


def take_for_order(session: Session, order: Order, group_id: int | None) -> None:
    """At placement (order_placed, in the order's transaction): an order with a group line opens a group
    (`group_id` None: written `pending` until its leader pays) or joins `group_id`. The shopper's account
    row is locked first, so one shopper's checkouts are counted one after the other. Raises — and the
    order is rolled back — when a rule says no."""
    lines = [line for line in order.lines if line.activity_kind == KIND]
    if not lines:
        return
    if len(order.lines) != 1 or lines[0].qty != 1:
        raise MarketingError(_l("A group-buy order is for one item."), "qty")
    item = session.get(GroupBuyItem, lines[0].activity_id)
    now = order.created_at
    group_buy = _running_group_buy(item.group_buy if item is not None else None, now)
    members.lock_account(session, order.user_id)
    if group_id is None:
        group = BuyGroup(
            group_buy_id=group_buy.id,
            leader_id=order.user_id,
            status=BuyGroupStatus.PENDING,
            size=group_buy.group_size,
            seats_taken=0,
            created_at=now,
        )
        session.add(group)
        session.flush()
    else:
        group = _joinable(session, session.get(BuyGroup, group_id), order.user_id, now)
        if group.group_buy_id != group_buy.id:
            raise MarketingError(_l("This item is not in this group buy."), "group_buy")
    _check_limit(session, order.user_id, group_buy)
    session.add(
        BuyGroupMember(
            group_id=group.id,
            order_id=order.id,
            user_id=order.user_id,
            is_leader=group_id is None,
            refund_state=GroupRefundState.NONE,
            refund_error="",
            refund_attempts=0,
            created_at=now,
        )
    )
    session.flush()


# ---- payment: the seat --------------------------------------------------------------------------------


def member_of_order(session: Session, order_id: int) -> BuyGroupMember | None:
    return session.scalar(select(BuyGroupMember).where(BuyGroupMember.order_id == order_id))


def take_seat(session: Session, order: Order) -> None:
    """On order_paid, in the payment's transaction: the order takes its seat by one conditional UPDATE —
    the leader's opens the group, a member's needs it open, with a place left and not timed out, and the
    one that takes the last place sets it full. An order that finds no seat is refunded at once (and
    retried by `flask groups settle` when the gateway refuses)."""
    member = member_of_order(session, order.id)
    if member is None:
        return
    now = utcnow()
    group = session.get(BuyGroup, member.group_id)
    if member.is_leader:
        taken = _open_group(session, group, now)
    else:
        taken = session.execute(
            update(BuyGroup)
            .where(
                BuyGroup.id == group.id,
                BuyGroup.status == BuyGroupStatus.OPEN,
                BuyGroup.seats_taken < BuyGroup.size,
                BuyGroup.expires_at > now,
            )
            .values(
                seats_taken=BuyGroup.seats_taken + 1,
                status=case(
                    (BuyGroup.seats_taken + 1 >= BuyGroup.size, BuyGroupStatus.FULL), else_=BuyGroup.status
                ),
                filled_at=case((BuyGroup.seats_taken + 1 >= BuyGroup.size, now), else_=BuyGroup.filled_at),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    session.refresh(group)
    if taken:
        member.seat_taken_at = now
        record_event(session, order, "group_seat_taken", note=f"{group.id} {group.seats_taken}/{group.size}")
        session.flush()
        if group.status == BuyGroupStatus.FULL and group.seats_taken >= group.size:
            signals.group_formed.send(group.id, session=session)
        return
    member.refund_state = GroupRefundState.DUE
    record_event(session, order, "group_seat_missed", note=f"{group.id} {group.status}")
    session.flush()
    group_refunds.push_refund(session, member.id)


def _open_group(session: Session, group: BuyGroup, now: datetime) -> bool:
    """The leader paid: the group opens for the activity's hours, not past its end — unless the activity
    ended or was stopped while they paid, and then the group fails unopened."""
    group_buy = group.group_buy
    if group_buy.is_stopped or not group_buy.starts_at <= now < group_buy.ends_at:
        session.execute(
            update(BuyGroup)
            .where(BuyGroup.id == group.id, BuyGroup.status == BuyGroupStatus.PENDING)
            .values(status=BuyGroupStatus.FAILED, failed_at=now)
            .execution_options(synchronize_session=False)
        )
        return False
    return bool(
        session.execute(
            update(BuyGroup)
            .where(BuyGroup.id == group.id, BuyGroup.status == BuyGroupStatus.PENDING)
            .values(
                status=BuyGroupStatus.OPEN,
                seats_taken=1,
                opened_at=now,
                expires_at=min(now + timedelta(hours=group_buy.hours), group_buy.ends_at),
            )
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def after_cancel(session: Session, order: Order) -> None:
    """An unpaid leader's order cancelled or expired: its group never opens."""
    member = member_of_order(session, order.id)
    if member is not None and member.is_leader:
        session.execute(
            update(BuyGroup)
            .where(BuyGroup.id == member.group_id, BuyGroup.status == BuyGroupStatus.PENDING)
            .values(status=BuyGroupStatus.CANCELLED, failed_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def group_with_members(session: Session, group_id) -> BuyGroup | None:
    """A group with its members and their orders (for its page); None for a tampered or unknown id."""
    found = parse_id(group_id)
    if found is None:
        return None
    return session.scalar(
        select(BuyGroup)
        .where(BuyGroup.id == found)
        .options(selectinload(BuyGroup.members).selectinload(BuyGroupMember.order))
    )
