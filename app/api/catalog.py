"""The shop, its categories and products, as the H5 shop shows them."""

from flask import g
from flask_babel import gettext as _
from spectree import Response

from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.listing import product_page
from app.api.schemas import (
    SEARCH_MAX,
    ActivityOut,
    CategoriesOut,
    CategoryOut,
    Money,
    OptionOut,
    ProductCard,
    ProductDetail,
    ProductPage,
    ProductsQuery,
    ShopOut,
    SkuOut,
)
from app.api.security import api_user
from app.api.spec import spec
from app.catalog import services as catalog
from app.extensions import db
from app.marketing import members, price_display, pricing
from app.media import image_url
from app.money import format_fen_range
from app.settings.services import get_shop_settings

IMAGE_SIZE = 800
CARD_IMAGE_SIZE = 400


def buyer_level() -> pricing.MemberLevel | None:
    """The caller's member level as pricing reads it, once per request (None for guests)."""
    if "api_buyer_level" not in g:
        user = api_user()
        g.api_buyer_level = (
            members.pricing_level(members.level_of_user(db.session, user.id)) if user else None
        )
    return g.api_buyer_level


def _search_words(raw: str | None) -> str:
    """As the H5 search reads ?q=: printable characters, spaces squeezed, at most SEARCH_MAX."""
    words = "".join(ch for ch in raw or "" if ch.isprintable() or ch.isspace())
    return " ".join(words.split())[:SEARCH_MAX]


@bp.get("/shop")
@spec.validate(resp=Response(HTTP_200=ShopOut, HTTP_401=ErrorBody), tags=["shop"])
def shop():
    """The shop: name, logo, announcement, service phone"""
    settings = get_shop_settings(db.session)
    return ShopOut(
        name=settings.name,
        logo_url=image_url(settings.logo_key, 200, external=True) if settings.logo_key else None,
        announcement=settings.announcement,
        service_phone=settings.service_phone,
    )


@bp.get("/categories")
@spec.validate(resp=Response(HTTP_200=CategoriesOut, HTTP_401=ErrorBody), tags=["shop"])
def categories():
    """The visible categories, each with its visible sub-categories"""

    def out(category, children):
        return CategoryOut(
            id=category.id,
            name=category.name,
            icon_url=image_url(category.icon_key, 200, external=True) if category.icon_key else None,
            children=children,
        )

    items = [
        out(top, [out(child, []) for child in top.children if child.is_visible])
        for top in catalog.top_categories(db.session, visible_only=True)
    ]
    return CategoriesOut(items=items)


@bp.get("/products")
@spec.validate(
    query=ProductsQuery,
    resp=Response(HTTP_200=ProductPage, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["products"],
)
def products(query: ProductsQuery):
    """On-shelf products: filter by category and words, sort, page with a cursor

    The orders are the H5 search's: the shop's own, best-selling, newest, price up and down (by the price
    each card shows). A category that does not exist or is hidden is a 404."""
    rows, next_cursor = product_page(
        db.session,
        category_id=query.category,
        q=_search_words(query.q),
        sort=query.sort,
        cursor=query.cursor,
        limit=query.limit,
        level=buyer_level(),
    )
    return ProductPage(
        items=[
            ProductCard(
                id=row.id,
                title=row.title,
                subtitle=row.subtitle,
                image_url=image_url(row.image_key, CARD_IMAGE_SIZE, external=True),
                price=Money.of(row.low_fen),
                price_high=Money.of(row.high_fen),
                was=Money.of(row.was_fen),
                activity=row.activity,
                sold_out=row.stock <= 0,
                sales_count=row.sales_count,
            )
            for row in rows
        ],
        next_cursor=next_cursor,
    )


@bp.get("/products/<int:product_id>")
@spec.validate(
    path_parameter_descriptions={"product_id": "A product id"},
    resp=Response(HTTP_200=ProductDetail, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["products"],
)
def product(product_id: int):
    """One product: SKUs with the prices the H5 product page shows, stock, the running activity"""
    product = catalog.get_shop_product(db.session, product_id)
    if product is None:
        raise ApiError(404, _("This product is no longer on sale."))
    units = price_display.sku_units(db.session, product, buyer_level())
    shown = [unit for unit, _activity in units.values()]
    activity = next((activity for _unit, activity in units.values() if activity), None)
    skus = [
        SkuOut(
            id=sku.id,
            values=[str(value) for value in sku.spec_values or []],
            price=Money.of(units[sku.id][0]),
            original=Money.of(price_display.struck_price(sku, units[sku.id][0])),
            stock=max(sku.stock, 0),
            in_stock=sku.stock > 0,
            activity=units[sku.id][1] is not None,
        )
        for sku in product.active_skus
    ]
    return ProductDetail(
        id=product.id,
        title=product.title,
        subtitle=product.subtitle,
        description=product.description,
        images=[image_url(image.image_key, IMAGE_SIZE, external=True) for image in product.images],
        detail_images=[image_url(image.image_key, external=True) for image in product.detail_images],
        options=[
            OptionOut(name=str(axis["name"]), values=[str(v) for v in axis["values"]])
            for axis in product.options or []
        ],
        skus=skus,
        price=Money.of(min(shown)) if shown else None,
        price_high=Money.of(max(shown)) if shown else None,
        price_text=format_fen_range(min(shown), max(shown)) if shown else format_fen_range(None, None),
        stock=max(product.total_stock, 0),
        sold_out=product.is_sold_out,
        activity=ActivityOut(
            kind=activity.kind,
            name=activity.name,
            ends_at=activity.ends_at.isoformat() if activity.ends_at else None,
        )
        if activity
        else None,
    )
