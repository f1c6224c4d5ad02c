"""Distributors in the back office: the list and each distributor's page (team, ledger, status, grade),
the grades, the applications queue and the binding log."""

from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.accounts.models import Permission, User
from app.admin import bp, permission_required
from app.admin.distribution import APPLICATION_TAB_LABELS
from app.admin.viewutil import (
    PER_PAGE,
    action_answer,
    form_routes,
    get_or_404,
    is_fragment,
    list_page,
    record_action,
    text_arg,
)
from app.db_types import parse_id
from app.distribution import admin_queries as queries
from app.distribution import grades as grading
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.admin_forms import (
    DisableDistributorForm,
    GradeChoiceForm,
    GradeForm,
    RejectApplicationForm,
)
from app.distribution.models import Distributor, DistributorApplication, DistributorGrade, Withdrawal
from app.extensions import db, htmx
from app.forms import ActionForm
from app.webutil import page_arg, tab_arg

# ---------------------------------------------------------------- distributors


def _distributor_or_404(distributor_id: int) -> Distributor:
    return get_or_404(Distributor, distributor_id, _("This distributor does not exist."))


def _distributor_filters() -> queries.DistributorFilters:
    status = request.args.get("status", "")
    grade = request.args.get("grade", "")
    return queries.DistributorFilters(
        q=text_arg("q"),
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
    return list_page("admin/distribution/distributors.html", **context)


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
        "grade_log": grading.grade_log(db.session, distributor.id),
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
    if is_fragment("distributor-ledger"):
        return render_block("admin/distribution/distributor.html", "ledger_entries", **context)
    return render_template("admin/distribution/distributor.html", **context)


def _distributor_result(distributor: Distributor, message: str, failed: dict | None = None):
    """After a change on the distributor page: its status card again (htmx) or the page with a flash."""

    def status_card() -> str:
        fresh = db.session.get(Distributor, distributor.id)
        context = _distributor_context(fresh, **(failed or {}))
        return render_block("admin/distribution/distributor.html", "status_card", **context)

    page_url = url_for("admin.distribution_distributor", distributor_id=distributor.id)
    return action_answer(message, bool(failed), page_url, status_card)


# The forms on the distributor's status card; a refused one shows again under its name.
distributor_action = record_action(Permission.DISTRIBUTION, _distributor_or_404, _distributor_result)


@bp.post("/distribution/distributors/<int:distributor_id>/active")
@distributor_action("status_form", DisableDistributorForm)
def distribution_distributor_active(distributor: Distributor, form: DisableDistributorForm) -> str:
    active = request.form.get("active") == "1"
    dist.set_distributor_active(db.session, distributor, active, reason=form.reason.data or "")
    if active:
        return _("%(name)s can share and earn again.", name=distributor.user.display_name)
    return _("%(name)s is disabled: no new commission, no new bindings.", name=distributor.user.display_name)


@bp.post("/distribution/distributors/<int:distributor_id>/grade")
@distributor_action("grade_form", lambda: GradeChoiceForm(grades=queries.grades(db.session)))
def distribution_distributor_grade(distributor: Distributor, form: GradeChoiceForm) -> str:
    grading.change_grade_by_hand(
        db.session, distributor, form.chosen, reason=form.reason.data, actor=current_user
    )
    grade = distributor.grade.name if distributor.grade else _("No grade")
    return _("Grade changed to %(grade)s.", grade=grade)


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


def _grade_or_404(grade_id: int) -> DistributorGrade:
    return get_or_404(DistributorGrade, grade_id, _("This grade does not exist."))


@form_routes("/distribution/grades", "<int:grade_id>", Permission.SETTINGS, _grade_or_404)
def _grade_form(grade: DistributorGrade | None):
    form = GradeForm(grade=grade) if request.method == "GET" else GradeForm()
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                grading.save_grade(
                    db.session,
                    grade,
                    name=form.name.data,
                    rates_bp=form.rates_bp(),
                    sort=form.sort.data or 0,
                    upgrade=form.conditions(),
                    dividend_ratio_bp=form.dividend_ratio_bp.data or 0,
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
    grade = _grade_or_404(grade_id)
    if ActionForm().validate_on_submit():
        name = grade.name
        grading.delete_grade(db.session, grade, actor=current_user)
        db.session.commit()
        flash(_("Grade “%(name)s” deleted; its distributors now use the shop's rates.", name=name), "success")
    else:
        flash(_("The page has expired. Please refresh it and try again."), "error")
    if htmx:
        return Response(status=200, headers={"HX-Redirect": url_for("admin.distribution_grades")})
    return redirect(url_for("admin.distribution_grades"))


# ---------------------------------------------------------------- applications


def _application_or_404(application_id: int) -> DistributorApplication:
    return get_or_404(DistributorApplication, application_id, _("This application does not exist."))


@bp.get("/distribution/applications")
@permission_required(Permission.DISTRIBUTION)
def distribution_applications():
    tab = tab_arg(queries.APPLICATION_TABS, "pending")
    context = {
        "page": db.paginate(
            queries.applications_query(tab), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "tab": tab,
        "tabs": queries.APPLICATION_TABS,
        "tab_labels": APPLICATION_TAB_LABELS,
        "counts": queries.application_counts(db.session),
        "settings": dist.get_settings(db.session),
        "forms": {},
    }
    return render_template("admin/distribution/applications.html", **context)


def _application_row(application: DistributorApplication, message: str, failed: dict | None = None):
    """After a decision: the application's row again, with the reject form (as typed, when it was the one
    refused) after a refusal."""
    reject_form = None
    if failed is not None:
        reject_form = failed.get("reject") or RejectApplicationForm(formdata=None)

    def row() -> str:
        fresh = db.session.get(DistributorApplication, application.id)
        return render_template(
            "admin/distribution/_application_row.html", application=fresh, reject_form=reject_form
        )

    return action_answer(message, failed is not None, url_for("admin.distribution_applications"), row)


# The decisions on an application's row.
application_action = record_action(Permission.DISTRIBUTION, _application_or_404, _application_row)


@bp.post("/distribution/applications/<int:application_id>/approve")
@application_action("approve", ActionForm)
def distribution_applications_approve(application: DistributorApplication, form: ActionForm) -> str:
    dist.approve_application(db.session, application, actor=current_user)
    return _("%(name)s is now a distributor.", name=application.real_name)


@bp.post("/distribution/applications/<int:application_id>/reject")
@application_action("reject", RejectApplicationForm)
def distribution_applications_reject(application: DistributorApplication, form: RejectApplicationForm) -> str:
    try:
        dist.reject_application(db.session, application, actor=current_user, reason=form.reject_reason.data)
    except dist.DistributionError as error:
        error.field = "reject_reason"  # the row shows the reject form's messages under the reason only
        raise
    return _("Application rejected; the applicant sees your reason.")


# ---------------------------------------------------------------- binding log


@bp.get("/distribution/bindings")
@permission_required(Permission.DISTRIBUTION)
def distribution_bindings():
    member, distributor = text_arg("member"), text_arg("distributor")
    context = {
        "page": db.paginate(
            queries.bindings_query(member, distributor), page=page_arg(), per_page=PER_PAGE, error_out=False
        ),
        "member": member,
        "distributor_q": distributor,
    }
    return list_page("admin/distribution/bindings.html", **context)
