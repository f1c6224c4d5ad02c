"""限时折扣 and 满减/满折 campaigns (MARKETING.md): which are running, what they mean to price_basket, and
the checks on what the merchant enters (dates in order, tiers in order, no two offers on one SKU or two
满减 campaigns at one moment)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.catalog.models import Sku
from app.marketing import flash, pricing
from app.marketing.errors import MarketingError
from app.marketing.group_clash import in_group_between
from app.marketing.models import FullReductionCampaign, TimedDiscount, TimedDiscountItem
from app.money import BP_PER_UNIT
from app.orders.models import PAID_STATUSES, UNPAID_STATUSES, Order, OrderLine
from app.timeutil import utcnow

MAX_TIERS = 5
MAX_ITEMS = 200
SCOPE_KINDS = ("all", "products", "categories")


def _running(model, now: datetime):
    return (~model.is_stopped, model.starts_at <= now, model.ends_at > now)


def activities_for_skus(
    session: Session, sku_ids: Iterable[int], now: datetime | None = None
) -> dict[int, pricing.Activity]:
    """{sku id: its 限时折扣 activity} for the SKUs that are in one right now (one query)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(TimedDiscountItem, TimedDiscount, Sku.price_fen)
        .join(TimedDiscount, TimedDiscount.id == TimedDiscountItem.discount_id)
        .join(Sku, Sku.id == TimedDiscountItem.sku_id)
        .where(TimedDiscountItem.sku_id.in_(ids), *_running(TimedDiscount, now or utcnow()))
    ).all()
    return {item.sku_id: activity(item, discount, list_fen) for item, discount, list_fen in rows}


def activity(item: TimedDiscountItem, discount: TimedDiscount, list_fen: int) -> pricing.Activity:
    if item.price_fen is not None:
        unit = min(item.price_fen, list_fen)
    else:
        unit = list_fen * item.discount_bp // BP_PER_UNIT
    return pricing.Activity(
        kind="timed",
        unit_fen=unit,
        points=discount.allow_points,
        commission=discount.pays_commission,
        key=discount.id,
        name=discount.name,
        ends_at=discount.ends_at,
    )


def lowest_activity_prices(
    session: Session, product_ids: Iterable[int] | None, now: datetime | None = None
) -> dict[int, int]:
    """{product id: its lowest 限时折扣 unit price now}, for listings (one query); product_ids None: of
    every product in one now (a listing sorted by price, which cannot name its products first)."""
    query = (
        select(TimedDiscountItem, TimedDiscount, Sku.price_fen, Sku.product_id)
        .join(TimedDiscount, TimedDiscount.id == TimedDiscountItem.discount_id)
        .join(Sku, Sku.id == TimedDiscountItem.sku_id)
        .where(Sku.is_active, *_running(TimedDiscount, now or utcnow()))
    )
    if product_ids is not None:
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        query = query.where(Sku.product_id.in_(ids))
    rows = session.execute(query).all()
    lowest: dict[int, int] = {}
    for item, discount, list_fen, product_id in rows:
        unit = activity(item, discount, list_fen).unit_fen
        lowest[product_id] = min(unit, lowest.get(product_id, unit))
    return lowest


def running_full_reduction(session: Session, now: datetime | None = None) -> FullReductionCampaign | None:
    return session.scalars(
        select(FullReductionCampaign)
        .where(*_running(FullReductionCampaign, now or utcnow()))
        .order_by(FullReductionCampaign.id)
        .limit(1)
    ).first()


def to_pricing(campaign: FullReductionCampaign | None) -> pricing.FullReduction | None:
    if campaign is None:
        return None
    return pricing.FullReduction(
        tiers=tuple(
            pricing.Tier(
                threshold_fen=tier["threshold_fen"],
                reduce_fen=tier.get("reduce_fen"),
                discount_bp=tier.get("discount_bp"),
            )
            for tier in campaign.tiers
        ),
        scope=pricing.Scope(campaign.scope_kind, frozenset(campaign.scope_ids or ())),
        include_activity=campaign.include_activity,
        repeat=campaign.repeat,
        max_reduce_fen=campaign.max_reduce_fen,
        key=campaign.id,
        name=campaign.name,
    )


@dataclass(frozen=True)
class TierDraft:
    threshold_fen: int
    reduce_fen: int | None = None
    discount_bp: int | None = None


def check_dates(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is None or ends_at is None:
        raise MarketingError(_l("Enter when it starts and when it ends."), "starts_at")
    if ends_at <= starts_at:
        raise MarketingError(_l("The end must be after the start."), "ends_at")


def check_tiers(tiers: list[TierDraft]) -> list[dict]:
    """Tiers as the merchant enters them: 1 to 5, thresholds rising, each reduction or discount sensible and
    growing with its threshold. Returns them as stored."""
    if not tiers:
        raise MarketingError(_l("Add at least one tier."), "tiers")
    if len(tiers) > MAX_TIERS:
        raise MarketingError(_l("At most %(n)d tiers.", n=MAX_TIERS), "tiers")
    stored = []
    for index, tier in enumerate(tiers):
        if tier.threshold_fen <= 0:
            raise MarketingError(_l("Each tier needs a threshold above ¥0."), "tiers")
        if (tier.reduce_fen is None) == (tier.discount_bp is None):
            raise MarketingError(_l("Each tier takes either an amount off or a discount."), "tiers")
        if tier.reduce_fen is not None and not 0 < tier.reduce_fen <= tier.threshold_fen:
            raise MarketingError(
                _l("The amount off must be more than ¥0 and no more than the threshold."), "tiers"
            )
        if tier.discount_bp is not None and not 0 < tier.discount_bp < BP_PER_UNIT:
            raise MarketingError(_l("A discount must be between 0.1折 and 9.99折."), "tiers")
        if index and tier.threshold_fen <= tiers[index - 1].threshold_fen:
            raise MarketingError(
                _l("Tiers must be in order, each threshold higher than the one before."), "tiers"
            )
        if index and _tier_worth(tier) <= _tier_worth(tiers[index - 1]):
            raise MarketingError(_l("A higher tier must give more than the one before."), "tiers")
        stored.append(
            {"threshold_fen": tier.threshold_fen}
            | (
                {"reduce_fen": tier.reduce_fen}
                if tier.reduce_fen is not None
                else {"discount_bp": tier.discount_bp}
            )
        )
    return stored


def _tier_worth(tier: TierDraft) -> int:
    """Comparable worth of a tier at its own threshold."""
    if tier.reduce_fen is not None:
        return tier.reduce_fen
    return tier.threshold_fen * (BP_PER_UNIT - tier.discount_bp) // BP_PER_UNIT


def check_scope(kind: str, ids: list[int]) -> None:
    if kind not in SCOPE_KINDS:
        raise MarketingError(_l("Choose which products it covers."), "scope_kind")
    if kind != "all" and not ids:
        raise MarketingError(_l("Choose at least one product or category."), "scope_ids")


def overlapping(model, starts_at: datetime, ends_at: datetime, *, exclude_id: int | None = None):
    """The condition: a campaign of this kind, not stopped, whose time overlaps [starts_at, ends_at)."""
    conditions = [~model.is_stopped, model.starts_at < ends_at, model.ends_at > starts_at]
    if exclude_id:
        conditions.append(model.id != exclude_id)
    return conditions


def save_full_reduction(
    session: Session, campaign: FullReductionCampaign | None, data: dict
) -> FullReductionCampaign:
    """Create or edit a 满减/满折 campaign after checking it; refused when it overlaps another."""
    check_dates(data["starts_at"], data["ends_at"])
    tiers = check_tiers(data["tiers"])
    check_scope(data["scope_kind"], data.get("scope_ids") or [])
    if data.get("max_reduce_fen") is not None and data["max_reduce_fen"] <= 0:
        raise MarketingError(_l("The cap must be more than ¥0, or left empty."), "max_reduce_fen")
    clash = session.scalar(
        select(FullReductionCampaign.name)
        .where(
            *overlapping(
                FullReductionCampaign,
                data["starts_at"],
                data["ends_at"],
                exclude_id=campaign.id if campaign else None,
            )
        )
        .limit(1)
    )
    if clash:
        raise MarketingError(
            _l("“%(name)s” runs at the same time. Only one 满减 campaign can run at a time.", name=clash),
            "starts_at",
        )
    campaign = campaign or FullReductionCampaign()
    campaign.name = data["name"]
    campaign.starts_at, campaign.ends_at = data["starts_at"], data["ends_at"]
    campaign.tiers = tiers
    campaign.scope_kind = data["scope_kind"]
    campaign.scope_ids = sorted(set(data.get("scope_ids") or [])) if data["scope_kind"] != "all" else []
    campaign.include_activity = bool(data.get("include_activity"))
    campaign.repeat = bool(data.get("repeat"))
    campaign.max_reduce_fen = data.get("max_reduce_fen") if campaign.repeat else None
    if campaign.repeat and any("discount_bp" in tier for tier in tiers):
        raise MarketingError(_l("每满 works with amounts off only, not with discounts."), "repeat")
    session.add(campaign)
    session.flush()
    return campaign


@dataclass(frozen=True)
class ItemDraft:
    sku_id: int
    price_fen: int | None = None
    discount_bp: int | None = None


def save_timed_discount(session: Session, discount: TimedDiscount | None, data: dict) -> TimedDiscount:
    """Create or edit a 限时折扣 after checking it; refused when one of its SKUs is in another at the
    same time."""
    check_dates(data["starts_at"], data["ends_at"])
    items: list[ItemDraft] = data["items"]
    if not items:
        raise MarketingError(_l("Add at least one product."), "items")
    if len(items) > MAX_ITEMS:
        raise MarketingError(_l("At most %(n)d SKUs in one discount.", n=MAX_ITEMS), "items")
    if len({item.sku_id for item in items}) != len(items):
        raise MarketingError(_l("A SKU is listed twice."), "items")
    skus = {sku.id: sku for sku in session.scalars(select(Sku).where(Sku.id.in_([i.sku_id for i in items])))}
    for item in items:
        sku = skus.get(item.sku_id)
        if sku is None:
            raise MarketingError(_l("A product in the list no longer exists."), "items")
        if (item.price_fen is None) == (item.discount_bp is None):
            raise MarketingError(_l("Give each SKU either a price or a discount."), "items")
        if item.price_fen is not None and not 0 <= item.price_fen < sku.price_fen:
            raise MarketingError(_l("An activity price must be below the list price."), "items")
        if item.discount_bp is not None and not 0 < item.discount_bp < BP_PER_UNIT:
            raise MarketingError(_l("A discount must be between 0.1折 and 9.99折."), "items")
    limit = data.get("per_user_limit")
    if limit is not None and limit < 1:
        raise MarketingError(
            _l("The limit per customer must be at least 1, or left empty."), "per_user_limit"
        )
    clash = session.execute(
        select(TimedDiscount.name, TimedDiscountItem.sku_id)
        .join(TimedDiscountItem, TimedDiscountItem.discount_id == TimedDiscount.id)
        .where(
            TimedDiscountItem.sku_id.in_([item.sku_id for item in items]),
            *overlapping(
                TimedDiscount,
                data["starts_at"],
                data["ends_at"],
                exclude_id=discount.id if discount else None,
            ),
        )
        .limit(1)
    ).first()
    name = (
        clash[0]
        if clash
        else flash.in_flash_between(session, skus, data["starts_at"], data["ends_at"])
        or in_group_between(session, skus, data["starts_at"], data["ends_at"])
    )
    if name:
        raise MarketingError(
            _l(
                "A SKU is already in “%(name)s” at that time. A SKU can be in one activity at a time.",
                name=name,
            ),
            "items",
        )
    discount = discount or TimedDiscount()
    discount.name = data["name"]
    discount.starts_at, discount.ends_at = data["starts_at"], data["ends_at"]
    discount.per_user_limit = limit
    discount.allow_points = bool(data.get("allow_points"))
    discount.pays_commission = bool(data.get("pays_commission"))
    # A SKU kept on an edit keeps its row: a new row beside the old one would break the unique (discount,
    # SKU) index, as the flush inserts before it deletes.
    existing = {row.sku_id: row for row in discount.items}
    rows = []
    for item in items:
        row = existing.get(item.sku_id) or TimedDiscountItem(sku_id=item.sku_id)
        row.price_fen, row.discount_bp = item.price_fen, item.discount_bp
        rows.append(row)
    discount.items = rows
    session.add(discount)
    session.flush()
    return discount


def stop(session: Session, campaign) -> None:
    """Stop a running or future campaign now (kept for the record)."""
    campaign.is_stopped = True
    session.flush()


def status_of(campaign, now: datetime | None = None) -> str:
    """upcoming | running | ended | stopped."""
    now = now or utcnow()
    if campaign.is_stopped:
        return "stopped"
    if now < campaign.starts_at:
        return "upcoming"
    return "running" if now < campaign.ends_at else "ended"


def bought_in_activity(session: Session, user_id: int, discount_id: int) -> int:
    """Units a shopper holds from a 限时折扣: in unpaid and paid orders, not cancelled, less refunded."""
    return session.scalar(
        select(func.coalesce(func.sum(OrderLine.qty - OrderLine.refunded_qty), 0))
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.user_id == user_id,
            Order.status.in_(UNPAID_STATUSES + PAID_STATUSES),
            OrderLine.activity_kind == "timed",
            OrderLine.activity_id == discount_id,
        )
    )


def timed_discounts(session: Session) -> list[TimedDiscount]:
    return list(
        session.scalars(
            select(TimedDiscount).options(joinedload(TimedDiscount.items)).order_by(TimedDiscount.id.desc())
        ).unique()
    )


def full_reductions(session: Session) -> list[FullReductionCampaign]:
    return list(session.scalars(select(FullReductionCampaign).order_by(FullReductionCampaign.id.desc())))
