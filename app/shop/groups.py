"""拼团 in the shop: the group page a shared link opens (members masked, places left, countdown, join), its
poster with the group's QR code, and 我的拼团. What is shown comes from marketing.group_display; joining is
a checkout in group mode (app/shop/checkout.py), where groups.check_buy decides."""

import hashlib
import logging

from flask import abort, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.catalog import services as catalog
from app.distribution import posters
from app.extensions import db
from app.marketing import group_display
from app.money import format_fen
from app.settings.services import get_shop_settings
from app.shop import bp
from app.storage import StorageError
from app.timeutil import utcnow

log = logging.getLogger(__name__)

POSTER_MAX_AGE = 24 * 3600
STATE_WORDS = group_display.STATE_WORDS
ORDER_GROUP_WORDS = group_display.ORDER_GROUP_WORDS


def _viewer_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def _group_or_404(group_id: int) -> group_display.GroupView:
    view = group_display.group_view(db.session, group_id, _viewer_id())
    if view is None:
        abort(404, _("This group does not exist."))
    return view


@bp.get("/groups/<int:group_id>")
def group_page(group_id: int):
    view = _group_or_404(group_id)
    now = utcnow()
    return render_template(
        "shop/group.html",
        group=view,
        state_words=STATE_WORDS,
        # The phone counts down against the server's time, as on the product page.
        server_now=int(now.timestamp()),
        join_url=url_for("shop.checkout", buy=view.sku_id, qty=1, group=view.group_id),
        share_url=url_for("shop.group_page", group_id=view.group_id, _external=True),
    )


@bp.get("/groups/<int:group_id>/poster.png")
def group_poster(group_id: int):
    """The group's poster: the product, the group price and a QR code of the group page, drawn with the
    distributors' poster machinery. Public like the page; the ETag is what it shows."""
    view = _group_or_404(group_id)
    product = catalog.get_shop_product(db.session, view.product_id)
    if product is None:
        abort(404)
    share_url = url_for("shop.group_page", group_id=view.group_id, _external=True)
    leader = next((member.name for member in view.members if member.is_leader), "")
    caption = _("%(name)s invites you to a %(n)d-person group", name=leader, n=view.size)
    price = _("Group price %(price)s", price=format_fen(view.price_fen))
    etag = hashlib.sha256("\x1f".join([share_url, caption, price, product.title]).encode()).hexdigest()[:16]
    if etag in request.if_none_match:
        response = make_response("", 304)
    else:
        try:
            png = posters.draw_poster(
                leader,
                product,
                shop_name=get_shop_settings(db.session).name or "",
                share_url=share_url,
                price=price,
                caption=caption,
            )
        except StorageError:
            log.exception("group poster not drawn")
            abort(503, _("The poster cannot be drawn just now. Please try again in a minute."))
        response = make_response(png)
    response.mimetype = "image/png"
    response.set_etag(etag)
    response.cache_control.max_age = POSTER_MAX_AGE
    return response


@bp.get("/me/groups")
@login_required
def my_groups():
    return render_template(
        "shop/my_groups.html",
        tab="me",
        groups=group_display.my_groups(db.session, current_user.id),
        state_words=STATE_WORDS,
    )
