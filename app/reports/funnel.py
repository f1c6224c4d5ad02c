"""The distribution funnel over a date range, per distributor and per product: share-link visits, unique
visitors, bound shoppers, the orders the shares brought (level-1 commission), their paid amount, the
commission created, and conversion = ordering visitors ÷ unique visitors.

An ordering visitor is a unique visitor of the range (one visitor cookie) whose visit was made logged in as
a shopper who has an order paid in the range — per product, an order with that product. It can never pass
100 %. A visitor who was not logged in when they opened the link is not known as an orderer (the visit has
no account on it), so conversion is a floor."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, distinct, func, select, tuple_
from sqlalchemy.orm import Session

from app.accounts.models import User, mask_mobile
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
    visits_by_day: list[tuple[date, int]]

    def chart_points(self) -> list[tuple[str, int]]:
        return [(f"{d.month:02d}-{d.day:02d}", n) for d, n in self.visits_by_day]


def _buyers(window: Window, product: bool):
    """The shoppers with an order paid in the range (per product: the (shopper, product) pairs bought), each
    once: joined to the visits, they mark the ordering visitors without multiplying a visit."""
    paid = window.holds(Order.paid_at)
    if product:
        query = (
            select(Order.user_id, OrderLine.product_id)
            .join(OrderLine, OrderLine.order_id == Order.id)
            .where(paid, OrderLine.product_id.is_not(None))
        )
    else:
        query = select(Order.user_id).where(paid)
    return query.distinct().subquery("buyers")


def _visitor(session: Session):
    """The visitor's key as the DISTINCT counts sort it. On PostgreSQL its 64-bit hash, which sorts about
    twice as fast as the 32-character text (two of a million visitors share one with a chance of 1 in 10⁷)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.hashtextextended(Visit.visitor_key, 0)
    return Visit.visitor_key


def _visits_with_buyers(session: Session, window: Window, product: bool, *columns):
    """SELECT columns FROM visits LEFT JOIN the buyers; the ordering key is the visitor's key when the visit's
    shopper is among them, else NULL (count(DISTINCT …) of it: the ordering visitors)."""
    buyers = _buyers(window, product)
    on = buyers.c.user_id == Visit.user_id
    if product:
        on = on & (buyers.c.product_id == Visit.product_id)
    visitor = _visitor(session)
    ordering = func.count(distinct(case((buyers.c.user_id.is_not(None), visitor))))
    return (
        select(*columns, func.count(), func.count(distinct(visitor)), ordering)
        .select_from(Visit)
        .outerjoin(buyers, on)
        .where(window.holds(Visit.created_at))
    )


def _visits(session: Session, window: Window, key, product: bool) -> tuple[dict[int, FunnelRow], tuple]:
    """Per key (distributor or product) and for the whole range (a visitor of two keys is one visitor):
    (rows, (visits, visitors, ordering visitors)). On PostgreSQL one pass (GROUPING SETS); SQLite has
    none, so the total is a second query there."""
    rows: dict[int, FunnelRow] = {}
    base = _visits_with_buyers(session, window, product, key).where(key.is_not(None))
    postgres = session.get_bind().dialect.name == "postgresql"
    total = None
    if postgres:
        query = base.add_columns(func.grouping(key)).group_by(func.grouping_sets(key, tuple_()))
        found = session.execute(query).all()
    else:
        found = [(*row, 0) for row in session.execute(base.group_by(key))]
    for ident, visits, visitors, ordering, is_total in found:
        if is_total:
            total = (int(visits), int(visitors), int(ordering))
            continue
        rows[ident] = FunnelRow(
            ident, visits=int(visits), visitors=int(visitors), ordering_visitors=int(ordering)
        )
    if total is None:
        in_range = [Visit.product_id.is_not(None)] if product else []
        total = tuple(
            int(n or 0)
            for n in session.execute(_visits_with_buyers(session, window, product).where(*in_range)).one()
        )
    return rows, total


def _by_day(session: Session, period: DateRange) -> list[tuple[date, int]]:
    """Share-link visits per day (a visit is one visitor, page and day already: no DISTINCT to sort)."""
    day = local_day(session, Visit.created_at)
    query = select(day, func.count()).where(period.window.holds(Visit.created_at)).group_by(day)
    found = {as_date(d): int(n) for d, n in session.execute(query)}
    return [(d, found.get(d, 0)) for d in period.days]


def _total(rows: list[FunnelRow], counted: tuple, product: bool) -> FunnelRow:
    visits, visitors, ordering = counted
    return FunnelRow(
        0,
        visits=visits,
        visitors=visitors,
        bound=None if product else sum(row.bound or 0 for row in rows),
        ordering_visitors=ordering,
        orders=sum(row.orders for row in rows),
        paid_fen=sum(row.paid_fen for row in rows),
        commission_fen=sum(row.commission_fen for row in rows),
    )


def _rank(rows: dict[int, FunnelRow]) -> list[FunnelRow]:
    return sorted(rows.values(), key=lambda r: (r.paid_fen, r.visitors, r.visits, -r.key), reverse=True)


def _distributor_names(session: Session, ids: list[int]) -> dict[int, tuple[str, str]]:
    """{id: (code, label)} in one query; the label as Distributor.label makes it (real name（nickname）)."""
    if not ids:
        return {}
    found = {}
    query = select(
        Distributor.id, Distributor.code, Distributor.real_name, User.id, User.nickname, User.mobile
    ).join(User, User.id == Distributor.user_id)
    for ident, code, real_name, user_id, nickname, mobile in session.execute(
        query.where(Distributor.id.in_(ids))
    ):
        shown = nickname or mask_mobile(mobile) or f"#{user_id}"  # as User.display_name
        found[ident] = (
            code,
            f"{real_name}（{shown}）" if real_name and real_name != shown else real_name or shown,
        )
    return found


def by_distributor(session: Session, period: DateRange, q: str = "") -> FunnelReport:
    window = period.window
    rows, counted = _visits(session, window, Visit.distributor_id, product=False)
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
    people = _distributor_names(session, list(rows))
    for row in rows.values():
        row.label = people.get(row.key, ("", f"#{row.key}"))[1]
    total = _total(list(rows.values()), counted, product=False)
    ranked = _rank(rows)
    if q:
        needle = q.casefold()
        ranked = [
            r
            for r in ranked
            if needle in r.label.casefold() or needle in people.get(r.key, ("", ""))[0].casefold()
        ]
    return FunnelReport(ranked, total, _by_day(session, period))


def by_product(session: Session, period: DateRange, q: str = "") -> FunnelReport:
    window = period.window
    rows, counted = _visits(session, window, Visit.product_id, product=True)
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
    total = _total(ranked, counted, product=True)
    if q:
        ranked = [r for r in ranked if q.casefold() in r.label.casefold()]
    return FunnelReport(ranked, total, _by_day(session, period))
