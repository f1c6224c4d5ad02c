"""The demo shop's marketing: member levels, a running 限时折扣 and 满减 campaign, 秒杀 sessions (one on now with
some units sold), coupon templates of every kind (one for distributor codes), points for the demo shoppers,
and a few orders that used them — all made through the marketing and order services, as a merchant and
shoppers would."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import orders
from app.accounts import services as accounts
from app.catalog.models import Product
from app.marketing import campaigns, coupons, flash, members, offers, points
from app.marketing.errors import MarketingError
from app.marketing.models import MarketingSettings, MemberLevel
from app.orders.events import OrderError
from app.orders.models import Address
from app.timeutil import SHOP_TZ, set_clock, utcnow

LEVELS = (  # name, growth from, member price (bp), points multiplier (bp), free shipping
    ("普通会员", 0, 10000, 10000, False),
    ("银卡会员", 300, 9800, 10000, False),
    ("金卡会员", 1000, 9500, 15000, False),
    ("钻石会员", 5000, 9000, 20000, True),
)
TEMPLATES = (  # name, kind, channel, value / discount, threshold, cap, total, per user, valid days
    ("满100减10", "amount", "centre", 10_00, 100_00, None, 500, 1, 30),
    ("全场9折券", "discount", "centre", 9000, 0, 30_00, 200, 1, 14),
    ("新人无门槛5元", "amount", "newcomer", 5_00, 0, None, 0, 1, 30),
    ("老客回馈 满300减40", "amount", "issued", 40_00, 300_00, None, 0, 1, 60),
    ("达人专享 满99减15", "amount", "code", 15_00, 99_00, None, 0, 1, 30),
)
TIMED_PRODUCTS = 2  # the first on-shelf products get a 限时折扣 at 8.5折


@dataclass
class Summary:
    levels: int = 0
    templates: int = 0
    orders: int = 0
    flash_sold: int = 0


def seed(session: Session, now: datetime, customers: list[str]) -> Summary | None:
    """Add the demo's marketing once (None when it is there already). `customers` are the mobiles of the
    demo shoppers who get points, coupons and orders that used them."""
    if session.scalar(select(MemberLevel.id).limit(1)) is not None:
        return None
    summary = Summary()
    session.add(MarketingSettings(id=members.SETTINGS_ID, points_expiry_months=12, points_max_bp=3000))
    for name, threshold, discount, multiplier, free in LEVELS:
        session.add(
            MemberLevel(
                name=name,
                growth_threshold=threshold,
                discount_bp=discount,
                points_multiplier_bp=multiplier,
                free_shipping=free,
            )
        )
        summary.levels += 1
    session.flush()
    members.recompute_levels(session)

    products = session.scalars(
        select(Product)
        .where(Product.is_on_shelf)
        .order_by(Product.sort_weight.desc(), Product.id.desc())
        .limit(6)
    ).all()
    campaigns.save_timed_discount(
        session,
        None,
        {
            "name": "周末限时 8.5 折",
            "starts_at": now - timedelta(hours=6),
            "ends_at": now + timedelta(days=2, hours=18),
            "per_user_limit": 3,
            "items": [
                campaigns.ItemDraft(sku.id, discount_bp=8500)
                for product in products[:TIMED_PRODUCTS]
                for sku in product.active_skus
            ],
        },
    )
    campaigns.save_full_reduction(
        session,
        None,
        {
            "name": "满199减20，满399减50",
            "starts_at": now - timedelta(days=1),
            "ends_at": now + timedelta(days=30),
            "tiers": [
                campaigns.TierDraft(199_00, reduce_fen=20_00),
                campaigns.TierDraft(399_00, reduce_fen=50_00),
            ],
            "scope_kind": "all",
        },
    )
    made = {}
    for name, kind, channel, value, threshold, cap, total, per_user, days in TEMPLATES:
        made[channel] = coupons.save_template(
            session,
            None,
            {
                "name": name,
                "kind": kind,
                "channel": channel,
                "value_fen": value if kind == "amount" else 0,
                "discount_bp": value if kind == "discount" else 10000,
                "max_discount_fen": cap,
                "threshold_fen": threshold,
                "total_qty": total,
                "per_user_limit": per_user,
                "scope_kind": "all",
                "valid_days": days,
            },
        )
        summary.templates += 1
    users = [user for mobile in customers if (user := accounts.find_by_mobile(session, mobile)) is not None]
    coupons.issue(session, made["issued"], [user.id for user in users])
    for user in users:
        points.add_points(session, user.id, 2000, "adjust", note="开业积分礼")
        try:
            with session.begin_nested():
                coupons.claim(session, user.id, made["centre"].id)
        except MarketingError:
            pass
    session.flush()
    try:
        set_clock(utcnow())  # each demo order and its events share one moment, as the history's do
        summary.orders = _orders_with_offers(session, users[:2], products)
        summary.flash_sold = _flash_sessions(
            session, now, users[2:5], products[TIMED_PRODUCTS : TIMED_PRODUCTS + 2]
        )
    finally:
        set_clock(None)
    return summary


def _orders_with_offers(session: Session, users, products) -> int:
    """Two shoppers buy with 满减, a coupon and points; the first one pays."""
    placed = 0
    for index, user in enumerate(users):
        address = session.scalar(
            select(Address.id).where(Address.user_id == user.id, ~Address.is_deleted).limit(1)
        )
        if address is None or len(products) < 4:
            continue
        skus = [product.active_skus[0] for product in products[index : index + 4] if product.active_skus]
        items = {sku.id: 2 for sku in skus if sku.stock >= 2}
        held = coupons.usable(session, user.id)
        try:
            with session.begin_nested():
                chosen = offers.for_basket(
                    session, user.id, list(items), coupon_id=held[0].id if held else None, points_asked=1000
                )
                order = orders.checkout.place_order(
                    session,
                    user=user,
                    items=items,
                    address_id=address,
                    idempotency_key=f"demo-marketing-order-{user.id:06d}",
                    offers=chosen,
                )
                if index == 0 and order.total_fen > 0:
                    orders.transitions.mark_paid(session, order, method="sandbox", note="demo")
            placed += 1
        except (OrderError, MarketingError):
            continue
    return placed


FLASH_SESSIONS = (
    (-3, 60, "早场秒杀"),
    (0, 120, "整点秒杀"),
    (3, 120, "晚场秒杀"),
)  # hours from this hour, minutes


def _flash_sessions(session: Session, now: datetime, users, products) -> int:
    """Daily 秒杀 sessions for a week: one that began this hour (on now), one earlier, one later today (when
    the day has room for them); the running one has two SKUs at about half price, and a few shoppers have
    bought and paid. Returns the units sold."""
    local = now.astimezone(SHOP_TZ)
    skus = [product.active_skus[0] for product in products if product.active_skus]
    running = None
    for hours, minutes, name in FLASH_SESSIONS:
        hour = local.hour + hours
        if not 0 <= hour < 24:
            continue
        made = flash.save_session(
            session,
            None,
            {
                "name": name,
                "start_minute": hour * 60,
                "duration_minutes": minutes,
                "repeat": "daily",
                "first_date": local.date(),
                "last_date": local.date() + timedelta(days=6),
            },
        )
        for sku in skus:
            if sku.stock >= 2:
                flash.save_item(
                    session,
                    made,
                    flash.ItemDraft(
                        sku.id, price_fen=sku.price_fen // 2, stock=min(20, sku.stock), per_user_limit=2
                    ),
                )
        running = made if hours == 0 else running
    if running is None or not skus:
        return 0
    sold = 0
    for user in users:
        address = session.scalar(
            select(Address.id).where(Address.user_id == user.id, ~Address.is_deleted).limit(1)
        )
        if address is None:
            continue
        items = {skus[0].id: 1}
        try:
            with session.begin_nested():
                order = orders.checkout.place_order(
                    session,
                    user=user,
                    items=items,
                    address_id=address,
                    idempotency_key=f"demo-flash-order-{user.id:06d}",
                    offers=offers.for_basket(session, user.id, list(items)),
                )
                orders.transitions.mark_paid(session, order, method="sandbox", note="demo")
            sold += 1
        except (OrderError, MarketingError):
            continue
    return sold
