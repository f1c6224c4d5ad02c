"""The product list of the API: the H5 shop's query, filters and orders (app/catalog/services.py
shop_products_query, and the shown price for the price orders) with cursor pagination. A cursor holds the
sort key of the last product sent, so a page never repeats or skips a product when products are added or
sold between two pages (unlike a page number)."""

import base64
import binascii
import json
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from app.api.errors import ApiError
from app.catalog import services as catalog
from app.catalog.models import Category, Product, ProductImage, Sku
from app.marketing import offers, pricing

# The catalogue's own orders (all descending), and the columns that make each one a total order.
KEYSET_COLUMNS = {
    "": (Product.sort_weight, Product.id),
    "sales": (Product.sales_count, Product.sort_weight, Product.id),
    "newest": (Product.id,),
}
PRICE_ORDERS = {"price": False, "price_desc": True}  # as the H5 search: descending?


@dataclass(frozen=True)
class CardRow:
    id: int
    title: str
    subtitle: str
    sales_count: int
    image_key: str | None
    low_fen: int | None
    high_fen: int | None
    was_fen: int | None
    activity: bool
    stock: int


def encode_cursor(sort: str, key: list) -> str:
    raw = json.dumps([sort, *key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, length: int) -> list:
    """The sort key a cursor holds; a 422 for one that is not of this list's order (or not one at all)."""
    refusal = ApiError(422, fields={"cursor": _("This page marker is not valid. Please start again.")})
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise refusal from None
    if not isinstance(value, list) or len(value) != length + 1 or value[0] != sort:
        raise refusal
    key = value[1:]
    if not all(part is None or (type(part) is int and abs(part) < 2**62) for part in key):
        raise refusal
    return key


def visible_category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None or not category.is_visible or (category.parent and not category.parent.is_visible):
        raise ApiError(404, _("This category does not exist or is hidden."))
    return category


def product_page(
    session: Session,
    *,
    category_id: int | None,
    q: str,
    sort: str,
    cursor: str | None,
    limit: int,
    level: pricing.MemberLevel | None,
) -> tuple[list[CardRow], str | None]:
    category = visible_category(session, category_id) if category_id else None
    if sort in PRICE_ORDERS:
        return _by_price(session, category, q, sort, cursor, limit, level)
    columns = KEYSET_COLUMNS[sort]
    query = catalog.shop_products_query(category=category, q=q or None, order=sort)
    if cursor:
        key = decode_cursor(cursor, sort, len(columns))
        if None in key:
            raise ApiError(422, fields={"cursor": _("This page marker is not valid. Please start again.")})
        query = query.where(tuple_(*columns) < tuple_(*key))
    rows = session.execute(query.with_only_columns(*columns[:-1], Product.id).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(sort, list(rows[-1])) if more and rows else None
    return cards(session, [row.id for row in rows], level), next_cursor


def _by_price(session, category, q, sort, cursor, limit, level):
    """Every matching product by the price its card shows (no price last), ties in the shop's order — the
    H5 search's order; the shown price needs the offers, which SQL alone cannot apply."""
    query = catalog.shop_products_query(category=category, q=q or None)
    rows = session.execute(
        query.with_only_columns(
            Product.id, Product.member_discount, Product.sort_weight, func.min(Sku.price_fen).label("low")
        )
        .outerjoin(Sku, (Sku.product_id == Product.id) & Sku.is_active)
        .group_by(Product.id, Product.member_discount, Product.sort_weight)
    ).all()
    lowest_activity = offers.lowest_activity_prices(session, None)
    sign = -1 if PRICE_ORDERS[sort] else 1

    def order_key(price, weight, product_id):
        return (price is None, sign * (price or 0), -weight, -product_id)

    keyed = []
    for row in rows:
        shown = pricing.card_range(
            row.low,
            row.low,
            member_level=level,
            member_discount=row.member_discount,
            activity_low=lowest_activity.get(row.id),
        )[0]
        keyed.append((order_key(shown, row.sort_weight, row.id), [shown, row.sort_weight, row.id]))
    keyed.sort(key=lambda pair: pair[0])
    if cursor:
        price, weight, product_id = decode_cursor(cursor, sort, 3)
        if weight is None or product_id is None:
            raise ApiError(422, fields={"cursor": _("This page marker is not valid. Please start again.")})
        after = order_key(price, weight, product_id)
        keyed = [pair for pair in keyed if pair[0] > after]
    page = keyed[: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    next_cursor = encode_cursor(sort, page[-1][1]) if more and page else None
    return cards(session, [parts[2] for _key, parts in page], level), next_cursor


def cards(session: Session, ids: list[int], level: pricing.MemberLevel | None) -> list[CardRow]:
    """What each product's card shows, in the order of `ids`: the price range as the H5 listing shows it
    (marketing.pricing.card_range), the main picture, stock. A few queries whatever the page size."""
    if not ids:
        return []
    products = {
        row.id: row
        for row in session.execute(
            select(
                Product.id, Product.title, Product.subtitle, Product.sales_count, Product.member_discount
            ).where(Product.id.in_(ids))
        )
    }
    prices = {
        row.product_id: row
        for row in session.execute(
            select(
                Sku.product_id,
                func.min(Sku.price_fen).label("low"),
                func.max(Sku.price_fen).label("high"),
                func.sum(Sku.stock).label("stock"),
            )
            .where(Sku.product_id.in_(ids), Sku.is_active)
            .group_by(Sku.product_id)
        )
    }
    images: dict[int, str] = {}
    for product_id, key in session.execute(
        select(ProductImage.product_id, ProductImage.image_key)
        .where(ProductImage.product_id.in_(ids))
        .order_by(ProductImage.product_id, ProductImage.position.desc())
    ):
        images[product_id] = key  # the lowest position comes last and stays
    lowest_activity = offers.lowest_activity_prices(session, ids)
    found = []
    for product_id in ids:
        row = products[product_id]
        price = prices.get(product_id)
        low, high = (
            pricing.card_range(
                price.low,
                price.high,
                member_level=level,
                member_discount=row.member_discount,
                activity_low=lowest_activity.get(product_id),
            )
            if price
            else (None, None)
        )
        found.append(
            CardRow(
                id=product_id,
                title=row.title,
                subtitle=row.subtitle,
                sales_count=row.sales_count,
                image_key=images.get(product_id),
                low_fen=low,
                high_fen=high,
                was_fen=price.low if price and low is not None and low < price.low else None,
                activity=product_id in lowest_activity,
                stock=int(price.stock or 0) if price else 0,
            )
        )
    return found
