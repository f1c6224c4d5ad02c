"""Orders in the back office: the list with its filters and CSV export, the order page and its actions
(confirm or reject a transfer, ship, cancel, notes, refunds), bulk shipping from a CSV file, the
after-sales queue and money that has to be sent back."""

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

from flask import (
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import orders
from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.extensions import db, htmx
from app.forms import apply_service_error
from app.money import format_fen, yuan
from app.orders.forms import (
    AdminApproveRefundForm,
    AdminBulkShipForm,
    AdminCancelOrderForm,
    AdminCompleteRefundForm,
    AdminConfirmTransferForm,
    AdminRejectRefundForm,
    AdminRejectTransferForm,
    AdminSettlePaymentForm,
    AdminShipForm,
    AdminStaffNoteForm,
)
from app.orders.models import Order, OrderEvent, Refund, RefundLine
from app.payments import all_providers
from app.payments import services as payments
from app.payments.models import Payment
from app.request_input import strip_control_characters
from app.settings.services import get_shop_settings
from app.timeutil import utcnow
from app.webutil import csv_digits, csv_download, csv_line, csv_text, date_arg, page_arg, toast

PER_PAGE = 20
EXPORT_BATCH = 500
BULK_MAX_BYTES = 2 * 1024 * 1024
BULK_MAX_ROWS = 5000

# ---------------------------------------------------------------- words the pages use

ORDER_STATUS_LABELS = {
    "pending_payment": _l("Awaiting payment"),
    "awaiting_confirmation": _l("Transfer to confirm"),
    "paid": _l("To ship"),
    "shipped": _l("Shipped"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    "refunded": _l("Refunded"),
}
ORDER_STATUS_COLOURS = {
    "pending_payment": "secondary",
    "awaiting_confirmation": "warning",
    "paid": "primary",
    "shipped": "info",
    "completed": "success",
    "cancelled": "light",
    "refunded": "dark",
}
TAB_LABELS = {
    "all": _l("All"),
    "pending_payment": _l("Awaiting payment"),
    "awaiting_confirmation": _l("Transfer to confirm"),
    "paid": _l("To ship"),
    "shipped": _l("Shipped"),
    "completed": _l("Completed"),
    "cancelled": _l("Cancelled"),
    "after_sales": _l("After-sales open"),
    "refunded": _l("Refunded"),
}
ORDER_REFUND_LABELS = {
    "requested": _l("After-sales open"),
    "partial": _l("Partly refunded"),
    "full": _l("Fully refunded"),
}
REFUND_STATUS_LABELS = {
    "requested": _l("To handle"),
    "approved": _l("Approved, money to pay back"),
    "refunded": _l("Refunded"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Withdrawn by the buyer"),
}
REFUND_STATUS_COLOURS = {
    "requested": "danger",
    "approved": "warning",
    "refunded": "success",
    "rejected": "secondary",
    "cancelled": "light",
}
PAYMENT_STATUS_LABELS = {
    "pending": _l("Not paid"),
    "succeeded": _l("Payment succeeded"),
    "failed": _l("Payment failed"),
    "closed": _l("Closed"),
}
EVENT_LABELS = {
    "placed": _l("Order placed"),
    "paid": _l("Payment received"),
    "manual_payment_claimed": _l("Buyer says the transfer is made"),
    "manual_payment_rejected": _l("Transfer rejected"),
    "cancelled": _l("Order cancelled"),
    "shipped": _l("Shipped"),
    "completed": _l("Buyer confirmed receipt"),
    "auto_completed": _l("Receipt confirmed automatically"),
    "refund_requested": _l("After-sales request"),
    "refund_withdrawn": _l("After-sales request withdrawn"),
    "refund_rejected": _l("After-sales request rejected"),
    "refund_approved": _l("After-sales request approved"),
    "refunded": _l("Money refunded"),
    "payment_flagged": _l("Money arrived that has to go back"),
    "flagged_payment_returned": _l("Money sent back"),
    "staff_note": _l("Staff note"),
}
ACTOR_LABELS = {
    "shopper": _l("Buyer"),
    "staff": _l("Staff"),
    "system": _l("System"),
    "gateway": _l("Payment gateway"),
}


def provider_label(name: str | None) -> str:
    labels = {provider.name: provider.label for provider in all_providers()}
    return str(labels.get(name, name or "—"))


def event_note(event: OrderEvent) -> str:
    """Events that record money keep the amount in fen at the end of the note: show it as money."""
    if event.action in ("refunded", "payment_flagged"):
        head, _sep, tail = event.note.rpartition(" ")
        if head and tail.isdecimal():
            return f"{head} · {format_fen(int(tail))}"
    return event.note


def event_actor(event: OrderEvent) -> str:
    kind = str(ACTOR_LABELS.get(event.actor_kind, event.actor_kind))
    if event.actor is not None and event.actor_kind == "staff" and event.actor.role == "owner":
        kind = str(_l("Owner"))  # the back office acts as owner or staff: say which
    return f"{kind} {event.actor.display_name}" if event.actor is not None else kind


def local_time(moment) -> str:
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else ""


@bp.context_processor
def order_helpers():
    def alerts():
        # Only the layout's menu asks, once per page; fragments never do.
        if "order_alerts" not in g:
            can = current_user.is_authenticated and current_user.can(Permission.ORDERS)
            g.order_alerts = back_office_alerts(db.session) if can else None
        return g.order_alerts

    return {
        "order_alerts": alerts,
        "order_status_labels": ORDER_STATUS_LABELS,
        "order_status_colours": ORDER_STATUS_COLOURS,
        "order_refund_labels": ORDER_REFUND_LABELS,
        "refund_status_labels": REFUND_STATUS_LABELS,
        "refund_status_colours": REFUND_STATUS_COLOURS,
        "payment_status_labels": PAYMENT_STATUS_LABELS,
        "event_labels": EVENT_LABELS,
        "event_note": event_note,
        "event_actor": event_actor,
        "provider_label": provider_label,
        "next_step": orders.queries.next_step,
        "local_time": local_time,
        "now_utc": utcnow,
    }


# ---------------------------------------------------------------- what the shop can do now


def staff_actions(order: Order) -> set[str]:
    """The order's own actions (cancel, ship) and its payment's (confirm or reject a transfer)."""
    return orders.queries.staff_actions(order) | payments.staff_actions(order)


def refund_actions(refund: Refund) -> set[str]:
    return orders.queries.refund_actions(refund) | payments.refund_actions(refund)


@dataclass
class BackOfficeAlerts:
    to_ship: int
    awaiting_confirmation: int
    open_refunds: int
    flagged_payments: int


def back_office_alerts(session) -> BackOfficeAlerts:
    """What the menu and the dashboard flag: orders to handle, and money to send back."""
    counts = orders.queries.alert_counts() | payments.alert_counts()
    row = session.execute(select(*counts.values())).one()
    return BackOfficeAlerts(**{name: value or 0 for name, value in zip(counts, row, strict=True)})


# ---------------------------------------------------------------- the order list


def _list_filters() -> orders.queries.OrderFilters:
    tab = request.args.get("tab", "all")
    date_from, date_to = date_arg("from"), date_arg("to")
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    return orders.queries.OrderFilters(
        tab=tab if tab in orders.queries.ORDER_TABS else "all",
        q=" ".join(request.args.get("q", "").split())[:40],
        date_from=date_from,
        date_to=date_to,
    )


def _filter_args(filters: orders.queries.OrderFilters, **changes) -> dict:
    """The query string of the list as it is now (to build tab, export and page links)."""
    args = {
        "tab": filters.tab if filters.tab != "all" else None,
        "q": filters.q or None,
        "from": filters.date_from.isoformat() if filters.date_from else None,
        "to": filters.date_to.isoformat() if filters.date_to else None,
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value}


@bp.get("/orders", endpoint="orders")
@permission_required(Permission.ORDERS)
def orders_list():
    filters = _list_filters()
    context = {
        "page": db.paginate(
            orders.queries.admin_orders_query(filters), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "filters": filters,
        "filter_args": lambda **changes: _filter_args(filters, **changes),
        "filtering": bool(filters.q or filters.date_from or filters.date_to),
        "tabs": orders.queries.ORDER_TABS,
        "tab_labels": TAB_LABELS,
        "counts": orders.queries.admin_order_tab_counts(db.session, filters),
    }
    if htmx and htmx.target == "results" and not htmx.history_restore_request:
        return render_block("admin/orders.html", "results", **context)
    return render_template("admin/orders.html", **context)


# ---------------------------------------------------------------- CSV export

EXPORT_COLUMNS = (
    _l("Order No."),
    _l("Placed at"),
    _l("Paid at"),
    _l("Shipped at"),
    _l("Order status"),
    _l("After-sales"),
    _l("Buyer"),
    _l("Buyer mobile"),
    _l("Recipient"),
    _l("Recipient phone"),
    _l("Address"),
    _l("Product"),
    _l("Specification"),
    _l("Quantity"),
    _l("Unit price"),
    _l("Line paid"),
    _l("Units refunded"),
    _l("Line refunded"),
    _l("Shipping"),
    _l("Order total"),
    _l("Order refunded"),
    _l("Carrier"),
    _l("Tracking No."),
    _l("Buyer note"),
)


def _export_rows(order: Order) -> Iterator[list[str]]:
    status = str(ORDER_STATUS_LABELS.get(order.status, order.status))
    refund_state = str(ORDER_REFUND_LABELS.get(order.refund_status, ""))
    buyer = order.user
    for line in order.lines:
        yield [
            csv_digits(order.number),
            local_time(order.created_at),
            local_time(order.paid_at),
            local_time(order.shipped_at),
            status,
            refund_state,
            csv_text(buyer.display_name if buyer else ""),
            csv_digits(buyer.mobile if buyer else ""),
            csv_text(order.ship_recipient),
            csv_digits(order.ship_mobile),
            csv_text(f"{order.ship_region} {order.ship_detail}"),
            csv_text(line.title),
            csv_text(line.spec_text),
            str(line.qty),
            yuan(line.unit_fen),
            yuan(line.paid_fen),
            str(line.refunded_qty),
            yuan(line.refunded_fen),
            yuan(order.shipping_fen),
            yuan(order.total_fen),
            yuan(order.refunded_fen),
            csv_text(order.carrier or ""),
            csv_digits(order.tracking_no or ""),
            csv_text(order.buyer_note),
        ]


@bp.get("/orders/export.csv")
@permission_required(Permission.ORDERS)
def orders_export():
    """Every order the list shows now, one row per order line, streamed in batches (UTF-8 with a BOM so
    Excel shows Chinese)."""
    filters = _list_filters()
    query = orders.queries.admin_orders_query(filters).order_by(None).order_by(Order.id.desc())

    def generate() -> Iterator[str]:
        yield "\ufeff" + csv_line([str(column) for column in EXPORT_COLUMNS])
        last_id = None
        while True:
            batch_query = query.limit(EXPORT_BATCH)
            if last_id is not None:
                batch_query = batch_query.where(Order.id < last_id)
            batch = list(db.session.scalars(batch_query))
            if not batch:
                return
            chunk = io.StringIO()
            writer = csv.writer(chunk)
            for order in batch:
                writer.writerows(_export_rows(order))
                db.session.expunge(order)
            yield chunk.getvalue()
            last_id = batch[-1].id

    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(stream_with_context(generate()), f"orders-{stamp}.csv")


# ---------------------------------------------------------------- one order


def _order_or_404(number: str) -> Order:
    order = orders.queries.admin_order(db.session, number, selectinload(Order.payments))
    if order is None:
        abort(404, _("This order does not exist."))
    if orders.transitions.expire_if_due(db.session, order):
        # Looked at after its time: it is cancelled now, whatever happens next.
        db.session.commit()
        order = orders.queries.admin_order(db.session, number, selectinload(Order.payments))
    return order


def _refund_forms(refund: Refund, failed: dict | None = None) -> dict:
    forms = {
        "approve": AdminApproveRefundForm(refund_id=refund.id, formdata=None),
        "reject": AdminRejectRefundForm(refund_id=refund.id, formdata=None),
        "complete": AdminCompleteRefundForm(refund_id=refund.id, formdata=None),
    }
    if failed is not None:
        forms.update(failed)
    return forms


def _detail_context(order: Order, failed: dict | None = None, failed_refund: tuple | None = None) -> dict:
    """Everything the order page shows. `failed` holds a submitted form with its errors (by name);
    `failed_refund` = (refund id, {name: form}) for a refund form that was refused."""
    forms = {
        "ship": AdminShipForm(formdata=None),
        "confirm": AdminConfirmTransferForm(formdata=None),
        "reject_transfer": AdminRejectTransferForm(formdata=None),
        "cancel": AdminCancelOrderForm(formdata=None),
        "note": AdminStaffNoteForm(formdata=None),
    }
    forms.update(failed or {})
    refund_forms = {}
    for refund in order.refunds:
        extra = failed_refund[1] if failed_refund and failed_refund[0] == refund.id else None
        refund_forms[refund.id] = _refund_forms(refund, extra)
    return {
        "order": order,
        "forms": forms,
        "refund_forms": refund_forms,
        "actions": staff_actions(order),
        "refund_actions": refund_actions,
        "notes": [event for event in order.events if event.action == "staff_note"],
        "timeline": list(reversed(order.events)),
    }


@bp.get("/orders/<number>")
@permission_required(Permission.ORDERS)
def orders_detail(number: str):
    order = _order_or_404(number)
    return render_template("admin/order_detail.html", **_detail_context(order))


def _order_result(number: str, message: str, *, failed: dict | None = None, **extra) -> Response:
    """After an action: the order area again (htmx) or the page with a flash; a refusal is a 422 whose
    fragment shows the form with its message, and a toast."""
    level = "error" if failed is not None or extra.get("failed_refund") else "success"
    if not htmx:
        flash(message, level)
        return redirect(url_for("admin.orders_detail", number=number))
    db.session.expire_all()
    order = _order_or_404(number)
    html = render_block("admin/order_detail.html", "order_main", **_detail_context(order, failed, **extra))
    return toast(make_response(html, 422 if level == "error" else 200), message, level)


def _refused(form, error) -> str:
    db.session.rollback()
    apply_service_error(form, error)
    return str(error.message)


def _form_refused(form) -> str:
    """The first message of a form that did not validate."""
    for name, errors in form.errors.items():
        if errors and name.endswith("csrf_token"):
            return _("The page has expired. Please refresh it and try again.")
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("Please check the form.")


@bp.post("/orders/<number>/confirm-transfer")
@permission_required(Permission.ORDERS)
def orders_confirm_transfer(number: str):
    order = _order_or_404(number)
    form = AdminConfirmTransferForm()
    if not form.validate_on_submit():
        return _order_result(number, _form_refused(form), failed={"confirm": form})
    try:
        result = payments.confirm_manual_payment(db.session, order, actor=current_user)
    except payments.PaymentError as error:
        return _order_result(number, _refused(form, error), failed={"confirm": form})
    db.session.commit()
    if result.outcome == payments.Outcome.FLAGGED:
        message = _("The order could no longer take the money: it is listed under money to send back.")
    else:
        message = _("Transfer confirmed. The order is ready to ship.")
    return _order_result(number, message)


@bp.post("/orders/<number>/reject-transfer")
@permission_required(Permission.ORDERS)
def orders_reject_transfer(number: str):
    order = _order_or_404(number)
    form = AdminRejectTransferForm()
    if not form.validate_on_submit():
        return _order_result(number, _form_refused(form), failed={"reject_transfer": form})
    minutes = get_shop_settings(db.session).order_expire_minutes or 30
    try:
        payments.reject_manual_payment(
            db.session, order, actor=current_user, reason=form.reason.data, expire_minutes=minutes
        )
    except payments.PaymentError as error:
        return _order_result(number, _refused(form, error), failed={"reject_transfer": form})
    db.session.commit()
    return _order_result(
        number, _("Transfer rejected. The buyer can pay again within %(n)d minutes.", n=minutes)
    )


@bp.post("/orders/<number>/ship")
@permission_required(Permission.ORDERS)
def orders_ship(number: str):
    order = _order_or_404(number)
    form = AdminShipForm()
    if not form.validate_on_submit():
        return _order_result(number, _form_refused(form), failed={"ship": form})
    try:
        orders.transitions.ship_order(
            db.session, order, actor=current_user, carrier=form.carrier, tracking_no=form.tracking_no.data
        )
    except orders.events.OrderError as error:
        if error.field == "carrier":
            error.field = "carrier_other" if form.carrier_choice.data == "other" else "carrier_choice"
        return _order_result(number, _refused(form, error), failed={"ship": form})
    db.session.commit()
    return _order_result(
        number, _("Shipped with %(carrier)s %(no)s.", carrier=order.carrier, no=order.tracking_no)
    )


@bp.post("/orders/<number>/cancel")
@permission_required(Permission.ORDERS)
def orders_cancel(number: str):
    order = _order_or_404(number)
    form = AdminCancelOrderForm()
    if not form.validate_on_submit():
        return _order_result(number, _form_refused(form), failed={"cancel": form})
    reason = " ".join((form.reason.data or "").split()) or _("Cancelled by the shop")
    if not orders.transitions.cancel_order(db.session, order, actor=current_user, reason=reason):
        db.session.rollback()
        form.form_errors.append(_("Only unpaid orders can be cancelled."))
        return _order_result(number, _("Only unpaid orders can be cancelled."), failed={"cancel": form})
    db.session.commit()
    return _order_result(number, _("Order cancelled. Its stock is back on sale."))


@bp.post("/orders/<number>/note")
@permission_required(Permission.ORDERS)
def orders_note(number: str):
    order = _order_or_404(number)
    form = AdminStaffNoteForm()
    if not form.validate_on_submit():
        return _order_result(number, _form_refused(form), failed={"note": form})
    try:
        orders.queries.add_staff_note(db.session, order, actor=current_user, note=form.note.data)
    except orders.events.OrderError as error:
        return _order_result(number, _refused(form, error), failed={"note": form})
    db.session.commit()
    return _order_result(number, _("Note added."))


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


def _refund_result(refund_id: int, message: str, *, failed: dict | None = None) -> Response:
    """After a refund action: the refund card (queue), or the whole order area (order page)."""
    level = "error" if failed is not None else "success"
    if htmx and htmx.target == f"refund-{refund_id}":
        db.session.expire_all()
        refund = _refund_or_404(refund_id)
        html = render_template(
            "admin/_order_refund.html",
            refund=refund,
            forms=_refund_forms(refund, failed),
            actions=refund_actions(refund),
            in_queue=True,
        )
        return toast(make_response(html, 422 if failed is not None else 200), message, level)
    number = db.session.scalar(select(Order.number).join(Refund).where(Refund.id == refund_id))
    if htmx:
        failed_refund = (refund_id, failed) if failed is not None else None
        return _order_result(number, message, failed_refund=failed_refund)
    flash(message, level)
    return redirect(request.referrer or url_for("admin.orders_detail", number=number))


@bp.post("/refunds/<int:refund_id>/approve")
@permission_required(Permission.ORDERS)
def refunds_approve(refund_id: int):
    refund = _refund_or_404(refund_id)
    form = AdminApproveRefundForm(refund_id=refund.id)
    if not form.validate_on_submit():
        return _refund_result(refund_id, _form_refused(form), failed={"approve": form})
    try:
        orders.refunds.approve_refund(db.session, refund, actor=current_user, restock=form.restock.data)
    except orders.events.OrderError as error:
        return _refund_result(refund_id, _refused(form, error), failed={"approve": form})
    db.session.commit()
    if refund.status == "refunded":
        message = _("Refund of %(amount)s approved and paid back.", amount=format_fen(refund.amount_fen))
    else:
        message = _(
            "Refund of %(amount)s approved. Pay it back to the buyer, then mark it as refunded.",
            amount=format_fen(refund.amount_fen),
        )
    return _refund_result(refund_id, message)


@bp.post("/refunds/<int:refund_id>/reject")
@permission_required(Permission.ORDERS)
def refunds_reject(refund_id: int):
    refund = _refund_or_404(refund_id)
    form = AdminRejectRefundForm(refund_id=refund.id)
    if not form.validate_on_submit():
        return _refund_result(refund_id, _form_refused(form), failed={"reject": form})
    try:
        orders.refunds.reject_refund(db.session, refund, actor=current_user, reason=form.reject_reason.data)
    except orders.events.OrderError as error:
        return _refund_result(refund_id, _refused(form, error), failed={"reject": form})
    db.session.commit()
    return _refund_result(refund_id, _("After-sales request rejected."))


@bp.post("/refunds/<int:refund_id>/complete")
@permission_required(Permission.ORDERS)
def refunds_complete(refund_id: int):
    refund = _refund_or_404(refund_id)
    form = AdminCompleteRefundForm(refund_id=refund.id)
    if not form.validate_on_submit():
        return _refund_result(refund_id, _form_refused(form), failed={"complete": form})
    if "complete" not in refund_actions(refund):
        form.form_errors.append(_("This refund is not waiting to be paid back by hand."))
        return _refund_result(refund_id, form.form_errors[-1], failed={"complete": form})
    try:
        done = orders.refunds.complete_refund(db.session, refund, actor=current_user)
    except orders.events.OrderError as error:
        return _refund_result(refund_id, _refused(form, error), failed={"complete": form})
    if not done:
        db.session.rollback()
        form.form_errors.append(_("This request has already been handled."))
        return _refund_result(refund_id, form.form_errors[-1], failed={"complete": form})
    db.session.commit()
    return _refund_result(
        refund_id, _("Marked as refunded: %(amount)s.", amount=format_fen(refund.amount_fen))
    )


@bp.get("/refunds")
@permission_required(Permission.ORDERS)
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
        forms={refund.id: _refund_forms(refund) for refund in page.items},
        refund_actions=refund_actions,
    )


# ---------------------------------------------------------------- money to send back


def _payment_or_404(payment_id: int) -> Payment:
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        abort(404, _("This payment does not exist."))
    return payment


@bp.get("/payments")
@permission_required(Permission.ORDERS)
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
@permission_required(Permission.ORDERS)
def refunds_payments_settle(payment_id: int):
    payment = _payment_or_404(payment_id)
    form = AdminSettlePaymentForm(payment_id=payment.id)
    if form.validate_on_submit():
        try:
            payments.settle_flagged_payment(db.session, payment, actor=current_user, note=form.note.data)
        except payments.PaymentError as error:
            message = _refused(form, error)
        else:
            db.session.commit()
            message = None
    else:
        message = _form_refused(form)
    if not htmx:
        flash(message or _("Marked as returned."), "error" if message else "success")
        return redirect(url_for("admin.refunds_payments"))
    html = render_template(
        "admin/_order_payment_row.html", payment=payment, form=form, settled=message is None
    )
    if message:
        return toast(make_response(html, 422), message, "error")
    return toast(make_response(html), _("Marked as returned."))


# ---------------------------------------------------------------- bulk shipping from a CSV file

BULK_HEADERS = {"number": _l("Order No."), "carrier": _l("Carrier"), "tracking_no": _l("Tracking No.")}
# Other names merchants' files use for the same columns (Chinese and English, whatever the UI language).
BULK_HEADER_ALIASES = {
    "number": {"订单号", "订单编号", "Order number", "Order No."},
    "carrier": {"快递公司", "物流公司", "快递", "Carrier"},
    "tracking_no": {"快递单号", "运单号", "物流单号", "Tracking number", "Tracking No."},
}


class BulkFileError(ValueError):
    pass


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes), else GBK as Excel on a Chinese Windows saves it."""
    if raw.startswith(b"PK\x03\x04") or b"\x00" in raw[:4096]:
        raise BulkFileError(_('This is not a CSV file. In Excel, use "Save as" and choose CSV.'))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BulkFileError(_("The file's text encoding is not readable. Save it as CSV (UTF-8) and try again."))


def read_bulk_ship_file(upload) -> list[tuple[str, str, str]]:
    """The (order number, carrier, tracking number) rows of an uploaded CSV, or a BulkFileError."""
    if upload is None or not getattr(upload, "filename", ""):
        raise BulkFileError(_("Please choose a CSV file."))
    if not upload.filename.lower().endswith((".csv", ".txt")):
        raise BulkFileError(_('This is not a CSV file. In Excel, use "Save as" and choose CSV.'))
    raw = upload.stream.read(BULK_MAX_BYTES + 1)
    if len(raw) > BULK_MAX_BYTES:
        raise BulkFileError(_("The file is larger than 2 MB. Please split it into smaller files."))
    text = strip_control_characters(_decode(raw))  # like every form field (a NUL deep in a cell, say)
    if not text.strip():
        raise BulkFileError(_("The file is empty."))
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        table = [
            row
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            if any(c.strip() for c in row)
        ]
    except csv.Error:
        raise BulkFileError(_("The file could not be read as CSV. Please check it and try again.")) from None
    if not table:
        raise BulkFileError(_("The file is empty."))
    header = [cell.strip().strip("\ufeff").strip() for cell in table[0]]
    index, missing = {}, []
    for key, label in BULK_HEADERS.items():
        names = BULK_HEADER_ALIASES[key] | {str(label)}
        position = next((i for i, cell in enumerate(header) if cell in names), None)
        if position is None:
            missing.append(str(label))
        else:
            index[key] = position
    if missing:
        raise BulkFileError(
            _(
                "The first row must name the columns %(columns)s (missing: %(missing)s).",
                columns="、".join(str(label) for label in BULK_HEADERS.values()),
                missing="、".join(missing),
            )
        )
    rows = table[1:]
    if not rows:
        raise BulkFileError(_("The file has a header but no orders."))
    if len(rows) > BULK_MAX_ROWS:
        raise BulkFileError(_("At most %(n)d orders per file. Please split it.", n=BULK_MAX_ROWS))

    def cell(row, key):
        position = index[key]
        return row[position].strip() if position < len(row) else ""

    return [(cell(row, "number"), cell(row, "carrier"), cell(row, "tracking_no")) for row in rows]


@bp.route("/orders/bulk-ship", methods=["GET", "POST"])
@permission_required(Permission.ORDERS)
def orders_bulk_ship():
    form = AdminBulkShipForm()
    results = None
    error = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = _form_refused(form), 422
        else:
            try:
                rows = read_bulk_ship_file(form.file.data)
            except BulkFileError as refusal:
                error, status = str(refusal), 422
            else:
                results = orders.queries.ship_orders_in_bulk(db.session, rows, actor=current_user)
                db.session.commit()
    context = {
        "form": form,
        "results": results,
        "error": error,
        "shipped": sum(1 for result in results if result.ok) if results else 0,
        "failed": [result for result in results if not result.ok] if results else [],
        "bulk_columns": "、".join(str(label) for label in BULK_HEADERS.values()),
        "max_rows": BULK_MAX_ROWS,
        "report_json": json.dumps(
            [[r.row, r.number, r.carrier, r.tracking_no, r.ok, r.message] for r in results or []],
            ensure_ascii=False,
        ),
    }
    if htmx and htmx.target == "bulk-result":
        response = make_response(
            render_block("admin/orders_bulk_ship.html", "bulk_result", **context), status
        )
        if error:
            toast(response, error, "error")
        return response
    return make_response(render_template("admin/orders_bulk_ship.html", **context), status)


REPORT_COLUMNS = (
    _l("Row"),
    _l("Order No."),
    _l("Carrier"),
    _l("Tracking No."),
    _l("Result"),
    _l("Why it failed"),
)


@bp.post("/orders/bulk-ship/report.csv")
@permission_required(Permission.ORDERS)
def orders_bulk_ship_report():
    """The result report of a bulk upload as a CSV file. The page hands the rows back (nothing is kept on
    the server, so any host can answer)."""
    try:
        rows = json.loads(request.form.get("report", ""))
        if not isinstance(rows, list) or len(rows) > BULK_MAX_ROWS:
            raise ValueError
        lines = [
            [
                str(int(row_no)),
                csv_digits(number),
                csv_text(carrier),
                csv_digits(tracking),
                _("Succeeded") if ok is True else _("Failed"),
                csv_text(message),
            ]
            for row_no, number, carrier, tracking, ok, message in rows
        ]
    except (ValueError, TypeError, OverflowError, RecursionError):  # not a report this page made
        abort(400)
    body = "\ufeff" + csv_line([str(c) for c in REPORT_COLUMNS]) + "".join(csv_line(line) for line in lines)
    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(body, f"bulk-ship-report-{stamp}.csv")


@bp.get("/orders/bulk-ship/template.csv")
@permission_required(Permission.ORDERS)
def orders_bulk_ship_template():
    """The orders waiting to be shipped, ready for the carrier and tracking number to be filled in."""
    query = orders.queries.admin_orders_query(orders.queries.OrderFilters(tab="paid"))
    columns = [
        *(str(label) for label in BULK_HEADERS.values()),
        str(_l("Recipient")),
        str(_l("Recipient phone")),
        str(_l("Address")),
        str(_l("Products")),
    ]
    body = ["\ufeff" + csv_line(columns)]
    for order in db.session.scalars(query.limit(BULK_MAX_ROWS)):
        if "ship" not in staff_actions(order):
            continue
        products = "；".join(
            f"{line.title} {line.spec_text} ×{line.qty}".replace("  ", " ") for line in order.lines
        )
        body.append(
            csv_line(
                [
                    csv_digits(order.number),
                    "",
                    "",
                    csv_text(order.ship_recipient),
                    csv_digits(order.ship_mobile),
                    csv_text(f"{order.ship_region} {order.ship_detail}"),
                    csv_text(products),
                ]
            )
        )
    stamp = format_datetime(format="yyyyMMdd")
    return csv_download("".join(body), f"to-ship-{stamp}.csv")
