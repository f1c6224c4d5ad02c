"""Quoting a basket and placing an order: prices and stock checked again, stock taken, everything copied
onto the order, in one transaction."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import User
from app.catalog.models import Sku
from app.db_types import parse_id
from app.marketing import pricing
from app.money import allocate_proportionally
from app.orders import signals
from app.orders.addresses import user_address
from app.orders.cart import MAX_CART_LINES, CartLine, check_qty, load_cart_lines, remove_from_cart
from app.orders.events import OrderError, record_event
from app.orders.models import Order, OrderLine, OrderStatus, RefundStatus
from app.orders.transitions import mark_paid
from app.settings.models import ShopSettings
from app.settings.services import get_shop_settings
from app.timeutil import SHOP_TZ, utcnow

NO_OFFERS = pricing.Offers()
NO_PAYMENT_METHOD = "none"  # an order whose total is 0


@dataclass
class Quote:
    """What an order would cost, as price_basket says: the lines with their unit price, allocated discount
    and paid amount, shipping and total."""

    lines: list[CartLine]
    priced: pricing.PricedBasket

    # The amounts are price_basket's own.
    goods_fen = property(attrgetter("priced.goods_fen"))
    discount_fen = property(attrgetter("priced.discount_fen"))
    shipping_fen = property(attrgetter("priced.shipping_fen"))
    total_fen = property(attrgetter("priced.total_fen"))


def shipping_rule(settings: ShopSettings, lines: list[CartLine]) -> pricing.Shipping:
    """The merchant's rule: a flat fee per order, waived from a threshold, or when every item ships free."""
    every_item_free = bool(lines) and all(
        line.product is not None and line.product.free_shipping for line in lines
    )
    fee = 0 if not lines or every_item_free else settings.shipping_flat_fen or 0
    return pricing.Shipping(fee_fen=fee, free_threshold_fen=settings.free_shipping_over_fen)


def pricing_line(line: CartLine, offers: pricing.Offers = NO_OFFERS) -> pricing.Line:
    """A cart line as price_basket reads it: the SKU's list price, what its product takes part in, and the
    activity its SKU is in now."""
    product = line.product
    return pricing.Line(
        unit_fen=line.sku.price_fen if line.sku else 0,
        qty=line.qty,
        product=product.id if product else None,
        category=product.category_id if product else None,
        member_discount=product.member_discount if product else True,
        points=product.takes_points if product else True,
        activity=offers.activities.get(line.sku.id) if line.sku else None,
    )


def quote(session: Session, lines: list[CartLine], offers: pricing.Offers = NO_OFFERS) -> Quote:
    """The price of these lines now for these offers (the one price: marketing.pricing.price_basket).
    Raises pricing.PricingError when the coupon or the points asked for do not fit the basket."""
    priced = pricing.price_basket(
        [pricing_line(line, offers) for line in lines],
        shipping=shipping_rule(get_shop_settings(session), lines),
        member_level=offers.member_level,
        full_reduction=offers.full_reduction,
        coupon=offers.coupon,
        points=offers.points,
    )
    for line, priced_line in zip(lines, priced.lines, strict=True):
        line.priced_unit_fen = priced_line.unit_fen
    return Quote(lines=lines, priced=priced)


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
    offers: pricing.Offers = NO_OFFERS,
) -> Order:
    """Check prices and stock again, take the stock, copy everything onto the order: one transaction.
    The same idempotency key from the same user gives back the first order (a double tap makes one).
    The salted hashes of the buyer's address and browser are kept for distribution's fraud flags.
    `offers` are what marketing found for this buyer (level, activities, 满减, the chosen coupon, points);
    marketing takes the coupon and the points on `order_placed`, in this same transaction, and refuses
    the order (by raising) when they are gone."""
    if not session.scalar(select(User.is_active).where(User.id == user.id)):
        # Read afresh: the shop may have disabled the account while its page was open.
        raise OrderError(_l("This account has been disabled. Please contact the shop."))
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
    try:
        quoted = quote(session, lines, offers)
    except pricing.PricingError as error:
        raise OrderError(
            PRICING_ERRORS[error.code], "coupon" if "coupon" in error.code else "points"
        ) from None
    if expected_total_fen is not None and expected_total_fen != quoted.total_fen:
        raise OrderError(_l("Prices have changed. Please check the new total and submit again."), "total")

    short = take_stock_for_lines(session, {line.sku.id: line.qty for line in lines})
    if short:
        line = next(line for line in lines if line.sku.id == short[0])
        activity = offers.activities.get(line.sku.id)
        if activity is not None and activity.kind == "flash":
            raise OrderError(_l("Snapped up"), "stock")
        raise OrderError(
            _l("“%(title)s” does not have enough stock left.", title=line.product.title), "stock"
        )

    now = utcnow()
    settings = get_shop_settings(session)
    order = Order(
        user_id=user.id,
        status=OrderStatus.PENDING_PAYMENT,
        refund_status=RefundStatus.NONE,
        goods_fen=quoted.goods_fen,
        discount_fen=quoted.discount_fen,
        shipping_fen=quoted.shipping_fen,
        total_fen=quoted.total_fen,
        list_goods_fen=sum(line.list_unit_fen * line.qty for line in quoted.priced.lines),
        full_reduction_fen=quoted.priced.full_reduction_fen,
        coupon_fen=quoted.priced.coupon_fen,
        points_used=quoted.priced.points_used,
        points_fen=quoted.priced.points_fen,
        applied=quoted.priced.applied,
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
    line_points = allocate_proportionally(
        quoted.priced.points_used, [amounts.points_fen for amounts in quoted.priced.lines]
    )
    order_lines = session.scalars(
        insert(OrderLine).returning(OrderLine),
        [
            {
                **_promotion_columns(line, amounts, offers),
                "points_used": points_used,
                "order_id": order.id,
                "product_id": line.product.id,
                "sku_id": line.sku.id,
                "title": line.product.title,
                "spec_text": line.sku.spec_text,
                "image_key": line.product.main_image_key,
                "unit_fen": amounts.unit_fen,
                "qty": amounts.qty,
                "subtotal_fen": amounts.subtotal_fen,
                "discount_fen": amounts.discount_fen,
                "paid_fen": amounts.paid_fen,
                "refunded_qty": 0,
                "refunded_fen": 0,
            }
            for line, amounts, points_used in zip(lines, quoted.priced.lines, line_points, strict=True)
        ],
    ).all()
    set_committed_value(order, "lines", sorted(order_lines, key=lambda line: line.id))
    record_event(session, order, "placed", actor=user, to_status=OrderStatus.PENDING_PAYMENT)
    signals.order_placed.send(order, session=session, offers=offers, priced=quoted.priced)
    remove_from_cart(session, user.id, [line.sku.id for line in lines])
    if order.total_fen == 0:  # offers paid for everything: paid now, no gateway, the same paid path
        mark_paid(session, order, method=NO_PAYMENT_METHOD, actor=user)
    session.flush()
    return order


PRICING_ERRORS = {
    "coupon_threshold": _l("This coupon needs a larger amount of eligible items."),
    "coupon_scope": _l("This coupon does not apply to anything in your order."),
    "bad_points": _l("The number of points must be a whole number, 0 or more."),
}


def _promotion_columns(line: CartLine, amounts: pricing.PricedLine, offers: pricing.Offers) -> dict:
    """What an order line keeps of its price's story: the list price, where its unit price came from, each
    discount's share, and whether it pays commission and earns points (an activity decides for its lines)."""
    activity = offers.activities.get(line.sku.id)
    return {
        "list_unit_fen": amounts.list_unit_fen,
        "price_kind": amounts.unit_kind,
        "activity_kind": activity.kind if activity else None,
        "activity_id": activity.key if activity else None,
        "full_reduction_fen": amounts.full_reduction_fen,
        "coupon_fen": amounts.coupon_fen,
        "points_fen": amounts.points_fen,
        "pays_commission": activity.commission if activity else True,
        "earns_points": activity.points if activity else True,
    }


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
