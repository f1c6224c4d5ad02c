"""推广: the merchant's own share tools, with no distributor attached — a product's plain link (no ?ref=,
so it binds nobody new and earns no commission of its own: a customer a distributor already has stays
theirs), its QR code and poster, and the whole-shop poster with the
logo, name and a few products. The pictures are the distributors' poster machinery (distribution.posters),
cached on disk by what they show. Downloading one (?download=1) ticks "share your first poster" on the
dashboard's first-run checklist."""

import logging

from flask import abort, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import get_or_404
from app.catalog.models import Product
from app.distribution import checklist, mini_program, posters
from app.distribution.shop_posters import ShopPoster, price_label, showcase_items
from app.extensions import db
from app.payments.gateways import public_url
from app.settings.services import get_shop_settings
from app.storage import StorageError

log = logging.getLogger(__name__)


def _product(product_id: int) -> Product:
    return get_or_404(Product, product_id, _("The product does not exist or has been deleted."))


def _shop_name() -> str:
    return get_shop_settings(db.session).name or _("Fenxiao shop")


def _product_link(product: Product) -> str:
    # Printed and sent to customers: the shop's public address (PUBLIC_URL), not the one the back office
    # happens to be opened on.
    return public_url("shop.product", product_id=product.id)


def _shop_link() -> str:
    return public_url("shop.index")


def _product_poster(product: Product) -> posters.Poster:
    mp_code = mini_program.mp_code(db.session, None, product.id)
    return posters.Poster(None, product, _shop_name(), _product_link(product), mp_code=mp_code)


def _shop_poster() -> ShopPoster:
    settings = get_shop_settings(db.session)
    items = tuple(showcase_items(db.session))
    mp_code = mini_program.mp_code(db.session, None, None)
    return ShopPoster(_shop_name(), _shop_link(), settings.logo_key, items, mp_code)


def _downloaded(response, filename: str):
    """?download=1 makes the picture a download and records the merchant's first share."""
    if request.args.get("download") == "1":
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        if checklist.record_milestone(db.session, checklist.FIRST_SHARE, current_user.id):
            db.session.commit()
    return response


def _png(draw, filename: str):
    try:
        path = draw()
    except StorageError:
        log.exception("merchant poster not drawn")
        abort(503, _("The poster cannot be drawn just now. Please try again in a minute."))
    response = send_file(path, mimetype="image/png", etag=path.stem, conditional=True)
    return _downloaded(response, filename)


def _qr(url: str, filename: str):
    response = make_response(posters.qr_png(url))
    response.mimetype = "image/png"
    return _downloaded(response, filename)


@bp.get("/products/<int:product_id>/promote")
@permission_required(Permission.CATALOG)
def products_promote(product_id: int):
    product = _product(product_id)
    return render_template(
        "admin/promote.html",
        product=product,
        price=price_label(product) if product.active_skus else "",
        off_shelf=not product.is_on_shelf,  # its link opens "not on sale" until it is back
        link=_product_link(product),
        poster_version=_product_poster(product).path.stem.rsplit("-", 1)[-1],
    )


@bp.get("/products/<int:product_id>/promote/poster.png")
@permission_required(Permission.CATALOG)
def products_promote_poster(product_id: int):
    product = _product(product_id)
    return _png(_product_poster(product).cached_png, f"poster-{product.id}.png")


@bp.get("/products/<int:product_id>/promote/qr.png")
@permission_required(Permission.CATALOG)
def products_promote_qr(product_id: int):
    product = _product(product_id)
    return _qr(_product_link(product), f"qr-{product.id}.png")


@bp.get("/promote")
@permission_required(Permission.CATALOG)
def shop_promote():
    poster = _shop_poster()
    return render_template(
        "admin/promote.html",
        product=None,
        link=_shop_link(),
        poster_version=poster.version,
        showcase=poster.items,
        logo_missing=not get_shop_settings(db.session).logo_key,
    )


@bp.get("/promote/poster.png")
@permission_required(Permission.CATALOG)
def shop_promote_poster():
    return _png(_shop_poster().cached_png, "shop-poster.png")


@bp.get("/promote/qr.png")
@permission_required(Permission.CATALOG)
def shop_promote_qr():
    return _qr(_shop_link(), "shop-qr.png")


@bp.post("/checklist/hide")
@permission_required(Permission.SETTINGS)
def checklist_hide():
    """The merchant does not want the first-run checklist any more: it stays hidden for everyone."""
    if checklist.record_milestone(db.session, checklist.CHECKLIST_HIDDEN, current_user.id):
        db.session.commit()
    return redirect(url_for("admin.dashboard"), 303)
