"""The shopper's after-sales: asking (仅退款 / 退货退款 / 换货, a reason, words and up to six photos), the
live preview of the amount, sending the goods back (carrier and tracking number, to the shop's return
address), and the request's photos — shown to the buyer only (anyone else's request is "does not exist")."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block

from app import orders
from app.extensions import db
from app.forms import ActionForm
from app.marketing import group_orders
from app.media import ImageError, private_image_response, save_private_image
from app.orders import aftersales, returns
from app.orders.events import OrderError
from app.orders.models import MAX_AFTERSALES_PHOTOS, AfterSalesKind, Order, Refund, RefundRequestStatus
from app.orders.shop_forms import RefundForm, ReturnParcelForm
from app.shop import bp
from app.shop.orders import _act, _own_order, shopper_actions


def _refund_items(order: Order) -> dict[int, str]:
    """{order line id: units asked for} from the form's qty-<line id> fields (kept as typed: the service
    judges them)."""
    return {line.id: (request.form.get(f"qty-{line.id}") or "0").strip()[:12] for line in order.lines}


def _refund_preview(order: Order, items: dict, kind: str = AfterSalesKind.REFUND_ONLY):
    """What the request would bring back, without asking for anything (the same rule request_refund uses)."""
    return orders.refunds.preview(order, items, kind)


def _chosen_kind(order: Order) -> str:
    """The type asked for (?kind= or the form's); the order's default when none or one it cannot have."""
    allowed = [str(k) for k in aftersales.allowed_kinds(order)]
    wanted = request.values.get("kind", "")
    return wanted if wanted in allowed else str(aftersales.default_kind(order))


def _save_photos() -> list[str]:
    """The uploaded photos, each checked as product pictures are; OrderError names the first refused."""
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    aftersales.check_photo_count(len(files))
    keys = []
    for upload in files:
        try:
            keys.append(save_private_image(upload))
        except ImageError as error:
            raise OrderError(f"{upload.filename[:40]}：{error}", "photos") from None
    return keys


@bp.route("/orders/<number>/refund", methods=["GET", "POST"])
@login_required
def refund_request(number: str):
    order = _own_order(number)
    if "refund" not in shopper_actions(order, group_orders.no_after_sales(db.session, [order.id])):
        flash(_("This order cannot be refunded now."), "info")
        return redirect(url_for("shop.order_detail", number=order.number))
    kind = _chosen_kind(order)
    form = RefundForm(kind=kind)
    error = None
    if request.method == "POST":
        items = _refund_items(order)
        if form.validate():
            try:
                photos = _save_photos()
                orders.refunds.request_refund(
                    db.session,
                    order,
                    current_user,
                    items=items,
                    reason=form.reason_text(),
                    kind=kind,
                    not_received=form.not_received(),
                    photos=photos,
                )
                db.session.commit()
            except OrderError as refusal:
                db.session.rollback()
                error = str(refusal.message)
            else:
                flash(_("Your request has been sent to the shop."), "success")
                return redirect(url_for("shop.order_detail", number=order.number))
        order = _own_order(number)
    else:
        items = {line_id: str(qty) for line_id, qty in orders.refunds.suggested_items(order).items()}
    return render_template(
        "shop/refund.html",
        order=order,
        form=form,
        kind=kind,
        moves_money=aftersales.moves_money(kind),
        kinds=[(str(k), aftersales.kind_label(k)) for k in aftersales.allowed_kinds(order)],
        max_photos=MAX_AFTERSALES_PHOTOS,
        items=items,
        error=error,
        preview=_refund_preview(order, items, kind),
    ), (422 if request.method == "POST" else 200)


@bp.post("/orders/<number>/refund/preview")
@login_required
def refund_preview(number: str):
    order = _own_order(number)
    if not ActionForm().validate():
        abort(400)
    items = _refund_items(order)
    return render_block(
        "shop/refund.html",
        "refund_preview",
        order=order,
        items=items,
        preview=_refund_preview(order, items, _chosen_kind(order)),
    )


def _own_refund(number: str, refund_id: int) -> Refund:
    order = _own_order(number)
    refund = next((r for r in order.refunds if r.id == refund_id), None)
    if refund is None:
        abort(404, _("This after-sales request does not exist."))
    return refund


@bp.post("/orders/<number>/refund/<int:refund_id>/return")
@login_required
def ship_return(number: str, refund_id: int):
    refund = _own_refund(number, refund_id)
    form = ReturnParcelForm()
    return _act(
        refund.order,
        lambda: returns.ship_return(
            db.session,
            refund,
            current_user,
            carrier_code=form.carrier_code.data,
            tracking_no=form.tracking_no.data,
        ),
        _("Thank you: the shop will check the goods when they arrive."),
    )


@bp.get("/orders/<number>/refund/<int:refund_id>/photos/<int:index>")
@login_required
def refund_photo(number: str, refund_id: int, index: int):
    refund = _own_refund(number, refund_id)
    return photo_response(refund, index)


def photo_response(refund: Refund, index: int):
    """A request's photo, for someone allowed to see it (media.private_image_response: not cached)."""
    keys = aftersales.photo_keys(refund)
    return private_image_response(keys[index] if 0 <= index < len(keys) else None)


@bp.app_template_global()
def aftersales_panel(order: Order) -> dict:
    """What the order page shows of its requests: each one's type and next step, and for one waiting for
    the goods, the shop's return address and the parcel form."""
    waiting = next((r for r in order.refunds if r.status == RefundRequestStatus.AWAITING_RETURN), None)
    return {
        "kind_label": aftersales.kind_label,
        "moves_money": aftersales.moves_money,
        "next_action": aftersales.next_action,
        "waiting": waiting,
        "address": returns.return_address(db.session) if waiting else None,
        "form": ReturnParcelForm(formdata=None) if waiting else None,
    }
