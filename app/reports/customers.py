"""Customers over a date range: shoppers who registered, shoppers who paid — new buyers (no paid order before
the range) and returning ones — the repeat rate (paying customers with two or more paid orders in the range
÷ paying customers), and the same per member level (the level they hold now)."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session, aliased

from app.accounts.models import Role, User
from app.marketing.models import MemberAccount, MemberLevel
from app.orders.models import Order
from app.reports.ranges import DateRange, as_date, local_day, rate_bp


@dataclass
class CustomerRow:
    level_id: int | None
    label: str = ""
    customers: int = 0  # paying customers
    returning: int = 0
    repeat: int = 0  # with two or more paid orders in the range
    orders: int = 0
    paid_fen: int = 0

    @property
    def new(self) -> int:
        return self.customers - self.returning

    @property
    def repeat_rate_bp(self) -> int | None:
        return rate_bp(self.repeat, self.customers)


@dataclass
class CustomersReport:
    levels: list[CustomerRow]
    total: CustomerRow
    registered: int
    registered_by_day: list[tuple[date, int]]

    def chart_points(self) -> list[tuple[str, int]]:
        return [(f"{d.month:02d}-{d.day:02d}", n) for d, n in self.registered_by_day]


def customers_report(session: Session, period: DateRange, no_level: str = "") -> CustomersReport:
    window = period.window
    paid = (
        select(Order.user_id, func.count().label("orders"), func.sum(Order.total_fen).label("paid"))
        .where(window.holds(Order.paid_at))
        .group_by(Order.user_id)
        .subquery()
    )
    earlier = aliased(Order)
    returning = exists().where(earlier.user_id == paid.c.user_id, earlier.paid_at < window.start)
    query = (
        select(
            MemberAccount.level_id,
            func.count(),
            func.sum(case((returning, 1), else_=0)),
            func.sum(case((paid.c.orders >= 2, 1), else_=0)),
            func.sum(paid.c.orders),
            func.sum(paid.c.paid),
        )
        .select_from(paid)
        .outerjoin(MemberAccount, MemberAccount.user_id == paid.c.user_id)
        .group_by(MemberAccount.level_id)
    )
    names = dict(session.execute(select(MemberLevel.id, MemberLevel.name)).all())
    levels = []
    for level_id, customers, back, repeat, orders, amount in session.execute(query):
        label = names.get(level_id, no_level) if level_id is not None else no_level
        levels.append(
            CustomerRow(
                level_id,
                label,
                int(customers),
                int(back or 0),
                int(repeat or 0),
                int(orders or 0),
                int(amount or 0),
            )
        )
    levels.sort(key=lambda row: (row.paid_fen, row.customers), reverse=True)
    total = CustomerRow(
        None,
        customers=sum(r.customers for r in levels),
        returning=sum(r.returning for r in levels),
        repeat=sum(r.repeat for r in levels),
        orders=sum(r.orders for r in levels),
        paid_fen=sum(r.paid_fen for r in levels),
    )
    day = local_day(session, User.created_at)
    registered = {
        as_date(d): int(n)
        for d, n in session.execute(
            select(day, func.count())
            .where(window.holds(User.created_at), User.role == Role.CUSTOMER)
            .group_by(day)
        )
    }
    by_day = [(d, registered.get(d, 0)) for d in period.days]
    return CustomersReport(levels, total, sum(n for _d, n in by_day), by_day)
