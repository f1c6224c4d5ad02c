"""Catalog rules: categories two levels deep, products with option axes and one SKU per combination,
stock that never goes below zero and only moves by conditional updates."""

import itertools
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from app.catalog.models import Category, Product, ProductDetailImage, ProductImage, Sku
from app.media import image_size
from app.money import MAX_FEN
from app.storage import StorageError

MAX_AXES = 3
MAX_VALUES_PER_AXIS = 20
MAX_COMBINATIONS = 200
MAX_IMAGES = 9
MAX_DETAIL_IMAGES = 20  # pictures under the description (商品详情图)
MAX_STOCK = 1_000_000
SPEC_SEPARATOR = "\x1f"
TITLE_MAX, SUBTITLE_MAX, DESCRIPTION_MAX = 60, 120, 5000
OPTION_NAME_MAX, OPTION_VALUE_MAX, CODE_MAX = 10, 20, 64


class CatalogError(ValueError):
    """A refusal the merchant can act on; `field` names the form field it belongs to. For a SKU row
    (field "skus"), `row` is its index in ProductInput.skus and `row_field` the cell: price,
    original_price, stock or code."""

    def __init__(
        self, message, field: str | None = None, *, row: int | None = None, row_field: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.field = field
        self.row = row
        self.row_field = row_field


# ---------------------------------------------------------------- categories


def top_categories(session: Session, *, visible_only: bool = False) -> list[Category]:
    query = (
        select(Category)
        .where(Category.parent_id.is_(None))
        .options(selectinload(Category.children))
        .order_by(Category.sort, Category.id)
    )
    if visible_only:
        query = query.where(Category.is_visible)
    return list(session.scalars(query))


def save_category(
    session: Session,
    category: Category | None,
    *,
    name: str,
    parent_id: int | None,
    sort: int = 0,
    is_visible: bool = True,
    icon_key: str | None = None,
) -> Category:
    name = " ".join((name or "").split())
    if not name:
        raise CatalogError(_l("Please give the category a name."), "name")
    if len(name) > 32:
        raise CatalogError(_l("The name may have at most %(n)d characters.", n=32), "name")
    parent = None
    if parent_id:
        parent = session.get(Category, parent_id)
        if parent is None:
            raise CatalogError(_l("The parent category does not exist."), "parent_id")
        if parent.parent_id is not None:
            raise CatalogError(
                _l("Categories have two levels: choose a top-level category as parent."), "parent_id"
            )
        if category is not None and (parent.id == category.id or category.children):
            raise CatalogError(_l("A category with sub-categories must stay at the top level."), "parent_id")
    if category is None:
        category = Category()
        session.add(category)
    category.name = name
    category.parent_id = parent.id if parent else None
    category.sort = sort
    category.is_visible = is_visible
    if icon_key:
        category.icon_key = icon_key
    session.flush()
    return category


def set_category_visible(session: Session, category: Category, is_visible: bool) -> Category:
    category.is_visible = is_visible
    session.flush()
    return category


def category_product_counts(session: Session) -> dict[int, int]:
    """How many products sit directly in each category (one query for the whole tree)."""
    rows = session.execute(
        select(Product.category_id, func.count())
        .where(Product.category_id.is_not(None))
        .group_by(Product.category_id)
    )
    return {category_id: count for category_id, count in rows}


def delete_category(session: Session, category: Category) -> None:
    if category.children:
        raise CatalogError(_l("Delete or move its sub-categories first."))
    in_use = session.scalar(
        select(func.count()).select_from(Product).where(Product.category_id == category.id)
    )
    if in_use:
        raise CatalogError(
            ngettext(
                "%(num)d product is still in this category. Move it first.",
                "%(num)d products are still in this category. Move them first.",
                in_use,
            )
        )
    session.delete(category)


# ---------------------------------------------------------------- options and SKUs


def spec_key(values: list[str]) -> str:
    return SPEC_SEPARATOR.join(values)


def clean_options(raw: list[dict]) -> list[dict]:
    """Validate option axes ([{"name": "颜色", "values": ["红", "蓝"]}, …]); drop empty rows."""
    options = []
    names = set()
    for axis in raw or []:
        name = " ".join(str(axis.get("name") or "").split())
        values = []
        for value in axis.get("values") or []:
            value = " ".join(str(value).split())
            if value and value not in values:
                values.append(value)
        if not name and not values:
            continue
        if not name:
            raise CatalogError(_l("Every option needs a name, such as 颜色 or 尺寸."), "options")
        if len(name) > OPTION_NAME_MAX:
            raise CatalogError(
                _l("Option names have at most %(n)d characters.", n=OPTION_NAME_MAX), "options"
            )
        if name in names:
            raise CatalogError(_l("Two options are both called “%(name)s”.", name=name), "options")
        if not values:
            raise CatalogError(_l("Option “%(name)s” needs at least one value.", name=name), "options")
        if len(values) > MAX_VALUES_PER_AXIS:
            raise CatalogError(_l("An option has at most %(n)d values.", n=MAX_VALUES_PER_AXIS), "options")
        if any(len(v) > OPTION_VALUE_MAX or SPEC_SEPARATOR in v for v in values):
            raise CatalogError(
                _l("Option values have at most %(n)d characters.", n=OPTION_VALUE_MAX), "options"
            )
        names.add(name)
        options.append({"name": name, "values": values})
    if len(options) > MAX_AXES:
        raise CatalogError(_l("A product has at most %(n)d options.", n=MAX_AXES), "options")
    if combination_count(options) > MAX_COMBINATIONS:
        raise CatalogError(_l("At most %(n)d combinations per product.", n=MAX_COMBINATIONS), "options")
    return options


def combination_count(options: list[dict]) -> int:
    count = 1
    for axis in options:
        count *= len(axis["values"])
    return count


def generate_combinations(options: list[dict]) -> list[list[str]]:
    """颜色 [红, 蓝] × 尺寸 [M, L] -> [[红, M], [红, L], [蓝, M], [蓝, L]]; no options -> one default []."""
    return [list(combo) for combo in itertools.product(*(axis["values"] for axis in options))]


@dataclass
class SkuInput:
    """What the product form says about one combination. stock_seen is the stock the form showed:
    the difference is applied, so sales made while the merchant was typing are not overwritten."""

    spec_values: list[str]
    price_fen: int
    stock: int
    original_price_fen: int | None = None
    code: str | None = None
    stock_seen: int | None = None
    # The combination this one continues, e.g. ["1斤装"] for ["1斤装", "丹东"] once 产地 was added: its
    # SKU (id, code, stock, the carts holding it) carries on under the longer name instead of a new one.
    continues: list[str] | None = None


@dataclass
class ProductInput:
    title: str
    options: list[dict] = field(default_factory=list)
    skus: list[SkuInput] = field(default_factory=list)
    subtitle: str = ""
    description: str = ""
    category_id: int | None = None
    is_on_shelf: bool = False
    sort_weight: int = 0
    image_keys: list[str] = field(default_factory=list)
    detail_image_keys: list[str] = field(default_factory=list)


def save_product(session: Session, product: Product | None, data: ProductInput) -> Product:
    """Create or update a product with its images and SKUs in one go. Nothing is written on refusal."""
    title = " ".join((data.title or "").split())
    if not title:
        raise CatalogError(_l("Please give the product a title."), "title")
    if len(title) > TITLE_MAX:
        raise CatalogError(_l("The title may have at most %(n)d characters.", n=TITLE_MAX), "title")
    subtitle = " ".join((data.subtitle or "").split())
    if len(subtitle) > SUBTITLE_MAX:
        raise CatalogError(_l("The subtitle may have at most %(n)d characters.", n=SUBTITLE_MAX), "subtitle")
    description = (data.description or "").replace("\r\n", "\n").strip()
    if len(description) > DESCRIPTION_MAX:
        raise CatalogError(
            _l("The description may have at most %(n)d characters.", n=DESCRIPTION_MAX), "description"
        )
    if data.category_id is not None and session.get(Category, data.category_id) is None:
        raise CatalogError(_l("The category does not exist."), "category_id")
    if len(data.image_keys) > MAX_IMAGES:
        raise CatalogError(_l("A product has at most %(n)d pictures.", n=MAX_IMAGES), "images")
    if len(dict.fromkeys(data.detail_image_keys)) > MAX_DETAIL_IMAGES:
        raise CatalogError(_l("At most %(n)d detail pictures.", n=MAX_DETAIL_IMAGES), "detail_images")
    options = clean_options(data.options)
    rows = _check_sku_rows(session, product, options, data.skus)

    if product is None:
        product = Product()
        session.add(product)
    product.title = title
    product.subtitle = subtitle
    product.description = description
    product.category_id = data.category_id
    product.sort_weight = data.sort_weight
    product.options = options
    _sync_images(product, data.image_keys)
    _sync_detail_images(product, data.detail_image_keys)
    session.flush()
    _sync_skus(session, product, rows)
    if data.is_on_shelf and not product.active_skus:
        raise CatalogError(_l("A product needs at least one SKU before it goes on shelf."), "is_on_shelf")
    product.is_on_shelf = data.is_on_shelf
    session.flush()
    return product


def _check_sku_rows(session, product, options, skus: list[SkuInput]) -> dict[str, tuple[int, SkuInput]]:
    """The submitted rows by spec key, each with its index in `skus` (for errors that point at a row)."""
    wanted = {spec_key(combo) for combo in generate_combinations(options)}
    rows: dict[str, tuple[int, SkuInput]] = {}
    codes = set()
    for index, sku in enumerate(skus):
        key = spec_key([" ".join(str(v).split()) for v in sku.spec_values])
        if key not in wanted or key in rows:
            continue  # a row for a combination the options no longer produce, or a repeated row
        if sku.price_fen is None or sku.price_fen <= 0 or sku.price_fen > MAX_FEN:
            raise CatalogError(
                _l("Every SKU needs a price above zero."), "skus", row=index, row_field="price"
            )
        if sku.original_price_fen is not None and not 0 <= sku.original_price_fen <= MAX_FEN:
            raise CatalogError(
                _l("The original price is not valid."), "skus", row=index, row_field="original_price"
            )
        if sku.stock is None or not 0 <= sku.stock <= MAX_STOCK:
            raise CatalogError(
                _l("Stock must be a whole number from 0 to %(n)d.", n=MAX_STOCK),
                "skus",
                row=index,
                row_field="stock",
            )
        code = (sku.code or "").strip() or None
        if code:
            code_error = None
            if len(code) > CODE_MAX:
                code_error = _l("SKU codes have at most %(n)d characters.", n=CODE_MAX)
            elif code in codes:
                code_error = _l("SKU code “%(code)s” is used twice.", code=code)
            else:
                taken = select(Sku.id).where(Sku.code == code)
                if product is not None and product.id is not None:
                    taken = taken.where(Sku.product_id != product.id)
                if session.scalar(taken):
                    code_error = _l("SKU code “%(code)s” belongs to another product.", code=code)
            if code_error:
                raise CatalogError(code_error, "skus", row=index, row_field="code")
            codes.add(code)
        sku.code = code
        rows[key] = (index, sku)
    missing = wanted - rows.keys()
    if missing:
        raise CatalogError(_l("Fill in price and stock for every combination."), "skus")
    return rows


def _sync_images(product: Product, image_keys: list[str]) -> None:
    existing = {image.image_key: image for image in product.images}
    ordered = []
    for position, key in enumerate(dict.fromkeys(image_keys)):
        image = existing.get(key) or ProductImage(image_key=key)
        image.position = position
        ordered.append(image)
    product.images = ordered


def _sync_detail_images(product: Product, image_keys: list[str]) -> None:
    """The pictures under the description, in the given order. A new one's size is read from its stored
    thumbnail, so that a key nobody uploaded is refused rather than shown as a broken picture."""
    existing = {image.image_key: image for image in product.detail_images}
    ordered = []
    for position, key in enumerate(dict.fromkeys(image_keys)):
        image = existing.get(key)
        if image is None:
            try:
                size = image_size(key)
            except StorageError:
                size = None
            if size is None:
                raise CatalogError(
                    _l("A picture could not be found. Please upload it again."), "detail_images"
                )
            image = ProductDetailImage(image_key=key, width=size[0], height=size[1])
        image.position = position
        ordered.append(image)
    product.detail_images = ordered


def _sync_skus(session: Session, product: Product, rows: dict[str, tuple[int, SkuInput]]) -> None:
    """Update SKUs in place (their ids are on past orders); combinations that disappeared are deactivated."""
    by_key = {sku.spec_key: sku for sku in product.skus}
    # A combination that gained an option value carries its SKU along (see SkuInput.continues), when
    # that SKU's own combination is gone and no other row claimed it.
    renamed: dict[str, Sku] = {}
    for key, (_index, row) in rows.items():
        if key in by_key or not row.continues:
            continue
        old = by_key.get(spec_key(row.continues))
        if old is not None and old.spec_key not in rows and old not in renamed.values():
            renamed[key] = old
    kept_codes = {row.code for _index, row in rows.values()}
    # Free codes first, so that swapping two codes between rows does not trip the unique index.
    for sku in product.skus:
        if sku.code and sku.code not in kept_codes:
            sku.code = None
    for key, sku in renamed.items():
        sku.spec_key = key
    session.flush()
    by_key.update(renamed)
    for position, (key, (index, row)) in enumerate(rows.items()):
        sku = by_key.get(key)
        if sku is None:
            sku = Sku(product=product, spec_key=key, spec_values=list(row.spec_values), stock=row.stock)
            session.add(sku)
        elif row.stock_seen is None or row.stock != row.stock_seen:
            session.flush()
            seen = row.stock_seen if row.stock_seen is not None else sku.stock
            try:
                adjust_stock(session, sku.id, row.stock - seen)
            except CatalogError as error:
                error.row, error.row_field, error.field = index, "stock", "skus"
                raise
            session.refresh(sku, ["stock"])
        sku.spec_values = [" ".join(str(v).split()) for v in row.spec_values]
        sku.price_fen = row.price_fen
        sku.original_price_fen = row.original_price_fen
        sku.code = row.code
        sku.position = position
        sku.is_active = True
    for key, sku in by_key.items():
        if key not in rows and sku not in renamed.values():
            sku.is_active = False


# ---------------------------------------------------------------- stock


def adjust_stock(session: Session, sku_id: int, delta: int) -> int:
    """Add (or take away) units in one conditional UPDATE; refuses anything that would go below zero.
    Returns the new stock."""
    if delta == 0:
        stock = session.scalar(select(Sku.stock).where(Sku.id == sku_id))
        if stock is None:
            raise CatalogError(_l("The SKU does not exist."))
        return stock
    result = session.execute(
        update(Sku)
        .where(Sku.id == sku_id, Sku.stock + delta >= 0, Sku.stock + delta <= MAX_STOCK)
        .values(stock=Sku.stock + delta)
        .returning(Sku.stock)
    )
    new_stock = result.scalar()
    if new_stock is None:
        current = session.scalar(select(Sku.stock).where(Sku.id == sku_id))
        if current is None:
            raise CatalogError(_l("The SKU does not exist."))
        raise CatalogError(
            _l("Stock cannot go below zero (now %(stock)d, change %(delta)+d).", stock=current, delta=delta),
            "stock",
        )
    return new_stock


def set_stock(session: Session, sku_id: int, *, new_stock: int, seen_stock: int) -> int:
    """The inline stock edit: the merchant saw `seen_stock` and typed `new_stock`; apply the difference."""
    if new_stock is None or not 0 <= new_stock <= MAX_STOCK:
        raise CatalogError(_l("Stock must be a whole number from 0 to %(n)d.", n=MAX_STOCK), "stock")
    return adjust_stock(session, sku_id, new_stock - seen_stock)


# ---------------------------------------------------------------- shelf


def set_on_shelf(session: Session, product_ids: list[int], on_shelf: bool) -> int:
    """Put products on or off the shelf; a product without an active SKU stays off. Returns how many changed."""
    if not product_ids:
        return 0
    query = update(Product).where(Product.id.in_(product_ids), Product.is_on_shelf != on_shelf)
    if on_shelf:
        query = query.where(exists().where(Sku.product_id == Product.id, Sku.is_active))
    result = session.execute(
        query.values(is_on_shelf=on_shelf).execution_options(synchronize_session="fetch")
    )
    return result.rowcount


@dataclass
class ShelfChange:
    changed: int
    refused: int  # asked to go on shelf but have no active SKU


def change_shelf(session: Session, product_ids: list[int], on_shelf: bool) -> ShelfChange:
    """set_on_shelf for a merchant's selection, also counting the products that could not go on shelf."""
    changed = set_on_shelf(session, product_ids, on_shelf)
    refused = 0
    if on_shelf and product_ids:
        refused = session.scalar(
            select(func.count()).select_from(Product).where(Product.id.in_(product_ids), ~Product.is_on_shelf)
        )
    return ShelfChange(changed=changed, refused=refused)


# ---------------------------------------------------------------- queries


def _with_listing_data(query):
    return query.options(selectinload(Product.images), selectinload(Product.skus))


# The listing orders a shopper can choose (search): "" is the merchant's own. The price orders are not
# here: the shown price comes from the marketing offers, which this package knows nothing of (app/shop).
SHOP_ORDERS = {
    "": (Product.sort_weight.desc(), Product.id.desc()),
    "sales": (Product.sales_count.desc(), Product.sort_weight.desc(), Product.id.desc()),
    "newest": (Product.id.desc(),),
}


def shop_products_query(*, category: Category | None = None, q: str | None = None, order: str = ""):
    """On-shelf products in shop order (the merchant's weight first, newest next, unless `order` names
    another of SHOP_ORDERS). Words find products by title, subtitle or category name (a top category's
    name finds its sub-categories' products too); hidden categories are not searched by name."""
    query = select(Product).where(Product.is_on_shelf)
    if category is not None:
        ids = [category.id] + [child.id for child in category.children]
        query = query.where(Product.category_id.in_(ids))
    if q:
        like = f"%{_escape_like(q)}%"
        named = select(Category.id).where(Category.is_visible, Category.name.ilike(like, escape="\\"))
        in_named = select(Category.id).where(
            Category.is_visible, or_(Category.id.in_(named), Category.parent_id.in_(named))
        )
        query = query.where(
            or_(
                Product.title.ilike(like, escape="\\"),
                Product.subtitle.ilike(like, escape="\\"),
                Product.category_id.in_(in_named),
            )
        )
    return _with_listing_data(query.order_by(*SHOP_ORDERS.get(order, SHOP_ORDERS[""])))


def get_shop_product(session: Session, product_id: int) -> Product | None:
    """A product the shop may show: on shelf only."""
    return session.scalar(
        _with_listing_data(select(Product).where(Product.id == product_id, Product.is_on_shelf)).options(
            selectinload(Product.detail_images)
        )
    )


def admin_products_query(
    *,
    q: str | None = None,
    category_id: int | None = None,
    status: str | None = None,
    low_stock_below: int | None = None,
):
    query = select(Product)
    if q:
        like = f"%{_escape_like(q)}%"
        by_code = exists().where(Sku.product_id == Product.id, Sku.code.ilike(like, escape="\\"))
        query = query.where(or_(Product.title.ilike(like, escape="\\"), by_code))
    if category_id:
        sub_ids = select(Category.id).where(
            or_(Category.id == category_id, Category.parent_id == category_id)
        )
        query = query.where(Product.category_id.in_(sub_ids))
    if status == "on":
        query = query.where(Product.is_on_shelf)
    elif status == "off":
        query = query.where(~Product.is_on_shelf)
    if low_stock_below is not None:
        query = query.where(
            exists().where(and_(Sku.product_id == Product.id, Sku.is_active, Sku.stock < low_stock_below))
        )
    return _with_listing_data(query.options(selectinload(Product.category)).order_by(Product.id.desc()))


def sku_for_values(product: Product, values: list[str]) -> Sku | None:
    key = spec_key(values)
    return next((sku for sku in product.active_skus if sku.spec_key == key), None)


def _escape_like(text: str) -> str:
    return text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
