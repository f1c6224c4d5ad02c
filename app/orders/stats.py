"""The shop's figures over a period of its own calendar (today, yesterday, the last 7 or 30 days), each beside
the period before it of the same length, and paid amounts per hour or per day for the sales chart. Every
figure is one set-based query over both periods; money is integer fen."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, distinct, func, select
from sqlalchemy.orm import Session

from app.accounts.models import Role, User
from app.money import format_bp, format_fen
from app.orders.models import Order, Refund, RefundRequestStatus
from app.timeutil import SHOP_TZ, local_midnight_utc, utcnow

PERIODS = ("today", "yesterday", "7d", "30d")
DEFAULT_PERIOD = "today"
_DAYS = {"today": 1, "yesterday": 1, "7d": 7, "30d": 30}


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def holds(self, column):
        return and_(column >= self.start, column < self.end)


@dataclass(frozen=True)
class Period:
    """A period of the shop's calendar up to now (or a whole past day), the one before it of the same length,
    and the chart's buckets: hours for a day, days for longer."""

    key: str
    current: Window
    previous: Window
    buckets: tuple[tuple[datetime, str], ...]  # (start in UTC, label), up to the current one

    @property
    def hourly(self) -> bool:
        return _DAYS[self.key] == 1


def _shift_back(moment: datetime, days: int) -> datetime:
    """The same wall-clock time `days` earlier on the shop's calendar."""
    return (moment.astimezone(SHOP_TZ) - timedelta(days=days)).astimezone(UTC)


def period_for(key: str, now: datetime | None = None) -> Period:
    """The period named `key` (PERIODS; anything else is today). Today and the last N days run to now and are
    compared with the same stretch of time N days earlier (today until 10:00 with yesterday until 10:00);
    yesterday is a whole day, compared with the whole day before."""
    key = key if key in PERIODS else DEFAULT_PERIOD
    now = now or utcnow()
    today = now.astimezone(SHOP_TZ).date()
    days = _DAYS[key]
    if key == "yesterday":
        first_day, end = today - timedelta(days=1), local_midnight_utc(today)
    else:
        first_day, end = today - timedelta(days=days - 1), now
    start = local_midnight_utc(first_day)
    previous = Window(_shift_back(start, days), _shift_back(end, days))
    if days == 1:
        local_start = start.astimezone(SHOP_TZ)
        buckets = tuple(
            ((local_start + timedelta(hours=hour)).astimezone(UTC), f"{hour:02d}:00") for hour in range(24)
        )
    else:
        buckets = tuple(
            (local_midnight_utc(day), f"{day.month:02d}-{day.day:02d}")
            for day in (first_day + timedelta(days=n) for n in range(days))
        )
    return Period(key, Window(start, end), previous, tuple(b for b in buckets if b[0] < end))


@dataclass(frozen=True)
class Change:
    """How a figure moved against the period before: up / down / flat, or none when there was nothing
    before to compare with. `bp` is the size of the move, rounded to a tenth of a per cent."""

    direction: str
    bp: int = 0

    @property
    def label(self) -> str:
        if self.direction == "none":
            return "—"
        if self.direction == "flat":
            return str(_l("No change"))
        return ("↑" if self.direction == "up" else "↓") + format_bp(self.bp)


def change(current: int, previous: int) -> Change:
    if previous == 0:
        return Change("none")
    if current == previous:
        return Change("flat")
    diff = abs(current - previous)
    tenths = (diff * 2000 + previous) // (2 * previous)  # tenths of a per cent, rounded half up
    return Change("up" if current > previous else "down", tenths * 10)


@dataclass(frozen=True)
class Figure:
    """One number of the period beside the same number of the period before. `money`: fen."""

    key: str
    current: int
    previous: int
    money: bool = False

    @property
    def change(self) -> Change:
        return change(self.current, self.previous)

    @property
    def shown(self) -> str:
        return format_fen(self.current) if self.money else f"{self.current:,}"

    @property
    def previous_shown(self) -> str:
        return format_fen(self.previous) if self.money else f"{self.previous:,}"


def _average(total_fen: int, count: int) -> int:
    """Fen per order, rounded half up; nothing sold, nothing to average."""
    return (total_fen * 2 + count) // (2 * count) if count else 0


def in_both_periods(session: Session, period: Period, column, *values, where=()) -> list[tuple[int, int]]:
    """For each (aggregate, expression) in `values`, the aggregate over the rows (those `where` keeps) whose
    `column` falls in the current period and in the previous one: [(current, previous), …] in one query."""
    columns = []
    for aggregate, expression in values:
        for window in (period.current, period.previous):
            columns.append(aggregate(case((window.holds(column), expression))))
    row = session.execute(
        select(*columns).where(column >= period.previous.start, column < period.current.end, *where)
    ).one()
    return [(int(row[i] or 0), int(row[i + 1] or 0)) for i in range(0, len(row), 2)]


def order_figures(session: Session, period: Period) -> list[Figure]:
    """Paid amount, paid orders, paying customers, the average order, refunds paid back and new customers.
    An order counts in the period it was paid in, whatever happened to it afterwards (its refund counts
    when the money went back)."""
    paid, orders, customers = in_both_periods(
        session,
        period,
        Order.paid_at,
        (func.sum, Order.total_fen),
        (func.count, Order.id),
        (lambda expression: func.count(distinct(expression)), Order.user_id),
    )
    (refunds,) = in_both_periods(
        session,
        period,
        Refund.refunded_at,
        (func.sum, Refund.amount_fen),
        where=(Refund.status == RefundRequestStatus.REFUNDED,),
    )
    (new_customers,) = in_both_periods(
        session, period, User.created_at, (func.count, User.id), where=(User.role == Role.CUSTOMER,)
    )
    return [
        Figure("paid", *paid, money=True),
        Figure("orders", *orders),
        Figure("customers", *customers),
        Figure("average", _average(paid[0], orders[0]), _average(paid[1], orders[1]), money=True),
        Figure("refunds", *refunds, money=True),
        Figure("new_customers", *new_customers),
    ]


def sales_by_bucket(session: Session, period: Period) -> list[tuple[str, int]]:
    """Paid amount per hour (a day) or per day (longer), for each bucket up to now: [(label, fen), …]."""
    starts = [start for start, _label in period.buckets]
    bucket = case(
        *((Order.paid_at < later, index) for index, later in enumerate(starts[1:])),
        else_=len(starts) - 1,
    )
    rows = session.execute(
        select(bucket, func.sum(Order.total_fen))
        .where(Order.paid_at >= period.current.start, Order.paid_at < period.current.end)
        .group_by(bucket)
    ).all()
    sums = {int(index): int(total or 0) for index, total in rows}
    return [(label, sums.get(index, 0)) for index, (_start, label) in enumerate(period.buckets)]
