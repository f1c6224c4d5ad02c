"""The shopper's address book. In "choose" mode (?select=1&next=…, from checkout) tapping an address goes
back to `next` with ?address_id=…. Another shopper's address id is never shown: it is simply not found."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app import orders
from app.db_types import parse_id
from app.extensions import db
from app.forms import ActionForm, apply_service_error
from app.orders.address_parse import MAX_TEXT as PASTE_MAX
from app.orders.address_parse import parse_address
from app.orders.events import OrderError
from app.orders.models import Address
from app.orders.regions import resolve_code
from app.orders.shop_forms import AddressForm
from app.shop import bp
from app.webutil import safe_next


def _choose_mode() -> dict:
    """The select/next pair carried through the address pages while choosing one for checkout."""
    if request.values.get("select") != "1":
        return {}
    target = safe_next(request.values.get("next"), "")
    return {"select": 1, "next": target} if target else {}


def with_address(target: str, address_id: int) -> str:
    """`target` (a local path from safe_next) with address_id=… set."""
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "address_id"]
    query.append(("address_id", str(address_id)))
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _own_address(address_id: int) -> Address:
    try:
        return orders.addresses.user_address(db.session, current_user.id, parse_id(address_id))
    except OrderError:
        abort(404, _("This address does not exist."))


@bp.get("/addresses")
@login_required
def addresses():
    choose = _choose_mode()
    return render_template(
        "shop/addresses.html",
        addresses=orders.addresses.list_addresses(db.session, current_user.id),
        choose=choose,
        pick_url=(lambda address: with_address(choose["next"], address.id)) if choose else None,
        action_form=ActionForm(),
        max_addresses=orders.addresses.MAX_ADDRESSES,
    )


@bp.route("/addresses/new", methods=["GET", "POST"])
@login_required
def address_new():
    return _address_form(None)


@bp.route("/addresses/<int:address_id>/edit", methods=["GET", "POST"])
@login_required
def address_edit(address_id: int):
    return _address_form(_own_address(address_id))


def _address_form(address: Address | None):
    choose = _choose_mode()
    form = AddressForm(obj=address)
    if (
        request.method == "GET"
        and address is None
        and not orders.addresses.list_addresses(db.session, current_user.id)
    ):
        form.is_default.data = True  # the first address is the default anyway
    # Without JavaScript the picker's lists are drawn by the server: "show the cities and districts" sends
    # the form back to be drawn again for the chosen province and city, saving nothing.
    picking = request.method == "POST" and request.form.get("pick_region") == "1"
    if form.validate_on_submit() and not picking:
        try:
            saved = orders.addresses.save_address(
                db.session,
                current_user.id,
                address,
                recipient=form.recipient.data,
                mobile=form.mobile.data,
                province=form.province.data,
                city=form.city.data,
                district=form.district.data,
                detail=form.detail.data,
                # Unticked means "no opinion": the first address becomes the default anyway.
                **({"is_default": True} if form.is_default.data else {}),
            )
        except OrderError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            flash(_("Address saved."), "success")
            if choose:
                return redirect(with_address(choose["next"], saved.id))
            return redirect(url_for("shop.addresses"))
    return render_template(
        "shop/address_form.html",
        form=form.fit_region(loose=request.method == "GET"),
        address=address,
        choose=choose,
        paste_max=PASTE_MAX,
    ), (422 if form.errors or form.form_errors else 200)


@bp.get("/addresses/regions")
@login_required
def address_regions():
    """The picker's three selects for the chosen province and city (htmx, on each change). WeChat's
    address comes here too, with its district code (nationalCode) and its names."""
    form = AddressForm(formdata=request.args, meta={"csrf": False})
    region = resolve_code(request.args.get("code", "")[:12])
    if region is not None:
        form.province.data, form.city.data, form.district.data = region.province, region.city, region.district
    elif request.args.get("loose") == "1":  # names as another app writes them: read them as a paste
        found = parse_address(
            " ".join(request.args.get(k, "")[:40] for k in ("province", "city", "district"))
        )
        form.province.data, form.city.data, form.district.data = found.province, found.city, found.district
    return render_template("shop/_region_picker.html", form=form.fit_region())


@bp.post("/addresses/parse")
@login_required
def address_parse():
    """粘贴地址自动识别: the form's fields again, filled from the pasted text where it could be read."""
    form = AddressForm(meta={"csrf": False})
    note, status = "", 200
    text = form.paste.data or ""
    if not text.strip():  # (the CSRF token was checked before: the app's CSRFProtect answers 400)
        note, status = _("Paste an address first."), 422
    elif len(text) > PASTE_MAX:
        note, status = _("That is too long for an address (at most %(n)d characters).", n=PASTE_MAX), 422
    else:
        found = parse_address(text)
        if found.province:  # a new province: the city and district chosen before are not in it
            form.city.data = form.district.data = ""
        for key in ("recipient", "mobile", "province", "city", "district", "detail"):
            if getattr(found, key):
                getattr(form, key).data = getattr(found, key)
        if not found.found_anything:
            note, status = _("No address found in that text. Please fill in the form."), 422
        elif not found.district:
            note = _("Part of the address was read. Please check it and choose the rest.")
        else:
            note = _("Address read. Please check it before saving.")
    return render_template("shop/_address_fields.html", form=form.fit_region(), parse_note=note), status


@bp.post("/addresses/<int:address_id>/delete")
@login_required
def address_delete(address_id: int):
    return _address_action(address_id, orders.addresses.delete_address, _("Address deleted."))


@bp.post("/addresses/<int:address_id>/default")
@login_required
def address_make_default(address_id: int):
    return _address_action(address_id, orders.addresses.make_default_address, _("Default address changed."))


def _address_action(address_id: int, action, done_message: str):
    if not ActionForm().validate():
        flash(_("The page has expired. Please refresh it and try again."), "error")
    else:
        try:
            action(db.session, current_user.id, parse_id(address_id))
        except OrderError:
            db.session.rollback()
            abort(404, _("This address does not exist."))
        db.session.commit()
        flash(done_message, "success")
    return redirect(url_for("shop.addresses", **_choose_mode()))
