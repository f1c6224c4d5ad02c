"""Browsing: home, categories, search and the product page."""

from dataclasses import dataclass

from flask import abort, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import func, select

from app.catalog import services as catalog
from app.catalog.models import Category, Product, ProductImage, Sku
from app.catalog.view_counts import VIEW
from app.extensions import db, htmx
from app.marketing import flash_display, group_display, members, price_display, pricing
from app.marketing import offers as marketing_offers
from app.media import image_url
from app.money import format_fen, format_fen_range
from app.numbers import parse_whole_number
from app.settings.services import get_shop_settings
from app.shop import bp
from app.shop.view_tracking import count_product_event, kept_page_hook
from app.timeutil import utcnow

# Far past any real catalogue, and small enough that the OFFSET stays an ordinary number.
MAX_PAGE = 10_000
# Ids are 32-bit integer columns; a larger number in a URL must be "not found", not a database error.
SEARCH_MAX = 40


def _page_arg() -> int:
    """?page=… as a page number; anything that is not a positive whole number means the first page."""
    page = parse_whole_number(request.args.get("page", "1"), max_digits=6)
    return 1 if page is None or page < 1 else min(page, MAX_PAGE)


@dataclass(frozen=True)
class Card:
    """What a product card shows, read as plain rows: a listing never loads every SKU as an object.
    The attribute names are those of Product, so the card macro takes either."""

    id: int
    title: str
    subtitle: str
    sales_count: int
    main_image_key: str | None
    low_fen: int | None
    high_fen: int | None
    total_stock: int
    activity: bool = False  # a SKU is in a 限时折扣 now: the card says so
    was_fen: int | None = None  # the list price struck out beside a lower activity or member price

    @property
    def price_range(self) -> tuple[int | None, int | None]:
        return self.low_fen, self.high_fen

    @property
    def is_sold_out(self) -> bool:
        return self.total_stock <= 0


@dataclass
class CardPage:
    """One page of cards; `total` is counted only where the page shows it (search)."""

    items: list[Card]
    page: int
    has_next: bool
    total: int | None = None

    @property
    def next_num(self) -> int:
        return self.page + 1

    @property
    def is_empty(self) -> bool:
        return self.page == 1 and not self.items


def _card_range(low: int | None, high: int | None, member_discount: bool, activity_low: int | None):
    """The (lowest, highest) price a card shows (marketing.pricing.card_range) for this shopper."""
    return pricing.card_range(
        low, high, member_level=buyer_level(), member_discount=member_discount, activity_low=activity_low
    )


def _cards(query, *, count: bool = False, ordered: list[int] | None = None) -> CardPage:
    """The page of cards for a shop listing query: 3 small queries (4 with the count) whatever the
    page size, and no ORM objects, which is most of what a listing of 10,000 products costs. `ordered`:
    every matching id, already in the listing's order (sorted by price), which pages by itself."""
    per_page = current_app.config["PRODUCTS_PER_PAGE"]
    page = _page_arg()
    columns = (Product.id, Product.title, Product.subtitle, Product.sales_count, Product.member_discount)
    if ordered is None:
        rows = db.session.execute(
            query.with_only_columns(*columns).limit(per_page + 1).offset((page - 1) * per_page)
        ).all()
    else:
        wanted = ordered[(page - 1) * per_page : page * per_page + 1]
        found = {
            row.id: row
            for row in db.session.execute(
                query.with_only_columns(*columns).order_by(None).where(Product.id.in_(wanted))
            )
        }
        rows = [found[product_id] for product_id in wanted if product_id in found]
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    ids = [row.id for row in rows]
    prices = {}
    images = {}
    if ids:
        prices = {
            row.product_id: row
            for row in db.session.execute(
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
        for product_id, key in db.session.execute(
            select(ProductImage.product_id, ProductImage.image_key)
            .where(ProductImage.product_id.in_(ids))
            .order_by(ProductImage.product_id, ProductImage.position.desc())
        ):
            images[product_id] = key  # the lowest position comes last and stays
    lowest_activity = marketing_offers.lowest_activity_prices(db.session, ids) if ids else {}
    cards = []
    for row in rows:
        price = prices.get(row.id)
        low, high = (
            _card_range(price.low, price.high, row.member_discount, lowest_activity.get(row.id))
            if price
            else (None, None)
        )
        was = price.low if price and low is not None and low < price.low else None
        cards.append(
            Card(
                id=row.id,
                title=row.title,
                subtitle=row.subtitle,
                sales_count=row.sales_count,
                main_image_key=images.get(row.id),
                low_fen=low,
                high_fen=high,
                activity=row.id in lowest_activity,
                was_fen=was,
                total_stock=int(price.stock or 0) if price else 0,
            )
        )
    total = None
    if count:
        total = (
            len(ordered)
            if ordered is not None
            else db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
        )
    return CardPage(items=cards, page=page, has_next=has_next, total=total)


def _by_shown_price(query, *, descending: bool) -> list[int]:
    """Every product of a listing query, ordered by the lowest price its card shows (those without a
    price last), ties in the merchant's order. Three queries whatever the catalogue's size: the shown
    price needs the offers, which SQL alone cannot apply."""
    rows = db.session.execute(
        query.with_only_columns(Product.id, Product.member_discount, func.min(Sku.price_fen).label("low"))
        .outerjoin(Sku, (Sku.product_id == Product.id) & Sku.is_active)
        .group_by(Product.id, Product.member_discount, Product.sort_weight)
    ).all()  # in the merchant's order, which the stable sort below keeps among equal prices
    lowest_activity = marketing_offers.lowest_activity_prices(db.session, None)
    shown = [
        (row.id, _card_range(row.low, row.low, row.member_discount, lowest_activity.get(row.id))[0])
        for row in rows
    ]
    sign = -1 if descending else 1
    shown.sort(key=lambda pair: (pair[1] is None, sign * (pair[1] or 0)))
    return [product_id for product_id, _price in shown]


def _product_grid(template: str, query, *, count: bool = False, ordered: list[int] | None = None, **context):
    """A full page, or — for htmx "load more" — just the next cards and the next button."""
    context["page"] = _cards(query, count=count, ordered=ordered)
    if htmx and not htmx.history_restore_request and "page" in request.args:
        return render_block(template, "product_cards", **context)
    return render_template(template, **context)


@bp.get("/")
def index():
    return _product_grid(
        "shop/index.html",
        catalog.shop_products_query(),
        categories=catalog.top_categories(db.session, visible_only=True),
        flash_today=flash_display.has_flash_today(db.session),
    )


@bp.get("/categories")
def categories():
    return render_template(
        "shop/categories.html", categories=catalog.top_categories(db.session, visible_only=True)
    )


@bp.get("/c/<int:category_id>")
def category(category_id: int):
    category = db.session.get(Category, category_id)
    if category is None or not category.is_visible or (category.parent and not category.parent.is_visible):
        abort(404, _("This category does not exist or is hidden."))
    # Chips: a top-level category shows its sub-categories, a sub-category shows its siblings.
    top = category.parent or category
    chips = [child for child in top.children if child.is_visible]
    return _product_grid(
        "shop/category.html",
        catalog.shop_products_query(category=category),
        category=category,
        top=top,
        chips=chips,
    )


# The search page's orders: the catalogue's own (app/catalog/services.py SHOP_ORDERS) and the shown price.
PRICE_ORDERS = {"price": False, "price_desc": True}


@bp.get("/search")
def search():
    # Control characters (a NUL byte breaks PostgreSQL) cannot be part of any title anyway.
    words = "".join(ch for ch in request.args.get("q", "") if ch.isprintable() or ch.isspace())
    q = " ".join(words.split())[:SEARCH_MAX]
    if not q:
        return render_template(
            "shop/search.html",
            q=q,
            page=None,
            categories=catalog.top_categories(db.session, visible_only=True),
        )
    order = request.args.get("sort", "")
    if order not in catalog.SHOP_ORDERS and order not in PRICE_ORDERS:
        order = ""  # an unknown order from a hand-made link: the shop's own
    query = catalog.shop_products_query(q=q, order=order)
    ordered = _by_shown_price(query, descending=PRICE_ORDERS[order]) if order in PRICE_ORDERS else None
    return _product_grid("shop/search.html", query, count=True, ordered=ordered, q=q, order=order)


@bp.get("/p/<int:product_id>")
def product(product_id: int):
    product = catalog.get_shop_product(db.session, product_id)
    if product is None:
        return render_template("shop/product_gone.html"), 404
    count_product_event(product.id, VIEW)
    g.page_cache_on_hit = kept_page_hook(product.id)  # a kept copy served again counts too
    units = _sku_units(product)
    activity = next((activity for _unit, activity in units.values() if activity), None)
    now = utcnow()
    flash_run, flash_item = next(iter(flash_display.for_product(db.session, product.id, now)), (None, None))
    # 拼团 mode (a SKU is in one activity at a time; a flash sale of another SKU of it comes first).
    group_offer = None if flash_item else group_display.for_product(db.session, product.id, now)
    return render_template(
        "shop/product.html",
        product=product,
        flash_run=flash_run,
        flash_item=flash_item,
        grab_straight=flash_display.grab_straight(flash_item, len(product.active_skus)),
        group_offer=group_offer,
        open_groups=group_display.open_groups(db.session, group_offer.group_buy_id, now)
        if group_offer
        else [],
        group_straight=group_display.group_straight(group_offer, product.active_skus),
        prices=_price_display(product, units),
        activity=activity,
        # The phone counts down from the end against the server's time (app/page_cache.py keeps it fresh).
        activity_seconds=max(0, int((activity.ends_at - now).total_seconds())) if activity else 0,
        activity_end=int(activity.ends_at.timestamp()) if activity else 0,
        server_now=int(now.timestamp()),
        sku_data=_sku_data(product, units),
        available=_available_values(product),
        share_image=_share_image(product),
    )


def _share_image(product: Product) -> str | None:
    """An absolute URL for og:image (chat apps fetch it from elsewhere): the product's main picture,
    else the shop logo; None rather than the SVG placeholder, which no chat app shows."""
    if "shop_settings" not in g:  # the same per-request cache the template context uses
        g.shop_settings = get_shop_settings(db.session)
    key = product.main_image_key or g.shop_settings.logo_key
    return image_url(key, 800, external=True) if key else None


def _stock_text(stock: int) -> str:
    return _("Stock: %(n)d", n=stock) if stock > 0 else _("Sold out")


def buyer_level() -> pricing.MemberLevel | None:
    """The shopper's member level as pricing reads it, once per request (None for guests)."""
    if "buyer_level" not in g:
        user_id = current_user.id if current_user.is_authenticated else None
        g.buyer_level = members.pricing_level(members.level_of_user(db.session, user_id)) if user_id else None
    return g.buyer_level


def _sku_units(product: Product) -> dict[int, tuple[int, pricing.Activity | None]]:
    """{sku id: (the unit price shown, its activity)} for this shopper (marketing.price_display)."""
    return price_display.sku_units(db.session, product, buyer_level())


@bp.app_template_global()
def shop_price_range(product: Product | Card) -> tuple[int | None, int | None]:
    """The (lowest, highest) price the shop shows for a product (a listing's card has it already)."""
    if isinstance(product, Card):
        return product.price_range
    units = [unit for unit, _activity in _sku_units(product).values()]
    return (min(units), max(units)) if units else (None, None)


_struck = price_display.struck_price


def _price_display(product: Product, units: dict) -> dict:
    """The price line before a SKU is chosen: the range, and the struck-through prices only when every
    SKU has one (otherwise the comparison would mislead)."""
    skus = product.active_skus
    shown = [units[sku.id][0] for sku in skus]
    struck = [_struck(sku, units[sku.id][0]) for sku in skus]
    every = bool(skus) and all(price is not None for price in struck)
    return {
        "price": format_fen_range(min(shown), max(shown)) if shown else format_fen_range(None, None),
        "original": format_fen_range(min(struck), max(struck)) if every else "",
        "stock": _stock_text(product.total_stock),
    }


def _available_values(product: Product) -> set[tuple[int, str]]:
    """(axis, value) pairs that some SKU in stock has: the others are disabled even without JavaScript."""
    return {
        (axis, value)
        for sku in product.active_skus
        if sku.stock > 0
        for axis, value in enumerate(sku.spec_values or [])
    }


def _sku_data(product: Product, units: dict) -> dict:
    """What the SKU picker needs, as JSON in the page (no inline script: the CSP forbids it)."""
    return {
        "options": product.options,
        "skus": [
            {
                "id": sku.id,
                "values": sku.spec_values,
                "price": format_fen(units[sku.id][0]),
                "original": format_fen(_struck(sku, units[sku.id][0])),
                "stock": sku.stock,
                "stock_text": _stock_text(sku.stock),
            }
            for sku in product.active_skus
        ],
    }
