"""The month's distribution overview in the back office: commission earned, released, voided and paid out,
balances now, share visits and the orders they brought, what waits for a decision, the top distributors
and commission per day — in a fixed handful of queries."""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, select
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
from app.orders.models import Order
from app.timeutil import SHOP_TZ, local_midnight_utc, utcnow


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHOP_TZ).date()


@dataclass
class TopDistributor:
    distributor: Distributor
    commission_fen: int
    sales_fen: int


@dataclass
class Overview:
    month_start: date
    earned_fen: int = 0  # frozen credits written this month
    released_fen: int = 0
    voided_fen: int = 0
    reversed_fen: int = 0  # refunds before release and claw-backs after it
    paid_out_fen: int = 0
    frozen_now_fen: int = 0
    available_now_fen: int = 0
    withdrawn_now_fen: int = 0
    visits: int = 0
    visitors: int = 0
    visits_in_wechat: int = 0
    orders: int = 0  # orders brought by a share this month (level-1 commission)
    sales_fen: int = 0
    pending_applications: int = 0
    requested_withdrawals: int = 0
    approved_withdrawals: int = 0
    held_orders: int = 0
    distributors: int = 0
    new_distributors: int = 0
    top: list[TopDistributor] = field(default_factory=list)
    daily: list[tuple[date, int]] = field(default_factory=list)

    @property
    def conversion_bp(self) -> int | None:
        """Orders per unique visitor, in basis points (None without visitors)."""
        return self.orders * 10000 // self.visitors if self.visitors else None


def overview(session: Session, now: datetime | None = None, *, days: int = 30, top: int = 10) -> Overview:
    """The distribution overview in a fixed handful of queries."""
    now = now or utcnow()
    today = local_today(now)
    month_start = today.replace(day=1)
    since = local_midnight_utc(month_start)
    result = Overview(month_start=month_start)

    this_month = LedgerEntry.created_at >= since
    row = session.execute(
        select(
            func.coalesce(
                func.sum(LedgerEntry.frozen_delta_fen).filter(
                    this_month, LedgerEntry.kind == EntryKind.FROZEN_CREDIT
                ),
                0,
            ),
            func.coalesce(
                func.sum(LedgerEntry.available_delta_fen).filter(
                    this_month, LedgerEntry.kind == EntryKind.RELEASE
                ),
                0,
            ),
            func.coalesce(
                func.sum(LedgerEntry.frozen_delta_fen).filter(this_month, LedgerEntry.kind == EntryKind.VOID),
                0,
            ),
            func.coalesce(
                func.sum(LedgerEntry.frozen_delta_fen + LedgerEntry.available_delta_fen).filter(
                    this_month, LedgerEntry.kind.in_([EntryKind.REVERSAL, EntryKind.CLAWBACK])
                ),
                0,
            ),
            func.coalesce(
                func.sum(LedgerEntry.withdrawn_delta_fen).filter(
                    this_month, LedgerEntry.kind == EntryKind.WITHDRAWAL_PAID
                ),
                0,
            ),
        )
    ).one()
    result.earned_fen, result.released_fen = int(row[0]), int(row[1])
    result.voided_fen, result.reversed_fen, result.paid_out_fen = -int(row[2]), -int(row[3]), int(row[4])

    row = session.execute(
        select(
            func.coalesce(func.sum(Distributor.frozen_fen), 0),
            func.coalesce(func.sum(Distributor.available_fen), 0),
            func.coalesce(func.sum(Distributor.withdrawn_fen), 0),
            func.count(),
            func.count().filter(Distributor.created_at >= since),
        )
    ).one()
    result.frozen_now_fen, result.available_now_fen, result.withdrawn_now_fen = map(int, row[:3])
    result.distributors, result.new_distributors = row[3], row[4]

    row = session.execute(
        select(
            func.count(),
            func.count(func.distinct(Visit.visitor_key)),
            func.count().filter(Visit.in_wechat),
        ).where(Visit.day >= month_start)
    ).one()
    result.visits, result.visitors, result.visits_in_wechat = row

    brought = (
        select(Commission.order_id)
        .where(Commission.level == 1, Commission.created_at >= since)
        .distinct()
        .subquery()
    )
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total_fen - Order.refunded_fen), 0)).where(
            Order.id.in_(select(brought.c.order_id))
        )
    ).one()
    result.orders, result.sales_fen = row[0], int(row[1])

    result.pending_applications = session.scalar(
        select(func.count())
        .select_from(DistributorApplication)
        .where(DistributorApplication.status == ApplicationStatus.PENDING)
    )
    counts = withdrawal_counts(session)
    result.requested_withdrawals, result.approved_withdrawals = counts["requested"], counts["approved"]
    result.held_orders = held_count(session)

    earned = func.sum(LedgerEntry.frozen_delta_fen).label("earned")
    leaders = session.execute(
        select(LedgerEntry.distributor_id, earned)
        .where(this_month, LedgerEntry.kind == EntryKind.FROZEN_CREDIT)
        .group_by(LedgerEntry.distributor_id)
        .order_by(earned.desc(), LedgerEntry.distributor_id)
        .limit(top)
    ).all()
    if leaders:
        ids = [row[0] for row in leaders]
        people = distributors_by_id(session, ids)
        sales = dict(
            session.execute(
                select(Commission.distributor_id, func.sum(Order.total_fen - Order.refunded_fen))
                .join(Order, Order.id == Commission.order_id)
                .where(
                    Commission.distributor_id.in_(ids), Commission.level == 1, Commission.created_at >= since
                )
                .group_by(Commission.distributor_id)
            ).all()
        )
        result.top = [
            TopDistributor(people[distributor_id], int(amount), int(sales.get(distributor_id) or 0))
            for distributor_id, amount in leaders
        ]

    result.daily = daily_commission(session, today, days)
    return result


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
