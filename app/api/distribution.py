"""Distribution (分销) for the distributor: whether they are one and how to become one, the centre's
figures, the commission list and the team — the H5 分销中心 (app/shop/distribution.py) as JSON, on the same
services and queries (app/distribution). Nothing here computes commission or decides who may join."""

from flask_babel import gettext as _
from flask_babel import ngettext
from spectree import Response

from app.accounts.models import User
from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_distribution import (
    DistApplicationOut,
    DistApplyFormOut,
    DistApplyIn,
    DistBalancesOut,
    DistCommissionOut,
    DistCommissionPageOut,
    DistCommissionsQuery,
    DistEarningsOut,
    DistGradeOut,
    DistJoinRulesOut,
    DistMemberOut,
    DistNeedOut,
    DistRateOut,
    DistributionCentreOut,
    DistributionStatusOut,
    DistTeamCountsOut,
    DistTeamPageOut,
    DistTeamQuery,
)
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.distribution import dividend_queries, grades, ledger, queries
from app.distribution import services as dist
from app.distribution.models import ApplicationStatus, Distributor, DistributorApplication
from app.extensions import db
from app.money import format_bp
from app.payments.gateways import public_url
from app.timeutil import utcnow

TAGS = ["distribution"]
SECURITY = {BEARER: []}
NOT_DISTRIBUTOR = Response(HTTP_401=ErrorBody, HTTP_403=ErrorBody)


# ---------------------------------------------------------------- helpers (shared with distribution_share)


def caller() -> User:
    return api_user()


def api_distributor() -> Distributor:
    """The caller's distributor record, or 403 not_distributor (the H5 pages send such a member to the
    page that says how to become one)."""
    distributor = dist.distributor_of(db.session, caller().id)
    if distributor is None:
        raise ApiError(
            403,
            _("Only distributors can see this. Become a distributor in the distributor centre first."),
            code="not_distributor",
        )
    return distributor


def release(distributor: Distributor) -> None:
    """What is due is released before a balance is shown, as on the H5 centre (nothing waits for cron)."""
    if ledger.release_due(db.session, distributor_id=distributor.id):
        db.session.commit()
        db.session.refresh(distributor)
    else:
        db.session.rollback()


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def shop_link(distributor: Distributor) -> str:
    return public_url("shop.index", ref=distributor.code)


def rates_out(rates_bp) -> list[DistRateOut]:
    return [DistRateOut(level=n, rate_bp=rate, text=format_bp(rate)) for n, rate in enumerate(rates_bp, 1)]


def service_error_fields(error) -> dict:
    """A service refusal's problems as {field: message}: its own field first, then the others."""
    fields = {error.field: error.message} if error.field else {}
    for field, message in error.more:
        fields.setdefault(field, message)
    return fields


# ---------------------------------------------------------------- joining


def _status() -> DistributionStatusOut:
    user = caller()
    settings = dist.get_settings(db.session)
    distributor = dist.distributor_of(db.session, user.id)
    application = queries.latest_application(db.session, user.id)
    can_join, why_not = dist.can_join_now(db.session, user)
    spend_mode = settings.mode == "spend"
    if distributor is not None:
        state = "distributor" if distributor.is_active else "disabled"
    elif application is not None and application.status in (
        ApplicationStatus.PENDING,
        ApplicationStatus.REJECTED,
    ):
        state = str(application.status)
    else:
        state = "none"
    rejected = application is not None and application.status == ApplicationStatus.REJECTED
    return DistributionStatusOut(
        state=state,
        distribution_open=settings.enabled,
        code=distributor.code if distributor else None,
        disabled_reason=distributor.disabled_reason if distributor and not distributor.is_active else None,
        application=_application_out(application) if application else None,
        join=DistJoinRulesOut(
            mode=settings.mode,
            can_join=can_join and distributor is None,
            why_not=why_not,
            spent=Money.of(dist.paid_spend_fen(db.session, user.id)) if spend_mode else None,
            spend_threshold=Money.of(settings.spend_threshold_fen) if spend_mode else None,
            rates=rates_out(settings.rates_bp[: settings.levels]),
            freeze_days=settings.freeze_days,
            withdrawal_min=Money.of(settings.withdrawal_min_fen),
        ),
        form=DistApplyFormOut(
            real_name=application.real_name if rejected else "",
            mobile=application.mobile if rejected else (user.mobile or ""),
            reason=application.reason if rejected else "",
        ),
    )


def _application_out(application: DistributorApplication) -> DistApplicationOut:
    return DistApplicationOut(
        status=application.status,
        real_name=application.real_name,
        mobile=application.mobile,
        reason=application.reason,
        reject_reason=application.reject_reason if application.status == ApplicationStatus.REJECTED else None,
        created_at=application.created_at.isoformat(),
        decided_at=iso(application.decided_at),
    )


@bp.get("/distribution/status")
@login_required
@spec.validate(
    resp=Response(HTTP_200=DistributionStatusOut, HTTP_401=ErrorBody), tags=TAGS, security=SECURITY
)
def distribution_status():
    """Whether the caller is a distributor, and how to become one

    The state (distributor, disabled, an application pending or rejected with the reason), whether the
    shop runs distribution, how one joins in this shop (apply for review, join at once, or after a spend),
    the rates and rules the H5 join page shows, and what the apply form is filled with."""
    return _status()


def _join_refusal(error: dist.DistributionError) -> ApiError:
    """A refusal of the services as an API error: a problem with a field is 422, anything else is a
    conflict with the caller's state (already a distributor, under review, closed, not this mode)."""
    fields = service_error_fields(error)
    if fields:
        return ApiError(422, error.message, code="invalid", fields=fields)
    user = caller()
    if dist.distributor_of(db.session, user.id) is not None:
        code = "already_distributor"
    elif queries.application_pending(queries.latest_application(db.session, user.id)):
        code = "application_pending"
    elif not dist.get_settings(db.session).enabled:
        code = "distribution_closed"
    else:
        code = "not_allowed"
    return ApiError(409, error.message, code=code)


@bp.post("/distribution/apply")
@login_required
@spec.validate(
    json=DistApplyIn,
    resp=Response(HTTP_200=DistributionStatusOut, HTTP_401=ErrorBody, HTTP_409=ErrorBody, HTTP_422=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_apply(json: DistApplyIn):
    """Apply to become a distributor (shops that review applications)

    The H5 apply form's service and checks: real name, mobile, an optional reason. Answers the new status
    (pending). 409 when the caller is a distributor already, has an application under review, the shop
    has closed distribution or takes no applications (join instead); 422 names the field that is wrong."""
    try:
        dist.apply(db.session, caller(), real_name=json.real_name, mobile=json.mobile, reason=json.reason)
        db.session.commit()
    except dist.DistributionError as error:
        db.session.rollback()
        raise _join_refusal(error) from None
    return _status()


@bp.post("/distribution/join")
@login_required
@spec.validate(
    resp=Response(HTTP_200=DistributionStatusOut, HTTP_401=ErrorBody, HTTP_409=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_join():
    """Become a distributor at once (shops open to everyone, or after a spend)

    As the H5 "become a distributor" button. 409 (with the reason, e.g. how much more to spend) when the
    shop reviews applications, has closed distribution, or the spend is not reached; a distributor
    already is answered their status unchanged."""
    if dist.distributor_of(db.session, caller().id) is None:
        try:
            dist.join(db.session, caller())
            db.session.commit()
        except dist.DistributionError as error:
            db.session.rollback()
            raise _join_refusal(error) from None
    return _status()


# ---------------------------------------------------------------- the centre


def _grade_out(distributor: Distributor, settings) -> DistGradeOut:
    progress = grades.progress(db.session, distributor, settings)
    return DistGradeOut(
        name=progress.grade.name if progress.grade else _("Distributor"),
        rates=rates_out(progress.rates_bp),
        next_grade=progress.next_grade.name if progress.next_grade else None,
        headline=progress.headline,
        needs=[
            DistNeedOut(
                kind=need.kind,
                label=need.label,
                text=need.text,
                have=Money.of(need.have_fen),
                need=Money.of(need.need_fen),
                percent=need.percent,
            )
            for need in progress.needs or []
        ],
        ready=progress.ready,
        at_top=progress.at_top,
    )


def _notices(distributor: Distributor, settings) -> list[str]:
    notices = []
    if not distributor.is_active:
        reason = distributor.disabled_reason or _("please contact the shop.")
        notices.append(_("Your distributor account is disabled: %(reason)s", reason=reason))
    elif not settings.enabled:
        notices.append(
            _(
                "The shop has paused distribution: new orders earn no commission for now. What you have "
                "earned is settled and can be withdrawn as usual."
            )
        )
    if distributor.available_fen < 0:
        notices.append(
            _(
                "Your available balance is below zero after a refund; withdrawals open again once it is "
                "positive."
            )
        )
    return notices


@bp.get("/distribution/centre")
@login_required
@spec.validate(
    resp=Response(HTTP_200=DistributionCentreOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_centre():
    """The distributor centre (分销中心): grade, balances, today's and this month's earnings, the team

    The same figures as the H5 centre, from the same queries, after releasing what is due. 403
    not_distributor for a member who is not a distributor (see /distribution/status)."""
    distributor = api_distributor()
    release(distributor)
    settings = dist.get_settings(db.session)
    now = utcnow()
    earnings = queries.earnings(db.session, distributor.id, now)
    dividends = dividend_queries.dividend_totals(db.session, distributor.id, now)
    withdrawing = queries.withdrawing_fen(db.session, distributor.id)
    level_one, level_two = queries.team_counts(db.session, distributor.user_id)
    total = distributor.available_fen + distributor.frozen_fen + withdrawing + distributor.withdrawn_fen
    return DistributionCentreOut(
        code=distributor.code,
        active=distributor.is_active,
        disabled_reason=distributor.disabled_reason if not distributor.is_active else None,
        distribution_open=settings.enabled,
        grade=_grade_out(distributor, settings),
        balances=DistBalancesOut(
            available=Money.of(distributor.available_fen),
            frozen=Money.of(distributor.frozen_fen),
            withdrawing=Money.of(withdrawing),
            withdrawn=Money.of(distributor.withdrawn_fen),
            total_earned=Money.of(total),
        ),
        earnings=DistEarningsOut(
            today=Money.of(earnings.today_fen),
            month=Money.of(earnings.month_fen),
            dividends_month=Money.of(dividends.month_fen)
            if settings.dividends_enabled or dividends.days > 0
            else None,
        ),
        team=DistTeamCountsOut(level_one=level_one, level_two=level_two, total=level_one + level_two),
        shop_link=shop_link(distributor),
        freeze_days=settings.freeze_days,
        withdrawal_min=Money.of(settings.withdrawal_min_fen),
        notices=_notices(distributor, settings),
    )


# ---------------------------------------------------------------- commissions


def _state_labels() -> dict[str, str]:
    return {
        "frozen": _("Frozen"),
        "held": _("Under review"),
        "released": _("Available"),
        "voided": _("Voided"),
        "refunded": _("Refunded"),
    }


def _level_label(level: int, self_purchase: bool) -> str:
    if self_purchase:
        return _("Own purchase")
    return {1: _("Level 1"), 2: _("Level 2")}.get(level) or _("Level 3")


def _commission_note(row: queries.CommissionRow, freeze_days: int) -> str | None:
    """The line under an entry on the H5 commission list."""
    if row.state == "frozen":
        if row.after_sales:
            return _("After-sales request open: waits until it is settled")
        if row.release_on:
            return _("Available from %(date)s", date=row.release_on.isoformat())
        return ngettext(
            "Available %(num)d day after the buyer receives the order",
            "Available %(num)d days after the buyer receives the order",
            freeze_days,
        )
    if row.state == "held":
        return _("The shop is checking this order; the commission stays frozen until then")
    if row.state == "voided" and row.void_reason:
        return _("Voided by the shop: %(reason)s", reason=row.void_reason)
    if row.state == "released" and row.current_fen < row.original_fen:
        return _("Reduced by a refund")
    return None


def _cursor(raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ApiError(422, fields={"cursor": _("This page marker is not valid. Please start again.")})
    return int(raw)


@bp.get("/distribution/commissions")
@login_required
@spec.validate(
    query=DistCommissionsQuery,
    resp=Response(HTTP_200=DistCommissionPageOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody, HTTP_422=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_commissions(query: DistCommissionsQuery):
    """The caller's commission entries, newest first, by state, with a cursor

    Only the caller's own. Each entry as the H5 list shows it: the order number and the buyer masked, the
    amount now and at payment, the state in Chinese and the note under it (when it becomes available,
    why it was voided). 403 not_distributor for a member who is not one."""
    distributor = api_distributor()
    before = _cursor(query.cursor)
    if before is None:
        release(distributor)
    settings = dist.get_settings(db.session)
    page = queries.commission_page(
        db.session, distributor, freeze_days=settings.freeze_days, state=query.state or None, before=before
    )
    labels = _state_labels()
    return DistCommissionPageOut(
        items=[
            DistCommissionOut(
                id=row.id,
                order_number=row.masked_number,
                created_at=row.created_at.isoformat(),
                level=row.level,
                level_label=_level_label(row.level, row.self_purchase),
                self_purchase=row.self_purchase,
                buyer=row.buyer,
                state=row.state,
                state_label=labels[row.state],
                amount=Money.of(row.current_fen),
                original=Money.of(row.original_fen),
                release_on=iso(row.release_on),
                after_sales=row.after_sales,
                note=_commission_note(row, settings.freeze_days),
            )
            for row in page.items
        ],
        next_cursor=str(page.next_before) if page.next_before else None,
    )


# ---------------------------------------------------------------- team


@bp.get("/distribution/team")
@login_required
@spec.validate(
    query=DistTeamQuery,
    resp=Response(HTTP_200=DistTeamPageOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody),
    tags=TAGS,
    security=SECURITY,
)
def distribution_team(query: DistTeamQuery):
    """The caller's team: level 1 (referred by them) or level 2, newest binding first, by page

    Names and numbers masked as on the H5 team page, with each member's paid sales and how long the
    binding lasts. 403 not_distributor for a member who is not one."""
    distributor = api_distributor()
    page = queries.team_page(
        db.session, distributor.user_id, level=query.level, now=utcnow(), page=query.page
    )
    level_one, level_two = queries.team_counts(db.session, distributor.user_id)
    return DistTeamPageOut(
        level=query.level,
        counts=DistTeamCountsOut(level_one=level_one, level_two=level_two, total=level_one + level_two),
        items=[
            DistMemberOut(
                id=member.user_id,
                label=member.label,
                joined_at=iso(member.joined_at),
                bound_until=iso(member.bound_until),
                lapsed=member.lapsed,
                orders=member.orders,
                sales=Money.of(member.sales_fen),
                via=member.via or None,
            )
            for member in page.items
        ],
        page=page.page,
        next_page=page.next_num if page.has_next else None,
    )
