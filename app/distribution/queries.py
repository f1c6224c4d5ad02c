"""Read-side queries for the distributor center: earnings today and this month, the commission list, the
team, visits and conversion, withdrawals. Each page is a few set-based queries whatever the number of
rows shown (never one query per row), and lists are read newest first through indexed keys.

Nothing here changes money: balances come from the Distributor row (kept in step with the ledger) and
amounts per commission from its ledger entries."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, TypeVar

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from app.accounts.models import User, mask_mobile
from app.catalog.models import Product
from app.distribution.explain import buyer_label, mask_name
from app.distribution.models import (
    ApplicationStatus,
    Commission,
    CommissionStatus,
    Distributor,
    DistributorApplication,
    LedgerEntry,
    Visit,
    Withdrawal,
    WithdrawalStatus,
)
from app.money import apply_bp
from app.orders.models import Order, OrderLine, OrderStatus, RefundStatus
from app.timeutil import SHOP_TZ, local_midnight_utc

COMMISSIONS_PER_PAGE = 20
TEAM_PER_PAGE = 20
WITHDRAWALS_PER_PAGE = 20
MEMBER_ORDERS_PER_PAGE = 10
VISIT_DAYS = 30
TOP_PRODUCTS = 50
# Orders that were paid: what a downline's sales and a member's order list count.
SALE_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.REFUNDED)
OPEN_WITHDRAWAL_STATUSES = (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED)
T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a list, read with a row more than shown so that `has_next` needs no count."""

    items: list[T]
    page: int
    has_next: bool

    @property
    def next_num(self) -> int:
        return self.page + 1


def mask_order_number(number: str) -> str:
    """2411220123456789 -> 241122******6789: enough to tell orders apart, not to look one up."""
    if len(number) <= 10:
        return number
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def release_date(completed_at: datetime | None, freeze_days: int) -> date | None:
    """The shop's calendar date frozen commission on a completed order becomes available (the release
    also waits for any open after-sales request and any fraud hold)."""
    if completed_at is None:
        return None
    return (completed_at + timedelta(days=freeze_days)).astimezone(SHOP_TZ).date()


def member_label(nickname: str | None, mobile: str | None) -> str:
    """A team member as a distributor sees them: masked like a buyer (张** / 138****5678)."""
    masked = mask_mobile(mobile)
    return f"{mask_name(nickname or '')} / {masked}" if masked else mask_name(nickname or "")


# ---------------------------------------------------------------- the center's figures


@dataclass
class Earnings:
    today_fen: int
    month_fen: int


def earnings(session: Session, distributor_id: int, now: datetime) -> Earnings:
    """Commission earned on orders paid today and this month (the shop's calendar), net of what refunds
    and voids have since taken back: the current ledger value of those commissions."""
    local_today = now.astimezone(SHOP_TZ).date()
    today = local_midnight_utc(local_today)
    month = local_midnight_utc(local_today.replace(day=1))
    # Each commission's value looked up by its own entries (a correlated subquery): the month holds a few
    # thousand commissions at most, while a join tempts PostgreSQL into hashing the whole ledger.
    value = (
        select(func.coalesce(func.sum(LedgerEntry.frozen_delta_fen + LedgerEntry.available_delta_fen), 0))
        .where(LedgerEntry.commission_id == Commission.id)
        .correlate(Commission)
        .scalar_subquery()
    )
    this_month = (
        select(Commission.created_at.label("created_at"), value.label("value"))
        .where(Commission.distributor_id == distributor_id, Commission.created_at >= month)
        .subquery()
    )
    row = session.execute(
        select(
            func.coalesce(func.sum(case((this_month.c.created_at >= today, this_month.c.value), else_=0)), 0),
            func.coalesce(func.sum(this_month.c.value), 0),
        )
    ).one()
    return Earnings(today_fen=int(row[0]), month_fen=int(row[1]))


def withdrawing_fen(session: Session, distributor_id: int) -> int:
    """Requested or approved but not yet paid: already out of `available`, not yet in `withdrawn`."""
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Withdrawal.amount_fen), 0)).where(
                Withdrawal.distributor_id == distributor_id,
                Withdrawal.status.in_([str(s) for s in OPEN_WITHDRAWAL_STATUSES]),
            )
        )
        or 0
    )


def latest_application(session: Session, user_id: int) -> DistributorApplication | None:
    return session.scalar(
        select(DistributorApplication)
        .where(DistributorApplication.user_id == user_id)
        .order_by(DistributorApplication.id.desc())
        .limit(1)
    )


def application_pending(application: DistributorApplication | None) -> bool:
    return application is not None and application.status == ApplicationStatus.PENDING


# ---------------------------------------------------------------- commissions


@dataclass
class CommissionRow:
    id: int
    order_number: str
    masked_number: str
    created_at: datetime
    level: int
    buyer: str
    self_purchase: bool
    state: str  # frozen / held / released / voided / refunded (taken back in full by refunds)
    original_fen: int
    current_fen: int
    release_on: date | None  # frozen, order completed: the shop's date it becomes available
    after_sales: bool  # frozen while an after-sales request is open
    void_reason: str | None


@dataclass
class CommissionPage:
    items: list[CommissionRow]
    next_before: int | None  # the key of the next page ("load more"), None on the last page


COMMISSION_STATES = ("frozen", "held", "released", "voided")


def commission_page(
    session: Session,
    distributor: Distributor,
    *,
    freeze_days: int,
    state: str | None = None,
    before: int | None = None,
    per_page: int = COMMISSIONS_PER_PAGE,
) -> CommissionPage:
    """One page of a distributor's commissions, newest first, keyed by id (ids grow with time), so that
    "load more" stays as fast on page 500 as on page 1. Three queries: the rows with their order and buyer,
    and the current amounts from the ledger."""
    buyer = aliased(User)
    query = (
        select(
            Commission.id,
            Commission.level,
            Commission.status,
            Commission.held,
            Commission.original_fen,
            Commission.created_at,
            Commission.void_reason,
            Order.number,
            Order.user_id,
            Order.completed_at,
            Order.refund_status,
            buyer.nickname,
            buyer.mobile,
        )
        .join(Order, Order.id == Commission.order_id)
        .join(buyer, buyer.id == Order.user_id)
        .where(Commission.distributor_id == distributor.id)
        .order_by(Commission.id.desc())
        .limit(per_page + 1)
    )
    if before is not None:
        query = query.where(Commission.id < before)
    if state == "frozen":
        query = query.where(Commission.status == CommissionStatus.FROZEN, ~Commission.held)
    elif state == "held":
        query = query.where(Commission.status == CommissionStatus.FROZEN, Commission.held)
    elif state in ("released", "voided"):
        query = query.where(Commission.status == state)
    rows = session.execute(query).all()
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    current = _current_amounts(session, [row.id for row in rows])
    items = []
    for row in rows:
        if row.status == CommissionStatus.FROZEN:
            row_state = "held" if row.held else "frozen"
        else:
            row_state = row.status
        if row_state != CommissionStatus.VOIDED and current.get(row.id, 0) == 0 and row.original_fen > 0:
            row_state = "refunded"  # the buyer got everything back: nothing is coming
        release_on = release_date(row.completed_at, freeze_days) if row_state == "frozen" else None
        items.append(
            CommissionRow(
                id=row.id,
                order_number=row.number,
                masked_number=mask_order_number(row.number),
                created_at=row.created_at,
                level=row.level,
                buyer=buyer_label(row),
                self_purchase=row.user_id == distributor.user_id,
                state=row_state,
                original_fen=row.original_fen,
                current_fen=current.get(row.id, 0),
                release_on=release_on,
                after_sales=row_state == "frozen" and row.refund_status == RefundStatus.REQUESTED,
                void_reason=row.void_reason,
            )
        )
    return CommissionPage(items=items, next_before=items[-1].id if has_next else None)


def _current_amounts(session: Session, commission_ids: list[int]) -> dict[int, int]:
    """What each commission is worth now (frozen + available), from its ledger entries."""
    if not commission_ids:
        return {}
    rows = session.execute(
        select(
            LedgerEntry.commission_id,
            func.sum(LedgerEntry.frozen_delta_fen + LedgerEntry.available_delta_fen),
        )
        .where(LedgerEntry.commission_id.in_(commission_ids))
        .group_by(LedgerEntry.commission_id)
    )
    return {commission_id: int(amount or 0) for commission_id, amount in rows}


def commission_on_order(session: Session, distributor_id: int, order_id: int) -> bool:
    return (
        session.scalar(
            select(Commission.id)
            .where(Commission.distributor_id == distributor_id, Commission.order_id == order_id)
            .limit(1)
        )
        is not None
    )


def waits_for_release(session: Session, distributor_id: int, order_id: int) -> bool:
    """Whether this order still holds frozen commission of mine that the normal release will free."""
    return (
        session.scalar(
            select(Commission.id)
            .where(
                Commission.distributor_id == distributor_id,
                Commission.order_id == order_id,
                Commission.status == CommissionStatus.FROZEN,
                ~Commission.held,
            )
            .limit(1)
        )
        is not None
    )


# ---------------------------------------------------------------- team


@dataclass
class Member:
    user_id: int
    label: str
    joined_at: datetime | None
    bound_until: datetime | None  # None: permanent
    lapsed: bool
    orders: int
    sales_fen: int
    via: str = ""  # level 2: the level-1 member they came through


def _level_two_parents(user_id: int):
    return select(User.id).where(User.referrer_id == user_id)


def team_counts(session: Session, user_id: int) -> tuple[int, int]:
    """How many members are bound to me (level 1), and to them (level 2)."""
    level_one = session.scalar(select(func.count()).select_from(User).where(User.referrer_id == user_id))
    level_two = session.scalar(
        select(func.count()).select_from(User).where(User.referrer_id.in_(_level_two_parents(user_id)))
    )
    return int(level_one or 0), int(level_two or 0)


def team_page(
    session: Session, user_id: int, *, level: int, now: datetime, page: int = 1, per_page: int = TEAM_PER_PAGE
) -> Page[Member]:
    """Level 1: members whose referrer is me; level 2: members whose referrer's referrer is me. Newest
    binding first, with their paid sales (paid minus refunded) in two more queries for the whole page."""
    parent = aliased(User)
    query = select(
        User.id,
        User.nickname,
        User.mobile,
        User.referrer_bound_at,
        User.referrer_until,
        parent.nickname.label("parent_nickname"),
        parent.mobile.label("parent_mobile"),
    ).join(parent, parent.id == User.referrer_id)
    if level == 1:
        query = query.where(User.referrer_id == user_id)
    else:
        query = query.where(parent.referrer_id == user_id)
    rows = session.execute(
        query.order_by(User.referrer_bound_at.desc(), User.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    sales = member_sales(session, [row.id for row in rows])
    items = [
        Member(
            user_id=row.id,
            label=member_label(row.nickname, row.mobile),
            joined_at=row.referrer_bound_at,
            bound_until=row.referrer_until,
            lapsed=row.referrer_until is not None and row.referrer_until <= now,
            orders=sales.get(row.id, (0, 0))[0],
            sales_fen=sales.get(row.id, (0, 0))[1],
            via=member_label(row.parent_nickname, row.parent_mobile) if level == 2 else "",
        )
        for row in rows
    ]
    return Page(items=items, page=page, has_next=has_next)


def member_sales(session: Session, user_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{user id: (paid orders, paid minus refunded)} in one grouped query."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(Order.user_id, func.count(), func.coalesce(func.sum(Order.total_fen - Order.refunded_fen), 0))
        .where(Order.user_id.in_(user_ids), Order.status.in_([str(s) for s in SALE_STATUSES]))
        .group_by(Order.user_id)
    )
    return {user_id: (int(count), int(amount)) for user_id, count, amount in rows}


def team_level(session: Session, user_id: int, member: User) -> int | None:
    """1 or 2 when `member` is in my team now, else None: the one check for seeing a member's orders."""
    if member.referrer_id is None or member.id == user_id:
        return None
    if member.referrer_id == user_id:
        return 1
    grand = session.scalar(select(User.referrer_id).where(User.id == member.referrer_id))
    return 2 if grand == user_id else None


@dataclass
class MemberOrder:
    number: str
    masked_number: str
    paid_at: datetime | None
    status: str
    total_fen: int
    refunded_fen: int
    my_commission_fen: int | None  # None: this order earned me nothing


def member_orders(
    session: Session,
    distributor_id: int,
    member_id: int,
    *,
    page: int = 1,
    per_page: int = MEMBER_ORDERS_PER_PAGE,
) -> Page[MemberOrder]:
    """A team member's paid orders (no address, no phone), each with what it earned me, if anything."""
    rows = session.execute(
        select(Order.id, Order.number, Order.paid_at, Order.status, Order.total_fen, Order.refunded_fen)
        .where(Order.user_id == member_id, Order.status.in_([str(s) for s in SALE_STATUSES]))
        .order_by(Order.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    mine: dict[int, int] = {}
    if rows:
        commission_rows = session.execute(
            select(Commission.order_id, Commission.id).where(
                Commission.distributor_id == distributor_id,
                Commission.order_id.in_([row.id for row in rows]),
            )
        ).all()
        amounts = _current_amounts(session, [c.id for c in commission_rows])
        for order_id, commission_id in commission_rows:
            mine[order_id] = mine.get(order_id, 0) + amounts.get(commission_id, 0)
    items = [
        MemberOrder(
            number=row.number,
            masked_number=mask_order_number(row.number),
            paid_at=row.paid_at,
            status=row.status,
            total_fen=row.total_fen,
            refunded_fen=row.refunded_fen,
            my_commission_fen=mine.get(row.id),
        )
        for row in rows
    ]
    return Page(items=items, page=page, has_next=has_next)


# ---------------------------------------------------------------- visits and conversion


@dataclass
class ProductConversion:
    product_id: int
    title: str
    on_shelf: bool
    visits: int
    orders: int

    @property
    def conversion_bp(self) -> int | None:
        """Orders per visit in basis points (None when nobody visited through my link)."""
        return self.orders * 10000 // self.visits if self.visits else None


@dataclass
class VisitStats:
    since: date
    visits: int
    in_wechat: int
    visitors: int
    orders: int
    other_visits: int  # the shop's home page, categories, search
    products: list[ProductConversion] = field(default_factory=list)

    @property
    def conversion_bp(self) -> int | None:
        return self.orders * 10000 // self.visits if self.visits else None


def visit_stats(session: Session, distributor_id: int, now: datetime, days: int = VISIT_DAYS) -> VisitStats:
    """Visits through my links in the last `days` days (a visit is one visitor, page and day), and per
    product: visits, the orders that earned me commission in the same period, and the conversion rate."""
    since_day = now.date() - timedelta(days=days - 1)  # visits are recorded by UTC day
    since = datetime.combine(since_day, time.min, tzinfo=UTC)
    totals = session.execute(
        select(
            func.count(),
            func.count().filter(Visit.in_wechat),
            func.count(func.distinct(Visit.visitor_key)),
            func.count().filter(Visit.product_id.is_(None)),
        ).where(Visit.distributor_id == distributor_id, Visit.day >= since_day)
    ).one()
    per_product_visits = dict(
        session.execute(
            select(Visit.product_id, func.count())
            .where(
                Visit.distributor_id == distributor_id,
                Visit.day >= since_day,
                Visit.product_id.is_not(None),
            )
            .group_by(Visit.product_id)
        ).all()
    )
    my_orders = (
        select(Commission.order_id)
        .where(Commission.distributor_id == distributor_id, Commission.created_at >= since)
        .subquery()
    )
    order_count = session.scalar(select(func.count(func.distinct(my_orders.c.order_id))))
    per_product_orders = dict(
        session.execute(
            select(OrderLine.product_id, func.count(func.distinct(OrderLine.order_id)))
            .where(OrderLine.order_id.in_(select(my_orders.c.order_id)), OrderLine.product_id.is_not(None))
            .group_by(OrderLine.product_id)
        ).all()
    )
    product_ids = set(per_product_visits) | set(per_product_orders)
    ranked = sorted(
        product_ids, key=lambda pid: (-per_product_visits.get(pid, 0), -per_product_orders.get(pid, 0), -pid)
    )[:TOP_PRODUCTS]
    products = {}
    if ranked:
        products = {
            row.id: row
            for row in session.execute(
                select(Product.id, Product.title, Product.is_on_shelf).where(Product.id.in_(ranked))
            )
        }
    return VisitStats(
        since=since_day,
        visits=int(totals[0]),
        in_wechat=int(totals[1]),
        visitors=int(totals[2]),
        other_visits=int(totals[3]),
        orders=int(order_count or 0),
        products=[
            ProductConversion(
                product_id=pid,
                title=products[pid].title,
                on_shelf=products[pid].is_on_shelf,
                visits=int(per_product_visits.get(pid, 0)),
                orders=int(per_product_orders.get(pid, 0)),
            )
            for pid in ranked
            if pid in products
        ],
    )


# ---------------------------------------------------------------- withdrawals


def withdrawal_page(
    session: Session, distributor_id: int, *, page: int = 1, per_page: int = WITHDRAWALS_PER_PAGE
) -> Page[Withdrawal]:
    rows = list(
        session.scalars(
            select(Withdrawal)
            .where(Withdrawal.distributor_id == distributor_id)
            .order_by(Withdrawal.id.desc())
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
    )
    return Page(items=rows[:per_page], page=page, has_next=len(rows) > per_page)


def own_withdrawal(session: Session, distributor_id: int, withdrawal_id: int) -> Withdrawal | None:
    """The distributor's own withdrawal, or None (anyone else's is "not found")."""
    return session.scalar(
        select(Withdrawal).where(Withdrawal.id == withdrawal_id, Withdrawal.distributor_id == distributor_id)
    )


def withdrawal_fee_fen(amount_fen: int, fee_bp: int) -> int:
    """The fee shown before a request is sent; the request itself records the fee it charged."""
    return apply_bp(amount_fen, fee_bp)


def mask_account(account: dict, method: str) -> str:
    """A payout account as shown back to its owner: the end of the number is enough to recognise it."""
    number = str(account.get("account", ""))
    if method == "bank":
        return f"{account.get('bank', '')} **** {number[-4:]}".strip()
    if len(number) > 6:
        return number[:3] + "****" + number[-3:]
    return number[:1] + "***"
