"""Order rules: the cart, addresses, placing an order, and every state transition.

Each transition is a conditional UPDATE (`... WHERE status IN (allowed)`) inside the caller's
transaction, so a retried or concurrent call applies at most once. Stock is taken and given back only
through catalog.services.adjust_stock / take_stock_for_lines, which never let it go below zero.
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import User
from app.accounts.services import AccountError, normalise_mobile
from app.catalog.models import Product, Sku
from app.catalog.services import _escape_like, adjust_stock
from app.db_types import parse_id
from app.money import allocate_proportionally
from app.numbers import parse_whole_number
from app.orders import signals
from app.orders.models import (
    OPEN_REFUND_STATUSES,
    PAID_STATUSES,
    UNPAID_STATUSES,
    Address,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundLine,
    RefundRequestStatus,
    RefundStatus,
)
from app.orders.regions import PROVINCES
from app.settings.models import ShopSettings
from app.settings.services import get_shop_settings
from app.timeutil import utcnow

MAX_LINE_QTY = 999
MAX_CART_LINES = 50
MAX_ADDRESSES = 20
SHOP_TZ = ZoneInfo("Asia/Shanghai")


class OrderError(ValueError):
    """A refusal the shopper or merchant can act on; `field` names the form field it belongs to, and
    `more` lists other (field, message) problems of the same input, so a form can show them all at once."""

    def __init__(self, message, field: str | None = None, more: list | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.more = more or []


# ---------------------------------------------------------------- events


def record_event(
    session: Session,
    order: Order,
    action: str,
    *,
    actor: User | None = None,
    actor_kind: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str = "",
) -> OrderEvent:
    event = OrderEvent(
        order_id=order.id,
        actor_id=actor.id if actor else None,
        actor_kind=actor_kind
        or ("system" if actor is None else "staff" if actor.is_back_office else "shopper"),
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note[:500],
        created_at=utcnow(),
    )
    session.add(event)
    return event


def _transition(session: Session, order: Order, allowed: tuple, to_status: str, **values) -> bool:
    """Move the order to `to_status` only if it is still in one of `allowed`; True when this call did it."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_([str(s) for s in allowed]))
        .values(status=str(to_status), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(order)
        return False
    session.refresh(order)
    return True


# ---------------------------------------------------------------- cart


@dataclass
class CartLine:
    """One cart entry checked against the catalog as it is now."""

    sku: Sku | None
    qty: int
    seen_price_fen: int | None
    problems: list[str] = field(default_factory=list)

    @property
    def product(self) -> Product | None:
        return self.sku.product if self.sku else None

    @property
    def unit_fen(self) -> int:
        return self.sku.price_fen if self.sku else 0

    @property
    def subtotal_fen(self) -> int:
        return self.unit_fen * self.qty

    @property
    def price_changed(self) -> bool:
        return (
            self.sku is not None
            and self.seen_price_fen is not None
            and self.seen_price_fen != self.sku.price_fen
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


def add_to_cart(session: Session, user_id: int, sku_id, qty) -> CartItem:
    qty = check_qty(qty)
    sku = _sellable_sku(session, sku_id)
    item = session.scalar(select(CartItem).where(CartItem.user_id == user_id, CartItem.sku_id == sku.id))
    new_qty = qty + (item.qty if item else 0)
    if new_qty > sku.stock:
        raise OrderError(_l("Only %(n)d left in stock.", n=sku.stock), "qty")
    if new_qty > MAX_LINE_QTY:
        raise OrderError(_l("At most %(n)d of one item per order.", n=MAX_LINE_QTY), "qty")
    if item is None:
        count = session.scalar(select(func.count()).select_from(CartItem).where(CartItem.user_id == user_id))
        if count >= MAX_CART_LINES:
            raise OrderError(
                _l("The cart is full (%(n)d items). Check out or remove some first.", n=MAX_CART_LINES)
            )
        item = CartItem(user_id=user_id, sku_id=sku.id, qty=new_qty, seen_price_fen=sku.price_fen)
        session.add(item)
    else:
        item.qty = new_qty
        item.seen_price_fen = sku.price_fen
    session.flush()
    return item


def set_cart_qty(session: Session, user_id: int, sku_id: int, qty) -> CartItem:
    qty = check_qty(qty)
    item = session.scalar(select(CartItem).where(CartItem.user_id == user_id, CartItem.sku_id == sku_id))
    if item is None:
        raise OrderError(_l("This item is not in your cart."))
    sku = item.sku
    if sku.is_active and qty > sku.stock > 0:
        raise OrderError(_l("Only %(n)d left in stock.", n=sku.stock), "qty")
    item.qty = qty
    item.seen_price_fen = sku.price_fen  # the shopper has now seen the current price
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


# ---------------------------------------------------------------- addresses

PROVINCE_MAX, DETAIL_MAX, RECIPIENT_MAX = 20, 120, 20


def save_address(session: Session, user_id: int, address: Address | None, **fields) -> Address:
    problems = []  # (field, message): every mistake in the form at once, not one per try
    recipient = " ".join((fields.get("recipient") or "").split())
    if not recipient:
        problems.append(("recipient", _l("Please enter the recipient's name.")))
    elif len(recipient) > RECIPIENT_MAX:
        problems.append(("recipient", _l("The name may have at most %(n)d characters.", n=RECIPIENT_MAX)))
    mobile = None
    try:
        mobile = normalise_mobile(fields.get("mobile"))
    except AccountError as error:
        problems.append(("mobile", error.message))
    region = {}
    for key in ("province", "city", "district"):
        value = " ".join((fields.get(key) or "").split())
        if key == "province" and value not in PROVINCES:
            problems.append((key, _l("Please choose a province.")))
        elif not value or len(value) > PROVINCE_MAX:
            problems.append((key, _l("Please fill in province, city and district.")))
        region[key] = value
    detail = " ".join((fields.get("detail") or "").split())
    if len(detail) < 4:
        problems.append(("detail", _l("Please enter the street and house number.")))
    elif len(detail) > DETAIL_MAX:
        problems.append(("detail", _l("The address may have at most %(n)d characters.", n=DETAIL_MAX)))
    if problems:
        (field, message), *more = problems
        raise OrderError(message, field, more=more)
    if address is None:
        count = session.scalar(
            select(func.count()).select_from(Address).where(Address.user_id == user_id, ~Address.is_deleted)
        )
        if count >= MAX_ADDRESSES:
            raise OrderError(_l("You can keep at most %(n)d addresses.", n=MAX_ADDRESSES))
        address = Address(user_id=user_id)
        session.add(address)
        fields.setdefault("is_default", count == 0)
    elif address.user_id != user_id or address.is_deleted:
        raise OrderError(_l("This address does not exist."))
    address.recipient = recipient
    address.mobile = mobile
    address.province, address.city, address.district = region["province"], region["city"], region["district"]
    address.detail = detail
    session.flush()
    if fields.get("is_default"):
        make_default_address(session, user_id, address.id)
    return address


def user_address(session: Session, user_id: int, address_id) -> Address:
    """An address of this user, or a refusal that says nothing about other people's addresses."""
    address_id = parse_id(address_id)
    address = session.get(Address, address_id) if address_id is not None else None
    if address is None or address.user_id != user_id or address.is_deleted:
        raise OrderError(_l("Please choose a delivery address."), "address_id")
    return address


def make_default_address(session: Session, user_id: int, address_id: int) -> None:
    address = user_address(session, user_id, address_id)
    session.execute(
        update(Address)
        .where(Address.user_id == user_id, Address.id != address.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    address.is_default = True


def delete_address(session: Session, user_id: int, address_id) -> None:
    """Addresses are hidden, not deleted: orders keep their own copy anyway."""
    address = user_address(session, user_id, address_id)
    address.is_deleted = True
    address.is_default = False


def list_addresses(session: Session, user_id: int) -> list[Address]:
    return list(
        session.scalars(
            select(Address)
            .where(Address.user_id == user_id, ~Address.is_deleted)
            .order_by(Address.is_default.desc(), Address.id.desc())
        )
    )


# ---------------------------------------------------------------- pricing


@dataclass
class Quote:
    """What an order would cost: lines with their allocated discount and paid amount, shipping, total."""

    lines: list[CartLine]
    goods_fen: int
    discount_fen: int
    shipping_fen: int
    line_discounts: list[int]

    @property
    def total_fen(self) -> int:
        return self.goods_fen - self.discount_fen + self.shipping_fen


def shipping_fee(settings: ShopSettings, lines: list[CartLine], goods_fen: int) -> int:
    """The merchant's rule: a flat fee per order, waived above a threshold or when every item ships free."""
    if not lines:
        return 0
    if all(line.product is not None and line.product.free_shipping for line in lines):
        return 0
    threshold = settings.free_shipping_over_fen
    if threshold is not None and goods_fen >= threshold:
        return 0
    return settings.shipping_flat_fen or 0


def quote(session: Session, lines: list[CartLine], discount_fen: int = 0) -> Quote:
    goods = sum(line.subtotal_fen for line in lines)
    discount = min(max(discount_fen, 0), goods)
    return Quote(
        lines=lines,
        goods_fen=goods,
        discount_fen=discount,
        shipping_fen=shipping_fee(get_shop_settings(session), lines, goods),
        line_discounts=allocate_proportionally(discount, [line.subtotal_fen for line in lines]),
    )


# ---------------------------------------------------------------- placing an order

IDEMPOTENCY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_order_number(now: datetime | None = None) -> str:
    """Readable, unique, not a guessable sequence: the shop's date (yymmdd) and ten random digits."""
    local = (now or utcnow()).astimezone(SHOP_TZ)
    return local.strftime("%y%m%d") + f"{secrets.randbelow(10**10):010d}"


def place_order(
    session: Session,
    *,
    user: User,
    items: dict[int, int],
    address_id,
    idempotency_key: str,
    buyer_note: str = "",
    expected_total_fen: int | None = None,
    client_ip_hash: str | None = None,
    device_hash: str | None = None,
) -> Order:
    """Check prices and stock again, take the stock, copy everything onto the order: one transaction.
    The same idempotency key from the same user gives back the first order (a double tap makes one).
    The salted hashes of the buyer's address and browser are kept for distribution's fraud flags."""
    if not idempotency_key or not IDEMPOTENCY_RE.match(idempotency_key):
        raise OrderError(_l("The page has expired. Please refresh it and try again."))
    existing = session.scalar(
        select(Order).where(Order.user_id == user.id, Order.idempotency_key == idempotency_key)
    )
    if existing is not None:
        return existing
    if not items:
        raise OrderError(_l("Your cart is empty."))
    if len(items) > MAX_CART_LINES:
        raise OrderError(_l("Too many items in one order."))
    entries = {}
    for raw_id, qty in items.items():
        sku_id = parse_id(raw_id)
        if sku_id is None:
            raise OrderError(_l("This item is no longer available."))
        entries[sku_id] = (check_qty(qty), None)
    address = user_address(session, user.id, address_id)
    note = " ".join((buyer_note or "").split())
    if len(note) > 200:
        raise OrderError(_l("The note may have at most %(n)d characters.", n=200), "buyer_note")

    lines = load_cart_lines(session, entries)
    for line in lines:
        if line.sku is None or not line.sku.is_active or not line.product.is_on_shelf:
            raise OrderError(_l("Something in your order is no longer available. Please check your cart."))
    priced = quote(session, lines)
    if expected_total_fen is not None and expected_total_fen != priced.total_fen:
        raise OrderError(_l("Prices have changed. Please check the new total and submit again."), "total")

    short = take_stock_for_lines(session, {line.sku.id: line.qty for line in lines})
    if short:
        line = next(line for line in lines if line.sku.id == short[0])
        raise OrderError(
            _l("“%(title)s” does not have enough stock left.", title=line.product.title), "stock"
        )

    now = utcnow()
    settings = get_shop_settings(session)
    order = Order(
        user_id=user.id,
        status=OrderStatus.PENDING_PAYMENT,
        refund_status=RefundStatus.NONE,
        goods_fen=priced.goods_fen,
        discount_fen=priced.discount_fen,
        shipping_fen=priced.shipping_fen,
        total_fen=priced.total_fen,
        refunded_fen=0,
        buyer_note=note,
        idempotency_key=idempotency_key,
        client_ip_hash=client_ip_hash,
        device_hash=device_hash,
        ship_recipient=address.recipient,
        ship_mobile=address.mobile,
        ship_region=address.region,
        ship_detail=address.detail,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.order_expire_minutes or 30),
    )
    _insert_with_unique_number(session, order)
    # All lines in one multi-row INSERT … RETURNING (the unit of work would send one INSERT per line on
    # SQLite), in cart order so their ids keep that order.
    order_lines = session.scalars(
        insert(OrderLine).returning(OrderLine),
        [
            {
                "order_id": order.id,
                "product_id": line.product.id,
                "sku_id": line.sku.id,
                "title": line.product.title,
                "spec_text": line.sku.spec_text,
                "image_key": line.product.main_image_key,
                "unit_fen": line.unit_fen,
                "qty": line.qty,
                "subtotal_fen": line.subtotal_fen,
                "discount_fen": discount,
                "paid_fen": line.subtotal_fen - discount,
                "refunded_qty": 0,
                "refunded_fen": 0,
            }
            for line, discount in zip(lines, priced.line_discounts, strict=True)
        ],
    ).all()
    set_committed_value(order, "lines", sorted(order_lines, key=lambda line: line.id))
    record_event(session, order, "placed", actor=user, to_status=OrderStatus.PENDING_PAYMENT)
    remove_from_cart(session, user.id, [line.sku.id for line in lines])
    session.flush()
    return order


def _insert_with_unique_number(session: Session, order: Order) -> None:
    for _attempt in range(5):
        order.number = new_order_number(order.created_at)
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
            return
        except IntegrityError as error:
            if "idempotency" in str(error.orig).lower():
                raise OrderError(_l("This order has already been submitted.")) from None
            session.expunge(order) if order in session else None
    raise OrderError(_l("Could not create the order. Please try again."))


def take_stock_for_lines(session: Session, wanted: dict[int, int]) -> list[int]:
    """Take the units of every line of an order ({sku_id: qty}) with one conditional UPDATE
    (`stock >= qty` row by row, so stock never goes below zero), whatever the number of lines. Returns the
    ids of the SKUs that were short, lowest first; the caller then refuses the order and its transaction
    is rolled back. On PostgreSQL the rows are locked in id order first, so two orders never wait on each
    other in a circle (a multi-row UPDATE locks rows in whatever order it scans them)."""
    ids = sorted(wanted)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Sku.id).where(Sku.id.in_(ids)).order_by(Sku.id).with_for_update())
    qty = case(wanted, value=Sku.id)
    taken = set(
        session.scalars(
            update(Sku)
            .where(Sku.id.in_(ids), Sku.is_active, Sku.stock >= qty)
            .values(stock=Sku.stock - qty)
            .returning(Sku.id)
            .execution_options(synchronize_session=False)
        )
    )
    return [sku_id for sku_id in ids if sku_id not in taken]


# ---------------------------------------------------------------- looking at orders


def user_order(session: Session, user_id: int, number: str) -> Order:
    """The one place that decides whether a shopper may see an order: only their own."""
    order = session.scalar(
        select(Order).where(Order.number == str(number)[:20]).options(selectinload(Order.lines))
    )
    if order is None or order.user_id != user_id:
        raise OrderError(_l("This order does not exist."))
    expire_if_due(session, order)
    return order


# ---------------------------------------------------------------- cancel and expire


def cancel_order(session: Session, order: Order, *, actor: User | None, reason: str) -> bool:
    """Cancel an unpaid order and give its stock back — exactly once, whoever calls first."""
    allowed = (OrderStatus.PENDING_PAYMENT,) if actor is None or not actor.is_back_office else UNPAID_STATUSES
    before = order.status
    if not _transition(
        session, order, allowed, OrderStatus.CANCELLED, cancelled_at=utcnow(), cancel_reason=reason[:200]
    ):
        return False
    for line in order.lines:
        if line.sku_id is not None:
            adjust_stock(session, line.sku_id, line.qty)
    record_event(
        session,
        order,
        "cancelled",
        actor=actor,
        from_status=before,
        to_status=OrderStatus.CANCELLED,
        note=reason,
    )
    return True


def shopper_cancel(session: Session, order: Order, user: User) -> None:
    if order.user_id != user.id:
        raise OrderError(_l("This order does not exist."))
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderError(_l("Only unpaid orders can be cancelled. For a paid order, ask for a refund."))
    if not cancel_order(session, order, actor=user, reason=str(_l("Cancelled by the buyer"))):
        raise OrderError(_l("Only unpaid orders can be cancelled. For a paid order, ask for a refund."))


def expire_if_due(session: Session, order: Order, now: datetime | None = None) -> bool:
    """Lazily cancel an unpaid order whose time is up (the cron job does the same in bulk)."""
    if order.status == OrderStatus.PENDING_PAYMENT and order.expires_at <= (now or utcnow()):
        return cancel_order(session, order, actor=None, reason=str(_l("Not paid in time")))
    return False


def expire_due_orders(session: Session, now: datetime | None = None) -> int:
    """`flask orders expire`: cancel every unpaid order past its time, each in its own transaction."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(Order.id)
            .where(Order.status == OrderStatus.PENDING_PAYMENT, Order.expires_at <= now)
            .order_by(Order.id)
        )
    )
    session.commit()
    done = 0
    for order_id in ids:
        order = session.get(Order, order_id)
        if expire_if_due(session, order, now):
            done += 1
        session.commit()
    return done


# ---------------------------------------------------------------- paid, shipped, completed


def mark_paid(
    session: Session, order: Order, *, method: str, actor: User | None = None, note: str = ""
) -> bool:
    """The order's side of confirm_payment: unpaid → paid once. Returns False if it could not take it."""
    before = order.status
    if not _transition(
        session, order, UNPAID_STATUSES, OrderStatus.PAID, paid_at=utcnow(), payment_method=method
    ):
        return False
    record_event(
        session,
        order,
        "paid",
        actor=actor,
        actor_kind="gateway" if actor is None else None,
        from_status=before,
        to_status=OrderStatus.PAID,
        note=note,
    )
    sold: dict[int, int] = {}
    for line in order.lines:
        if line.product_id is not None:
            sold[line.product_id] = sold.get(line.product_id, 0) + line.qty
    if sold:
        # One statement for the whole order. updated_at stays: a sale is not an edit of the product (posters
        # and caches key on it).
        session.execute(
            update(Product)
            .where(Product.id.in_(list(sold)))
            .values(
                sales_count=Product.sales_count + case(sold, value=Product.id, else_=0),
                updated_at=Product.updated_at,
            )
            .execution_options(synchronize_session=False)
        )
    signals.order_paid.send(order, session=session)
    return True


CARRIER_MAX, TRACKING_RE = 32, re.compile(r"^[A-Za-z0-9-]{4,40}$")


def ship_order(session: Session, order: Order, *, actor: User, carrier: str, tracking_no: str) -> None:
    carrier = " ".join((carrier or "").split())
    tracking_no = (tracking_no or "").strip().replace(" ", "")
    if not carrier or len(carrier) > CARRIER_MAX:
        raise OrderError(_l("Please enter the carrier."), "carrier")
    if not TRACKING_RE.match(tracking_no):
        raise OrderError(
            _l("Please enter a valid tracking number (letters, digits and dashes)."), "tracking_no"
        )
    if order.refund_status == RefundStatus.REQUESTED:
        raise OrderError(_l("This order has an open after-sales request. Handle it before shipping."))
    if not _transition(
        session,
        order,
        (OrderStatus.PAID,),
        OrderStatus.SHIPPED,
        shipped_at=utcnow(),
        carrier=carrier,
        tracking_no=tracking_no,
    ):
        raise OrderError(_l("Only paid orders that have not been shipped can be shipped."))
    record_event(
        session,
        order,
        "shipped",
        actor=actor,
        from_status=OrderStatus.PAID,
        to_status=OrderStatus.SHIPPED,
        note=f"{carrier} {tracking_no}",
    )


def complete_order(session: Session, order: Order, *, actor: User | None, automatic: bool = False) -> bool:
    if not _transition(session, order, (OrderStatus.SHIPPED,), OrderStatus.COMPLETED, completed_at=utcnow()):
        return False
    record_event(
        session,
        order,
        "auto_completed" if automatic else "completed",
        actor=actor,
        from_status=OrderStatus.SHIPPED,
        to_status=OrderStatus.COMPLETED,
    )
    signals.order_completed.send(order, session=session)
    return True


def confirm_receipt(session: Session, order: Order, user: User) -> None:
    if order.user_id != user.id:
        raise OrderError(_l("This order does not exist."))
    if not complete_order(session, order, actor=user):
        raise OrderError(_l("Only shipped orders can be confirmed as received."))


def autocomplete_orders(session: Session, now: datetime | None = None) -> int:
    """`flask orders autocomplete`: shipped orders are received automatically after N days
    (not while an after-sales request is open)."""
    now = now or utcnow()
    days = get_shop_settings(session).autocomplete_days or 10
    ids = list(
        session.scalars(
            select(Order.id).where(
                Order.status == OrderStatus.SHIPPED,
                Order.shipped_at <= now - timedelta(days=days),
                Order.refund_status != RefundStatus.REQUESTED,
            )
        )
    )
    session.commit()
    done = 0
    for order_id in ids:
        if complete_order(session, session.get(Order, order_id), actor=None, automatic=True):
            done += 1
        session.commit()
    return done


# ---------------------------------------------------------------- after-sales


def refundable_amount(line: OrderLine, qty: int) -> int:
    """What `qty` more units of a line are worth: paid × r ÷ q, rounded down — except that the last units
    of a line take whatever is left, so a line refunded in steps adds up to exactly what was paid."""
    if qty < 1 or qty > line.refundable_qty:
        raise OrderError(_l("You cannot ask for more units than you bought."), "items")
    if qty == line.refundable_qty:
        return line.paid_fen - line.refunded_fen
    return line.paid_fen * qty // line.qty


REFUNDABLE_STATUSES = PAID_STATUSES


def new_refund_number(order: Order) -> str:
    return f"{order.number}R{secrets.randbelow(10**6):06d}"


@dataclass
class RefundQuote:
    """What a refund request for these units would bring back: each line's amount, and the shipping fee
    when everything left goes back before the parcel has left."""

    lines: dict[OrderLine, tuple[int, int]]  # line -> (units, amount_fen)
    shipping_fen: int

    @property
    def amount_fen(self) -> int:
        return sum(amount for _units, amount in self.lines.values()) + self.shipping_fen


def refund_quote(order: Order, items: dict) -> RefundQuote:
    """{order line id: units} -> the amounts, without changing anything (the shop's live preview uses it
    too). Refuses unknown lines and more units than are left."""
    lines_by_id = {line.id: line for line in order.lines}
    wanted: dict[OrderLine, tuple[int, int]] = {}
    for line_id, qty in (items or {}).items():
        line = lines_by_id.get(parse_id(line_id))
        if line is None:
            raise OrderError(_l("Please choose what to refund."), "items")
        qty = parse_whole_number(qty, max_digits=6)
        qty = -1 if qty is None else qty
        if qty == 0:
            continue
        if qty < 0 or qty > line.refundable_qty:
            raise OrderError(_l("You cannot ask for more units than you bought."), "items")
        wanted[line] = (qty, refundable_amount(line, qty))
    everything_left = bool(wanted) and all(
        wanted.get(line, (0, 0))[0] == line.refundable_qty for line in order.lines
    )
    shipping = order.shipping_fen if everything_left and order.status == OrderStatus.PAID else 0
    return RefundQuote(lines=wanted, shipping_fen=shipping)


def request_refund(session: Session, order: Order, user: User, *, items: dict, reason: str) -> Refund:
    """A shopper asks for money back for some units of some lines. One open request per order at a time:
    the order's refund status is the lock, so two requests at once cannot both pass."""
    if order.user_id != user.id:
        raise OrderError(_l("This order does not exist."))
    reason = " ".join((reason or "").split())
    if not reason:
        raise OrderError(_l("Please tell the shop why you want a refund."), "reason")
    if len(reason) > 200:
        raise OrderError(_l("The reason may have at most %(n)d characters.", n=200), "reason")
    if order.status not in REFUNDABLE_STATUSES:
        raise OrderError(_l("This order cannot be refunded now."))
    quote_ = refund_quote(order, items)
    if not quote_.lines:
        raise OrderError(_l("Please choose what to refund."), "items")

    result = session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            Order.refund_status.in_([RefundStatus.NONE, RefundStatus.PARTIAL]),
            Order.status.in_([str(s) for s in REFUNDABLE_STATUSES]),
        )
        .values(refund_status=RefundStatus.REQUESTED, refund_status_before=Order.refund_status)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(order)
        raise OrderError(_l("This order already has an open after-sales request."))
    session.refresh(order)

    refund = Refund(
        order_id=order.id, status=RefundRequestStatus.REQUESTED, reason=reason, created_at=utcnow()
    )
    for line, (qty, amount) in quote_.lines.items():
        refund.lines.append(RefundLine(order_line_id=line.id, qty=qty, amount_fen=amount))
    refund.shipping_fen = quote_.shipping_fen
    refund.amount_fen = quote_.amount_fen
    if refund.amount_fen > order.refundable_fen:
        raise OrderError(_l("The refund cannot be more than what was paid."))
    refund.number = new_refund_number(order)
    session.add(refund)
    session.flush()
    record_event(
        session,
        order,
        "refund_requested",
        actor=user,
        from_status=order.status,
        to_status=order.status,
        note=f"{refund.number} {reason}",
    )
    return refund


def cancel_refund_request(session: Session, refund: Refund, user: User) -> None:
    order = refund.order
    if order.user_id != user.id:
        raise OrderError(_l("This order does not exist."))
    if not _refund_transition(
        session, refund, (RefundRequestStatus.REQUESTED,), RefundRequestStatus.CANCELLED
    ):
        raise OrderError(_l("This request can no longer be withdrawn."))
    _reopen_after_refund(session, order)
    record_event(session, order, "refund_withdrawn", actor=user, note=refund.number)


def _refund_transition(session: Session, refund: Refund, allowed: tuple, to_status: str, **values) -> bool:
    result = session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status.in_([str(s) for s in allowed]))
        .values(status=str(to_status), **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(refund)
    return result.rowcount == 1


def _reopen_after_refund(session: Session, order: Order) -> None:
    session.execute(
        update(Order)
        .where(Order.id == order.id, Order.refund_status == RefundStatus.REQUESTED)
        .values(
            refund_status=func.coalesce(Order.refund_status_before, RefundStatus.NONE),
            refund_status_before=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)


def reject_refund(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    reason = " ".join((reason or "").split())
    if not reason:
        raise OrderError(_l("Please tell the buyer why the request is rejected."), "reject_reason")
    if not _refund_transition(
        session,
        refund,
        (RefundRequestStatus.REQUESTED,),
        RefundRequestStatus.REJECTED,
        reject_reason=reason[:200],
        decided_at=utcnow(),
        decided_by_id=actor.id,
    ):
        raise OrderError(_l("This request has already been handled."))
    _reopen_after_refund(session, refund.order)
    record_event(session, refund.order, "refund_rejected", actor=actor, note=f"{refund.number} {reason}")


def approve_refund(session: Session, refund: Refund, *, actor: User, restock: bool) -> None:
    """The merchant agrees. The money goes back through the order's payment provider; for manual transfer
    the merchant pays it back by hand and then marks it refunded (complete_refund)."""
    from app.payments import get_provider  # payments depends on orders, not the other way round

    order = refund.order
    payment = paid_payment(order)
    if not _refund_transition(
        session,
        refund,
        (RefundRequestStatus.REQUESTED,),
        RefundRequestStatus.APPROVED,
        restock=bool(restock),
        decided_at=utcnow(),
        decided_by_id=actor.id,
        payment_id=payment.id if payment else None,
    ):
        raise OrderError(_l("This request has already been handled."))
    record_event(session, order, "refund_approved", actor=actor, note=refund.number)
    if payment is not None and get_provider(payment.provider).refund(session, payment, refund):
        complete_refund(session, refund, actor=actor)


def paid_payment(order: Order) -> Payment | None:
    """The payment that paid this order (not one flagged as money to send back)."""
    return next(
        (p for p in order.payments if p.status == PaymentStatus.SUCCEEDED and not p.needs_refund), None
    )


def complete_refund(session: Session, refund: Refund, *, actor: User | None) -> bool:
    """The money is back with the buyer: apply it to the lines and the order, once."""
    if not _refund_transition(
        session, refund, (RefundRequestStatus.APPROVED,), RefundRequestStatus.REFUNDED, refunded_at=utcnow()
    ):
        return False
    order = refund.order
    for item in refund.lines:
        result = session.execute(
            update(OrderLine)
            .where(OrderLine.id == item.order_line_id, OrderLine.refunded_qty + item.qty <= OrderLine.qty)
            .values(
                refunded_qty=OrderLine.refunded_qty + item.qty,
                refunded_fen=OrderLine.refunded_fen + item.amount_fen,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise OrderError(_l("The refund cannot be more than what was paid."))
        if refund.restock and item.order_line.sku_id is not None:
            adjust_stock(session, item.order_line.sku_id, item.qty)
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.refunded_fen + refund.amount_fen <= Order.total_fen)
        .values(refunded_fen=Order.refunded_fen + refund.amount_fen, refund_status_before=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise OrderError(_l("The refund cannot be more than what was paid."))
    session.refresh(order)
    for line in order.lines:
        session.refresh(line)
    fully = all(line.refunded_qty == line.qty for line in order.lines)
    before = order.status
    order.refund_status = RefundStatus.FULL if fully else RefundStatus.PARTIAL
    if fully:
        order.status = OrderStatus.REFUNDED
    session.flush()
    record_event(
        session,
        order,
        "refunded",
        actor=actor,
        from_status=before,
        to_status=order.status,
        note=f"{refund.number} {refund.amount_fen}",
    )
    signals.refund_completed.send(order, session=session, refund=refund)
    return True


# ---------------------------------------------------------------- back office

# The tabs of the back-office order list, in display order: a status, or an after-sales state.
ORDER_TABS = (
    "all",
    "pending_payment",
    "awaiting_confirmation",
    "paid",
    "shipped",
    "completed",
    "cancelled",
    "after_sales",
    "refunded",
)


def _tab_condition(tab: str):
    if tab == "after_sales":
        return Order.refund_status == RefundStatus.REQUESTED
    if tab == "refunded":
        return Order.refund_status.in_([RefundStatus.PARTIAL, RefundStatus.FULL])
    if tab in ORDER_TABS and tab != "all":
        return Order.status == tab
    return None


@dataclass
class OrderFilters:
    """What the merchant narrowed the order list to. Dates are the shop's local calendar dates."""

    tab: str = "all"
    q: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _local_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHOP_TZ).astimezone(UTC)


def _order_filter_conditions(filters: OrderFilters) -> list:
    conditions = []
    if filters.date_from:
        conditions.append(Order.created_at >= _local_midnight_utc(filters.date_from))
    if filters.date_to:
        conditions.append(Order.created_at < _local_midnight_utc(filters.date_to + timedelta(days=1)))
    q = (filters.q or "").strip()
    if q:
        like = f"%{_escape_like(q)}%"
        buyers = select(User.id).where(User.mobile.like(like, escape="\\"))
        conditions.append(
            or_(
                Order.number.like(like, escape="\\"),
                Order.ship_mobile.like(like, escape="\\"),
                Order.ship_recipient.ilike(like, escape="\\"),
                Order.user_id.in_(buyers),
            )
        )
    return conditions


def admin_orders_query(filters: OrderFilters) -> Select:
    """The back-office order list: newest first, lines and buyer loaded in a fixed number of queries."""
    query = select(Order).where(*_order_filter_conditions(filters))
    condition = _tab_condition(filters.tab)
    if condition is not None:
        query = query.where(condition)
    return query.options(selectinload(Order.lines), selectinload(Order.user)).order_by(
        Order.created_at.desc(), Order.id.desc()
    )


def admin_order_tab_counts(session: Session, filters: OrderFilters) -> dict[str, int]:
    """How many orders each tab holds under the same dates and keyword: one query."""
    columns = []
    for tab in ORDER_TABS:
        condition = _tab_condition(tab)
        columns.append(func.count() if condition is None else func.count().filter(condition))
    row = session.execute(select(*columns).select_from(Order).where(*_order_filter_conditions(filters))).one()
    return dict(zip(ORDER_TABS, (value or 0 for value in row), strict=True))


def admin_order(session: Session, number: str) -> Order | None:
    """One order with everything the back-office order page shows (the caller expires it if due)."""
    return session.scalar(
        select(Order)
        .where(Order.number == str(number)[:20])
        .options(
            selectinload(Order.lines),
            selectinload(Order.user),
            selectinload(Order.payments),
            selectinload(Order.refunds).selectinload(Refund.lines).selectinload(RefundLine.order_line),
            selectinload(Order.events).selectinload(OrderEvent.actor),
        )
    )


STAFF_NOTE_MAX = 500


def add_staff_note(session: Session, order: Order, *, actor: User, note: str) -> OrderEvent:
    """A note for the shop's own people (the buyer never sees it). Notes are only ever added, never
    edited, so the trail stays honest."""
    note = "\n".join(" ".join(line.split()) for line in (note or "").strip().splitlines()).strip()
    if not note:
        raise OrderError(_l("Please write the note first."), "note")
    if len(note) > STAFF_NOTE_MAX:
        raise OrderError(_l("The note may have at most %(n)d characters.", n=STAFF_NOTE_MAX), "note")
    return record_event(session, order, "staff_note", actor=actor, note=note)


@dataclass
class BulkShipResult:
    """One row of a bulk-ship file and what became of it."""

    row: int
    number: str
    carrier: str
    tracking_no: str
    ok: bool = False
    message: str = ""


def ship_orders_in_bulk(
    session: Session, rows: list[tuple[str, str, str]], *, actor: User
) -> list[BulkShipResult]:
    """Ship every (order number, carrier, tracking number) row through ship_order, each in its own
    savepoint: a bad row is reported and the others still go out. The caller commits."""
    numbers = {str(number).strip()[:20] for number, _carrier, _tracking in rows}
    found: dict[str, Order] = {}
    listed = sorted(n for n in numbers if n)
    for start in range(0, len(listed), 500):
        for order in session.scalars(select(Order).where(Order.number.in_(listed[start : start + 500]))):
            found[order.number] = order
    results: list[BulkShipResult] = []
    seen: set[str] = set()
    for index, (number, carrier, tracking_no) in enumerate(rows, start=2):  # row 1 is the header
        number = str(number).strip()
        result = BulkShipResult(index, number, str(carrier).strip(), str(tracking_no).strip())
        results.append(result)
        order = found.get(number[:20])
        if not number:
            result.message = str(_l("The order number is missing."))
        elif order is None or len(number) > 20:
            result.message = str(_l("No order with this number."))
        elif number in seen:
            result.message = str(_l("This order appears more than once in the file."))
        else:
            seen.add(number)
            try:
                with session.begin_nested():
                    ship_order(
                        session, order, actor=actor, carrier=result.carrier, tracking_no=result.tracking_no
                    )
            except OrderError as error:
                session.refresh(order)
                result.message = str(error.message)
            else:
                result.ok = True
    return results


def admin_refunds_query(*, open_only: bool) -> Select:
    """The after-sales queue: open requests first (oldest first, they have waited longest), then the
    handled ones, newest first."""
    is_open = Refund.status.in_([str(s) for s in OPEN_REFUND_STATUSES])
    query = select(Refund).options(
        selectinload(Refund.lines).selectinload(RefundLine.order_line),
        selectinload(Refund.order).selectinload(Order.user),
        selectinload(Refund.order).selectinload(Order.payments),
    )
    if open_only:
        return query.where(is_open).order_by(Refund.created_at, Refund.id)
    return query.order_by(case((is_open, 0), else_=1), Refund.id.desc())


def staff_actions(order: Order) -> set[str]:
    """What the back office may do with an order now; the services check again when it is done."""
    actions = set()
    if order.status in UNPAID_STATUSES:
        actions.add("cancel")
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        actions |= {"confirm_transfer", "reject_transfer"}
    elif order.status == OrderStatus.PENDING_PAYMENT and any(
        p.provider == "manual" and p.status == PaymentStatus.PENDING for p in order.payments
    ):
        actions.add("confirm_transfer")  # the money came before the shopper tapped "I have paid"
    if order.status == OrderStatus.PAID and order.refund_status != RefundStatus.REQUESTED:
        actions.add("ship")
    return actions


def refund_actions(refund: Refund) -> set[str]:
    """Approve or reject an open request; mark an approved one paid back when the shop pays by hand."""
    if refund.status == RefundRequestStatus.REQUESTED:
        return {"approve", "reject"}
    if refund.status == RefundRequestStatus.APPROVED:
        payment = next((p for p in refund.order.payments if p.id == refund.payment_id), None)
        if payment is None or payment.provider == "manual":
            return {"complete"}
    return set()


@dataclass
class BackOfficeAlerts:
    to_ship: int
    awaiting_confirmation: int
    open_refunds: int
    flagged_payments: int


def back_office_alerts(session: Session) -> BackOfficeAlerts:
    """The numbers the back office's menu and dashboard flag, in one query."""

    def count(model, *conditions):
        return select(func.count()).select_from(model).where(*conditions).scalar_subquery()

    row = session.execute(
        select(
            count(Order, Order.status == OrderStatus.PAID),
            count(Order, Order.status == OrderStatus.AWAITING_CONFIRMATION),
            count(Refund, Refund.status.in_([str(s) for s in OPEN_REFUND_STATUSES])),
            count(Payment, Payment.needs_refund),
        )
    ).one()
    return BackOfficeAlerts(*(value or 0 for value in row))


@dataclass
class TodaysTakings:
    paid_orders: int
    sales_fen: int


def todays_takings(session: Session, now: datetime | None = None) -> TodaysTakings:
    """Orders paid since the shop's midnight and the sum of their totals."""
    now = now or utcnow()
    midnight = _local_midnight_utc(now.astimezone(SHOP_TZ).date())
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(Order.total_fen), 0)).where(Order.paid_at >= midnight)
    ).one()
    return TodaysTakings(paid_orders=row[0] or 0, sales_fen=int(row[1] or 0))
