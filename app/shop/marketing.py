"""The shopper's side of marketing: the coupon centre (领券中心), my coupons, my points and my member level.
The rules live in the marketing package; these pages only show them and pass on a claim."""

from collections.abc import Callable
from functools import wraps

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app.extensions import db, htmx, limiter
from app.forms import ActionForm
from app.marketing import codes, coupons, members, points
from app.marketing.errors import MarketingError
from app.shop import bp
from app.shop.distribution import distributor_required
from app.webutil import tab_arg

COUPON_TABS = (("usable", _l("Usable")), ("used", _l("Used")), ("expired", _l("Expired")))
CHANNEL_WORDS = coupons.CHANNEL_WORDS  # the words live with the coupons: the API shows them too

bp.add_app_template_global(coupons.describe, "coupon_words")
bp.add_app_template_global(coupons.threshold_words, "coupon_threshold_words")
bp.add_app_template_global(coupons.validity_words, "coupon_validity_words")
bp.add_app_template_global(members.perks, "level_perks")
bp.add_app_template_global(members.discount_words, "discount_words")


@bp.app_template_global()
def member_summary() -> dict:
    """我的: the shopper's level, points and usable coupons, for the strip on the me page."""
    if not current_user.is_authenticated:
        return {}
    return {
        "progress": members.progress(db.session, current_user.id),
        "points": points.balance(db.session, current_user.id),
        "coupons": coupons.usable_count(db.session, current_user.id),
    }


@bp.get("/coupons")
def coupon_centre():
    user_id = current_user.id if current_user.is_authenticated else None
    return render_template(
        "shop/coupons.html", entries=coupons.centre(db.session, user_id), claim_form=ActionForm()
    )


@bp.post("/coupons/<int:template_id>/claim")
@limiter.limit("30 per minute", methods=["POST"])
def claim_coupon(template_id: int):
    if not current_user.is_authenticated:
        return redirect(url_for("shop.login", next=url_for("shop.coupon_centre")))
    form = ActionForm()
    if not form.validate():
        abort(400, _("The page has expired. Please refresh it and try again."))
    try:
        coupons.claim(db.session, current_user.id, template_id)
        db.session.commit()
        message, category = _("Claimed. You will find it in My coupons."), "success"
    except MarketingError as error:
        db.session.rollback()
        message, category = str(error.message), "info"
    if htmx:
        entry = next(
            (e for e in coupons.centre(db.session, current_user.id) if e.template.id == template_id), None
        )
        return render_template(
            "shop/_coupon_centre_card.html", entry=entry, claim_form=ActionForm(), message=message
        )
    flash(message, category)
    return redirect(url_for("shop.coupon_centre"))


def my_page(template: str):
    """A page of 我的 for the signed-in shopper: the view is given their user id and returns what `template`
    shows."""

    def decorate(view: Callable[[int], dict]):
        @wraps(view)
        @login_required
        def page():
            return render_template(template, **view(current_user.id))

        return page

    return decorate


@bp.get("/me/coupons")
@my_page("shop/my_coupons.html")
def my_coupons(user_id: int) -> dict:
    tab = tab_arg(COUPON_TABS, "usable")
    found = coupons.mine(db.session, user_id, tab)
    return {"tabs": COUPON_TABS, "tab": tab, "found": found, "channel_words": CHANNEL_WORDS}


@bp.get("/me/points")
@my_page("shop/points.html")
def my_points(user_id: int) -> dict:
    return {
        "balance": points.balance(db.session, user_id),
        "entries": points.history(db.session, user_id, limit=100),
        "kind_words": points.KIND_LABELS,
        "rules": points.rules_words(members.marketing_settings(db.session)),
    }


@bp.get("/me/level")
@my_page("shop/level.html")
def my_level(user_id: int) -> dict:
    return {"progress": members.progress(db.session, user_id), "levels": members.all_levels(db.session)}


@bp.post("/d/share/code")
@distributor_required
def distribution_choose_code(distributor):
    """A distributor chooses the coupon code they tell people (it replaces the one before)."""
    form = ActionForm()
    if not form.validate():
        abort(400, _("The page has expired. Please refresh it and try again."))
    try:
        chosen = codes.choose_code(db.session, distributor, request.form.get("code", ""))
        db.session.commit()
        flash(_("Your coupon code is now %(code)s.", code=chosen), "success")
    except MarketingError as error:
        db.session.rollback()
        flash(str(error.message), "info")
    return redirect(url_for("shop.distribution_share") + "#my-code")
