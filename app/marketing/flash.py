"""秒杀 flash sales (MARKETING.md, "秒杀"): sessions and their runs, the flash price each SKU has while a run is
on, and the flash stock an order takes and gives back — in the order's own transaction, by conditional
updates, never below zero.

A SKU is in one activity at a time: the back office refuses a flash session whose runs overlap a 限时折扣
or another flash session holding the same SKU (and campaigns refuses the other way round). Should both
still meet (data written some other way), the flash sale prices the SKU: `offers` lays the flash
activities over the timed ones. A sold-out flash item prices nothing (its SKU goes back to its other price)
but the shop still shows it as 已抢光."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.orm import Session, aliased, selectinload

from app.catalog.models import Sku
from app.marketing import members, pricing
from app.marketing.errors import MarketingError
from app.marketing.group_clash import overlapping_group_buy
from app.marketing.models import (
    FlashItem,
    FlashSession,
    FlashSlot,
    GroupBuy,
    GroupBuyItem,
    TimedDiscount,
    TimedDiscountItem,
)
from app.orders.models import PAID_STATUSES, UNPAID_STATUSES, Order, OrderLine
from app.timeutil import SHOP_TZ, utcnow

KIND = "flash"
MAX_DAYS = 92  # runs of one session: a daily one spans at most this many days, chosen dates as many
MAX_ITEMS = 100
DEFAULT_PAY_MINUTES = 5
DAYS = (date(2000, 1, 1), date(2999, 12, 31))  # the dates a session may run on (beyond them a run has no end)


class UnpaidFlashOrder(MarketingError):
    """The shopper already has an unpaid flash order for this SKU: they are sent to pay it."""

    def __init__(self, order_number: str):
        super().__init__(
            _l("You already have an unpaid flash-sale order for this item. Please pay it first.")
        )
        self.order_number = order_number


class SoldOut(MarketingError):
    """The flash stock is gone: the shopper is told 已抢光 (and shown the product, when it is known)."""

    def __init__(self, product_id: int | None = None):
        super().__init__(_l("Snapped up"), "stock")
        self.product_id = product_id


def sold_out_error() -> MarketingError:
    return SoldOut()


# ---- sessions and their runs ------------------------------------------------------------------------


def run_dates(data: dict) -> list[date]:
    """The shop dates a session runs on: every day from first to last date, or the dates chosen."""
    if data.get("repeat") == "dates":
        days = sorted(set(data.get("dates") or []))
        if not days:
            raise MarketingError(_l("Choose at least one date."), "dates")
        if len(days) > MAX_DAYS:
            raise MarketingError(_l("At most %(n)d dates.", n=MAX_DAYS), "dates")
        if not (DAYS[0] <= days[0] and days[-1] <= DAYS[1]):
            raise MarketingError(_l("Please enter a date such as 2026-12-24."), "dates")
        return days
    first, last = data.get("first_date"), data.get("last_date")
    if first is None or last is None:
        raise MarketingError(_l("Enter the first and the last day."), "first_date")
    for day, field in ((first, "first_date"), (last, "last_date")):
        if not DAYS[0] <= day <= DAYS[1]:
            raise MarketingError(_l("Please enter a date such as 2026-12-24."), field)
    if last < first:
        raise MarketingError(_l("The last day must not be before the first."), "last_date")
    if (last - first).days >= MAX_DAYS:
        raise MarketingError(_l("A daily session runs for at most %(n)d days.", n=MAX_DAYS), "last_date")
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def slot_times(day: date, start_minute: int, duration_minutes: int) -> tuple[datetime, datetime]:
    """A run's two moments in UTC, from a shop date and a time of day."""
    starts = datetime.combine(day, time.min, tzinfo=SHOP_TZ) + timedelta(minutes=start_minute)
    return starts.astimezone(UTC), (starts + timedelta(minutes=duration_minutes)).astimezone(UTC)


def save_session(session: Session, flash: FlashSession | None, data: dict) -> FlashSession:
    """Create or edit a session after checking it; its runs are written again from what it says."""
    name = " ".join((data.get("name") or "").split())
    if not name or len(name) > 30:
        raise MarketingError(_l("Give it a name of at most %(n)d characters.", n=30), "name")
    start = data.get("start_minute")
    if start is None or not 0 <= start < 24 * 60:
        raise MarketingError(_l("Enter the time it starts."), "start_minute")
    duration = data.get("duration_minutes")
    if duration is None or not 0 < duration <= 24 * 60:
        raise MarketingError(_l("A session lasts from 1 minute to 24 hours."), "duration_minutes")
    pay = data.get("pay_minutes") or DEFAULT_PAY_MINUTES
    if not 0 < pay <= 60:
        raise MarketingError(_l("The payment window is 1 to 60 minutes."), "pay_minutes")
    days = run_dates(data)
    if flash is not None and flash.is_stopped:
        raise MarketingError(_l("This session has been stopped."))
    flash = flash or FlashSession()
    flash.name, flash.start_minute, flash.duration_minutes, flash.pay_minutes = name, start, duration, pay
    flash.repeat = "dates" if data.get("repeat") == "dates" else "daily"
    flash.dates = [day.isoformat() for day in days]
    flash.allow_points = bool(data.get("allow_points"))
    flash.pays_commission = bool(data.get("pays_commission"))
    session.add(flash)
    session.flush()
    session.execute(delete(FlashSlot).where(FlashSlot.session_id == flash.id))
    session.add_all(
        FlashSlot(session_id=flash.id, starts_at=starts, ends_at=ends)
        for starts, ends in (slot_times(day, start, duration) for day in days)
    )
    session.flush()
    session.expire(flash, ["slots"])
    _refuse_clash(session, flash.id, [item.sku_id for item in flash.items])  # new times, same SKUs
    return flash


def clash(session: Session, flash_id: int, sku_ids: Iterable[int], now: datetime | None = None) -> str | None:
    """The name of another activity one of these SKUs is in during a run of this session still to end — a
    限时折扣, a 拼团 or another flash session —, or None. A SKU is in one activity at a time (MARKETING.md)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return None
    mine = aliased(FlashSlot)
    ahead = (mine.session_id == flash_id, mine.ends_at > (now or utcnow()))
    timed = session.scalar(
        select(TimedDiscount.name)
        .join(TimedDiscountItem, TimedDiscountItem.discount_id == TimedDiscount.id)
        .join(mine, (TimedDiscount.starts_at < mine.ends_at) & (TimedDiscount.ends_at > mine.starts_at))
        .where(TimedDiscountItem.sku_id.in_(ids), ~TimedDiscount.is_stopped, *ahead)
        .limit(1)
    )
    if timed:
        return timed
    group = session.scalar(
        select(GroupBuy.name)
        .join(GroupBuyItem, GroupBuyItem.group_buy_id == GroupBuy.id)
        .join(mine, and_(*overlapping_group_buy(mine.starts_at, mine.ends_at)))
        .where(GroupBuyItem.sku_id.in_(ids), *ahead)
        .limit(1)
    )
    if group:
        return group
    return session.scalar(
        select(FlashSession.name)
        .join(FlashItem, FlashItem.session_id == FlashSession.id)
        .join(FlashSlot, FlashSlot.session_id == FlashSession.id)
        .join(mine, (FlashSlot.starts_at < mine.ends_at) & (FlashSlot.ends_at > mine.starts_at))
        .where(FlashItem.sku_id.in_(ids), FlashSession.id != flash_id, ~FlashSession.is_stopped, *ahead)
        .limit(1)
    )


def in_flash_between(session: Session, sku_ids: Iterable[int], starts_at: datetime, ends_at: datetime):
    """The name of a flash session one of these SKUs is in with a run overlapping [starts_at, ends_at)."""
    return session.scalar(
        select(FlashSession.name)
        .join(FlashItem, FlashItem.session_id == FlashSession.id)
        .join(FlashSlot, FlashSlot.session_id == FlashSession.id)
        .where(
            FlashItem.sku_id.in_(sorted(set(sku_ids))),
            ~FlashSession.is_stopped,
            FlashSlot.starts_at < ends_at,
            FlashSlot.ends_at > starts_at,
        )
        .limit(1)
    )


def _refuse_clash(session: Session, flash_id: int, sku_ids: Iterable[int]) -> None:
    name = clash(session, flash_id, sku_ids)
    if name:
        raise MarketingError(
            _l(
                "A SKU is already in “%(name)s” at that time. A SKU can be in one activity at a time.",
                name=name,
            ),
            "sku_id",
        )


def stop_session(session: Session, flash_id: int) -> bool:
    """Stop a session now (for good). False when it was already stopped."""
    done = session.execute(
        update(FlashSession)
        .where(FlashSession.id == flash_id, ~FlashSession.is_stopped)
        .values(is_stopped=True, stopped_at=utcnow())
    ).rowcount
    return bool(done)


@dataclass(frozen=True)
class ItemDraft:
    sku_id: int
    price_fen: int
    stock: int
    per_user_limit: int | None = 1
    per_order_limit: int | None = None
    # The flash stock left as the merchant's page showed it: an edit applies the difference from it, so
    # units bought while the page was open are neither given back nor counted twice.
    stock_seen: int | None = None


def save_item(session: Session, flash: FlashSession, draft: ItemDraft) -> FlashItem:
    """Add a SKU to a session, or change one already in it. The flash stock is carved out of the SKU's: never
    more than the SKU has. A change of stock is applied as a difference by a conditional update, so units
    taken by buyers meanwhile are not given back by mistake."""
    sku = session.get(Sku, draft.sku_id)
    if sku is None:
        raise MarketingError(_l("A product in the list no longer exists."), "sku_id")
    if not 0 <= draft.price_fen < sku.price_fen:
        raise MarketingError(_l("An activity price must be below the list price."), "price_fen")
    for limit, field in (
        (draft.per_user_limit, "per_user_limit"),
        (draft.per_order_limit, "per_order_limit"),
    ):
        if limit is not None and not 1 <= limit <= 9999:
            raise MarketingError(_l("A limit is 1 to 9999, or left empty."), field)
    if draft.stock < 0:
        raise MarketingError(_l("The flash stock cannot be negative."), "stock")
    _refuse_clash(session, flash.id, [sku.id])
    item = session.scalar(
        select(FlashItem).where(FlashItem.session_id == flash.id, FlashItem.sku_id == sku.id)
    )
    if item is None:
        if len(flash.items) >= MAX_ITEMS:
            raise MarketingError(_l("At most %(n)d SKUs in one session.", n=MAX_ITEMS), "sku_id")
        if draft.stock > sku.stock:
            raise MarketingError(
                _l("The flash stock cannot be more than the SKU's stock (%(n)d).", n=sku.stock), "stock"
            )
        item = FlashItem(session_id=flash.id, sku_id=sku.id, stock=draft.stock, sold=0)
        session.add(item)
    else:
        change = draft.stock - (item.stock if draft.stock_seen is None else draft.stock_seen)
        if change > 0 and item.stock + change > sku.stock:
            raise MarketingError(
                _l("The flash stock cannot be more than the SKU's stock (%(n)d).", n=sku.stock), "stock"
            )
        changed = session.execute(
            update(FlashItem)
            .where(FlashItem.id == item.id, FlashItem.stock + change >= 0)
            .values(stock=FlashItem.stock + change)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not changed:
            raise MarketingError(_l("Some of it has just been sold. Please look again."), "stock")
        session.expire(item, ["stock"])
    item.price_fen = draft.price_fen
    item.per_user_limit, item.per_order_limit = draft.per_user_limit, draft.per_order_limit
    session.flush()
    return item


def remove_item(session: Session, flash: FlashSession, item_id: int) -> None:
    """Take a SKU out of a session before anything of it is sold; once it is, its orders refer to it (their
    give-back and the per-customer limit), so the merchant sets its flash stock to 0 instead."""
    gone = session.execute(
        delete(FlashItem).where(
            FlashItem.id == item_id, FlashItem.session_id == flash.id, FlashItem.sold == 0
        )
    ).rowcount
    left = None if gone else session.get(FlashItem, item_id)
    if left is not None and left.session_id != flash.id:
        raise MarketingError(_l("This product is not in this session."), "sku_id")
    if left is not None:
        raise MarketingError(_l("Some of it has been sold: set its flash stock to 0 instead."), "stock")


# ---- prices -----------------------------------------------------------------------------------------


def on_now(now: datetime):
    """The condition: a run of a session not stopped is on at `now`."""
    return (~FlashSession.is_stopped, FlashSlot.starts_at <= now, FlashSlot.ends_at > now)


def _running_items(now: datetime):
    return (
        select(FlashItem, FlashSession, FlashSlot.ends_at, Sku.price_fen)
        .join(FlashSession, FlashSession.id == FlashItem.session_id)
        .join(FlashSlot, FlashSlot.session_id == FlashSession.id)
        .join(Sku, Sku.id == FlashItem.sku_id)
        .where(*on_now(now))
    )


def activity(item: FlashItem, flash: FlashSession, ends_at: datetime, list_fen: int) -> pricing.Activity:
    return pricing.Activity(
        kind=KIND,
        unit_fen=min(item.price_fen, list_fen),
        points=flash.allow_points,
        commission=flash.pays_commission,
        key=item.id,
        name=flash.name,
        ends_at=ends_at,
    )


def activities_for_skus(
    session: Session, sku_ids: Iterable[int], now: datetime | None = None
) -> dict[int, pricing.Activity]:
    """{sku id: its flash activity} for the SKUs in a running session with flash stock left (one query)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    rows = session.execute(
        _running_items(now or utcnow()).where(FlashItem.sku_id.in_(ids), FlashItem.stock > 0)
    ).all()
    return {item.sku_id: activity(item, flash, ends, list_fen) for item, flash, ends, list_fen in rows}


def lowest_prices(
    session: Session, product_ids: Iterable[int] | None, now: datetime | None = None
) -> dict[int, int]:
    """{product id: its lowest flash price now}, for listings (one query); product_ids None: of every
    product in a session now."""
    query = (
        _running_items(now or utcnow()).add_columns(Sku.product_id).where(Sku.is_active, FlashItem.stock > 0)
    )
    if product_ids is not None:
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        query = query.where(Sku.product_id.in_(ids))
    rows = session.execute(query).all()
    lowest: dict[int, int] = {}
    for item, flash, ends, list_fen, product_id in rows:
        unit = activity(item, flash, ends, list_fen).unit_fen
        lowest[product_id] = min(unit, lowest.get(product_id, unit))
    return lowest


# ---- buying -----------------------------------------------------------------------------------------


def unpaid_order_for(session: Session, user_id: int, sku_ids: Iterable[int]) -> str | None:
    """The number of the shopper's unpaid flash order holding one of these SKUs, if any."""
    ids = sorted(set(sku_ids))
    if not ids:
        return None
    return session.scalar(
        select(Order.number)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.user_id == user_id,
            Order.status.in_(UNPAID_STATUSES),
            Order.expires_at > utcnow(),  # one past its window is about to be cancelled by the expiry job
            OrderLine.activity_kind == KIND,
            OrderLine.sku_id.in_(ids),
        )
        .order_by(Order.id)
        .limit(1)
    )


def refuse_if_gone(session: Session, user_id: int, item_id) -> None:
    """First of all at a flash checkout, because 已抢光 is the answer most of a rush's buyers get and it must
    come cheap (one read while stock is left, two when it is gone; then no pricing, no page to rebuild):
    raises UnpaidFlashOrder when the item is gone and the shopper holds an unpaid order for it (they are
    sent to pay it), else SoldOut. With stock left, or an item unknown, it says nothing: check_buy and the
    order's own conditional update decide."""
    if not isinstance(item_id, int):
        return
    row = session.execute(
        select(FlashItem.stock, FlashItem.sku_id, Sku.product_id)
        .join(Sku, Sku.id == FlashItem.sku_id)
        .where(FlashItem.id == item_id)
    ).first()
    if row is None or row.stock > 0:
        return
    unpaid = unpaid_order_for(session, user_id, [row.sku_id])
    if unpaid:
        raise UnpaidFlashOrder(unpaid)
    raise SoldOut(row.product_id)


def check_buy(
    session: Session,
    user_id: int,
    item_id,
    entries: dict[int, int],
    activities: dict[int, pricing.Activity],
    now: datetime | None = None,
) -> None:
    """Before an order from the flash page is placed (reads only; the order's own conditional updates
    decide): the flash item named must exist, be this SKU's and on now, with stock left; the shopper must
    not have an unpaid flash order for it; and the basket must have been priced with it (`activities`, what
    the offers found a moment earlier: in a rush the last unit can go between the two reads, and the
    shopper is then told 已抢光, not that the price has changed). Raises MarketingError (UnpaidFlashOrder)
    otherwise."""
    now = now or utcnow()
    item = session.get(FlashItem, item_id) if isinstance(item_id, int) else None
    if item is None or set(entries) != {item.sku_id}:
        raise MarketingError(_l("This flash-sale item does not exist."), "flash")
    on = session.scalar(
        select(FlashSlot.id)
        .join(FlashSession)
        .where(FlashSession.id == item.session_id, *on_now(now))
        .limit(1)
    )
    if on is None:
        later = session.scalar(
            select(FlashSlot.id)
            .join(FlashSession)
            .where(FlashSession.id == item.session_id, ~FlashSession.is_stopped, FlashSlot.starts_at > now)
            .limit(1)
        )
        if later is not None:
            raise MarketingError(_l("This flash sale has not started yet."), "flash")
        raise MarketingError(_l("This flash sale has ended."), "flash")
    unpaid = unpaid_order_for(session, user_id, entries)
    if unpaid:
        raise UnpaidFlashOrder(unpaid)
    if item.stock <= 0:
        raise sold_out_error()
    priced_with = activities.get(item.sku_id)
    if priced_with is None or priced_with.kind != KIND or priced_with.key != item.id:
        raise sold_out_error()


def pay_minutes(session: Session, activities: Iterable[pricing.Activity], default: int) -> int:
    """The payment window an order with these activities gets: a flash line shortens it to its session's."""
    ids = [activity.key for activity in activities if activity is not None and activity.kind == KIND]
    if not ids:
        return default
    found = session.scalars(
        select(FlashSession.pay_minutes).join(FlashItem).where(FlashItem.id.in_(ids))
    ).all()
    return min([default, *found])


def held_units(session: Session, user_id: int, item_id: int) -> int:
    """Units a shopper holds of a flash item: in unpaid and paid orders, not cancelled, less refunded."""
    return session.scalar(
        select(func.coalesce(func.sum(OrderLine.qty - OrderLine.refunded_qty), 0))
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.user_id == user_id,
            Order.status.in_(UNPAID_STATUSES + PAID_STATUSES),
            OrderLine.activity_kind == KIND,
            OrderLine.activity_id == item_id,
        )
    )


def take_for_order(session: Session, order: Order) -> None:
    """At placement, inside the order's transaction (the SKU stock is already taken): the shopper's account
    row is locked, so one shopper's checkouts are counted one after the other (a second one waits for the
    first to commit, then sees its order); then the limits, then the flash stock by one conditional UPDATE.
    Raises — and the whole order is rolled back — when a limit is passed or the flash stock is gone."""
    lines = [line for line in order.lines if line.activity_kind == KIND]
    if not lines:
        return
    members.lock_account(session, order.user_id)
    other = session.scalar(
        select(Order.number)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.user_id == order.user_id,
            Order.id != order.id,
            Order.status.in_(UNPAID_STATUSES),
            Order.expires_at > order.created_at,
            OrderLine.activity_kind == KIND,
            OrderLine.sku_id.in_([line.sku_id for line in lines]),
        )
        .limit(1)
    )
    if other:
        raise UnpaidFlashOrder(other)
    pay_minutes = []
    for line in lines:
        item = session.get(FlashItem, line.activity_id)
        if item is None:
            raise sold_out_error()
        if item.per_order_limit and line.qty > item.per_order_limit:
            raise MarketingError(
                _l("At most %(n)d per order in this flash sale.", n=item.per_order_limit), "qty"
            )
        if item.per_user_limit and held_units(session, order.user_id, item.id) > item.per_user_limit:
            raise MarketingError(
                _l("This flash sale allows %(n)d per customer.", n=item.per_user_limit), "qty"
            )
        taken = session.execute(
            update(FlashItem)
            .where(FlashItem.id == item.id, FlashItem.stock >= line.qty)
            .values(stock=FlashItem.stock - line.qty, sold=FlashItem.sold + line.qty)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            raise sold_out_error()
        pay_minutes.append(item.flash_session.pay_minutes)
    order.expires_at = min(order.expires_at, order.created_at + timedelta(minutes=min(pay_minutes)))
    session.flush()


def give_back(session: Session, order: Order) -> None:
    """An unpaid order cancelled or expired (once: the cancel's state change is the guard): its flash units
    go back to their flash items. The SKU stock comes back through the cancel itself."""
    for line in order.lines:
        if line.activity_kind == KIND and line.activity_id is not None:
            session.execute(
                update(FlashItem)
                .where(FlashItem.id == line.activity_id, FlashItem.sold >= line.qty)
                .values(stock=FlashItem.stock + line.qty, sold=FlashItem.sold - line.qty)
                .execution_options(synchronize_session=False)
            )


# ---- back office ------------------------------------------------------------------------------------


def all_sessions(session: Session) -> list[FlashSession]:
    return list(
        session.scalars(
            select(FlashSession)
            .options(selectinload(FlashSession.items), selectinload(FlashSession.slots))
            .order_by(FlashSession.id.desc())
        )
    )


def session_status(flash: FlashSession, now: datetime | None = None) -> str:
    """running | upcoming (no run yet) | between (a run is over, another is to come) | ended | stopped."""
    now = now or utcnow()
    if flash.is_stopped:
        return "stopped"
    if any(slot.starts_at <= now < slot.ends_at for slot in flash.slots):
        return "running"
    if next_start(flash, now) is None:
        return "ended"
    return "between" if any(slot.ends_at <= now for slot in flash.slots) else "upcoming"


def next_start(flash: FlashSession, now: datetime | None = None) -> datetime | None:
    """When the session's next run starts (None: no run to come, or stopped)."""
    now = now or utcnow()
    later = [slot.starts_at for slot in flash.slots if slot.starts_at > now]
    return None if flash.is_stopped or not later else min(later)
