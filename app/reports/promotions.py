"""Promotions over a date range, on orders paid in it: per timed discount, flash sale session and group buy
(their lines: orders, and the discount = list price × units − what the lines cost), full reduction (one row:
an order keeps how much it took off, not which campaign) and per coupon (orders, and what the coupons took
off)."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from app.marketing.models import Coupon, CouponTemplate, FlashItem, FlashSession, GroupBuy, TimedDiscount
from app.orders.models import Order, OrderLine
from app.reports.ranges import DateRange, as_date, local_day

ACTIVITY_MODELS = {"timed": TimedDiscount, "group": GroupBuy}


@dataclass
class PromotionRow:
    kind: str  # timed | flash | group | full_reduction | coupon
    key: int | None
    label: str
    orders: int = 0
    discount_fen: int = 0


@dataclass
class PromotionsReport:
    rows: list[PromotionRow]
    discount_by_day: list[tuple[date, int]]

    @property
    def discount_fen(self) -> int:
        return sum(row.discount_fen for row in self.rows)

    def chart_points(self) -> list[tuple[str, int]]:
        return [(f"{d.month:02d}-{d.day:02d}", n) for d, n in self.discount_by_day]


def _names(session: Session, model, ids) -> dict[int, str]:
    return (
        dict(session.execute(select(model.id, model.name).where(model.id.in_(list(ids)))).all())
        if ids
        else {}
    )


def promotions_report(
    session: Session, period: DateRange, full_reduction_label: str = ""
) -> PromotionsReport:
    paid = period.window.holds(Order.paid_at)
    rows: list[PromotionRow] = []
    # A flash sale's lines name its items; the row is the session (an order with two of its items: once).
    key = case((OrderLine.activity_kind == "flash", FlashItem.session_id), else_=OrderLine.activity_id)
    lines = session.execute(
        select(
            OrderLine.activity_kind,
            key,
            func.count(distinct(OrderLine.order_id)),
            func.sum(OrderLine.list_unit_fen * OrderLine.qty - OrderLine.subtotal_fen),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .outerjoin(FlashItem, (OrderLine.activity_kind == "flash") & (FlashItem.id == OrderLine.activity_id))
        .where(paid, OrderLine.activity_kind.is_not(None))
        .group_by(OrderLine.activity_kind, key)
    ).all()
    merged: dict[tuple[str, int | None], PromotionRow] = {
        (kind, ident): PromotionRow(kind, ident, "", int(orders), int(discount or 0))
        for kind, ident, orders, discount in lines
    }
    names = {
        "timed": _names(session, TimedDiscount, [k for (kind, k) in merged if kind == "timed"]),
        "group": _names(session, GroupBuy, [k for (kind, k) in merged if kind == "group"]),
        "flash": _names(session, FlashSession, [k for (kind, k) in merged if kind == "flash"]),
    }
    for (kind, ident), row in merged.items():
        row.label = names.get(kind, {}).get(ident, f"#{ident}")
        rows.append(row)
    reduced, reduced_fen = session.execute(
        select(func.count(), func.sum(Order.full_reduction_fen)).where(paid, Order.full_reduction_fen > 0)
    ).one()
    if reduced:
        rows.append(
            PromotionRow("full_reduction", None, full_reduction_label, int(reduced), int(reduced_fen or 0))
        )
    coupons = session.execute(
        select(Coupon.template_id, func.count(distinct(Order.id)), func.sum(Order.coupon_fen))
        .join(Order, Order.id == Coupon.order_id)
        .where(paid)
        .group_by(Coupon.template_id)
    ).all()
    templates = _names(session, CouponTemplate, [ident for ident, *_ in coupons])
    for ident, orders, discount in coupons:
        rows.append(
            PromotionRow("coupon", ident, templates.get(ident, f"#{ident}"), int(orders), int(discount or 0))
        )
    rows.sort(key=lambda row: (row.discount_fen, row.orders), reverse=True)
    day = local_day(session, Order.paid_at)
    found = {
        as_date(d): int(n or 0)
        for d, n in session.execute(
            select(day, func.sum(Order.coupon_fen + Order.full_reduction_fen)).where(paid).group_by(day)
        )
    }
    return PromotionsReport(rows, [(d, found.get(d, 0)) for d in period.days])
