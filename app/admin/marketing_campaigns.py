"""限时折扣 and 满减/满折 in the back office: the lists with their status and a stop button, and the forms (SKU
rows with a search for the discount, tiers and the scope chooser for full reduction). The checks are
marketing.campaigns'."""

from collections.abc import Callable

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.admin.marketing import SCOPE_CHOOSER, RecordPages, scope_names, search_products
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


def _campaign_rows(found, more: Callable[..., tuple] = lambda campaign: ()) -> dict:
    """A campaign list's rows: each campaign, its status, what may be done with it, then what `more` says
    of it."""
    rows = []
    for campaign in found:
        status = campaigns.status_of(campaign)
        rows.append((campaign, status, campaign_actions(status), *more(campaign)))
    return {"rows": rows}


def _stop(campaign) -> tuple[str, str]:
    """Stop it now if it has not ended: (message, toast level)."""
    name = campaign.name
    if campaigns.status_of(campaign) not in STOPPABLE:
        return _("“%(name)s” has already ended or been stopped.", name=name), "warning"
    campaigns.stop(db.session, campaign)
    db.session.commit()
    return _("“%(name)s” stopped.", name=name), "success"


# ---------------------------------------------------------------- 限时折扣


DISCOUNTS = RecordPages(
    "discounts", "discount_id", TimedDiscount, _l("The discount does not exist or has been deleted.")
)


@DISCOUNTS.list_view
def _discounts_context() -> dict:
    return _campaign_rows(campaigns.timed_discounts(db.session))


def _discount_context(form: TimedDiscountForm) -> dict:
    """The SKUs in the form by id (with their products), and the search results of a refresh."""
    ids = [row.sku_id for row in form.rows]
    skus = db.session.scalars(select(Sku).options(joinedload(Sku.product)).where(Sku.id.in_(ids)))
    return {
        "skus": {sku.id: sku for sku in skus},
        "chosen_skus": set(ids),
        "sku_results": search_products(request.form.get("sku_q", "")) if request.form else None,
    }


DISCOUNTS.form_view(
    TimedDiscountForm,
    campaigns.save_timed_discount,
    _l("Discount “%(name)s” saved."),
    context=_discount_context,
    refresh=TimedDiscountForm.items_action,
)
DISCOUNTS.row_button("stop")(_stop)


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


REDUCTIONS = RecordPages(
    "reductions", "campaign_id", FullReductionCampaign, _l("The campaign does not exist or has been deleted.")
)


def _tiers_and_scope(campaign: FullReductionCampaign) -> tuple[list[str], str]:
    tiers = [tier_words(tier, campaign.repeat) for tier in campaign.tiers]
    return tiers, scope_names(campaign.scope_kind, campaign.scope_ids or [])


@REDUCTIONS.list_view
def _reductions_context() -> dict:
    return _campaign_rows(campaigns.full_reductions(db.session), _tiers_and_scope)


REDUCTIONS.form_view(
    FullReductionForm, campaigns.save_full_reduction, _l("Campaign “%(name)s” saved."), **SCOPE_CHOOSER
)
REDUCTIONS.row_button("stop")(_stop)
