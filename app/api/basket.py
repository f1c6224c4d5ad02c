"""A basket as the H5 checkout gathers it (app/shop/checkout.py), for POST /quote and POST /orders: which
lines, which offers (the shopper's coupon choice, the points switch, 秒杀 / 拼团), priced by the same
services in the same order. Nothing here decides a price or a rule: orders.cart, orders.checkout and
marketing do."""

from dataclasses import dataclass

from flask_babel import gettext as _

from app import orders
from app.api.errors import ApiError
from app.api.schemas_orders import BasketIn
from app.extensions import db
from app.marketing import flash as flash_sale
from app.marketing import groups, pricing
from app.marketing import offers as marketing_offers
from app.marketing import points as marketing_points
from app.marketing.errors import MarketingError
from app.orders.cart import CartLine
from app.orders.events import OrderError
from app.settings.services import get_shop_settings

# The service's field names, as the API's bodies call them.
FIELD_NAMES = {
    "qty": "quantity",
    "sku_id": "sku_id",
    "coupon": "coupon_id",
    "points": "points",
    "address_id": "address_id",
    "buyer_note": "buyer_note",
    "group": "group_id",
    "group_buy": "group_buy_id",
    "flash": "flash_item_id",
}


def refusal(error, status: int = 422, code: str | None = None, field_prefix: str = "") -> ApiError:
    """A service's refusal (OrderError, MarketingError) in the API's error shape."""
    fields = {}
    for field, message in [(error.field, error.message), *error.more]:
        if field:
            fields.setdefault(field_prefix + FIELD_NAMES.get(field, field), message)
    return ApiError(status, error.message, code=code or ("invalid" if fields else "refused"), fields=fields)


@dataclass
class Basket:
    """What is being bought and how, read from a BasketIn."""

    body: BasketIn
    entries: dict[int, tuple[int, int | None]]
    group_mode: groups.GroupMode | None

    @property
    def is_buy_now(self) -> bool:
        return self.body.items is not None

    @property
    def quantities(self) -> dict[int, int]:
        return {sku_id: qty for sku_id, (qty, _seen) in self.entries.items()}

    @property
    def coupon_choice(self):
        """As the H5 form's coupon field: an id, "none", or None (the best one)."""
        if self.body.coupon_id is not None:
            return str(self.body.coupon_id)
        return "none" if self.body.no_coupon else None


def read_basket(user_id: int, body: BasketIn) -> Basket:
    """The lines asked for (422 for an empty basket, a repeated SKU, a bad quantity, activity fields
    beside a cart)."""
    activity = body.flash_item_id or body.group_buy_id or body.group_id
    if activity and (body.items is None or len(body.items) != 1):
        raise ApiError(
            422,
            _("A flash sale or group buy takes exactly one item."),
            fields={"items": _("A flash sale or group buy takes exactly one item.")},
        )
    if body.group_buy_id and body.group_id:
        message = _("Either open a group or join one, not both.")
        raise ApiError(422, message, fields={"group_id": message})
    if body.items is not None:
        entries = {}
        for index, item in enumerate(body.items):
            if item.sku_id in entries:
                message = _("Each item may be listed only once.")
                raise ApiError(422, message, fields={f"items.{index}.sku_id": message})
            try:
                entries[item.sku_id] = (orders.cart.check_qty(item.quantity), None)
            except OrderError as error:
                raise refusal(error, field_prefix=f"items.{index}.") from None
    else:
        entries = orders.cart.user_cart_entries(db.session, user_id)
        if body.cart_sku_ids:
            wanted = set(body.cart_sku_ids)
            entries = {sku_id: entry for sku_id, entry in entries.items() if sku_id in wanted}
    if not entries:
        message = _("Your cart is empty.")
        raise ApiError(422, message, code="empty_basket", fields={"items": message})
    group_mode = None
    if body.group_buy_id or body.group_id:
        group_mode = groups.GroupMode(group_buy=str(body.group_buy_id or ""), group=str(body.group_id or ""))
    return Basket(body=body, entries=entries, group_mode=group_mode)


def load_lines(basket: Basket) -> tuple[list[CartLine], list[CartLine]]:
    """(buyable, unbuyable) lines. Bought straight away (explicit items), a line that cannot be bought is
    refused with the product page's sentence, as H5 "buy now" does."""
    lines = orders.cart.load_cart_lines(db.session, basket.entries)
    if basket.is_buy_now:
        for index, line in enumerate(lines):
            if not line.problems:
                continue
            if (
                line.sku is not None
                and line.sku.is_active
                and line.product.is_on_shelf
                and line.sku.stock > 0
            ):
                message = _("Only %(n)d left in stock.", n=line.sku.stock)
                raise ApiError(409, message, code="out_of_stock", fields={f"items.{index}.quantity": message})
            if line.sku is not None and line.sku.is_active and line.product.is_on_shelf:
                message = _("Sold out")
                raise ApiError(409, message, code="out_of_stock", fields={f"items.{index}.sku_id": message})
            message = _("This item is no longer available.")
            raise ApiError(422, message, code="unavailable", fields={f"items.{index}.sku_id": message})
    return [line for line in lines if line.buyable], [line for line in lines if not line.buyable]


def activity_checks(user_id: int, basket: Basket) -> None:
    """The H5 checkout's first checks of a 秒杀 or 拼团 purchase: already gone (409 sold_out), an unpaid
    flash order for this item (409 unpaid_flash_order), a group that cannot take the shopper (409)."""
    item = basket.body.flash_item_id
    if item is not None:
        try:
            flash_sale.refuse_if_gone(db.session, user_id, item)
        except flash_sale.UnpaidFlashOrder as error:
            raise ApiError(409, error.message, code="unpaid_flash_order") from None
        except flash_sale.SoldOut as error:
            raise ApiError(409, error.message, code="sold_out") from None
    if basket.group_mode is not None:
        try:
            marketing_offers.check_group_buy(db.session, user_id, basket.group_mode, basket.quantities)
        except (MarketingError, OrderError) as error:
            raise refusal(error, 409, "group_refused") from None


def points_asked(user_id: int, body: BasketIn):
    """As the H5 points switch: none unless on; then the number asked, or all the shopper has
    (price_basket caps it to what the basket may use)."""
    if not body.use_points:
        return None
    return body.points if body.points is not None else marketing_points.balance(db.session, user_id)


@dataclass
class Priced:
    lines: list[CartLine]
    unbuyable: list[CartLine]
    chosen: marketing_offers.CheckoutOffers
    quote: orders.checkout.Quote
    points_offer: pricing.PricedBasket | None


def price(user_id: int, basket: Basket) -> Priced:
    """The H5 checkout page's pricing of this basket (`_chosen_offers`, `quote`, `points_offer`), but a
    coupon or points that do not fit are refused (422) instead of dropped with a note."""
    lines, unbuyable = load_lines(basket)
    settings = get_shop_settings(db.session)
    try:
        chosen = marketing_offers.for_checkout(
            db.session,
            user_id,
            [orders.checkout.pricing_line(line) for line in lines],
            [line.sku.id for line in lines],
            shipping=orders.checkout.shipping_rule(settings, lines),
            coupon_choice=basket.coupon_choice,
            points_asked=points_asked(user_id, basket.body),
            group=basket.group_mode,
        )
        quoted = orders.checkout.quote(db.session, lines, chosen.offers)
    except MarketingError as error:
        raise refusal(error) from None
    except pricing.PricingError as error:
        message = orders.checkout.PRICING_ERRORS[error.code]
        raise ApiError(
            422, message, fields={"coupon_id" if "coupon" in error.code else "points": message}
        ) from None
    return Priced(
        lines, unbuyable, chosen, quoted, marketing_offers.points_offer(db.session, user_id, lines, chosen)
    )


def order_offers(user_id: int, basket: Basket, priced: Priced) -> pricing.Offers:
    """The offers the order is placed with, gathered as the H5 checkout's submit gathers them: the coupon
    the quote chose, and the points it used."""
    coupon = priced.chosen.chosen_id
    used = priced.quote.priced.points_used
    try:
        return marketing_offers.for_basket(
            db.session,
            user_id,
            [line.sku.id for line in priced.lines],
            coupon_id=str(coupon) if coupon else "none",
            points_asked=used if basket.body.use_points else None,
            group=basket.group_mode,
        )
    except MarketingError as error:
        raise refusal(error) from None
