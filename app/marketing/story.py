"""The story of a price, line by line, as the shopper and the merchant read it: 商品原价, 限时折扣, 会员价, 满减,
优惠券, 积分抵扣, 运费, 实付. Built from what price_basket applied (kept on the order), so the checkout and
the order pages tell it alike."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from app.marketing import pricing
from app.marketing.members import discount_words
from app.money import format_fen


@dataclass(frozen=True)
class Row:
    label: str
    fen: int
    kind: str  # goods | minus | shipping | total
    note: str = ""


STEP_LABELS = {
    "activity": _l("Activity savings"),  # 限时折扣 or 秒杀: price_basket counts their savings together
    "member": _l("Member price"),
    "full_reduction": _l("Spend-and-save"),
    "coupon": _l("Coupon"),
    "points": _l("Paid with points"),
}


def rows(
    list_goods_fen: int, applied: list[dict] | None, shipping_fen: int, total_fen: int, total_label
) -> list[Row]:
    """The rows of a price: the goods at list price, each discount applied (with its campaign or coupon
    name, or the points used), shipping and the total."""
    found = [Row(str(_l("Goods at list price")), list_goods_fen, "goods")]
    for step in applied or []:
        if not step.get("fen"):
            continue
        note = step.get("name") or ""
        if step["kind"] == "points":
            note = str(ngettext("%(num)d point", "%(num)d points", step.get("points", 0)))
        found.append(Row(str(STEP_LABELS.get(step["kind"], step["kind"])), step["fen"], "minus", note))
    found.append(Row(str(_l("Shipping")), shipping_fen, "shipping"))
    found.append(Row(str(total_label), total_fen, "total"))
    return found


def of_order(order, total_label) -> list[Row]:
    list_goods = order.list_goods_fen or order.goods_fen
    return rows(list_goods, order.applied, order.shipping_fen, order.total_fen, total_label)


def of_priced(priced, total_label) -> list[Row]:
    list_goods = sum(line.list_unit_fen * line.qty for line in priced.lines)
    return rows(list_goods, priced.applied, priced.shipping_fen, priced.total_fen, total_label)


def full_reduction_hint(lines, priced, campaign) -> str:
    """The cart's 满减 line: what it already takes off, and "再买 ¥12.00 减 ¥20.00" for the next tier."""
    if campaign is None:
        return ""
    saved = (
        str(_l("%(amount)s off", amount=format_fen(priced.full_reduction_fen)))
        if priced.full_reduction_fen
        else ""
    )
    upcoming = pricing.next_tier(lines, priced, campaign)
    if upcoming is None:
        return saved
    gap, reduce_fen, discount_bp = upcoming
    if reduce_fen is not None:
        more = _l(
            "Buy %(gap)s more to get %(amount)s off", gap=format_fen(gap), amount=format_fen(reduce_fen)
        )
    else:
        more = _l("Buy %(gap)s more for %(rate)s", gap=format_fen(gap), rate=discount_words(discount_bp))
    return f"{saved}，{more}" if saved else str(more)
