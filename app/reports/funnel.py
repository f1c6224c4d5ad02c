"""The distribution funnel over a date range, per distributor and per product: share-link visits, unique
visitors, bound shoppers, the orders the shares brought (level-1 commission), their paid amount, the
commission created, and conversion = ordering visitors ÷ unique visitors.

An ordering visitor is a unique visitor of the range (one visitor cookie) whose visit was made logged in as
a shopper who has an order paid in the range — per product, an order with that product. It can never pass
100 %. A visitor who was not logged in when they opened the link is not known as an orderer (the visit has
no account on it), so conversion is a floor."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, distinct, exists, func, select
from sqlalchemy.orm import Session

from app.catalog.models import Product
from app.distribution.models import BindingLog, Commission, Distributor, Visit
from app.orders.models import Order, OrderLine
from app.orders.stats import Window
from app.reports.ranges import DateRange, as_date, local_day, rate_bp


@dataclass
class FunnelRow:
    key: int  # the distributor's or the product's id
    label: str = ""
    visits: int = 0
    visitors: int = 0
    bound: int | None = 0  # None: not known per product
    ordering_visitors: int = 0
    orders: int = 0
    paid_fen: int = 0
    commission_fen: int = 0

    @property
    def conversion_bp(self) -> int | None:
        return rate_bp(self.ordering_visitors, self.visitors)


@dataclass
class FunnelReport:
    rows: list[FunnelRow]
    total: FunnelRow
    visitors_by_day: list[tuple[date, int]]

    def chart_points(self) -> list[tuple[str, int]]:
        return [(f"{d.month:02d}-{d.day:02d}", n) for d, n in self.visitors_by_day]


def _ordered(window: Window, product: bool):
    """Whether the visit's shopper has an order paid in the range (with the visit's product)."""
    condition = and_(Order.user_id == Visit.user_id, window.holds(Order.paid_at))
    if not product:
        return exists().where(condition)
    return exists().where(condition, OrderLine.order_id == Order.id, OrderLine.product_id == Visit.product_id)


def _visits(session: Session, window: Window, key, product: bool) -> dict[int, FunnelRow]:
    rows: dict[int, FunnelRow] = {}
    in_range = [window.holds(Visit.created_at), key.is_not(None)]
    for ident, visits, visitors in session.execute(
        select(key, func.count(), func.count(distinct(Visit.visitor_key))).where(*in_range).group_by(key)
    ):
        rows[ident] = FunnelRow(ident, visits=int(visits), visitors=int(visitors))
    ordering = (
        select(key, func.count(distinct(Visit.visitor_key)))
        .where(*in_range, Visit.user_id.is_not(None), _ordered(window, product))
        .group_by(key)
    )
    for ident, count in session.execute(ordering):
        rows.setdefault(ident, FunnelRow(ident)).ordering_visitors = int(count)
    return rows


def _by_day(session: Session, period: DateRange, product_id: int | None = None) -> list[tuple[date, int]]:
    day = local_day(session, Visit.created_at)
    query = select(day, func.count(distinct(Visit.visitor_key))).where(period.window.holds(Visit.created_at))
    if product_id is not None:
        query = query.where(Visit.product_id == product_id)
    found = {as_date(d): int(n) for d, n in session.execute(query.group_by(day))}
    return [(d, found.get(d, 0)) for d in period.days]


def _total(session: Session, window: Window, rows: list[FunnelRow], product: bool) -> FunnelRow:
    """The range's own figures: a visitor of two distributors is one visitor."""
    in_range = [window.holds(Visit.created_at)] + ([Visit.product_id.is_not(None)] if product else [])
    visits, visitors = session.execute(
        select(func.count(), func.count(distinct(Visit.visitor_key))).where(*in_range)
    ).one()
    ordering = session.scalar(
        select(func.count(distinct(Visit.visitor_key))).where(
            *in_range, Visit.user_id.is_not(None), _ordered(window, product)
        )
    )
    return FunnelRow(
        0,
        visits=int(visits),
        visitors=int(visitors),
        bound=None if product else sum(row.bound or 0 for row in rows),
        ordering_visitors=int(ordering or 0),
        orders=sum(row.orders for row in rows),
        paid_fen=sum(row.paid_fen for row in rows),
        commission_fen=sum(row.commission_fen for row in rows),
    )


def _rank(rows: dict[int, FunnelRow]) -> list[FunnelRow]:
    return sorted(rows.values(), key=lambda r: (r.paid_fen, r.visitors, r.visits, -r.key), reverse=True)


def by_distributor(session: Session, period: DateRange, q: str = "") -> FunnelReport:
    window = period.window
    rows = _visits(session, window, Visit.distributor_id, product=False)
    bound = (
        select(Distributor.id, func.count(distinct(BindingLog.user_id)))
        .join(Distributor, Distributor.user_id == BindingLog.new_parent_id)
        .where(window.holds(BindingLog.created_at))
        .group_by(Distributor.id)
    )
    for ident, count in session.execute(bound):
        rows.setdefault(ident, FunnelRow(ident)).bound = int(count)
    brought = (
        select(Commission.distributor_id, func.count(distinct(Order.id)), func.sum(Order.total_fen))
        .join(Order, Order.id == Commission.order_id)
        .where(Commission.level == 1, window.holds(Order.paid_at))
        .group_by(Commission.distributor_id)
    )
    for ident, orders, paid in session.execute(brought):
        row = rows.setdefault(ident, FunnelRow(ident))
        row.orders, row.paid_fen = int(orders), int(paid or 0)
    commission = (
        select(Commission.distributor_id, func.sum(Commission.original_fen))
        .where(window.holds(Commission.created_at))
        .group_by(Commission.distributor_id)
    )
    for ident, amount in session.execute(commission):
        rows.setdefault(ident, FunnelRow(ident)).commission_fen = int(amount or 0)
    people = (
        {d.id: d for d in session.scalars(select(Distributor).where(Distributor.id.in_(list(rows))))}
        if rows
        else {}
    )
    for row in rows.values():
        row.label = people[row.key].label if row.key in people else f"#{row.key}"
    total = _total(session, window, list(rows.values()), product=False)
    ranked = _rank(rows)
    if q:
        needle = q.casefold()
        ranked = [
            r
            for r in ranked
            if needle in r.label.casefold() or (r.key in people and needle in people[r.key].code.casefold())
        ]
    return FunnelReport(ranked, total, _by_day(session, period))


def by_product(session: Session, period: DateRange, q: str = "") -> FunnelReport:
    window = period.window
    rows = _visits(session, window, Visit.product_id, product=True)
    for row in rows.values():
        row.bound = None
    brought_orders = select(Commission.order_id).where(Commission.level == 1).scalar_subquery()
    bought = (
        select(OrderLine.product_id, func.count(distinct(Order.id)), func.sum(OrderLine.paid_fen))
        .join(Order, Order.id == OrderLine.order_id)
        .where(window.holds(Order.paid_at), OrderLine.product_id.is_not(None), Order.id.in_(brought_orders))
        .group_by(OrderLine.product_id)
    )
    for ident, orders, paid in session.execute(bought):
        row = rows.setdefault(ident, FunnelRow(ident, bound=None))
        row.orders, row.paid_fen = int(orders), int(paid or 0)
    # An order's commission shared out over its lines by what each line paid (rounded down).
    with_commission = select(Commission.order_id).where(window.holds(Commission.created_at))
    order_paid = (
        select(OrderLine.order_id, func.sum(OrderLine.paid_fen).label("paid"))
        .where(OrderLine.order_id.in_(with_commission))
        .group_by(OrderLine.order_id)
        .subquery()
    )
    order_commission = (
        select(Commission.order_id, func.sum(Commission.original_fen).label("fen"))
        .where(window.holds(Commission.created_at))
        .group_by(Commission.order_id)
        .subquery()
    )
    shared = (
        select(
            OrderLine.product_id,
            func.sum(order_commission.c.fen * OrderLine.paid_fen // func.nullif(order_paid.c.paid, 0)),
        )
        .join(order_commission, order_commission.c.order_id == OrderLine.order_id)
        .join(order_paid, order_paid.c.order_id == OrderLine.order_id)
        .where(OrderLine.product_id.is_not(None))
        .group_by(OrderLine.product_id)
    )
    for ident, amount in session.execute(shared):
        rows.setdefault(ident, FunnelRow(ident, bound=None)).commission_fen = int(amount or 0)
    titles = (
        dict(session.execute(select(Product.id, Product.title).where(Product.id.in_(list(rows)))).all())
        if rows
        else {}
    )
    ranked = [r for r in _rank(rows) if r.key in titles]
    for row in ranked:
        row.label = titles[row.key]
    total = _total(session, window, ranked, product=True)
    if q:
        ranked = [r for r in ranked if q.casefold() in r.label.casefold()]
    return FunnelReport(ranked, total, _by_day(session, period))
