"""The cart: one set of rules for the database cart and the guest cart (quantities, what can be sold,
how many lines)."""

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.catalog.models import Product, Sku
from app.db_types import parse_id
from app.marketing import pricing
from app.numbers import parse_whole_number
from app.orders.events import OrderError
from app.orders.models import CartItem

MAX_LINE_QTY = 999


MAX_CART_LINES = 50


@dataclass
class CartLine:
    """One cart entry checked against the catalog as it is now."""

    sku: Sku | None
    qty: int
    seen_price_fen: int | None
    problems: list[str] = field(default_factory=list)
    priced_unit_fen: int | None = None  # set by checkout.quote: the unit price the basket was priced at

    @property
    def product(self) -> Product | None:
        return self.sku.product if self.sku else None

    @property
    def unit_fen(self) -> int:
        """The unit price: as the basket was priced, else as a product page shows it."""
        if self.priced_unit_fen is not None:
            return self.priced_unit_fen
        return pricing.display_price(self.sku.price_fen) if self.sku else 0

    @property
    def subtotal_fen(self) -> int:
        return self.unit_fen * self.qty

    @property
    def price_changed(self) -> bool:
        return (
            self.sku is not None and self.seen_price_fen is not None and self.seen_price_fen != self.unit_fen
        )

    @property
    def buyable(self) -> bool:
        return not self.problems


def check_qty(qty) -> int:
    qty = parse_whole_number(qty, allow_negative=True, max_digits=15)
    if qty is None:
        raise OrderError(_l("Please enter a quantity."), "qty")
    if qty < 1:
        raise OrderError(_l("The quantity must be at least 1."), "qty")
    if qty > MAX_LINE_QTY:
        raise OrderError(_l("At most %(n)d of one item per order.", n=MAX_LINE_QTY), "qty")
    return qty


def load_cart_lines(session: Session, entries: dict[int, tuple[int, int | None]]) -> list[CartLine]:
    """entries: {sku_id: (qty, price seen when added)}. One query, whatever the number of lines."""
    if not entries:
        return []
    skus = {
        sku.id: sku
        for sku in session.scalars(
            select(Sku)
            .where(Sku.id.in_(list(entries)))
            .options(selectinload(Sku.product).selectinload(Product.images))
        )
    }
    lines = []
    for sku_id, (qty, seen) in entries.items():
        sku = skus.get(sku_id)
        line = CartLine(sku=sku, qty=qty, seen_price_fen=seen)
        if sku is None or not sku.is_active or not sku.product.is_on_shelf:
            line.problems.append(str(_l("No longer available")))
        elif sku.stock <= 0:
            line.problems.append(str(_l("Sold out")))
        elif sku.stock < qty:
            line.problems.append(str(_l("Only %(n)d left", n=sku.stock)))
        lines.append(line)
    return lines


def _sellable_sku(session: Session, sku_id) -> Sku:
    sku_id = parse_id(sku_id)
    sku = session.get(Sku, sku_id) if sku_id is not None else None
    if sku is None or not sku.is_active or not sku.product.is_on_shelf:
        raise OrderError(_l("This item is no longer available."), "sku_id")
    return sku


def check_addition(
    session: Session, sku_id, qty, *, held: int, new_line: bool, lines: int
) -> tuple[Sku, int]:
    """The rules for putting `qty` of a SKU in a cart — the database cart's and the guest's alike — that
    holds `held` of it and `lines` lines: the SKU and the new quantity, or OrderError."""
    qty = check_qty(qty)
    sku = _sellable_sku(session, sku_id)
    new_qty = qty + held
    if new_qty > sku.stock:
        raise OrderError(_l("Only %(n)d left in stock.", n=sku.stock), "qty")
    if new_qty > MAX_LINE_QTY:
        raise OrderError(_l("At most %(n)d of one item per order.", n=MAX_LINE_QTY), "qty")
    if new_line and lines >= MAX_CART_LINES:
        raise OrderError(
            _l("The cart is full (%(n)d items). Check out or remove some first.", n=MAX_CART_LINES)
        )
    return sku, new_qty


def check_new_quantity(sku: Sku | None, qty) -> int:
    """The rules for changing a line's quantity (a SKU gone from sale keeps its line, to be removed)."""
    qty = check_qty(qty)
    if sku is not None and sku.is_active and qty > sku.stock > 0:
        raise OrderError(_l("Only %(n)d left in stock.", n=sku.stock), "qty")
    return qty


SHOWN = pricing.Offers()  # no level, no activity: the list price


def seen_price(sku: Sku, offers: pricing.Offers = SHOWN) -> int:
    """The price the shopper sees now (their level's and the SKU's activity price included), kept with the
    line to tell them later if it changed."""
    return pricing.display_price(
        sku.price_fen,
        member_level=offers.member_level,
        member_discount=sku.product.member_discount if sku.product else True,
        activity=offers.activities.get(sku.id),
    )


def add_to_cart(session: Session, user_id: int, sku_id, qty, offers: pricing.Offers = SHOWN) -> CartItem:
    item = None
    parsed = parse_id(sku_id)
    if parsed is not None:
        item = session.scalar(select(CartItem).where(CartItem.user_id == user_id, CartItem.sku_id == parsed))
    lines = session.scalar(select(func.count()).select_from(CartItem).where(CartItem.user_id == user_id))
    sku, new_qty = check_addition(
        session, sku_id, qty, held=item.qty if item else 0, new_line=item is None, lines=lines
    )
    if item is None:
        item = CartItem(user_id=user_id, sku_id=sku.id, qty=new_qty, seen_price_fen=seen_price(sku, offers))
        session.add(item)
    else:
        item.qty = new_qty
        item.seen_price_fen = seen_price(sku, offers)
    session.flush()
    return item


def set_cart_qty(
    session: Session, user_id: int, sku_id: int, qty, offers: pricing.Offers = SHOWN
) -> CartItem:
    item = session.scalar(select(CartItem).where(CartItem.user_id == user_id, CartItem.sku_id == sku_id))
    if item is None:
        check_qty(qty)
        raise OrderError(_l("This item is not in your cart."))
    item.qty = check_new_quantity(item.sku, qty)
    item.seen_price_fen = seen_price(item.sku, offers)  # the shopper has now seen the current price
    return item


def remove_from_cart(session: Session, user_id: int, sku_ids: list[int]) -> None:
    for item in session.scalars(
        select(CartItem).where(CartItem.user_id == user_id, CartItem.sku_id.in_(sku_ids))
    ):
        session.delete(item)


def user_cart_entries(session: Session, user_id: int) -> dict[int, tuple[int, int | None]]:
    items = session.scalars(select(CartItem).where(CartItem.user_id == user_id).order_by(CartItem.id.desc()))
    return {item.sku_id: (item.qty, item.seen_price_fen) for item in items}


def cart_count(session: Session, user_id: int) -> int:
    return (
        session.scalar(select(func.coalesce(func.sum(CartItem.qty), 0)).where(CartItem.user_id == user_id))
        or 0
    )


def merge_guest_cart(session: Session, user_id: int, guest: dict) -> int:
    """Move a guest's session cart into their account after login; returns how many lines moved.
    Lines that can no longer be bought are dropped quietly (the cart page shows the rest)."""
    moved = 0
    for sku_id, entry in (guest or {}).items():
        try:
            with session.begin_nested():
                add_to_cart(session, user_id, int(sku_id), entry.get("qty", 1))
            moved += 1
        except (OrderError, ValueError, TypeError):
            continue
    return moved
