"""Dividend settings in the back office (分销 → 分红设置): the form, its live example of one day worked with
the ratios as typed, and saving. The rules are app.distribution.dividend_settings'; the owner changes them,
as the other rules of the shop."""

import dataclasses

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.distribution import dividend_settings as dividends
from app.distribution import grades as grading
from app.distribution import services as dist
from app.distribution.admin_forms import DividendSettingsForm
from app.extensions import db

TEMPLATE = "admin/distribution/dividend_settings.html"


def _form(**kwargs) -> DividendSettingsForm:
    return DividendSettingsForm.for_grades(grading.ladder(db.session), **kwargs)


def _example(form: DividendSettingsForm) -> dict:
    """The example beside the form: one day worked with the ratios and caps as typed, or why not yet."""
    ratio_fields = [field for _grade, field in form.grade_fields()] + form.level_fields()
    caps = [form[f"cap_{period}_fen"] for period in dividends.CAP_PERIODS]
    typo = next((field for field in ratio_fields + caps if field.process_errors), None)
    if typo is not None:
        return {"problem": str(typo.process_errors[0])}
    settings = dist.get_settings(db.session)
    data = dataclasses.replace(form.to_input(), enabled=True)
    try:
        rules = dividends.rules_of(db.session, data, settings)
    except dist.DistributionError as error:
        return {"problem": str(error.message)}
    day = dividends.example_day(db.session)
    return {"problem": None, "day": dividends.work_example(db.session, rules, day)}


def _render(form: DividendSettingsForm, status: int = 200):
    context = {"form": form, "settings": dist.get_settings(db.session), "example": _example(form)}
    return make_response(render_template(TEMPLATE, **context), status)


@bp.route("/distribution/dividend-settings", methods=["GET", "POST"])
@permission_required(Permission.SETTINGS)
def distribution_dividend_settings():
    if request.method == "GET":
        return _render(_form(settings=dist.get_settings(db.session), formdata=None))
    form = _form()
    if not form.validate_on_submit():
        return _render(form, 422)
    try:
        dividends.save_dividend_settings(db.session, form.to_input(), current_user)
    except dist.DistributionError as error:
        db.session.rollback()
        form.apply_error(error)
        return _render(form, 422)
    db.session.commit()
    flash(_("Dividend settings saved."), "success")
    return redirect(url_for("admin.distribution_dividend_settings"))


@bp.post("/distribution/dividend-settings/example")
@permission_required(Permission.SETTINGS)
def distribution_dividend_settings_example():
    form = _form()
    form.validate()  # only to parse: nothing is saved here
    return render_block(TEMPLATE, "example", form=form, example=_example(form))
