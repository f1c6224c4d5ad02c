"""The cart and the quote of a basket, as the H5 cart and checkout pages show them (app/shop/cart.py,
app/shop/checkout.py), on the same services: orders.cart for the lines and their limits, marketing for the
offers, orders.checkout.quote (price_basket) for every amount."""

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from spectree import Response

from app import orders
from app.api import bp
from app.api.addresses import address_out
from app.api.basket import activity_checks, price, read_basket, refusal
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_orders import (
    AmountRowOut,
    BasketIn,
    CartItemIn,
    CartLineOut,
    CartOut,
    CartQuantityIn,
    CartTotalsOut,
    CouponChoiceOut,
    DiscountOut,
    QuoteLineOut,
    QuoteOut,
    QuotePointsOut,
    UnavailableLineOut,
)
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.catalog import view_counts
from app.catalog.models import Sku
from app.extensions import db
from app.marketing import coupons, pricing, story
from app.marketing import flash as flash_sale
from app.marketing import offers as marketing_offers
from app.media import image_url
from app.orders.events import OrderError
from app.settings.services import get_shop_settings

IMAGE_SIZE = 200
CART_ERRORS = Response(
    HTTP_200=CartOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_409=ErrorBody, HTTP_422=ErrorBody
)


def _shown_offers(user_id: int, sku_id: int) -> pricing.Offers:
    """What the shopper's price of one SKU includes now (kept with the line as the price seen)."""
    level, activities = marketing_offers.for_display(db.session, user_id, [sku_id])
    return pricing.Offers(member_level=level, activities=activities)


def _picture(line) -> str | None:
    key = line.product.main_image_key if line.product else None
    return image_url(key, IMAGE_SIZE, external=True) if key else None


def cart_out(user_id: int) -> CartOut:
    """The H5 cart page's content (`_cart_context`, every available line ticked)."""
    entries = orders.cart.user_cart_entries(db.session, user_id)
    lines = orders.cart.load_cart_lines(db.session, entries)
    chosen = [line for line in lines if line.buyable]
    offers = marketing_offers.for_basket(db.session, user_id, [line.sku.id for line in chosen])
    quoted = orders.checkout.quote(db.session, chosen, offers)
    priced = quoted.priced
    threshold = get_shop_settings(db.session).free_shipping_over_fen
    gap = threshold - priced.after_offers_fen if priced.shipping_fen and threshold else 0
    out_lines = []
    for sku_id, line in zip(entries, lines, strict=True):
        adjustable = (
            line.sku is not None and line.sku.is_active and line.product.is_on_shelf and line.sku.stock > 0
        )
        out_lines.append(
            CartLineOut(
                id=sku_id,
                sku_id=sku_id,
                product_id=line.product.id if line.product else None,
                title=line.product.title if line.product else _("This item no longer exists"),
                sku_values=[str(v) for v in (line.sku.spec_values or [])] if line.sku else [],
                spec_text=line.sku.spec_text if line.sku else "",
                image_url=_picture(line),
                quantity=line.qty,
                unit_price=Money.of(line.unit_fen),
                subtotal=Money.of(line.subtotal_fen),
                seen_price=Money.of(line.seen_price_fen),
                price_changed=line.price_changed,
                available=line.buyable,
                problems=list(line.problems),
                max_quantity=min(line.sku.stock, orders.cart.MAX_LINE_QTY) if adjustable else 0,
                stock=max(line.sku.stock, 0) if line.sku else 0,
            )
        )
    hint = story.full_reduction_hint(
        [orders.checkout.pricing_line(line, offers) for line in chosen], priced, offers.full_reduction
    )
    return CartOut(
        lines=out_lines,
        count=orders.cart.cart_count(db.session, user_id),
        chosen_count=sum(line.qty for line in chosen),
        totals=CartTotalsOut(
            goods=Money.of(priced.goods_fen),
            discount=Money.of(priced.discount_fen),
            full_reduction=Money.of(priced.full_reduction_fen),
            after_offers=Money.of(priced.after_offers_fen),
            shipping=Money.of(priced.shipping_fen),
            total=Money.of(priced.total_fen),
            free_shipping_gap=Money.of(max(gap, 0)),
            promo=hint,
            promo_name=offers.full_reduction.name if offers.full_reduction else "",
        ),
    )


@bp.get("/cart")
@login_required
@spec.validate(resp=Response(HTTP_200=CartOut, HTTP_401=ErrorBody), tags=["cart"], security={BEARER: []})
def cart():
    """The cart: each line re-checked against the catalog, priced as the H5 cart prices it"""
    return cart_out(api_user().id)


@bp.post("/cart/items")
@login_required
@spec.validate(json=CartItemIn, resp=CART_ERRORS, tags=["cart"], security={BEARER: []})
def cart_add(json: CartItemIn):
    """Put a SKU in the cart (added to what the line holds)

    The H5 cart's limits and sentences: 1 to 999 of a line, no more than the stock, at most 50 lines, only
    what is on sale (422 with the field; 409 when the cart is full)."""
    user = api_user()
    try:
        orders.cart.add_to_cart(
            db.session, user.id, json.sku_id, json.quantity, _shown_offers(user.id, json.sku_id)
        )
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise refusal(error, 422 if error.field else 409, None if error.field else "cart_full") from None
    sku = db.session.get(Sku, json.sku_id)
    if sku is not None and sku.product_id is not None:
        # One add-to-cart for the reports, by this account (as H5 counts a signed-in shopper without the
        # visitor cookie, which the mini-program does not have).
        view_counts.count(
            current_app._get_current_object(), sku.product_id, view_counts.CART_ADD, f"u:{user.id}"
        )
    return cart_out(user.id)


@bp.patch("/cart/items/<int:item_id>")
@login_required
@spec.validate(
    json=CartQuantityIn,
    path_parameter_descriptions={"item_id": "The line's id (its SKU id)"},
    resp=CART_ERRORS,
    tags=["cart"],
    security={BEARER: []},
)
def cart_set_quantity(item_id: int, json: CartQuantityIn):
    """Set a line's quantity (a line is keyed by its SKU, as on H5); a line not in the cart is a 404"""
    user = api_user()
    if item_id not in orders.cart.user_cart_entries(db.session, user.id):
        raise ApiError(404, _("This item is not in your cart."))
    try:
        orders.cart.set_cart_qty(db.session, user.id, item_id, json.quantity, _shown_offers(user.id, item_id))
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise refusal(error) from None
    return cart_out(user.id)


@bp.delete("/cart/items/<int:item_id>")
@login_required
@spec.validate(
    path_parameter_descriptions={"item_id": "The line's id (its SKU id)"},
    resp=Response(HTTP_200=CartOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["cart"],
    security={BEARER: []},
)
def cart_remove(item_id: int):
    """Take a line out of the cart"""
    user = api_user()
    if item_id not in orders.cart.user_cart_entries(db.session, user.id):
        raise ApiError(404, _("This item is not in your cart."))
    orders.cart.remove_from_cart(db.session, user.id, [item_id])
    db.session.commit()
    return cart_out(user.id)


# ---------------------------------------------------------------- quote


def discounts_out(applied: list[dict] | None) -> list[DiscountOut]:
    found = []
    for step in applied or []:
        if not step.get("fen") or step.get("kind") not in story.STEP_LABELS:
            continue
        points = step.get("points") if step["kind"] == "points" else None
        name = step.get("name") or ""
        if points is not None:
            name = str(ngettext("%(num)d point", "%(num)d points", points))
        found.append(
            DiscountOut(
                kind=step["kind"],
                label=str(story.STEP_LABELS[step["kind"]]),
                amount=Money.of(step["fen"]),
                name=name,
                points=points,
            )
        )
    return found


def rows_out(rows) -> list[AmountRowOut]:
    return [
        AmountRowOut(label=row.label, amount=Money.of(row.fen), kind=row.kind, note=row.note) for row in rows
    ]


@bp.post("/quote")
@login_required
@spec.validate(
    json=BasketIn,
    resp=Response(
        HTTP_200=QuoteOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_409=ErrorBody, HTTP_422=ErrorBody
    ),
    tags=["checkout"],
    security={BEARER: []},
)
def quote(json: BasketIn):
    """Price a basket as the H5 checkout page does: the full price_basket answer

    The basket is the cart's ticked lines (`cart_sku_ids`, or the whole cart) or explicit `items` (立即购买,
    with 秒杀 / 拼团 fields). Without `coupon_id` the best usable coupon is chosen, as on H5; `no_coupon`
    drops it. A coupon that is not the shopper's or does not fit, a sold-out or unknown item: 409 / 422."""
    user = api_user()
    basket = read_basket(user.id, json)
    activity_checks(user.id, basket)
    priced = price(user.id, basket)
    address = None
    if json.address_id is not None:
        try:
            address = orders.addresses.user_address(db.session, user.id, json.address_id)
        except OrderError as error:
            raise refusal(error) from None
    else:
        found = orders.addresses.list_addresses(db.session, user.id)
        address = found[0] if found else None
    result = quote_out(priced, address)
    db.session.rollback()  # a quote changes nothing
    return result


def quote_out(priced, address) -> QuoteOut:
    basket = priced.quote.priced
    chosen = priced.chosen
    offer = priced.points_offer
    lines = []
    for line, amounts in zip(priced.lines, basket.lines, strict=True):
        activity = chosen.offers.activities.get(line.sku.id)
        lines.append(
            QuoteLineOut(
                sku_id=line.sku.id,
                product_id=line.product.id,
                title=line.product.title,
                spec_text=line.sku.spec_text,
                image_url=_picture(line),
                quantity=amounts.qty,
                list_unit_price=Money.of(amounts.list_unit_fen),
                unit_price=Money.of(amounts.unit_fen),
                unit_kind=amounts.unit_kind,
                activity=activity.kind if activity else None,
                subtotal=Money.of(amounts.subtotal_fen),
                full_reduction=Money.of(amounts.full_reduction_fen),
                coupon=Money.of(amounts.coupon_fen),
                points=Money.of(amounts.points_fen),
                discount=Money.of(amounts.discount_fen),
                paid=Money.of(amounts.paid_fen),
                seen_price=Money.of(line.seen_price_fen),
                price_changed=line.price_changed,
            )
        )
    settings = get_shop_settings(db.session)
    return QuoteOut(
        lines=lines,
        unavailable=[
            UnavailableLineOut(
                sku_id=line.sku.id if line.sku else 0,
                title=line.product.title if line.product else _("This item no longer exists"),
                quantity=line.qty,
                problems=list(line.problems),
            )
            for line in priced.unbuyable
        ],
        list_goods=Money.of(sum(line.list_unit_fen * line.qty for line in basket.lines)),
        goods=Money.of(basket.goods_fen),
        full_reduction=Money.of(basket.full_reduction_fen),
        coupon=Money.of(basket.coupon_fen),
        points_fen=Money.of(basket.points_fen),
        discount=Money.of(basket.discount_fen),
        shipping=Money.of(basket.shipping_fen),
        total=Money.of(basket.total_fen),
        discounts=discounts_out(basket.applied),
        amount_rows=rows_out(story.of_priced(basket, _("Amount due"))),
        coupons=[
            CouponChoiceOut(
                id=choice.coupon.id,
                name=choice.coupon.template.name,
                description=coupons.describe(choice.coupon.template),
                valid_until=choice.coupon.valid_until.isoformat(),
                saves=Money.of(choice.saves_fen),
                total=Money.of(choice.total_fen),
                chosen=choice.coupon.id == chosen.chosen_id,
            )
            for choice in chosen.choices
        ],
        coupon_id=chosen.chosen_id,
        points=QuotePointsOut(
            enabled=chosen.points_enabled,
            balance=chosen.points_balance,
            usable=offer.points_used if offer else 0,
            usable_value=Money.of(offer.points_fen if offer else 0),
            used=basket.points_used,
            value=Money.of(basket.points_fen),
        ),
        address=address_out(address) if address else None,
        pay_minutes=flash_sale.pay_minutes(
            db.session, chosen.offers.activities.values(), settings.order_expire_minutes or 30
        ),
        can_submit=bool(priced.lines) and address is not None,
        expected_total_fen=basket.total_fen,
    )
