"""Orders in the back office: the words the order pages use, the list with its filters and CSV export, and
the order page with its actions (confirm or reject a transfer, ship, cancel, notes). Refunds and money to
send back are in app.admin.refunds, bulk shipping in app.admin.bulk_ship."""

from collections.abc import Iterator
from dataclasses import dataclass

from flask import Response, abort, g, render_template, request, url_for
from flask_babel import format_timedelta, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app import orders
from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.aftersales_forms import aftersales_forms
from app.admin.viewutil import (
    PER_PAGE,
    action_answer,
    badges,
    csv_rows,
    list_page,
    local_time,
    newest_first_batches,
    record_action,
    streamed_csv,
)
from app.extensions import db
from app.marketing import group_admin
from app.money import format_fen, yuan
from app.orders.forms import (
    AdminApproveRefundForm,
    AdminCancelOrderForm,
    AdminCompleteRefundForm,
    AdminConfirmTransferForm,
    AdminRejectRefundForm,
    AdminRejectTransferForm,
    AdminShipForm,
    AdminStaffNoteForm,
)
from app.orders.models import Order, OrderEvent, Refund
from app.payments import all_providers
from app.payments import services as payments
from app.settings.services import get_shop_settings
from app.timeutil import utcnow
from app.webutil import csv_digits, csv_text, date_arg, page_arg

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
ORDER_REFUND_LABELS = {
    "requested": _l("After-sales open"),
    "partial": _l("Partly refunded"),
    "full": _l("Fully refunded"),
}
# A status's tab says the status; "after_sales" lists the orders with an open request.
TAB_LABELS = {"all": _l("All"), **ORDER_STATUS_LABELS, "after_sales": ORDER_REFUND_LABELS["requested"]}
REFUND_STATUS_LABELS = {
    "requested": _l("To handle"),
    "approved": _l("Approved, money to pay back"),
    "refunded": _l("Refunded"),
    "rejected": _l("Rejected"),
    "cancelled": _l("Withdrawn by the buyer"),
    "awaiting_return": _l("Waiting for the return parcel"),
    "returning": _l("Goods on their way back"),
    "received": _l("Goods back, replacement to ship"),
    "exchanged": _l("Exchanged"),
    "closed": _l("Closed: never sent back"),
}
REFUND_STATUS_COLOURS = {
    "awaiting_return": "info",
    "returning": "danger",
    "received": "danger",
    "exchanged": "success",
    "closed": "secondary",
    "requested": "danger",
    "approved": "warning",
    "refunded": "success",
    "rejected": "secondary",
    "cancelled": "light",
}
PAYMENT_STATUS_LABELS, PAYMENT_STATUS_COLOURS = badges(
    pending=(_l("Not paid"), "light border"),
    succeeded=(_l("Payment succeeded"), "success"),
    failed=(_l("Payment failed"), "danger"),
    closed=(_l("Closed"), "light border"),
)
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
    "return_approved": _l("Return approved"),
    "return_shipped": _l("Buyer sent the goods back"),
    "return_received": _l("Returned goods received"),
    "return_refused": _l("Returned goods refused"),
    "replacement_shipped": _l("Replacement shipped"),
    "exchange_refunded": _l("No replacement: refunded instead"),
    "aftersales_closed": _l("After-sales request closed (not sent back in time)"),
    "payment_flagged": _l("Money arrived that has to go back"),
    "flagged_payment_returned": _l("Money sent back"),
    "staff_note": _l("Staff note"),
    "group_seat_taken": _l("Took a place in its group buy"),
    "group_seat_missed": _l("Paid, but its group buy had no place for it: refunded in full"),
    "signed_for": _l("Signed for, says the carrier"),
    "parcel_returned": _l("Parcel returned or refused, says the carrier"),
    "parcel_problem": _l("Delivery problem, says the carrier"),
}
# Why a paid 拼团 order is not shipped yet (marketing.group_admin.held_orders).
GROUP_HOLD_LABELS = {
    "waiting": _l("Waiting for its group"),
    "refunding": _l("Group failed, refunding"),
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
    """Events that record money keep the amount in fen at the end of the note: show it as money. A 拼团
    seat's note is "<group id> <seats>/<size>" (or "<group id> <state>" when no seat was left)."""
    if event.action in ("group_seat_taken", "group_seat_missed"):
        group_id, _sep, seats = event.note.partition(" ")
        words = _("Group #%(id)s", id=group_id)
        return f"{words} · {seats}" if event.action == "group_seat_taken" else words
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
        "aftersales_kind_label": orders.aftersales.kind_label,
        "aftersales_next_action": orders.aftersales.next_action,
        "aftersales_moves_money": orders.aftersales.moves_money,
        "payment_status_labels": PAYMENT_STATUS_LABELS,
        "payment_status_colours": PAYMENT_STATUS_COLOURS,
        "event_labels": EVENT_LABELS,
        "group_hold_labels": GROUP_HOLD_LABELS,
        "event_note": event_note,
        "event_actor": event_actor,
        "provider_label": provider_label,
        "next_step": orders.queries.next_step,
        "local_time": local_time,
        "now_utc": utcnow,
    }


# ---------------------------------------------------------------- what the shop can do now


def staff_actions(order: Order, held: dict[int, str] | None = None) -> set[str]:
    """The order's own actions (cancel, ship) and its payment's (confirm or reject a transfer); no shipping
    for a 拼团 order its group holds back (`held`: group_admin.held_orders of a batch, else asked here)."""
    actions = orders.queries.staff_actions(order) | payments.staff_actions(order)
    if "ship" in actions:
        held = group_admin.held_orders(db.session, [order]) if held is None else held
        if order.id in held:
            actions.discard("ship")
    return actions


def list_step(order: Order, held: dict[int, str]) -> str:
    """The order list's next step, except that a 拼团 order its group holds back is only viewed."""
    return "view" if order.id in held else orders.queries.next_step(order)


def refund_actions(refund: Refund) -> set[str]:
    return orders.queries.refund_actions(refund) | payments.refund_actions(refund)


@dataclass
class BackOfficeAlerts:
    to_ship: int
    awaiting_confirmation: int
    open_refunds: int
    flagged_payments: int
    parcels_held: int = 0  # shipped parcels being returned, refused or stuck (tracking.HELD_STATES)


def back_office_alerts(session) -> BackOfficeAlerts:
    """What the menu and the dashboard flag: orders to handle, and money to send back."""
    counts = orders.queries.alert_counts() | payments.alert_counts()
    # A paid 拼团 order its group holds back (待成团, or going back) is not the merchant's to ship.
    counts["held_by_groups"] = group_admin.held_paid_count()
    row = session.execute(select(*counts.values())).one()
    found = {name: value or 0 for name, value in zip(counts, row, strict=True)}
    found["to_ship"] -= found.pop("held_by_groups")
    return BackOfficeAlerts(**found)


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
    page = db.paginate(
        orders.queries.admin_orders_query(filters), page=page_arg(), per_page=PER_PAGE, error_out=False
    )
    held = group_admin.held_orders(db.session, page.items)
    context = {
        "page": page,
        "group_holds": held,
        "list_step": lambda order: list_step(order, held),
        "filters": filters,
        "filter_args": lambda **changes: _filter_args(filters, **changes),
        "filtering": bool(filters.q or filters.date_from or filters.date_to),
        "tabs": orders.queries.ORDER_TABS,
        "tab_labels": TAB_LABELS,
        "counts": orders.queries.admin_order_tab_counts(db.session, filters),
    }
    return list_page("admin/orders.html", **context)


# ---------------------------------------------------------------- CSV export


# The export's columns: each one's label, and its cell for an order line (one row per line).
EXPORT_COLUMNS = (
    (_l("Order No."), lambda order, line: csv_digits(order.number)),
    (_l("Placed at"), lambda order, line: local_time(order.created_at)),
    (_l("Paid at"), lambda order, line: local_time(order.paid_at)),
    (_l("Shipped at"), lambda order, line: local_time(order.shipped_at)),
    (_l("Order status"), lambda order, line: str(ORDER_STATUS_LABELS.get(order.status, order.status))),
    (_l("After-sales"), lambda order, line: str(ORDER_REFUND_LABELS.get(order.refund_status, ""))),
    (_l("Buyer"), lambda order, line: csv_text(order.user.display_name if order.user else "")),
    (_l("Buyer mobile"), lambda order, line: csv_digits(order.user.mobile if order.user else "")),
    (_l("Recipient"), lambda order, line: csv_text(order.ship_recipient)),
    (_l("Recipient phone"), lambda order, line: csv_digits(order.ship_mobile)),
    (_l("Address"), lambda order, line: csv_text(f"{order.ship_region} {order.ship_detail}")),
    (_l("Product"), lambda order, line: csv_text(line.title)),
    (_l("Specification"), lambda order, line: csv_text(line.spec_text)),
    (_l("Quantity"), lambda order, line: str(line.qty)),
    (_l("Unit price"), lambda order, line: yuan(line.unit_fen)),
    (_l("Line paid"), lambda order, line: yuan(line.paid_fen)),
    (_l("Units refunded"), lambda order, line: str(line.refunded_qty)),
    (_l("Line refunded"), lambda order, line: yuan(line.refunded_fen)),
    (_l("Shipping"), lambda order, line: yuan(order.shipping_fen)),
    (_l("Order total"), lambda order, line: yuan(order.total_fen)),
    (_l("Order refunded"), lambda order, line: yuan(order.refunded_fen)),
    (_l("Carrier"), lambda order, line: csv_text(order.carrier or "")),
    (_l("Tracking No."), lambda order, line: csv_digits(order.tracking_no or "")),
    (_l("Buyer note"), lambda order, line: csv_text(order.buyer_note)),
)


@bp.get("/orders/export.csv")
@permission_required(Permission.ORDERS)
def orders_export():
    """Every order the list shows now, one row per order line, streamed in batches (UTF-8 with a BOM so
    Excel shows Chinese)."""
    filters = _list_filters()
    query = orders.queries.admin_orders_query(filters).order_by(None).order_by(Order.id.desc())

    def chunks() -> Iterator[str]:
        for batch in newest_first_batches(query, Order.id):
            rows = [(order, line) for order in batch for line in order.lines]
            chunk = csv_rows(EXPORT_COLUMNS, rows)
            for order in batch:
                db.session.expunge(order)
            yield chunk

    return streamed_csv("orders", EXPORT_COLUMNS, chunks())


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


def refund_forms(refund: Refund, failed: dict | None = None) -> dict:
    """A refund's forms (on the order page and in the after-sales queue); `failed` holds a refused one."""
    forms = {
        "approve": AdminApproveRefundForm(refund_id=refund.id, formdata=None),
        "reject": AdminRejectRefundForm(refund_id=refund.id, formdata=None),
        "complete": AdminCompleteRefundForm(refund_id=refund.id, formdata=None),
        **aftersales_forms(db.session, refund),
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
    forms_by_refund = {}
    for refund in order.refunds:
        extra = failed_refund[1] if failed_refund and failed_refund[0] == refund.id else None
        forms_by_refund[refund.id] = refund_forms(refund, extra)
    held = group_admin.held_orders(db.session, [order])
    return {
        "order": order,
        "forms": forms,
        "refund_forms": forms_by_refund,
        "group_hold": held.get(order.id),
        "actions": staff_actions(order, held),
        "refund_actions": refund_actions,
        "notes": [event for event in order.events if event.action == "staff_note"],
        "timeline": list(reversed(order.events)),
        **_tracking_context(order),
    }


def _tracking_context(order: Order) -> dict:
    view = orders.tracking.tracking_view(db.session, order)
    age = ""
    if view is not None and view.fetched_at is not None:
        age = format_timedelta(view.fetched_at - utcnow(), threshold=1, add_direction=True)
    return {"tracking": view, "tracking_age": age}


@bp.get("/orders/<number>/tracking")
@permission_required(Permission.ORDERS)
def orders_tracking(number: str):
    """The parcel card, asked for by the order page when its copy is old (快递100 is asked briefly here)."""
    order = _order_or_404(number)
    orders.tracking.refresh_for_page(db.session, order)
    context = _tracking_context(order)
    if context["tracking"] is None:
        abort(404)
    context["tracking"].stale = False
    return render_template("admin/_order_tracking.html", order=order, **context)


@bp.get("/orders/<number>")
@permission_required(Permission.ORDERS)
def orders_detail(number: str):
    order = _order_or_404(number)
    return render_template("admin/order_detail.html", **_detail_context(order))


def order_result(number: str, message: str, *, failed: dict | None = None, **extra) -> Response:
    """After an action: the order area again (htmx) or the page with a flash; a refusal is a 422 whose
    fragment shows the form with its message, and a toast."""

    def order_main() -> str:
        order = _order_or_404(number)
        return render_block(
            "admin/order_detail.html", "order_main", **_detail_context(order, failed, **extra)
        )

    refused = failed is not None or bool(extra.get("failed_refund"))
    return action_answer(message, refused, url_for("admin.orders_detail", number=number), order_main)


# The buttons on the order page; a refused form shows again as the page's forms[name].
order_action = record_action(
    Permission.ORDERS,
    _order_or_404,
    lambda order, message, failed: order_result(order.number, message, failed=failed),
)


@bp.post("/orders/<number>/confirm-transfer")
@order_action("confirm", AdminConfirmTransferForm)
def orders_confirm_transfer(order: Order, form: AdminConfirmTransferForm) -> str:
    result = payments.confirm_manual_payment(db.session, order, actor=current_user)
    if result.outcome == payments.Outcome.FLAGGED:
        return _("The order could no longer take the money: it is listed under money to send back.")
    return _("Transfer confirmed. The order is ready to ship.")


@bp.post("/orders/<number>/reject-transfer")
@order_action("reject_transfer", AdminRejectTransferForm)
def orders_reject_transfer(order: Order, form: AdminRejectTransferForm) -> str:
    minutes = get_shop_settings(db.session).order_expire_minutes or 30
    payments.reject_manual_payment(
        db.session, order, actor=current_user, reason=form.reason.data, expire_minutes=minutes
    )
    return ngettext(
        "Transfer rejected. The buyer can pay again within %(num)d minute.",
        "Transfer rejected. The buyer can pay again within %(num)d minutes.",
        minutes,
    )


@bp.post("/orders/<number>/ship")
@order_action("ship", AdminShipForm)
def orders_ship(order: Order, form: AdminShipForm) -> str:
    try:
        orders.transitions.ship_order(
            db.session,
            order,
            actor=current_user,
            carrier=form.carrier,
            carrier_code=form.carrier_code,
            tracking_no=form.tracking_no.data,
        )
    except orders.events.OrderError as error:
        if error.field == "carrier":
            error.field = "carrier_other" if form.carrier_choice.data == "other" else "carrier_choice"
        raise
    return _("Shipped with %(carrier)s %(no)s.", carrier=order.carrier, no=order.tracking_no)


@bp.post("/orders/<number>/cancel")
@order_action("cancel", AdminCancelOrderForm)
def orders_cancel(order: Order, form: AdminCancelOrderForm) -> str:
    reason = " ".join((form.reason.data or "").split()) or _("Cancelled by the shop")
    if not orders.transitions.cancel_order(db.session, order, actor=current_user, reason=reason):
        raise orders.events.OrderError(_("Only unpaid orders can be cancelled."))
    return _("Order cancelled. Its stock is back on sale.")


@bp.post("/orders/<number>/note")
@order_action("note", AdminStaffNoteForm)
def orders_note(order: Order, form: AdminStaffNoteForm) -> str:
    orders.queries.add_staff_note(db.session, order, actor=current_user, note=form.note.data)
    return _("Note added.")
