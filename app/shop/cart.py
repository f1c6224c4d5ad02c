"""The cart. A logged-in shopper's cart lives in the database (orders.cart); a guest's lives in the
session and moves into the account on login. Every view re-checks the lines against the catalog."""

import json

from flask import Response, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, user_logged_in
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app import orders
from app.catalog.models import Product, Sku
from app.catalog.services import spec_key
from app.catalog.view_counts import CART_ADD
from app.db_types import parse_id
from app.extensions import db, htmx
from app.marketing import offers as marketing_offers
from app.marketing import pricing, story
from app.numbers import parse_whole_number
from app.orders.events import OrderError
from app.settings.services import get_shop_settings
from app.shop import bp
from app.shop.view_tracking import count_product_event

GUEST_CART_KEY = "cart"
# Ids are 32-bit integer columns: a larger number in a form must be "no such item", not a database error.


def _shown_offers(sku_id) -> pricing.Offers:
    """What the shopper's price of one SKU includes now: their level and the SKU's activity."""
    user_id = current_user.id if current_user.is_authenticated else None
    level, activities = marketing_offers.for_display(
        db.session, user_id, [sku_id] if parse_id(sku_id) else []
    )
    return pricing.Offers(member_level=level, activities=activities)


class DatabaseCart:
    """A logged-in shopper's cart: the rules are orders.cart's."""

    def __init__(self, user_id: int):
        self.user_id = user_id

    def entries(self) -> dict[int, tuple[int, int | None]]:
        return orders.cart.user_cart_entries(db.session, self.user_id)

    def add(self, sku_id: int, qty) -> None:
        orders.cart.add_to_cart(db.session, self.user_id, sku_id, qty, _shown_offers(sku_id))

    def set_qty(self, sku_id: int, qty) -> None:
        orders.cart.set_cart_qty(db.session, self.user_id, sku_id, qty, _shown_offers(sku_id))

    def remove(self, sku_ids: list[int]) -> None:
        orders.cart.remove_from_cart(db.session, self.user_id, sku_ids)

    def count(self) -> int:
        return orders.cart.cart_count(db.session, self.user_id)


class SessionCart:
    """A guest's cart in the signed session cookie, {"sku_id": {"qty": n, "price": fen seen}}, held to the
    same limits as the database cart (the same sentences too), so nothing changes at login but where it
    is kept."""

    def _data(self) -> dict:
        data = flask_session.get(GUEST_CART_KEY)
        return dict(data) if isinstance(data, dict) else {}

    def _save(self, data: dict) -> None:
        if data:
            flask_session[GUEST_CART_KEY] = data
            flask_session.permanent = True  # a guest's cart outlives closing the browser
        else:
            flask_session.pop(GUEST_CART_KEY, None)

    def entries(self) -> dict[int, tuple[int, int | None]]:
        result = {}
        # Newest first, as in the database cart.
        for key, entry in reversed(list(self._data().items())):
            sku_id = parse_id(key)
            if sku_id is not None and isinstance(entry, dict) and isinstance(entry.get("qty"), int):
                result[sku_id] = (entry["qty"], entry.get("price"))
        return result

    def add(self, sku_id: int, qty) -> None:
        data = self._data()
        key = str(sku_id)
        held = data.get(key, {}).get("qty", 0) if isinstance(data.get(key), dict) else 0
        sku, new_qty = orders.cart.check_addition(
            db.session, sku_id, qty, held=held, new_line=key not in data, lines=len(data)
        )
        data.pop(key, None)
        data[key] = {"qty": new_qty, "price": orders.cart.seen_price(sku, _shown_offers(sku.id))}
        self._save(data)

    def set_qty(self, sku_id: int, qty) -> None:
        data = self._data()
        key = str(sku_id)
        if key not in data:
            orders.cart.check_qty(qty)
            raise OrderError(_l("This item is not in your cart."))
        sku = db.session.get(Sku, sku_id)
        qty = orders.cart.check_new_quantity(sku, qty)
        shown = orders.cart.seen_price(sku, _shown_offers(sku.id)) if sku else data[key].get("price")
        data[key] = {"qty": qty, "price": shown}
        self._save(data)

    def remove(self, sku_ids: list[int]) -> None:
        data = self._data()
        for sku_id in sku_ids:
            data.pop(str(sku_id), None)
        self._save(data)

    def count(self) -> int:
        return sum(qty for qty, _seen in self.entries().values())


def current_cart() -> DatabaseCart | SessionCart:
    if current_user.is_authenticated:
        return DatabaseCart(current_user.id)
    return SessionCart()


@user_logged_in.connect
def _merge_guest_cart(sender, user, **extra) -> None:
    """Whatever a guest put in the cart is there after logging in or registering (lines that can no
    longer be bought are dropped; the rest merge with the account's cart)."""
    guest = flask_session.pop(GUEST_CART_KEY, None)
    if not isinstance(guest, dict) or not guest:
        return
    orders.cart.merge_guest_cart(db.session, user.id, guest)
    db.session.commit()


@bp.app_template_global()
def cart_badge_count() -> int:
    """The number on the cart tab; only counted when a page shows the badge."""
    return current_cart().count()


def _cart_changed_headers(message: str | None = None, level: str = "success") -> dict:
    events: dict = {"cart-changed": {"count": current_cart().count()}}
    if message:
        events["toast"] = {"message": message, "level": level}
    return {"HX-Trigger": json.dumps(events)}


# ---------------------------------------------------------------- views


def _cart_context(selected: set[int] | None = None, errors: list[str] | None = None) -> dict:
    """The lines re-checked against the catalog, which of them are ticked, and the price of those."""
    entries = current_cart().entries()
    lines = orders.cart.load_cart_lines(db.session, entries)
    buyable = {sku_id for sku_id, line in zip(entries, lines, strict=True) if line.buyable}
    chosen = buyable if selected is None else selected & buyable
    chosen_lines = [line for sku_id, line in zip(entries, lines, strict=True) if sku_id in chosen]
    user_id = current_user.id if current_user.is_authenticated else None
    offers = marketing_offers.for_basket(db.session, user_id, [line.sku.id for line in chosen_lines])
    priced = orders.checkout.quote(db.session, chosen_lines, offers)
    threshold = get_shop_settings(db.session).free_shipping_over_fen
    return {
        "rows": list(zip(entries, lines, strict=True)),
        # Lines whose quantity can still be changed, with the most that may be chosen.
        "adjustable": {
            sku_id: min(line.sku.stock, orders.cart.MAX_LINE_QTY)
            for sku_id, line in zip(entries, lines, strict=True)
            if line.sku is not None and line.sku.is_active and line.product.is_on_shelf and line.sku.stock > 0
        },
        "free_shipping_gap": threshold - priced.priced.after_offers_fen
        if priced.shipping_fen and threshold
        else 0,
        "lines": lines,
        "selected": chosen,
        "all_selected": bool(buyable) and chosen == buyable,
        "has_unbuyable": any(not line.buyable for line in lines),
        "quote": priced,
        "promo": story.full_reduction_hint(
            [orders.checkout.pricing_line(line, offers) for line in chosen_lines],
            priced.priced,
            offers.full_reduction,
        ),
        "promo_name": offers.full_reduction.name if offers.full_reduction else "",
        "chosen_count": sum(line.qty for line in chosen_lines),
        "errors": errors or [],
        "max_qty": orders.cart.MAX_LINE_QTY,
    }


def _selection_from_form() -> set[int] | None:
    if request.form.get("sel") != "1":
        return None
    return {sku_id for sku_id in map(parse_id, request.form.getlist("sku")) if sku_id is not None}


@bp.get("/cart")
def cart():
    return render_template("shop/cart.html", tab="cart", **_cart_context())


@bp.get("/cart/badge")
def cart_badge():
    return render_template("shop/_cart_badge.html")


@bp.post("/cart/add")
def cart_add():
    """Add to the cart from the product page; with buy_now, go straight to checkout for this one SKU."""
    sku_id = parse_id(request.form.get("sku_id")) or _sku_from_options()
    qty = request.form.get("qty", "1")
    # "group": 发起拼团 from a product page with a choice of SKUs (one unit, at checkout in group mode)
    buy_now = request.form.get("buy_now") in ("1", "group")
    group_buy = parse_id(request.form.get("group_buy")) if request.form.get("buy_now") == "group" else None
    try:
        if sku_id is None:
            raise OrderError(_l("Please choose the options first."), "sku_id")
        if buy_now:
            target = _buy_now_target(sku_id, "1" if group_buy else qty, group_buy)
        else:
            current_cart().add(sku_id, qty)
            db.session.commit()
            sku = db.session.get(Sku, sku_id)
            if sku is not None and sku.product_id is not None:
                count_product_event(sku.product_id, CART_ADD)
    except OrderError as error:
        db.session.rollback()
        return _add_refused(str(error.message), sku_id)
    if buy_now:
        if htmx:
            return Response(status=204, headers={"HX-Redirect": target})
        return redirect(target)
    message = _("Added to your cart.")
    if htmx:
        return Response(status=204, headers=_cart_changed_headers(message))
    flash(message, "success")
    return redirect(_product_url(sku_id) or url_for("shop.cart"))


def _sku_from_options() -> int | None:
    """Without JavaScript the product page sends the chosen option values (opt0, opt1, …) instead of a
    SKU id: find the SKU they name."""
    product_id = parse_id(request.form.get("product_id"))
    product = db.session.get(Product, product_id) if product_id is not None else None
    if product is None or not product.options:
        return None
    values = [request.form.get(f"opt{axis}") for axis in range(len(product.options))]
    if any(value is None for value in values):
        return None
    return db.session.scalar(
        select(Sku.id).where(Sku.product_id == product.id, Sku.spec_key == spec_key(values), Sku.is_active)
    )


def _buy_now_target(sku_id: int, qty, group_buy: int | None = None) -> str:
    qty = orders.cart.check_qty(qty)
    line = orders.cart.load_cart_lines(db.session, {sku_id: (qty, None)})[0]
    if line.problems:
        if line.sku is not None and line.sku.is_active and line.product.is_on_shelf and line.sku.stock > 0:
            raise OrderError(_l("Only %(n)d left in stock.", n=line.sku.stock), "qty")
        raise OrderError(_l("This item is no longer available."), "sku_id")
    target = url_for("shop.checkout", buy=sku_id, qty=qty, **({"group_buy": group_buy} if group_buy else {}))
    if not current_user.is_authenticated:
        flash(_("Please log in first."), "info")
        return url_for("shop.login", next=target)
    return target


def _product_url(sku_id: int | None) -> str | None:
    sku = db.session.get(Sku, sku_id) if sku_id is not None else None
    return url_for("shop.product", product_id=sku.product_id) if sku is not None else None


def _add_refused(message: str, sku_id: int | None):
    if htmx:
        trigger = json.dumps({"toast": {"message": message, "level": "error"}})
        return Response(message, status=409, headers={"HX-Trigger": trigger}, mimetype="text/plain")
    flash(message, "error")
    return redirect(_product_url(sku_id) or url_for("shop.cart"))


@bp.post("/cart/update")
def cart_update():
    """Every change on the cart page: the − / + buttons ("dec:<sku>", "inc:<sku>"), typed quantities,
    ticking lines, removing. Answers the re-rendered cart (htmx) or the cart page again."""
    cart = current_cart()
    entries = cart.entries()
    op, _sep, target = (request.form.get("op") or "").partition(":")
    target_id = parse_id(target)
    selected = _selection_from_form()
    errors: list[str] = []
    message = None

    if op == "remove" and target_id in entries:
        cart.remove([target_id])
        message = _("Removed from your cart.")
    elif op == "clear-unavailable":
        lines = orders.cart.load_cart_lines(db.session, entries)
        gone = [sku_id for sku_id, line in zip(entries, lines, strict=True) if not line.buyable]
        cart.remove(gone)
        message = _("Unavailable items removed.") if gone else None
    elif op in ("select-all", "select-none"):
        selected = None if op == "select-all" else set()
    else:
        for sku_id, (qty, _seen) in entries.items():
            wanted = request.form.get(f"qty-{sku_id}", str(qty)).strip()
            number = parse_whole_number(wanted, allow_negative=True)
            if sku_id == target_id and op in ("inc", "dec") and number is not None:
                wanted = str(number + (1 if op == "inc" else -1))
            if wanted == str(qty):
                continue
            try:
                cart.set_qty(sku_id, wanted)
            except OrderError as error:
                errors.append(str(error.message))
    db.session.commit()

    if not htmx:
        for error in errors:
            flash(error, "error")
        return redirect(url_for("shop.cart"))
    context = _cart_context(selected, errors)
    body = render_block("shop/cart.html", "cart_body", tab="cart", **context)
    level = "error" if errors else "success"
    return Response(body, headers=_cart_changed_headers(errors[0] if errors else message, level))


@bp.post("/cart/checkout")
def cart_checkout():
    """The cart's 结算 button: go to checkout with the ticked lines (guests log in first; their cart
    comes with them)."""
    selected = _selection_from_form() or set()
    entries = current_cart().entries()
    chosen = sorted(sku_id for sku_id in selected if sku_id in entries)
    if not chosen:
        flash(_("Please choose what to buy."), "error")
        return redirect(url_for("shop.cart"))
    return redirect(url_for("shop.checkout", sku=chosen))
