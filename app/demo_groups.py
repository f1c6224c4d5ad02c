"""The demo shop's 拼团: a running three-person group buy on two demo products, with a group that has one place
left, a full group whose orders are ready to ship, and a group that timed out a day ago and was refunded in
full through the sandbox by `flask groups settle` — all made as shoppers and the job would make them:
group-mode checkouts, sandbox payments (their notify confirmed as the gateways' are), and the settle job
run for real, so the dashboard shows when it last ran."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import orders
from app.accounts import services as accounts
from app.catalog.models import Product
from app.jobs import run_job
from app.marketing import group_refunds, groups, offers
from app.marketing.errors import MarketingError
from app.marketing.models import GroupBuy
from app.orders.events import OrderError
from app.orders.models import Address, Order, OrderStatus
from app.payments import sandbox
from app.payments import services as payments
from app.timeutil import set_clock

NAME = "三人拼团 · 新品尝鲜"
SIZE = 3
HOURS = 24
FIRST_PRODUCT = 4  # the demo's marketing gives the first four on-shelf products a 限时折扣 or a 秒杀
FAILED_AGO = timedelta(hours=30)  # the failed group was opened this long ago (its 24 hours are up)


@dataclass
class Summary:
    open_places_left: int = 0
    full_orders: int = 0
    refunded_orders: int = 0


def seed(session: Session, now: datetime, customers: list[str]) -> Summary | None:
    """Add the demo's 拼团 once (None when there is one already, or too few demo shoppers). `customers` are
    the mobiles of the demo shoppers who open and join groups. The caller commits."""
    if session.scalar(select(GroupBuy.id).limit(1)) is not None:
        return None
    people = [
        (user, address)
        for mobile in customers
        if (user := accounts.find_by_mobile(session, mobile)) is not None
        and (address := _address(session, user.id)) is not None
    ]
    products = session.scalars(
        select(Product)
        .where(Product.is_on_shelf)
        .order_by(Product.sort_weight.desc(), Product.id.desc())
        .offset(FIRST_PRODUCT)
        .limit(2)
    ).all()
    skus = [sku for product in products for sku in product.active_skus[:1] if sku.stock >= 10]
    if len(people) < SIZE or not skus:
        return None
    group_buy = groups.save_group_buy(
        session,
        None,
        {
            "name": NAME,
            "starts_at": now - timedelta(days=2),
            "ends_at": now + timedelta(days=5),
            "group_size": SIZE,
            "hours": HOURS,
            "per_user_limit": None,
            "items": [groups.ItemDraft(sku.id, sku.price_fen * 7 // 10) for sku in skus],
        },
    )
    session.commit()
    summary = Summary()
    try:
        set_clock(now - FAILED_AGO)  # a group opened yesterday that only one friend joined
        failed = _group(session, group_buy, skus[-1], _rotate(people, 5, 2))
        set_clock(now)
        run_job("groups-settle", lambda: group_refunds.settle(session))  # fails it and refunds both
        session.expire_all()
        summary.refunded_orders = sum(
            session.get(Order, order.id).status == OrderStatus.REFUNDED for order in failed
        )
        summary.full_orders = len(_group(session, group_buy, skus[0], _rotate(people, 2, SIZE)))
        summary.open_places_left = SIZE - len(
            _group(session, group_buy, skus[0], _rotate(people, 0, SIZE - 1))
        )
    finally:
        set_clock(None)
    return summary


def _rotate(people: list, start: int, n: int) -> list:
    """n different shoppers, starting at `start` and going round (a shopper may be in several groups)."""
    return [people[(start + i) % len(people)] for i in range(n)]


def _address(session: Session, user_id: int) -> int | None:
    return session.scalar(select(Address.id).where(Address.user_id == user_id, ~Address.is_deleted).limit(1))


def _group(session: Session, group_buy: GroupBuy, sku, members: list) -> list[Order]:
    """The first shopper opens a group and pays; the others join it and pay, one after the other."""
    paid = []
    group_id = None
    for user, address in members:
        mode = groups.GroupMode(group_buy=group_buy.id, group=group_id)
        try:
            chosen = offers.for_basket(session, user.id, [sku.id], group=mode)
            groups.check_buy(session, user.id, mode, {sku.id: 1}, chosen.activities)
            order = orders.checkout.place_order(
                session,
                user=user,
                items={sku.id: 1},
                address_id=address,
                idempotency_key=f"demo-group-{group_buy.id}-{sku.id}-{group_id or 0}-{user.id:06d}",
                offers=chosen,
            )
            _pay_in_sandbox(session, order)
            session.commit()
        except (OrderError, MarketingError):
            session.rollback()
            break
        group_id = group_id or groups.member_of_order(session, order.id).group_id
        paid.append(order)
    return paid


def _pay_in_sandbox(session: Session, order: Order) -> None:
    """What the sandbox cashier's "pay" button ends in: its notify, confirmed as the gateways' are."""
    payment = payments.start_payment(session, order, "sandbox", user=order.user)
    notify = json.loads(sandbox.notify_body(payment))
    payments.confirm_payment(
        session,
        provider="sandbox",
        out_trade_no=notify["out_trade_no"],
        amount_fen=notify["amount_fen"],
        gateway_trade_no=notify["trade_no"],
        raw=notify,
    )
