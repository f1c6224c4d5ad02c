"""Coupon templates in the back office: the list with what each gives and how many were claimed, the form with
every field of a template and the scope chooser, the stop button, and issuing a template of the "issued by
the shop" kind to chosen customers or to every member of a level. The rules are marketing.coupons'."""

from datetime import datetime

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select

from app.accounts.models import Permission, User
from app.admin import bp, permission_required
from app.admin.marketing import (
    SCOPE_CHOOSER,
    RecordPages,
    form_answer,
    level_member_counts,
    saved_answer,
    scope_names,
)
from app.admin.viewutil import local_time
from app.db_types import parse_id
from app.extensions import db
from app.marketing import coupons, members
from app.marketing.forms import IssueForm
from app.marketing.models import CouponChannel, CouponTemplate, MemberAccount, MemberLevel
from app.marketing.offer_forms import CouponTemplateForm
from app.timeutil import utcnow

CHANNEL_LABELS = {
    CouponChannel.CENTRE: _l("Coupon centre"),
    CouponChannel.NEWCOMER: _l("New customers"),
    CouponChannel.ISSUED: _l("Issued by the shop"),
    CouponChannel.CODE: _l("Distributor code"),
}


def template_status(template: CouponTemplate, now: datetime) -> str:
    """stopped | ended (no more claims) | upcoming | sold_out | claimable."""
    if template.is_stopped:
        return "stopped"
    if template.claim_ends_at and now >= template.claim_ends_at:
        return "ended"
    if not template.valid_days and template.valid_until and template.valid_until <= now:
        return "ended"
    if template.claim_starts_at and now < template.claim_starts_at:
        return "upcoming"
    if template.total_qty and template.claimed_qty >= template.total_qty:
        return "sold_out"
    return "claimable"


def template_actions(template: CouponTemplate, status: str) -> list[str]:
    """What the merchant may do with a template in this status (a stopped one stays for the record)."""
    if status == "stopped":
        return []
    actions = ["edit", "stop"]
    if template.channel == CouponChannel.ISSUED and status == "claimable":
        actions.append("issue")
    return actions


def validity_words(template: CouponTemplate) -> str:
    if template.valid_days:
        return ngettext("%(num)d day after claiming", "%(num)d days after claiming", template.valid_days)
    return f"{local_time(template.valid_from)} – {local_time(template.valid_until)}"


COUPONS = RecordPages(
    "coupons", "template_id", CouponTemplate, _l("The coupon does not exist or has been deleted.")
)


@COUPONS.list_view
def _coupons_context() -> dict:
    now = utcnow()
    rows = []
    for template in coupons.templates(db.session):
        status = template_status(template, now)
        rows.append(
            {
                "template": template,
                "gives": coupons.describe(template),
                "channel": CHANNEL_LABELS.get(template.channel, template.channel),
                "scope": scope_names(template.scope_kind, template.scope_ids or []),
                "validity": validity_words(template),
                "status": status,
                "actions": template_actions(template, status),
            }
        )
    return {"rows": rows}


COUPONS.form_view(CouponTemplateForm, coupons.save_template, _l("Coupon “%(name)s” saved."), **SCOPE_CHOOSER)


@COUPONS.row_button("stop")
def _stop_coupon(template: CouponTemplate) -> tuple[str, str]:
    """No more claims from now on; coupons already held stay usable."""
    name = template.name
    if template.is_stopped:
        return _("“%(name)s” has already been stopped.", name=name), "warning"
    template.is_stopped = True
    db.session.commit()
    message = _("“%(name)s” stopped: no more can be claimed. Coupons already held stay usable.", name=name)
    return message, "success"


# ---------------------------------------------------------------- issuing


@bp.route("/marketing/coupons/<int:template_id>/issue", methods=["GET", "POST"])
@permission_required(Permission.MARKETING)
def marketing_coupons_issue(template_id: int):
    template = COUPONS.load(template_id)
    page = "admin/marketing/coupon_issue.html"
    levels = members.all_levels(db.session)
    context = {
        "template": template,
        "gives": coupons.describe(template),
        "state": template_status(template, utcnow()),
        "issuable": template.channel == CouponChannel.ISSUED,
        "counts": level_member_counts(),
    }
    if request.method == "GET":
        return form_answer(page, form=IssueForm(levels=levels), **context)
    form = IssueForm(request.form, levels=levels)
    if not context["issuable"]:
        form.form_errors.append(_("Only coupons issued by the shop can be given out here."))
    elif form.validate():
        user_ids, unknown = _audience(form)
        if user_ids:
            given, skipped = coupons.issue(db.session, template, user_ids)
            db.session.commit()
            message = _(
                "%(given)d coupons issued, %(skipped)d customers skipped.", given=given, skipped=skipped
            )
            if unknown:
                shown = "、".join(unknown[:10])
                message += " " + ngettext(
                    "%(num)d number belongs to no customer: %(list)s",
                    "%(num)d numbers belong to no customer: %(list)s",
                    len(unknown),
                    list=shown,
                )
            return saved_answer(
                message,
                "admin.marketing_coupons_issue",
                "success" if given else "error",
                template_id=template.id,
            )
    return form_answer(page, 422, form=form, **context)


def _audience(form: IssueForm) -> tuple[list[int], list[str]]:
    """(the customers' ids, the numbers typed that belong to no one); a refusal goes on the form."""
    if form.audience.data == "level":
        level = db.session.get(MemberLevel, parse_id(form.level_id.data))
        if level is None:
            form.level_id.errors.append(_("Choose a level."))
            return [], []
        ids = list(
            db.session.scalars(select(MemberAccount.user_id).where(MemberAccount.level_id == level.id))
        )
        if not ids:
            form.level_id.errors.append(_("No member is at this level yet."))
        elif len(ids) > coupons.MAX_ISSUE:
            message = _(
                "At most %(n)d customers at a time: this level has %(m)d.", n=coupons.MAX_ISSUE, m=len(ids)
            )
            form.level_id.errors.append(message)
            return [], []
        return ids, []
    mobiles, _bad = form.mobile_list()
    found = dict(db.session.execute(select(User.mobile, User.id).where(User.mobile.in_(mobiles))).all())
    unknown = [mobile for mobile in mobiles if mobile not in found]
    if not found:
        form.mobiles.errors.append(_("None of these numbers belongs to a customer."))
    return [found[mobile] for mobile in mobiles if mobile in found], unknown
