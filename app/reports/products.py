"""Products over a date range: views, visitors and add-to-cart (app/catalog/view_counts.py's daily counts),
and what was bought (lines of orders paid in the range): orders, units, the amount paid, the refund rate (of
that amount, what has been refunded) and view→buy conversion (buyers ÷ visitors). Ranked, searchable."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app.catalog.models import Product
from app.catalog.view_counts import ProductDailyStat
from app.orders.models import Order, OrderLine
from app.reports.ranges import DateRange, as_date, rate_bp

SORTS = ("paid", "units", "orders", "views", "conversion")
_SORT_FIELDS = {"paid": "paid_fen", "units": "units", "orders": "orders", "views": "views"}


@dataclass
class ProductRow:
    product_id: int
    title: str
    views: int = 0
    visitors: int = 0  # visitors per day, added up over the days
    cart_adds: int = 0
    orders: int = 0
    buyers: int = 0
    units: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0

    @property
    def refund_rate_bp(self) -> int | None:
        return rate_bp(self.refunded_fen, self.paid_fen)

    @property
    def conversion_bp(self) -> int | None:
        """Buyers ÷ visitors. A buyer who came in from the cart without viewing the page that day still
        counts, so it can pass 100 % on a product few visit."""
        return rate_bp(self.buyers, self.visitors)


@dataclass
class ProductsReport:
    rows: list[ProductRow]  # ranked
    views_by_day: list[tuple[date, int]]

    def chart_points(self) -> list[tuple[str, int]]:
        return [(f"{d.month:02d}-{d.day:02d}", n) for d, n in self.views_by_day]


def _sort_key(sort: str):
    if sort == "conversion":
        return lambda row: (row.conversion_bp or 0, row.paid_fen, -row.product_id)
    field = _SORT_FIELDS.get(sort, "paid_fen")
    return lambda row: (getattr(row, field), row.views, -row.product_id)


def products_report(session: Session, period: DateRange, q: str = "", sort: str = "paid") -> ProductsReport:
    window = period.window
    in_days = ProductDailyStat.day.between(period.first, period.last)
    matching = select(Product.id).where(Product.title.contains(q, autoescape=True)) if q else None
    counted = select(
        ProductDailyStat.product_id,
        func.sum(ProductDailyStat.views),
        func.sum(ProductDailyStat.visitors),
        func.sum(ProductDailyStat.cart_adds),
    ).where(in_days)
    bought = (
        select(
            OrderLine.product_id,
            func.count(distinct(OrderLine.order_id)),
            func.count(distinct(Order.user_id)),
            func.sum(OrderLine.qty),
            func.sum(OrderLine.paid_fen),
            func.sum(OrderLine.refunded_fen),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(window.holds(Order.paid_at), OrderLine.product_id.is_not(None))
    )
    by_day = select(ProductDailyStat.day, func.sum(ProductDailyStat.views)).where(in_days)
    if matching is not None:
        counted = counted.where(ProductDailyStat.product_id.in_(matching))
        bought = bought.where(OrderLine.product_id.in_(matching))
        by_day = by_day.where(ProductDailyStat.product_id.in_(matching))
    rows: dict[int, ProductRow] = {}
    for product_id, views, visitors, cart_adds in session.execute(
        counted.group_by(ProductDailyStat.product_id)
    ):
        rows[product_id] = ProductRow(
            product_id, "", int(views or 0), int(visitors or 0), int(cart_adds or 0)
        )
    for product_id, orders, buyers, units, paid, refunded in session.execute(
        bought.group_by(OrderLine.product_id)
    ):
        row = rows.setdefault(product_id, ProductRow(product_id, ""))
        row.orders, row.buyers, row.units = int(orders), int(buyers), int(units or 0)
        row.paid_fen, row.refunded_fen = int(paid or 0), int(refunded or 0)
    titles = (
        dict(session.execute(select(Product.id, Product.title).where(Product.id.in_(list(rows)))).all())
        if rows
        else {}
    )
    ranked = [row for row in rows.values() if row.product_id in titles]
    for row in ranked:
        row.title = titles[row.product_id]
    ranked.sort(key=_sort_key(sort), reverse=True)
    views = {as_date(day): int(n or 0) for day, n in session.execute(by_day.group_by(ProductDailyStat.day))}
    return ProductsReport(ranked, [(day, views.get(day, 0)) for day in period.days])
