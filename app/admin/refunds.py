"""After-sales in the back office: approving, rejecting and paying back refunds (on the order page and in
the queue), and money that arrived for an order that could no longer take it and has to be sent back."""

from flask import Response, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import orders
from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.orders import order_result, refund_actions, refund_forms
from app.admin.viewutil import PER_PAGE, first_error, get_or_404, record_action, service_refused
from app.extensions import db, htmx
from app.money import format_fen
from app.orders.forms import (
    AdminApproveRefundForm,
    AdminCompleteRefundForm,
    AdminRejectRefundForm,
    AdminSettlePaymentForm,
)
from app.orders.models import Order, Refund, RefundLine
from app.payments import services as payments
from app.payments.models import Payment
from app.webutil import counts_changed, page_arg, referrer_path, toast

# ---------------------------------------------------------------- refunds


def _refund_or_404(refund_id: int) -> Refund:
    refund = db.session.scalar(
        select(Refund)
        .where(Refund.id == refund_id)
        .options(
            selectinload(Refund.lines).selectinload(RefundLine.order_line),
            selectinload(Refund.order).selectinload(Order.payments),
            selectinload(Refund.order).selectinload(Order.user),
        )
    )
    if refund is None:
        abort(404, _("This after-sales request does not exist."))
    return refund


def _refund_result(refund: Refund, message: str, failed: dict | None = None) -> Response:
    """After a refund action: the refund card (queue), or the whole order area (order page)."""
    refund_id = refund.id
    level = "error" if failed is not None else "success"
    # The refund's own card for the queue, and for staff who may pay refunds but not see orders (the order
    # area shows the buyer's address and mobile).
    if htmx and (htmx.target == f"refund-{refund_id}" or not current_user.can(Permission.ORDERS)):
        db.session.expire_all()
        refund = _refund_or_404(refund_id)
        html = render_template(
            "admin/_order_refund.html",
            refund=refund,
            forms=refund_forms(refund, failed),
            actions=refund_actions(refund),
            in_queue=True,
        )
        return toast(make_response(html, 422 if failed is not None else 200), message, level)
    number = db.session.scalar(select(Order.number).join(Refund).where(Refund.id == refund_id))
    if htmx:
        failed_refund = (refund_id, failed) if failed is not None else None
        return order_result(number, message, failed_refund=failed_refund)
    flash(message, level)
    if not current_user.can(Permission.ORDERS):
        return redirect(url_for("admin.refunds"))
    return redirect(referrer_path(url_for("admin.orders_detail", number=number)))


# The buttons on a refund; a refused form shows again as the refund's forms[name].
refund_action = record_action(
    Permission.ORDERS, _refund_or_404, _refund_result, lambda refund: {"refund_id": refund.id}
)


@bp.post("/refunds/<int:refund_id>/approve")
@refund_action("approve", AdminApproveRefundForm, needs=Permission.MONEY)
def refunds_approve(refund: Refund, form: AdminApproveRefundForm) -> str:
    orders.refunds.approve_refund(db.session, refund, actor=current_user, restock=form.restock.data)
    if refund.status == "refunded":
        return _("Refund of %(amount)s approved and paid back.", amount=format_fen(refund.amount_fen))
    return _(
        "Refund of %(amount)s approved. Pay it back to the buyer, then mark it as refunded.",
        amount=format_fen(refund.amount_fen),
    )


@bp.post("/refunds/<int:refund_id>/reject")
@refund_action("reject", AdminRejectRefundForm)
def refunds_reject(refund: Refund, form: AdminRejectRefundForm) -> str:
    orders.refunds.reject_refund(db.session, refund, actor=current_user, reason=form.reject_reason.data)
    return _("After-sales request rejected.")


@bp.post("/refunds/<int:refund_id>/complete")
@refund_action("complete", AdminCompleteRefundForm, needs=Permission.MONEY)
def refunds_complete(refund: Refund, form: AdminCompleteRefundForm) -> str:
    if "complete" not in refund_actions(refund):
        raise orders.events.OrderError(_("This refund is not waiting to be paid back by hand."))
    if not orders.refunds.complete_refund(db.session, refund, actor=current_user):
        raise orders.events.OrderError(_("This request has already been handled."))
    return _("Marked as refunded: %(amount)s.", amount=format_fen(refund.amount_fen))


@bp.get("/refunds")
@permission_required(Permission.ORDERS, Permission.MONEY)
def refunds():
    show = request.args.get("show", "open")
    open_only = show != "all"
    page = db.paginate(
        orders.queries.admin_refunds_query(
            selectinload(Refund.order).selectinload(Order.payments), open_only=open_only
        ),
        page=page_arg(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return render_template(
        "admin/refunds.html",
        page=page,
        show="open" if open_only else "all",
        forms={refund.id: refund_forms(refund) for refund in page.items},
        refund_actions=refund_actions,
    )


# ---------------------------------------------------------------- money to send back


@bp.get("/payments")
@permission_required(Permission.ORDERS, Permission.MONEY)
def refunds_payments():
    flagged = payments.flagged_payments(db.session)
    return render_template(
        "admin/payments.html",
        flagged=flagged,
        forms={
            payment.id: AdminSettlePaymentForm(payment_id=payment.id, formdata=None) for payment in flagged
        },
    )


@bp.post("/payments/<int:payment_id>/settle")
@permission_required(Permission.MONEY)
def refunds_payments_settle(payment_id: int):
    payment = get_or_404(Payment, payment_id, _("This payment does not exist."))
    form = AdminSettlePaymentForm(payment_id=payment.id)
    if form.validate_on_submit():
        try:
            payments.settle_flagged_payment(db.session, payment, actor=current_user, note=form.note.data)
        except payments.PaymentError as error:
            message = service_refused(form, error)
        else:
            db.session.commit()
            message = None
    else:
        message = first_error(form)
    if not htmx:
        flash(message or _("Marked as returned."), "error" if message else "success")
        return redirect(url_for("admin.refunds_payments"))
    html = render_template(
        "admin/_order_payment_row.html", payment=payment, form=form, settled=message is None
    )
    if message:
        return counts_changed(toast(make_response(html, 422), message, "error"))
    return counts_changed(toast(make_response(html), _("Marked as returned.")))
