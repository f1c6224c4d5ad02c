"""限时折扣 and 满减/满折 in the back office: the lists with their status and a stop button, and the forms (SKU
rows with a search for the discount, tiers and the scope chooser for full reduction). The checks are
marketing.campaigns'."""

from flask import request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.marketing import (
    edit_page,
    list_answer,
    scope_context,
    scope_names,
    search_products,
)
from app.admin.viewutil import form_routes, get_or_404, list_page
from app.catalog.models import Sku
from app.extensions import db
from app.marketing import campaigns
from app.marketing.members import discount_words
from app.marketing.models import FullReductionCampaign, TimedDiscount
from app.marketing.offer_forms import FullReductionForm, TimedDiscountForm
from app.money import format_fen

STOPPABLE = ("upcoming", "running")


def campaign_actions(status: str) -> list[str]:
    """What the merchant may do with a campaign in this status."""
    actions = [] if status == "stopped" else ["edit"]
    return actions + (["stop"] if status in STOPPABLE else [])


def _stop(campaign, name: str) -> tuple[str, str]:
    """Stop it now if it has not ended: (message, toast level)."""
    if campaigns.status_of(campaign) not in STOPPABLE:
        return _("“%(name)s” has already ended or been stopped.", name=name), "warning"
    campaigns.stop(db.session, campaign)
    db.session.commit()
    return _("“%(name)s” stopped.", name=name), "success"


# ---------------------------------------------------------------- 限时折扣


def _discounts_context() -> dict:
    rows = []
    for discount in campaigns.timed_discounts(db.session):
        status = campaigns.status_of(discount)
        rows.append((discount, status, campaign_actions(status)))
    return {"rows": rows}


@bp.get("/marketing/discounts")
@permission_required(Permission.MARKETING)
def marketing_discounts():
    return list_page("admin/marketing/discounts.html", **_discounts_context())


def _discount_or_404(discount_id: int) -> TimedDiscount:
    return get_or_404(TimedDiscount, discount_id, _("The discount does not exist or has been deleted."))


def _discount_context(form: TimedDiscountForm) -> dict:
    """The SKUs in the form by id (with their products), and the search results of a refresh."""
    ids = [row.sku_id for row in form.rows]
    skus = db.session.scalars(select(Sku).options(joinedload(Sku.product)).where(Sku.id.in_(ids)))
    return {
        "skus": {sku.id: sku for sku in skus},
        "chosen_skus": set(ids),
        "sku_results": search_products(request.form.get("sku_q", "")) if request.form else None,
    }


@form_routes("/marketing/discounts", "<int:discount_id>/edit", Permission.MARKETING, _discount_or_404)
def _discount_form(discount: TimedDiscount | None):
    return edit_page(
        "admin/marketing/discount_form.html",
        TimedDiscountForm,
        discount,
        save=campaigns.save_timed_discount,
        saved=lambda saved: (_("Discount “%(name)s” saved.", name=saved.name), "admin.marketing_discounts"),
        context=_discount_context,
        refresh=TimedDiscountForm.items_action,
    )


@bp.post("/marketing/discounts/<int:discount_id>/stop")
@permission_required(Permission.MARKETING)
def marketing_discounts_stop(discount_id: int):
    discount = _discount_or_404(discount_id)
    message, level = _stop(discount, discount.name)
    return list_answer(
        "admin/marketing/discounts.html", "admin.marketing_discounts", _discounts_context(), message, level
    )


# ---------------------------------------------------------------- 满减 / 满折


def tier_words(tier: dict, repeat: bool) -> str:
    """ "满¥100.00减¥10.00", "每满¥100.00减¥10.00", "满¥200.00打9折" in the merchant's language."""
    threshold = format_fen(tier["threshold_fen"])
    if tier.get("reduce_fen") is not None:
        off = format_fen(tier["reduce_fen"])
        if repeat:
            return _("%(off)s off every %(threshold)s", off=off, threshold=threshold)
        return _("%(off)s off from %(threshold)s", off=off, threshold=threshold)
    return _("%(rate)s from %(threshold)s", rate=discount_words(tier["discount_bp"]), threshold=threshold)


def _reductions_context() -> dict:
    rows = []
    for campaign in campaigns.full_reductions(db.session):
        status = campaigns.status_of(campaign)
        tiers = [tier_words(tier, campaign.repeat) for tier in campaign.tiers]
        scope = scope_names(campaign.scope_kind, campaign.scope_ids or [])
        rows.append((campaign, status, campaign_actions(status), tiers, scope))
    return {"rows": rows}


@bp.get("/marketing/reductions")
@permission_required(Permission.MARKETING)
def marketing_reductions():
    return list_page("admin/marketing/reductions.html", **_reductions_context())


def _reduction_or_404(campaign_id: int) -> FullReductionCampaign:
    return get_or_404(
        FullReductionCampaign, campaign_id, _("The campaign does not exist or has been deleted.")
    )


@form_routes("/marketing/reductions", "<int:campaign_id>/edit", Permission.MARKETING, _reduction_or_404)
def _reduction_form(campaign: FullReductionCampaign | None):
    return edit_page(
        "admin/marketing/reduction_form.html",
        FullReductionForm,
        campaign,
        save=campaigns.save_full_reduction,
        saved=lambda saved: (_("Campaign “%(name)s” saved.", name=saved.name), "admin.marketing_reductions"),
        context=scope_context,
        refresh=FullReductionForm.scope_action,
    )


@bp.post("/marketing/reductions/<int:campaign_id>/stop")
@permission_required(Permission.MARKETING)
def marketing_reductions_stop(campaign_id: int):
    campaign = _reduction_or_404(campaign_id)
    message, level = _stop(campaign, campaign.name)
    return list_answer(
        "admin/marketing/reductions.html", "admin.marketing_reductions", _reductions_context(), message, level
    )
