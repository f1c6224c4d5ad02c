"""Marketing reacts to order events, inside the order's own transaction: it takes the coupon and the points
when an order is placed (refusing the order when they are gone, or when a 限时折扣 limit is passed), takes
the 秒杀 stock (refusing when it is gone or a flash limit is passed), opens or joins a 拼团 (refusing when
its rules say no), gives them back when an unpaid order is cancelled, takes the 拼团 seat when an order is
paid (refunding it at once when none is left), refuses to ship an order whose group is not full, pays
points and growth when an order completes, and settles points and growth on a refund."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select

from app.accounts import signals as account_signals
from app.marketing import campaigns, coupons, flash, group_orders, group_refunds, groups, members, points
from app.marketing.errors import MarketingError
from app.marketing.models import (
    Coupon,
    CouponChannel,
    CouponStatus,
    DistributorCode,
    GrowthEntry,
    MemberAccount,
    PointsEntry,
    TimedDiscount,
)
from app.orders import signals


def _on_order_placed(order, *, session, offers, **_):
    # The coupon and the points are taken by conditional updates (a second checkout finds them gone).
    if offers.coupon is not None:
        coupons.use(session, order, offers.coupon.key)
    points.spend_for_order(session, order)
    limited = [
        discount
        for discount_id in {line.activity_id for line in order.lines if line.activity_kind == "timed"}
        if (discount := session.get(TimedDiscount, discount_id)) is not None and discount.per_user_limit
    ]
    if limited:
        # A limit per customer counts their orders: one shopper's checkouts are counted one after the other.
        members.lock_account(session, order.user_id)
    for discount in limited:
        limit = discount.per_user_limit
        if campaigns.bought_in_activity(session, order.user_id, discount.id) > limit:
            raise MarketingError(
                _l(
                    "“%(name)s” allows %(n)d per customer. Please lower the quantity.",
                    name=discount.name,
                    n=limit,
                ),
                "qty",
            )
    flash.take_for_order(session, order)
    groups.take_for_order(session, order, offers.group)


def _on_order_paid(order, *, session, **_):
    groups.take_seat(session, order)


def _on_order_shipping(order, *, session, **_):
    group_orders.refuse_unformed_shipping(session, order)


def _on_payment_starting(order, *, session, **_):
    group_orders.refuse_payment_without_place(session, order)


def _on_refund_requesting(order, *, session, **_):
    group_orders.refuse_refund_while_forming(session, order)


def _on_order_cancelled(order, *, session, **_):
    flash.give_back(session, order)
    groups.after_cancel(session, order)
    coupons.give_back(session, order)
    points.return_for_cancel(session, order)


def _on_order_completed(order, *, session, **_):
    points.earn_for_order(session, order)


def _on_refund_completed(order, *, session, refund, **_):
    points.after_refund(session, order, refund)
    group_refunds.after_refund_completed(session, refund)


def _on_customer_registered(user, *, session, **_):
    coupons.welcome(session, user.id)


def _holdings(user, *, session, **_) -> list[str]:
    """What an account holds in marketing. An unused 新人券 does not count: every new account gets one."""
    own_coupons = exists().where(
        Coupon.user_id == user.id,
        ~((Coupon.source == CouponChannel.NEWCOMER) & (Coupon.status == CouponStatus.UNUSED)),
    )
    held = []
    if session.scalar(select(own_coupons)):
        held.append("coupons")
    balances = exists().where(
        MemberAccount.user_id == user.id, (MemberAccount.points != 0) | (MemberAccount.growth != 0)
    )
    ledgers = (exists().where(PointsEntry.user_id == user.id), exists().where(GrowthEntry.user_id == user.id))
    if session.scalar(select(balances | ledgers[0] | ledgers[1])):
        held.append("points")
    if session.scalar(select(exists().where(DistributorCode.user_id == user.id))):
        held.append("distributor_code")
    return held


def connect() -> None:
    account_signals.customer_registered.connect(_on_customer_registered)
    account_signals.account_holdings.connect(_holdings)
    signals.order_placed.connect(_on_order_placed)
    signals.order_paid.connect(_on_order_paid)
    signals.order_shipping.connect(_on_order_shipping)
    signals.refund_requesting.connect(_on_refund_requesting)
    signals.payment_starting.connect(_on_payment_starting)
    signals.order_cancelled.connect(_on_order_cancelled)
    signals.order_completed.connect(_on_order_completed)
    signals.refund_completed.connect(_on_refund_completed)
