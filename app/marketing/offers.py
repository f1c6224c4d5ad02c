"""What marketing offers one buyer for one basket, as price_basket reads it: the buyer's level, the
activity of each SKU, the running 满减 campaign, the chosen coupon and the points asked for. Views gather
them here and hand them to the cart, the checkout quote and order placement, so all three price alike."""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.marketing import campaigns, coupons, flash, groups, members, points, pricing
from app.marketing.errors import MarketingError
from app.orders import checkout as order_checkout
from app.orders.cart import CartLine
from app.timeutil import utcnow


def for_basket(
    session: Session,
    user_id: int | None,
    sku_ids: Iterable[int],
    *,
    coupon_id=None,
    points_asked=None,
    group: groups.GroupMode | None = None,
    now: datetime | None = None,
) -> pricing.Offers:
    """The offers for this buyer (None: a guest) and these SKUs now. A named coupon must be the buyer's and
    usable (MarketingError otherwise); whether it fits the basket is price_basket's answer. With `group`
    (a 拼团 checkout: open or join a group) the SKUs in a running 拼团 take their group price; without it
    they keep their normal one (单独购买). groups.check_buy checks the group before the order is placed."""
    now = now or utcnow()
    if group is not None and group.joining and group.group_id is None:
        raise MarketingError(_l("This group does not exist."), "group")  # never read as "open a group"
    account = members.account(session, user_id)  # held here: the identity map keeps it only while in use
    coupon = None
    if coupon_id not in (None, "", "none") and user_id is not None:
        coupon = coupons.to_pricing(coupons.held_coupon(session, user_id, coupon_id, now))
    asked = points_asked not in (None, "")
    return pricing.Offers(
        member_level=members.pricing_level(account.level if account is not None else None),
        activities=(group_mode_activities if group else activities_for_skus)(session, sku_ids, now),
        full_reduction=campaigns.to_pricing(campaigns.running_full_reduction(session, now)),
        coupon=coupon,
        points=points.for_checkout(session, user_id, points_asked, account=account) if asked else None,
        group=group.group_id if group else None,
    )


def for_display(session: Session, user_id: int | None, sku_ids: Iterable[int], now: datetime | None = None):
    """What product pages and listings need: the buyer's level and the SKUs' activities."""
    now = now or utcnow()
    return members.pricing_level(members.level_of_user(session, user_id)), activities_for_skus(
        session, sku_ids, now
    )


def activities_for_skus(session: Session, sku_ids: Iterable[int], now: datetime | None = None):
    """{sku id: the activity pricing it now}. A SKU in a running 秒杀 and a running 限时折扣 at once gets the
    flash price: the flash activities are laid over the timed ones."""
    ids = sorted(set(sku_ids))
    now = now or utcnow()
    return campaigns.activities_for_skus(session, ids, now) | flash.activities_for_skus(session, ids, now)


def group_mode_activities(session: Session, sku_ids: Iterable[int], now: datetime | None = None):
    """{sku id: the activity pricing it} for a shopper opening or joining a 拼团: the SKUs in a running 拼团
    at their group price, the others as activities_for_skus says. Only a group-mode checkout asks this;
    product pages, listings and the cart never do, so a normal purchase is never sold at the group price."""
    ids = sorted(set(sku_ids))
    now = now or utcnow()
    return activities_for_skus(session, ids, now) | groups.activities_for_skus(session, ids, now)


def lowest_activity_prices(session: Session, product_ids: Iterable[int] | None, now: datetime | None = None):
    """{product id: its lowest activity price now} (限时折扣 or 秒杀), for listings; product_ids None: of
    every product in an activity now."""
    ids = None if product_ids is None else sorted(set(product_ids))
    now = now or utcnow()
    lowest = campaigns.lowest_activity_prices(session, ids, now)
    for product_id, unit in flash.lowest_prices(session, ids, now).items():
        lowest[product_id] = min(unit, lowest.get(product_id, unit))
    return lowest


@dataclass
class CheckoutOffers:
    """The checkout's choices: the coupons that fit (best first), the one in use, and the points."""

    offers: pricing.Offers
    choices: list[coupons.Choice]
    chosen_id: int | None
    points_balance: int
    points_enabled: bool


def for_checkout(
    session: Session,
    user_id: int,
    lines: list[pricing.Line],
    sku_ids: list[int],
    *,
    shipping: pricing.Shipping,
    coupon_choice=None,
    points_asked=None,
    group: groups.GroupMode | None = None,
    now: datetime | None = None,
) -> CheckoutOffers:
    """The offers at checkout. `coupon_choice` None (first visit): the best coupon is preselected;
    "none": the shopper dropped it; an id: that coupon, which must be the shopper's and usable. `group`: a
    拼团 checkout (see for_basket). Lines here carry no activity yet: they are `pricing.Line`s for the SKUs in `sku_ids`, in order."""
    now = now or utcnow()
    base = for_basket(session, user_id, sku_ids, points_asked=points_asked, group=group, now=now)
    lines = [
        replace(line, activity=base.activities.get(sku_id))
        for line, sku_id in zip(lines, sku_ids, strict=True)
    ]
    no_points = replace(base, points=None)
    found = coupons.choices(lines, coupons.usable(session, user_id, now), shipping=shipping, offers=no_points)
    if coupon_choice is None:
        without = pricing.price_basket(
            lines, shipping=shipping, member_level=base.member_level, full_reduction=base.full_reduction
        ).total_fen
        chosen = coupons.best(found, without)
        coupon = coupons.to_pricing(chosen.coupon) if chosen else None
    elif coupon_choice in ("", "none"):
        coupon = None
    else:
        coupon = coupons.to_pricing(coupons.held_coupon(session, user_id, coupon_choice, now))
    settings = members.marketing_settings(session)
    return CheckoutOffers(
        offers=replace(base, coupon=coupon),
        choices=found,
        chosen_id=coupon.key if coupon else None,
        points_balance=points.balance(session, user_id),
        points_enabled=settings.points_enabled,
    )


def points_offer(
    session: Session, user_id: int, lines: list[CartLine], chosen: CheckoutOffers
) -> pricing.PricedBasket | None:
    """What the checkout's points switch offers (H5 page and API quote): the most points this basket can
    use with the chosen offers, and what they take off; None when there is nothing to offer."""
    if not chosen.points_enabled or chosen.points_balance <= 0 or not lines:
        return None
    most = points.for_checkout(session, user_id, chosen.points_balance)
    priced = order_checkout.quote(session, lines, replace(chosen.offers, points=most)).priced
    return priced if priced.points_used else None


def check_group_buy(session: Session, user_id: int, group: groups.GroupMode, quantities: dict[int, int]):
    """A 拼团 checkout's first check (H5 page and submit, API quote and order), on the offers at the group
    price: a group that cannot take the shopper (full, failed, their own, tampered) raises MarketingError or
    OrderError before an order or a payment exists."""
    offers = for_basket(session, user_id, list(quantities), group=group)
    groups.check_buy(session, user_id, group, quantities, offers.activities)
