"""退货退款 and 换货 in the back office: approving the return, confirming (or refusing) the goods that came
back, shipping an exchange's replacement, and the request's photos (staff only, never cached)."""

from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.refunds import _refund_or_404, refund_action
from app.extensions import db
from app.media import private_image_response
from app.money import format_fen
from app.orders import aftersales, exchanges, returns
from app.orders.forms import (
    AdminApproveReturnForm,
    AdminReceiveReturnForm,
    AdminRefundInsteadForm,
    AdminRefuseReturnForm,
    AdminShipReplacementForm,
)
from app.orders.models import AfterSalesKind, Refund


@bp.post("/refunds/<int:refund_id>/approve-return")
@refund_action("approve_return", AdminApproveReturnForm)
def refunds_approve_return(refund: Refund, form: AdminApproveReturnForm) -> str:
    returns.approve_return(db.session, refund, actor=current_user)
    return _("Return approved: the buyer now sees the return address and sends the goods back.")


@bp.post("/refunds/<int:refund_id>/receive")
@refund_action("receive", AdminReceiveReturnForm, needs=Permission.MONEY)
def refunds_receive(refund: Refund, form: AdminReceiveReturnForm) -> str:
    returns.confirm_return_received(db.session, refund, actor=current_user, restock=form.restock.data)
    if refund.kind == AfterSalesKind.EXCHANGE:
        return _("Returned goods received: now ship the replacement.")
    if refund.status == "refunded":
        return _("Returned goods received; %(amount)s paid back.", amount=format_fen(refund.amount_fen))
    return _(
        "Returned goods received. Pay %(amount)s back to the buyer, then mark it as refunded.",
        amount=format_fen(refund.amount_fen),
    )


@bp.post("/refunds/<int:refund_id>/refuse")
@refund_action("refuse", AdminRefuseReturnForm)
def refunds_refuse(refund: Refund, form: AdminRefuseReturnForm) -> str:
    returns.refuse_returned_goods(db.session, refund, actor=current_user, reason=form.reject_reason.data)
    return _("Returned goods refused; the request is rejected.")


@bp.post("/refunds/<int:refund_id>/ship-replacement")
@refund_action("ship_replacement", AdminShipReplacementForm)
def refunds_ship_replacement(refund: Refund, form: AdminShipReplacementForm) -> str:
    exchanges.ship_replacement(
        db.session,
        refund,
        actor=current_user,
        sku_id=form.sku_id.data,
        carrier_code=form.carrier_code.data,
        tracking_no=form.tracking_no.data,
    )
    return _("Replacement shipped: the exchange is done.")


@bp.post("/refunds/<int:refund_id>/refund-instead")
@refund_action("refund_instead", AdminRefundInsteadForm, needs=Permission.MONEY)
def refunds_refund_instead(refund: Refund, form: AdminRefundInsteadForm) -> str:
    exchanges.refund_instead(db.session, refund, actor=current_user)
    if refund.status == "refunded":
        return _("No replacement: %(amount)s paid back instead.", amount=format_fen(refund.amount_fen))
    return _(
        "No replacement: pay %(amount)s back to the buyer, then mark it as refunded.",
        amount=format_fen(refund.amount_fen),
    )


@bp.get("/refunds/<int:refund_id>/photos/<int:index>")
@permission_required(Permission.ORDERS)
def refunds_photo(refund_id: int, index: int):
    keys = aftersales.photo_keys(_refund_or_404(refund_id))
    return private_image_response(keys[index] if 0 <= index < len(keys) else None)
