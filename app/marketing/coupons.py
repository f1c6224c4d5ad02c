"""Coupons (MARKETING.md "Coupons"): templates, claiming without races, issuing, the 新人券, the coupons a
shopper holds, the ones a basket can use (best first), and using and returning one with an order."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import format_datetime, ngettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from app.db_types import parse_id
from app.marketing import members, pricing
from app.marketing.errors import MarketingError
from app.marketing.models import Coupon, CouponChannel, CouponKind, CouponStatus, CouponTemplate
from app.money import BP_PER_UNIT, format_fen, yuan
from app.timeutil import utcnow

MAX_ISSUE = 5000  # customers in one issue
MAX_PER_USER = 20


class CouponUnknown(MarketingError):
    """No template of this id shoppers can claim through this channel (the API answers it with a 404)."""


# Why a shopper cannot claim a coupon of the centre, by its state there (the words `claim` refuses with).
CENTRE_REFUSALS = {
    "held": _l("You already have this coupon."),
    "gone": _l("All of these coupons have been claimed."),
}


# Where a shopper's coupon came from (my coupons, in the H5 page and the API).
CHANNEL_WORDS = {
    CouponChannel.CENTRE: _l("Coupon centre"),
    CouponChannel.NEWCOMER: _l("Welcome gift"),
    CouponChannel.ISSUED: _l("From the shop"),
    CouponChannel.CODE: _l("Coupon code"),
}


def check_template(data: dict) -> None:
    """What the merchant enters for a template; raises MarketingError on the first problem."""
    if data["kind"] not in (CouponKind.AMOUNT, CouponKind.DISCOUNT):
        raise MarketingError(_l("Choose the kind of coupon."), "kind")
    if data["channel"] not in tuple(CouponChannel):
        raise MarketingError(_l("Choose how shoppers get it."), "channel")
    if data["kind"] == CouponKind.AMOUNT:
        if not data.get("value_fen") or data["value_fen"] <= 0:
            raise MarketingError(_l("Enter the amount off, more than ¥0."), "value_fen")
        if data["threshold_fen"] and data["value_fen"] > data["threshold_fen"]:
            raise MarketingError(_l("The amount off cannot be more than the threshold."), "value_fen")
    else:
        bp = data.get("discount_bp")
        if bp is None or not 0 < bp < BP_PER_UNIT:
            raise MarketingError(_l("A discount must be between 0.1折 and 9.99折."), "discount_bp")
        if data.get("max_discount_fen") is not None and data["max_discount_fen"] <= 0:
            raise MarketingError(_l("The cap must be more than ¥0, or left empty."), "max_discount_fen")
    if data["threshold_fen"] < 0:
        raise MarketingError(_l("The threshold cannot be negative."), "threshold_fen")
    if data["total_qty"] < 0:
        raise MarketingError(_l("The quantity cannot be negative (0 means unlimited)."), "total_qty")
    if not 1 <= data["per_user_limit"] <= MAX_PER_USER:
        raise MarketingError(_l("Each customer may hold 1 to %(n)d.", n=MAX_PER_USER), "per_user_limit")
    if data["scope_kind"] not in ("all", "products", "categories"):
        raise MarketingError(_l("Choose which products it covers."), "scope_kind")
    if data["scope_kind"] != "all" and not data.get("scope_ids"):
        raise MarketingError(_l("Choose at least one product or category."), "scope_ids")
    starts, ends = data.get("claim_starts_at"), data.get("claim_ends_at")
    if starts and ends and ends <= starts:
        raise MarketingError(_l("The end must be after the start."), "claim_ends_at")
    if data.get("valid_days") is not None:
        if not 1 <= data["valid_days"] <= 3650:
            raise MarketingError(_l("Valid for 1 to 3650 days."), "valid_days")
    else:
        valid_from, valid_until = data.get("valid_from"), data.get("valid_until")
        if valid_from is None or valid_until is None:
            raise MarketingError(
                _l("Enter the dates it is valid, or a number of days after claiming."), "valid_until"
            )
        if valid_until <= valid_from:
            raise MarketingError(_l("The end must be after the start."), "valid_until")


def save_template(session: Session, template: CouponTemplate | None, data: dict) -> CouponTemplate:
    check_template(data)
    if template is not None and data["total_qty"] and data["total_qty"] < template.claimed_qty:
        raise MarketingError(
            _l("%(n)d have been claimed already; the quantity cannot be lower.", n=template.claimed_qty),
            "total_qty",
        )
    template = template or CouponTemplate(claimed_qty=0)
    for name in (
        "name", "kind", "channel", "threshold_fen", "total_qty", "per_user_limit", "claim_starts_at",
        "claim_ends_at", "include_activity", "scope_kind",
    ):  # fmt: skip
        setattr(template, name, data.get(name))
    template.include_activity = bool(data.get("include_activity"))
    template.scope_ids = sorted(set(data.get("scope_ids") or [])) if data["scope_kind"] != "all" else []
    if data["kind"] == CouponKind.AMOUNT:
        template.value_fen, template.discount_bp, template.max_discount_fen = (
            data["value_fen"],
            BP_PER_UNIT,
            None,
        )
    else:
        template.value_fen, template.discount_bp = 0, data["discount_bp"]
        template.max_discount_fen = data.get("max_discount_fen")
    if data.get("valid_days") is not None:
        template.valid_days, template.valid_from, template.valid_until = data["valid_days"], None, None
    else:
        template.valid_days = None
        template.valid_from, template.valid_until = data["valid_from"], data["valid_until"]
    session.add(template)
    session.flush()
    return template


def validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    if template.valid_days:
        return now, now + timedelta(days=template.valid_days)
    return template.valid_from, template.valid_until


def claim(
    session: Session,
    user_id: int,
    template_id,
    *,
    channel: str = CouponChannel.CENTRE,
    now: datetime | None = None,
) -> Coupon:
    """Give the shopper one coupon of this template, or refuse with a reason. Race-free: the shopper's
    account row is locked while their coupons are counted (per-user limit), and the template's count goes
    up by a conditional update that only succeeds while some are left (total quantity)."""
    now = now or utcnow()
    template = session.get(CouponTemplate, parse_id(template_id)) if parse_id(template_id) else None
    if template is None or template.channel != channel:
        raise CouponUnknown(_l("This coupon does not exist."))
    if template.is_stopped or (template.claim_ends_at and now >= template.claim_ends_at):
        raise MarketingError(_l("This coupon can no longer be claimed."))
    if template.claim_starts_at and now < template.claim_starts_at:
        raise MarketingError(_l("This coupon cannot be claimed yet."))
    if not template.valid_days and template.valid_until <= now:
        raise MarketingError(_l("This coupon can no longer be claimed."))
    members.lock_account(session, user_id)
    held = session.scalar(
        select(func.count())
        .select_from(Coupon)
        .where(Coupon.user_id == user_id, Coupon.template_id == template.id)
    )
    if held >= template.per_user_limit:
        raise MarketingError(CENTRE_REFUSALS["held"])
    taken = session.execute(
        update(CouponTemplate)
        .where(
            CouponTemplate.id == template.id,
            ~CouponTemplate.is_stopped,
            (CouponTemplate.total_qty == 0) | (CouponTemplate.claimed_qty < CouponTemplate.total_qty),
        )
        .values(claimed_qty=CouponTemplate.claimed_qty + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:
        raise MarketingError(CENTRE_REFUSALS["gone"])
    valid_from, valid_until = validity(template, now)
    coupon = Coupon(
        template_id=template.id,
        user_id=user_id,
        status=CouponStatus.UNUSED,
        source=channel,
        valid_from=valid_from,
        valid_until=valid_until,
        claimed_at=now,
    )
    session.add(coupon)
    session.flush()
    session.expire(template, ["claimed_qty"])
    return coupon


def issue(session: Session, template: CouponTemplate, user_ids: list[int]) -> tuple[int, int]:
    """The merchant gives one coupon to each of these customers: (given, skipped — at their limit or
    when none were left). Each in a savepoint, so one refusal does not undo the others."""
    given = skipped = 0
    for user_id in list(dict.fromkeys(user_ids))[:MAX_ISSUE]:
        try:
            with session.begin_nested():
                claim(session, user_id, template.id, channel=CouponChannel.ISSUED)
            given += 1
        except MarketingError:
            skipped += 1
    return given, skipped


def welcome(session: Session, user_id: int) -> list[Coupon]:
    """新人券: at registration, one of each active newcomer template (quietly skipped when none are left)."""
    templates = session.scalars(
        select(CouponTemplate).where(
            CouponTemplate.channel == CouponChannel.NEWCOMER, ~CouponTemplate.is_stopped
        )
    ).all()
    given = []
    for template in templates:
        try:
            with session.begin_nested():
                given.append(claim(session, user_id, template.id, channel=CouponChannel.NEWCOMER))
        except MarketingError:
            continue
    return given


@dataclass
class CentreEntry:
    template: CouponTemplate
    held: int  # how many the shopper already has
    state: str  # claimable | held | gone


def centre(session: Session, user_id: int | None, now: datetime | None = None) -> list[CentreEntry]:
    """领券中心: the templates shoppers can claim now, with what this shopper can still do."""
    now = now or utcnow()
    templates = session.scalars(
        select(CouponTemplate)
        .where(
            CouponTemplate.channel == CouponChannel.CENTRE,
            ~CouponTemplate.is_stopped,
            (CouponTemplate.claim_starts_at.is_(None)) | (CouponTemplate.claim_starts_at <= now),
            (CouponTemplate.claim_ends_at.is_(None)) | (CouponTemplate.claim_ends_at > now),
            (CouponTemplate.valid_until.is_(None)) | (CouponTemplate.valid_until > now),
        )
        .order_by(CouponTemplate.id.desc())
    ).all()
    held = {}
    if user_id:
        held = dict(
            session.execute(
                select(Coupon.template_id, func.count())
                .where(Coupon.user_id == user_id, Coupon.template_id.in_([t.id for t in templates]))
                .group_by(Coupon.template_id)
            ).all()
        )
    entries = []
    for template in templates:
        count = held.get(template.id, 0)
        if count >= template.per_user_limit:
            state = "held"
        elif template.total_qty and template.claimed_qty >= template.total_qty:
            state = "gone"
        else:
            state = "claimable"
        entries.append(CentreEntry(template, count, state))
    return entries


def mine(session: Session, user_id: int, tab: str, now: datetime | None = None) -> list[Coupon]:
    """我的优惠券: usable (unused, not expired), used, or expired (unused, past its date)."""
    now = now or utcnow()
    query = select(Coupon).options(joinedload(Coupon.template)).where(Coupon.user_id == user_id)
    if tab == "used":
        query = query.where(Coupon.status == CouponStatus.USED).order_by(Coupon.used_at.desc())
    elif tab == "expired":
        query = query.where(Coupon.status == CouponStatus.UNUSED, Coupon.valid_until <= now).order_by(
            Coupon.valid_until.desc()
        )
    else:
        query = query.where(Coupon.status == CouponStatus.UNUSED, Coupon.valid_until > now).order_by(
            Coupon.valid_until
        )
    return list(session.scalars(query.limit(200)))


def held_unused(user_id: int, now: datetime) -> tuple:
    """The condition for a shopper's coupons that are unused and not expired."""
    return (Coupon.user_id == user_id, Coupon.status == CouponStatus.UNUSED, Coupon.valid_until > now)


def usable_count(session: Session, user_id: int, now: datetime | None = None) -> int:
    """How many coupons the shopper can use now (for the 我的 page's strip)."""
    now = now or utcnow()
    return session.scalar(
        select(func.count()).select_from(Coupon).where(*held_unused(user_id, now), Coupon.valid_from <= now)
    )


def usable(session: Session, user_id: int, now: datetime | None = None) -> list[Coupon]:
    """The coupons the shopper can use now (valid, unused), soonest to expire first."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Coupon)
            .options(joinedload(Coupon.template))
            .where(*held_unused(user_id, now), Coupon.valid_from <= now)
            .order_by(Coupon.valid_until, Coupon.id)
        )
    )


def to_pricing(coupon: Coupon) -> pricing.Coupon:
    template = coupon.template
    return pricing.Coupon(
        kind=template.kind,
        threshold_fen=template.threshold_fen,
        value_fen=template.value_fen,
        discount_bp=template.discount_bp,
        max_discount_fen=template.max_discount_fen,
        scope=pricing.Scope(template.scope_kind, frozenset(template.scope_ids or ())),
        include_activity=template.include_activity,
        key=coupon.id,
        name=template.name,
    )


def held_coupon(session: Session, user_id: int, coupon_id, now: datetime | None = None) -> Coupon:
    """The coupon a checkout names, if it is this shopper's and usable now; else a clear refusal."""
    now = now or utcnow()
    found_id = parse_id(coupon_id)
    coupon = session.get(Coupon, found_id, options=[joinedload(Coupon.template)]) if found_id else None
    if coupon is None or coupon.user_id != user_id:
        raise MarketingError(_l("This coupon is not yours or does not exist."), "coupon")
    if coupon.status != CouponStatus.UNUSED:
        raise MarketingError(_l("This coupon has been used."), "coupon")
    if coupon.valid_until <= now:
        raise MarketingError(_l("This coupon has expired."), "coupon")
    if coupon.valid_from > now:
        raise MarketingError(_l("This coupon cannot be used yet."), "coupon")
    return coupon


@dataclass
class Choice:
    coupon: Coupon
    saves_fen: int  # what the coupon takes off this basket
    total_fen: int  # the basket's total with it


def choices(
    lines: list[pricing.Line], held: list[Coupon], *, shipping: pricing.Shipping, offers: pricing.Offers
) -> list[Choice]:
    """The held coupons this basket can use, best first (lowest total, then the bigger saving, then the
    one that expires first). Coupons that do not apply are left out; the checkout offers these only."""
    found = []
    for coupon in held:
        try:
            priced = pricing.price_basket(
                lines,
                shipping=shipping,
                member_level=offers.member_level,
                full_reduction=offers.full_reduction,
                coupon=to_pricing(coupon),
                points=offers.points,
            )
        except pricing.PricingError:
            continue
        found.append(Choice(coupon, priced.coupon_fen, priced.total_fen))
    found.sort(key=lambda c: (c.total_fen, -c.saves_fen, c.coupon.valid_until, c.coupon.id))
    return found


def best(found: list[Choice], without_total_fen: int) -> Choice | None:
    """The one preselected: the first choice, unless it would not lower the total (a coupon is never
    preselected when it saves nothing or makes the order dearer through shipping)."""
    if found and found[0].saves_fen > 0 and found[0].total_fen < without_total_fen:
        return found[0]
    return None


def use(session: Session, order, coupon_id: int) -> None:
    """Mark the order's coupon used, once: a conditional update that fails when another checkout took it
    first, which refuses this order."""
    now = utcnow()
    taken = session.execute(
        update(Coupon)
        .where(Coupon.id == coupon_id, *held_unused(order.user_id, now))
        .values(status=CouponStatus.USED, order_id=order.id, used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not taken:
        raise MarketingError(
            _l("This coupon has just been used or has expired. Please choose again."), "coupon"
        )


def give_back(session: Session, order) -> None:
    """An unpaid order was cancelled: its coupon is usable again if it is still valid."""
    session.execute(
        update(Coupon)
        .where(Coupon.order_id == order.id, Coupon.status == CouponStatus.USED, Coupon.valid_until > utcnow())
        .values(status=CouponStatus.UNUSED, order_id=None, used_at=None)
        .execution_options(synchronize_session=False)
    )


def templates(session: Session) -> list[CouponTemplate]:
    return list(session.scalars(select(CouponTemplate).order_by(CouponTemplate.id.desc())))


def describe(template: CouponTemplate) -> str:
    """“满100减20”, “无门槛减5”, “8.5折 最多减¥30”: what a coupon gives, in words."""
    if template.kind == CouponKind.AMOUNT:
        if template.threshold_fen:
            return str(
                _l(
                    "¥%(value)s off orders of ¥%(threshold)s",
                    value=yuan(template.value_fen),
                    threshold=yuan(template.threshold_fen),
                )
            )
        return str(_l("¥%(value)s off, no minimum", value=yuan(template.value_fen)))
    words = members.discount_words(template.discount_bp)
    if template.max_discount_fen:
        words += str(_l(", up to ¥%(cap)s off", cap=yuan(template.max_discount_fen)))
    if template.threshold_fen:
        words = str(_l("Orders of ¥%(threshold)s: ", threshold=yuan(template.threshold_fen))) + words
    return words


def threshold_words(template: CouponTemplate) -> str:
    """The ticket's rule line: “满¥100.00可用” or “无门槛”."""
    if template.threshold_fen:
        return str(_l("Orders of %(amount)s", amount=format_fen(template.threshold_fen)))
    return str(_l("No minimum"))


def validity_words(template: CouponTemplate) -> str:
    """The coupon centre's validity line: so many days after claiming, or until a date (shop time)."""
    if template.valid_days:
        return ngettext(
            "Valid %(num)d day after claiming", "Valid %(num)d days after claiming", template.valid_days
        )
    return str(_l("Valid until %(date)s", date=format_datetime(template.valid_until, "yyyy-MM-dd")))
