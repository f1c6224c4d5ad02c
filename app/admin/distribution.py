"""Distribution in the back office: the merchant's rules, distributors and grades, the applications queue,
the commission ledger and its jobs, withdrawals, the binding log, orders held by fraud flags, the
overview, and the explanation of every order's commission. The rules live in app.distribution; these
views parse input, call them, commit or roll back, and render."""

import csv
import io
from collections.abc import Iterator

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
from sqlalchemy import func, select

from app.accounts.models import Permission, User
from app.admin import bp, permission_required
from app.db_types import parse_id
from app.distribution import admin_queries as queries
from app.distribution import engine, ledger
from app.distribution import explain as explaining
from app.distribution import services as dist
from app.distribution.admin_forms import (
    DisableDistributorForm,
    DistributionSettingsForm,
    GradeChoiceForm,
    GradeForm,
    PayWithdrawalForm,
    RejectApplicationForm,
    RejectWithdrawalForm,
    VoidCommissionForm,
)
from app.distribution.cli import settle_work
from app.distribution.models import (
    Commission,
    CommissionExplanation,
    CommissionStatus,
    Distributor,
    DistributorApplication,
    DistributorGrade,
    LedgerEntry,
    Withdrawal,
)
from app.extensions import db, htmx
from app.forms import ActionForm
from app.jobs import JobAlreadyRunning, describe_counts, last_runs, run_job
from app.money import format_bp, format_fen, yuan
from app.orders.models import Order
from app.webutil import csv_digits, csv_download, csv_line, csv_text, date_arg, page_arg, toast

PER_PAGE = 20
EXPORT_BATCH = 500
JOBS = ("distribution-settle", "ledger-audit")
EXAMPLE_PAID_FEN = 10000  # the live example on the settings page: a ¥100 payment

# ---------------------------------------------------------------- words the pages use

ENTRY_KIND_LABELS = {
    "frozen_credit": _l("Commission (frozen)"),
    "release": _l("Released"),
    "reversal": _l("Refund before release"),
    "clawback": _l("Claw-back after release"),
    "void": _l("Voided by the shop"),
    "withdrawal_hold": _l("Withdrawal held"),
    "withdrawal_paid": _l("Withdrawal paid"),
    "withdrawal_returned": _l("Withdrawal returned"),
}
COMMISSION_STATUS_LABELS = {
    "frozen": _l("Frozen"),
    "released": _l("Available"),
    "voided": _l("Voided"),
}
WITHDRAWAL_STATUS_LABELS = {
    "requested": _l("Requested"),
    "approved": _l("Approved"),
    "paid": _l("Paid out"),
    "rejected": _l("Declined"),
}
WITHDRAWAL_STATUS_COLOURS = {
    "requested": "warning",
    "approved": "primary",
    "paid": "success",
    "rejected": "secondary",
}
METHOD_LABELS = {"wechat": _l("WeChat"), "alipay": _l("Alipay"), "bank": _l("Bank card")}
APPLICATION_STATUS_LABELS = {
    "pending": _l("To review"),
    "approved": _l("Approved"),
    "rejected": _l("Rejected"),
    "all": _l("All"),
}
SOURCE_LABELS = {
    "apply": _l("Application"),
    "everyone": _l("Every member"),
    "spend": _l("Reached the spend"),
    "merchant": _l("Added by the shop"),
}
BINDING_REASON_LABELS = {
    "first_bind": _l("First binding"),
    "rebind_last": _l("Newer link (last click wins)"),
    "rebind_lapsed": _l("Rebound after the binding lapsed"),
    "merchant": _l("Changed by the shop"),
}
MODE_LABELS = {"everyone": _l("Every member"), "apply": _l("Apply and review"), "spend": _l("By spend")}


def when(moment) -> str:
    """A UTC time in the shop's time zone, to the minute."""
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else ""


def rates_text(rates) -> str:
    """[1000, 500] -> "10% / 5%"."""
    if rates is None:
        return _("the shop's rates")
    return " / ".join(format_bp(rate) for rate in rates) or "—"


@bp.context_processor
def distribution_helpers():
    def alerts():
        # Only the layout's menu asks, once per page.
        if "distribution_alerts" not in g:
            can = current_user.is_authenticated and current_user.can(Permission.DISTRIBUTION)
            g.distribution_alerts = queries.menu_alerts(db.session) if can else (0, 0)
        return g.distribution_alerts

    return {
        "distribution_alerts": alerts,
        "entry_kind_labels": ENTRY_KIND_LABELS,
        "commission_status_labels": COMMISSION_STATUS_LABELS,
        "withdrawal_status_labels": WITHDRAWAL_STATUS_LABELS,
        "withdrawal_status_colours": WITHDRAWAL_STATUS_COLOURS,
        "method_labels": METHOD_LABELS,
        "source_labels": SOURCE_LABELS,
        "binding_reason_labels": BINDING_REASON_LABELS,
        "application_status_labels": APPLICATION_STATUS_LABELS,
        "application_actions": dist.application_actions,
        "withdrawal_actions": ledger.withdrawal_actions,
        "shop_rates": lambda: dist.get_settings(db.session).rates_bp,
        "dist_when": when,
        "rates_text": rates_text,
    }


# ---------------------------------------------------------------- small helpers


def _text_arg(name: str, limit: int = 40) -> str:
    return " ".join(request.args.get(name, "").split())[:limit]


def _get_or_404(model, ident: int, message: str):
    row = db.session.get(model, ident)
    if row is None:
        abort(404, message)
    return row


def _distributor_or_404(distributor_id: int) -> Distributor:
    return _get_or_404(Distributor, distributor_id, _("This distributor does not exist."))


def _order_or_404(order_id: int) -> Order:
    return _get_or_404(Order, order_id, _("This order does not exist."))


def _first_error(form) -> str:
    for name, errors in form.errors.items():
        if errors and name.endswith("csrf_token"):
            return _("The page has expired. Please refresh it and try again.")
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("Please check the form.")


def _is_fragment(target: str) -> bool:
    return bool(htmx) and htmx.target == target and not htmx.history_restore_request


# ---------------------------------------------------------------- settings (owner only)


def _example(form: DistributionSettingsForm) -> dict:
    """The live example under the rates: what each level gets of a ¥100 payment, or why there is none yet."""
    levels = form.chosen_levels
    fields = form.rate_fields()[:levels]
    bad = [field for field in fields if field.process_errors]
    rates = [field.data for field in fields]
    example = {"levels": levels, "rates": rates, "amounts": None, "total_bp": None, "problem": None}
    if bad:
        example["problem"] = str(bad[0].process_errors[0])
    elif any(rate is None for rate in rates):
        example["problem"] = _("Enter a rate for every level.")
    else:
        example["amounts"] = dist.example_split(rates, EXAMPLE_PAID_FEN)
        example["total_bp"] = sum(rates)
        who = (
            lambda amount: _("the referrer gets %(amount)s", amount=amount),
            lambda amount: _("the referrer's referrer gets %(amount)s", amount=amount),
            lambda amount: _("level 3 gets %(amount)s", amount=amount),
        )
        shares = [who[i](format_fen(amount)) for i, amount in enumerate(example["amounts"])]
        example["sentence"] = _(
            "A buyer pays %(paid)s: %(shares)s.",
            paid=format_fen(EXAMPLE_PAID_FEN),
            shares=_(", ").join(shares),
        )
        try:
            engine.check_vector(rates)
        except ValueError:
            example["problem"] = _("The rates add up to more than 30%, the most WeChat Pay allows.")
    fee = form.withdrawal_fee_bp
    if not fee.process_errors:
        fee_fen = EXAMPLE_PAID_FEN * (fee.data or 0) // 10000
        example["fee"] = (fee_fen, EXAMPLE_PAID_FEN - fee_fen)
    return example


def _render_settings(form: DistributionSettingsForm, status: int = 200):
    settings = dist.get_settings(db.session)
    context = {"form": form, "settings": settings, "example": _example(form), "mode_labels": MODE_LABELS}
    return make_response(render_template("admin/distribution/settings.html", **context), status)


@bp.route("/distribution/settings", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def distribution_settings():
    settings = dist.get_settings(db.session)
    if request.method == "GET":
        return _render_settings(DistributionSettingsForm(settings=settings, formdata=None))
    form = DistributionSettingsForm()
    if not form.validate_on_submit():
        return _render_settings(form, 422)
    try:
        dist.update_settings(db.session, form.to_input(settings))
    except dist.DistributionError as error:
        db.session.rollback()
        form.apply_error(error)
        return _render_settings(form, 422)
    db.session.commit()
    flash(_("Distribution settings saved."), "success")
    return redirect(url_for("admin.distribution_settings"))


@bp.post("/distribution/settings/example")
@permission_required(Permission.SETTINGS)
def distribution_settings_example():
    form = DistributionSettingsForm()
    form.validate()  # only to parse: nothing is saved here
    return render_block("admin/distribution/settings.html", "example", form=form, example=_example(form))


# ---------------------------------------------------------------- distributors


def _distributor_filters() -> queries.DistributorFilters:
    status = request.args.get("status", "")
    grade = request.args.get("grade", "")
    return queries.DistributorFilters(
        q=_text_arg("q"),
        status=status if status in ("active", "disabled") else "",
        grade=grade if grade == "none" or parse_id(grade) is not None else "",
    )


@bp.get("/distribution", endpoint="distribution")
@permission_required(Permission.DISTRIBUTION)
def distribution_distributors():
    filters = _distributor_filters()
    page = db.paginate(
        queries.distributors_query(filters), page=page_arg(), per_page=PER_PAGE, error_out=False
    )
    context = {
        "page": page,
        "stats": queries.distributor_stats(db.session, page.items),
        "filters": filters,
        "filtering": bool(filters.q or filters.status or filters.grade),
        "grades": queries.grades(db.session),
    }
    if _is_fragment("results"):
        return render_block("admin/distribution/distributors.html", "results", **context)
    return render_template("admin/distribution/distributors.html", **context)


def _distributor_context(distributor: Distributor, **forms) -> dict:
    grades = queries.grades(db.session)
    team_query = queries.team_query(distributor)
    team = list(db.session.scalars(team_query.limit(50)))
    context = {
        "distributor": distributor,
        "stats": queries.distributor_stats(db.session, [distributor])[distributor.id],
        "grades": grades,
        "team": team,
        "team_below": queries.team_sizes_below(db.session, team),
        "team_distributors": queries.distributor_user_ids(db.session, [user.id for user in team]),
        "bindings": list(db.session.scalars(queries.distributor_binding_query(distributor).limit(30))),
        "withdrawals": list(
            db.session.scalars(
                select(Withdrawal)
                .where(Withdrawal.distributor_id == distributor.id)
                .order_by(Withdrawal.id.desc())
                .limit(10)
            )
        ),
        "applications": list(
            db.session.scalars(
                select(DistributorApplication)
                .where(DistributorApplication.user_id == distributor.user_id)
                .order_by(DistributorApplication.id.desc())
            )
        ),
        "status_form": forms.get("status_form") or DisableDistributorForm(formdata=None),
        "grade_form": forms.get("grade_form")
        or GradeChoiceForm(formdata=None, grades=grades, data={"grade_id": str(distributor.grade_id or "")}),
    }
    referrer = db.session.get(User, distributor.user.referrer_id) if distributor.user.referrer_id else None
    context["referrer"] = referrer
    context["referrer_distributor"] = dist.distributor_of(db.session, referrer.id) if referrer else None
    context["ledger_page"] = db.paginate(
        queries.ledger_query(queries.LedgerFilters(distributor_id=distributor.id)),
        page=page_arg("ledger_page"),
        per_page=PER_PAGE,
        error_out=False,
    )
    return context


@bp.get("/distribution/distributors/<int:distributor_id>")
@permission_required(Permission.DISTRIBUTION)
def distribution_distributor(distributor_id: int):
    distributor = _distributor_or_404(distributor_id)
    # Balances are shown: release what is due first, as the distributor's own pages do.
    if ledger.release_due(db.session, distributor_id=distributor.id):
        db.session.commit()
        db.session.refresh(distributor)
    context = _distributor_context(distributor)
    if _is_fragment("distributor-ledger"):
        return render_block("admin/distribution/distributor.html", "ledger_entries", **context)
    return render_template("admin/distribution/distributor.html", **context)


def _distributor_result(distributor: Distributor, message: str, *, failed: dict | None = None):
    """After a change on the distributor page: its status card again (htmx) or the page with a flash."""
    level = "error" if failed else "success"
    if not htmx:
        flash(message, level)
        return redirect(url_for("admin.distribution_distributor", distributor_id=distributor.id))
    db.session.expire_all()
    distributor = db.session.get(Distributor, distributor.id)
    html = render_block(
        "admin/distribution/distributor.html",
        "status_card",
        **_distributor_context(distributor, **(failed or {})),
    )
    return toast(make_response(html, 422 if failed else 200), message, level)


@bp.post("/distribution/distributors/<int:distributor_id>/active")
@permission_required(Permission.DISTRIBUTION)
def distribution_distributor_active(distributor_id: int):
    distributor = _distributor_or_404(distributor_id)
    form = DisableDistributorForm()
    if not form.validate_on_submit():
        return _distributor_result(distributor, _first_error(form), failed={"status_form": form})
    active = request.form.get("active") == "1"
    dist.set_distributor_active(db.session, distributor, active, reason=form.reason.data or "")
    db.session.commit()
    if active:
        message = _("%(name)s can share and earn again.", name=distributor.user.display_name)
    else:
        message = _(
            "%(name)s is disabled: no new commission, no new bindings.", name=distributor.user.display_name
        )
    return _distributor_result(distributor, message)


@bp.post("/distribution/distributors/<int:distributor_id>/grade")
@permission_required(Permission.DISTRIBUTION)
def distribution_distributor_grade(distributor_id: int):
    distributor = _distributor_or_404(distributor_id)
    form = GradeChoiceForm(grades=queries.grades(db.session))
    if not form.validate_on_submit():
        return _distributor_result(distributor, _first_error(form), failed={"grade_form": form})
    try:
        dist.set_grade(db.session, distributor, form.chosen)
    except dist.DistributionError as error:
        db.session.rollback()
        form.grade_id.errors = [str(error.message)]
        return _distributor_result(distributor, str(error.message), failed={"grade_form": form})
    db.session.commit()
    grade = distributor.grade.name if distributor.grade else _("No grade")
    return _distributor_result(distributor, _("Grade changed to %(grade)s.", grade=grade))


# ---------------------------------------------------------------- grades


@bp.get("/distribution/grades")
@permission_required(Permission.DISTRIBUTION)
def distribution_grades():
    return render_template(
        "admin/distribution/grades.html",
        grades=queries.grades(db.session),
        members=queries.grade_member_counts(db.session),
        settings=dist.get_settings(db.session),
        delete_form=ActionForm(formdata=None),
    )


@bp.route("/distribution/grades/new", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def distribution_grades_new():
    return _grade_form(None)


@bp.route("/distribution/grades/<int:grade_id>", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def distribution_grades_edit(grade_id: int):
    return _grade_form(_get_or_404(DistributorGrade, grade_id, _("This grade does not exist.")))


def _grade_form(grade: DistributorGrade | None):
    form = GradeForm(grade=grade) if request.method == "GET" else GradeForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                dist.save_grade(
                    db.session, grade, name=form.name.data, rates_bp=form.rates_bp(), sort=form.sort.data or 0
                )
            except dist.DistributionError as error:
                db.session.rollback()
                form.apply_error(error)
            else:
                db.session.commit()
                flash(_("Grade “%(name)s” saved.", name=form.name.data.strip()), "success")
                return redirect(url_for("admin.distribution_grades"))
    html = render_template(
        "admin/distribution/grade_form.html", form=form, grade=grade, settings=dist.get_settings(db.session)
    )
    return make_response(html, status)


@bp.post("/distribution/grades/<int:grade_id>/delete")
@permission_required(Permission.SETTINGS)
def distribution_grades_delete(grade_id: int):
    grade = _get_or_404(DistributorGrade, grade_id, _("This grade does not exist."))
    if ActionForm().validate_on_submit():
        name = grade.name
        # Its distributors fall back to no grade (the shop's rates); commission already written keeps the
        # rates it was worked out with.
        db.session.delete(grade)
        db.session.commit()
        flash(_("Grade “%(name)s” deleted; its distributors now use the shop's rates.", name=name), "success")
    else:
        flash(_("The page has expired. Please refresh it and try again."), "error")
    if htmx:
        return Response(status=200, headers={"HX-Redirect": url_for("admin.distribution_grades")})
    return redirect(url_for("admin.distribution_grades"))


# ---------------------------------------------------------------- applications


def _application_or_404(application_id: int) -> DistributorApplication:
    return _get_or_404(DistributorApplication, application_id, _("This application does not exist."))


@bp.get("/distribution/applications")
@permission_required(Permission.DISTRIBUTION)
def distribution_applications():
    tab = request.args.get("tab", "pending")
    tab = tab if tab in queries.APPLICATION_TABS else "pending"
    context = {
        "page": db.paginate(
            queries.applications_query(tab), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "tab": tab,
        "tabs": queries.APPLICATION_TABS,
        "tab_labels": APPLICATION_STATUS_LABELS,
        "counts": queries.application_counts(db.session),
        "settings": dist.get_settings(db.session),
        "forms": {},
    }
    return render_template("admin/distribution/applications.html", **context)


def _application_row(application: DistributorApplication, message: str, *, form=None):
    level = "error" if form is not None else "success"
    if not htmx:
        flash(message, level)
        return redirect(url_for("admin.distribution_applications"))
    db.session.expire_all()
    application = db.session.get(DistributorApplication, application.id)
    html = render_template(
        "admin/distribution/_application_row.html", application=application, reject_form=form
    )
    return toast(make_response(html, 422 if form is not None else 200), message, level)


@bp.post("/distribution/applications/<int:application_id>/approve")
@permission_required(Permission.DISTRIBUTION)
def distribution_applications_approve(application_id: int):
    application = _application_or_404(application_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _application_row(application, _first_error(form), form=RejectApplicationForm(formdata=None))
    try:
        dist.approve_application(db.session, application, actor=current_user)
    except dist.DistributionError as error:
        db.session.rollback()
        return _application_row(application, str(error.message), form=RejectApplicationForm(formdata=None))
    db.session.commit()
    return _application_row(application, _("%(name)s is now a distributor.", name=application.real_name))


@bp.post("/distribution/applications/<int:application_id>/reject")
@permission_required(Permission.DISTRIBUTION)
def distribution_applications_reject(application_id: int):
    application = _application_or_404(application_id)
    form = RejectApplicationForm()
    if not form.validate_on_submit():
        return _application_row(application, _first_error(form), form=form)
    try:
        dist.reject_application(db.session, application, actor=current_user, reason=form.reject_reason.data)
    except dist.DistributionError as error:
        db.session.rollback()
        form.reject_reason.errors = [str(error.message)]
        return _application_row(application, str(error.message), form=form)
    db.session.commit()
    return _application_row(application, _("Application rejected; the applicant sees your reason."))


# ---------------------------------------------------------------- the commission ledger


def _ledger_filters() -> queries.LedgerFilters:
    date_from, date_to = date_arg("from"), date_arg("to")
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    distributor = request.args.get("distributor_id", "")
    kind, status = request.args.get("kind", ""), request.args.get("status", "")
    return queries.LedgerFilters(
        q=_text_arg("q"),
        distributor_id=parse_id(distributor),
        order=_text_arg("order", 20),
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
    if _is_fragment("results"):
        return render_block("admin/distribution/ledger.html", "results", **context)
    runs = last_runs()
    context["jobs"] = [(name, runs.get(name)) for name in JOBS]
    return render_template("admin/distribution/ledger.html", **context)


LEDGER_COLUMNS = (
    _l("Entry No."),
    _l("Time"),
    _l("Distributor"),
    _l("Distributor code"),
    _l("Mobile"),
    _l("Type"),
    _l("Order No."),
    _l("Level"),
    _l("Frozen change"),
    _l("Available change"),
    _l("Withdrawn change"),
    _l("Commission status"),
    _l("Note"),
)


@bp.get("/distribution/ledger.csv")
@permission_required(Permission.DISTRIBUTION)
def distribution_ledger_export():
    """Every entry the ledger page shows now, newest first, streamed in batches (UTF-8 with a BOM so that
    Excel shows the Chinese)."""
    query = queries.ledger_query(_ledger_filters())

    def generate() -> Iterator[str]:
        yield "\ufeff" + csv_line([str(column) for column in LEDGER_COLUMNS])
        last_id = None
        while True:
            batch_query = query.limit(EXPORT_BATCH)
            if last_id is not None:
                batch_query = batch_query.where(LedgerEntry.id < last_id)
            batch = list(db.session.scalars(batch_query))
            if not batch:
                return
            people = queries.distributors_by_id(db.session, [entry.distributor_id for entry in batch])
            chunk = io.StringIO()
            writer = csv.writer(chunk)
            for entry in batch:
                person = people.get(entry.distributor_id)
                commission = entry.commission
                writer.writerow(
                    [
                        entry.id,
                        when(entry.created_at),
                        csv_text(_distributor_name(person)),
                        person.code if person else "",
                        csv_digits(person.user.mobile if person else ""),
                        str(ENTRY_KIND_LABELS.get(entry.kind, entry.kind)),
                        csv_digits(commission.order.number if commission else ""),
                        commission.level if commission else "",
                        yuan(entry.frozen_delta_fen),
                        yuan(entry.available_delta_fen),
                        yuan(entry.withdrawn_delta_fen),
                        str(COMMISSION_STATUS_LABELS.get(commission.status, "")) if commission else "",
                        csv_text(entry.note),
                    ]
                )
            # Long exports must not keep every row in the session.
            loaded = {*batch, *people.values(), *(person.user for person in people.values())}
            for entry in batch:
                if entry.commission is not None:
                    loaded.update((entry.commission, entry.commission.order))
            for row in loaded:
                if row in db.session:
                    db.session.expunge(row)
            yield chunk.getvalue()
            last_id = batch[-1].id

    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(stream_with_context(generate()), f"commission-ledger-{stamp}.csv")


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
        elif name == "audit":
            mismatches = ledger.audit(db.session)
            run_job("ledger-audit", lambda: {"mismatches": len(mismatches)})
            if mismatches:
                details = "; ".join(
                    f"#{m.distributor_id} {m.field} {format_fen(m.balance)} ≠ {format_fen(m.ledger)}"
                    for m in mismatches[:10]
                )
                flash(
                    _("The audit found %(n)d mismatches: %(details)s", n=len(mismatches), details=details),
                    "error",
                )
            else:
                flash(_("Audit passed: every balance equals the sum of its ledger entries."), "success")
        else:
            abort(404)
    except JobAlreadyRunning:
        flash(_("This job is running elsewhere right now. Try again in a minute."), "error")
    return redirect(url_for("admin.distribution_ledger"))


# ---------------------------------------------------------------- withdrawals


@bp.get("/distribution/withdrawals")
@permission_required(Permission.DISTRIBUTION)
def distribution_withdrawals():
    tab = request.args.get("tab", "requested")
    tab = tab if tab in queries.WITHDRAWAL_TABS else "requested"
    q = _text_arg("q")
    context = {
        "page": db.paginate(
            queries.withdrawals_query(tab, q), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "tab": tab,
        "q": q,
        "tabs": queries.WITHDRAWAL_TABS,
        "counts": queries.withdrawal_counts(db.session),
        "bank_batch": db.session.scalar(
            select(func.count()).select_from(queries.bank_batch_query().order_by(None).subquery())
        ),
        "forms": {},
    }
    if _is_fragment("results"):
        return render_block("admin/distribution/withdrawals.html", "results", **context)
    return render_template("admin/distribution/withdrawals.html", **context)


def _withdrawal_or_404(withdrawal_id: int) -> Withdrawal:
    return _get_or_404(Withdrawal, withdrawal_id, _("This withdrawal does not exist."))


def _withdrawal_row(withdrawal: Withdrawal, message: str, *, failed: dict | None = None):
    level = "error" if failed else "success"
    if not htmx:
        flash(message, level)
        return redirect(url_for("admin.distribution_withdrawals", tab=withdrawal.status))
    db.session.expire_all()
    withdrawal = db.session.get(Withdrawal, withdrawal.id)
    html = render_template(
        "admin/distribution/_withdrawal_row.html", withdrawal=withdrawal, forms=failed or {}
    )
    return toast(make_response(html, 422 if failed else 200), message, level)


@bp.post("/distribution/withdrawals/<int:withdrawal_id>/approve")
@permission_required(Permission.DISTRIBUTION)
def distribution_withdrawals_approve(withdrawal_id: int):
    withdrawal = _withdrawal_or_404(withdrawal_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _withdrawal_row(withdrawal, _first_error(form), failed={"approve": form})
    try:
        ledger.approve_withdrawal(db.session, withdrawal, actor=current_user)
    except ledger.LedgerError as error:
        db.session.rollback()
        return _withdrawal_row(withdrawal, str(error.message), failed={"approve": form})
    db.session.commit()
    return _withdrawal_row(
        withdrawal,
        _("Approved. Transfer %(amount)s, then mark it paid.", amount=format_fen(withdrawal.net_fen)),
    )


@bp.post("/distribution/withdrawals/<int:withdrawal_id>/pay")
@permission_required(Permission.DISTRIBUTION)
def distribution_withdrawals_pay(withdrawal_id: int):
    withdrawal = _withdrawal_or_404(withdrawal_id)
    form = PayWithdrawalForm()
    if not form.validate_on_submit():
        return _withdrawal_row(withdrawal, _first_error(form), failed={"pay": form})
    try:
        ledger.mark_withdrawal_paid(db.session, withdrawal, actor=current_user, reference=form.reference.data)
    except ledger.LedgerError as error:
        db.session.rollback()
        if error.field == "reference":
            form.reference.errors = [str(error.message)]
        return _withdrawal_row(withdrawal, str(error.message), failed={"pay": form})
    db.session.commit()
    return _withdrawal_row(withdrawal, _("Marked as paid. The distributor sees 已打款."))


@bp.post("/distribution/withdrawals/<int:withdrawal_id>/reject")
@permission_required(Permission.DISTRIBUTION)
def distribution_withdrawals_reject(withdrawal_id: int):
    withdrawal = _withdrawal_or_404(withdrawal_id)
    form = RejectWithdrawalForm()
    if not form.validate_on_submit():
        return _withdrawal_row(withdrawal, _first_error(form), failed={"reject": form})
    try:
        ledger.reject_withdrawal(db.session, withdrawal, actor=current_user, reason=form.reason.data)
    except ledger.LedgerError as error:
        db.session.rollback()
        form.reason.errors = [str(error.message)]
        return _withdrawal_row(withdrawal, str(error.message), failed={"reject": form})
    db.session.commit()
    return _withdrawal_row(
        withdrawal,
        _(
            "Rejected. %(amount)s is back in the distributor's balance.",
            amount=format_fen(withdrawal.amount_fen),
        ),
    )


BANK_COLUMNS = (
    _l("Withdrawal No."),
    _l("Account holder"),
    _l("Card number"),
    _l("Bank"),
    _l("Branch"),
    _l("Amount"),
    _l("Fee"),
    _l("To transfer"),
    _l("Transfer reference"),
)


@bp.get("/distribution/withdrawals/bank.csv")
@permission_required(Permission.DISTRIBUTION)
def distribution_withdrawals_bank_csv():
    """Approved bank-card withdrawals as one batch for the bank: the reference column is left empty for
    the merchant to fill in from the bank's receipt."""
    rows = [
        [
            withdrawal.id,
            csv_text(withdrawal.account.get("name", "")),
            csv_digits(withdrawal.account.get("account", "")),
            csv_text(withdrawal.account.get("bank", "")),
            csv_text(withdrawal.account.get("branch", "")),
            yuan(withdrawal.amount_fen),
            yuan(withdrawal.fee_fen),
            yuan(withdrawal.net_fen),
            "",
        ]
        for withdrawal in db.session.scalars(queries.bank_batch_query())
    ]
    body = "\ufeff" + "".join(csv_line(row) for row in [[str(c) for c in BANK_COLUMNS], *rows])
    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(body, f"withdrawals-bank-{stamp}.csv")


# ---------------------------------------------------------------- binding log


@bp.get("/distribution/bindings")
@permission_required(Permission.DISTRIBUTION)
def distribution_bindings():
    member, distributor = _text_arg("member"), _text_arg("distributor")
    context = {
        "page": db.paginate(
            queries.bindings_query(member, distributor), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "member": member,
        "distributor_q": distributor,
    }
    if _is_fragment("results"):
        return render_block("admin/distribution/bindings.html", "results", **context)
    return render_template("admin/distribution/bindings.html", **context)


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
    return render_template(
        "admin/distribution/fraud.html",
        page=page,
        flags={order_id: _flag_texts(record) for order_id, record in records.items()},
        frozen=queries.frozen_by_order(db.session, ids),
        void_form=VoidCommissionForm(formdata=None),
        clear_form=ActionForm(formdata=None),
    )


# ---------------------------------------------------------------- one order's commission


def _panel_context(order: Order, *, void_form=None) -> dict:
    record = db.session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    commissions = list(db.session.scalars(select(Commission).where(Commission.order_id == order.id)))
    return {
        "order": order,
        "view": explaining.explain(db.session, order),
        "record": record,
        "snapshot": (record.data.get("settings") if record and record.data else None),
        "can_void": any(c.status == CommissionStatus.FROZEN for c in commissions),
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


def _panel_result(order: Order, message: str, *, void_form=None):
    level = "error" if void_form is not None else "success"
    back = request.form.get("back", "")
    if not htmx:
        flash(message, level)
        if back == "fraud":
            return redirect(url_for("admin.distribution_fraud"))
        return redirect(url_for("admin.distribution_order_commission", order_id=order.id))
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    if back == "fraud":
        # A handled row leaves the list; a refusal leaves it as it was and says why in a toast.
        response = make_response("" if void_form is None else message, 200 if void_form is None else 400)
        return toast(response, message, level)
    html = render_template(
        "admin/distribution/_order_commission.html", **_panel_context(order, void_form=void_form)
    )
    return toast(make_response(html, 422 if void_form is not None else 200), message, level)


@bp.post("/distribution/orders/<int:order_id>/clear-flags")
@permission_required(Permission.DISTRIBUTION)
def distribution_order_clear_flags(order_id: int):
    order = _order_or_404(order_id)
    form = ActionForm()
    if not form.validate_on_submit():
        return _panel_result(order, _first_error(form), void_form=VoidCommissionForm(formdata=None))
    try:
        ledger.clear_flags(db.session, order, actor=current_user)
    except ledger.LedgerError as error:
        db.session.rollback()
        return _panel_result(order, str(error.message), void_form=VoidCommissionForm(formdata=None))
    db.session.commit()
    return _panel_result(order, _("Flags cleared: the commission is released as usual once due."))


@bp.post("/distribution/orders/<int:order_id>/void")
@permission_required(Permission.DISTRIBUTION)
def distribution_order_void(order_id: int):
    order = _order_or_404(order_id)
    form = VoidCommissionForm()
    if not form.validate_on_submit():
        return _panel_result(order, _first_error(form), void_form=form)
    try:
        count = ledger.void_order_commission(db.session, order, actor=current_user, reason=form.reason.data)
    except ledger.LedgerError as error:
        db.session.rollback()
        if error.field == "reason":
            form.reason.errors = [str(error.message)]
        return _panel_result(order, str(error.message), void_form=form)
    db.session.commit()
    return _panel_result(order, _("%(n)d commissions voided; the distributors see your reason.", n=count))


# ---------------------------------------------------------------- overview


@bp.get("/distribution/overview")
@permission_required(Permission.DISTRIBUTION)
def distribution_overview():
    data = queries.overview(db.session)
    peak = max((amount for _day, amount in data.daily), default=0)
    return render_template(
        "admin/distribution/overview.html",
        data=data,
        peak=peak,
        settings=dist.get_settings(db.session),
        runs=last_runs(),
        jobs=JOBS,
    )
