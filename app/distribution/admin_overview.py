"""The month's distribution overview in the back office: commission earned, released, voided and paid out,
balances now, share visits and the orders they brought, what waits for a decision, the top distributors
and commission per day — in a fixed handful of queries."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from app.distribution.admin_queries import (
    distributors_by_id,
    held_count,
    withdrawal_counts,
)
from app.distribution.models import (
    ApplicationStatus,
    Commission,
    Distributor,
    DistributorApplication,
    EntryKind,
    LedgerEntry,
    Visit,
)
from app.money import rate_bp
from app.orders.models import Order
from app.timeutil import SHOP_TZ, local_midnight_utc, utcnow


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHOP_TZ).date()


@dataclass
class MonthCommission:
    """Commission moved this month, each figure a positive amount."""

    earned_fen: int  # frozen credits written
    released_fen: int
    voided_fen: int
    reversed_fen: int  # refunds before release and claw-backs after it
    paid_out_fen: int


def month_commission(session: Session, since: datetime) -> MonthCommission:
    """The month's commission figures in one query, each a filtered sum of ledger deltas."""
    frozen, available = LedgerEntry.frozen_delta_fen, LedgerEntry.available_delta_fen
    # figure: (the delta it sums, over entries of these kinds, with this sign: voids and reversals take away)
    figures = {
        "earned_fen": (frozen, [EntryKind.FROZEN_CREDIT], 1),
        "released_fen": (available, [EntryKind.RELEASE], 1),
        "voided_fen": (frozen, [EntryKind.VOID], -1),
        "reversed_fen": (frozen + available, [EntryKind.REVERSAL, EntryKind.CLAWBACK], -1),
        "paid_out_fen": (LedgerEntry.withdrawn_delta_fen, [EntryKind.WITHDRAWAL_PAID], 1),
    }
    this_month = LedgerEntry.created_at >= since
    sums = [
        func.coalesce(func.sum(delta).filter(this_month, LedgerEntry.kind.in_(kinds)), 0)
        for delta, kinds, _sign in figures.values()
    ]
    row = session.execute(select(*sums)).one()
    signs = [sign for _delta, _kinds, sign in figures.values()]
    return MonthCommission(
        **{name: sign * int(value) for name, sign, value in zip(figures, signs, row, strict=True)}
    )


@dataclass
class Balances:
    """What the distributors hold now, and how many they are."""

    frozen_fen: int
    available_fen: int
    withdrawn_fen: int
    distributors: int
    new_distributors: int  # joined this month


def balances(session: Session, since: datetime) -> Balances:
    row = session.execute(
        select(
            func.coalesce(func.sum(Distributor.frozen_fen), 0),
            func.coalesce(func.sum(Distributor.available_fen), 0),
            func.coalesce(func.sum(Distributor.withdrawn_fen), 0),
            func.count(),
            func.count().filter(Distributor.created_at >= since),
        )
    ).one()
    return Balances(*map(int, row))


@dataclass
class Shares:
    """Share-link visits this month and the orders they brought."""

    visits: int
    visitors: int
    visits_in_wechat: int
    orders: int  # orders brought by a share this month (level-1 commission)
    sales_fen: int
    # Unique visitors this month whose visit was made logged in as a shopper with an order paid this month.
    ordering_visitors: int = 0

    @property
    def conversion_bp(self) -> int | None:
        """Ordering visitors ÷ unique visitors, in basis points rounded half up as the funnel report rounds
        (None without visitors); never above 100 % (orders ÷ visitors was: one visitor may order several
        times)."""
        return rate_bp(self.ordering_visitors, self.visitors)


def shares(session: Session, month_start: date, since: datetime) -> Shares:
    visits = session.execute(
        select(
            func.count(),
            func.count(func.distinct(Visit.visitor_key)),
            func.count().filter(Visit.in_wechat),
        ).where(Visit.day >= month_start)
    ).one()
    brought = (
        select(Commission.order_id)
        .where(Commission.level == 1, Commission.created_at >= since)
        .distinct()
        .subquery()
    )
    orders = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total_fen - Order.refunded_fen), 0)).where(
            Order.id.in_(select(brought.c.order_id))
        )
    ).one()
    ordering = session.scalar(
        select(func.count(func.distinct(Visit.visitor_key))).where(
            Visit.day >= month_start,
            Visit.user_id.is_not(None),
            exists().where(Order.user_id == Visit.user_id, Order.paid_at >= since),
        )
    )
    return Shares(*visits, orders=orders[0], sales_fen=int(orders[1]), ordering_visitors=int(ordering or 0))


@dataclass
class Queues:
    """What waits for the merchant's decision."""

    pending_applications: int
    requested_withdrawals: int
    approved_withdrawals: int
    held_orders: int


def queues(session: Session) -> Queues:
    pending = session.scalar(
        select(func.count())
        .select_from(DistributorApplication)
        .where(DistributorApplication.status == ApplicationStatus.PENDING)
    )
    counts = withdrawal_counts(session)
    return Queues(pending, counts["requested"], counts["approved"], held_count(session))


@dataclass
class TopDistributor:
    distributor: Distributor
    commission_fen: int
    sales_fen: int


def top_distributors(session: Session, since: datetime, top: int) -> list[TopDistributor]:
    """The distributors who earned most commission this month, with the sales their shares brought."""
    earned = func.sum(LedgerEntry.frozen_delta_fen).label("earned")
    leaders = session.execute(
        select(LedgerEntry.distributor_id, earned)
        .where(LedgerEntry.created_at >= since, LedgerEntry.kind == EntryKind.FROZEN_CREDIT)
        .group_by(LedgerEntry.distributor_id)
        .order_by(earned.desc(), LedgerEntry.distributor_id)
        .limit(top)
    ).all()
    if not leaders:
        return []
    ids = [row[0] for row in leaders]
    people = distributors_by_id(session, ids)
    sales = dict(
        session.execute(
            select(Commission.distributor_id, func.sum(Order.total_fen - Order.refunded_fen))
            .join(Order, Order.id == Commission.order_id)
            .where(Commission.distributor_id.in_(ids), Commission.level == 1, Commission.created_at >= since)
            .group_by(Commission.distributor_id)
        ).all()
    )
    return [
        TopDistributor(people[distributor_id], int(amount), int(sales.get(distributor_id) or 0))
        for distributor_id, amount in leaders
    ]


@dataclass
class Overview:
    month_start: date
    commission: MonthCommission
    balances: Balances
    shares: Shares
    queues: Queues
    top: list[TopDistributor]
    daily: list[tuple[date, int]]


def overview(session: Session, now: datetime | None = None, *, days: int = 30, top: int = 10) -> Overview:
    """The distribution overview in a fixed handful of queries."""
    now = now or utcnow()
    today = local_today(now)
    month_start = today.replace(day=1)
    since = local_midnight_utc(month_start)
    return Overview(
        month_start=month_start,
        commission=month_commission(session, since),
        balances=balances(session, since),
        shares=shares(session, month_start, since),
        queues=queues(session),
        top=top_distributors(session, since, top),
        daily=daily_commission(session, today, days),
    )


def daily_commission(session: Session, today: date, days: int) -> list[tuple[date, int]]:
    """Commission written per local day for the last `days` days, in one query (one filtered sum per day,
    which works the same on SQLite and PostgreSQL)."""
    first = today - timedelta(days=days - 1)
    bounds = [local_midnight_utc(first + timedelta(days=i)) for i in range(days + 1)]
    columns = [
        func.coalesce(
            func.sum(LedgerEntry.frozen_delta_fen).filter(
                and_(LedgerEntry.created_at >= bounds[i], LedgerEntry.created_at < bounds[i + 1])
            ),
            0,
        )
        for i in range(days)
    ]
    row = session.execute(
        select(*columns).where(
            LedgerEntry.kind == EntryKind.FROZEN_CREDIT,
            LedgerEntry.created_at >= bounds[0],
            LedgerEntry.created_at < bounds[-1],
        )
    ).one()
    return [(first + timedelta(days=i), int(value)) for i, value in enumerate(row)]
