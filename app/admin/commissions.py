"""Commission in the back office: the ledger with its filters and CSV export, running the settle and
audit jobs by hand, orders whose commission a fraud flag holds, and one order's commission explained, with
the merchant's hand on it (void, clear the flags)."""

from collections.abc import Iterator

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.confirm_texts import void_confirm
from app.admin.distribution import COMMISSION_STATUS_LABELS, ENTRY_KIND_LABELS, JOB_LABELS, JOBS
from app.admin.viewutil import (
    PER_PAGE,
    action_answer,
    csv_rows,
    get_or_404,
    is_fragment,
    local_time,
    newest_first_batches,
    record_action,
    streamed_csv,
    text_arg,
)
from app.db_types import parse_id
from app.distribution import admin_queries as queries
from app.distribution import explain as explaining
from app.distribution import ledger
from app.distribution.admin_forms import VoidCommissionForm
from app.distribution.cli import dividends_work, settle_work
from app.distribution.models import (
    Commission,
    CommissionExplanation,
    CommissionStatus,
    Distributor,
    LedgerEntry,
)
from app.extensions import db, htmx
from app.forms import ActionForm
from app.jobs import JobAlreadyRunning, describe_counts, last_runs, run_job
from app.money import format_fen, yuan
from app.orders.models import Order
from app.webutil import csv_digits, csv_text, date_arg, page_arg, toast

# ---------------------------------------------------------------- the commission ledger


def _ledger_filters() -> queries.LedgerFilters:
    date_from, date_to = date_arg("from"), date_arg("to")
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    distributor = request.args.get("distributor_id", "")
    kind, status = request.args.get("kind", ""), request.args.get("status", "")
    return queries.LedgerFilters(
        q=text_arg("q"),
        distributor_id=parse_id(distributor),
        order=text_arg("order", 20),
        kind=kind if kind in ENTRY_KIND_LABELS else "",
        status=status if status in COMMISSION_STATUS_LABELS else "",
        date_from=date_from,
        date_to=date_to,
    )


def _ledger_args(filters: queries.LedgerFilters, **changes) -> dict:
    args = {
        "q": filters.q,
        "distributor_id": filters.distributor_id,
        "order": filters.order,
        "kind": filters.kind,
        "status": filters.status,
        "from": filters.date_from.isoformat() if filters.date_from else None,
        "to": filters.date_to.isoformat() if filters.date_to else None,
    }
    args.update(changes)
    return {key: value for key, value in args.items() if value}


@bp.get("/distribution/ledger")
@permission_required(Permission.DISTRIBUTION)
def distribution_ledger():
    filters = _ledger_filters()
    page = db.paginate(queries.ledger_query(filters), page=page_arg(), per_page=PER_PAGE, error_out=False)
    context = {
        "page": page,
        "filters": filters,
        "filter_args": lambda **changes: _ledger_args(filters, **changes),
        "totals": queries.ledger_totals(db.session, filters),
        "people": queries.distributors_by_id(
            db.session, [entry.distributor_id for entry in page.items] + [filters.distributor_id]
        ),
    }
    if is_fragment("results"):
        return render_block("admin/distribution/ledger.html", "results", **context)
    runs = last_runs()
    context["jobs"] = [(name, runs.get(name)) for name in JOBS]
    context["job_labels"] = JOB_LABELS
    return render_template("admin/distribution/ledger.html", **context)


def _order_number(entry: LedgerEntry) -> str:
    return csv_digits(entry.commission.order.number if entry.commission else "")


def _commission_status(entry: LedgerEntry) -> str:
    return str(COMMISSION_STATUS_LABELS.get(entry.commission.status, "")) if entry.commission else ""


# The export's columns: each one's label, and its cell for an entry and its distributor (None if gone).
LEDGER_COLUMNS = (
    (_l("Entry No."), lambda entry, person: entry.id),
    (_l("Time"), lambda entry, person: local_time(entry.created_at)),
    (_l("Distributor"), lambda entry, person: csv_text(_distributor_name(person))),
    (_l("Distributor code"), lambda entry, person: person.code if person else ""),
    (_l("Mobile"), lambda entry, person: csv_digits(person.user.mobile if person else "")),
    (_l("Type"), lambda entry, person: str(ENTRY_KIND_LABELS.get(entry.kind, entry.kind))),
    (_l("Order No."), lambda entry, person: _order_number(entry)),
    (_l("Level"), lambda entry, person: entry.commission.level if entry.commission else ""),
    (_l("Frozen change"), lambda entry, person: yuan(entry.frozen_delta_fen)),
    (_l("Available change"), lambda entry, person: yuan(entry.available_delta_fen)),
    (_l("Withdrawn change"), lambda entry, person: yuan(entry.withdrawn_delta_fen)),
    (_l("Commission status"), lambda entry, person: _commission_status(entry)),
    (_l("Note"), lambda entry, person: csv_text(entry.note)),
)


@bp.get("/distribution/ledger.csv")
@permission_required(Permission.DISTRIBUTION)
def distribution_ledger_export():
    """Every entry the ledger page shows now, newest first, streamed in batches (UTF-8 with a BOM so that
    Excel shows the Chinese)."""
    query = queries.ledger_query(_ledger_filters())

    def chunks() -> Iterator[str]:
        for batch in newest_first_batches(query, LedgerEntry.id):
            people = queries.distributors_by_id(db.session, [entry.distributor_id for entry in batch])
            chunk = csv_rows(LEDGER_COLUMNS, [(entry, people.get(entry.distributor_id)) for entry in batch])
            # Long exports must not keep every row in the session.
            loaded = {*batch, *people.values(), *(person.user for person in people.values())}
            for entry in batch:
                if entry.commission is not None:
                    loaded.update((entry.commission, entry.commission.order))
            for row in loaded:
                if row in db.session:
                    db.session.expunge(row)
            yield chunk

    return streamed_csv("commission-ledger", LEDGER_COLUMNS, chunks())


def _distributor_name(distributor: Distributor | None) -> str:
    if distributor is None:
        return ""
    return distributor.label


@bp.post("/distribution/jobs/<name>")
@permission_required(Permission.SETTINGS)
def distribution_run_job(name: str):
    """Run the settle or the audit job now, exactly as cron would (`flask distribution settle`,
    `flask ledger audit`): under the job's lock, and recorded."""
    if not ActionForm().validate_on_submit():
        flash(_("The page has expired. Please refresh it and try again."), "error")
        return redirect(url_for("admin.distribution_ledger"))
    try:
        if name == "settle":
            summary = run_job("distribution-settle", settle_work)
            flash(_("Settled: %(summary)s.", summary=describe_counts(summary)), "success")
        elif name == "dividends":
            summary = run_job("distribution-dividends", dividends_work)
            flash(_("Dividends: %(summary)s.", summary=describe_counts(summary)), "success")
        elif name == "audit":
            mismatches = ledger.audit(db.session)
            run_job("ledger-audit", lambda: {"mismatches": len(mismatches)})
            if mismatches:
                details = "; ".join(
                    f"#{m.distributor_id} {m.field} {format_fen(m.balance)} ≠ {format_fen(m.ledger)}"
                    for m in mismatches[:10]
                )
                flash(
                    ngettext(
                        "The audit found %(num)d mismatch: %(details)s",
                        "The audit found %(num)d mismatches: %(details)s",
                        len(mismatches),
                        details=details,
                    ),
                    "error",
                )
            else:
                flash(_("Audit passed: every balance equals the sum of its ledger entries."), "success")
        else:
            abort(404)
    except JobAlreadyRunning:
        flash(_("This job is running elsewhere right now. Try again in a minute."), "error")
    return redirect(url_for("admin.distribution_ledger"))


# ---------------------------------------------------------------- fraud holds


def _flag_texts(record: CommissionExplanation | None) -> list[str]:
    if record is None or not record.flags:
        return []
    names = {
        info["distributor_id"]: info for info in record.data.get("chain", []) if info.get("distributor_id")
    }
    return [explaining._flag_text(flag, names, False) for flag in record.flags]


@bp.get("/distribution/fraud")
@permission_required(Permission.DISTRIBUTION)
def distribution_fraud():
    page = db.paginate(queries.held_orders_query(), page=page_arg(), per_page=PER_PAGE, error_out=False)
    ids = [order.id for order in page.items]
    records = queries.explanations_for(db.session, ids)
    frozen, holders = queries.frozen_by_order(db.session, ids), queries.frozen_holders(db.session, ids)
    return render_template(
        "admin/distribution/fraud.html",
        page=page,
        flags={order_id: _flag_texts(record) for order_id, record in records.items()},
        frozen=frozen,
        void_confirms={
            order_id: void_confirm(frozen.get(order_id, 0), holders.get(order_id, [])) for order_id in ids
        },
        void_form=VoidCommissionForm(formdata=None),
        clear_form=ActionForm(formdata=None),
    )


# ---------------------------------------------------------------- one order's commission


def _order_or_404(order_id: int) -> Order:
    return get_or_404(Order, order_id, _("This order does not exist."))


def _panel_context(order: Order, *, void_form=None) -> dict:
    record = db.session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    commissions = list(db.session.scalars(select(Commission).where(Commission.order_id == order.id)))
    can_void = current_user.can(Permission.MONEY) and any(
        c.status == CommissionStatus.FROZEN for c in commissions
    )
    return {
        "order": order,
        "view": explaining.explain(db.session, order),
        "record": record,
        "snapshot": (record.data.get("settings") if record and record.data else None),
        "can_void": can_void,
        "void_confirm": void_confirm(
            queries.frozen_by_order(db.session, [order.id]).get(order.id, 0),
            queries.frozen_holders(db.session, [order.id]).get(order.id, []),
        )
        if can_void
        else "",
        "flags_open": bool(record and record.flags and not record.flags_cleared_at),
        "void_form": void_form or VoidCommissionForm(formdata=None),
        "clear_form": ActionForm(formdata=None),
        "standalone": False,
    }


@bp.get("/distribution/orders/<int:order_id>/commission")
@permission_required(Permission.DISTRIBUTION)
def distribution_order_commission(order_id: int):
    """The explanation panel: loaded by htmx into the order page, or shown as a page of its own."""
    order = _order_or_404(order_id)
    context = _panel_context(order)
    if htmx:
        return render_template("admin/distribution/_order_commission.html", **context)
    context["standalone"] = True
    return render_template("admin/distribution/order_commission.html", **context)


def _panel_result(order: Order, message: str, failed: dict | None = None):
    refused = failed is not None
    from_fraud = request.form.get("back", "") == "fraud"
    # Staff who may void commission (money) but not see distribution get no panel: it names the buyer.
    outsider = not current_user.can(Permission.DISTRIBUTION)
    if htmx and (from_fraud or outsider):
        # A handled row leaves the list; a refusal leaves it as it was and says why in a toast.
        response = make_response(message if refused else "", 400 if refused else 200)
        return toast(response, message, "error" if refused else "success")

    def panel() -> str:
        fresh = db.session.get(Order, order.id)
        void_form = (failed or {}).get("void")  # a refused void shows again as typed
        return render_template(
            "admin/distribution/_order_commission.html", **_panel_context(fresh, void_form=void_form)
        )

    if outsider:
        flash(message, "error" if refused else "success")
        return redirect(url_for("admin.dashboard"))
    if from_fraud:
        page_url = url_for("admin.distribution_fraud")
    else:
        page_url = url_for("admin.distribution_order_commission", order_id=order.id)
    return action_answer(message, refused, page_url, panel)


# The buttons on an order's commission panel or fraud row.
commission_action = record_action(Permission.DISTRIBUTION, _order_or_404, _panel_result)


@bp.post("/distribution/orders/<int:order_id>/clear-flags")
@commission_action("clear", ActionForm)
def distribution_order_clear_flags(order: Order, form: ActionForm) -> str:
    ledger.clear_flags(db.session, order, actor=current_user)
    return _("Flags cleared: the commission is released as usual once due.")


@bp.post("/distribution/orders/<int:order_id>/void")
@commission_action("void", VoidCommissionForm, needs=Permission.MONEY)
def distribution_order_void(order: Order, form: VoidCommissionForm) -> str:
    count = ledger.void_order_commission(db.session, order, actor=current_user, reason=form.reason.data)
    return ngettext(
        "%(num)d commission voided; the distributor sees your reason.",
        "%(num)d commissions voided; the distributors see your reason.",
        count,
    )
