"""Distribution in the back office: the words its pages use, the merchant's rules, and the overview. The
distributors, grades, applications and binding log are in app.admin.distributors, the commission ledger,
fraud holds and each order's commission in app.admin.commissions, withdrawals in app.admin.withdrawals.
The rules live in app.distribution; these views parse input, call them, commit or roll back, and render."""

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import badges, local_time
from app.distribution import admin_queries as queries
from app.distribution import dividend_settings, engine, ledger
from app.distribution import grades as grading
from app.distribution import services as dist
from app.distribution.admin_forms import DistributionSettingsForm
from app.distribution.admin_overview import overview
from app.extensions import db
from app.jobs import last_runs
from app.money import format_bp, format_fen

JOBS = ("distribution-settle", "distribution-dividends", "ledger-audit")
JOB_LABELS = {
    "distribution-settle": _l("Settle (frozen → available)"),
    "distribution-dividends": _l("Dividends (each final day)"),
    "ledger-audit": _l("Ledger audit"),
}
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
    "dividend": _l("Dividend"),
}
COMMISSION_STATUS_LABELS = {
    "frozen": _l("Frozen"),
    "released": _l("Available"),
    "voided": _l("Voided"),
}
WITHDRAWAL_STATUS_LABELS, WITHDRAWAL_STATUS_COLOURS = badges(
    requested=(_l("Requested"), "warning"),
    approved=(_l("Approved"), "primary"),
    paid=(_l("Paid out"), "success"),
    rejected=(_l("Declined"), "secondary"),
)
METHOD_LABELS = {"wechat": _l("WeChat"), "alipay": _l("Alipay"), "bank": _l("Bank card")}
APPLICATION_STATUS_LABELS, APPLICATION_STATUS_COLOURS = badges(
    pending=(_l("To review"), "warning"),
    approved=(_l("Approved"), "success"),
    rejected=(_l("Rejected"), "secondary"),
)
APPLICATION_TAB_LABELS = {**APPLICATION_STATUS_LABELS, "all": _l("All")}
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
GRADE_CHANGE_LABELS = {
    "automatic": _l("Automatic upgrade"),
    "manual": _l("Changed by hand"),
    "grade_deleted": _l("Grade deleted"),
}
MODE_LABELS = {"everyone": _l("Every member"), "apply": _l("Apply and review"), "spend": _l("By spend")}


def rates_text(rates) -> str:
    """[1000, 500] -> "10% / 5%"."""
    if rates is None:
        return _("the shop's rates")
    return " / ".join(format_bp(rate) for rate in rates) or "—"


def upgrade_text(grade) -> str:
    """A grade's conditions in one line: "all of: commission ≥ ¥500.00, own spend ≥ ¥1,000.00"."""
    labels = {
        "commission": _("commission earned"),
        "own_spend": _("own spend"),
        "team_spend": _("direct referrals' spend"),
    }
    parts = [f"{labels[kind]} ≥ {format_fen(fen)}" for kind, fen in grading.conditions(grade)]
    if not parts:
        return _("By hand only")
    joined = _(", ").join(parts)
    return (
        _("All of: %(conditions)s", conditions=joined)
        if grade.upgrade_mode == "all"
        else _("Any of: %(conditions)s", conditions=joined)
    )


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
        "application_status_colours": APPLICATION_STATUS_COLOURS,
        "application_actions": dist.application_actions,
        # Every withdrawal button moves money: none shows to staff without the money permission.
        "withdrawal_actions": lambda w: (
            ledger.withdrawal_actions(w) if current_user.can(Permission.MONEY) else set()
        ),
        "shop_rates": lambda: dist.get_settings(db.session).rates_bp,
        "dist_when": local_time,
        "rates_text": rates_text,
        "upgrade_text": upgrade_text,
        "grade_change_labels": GRADE_CHANGE_LABELS,
    }


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
        dividends = dividend_settings.stored_dividends_bp(db.session)
        room = engine.CAP_BP - dividends
        try:
            engine.check_vector(rates)
        except ValueError:
            example["problem"] = _("The rates add up to more than 30%, the most WeChat Pay allows.")
        else:
            if example["total_bp"] > room:
                example["problem"] = _(
                    "Dividend pools are on and take %(dividends)s of the turnover: the rates may add up to at "
                    "most %(room)s.",
                    dividends=format_bp(dividends),
                    room=format_bp(room),
                )
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


# ---------------------------------------------------------------- overview


@bp.get("/distribution/overview")
@permission_required(Permission.DISTRIBUTION)
def distribution_overview():
    data = overview(db.session)
    peak = max((amount for _day, amount in data.daily), default=0)
    return render_template(
        "admin/distribution/overview.html",
        data=data,
        peak=peak,
        settings=dist.get_settings(db.session),
        runs=last_runs(),
        jobs=JOBS,
        job_labels=JOB_LABELS,
    )
