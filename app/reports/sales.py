"""Sales by day: per day of the range, the paid orders, the amount paid, the paying customers, the refunds
paid back and what stays. An order counts on the day it was paid, its refund on the day the money went back
(as the dashboard counts them)."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.orders.models import Order, Refund, RefundRequestStatus
from app.reports.ranges import DateRange, as_date, local_day


@dataclass
class SalesDay:
    day: date
    orders: int = 0
    paid_fen: int = 0
    customers: int = 0
    refunds: int = 0
    refunded_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen

    @property
    def average_fen(self) -> int:
        """Per order, rounded half up."""
        return (self.paid_fen * 2 + self.orders) // (2 * self.orders) if self.orders else 0


@dataclass
class SalesReport:
    days: list[SalesDay]
    total: SalesDay  # its `customers` counts each customer once over the whole range

    def chart_points(self) -> list[tuple[str, int]]:
        return [(f"{d.day.month:02d}-{d.day.day:02d}", d.paid_fen) for d in self.days]


def sales_by_day(session: Session, period: DateRange) -> SalesReport:
    window = period.window
    paid_day = local_day(session, Order.paid_at)
    by_day = {day: SalesDay(day) for day in period.days}
    rows = session.execute(
        select(paid_day, func.count(), func.sum(Order.total_fen), func.count(distinct(Order.user_id)))
        .where(window.holds(Order.paid_at))
        .group_by(paid_day)
    ).all()
    for day, orders, paid, customers in rows:
        found = by_day.get(as_date(day))
        if found is not None:
            found.orders, found.paid_fen, found.customers = int(orders), int(paid or 0), int(customers)
    refund_day = local_day(session, Refund.refunded_at)
    refunds = session.execute(
        select(refund_day, func.count(), func.sum(Refund.amount_fen))
        .where(window.holds(Refund.refunded_at), Refund.status == RefundRequestStatus.REFUNDED)
        .group_by(refund_day)
    ).all()
    for day, count, amount in refunds:
        found = by_day.get(as_date(day))
        if found is not None:
            found.refunds, found.refunded_fen = int(count), int(amount or 0)
    days = list(by_day.values())
    customers = session.scalar(select(func.count(distinct(Order.user_id))).where(window.holds(Order.paid_at)))
    total = SalesDay(
        period.last,
        orders=sum(d.orders for d in days),
        paid_fen=sum(d.paid_fen for d in days),
        customers=int(customers or 0),
        refunds=sum(d.refunds for d in days),
        refunded_fen=sum(d.refunded_fen for d in days),
    )
    return SalesReport(days, total)
