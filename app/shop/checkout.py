"""Checkout: what is being bought, the offers that apply (coupon, points, 满减, member and activity prices),
and placing the order. The rules live in orders.checkout and marketing; this only gathers the choices."""

import secrets
from dataclasses import replace

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required
from sqlalchemy import select

from app import orders
from app.db_types import parse_id
from app.distribution import services as distribution
from app.distribution import web as share_tracking
from app.extensions import db, limiter
from app.marketing import codes, group_display, groups, pricing
from app.marketing import flash as flash_sale
from app.marketing import offers as marketing_offers
from app.marketing import points as marketing_points
from app.marketing.errors import MarketingError
from app.numbers import parse_whole_number
from app.orders.events import OrderError
from app.orders.models import Order
from app.orders.shop_forms import CheckoutForm
from app.settings.services import get_shop_settings
from app.shop import bp
from app.shop.orders import offered_providers, send_to_provider


class CheckoutItems:
    """What is being bought: one SKU straight from the product page ("buy now"), or lines of the cart
    (the ticked ones, or all of them). Quantities of cart lines always come from the cart itself."""

    def __init__(self, source):
        self.buy_sku = parse_id(source.get("buy"))
        self.buy_qty = str(source.get("qty", "1")).strip()[:12]
        # The flash item a "马上抢" button names: checked against the SKU and the session's time.
        self.flash_item = parse_id(source.get("flash")) if self.buy_sku is not None else None
        # 拼团: open a group of the activity `group_buy`, or join the group `group` (raw: groups checks them).
        group_buy, group = source.get("group_buy", ""), source.get("group", "")
        self.group_mode = (
            groups.GroupMode(group_buy=group_buy[:20], group=group[:20])
            if self.buy_sku is not None and (group_buy or group)
            else None
        )
        self.cart_skus = sorted({s for s in map(parse_id, source.getlist("sku")) if s is not None})

    @property
    def is_buy_now(self) -> bool:
        return self.buy_sku is not None

    def entries(self) -> dict[int, tuple[int, int | None]]:
        if self.is_buy_now:
            return {self.buy_sku: (orders.cart.check_qty(self.buy_qty), None)}
        cart = orders.cart.user_cart_entries(db.session, current_user.id)
        if self.cart_skus:
            cart = {sku_id: entry for sku_id, entry in cart.items() if sku_id in self.cart_skus}
        return cart

    def query_args(self) -> dict:
        if self.is_buy_now:
            flash_item = {"flash": self.flash_item} if self.flash_item else {}
            mode = self.group_mode
            group = {"group_buy": mode.group_buy, "group": mode.group} if mode else {}
            return {"buy": self.buy_sku, "qty": self.buy_qty} | flash_item | group
        return {"sku": self.cart_skus} if self.cart_skus else {}


def _checkout_page(
    form: CheckoutForm, items: CheckoutItems, *, status: int = 200, address=None, code_error: str = ""
):
    errors: list[str] = list(form.form_errors)
    try:
        entries = items.entries()
    except OrderError as error:
        errors.append(str(error.message))
        entries = {}
    lines = orders.cart.load_cart_lines(db.session, entries)
    buyable = [line for line in lines if line.buyable]
    unbuyable = [line for line in lines if not line.buyable]
    chosen = _chosen_offers(form, buyable, errors, items.group_mode)
    try:
        priced = orders.checkout.quote(db.session, buyable, chosen.offers)
    except pricing.PricingError as error:
        errors.append(str(orders.checkout.PRICING_ERRORS[error.code]))
        chosen.offers = replace(chosen.offers, coupon=None, points=None)
        chosen.chosen_id = None
        priced = orders.checkout.quote(db.session, buyable, chosen.offers)
    form.coupon.data = str(chosen.chosen_id) if chosen.chosen_id else "none"
    form.points.data = str(priced.priced.points_used) if form.use_points.data else ""
    addresses = orders.addresses.list_addresses(db.session, current_user.id)
    if address is None:
        address = _chosen_address(addresses, errors)
    providers = offered_providers()
    if not form.payment_method.data or form.payment_method.data not in {p.name for p in providers}:
        form.payment_method.data = providers[0].name if providers else None
    if not orders.checkout.IDEMPOTENCY_RE.match(form.idempotency_key.data or ""):
        form.idempotency_key.data = secrets.token_urlsafe(24)
    form.expected_total.data = str(priced.total_fen)
    form.address_id.data = str(address.id) if address else ""
    errors = list(dict.fromkeys(errors))
    can_submit = bool(buyable) and address is not None and (bool(providers) or priced.total_fen == 0)
    if items.is_buy_now and unbuyable:
        can_submit = False
    here = url_for("shop.checkout", **items.query_args())
    return (
        render_template(
            "shop/checkout.html",
            form=form,
            items=items,
            lines=buyable,
            unbuyable=unbuyable,
            quote=priced,
            chosen=chosen,
            points_offer=marketing_offers.points_offer(db.session, current_user.id, buyable, chosen),
            codes_open=codes.code_template(db.session) is not None,
            code_error=code_error,
            address=address,
            providers=providers,
            errors=errors,
            can_submit=can_submit,
            change_address_url=url_for("shop.addresses", select=1, next=here),
            add_address_url=url_for("shop.address_new", select=1, next=here),
            expire_minutes=flash_sale.pay_minutes(
                db.session,
                chosen.offers.activities.values(),
                get_shop_settings(db.session).order_expire_minutes or 30,
            ),
        ),
        status,
    )


def _points_asked(form: CheckoutForm, balance: int):
    """The points this checkout asks for: none unless the switch is on; then the number the page showed,
    or, when the switch was just turned on, all the shopper has (price_basket caps it)."""
    if not form.use_points.data:
        return None
    shown = (form.points.data or "").strip()
    return marketing_points.parse_asked(shown) if shown else balance


def _chosen_offers(
    form: CheckoutForm, lines, errors: list[str], group: groups.GroupMode | None = None
) -> marketing_offers.CheckoutOffers:
    """The offers for these lines with the shopper's choices (the best coupon on a first visit); `group`:
    a 拼团 checkout, at the group price."""
    settings = get_shop_settings(db.session)
    args = {
        "lines": [orders.checkout.pricing_line(line) for line in lines],
        "sku_ids": [line.sku.id for line in lines],
        "shipping": orders.checkout.shipping_rule(settings, lines),
    }
    asked = _points_asked(form, marketing_points.balance(db.session, current_user.id))
    try:
        return marketing_offers.for_checkout(
            db.session,
            current_user.id,
            **args,
            coupon_choice=form.coupon.data or None,
            points_asked=asked,
            group=group,
        )
    except MarketingError as error:
        errors.append(str(error.message))
        return marketing_offers.for_checkout(
            db.session, current_user.id, **args, coupon_choice="none", points_asked=asked, group=group
        )


def _chosen_address(addresses, errors: list[str]):
    """The address picked on the address page (?address_id=…), else the default one."""
    wanted = request.values.get("address_id")
    if wanted:
        try:
            return orders.addresses.user_address(db.session, current_user.id, parse_id(wanted) or "")
        except OrderError as error:
            errors.append(str(error.message))
    return addresses[0] if addresses else None


@bp.get("/checkout")
@login_required
def checkout():
    items = CheckoutItems(request.args)
    if not items.is_buy_now and not orders.cart.user_cart_entries(db.session, current_user.id):
        flash(_("Your cart is empty."), "info")
        return redirect(url_for("shop.cart"))
    if items.flash_item:
        unpaid = flash_sale.unpaid_order_for(db.session, current_user.id, [items.buy_sku])
        if unpaid:
            return _to_unpaid_order(unpaid)
        try:
            flash_sale.refuse_if_gone(db.session, current_user.id, items.flash_item)
        except flash_sale.UnpaidFlashOrder as error:  # ?buy= named another SKU than the flash item's
            return _to_unpaid_order(error.order_number)
        except flash_sale.SoldOut as error:
            return _snapped_up(error, status=200)
    if items.group_mode:
        try:
            _check_group(items, items.entries())
        except (MarketingError, OrderError) as error:
            return _group_refused(items, error, status=200)
    # The page re-asks itself (htmx) when the coupon or the points switch change: keep what was entered.
    form = CheckoutForm(formdata=request.args if "idempotency_key" in request.args else None)
    return _checkout_page(form, items)


@bp.post("/checkout")
@login_required
def place_order():
    form = CheckoutForm()
    items = CheckoutItems(request.form)
    if not form.validate():
        return _checkout_page(form, items, status=422)
    try:
        flash_sale.refuse_if_gone(db.session, current_user.id, items.flash_item)
    except flash_sale.UnpaidFlashOrder as error:
        return _to_unpaid_order(error.order_number)
    except flash_sale.SoldOut as error:
        return _snapped_up(error)
    offered = {p.name for p in offered_providers()}
    method = form.payment_method.data
    if method not in offered and form.expected_total.data != "0":
        form.form_errors.append(_("Please choose a payment method."))
        return _checkout_page(form, items, status=422)
    expected = form.expected_total.data or ""
    group_mode = items.group_mode if not _placed_already(form.idempotency_key.data) else None
    if group_mode:
        # A group that cannot take the shopper (full, failed, their own, tampered) is refused before an
        # order or a payment exists: nobody starts paying for a place that is gone.
        try:
            _check_group(items, items.entries())
        except (MarketingError, OrderError) as error:
            db.session.rollback()
            return _group_refused(items, error)
    try:
        entries = items.entries()
        offers = marketing_offers.for_basket(
            db.session,
            current_user.id,
            list(entries),
            coupon_id=form.coupon.data,
            points_asked=marketing_points.parse_asked(form.points.data) if form.use_points.data else None,
            group=items.group_mode,
        )
        if group_mode:
            groups.check_buy(
                db.session, current_user.id, items.group_mode, _quantities(entries), offers.activities
            )
        if items.flash_item is not None or request.form.get("flash"):
            flash_sale.check_buy(
                db.session, current_user.id, items.flash_item, _quantities(entries), offers.activities
            )
        order = orders.checkout.place_order(
            db.session,
            user=current_user,
            items=_quantities(entries),
            address_id=parse_id(form.address_id.data) or "",
            idempotency_key=form.idempotency_key.data or "",
            buyer_note=form.buyer_note.data or "",
            expected_total_fen=_expected_total(expected),
            client_ip_hash=share_tracking.client_ip_hash(),
            device_hash=share_tracking.device_hash(),
            offers=offers,
        )
        db.session.commit()
    except flash_sale.UnpaidFlashOrder as error:
        db.session.rollback()
        return _to_unpaid_order(error.order_number)
    except flash_sale.SoldOut as error:
        db.session.rollback()
        return _snapped_up(error)
    except (OrderError, MarketingError) as error:
        db.session.rollback()
        form.form_errors.append(str(error.message))
        return _checkout_page(form, items, status=422)
    if order.total_fen == 0:  # paid at placement: nothing to pay
        return redirect(url_for("shop.order_detail", number=order.number))
    try:
        return send_to_provider(order, method)
    except OrderError as error:  # a repeated submit of an order that is already paid or closed
        db.session.rollback()
        flash(str(error.message), "info")
        return redirect(url_for("shop.order_detail", number=order.number))


def _quantities(entries: dict) -> dict[int, int]:
    return {sku_id: qty for sku_id, (qty, _seen) in entries.items()}


def _to_unpaid_order(number: str):
    """A shopper with an unpaid flash order for this SKU is sent to pay it, not allowed a second."""
    flash(_("You already have an unpaid flash-sale order for this item. Please pay it first."), "info")
    return redirect(url_for("shop.order_detail", number=number))


def _snapped_up(error: flash_sale.SoldOut, status: int = 422):
    """The flash stock is gone: a short page that says so and leads on (not the checkout rebuilt around an
    item that cannot be had at its flash price)."""
    return render_template("shop/flash_gone.html", product_id=error.product_id), status


def _placed_already(idempotency_key: str | None) -> bool:
    """A repeated submit (a double tap) of an order placed already: place_order gives that order back, so
    the group checks, which would now find the shopper in the group, are not asked again."""
    return (
        db.session.scalar(
            select(Order.id).where(Order.user_id == current_user.id, Order.idempotency_key == idempotency_key)
        )
        is not None
    )


def _check_group(items: CheckoutItems, entries: dict) -> None:
    """The group-mode checks on the offers at the group price (MarketingError or OrderError: refused)."""
    marketing_offers.check_group_buy(db.session, current_user.id, items.group_mode, _quantities(entries))


def _group_refused(items: CheckoutItems, error, status: int = 422):
    """A group-mode checkout the group cannot take: a short page that says why and leads on (the group
    page, the product page to open a group of one's own), with nothing to pay."""
    return (
        render_template(
            "shop/group_refused.html",
            message=str(error.message),
            group_id=items.group_mode.group_id,
            product_id=group_display.product_of_sku(db.session, items.buy_sku),
        ),
        status,
    )


def _user_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else get_remote_address()


@bp.post("/checkout/code")
@login_required
@limiter.limit("10 per hour", key_func=_user_key, deduct_when=lambda response: response.status_code == 422)
@limiter.limit("30 per hour", deduct_when=lambda response: response.status_code == 422)
def apply_code():
    """A distributor's coupon code typed at checkout: the shopper gets its coupon, chosen for this order,
    and is bound to the distributor as if they had just opened the distributor's link. Wrong codes count
    against a limit per shopper and per address."""
    form = CheckoutForm()
    items = CheckoutItems(request.form)
    if not form.validate():
        return _checkout_page(form, items, status=400)
    typed = request.form.get("code", "")
    try:
        coupon, distributor = codes.redeem(db.session, current_user.id, typed)
        source = f"{_('Coupon code')} {codes.code_of(db.session, distributor)}"
        distribution.bind(db.session, current_user, distributor, source=source)
        db.session.commit()
    except MarketingError as error:
        db.session.rollback()
        return _checkout_page(form, items, status=422, code_error=str(error.message))
    form.coupon.data = str(coupon.id)
    return _checkout_page(form, items)


def _expected_total(text: str) -> int:
    """The total the shopper saw, in fen (-1 when missing or tampered with: it then matches no price)."""
    total = parse_whole_number(text, max_digits=15)
    return -1 if total is None else total
