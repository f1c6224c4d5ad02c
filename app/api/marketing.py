"""Coupons (the 领券中心, claiming, my coupons), points and the member level, as the H5 pages show them
(app/shop/marketing.py), on the same marketing services."""

from datetime import datetime

from flask_babel import gettext as _
from spectree import Response

from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_marketing import (
    CentreCoupon,
    CentreOut,
    LevelOut,
    LevelProgressOut,
    MyCoupon,
    MyCouponsOut,
    MyCouponsQuery,
    PointsEntryOut,
    PointsOut,
    PointsQuery,
)
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.db_types import parse_id
from app.extensions import db, limiter
from app.marketing import coupons, members, points
from app.marketing.errors import MarketingError
from app.marketing.models import Coupon, CouponKind, CouponTemplate, MemberLevel, PointsEntry
from app.money import BP_PER_UNIT

CLAIM_LIMIT = "30 per minute"  # as the H5 claim


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def coupon_face(template: CouponTemplate) -> dict:
    """A coupon's ticket: what it gives and what it needs, in the H5 ticket's words."""
    is_amount = template.kind == CouponKind.AMOUNT
    return {
        "template_id": template.id,
        "name": template.name,
        "kind": template.kind,
        "value": Money.of(template.value_fen) if is_amount else None,
        "discount_bp": None if is_amount else template.discount_bp,
        "discount_text": None if is_amount else members.discount_words(template.discount_bp),
        "max_discount": None if is_amount else Money.of(template.max_discount_fen),
        "threshold": Money.of(template.threshold_fen),
        "threshold_text": coupons.threshold_words(template),
        "description": coupons.describe(template),
        "scope": template.scope_kind,
        "include_activity": template.include_activity,
    }


def centre_coupon(entry: coupons.CentreEntry, signed_in: bool) -> CentreCoupon:
    template = entry.template
    total = template.total_qty or None
    if signed_in:
        can_claim = entry.state == "claimable"
        reason = None if can_claim else str(coupons.CENTRE_REFUSALS[entry.state])
    else:  # a guest: what they hold is unknown, none left is not
        can_claim = None
        reason = str(coupons.CENTRE_REFUSALS["gone"]) if entry.state == "gone" else _("Please log in first.")
    return CentreCoupon(
        **coupon_face(template),
        valid_days=template.valid_days,
        valid_from=iso(template.valid_from) if not template.valid_days else None,
        valid_until=iso(template.valid_until) if not template.valid_days else None,
        validity_text=coupons.validity_words(template),
        claim_ends_at=iso(template.claim_ends_at),
        total=total,
        remaining=max(0, total - template.claimed_qty) if total else None,
        per_user_limit=template.per_user_limit,
        held=entry.held if signed_in else None,
        state=entry.state,
        can_claim=can_claim,
        reason=reason,
    )


def my_coupon(coupon: Coupon, status: str) -> MyCoupon:
    return MyCoupon(
        **coupon_face(coupon.template),
        id=coupon.id,
        status=status,
        source=coupon.source,
        source_text=str(coupons.CHANNEL_WORDS.get(coupon.source, "")),
        valid_from=coupon.valid_from.isoformat(),
        valid_until=coupon.valid_until.isoformat(),
        claimed_at=coupon.claimed_at.isoformat(),
        used_at=iso(coupon.used_at),
    )


@bp.get("/coupons/centre")
@spec.validate(resp=Response(HTTP_200=CentreOut, HTTP_401=ErrorBody), tags=["coupons"])
def coupon_centre():
    """领券中心: the coupons one can claim now, and whether the caller can

    The H5 coupon centre's list (coupons.centre): guests see it too, with `held` and `can_claim` null."""
    user = api_user()
    entries = coupons.centre(db.session, user.id if user else None)
    return CentreOut(items=[centre_coupon(entry, user is not None) for entry in entries])


@bp.post("/coupons/<int:template_id>/claim")
@limiter.limit(CLAIM_LIMIT, methods=["POST"])
@login_required
@spec.validate(
    path_parameter_descriptions={"template_id": "A coupon id of the centre (template_id)"},
    resp=Response(
        HTTP_201=MyCoupon,
        HTTP_401=ErrorBody,
        HTTP_404=ErrorBody,
        HTTP_409=ErrorBody,
        HTTP_429=ErrorBody,
    ),
    tags=["coupons"],
    security={BEARER: []},
)
def claim_coupon(template_id: int):
    """Claim a coupon of the centre

    The H5 claim's service and limits: one per customer up to its limit, while some are left (taken by a
    conditional update, so the last one goes to one shopper only). Unknown: 404; stopped, not started,
    over, held already or all claimed: 409 with the reason."""
    try:
        coupon = coupons.claim(db.session, api_user().id, template_id)
    except coupons.CouponUnknown as error:
        db.session.rollback()
        raise ApiError(404, error.message, code="coupon_not_found") from None
    except MarketingError as error:
        db.session.rollback()
        raise ApiError(409, error.message, code="coupon_refused") from None
    db.session.commit()
    return my_coupon(coupon, "usable"), 201


@bp.get("/me/coupons")
@login_required
@spec.validate(
    query=MyCouponsQuery,
    resp=Response(HTTP_200=MyCouponsOut, HTTP_401=ErrorBody, HTTP_422=ErrorBody),
    tags=["coupons"],
    security={BEARER: []},
)
def my_coupons(query: MyCouponsQuery):
    """My coupons: usable, used or expired, as the H5 tabs"""
    found = coupons.mine(db.session, api_user().id, query.status)
    return MyCouponsOut(status=query.status, items=[my_coupon(coupon, query.status) for coupon in found])


def points_entry(entry: PointsEntry) -> PointsEntryOut:
    return PointsEntryOut(
        id=entry.id,
        kind=entry.kind,
        kind_text=str(points.KIND_LABELS.get(entry.kind, entry.kind)),
        amount=entry.amount,
        note=entry.note or "",
        created_at=entry.created_at.isoformat(),
        expires_at=iso(entry.expires_at),
    )


@bp.get("/me/points")
@login_required
@spec.validate(
    query=PointsQuery,
    resp=Response(HTTP_200=PointsOut, HTTP_401=ErrorBody, HTTP_422=ErrorBody),
    tags=["points"],
    security={BEARER: []},
)
def my_points(query: PointsQuery):
    """My points: the balance, the rules and the ledger, newest first, paged with a cursor"""
    before = None
    if query.cursor is not None:
        before = parse_id(query.cursor)
        if before is None:
            raise ApiError(422, fields={"cursor": _("This page marker is not valid. Please start again.")})
    user_id = api_user().id
    settings = members.marketing_settings(db.session)
    entries = points.history(db.session, user_id, limit=query.limit + 1, before_id=before)
    more = len(entries) > query.limit
    entries = entries[: query.limit]
    return PointsOut(
        balance=points.balance(db.session, user_id),
        enabled=settings.points_enabled,
        rules_text=points.rules_words(settings),
        fen_per_point=settings.fen_per_point,
        entries=[points_entry(entry) for entry in entries],
        next_cursor=str(entries[-1].id) if more and entries else None,
    )


def level_out(level: MemberLevel | None) -> LevelOut | None:
    if level is None:
        return None
    return LevelOut(
        id=level.id,
        name=level.name,
        growth_threshold=level.growth_threshold,
        discount_bp=level.discount_bp,
        discount_text=members.discount_words(level.discount_bp) if level.discount_bp < BP_PER_UNIT else None,
        points_multiplier_bp=level.points_multiplier_bp,
        free_shipping=level.free_shipping,
        perks=members.perks(level),
    )


@bp.get("/me/level")
@login_required
@spec.validate(
    resp=Response(HTTP_200=LevelProgressOut, HTTP_401=ErrorBody), tags=["points"], security={BEARER: []}
)
def my_level():
    """My member level: growth, the level and its perks, the next level and what it needs"""
    progress = members.progress(db.session, api_user().id)
    nxt = progress.next_level
    return LevelProgressOut(
        growth=progress.growth,
        level=level_out(progress.level),
        level_name=progress.level.name if progress.level else _("Member"),
        next_level=level_out(nxt),
        needed=progress.needed,
        needed_text=_("%(n)d more growth to %(level)s", n=progress.needed, level=nxt.name) if nxt else None,
        percent=progress.percent,
        levels=[level_out(level) for level in members.all_levels(db.session)],
        growth_rule_text=_("Growth: 1 for every ¥1 of a completed order. A refund takes back its share."),
    )
