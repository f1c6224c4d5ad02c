"""Races that must never oversell, double-pay or over-refund — on PostgreSQL, with real threads,
each with its own connection and transaction, released together by a barrier."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import orders
from app.catalog.models import Sku
from app.extensions import db
from app.orders.models import Order, OrderEvent, OrderStatus, Refund
from app.payments import services as payments
from app.payments.models import Payment
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import run_together


def test_forty_buyers_for_the_last_ten_units(pg_app):
    product = factories.ProductFactory(skus=[{"price_fen": 1000, "stock": 10}])
    sku_id = product.skus[0].id
    buyers = [factories.UserFactory() for _ in range(40)]
    addresses = [factories.AddressFactory(user=b).id for b in buyers]
    buyer_ids = [b.id for b in buyers]

    def buy(i):
        user = db.session.get(type(buyers[0]), buyer_ids[i])
        return orders.checkout.place_order(
            db.session,
            user=user,
            items={sku_id: 1},
            address_id=addresses[i],
            idempotency_key=f"race-buyer-{i:04d}-x",
        ).number

    results = run_together(pg_app, 40, buy)
    placed = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if isinstance(r, orders.events.OrderError)]
    assert len(placed) == 10
    assert len(refused) == 30
    db.session.expire_all()
    assert db.session.get(Sku, sku_id).stock == 0
    assert db.session.scalar(select(func.count()).select_from(Order)) == 10


def test_the_same_confirmation_ten_times_at_once(pg_app):
    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    product = factories.ProductFactory(skus=[{"price_fen": 2500, "stock": 5}])
    order = orders.checkout.place_order(
        db.session,
        user=shopper,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key="race-confirm-0001",
    )
    payment = payments.start_payment(db.session, order, "sandbox", user=shopper)
    db.session.commit()
    trade_no, amount, order_id = payment.out_trade_no, payment.amount_fen, order.id

    results = run_together(
        pg_app,
        10,
        lambda i: (
            payments.confirm_payment(
                db.session, provider="sandbox", out_trade_no=trade_no, amount_fen=amount
            ).outcome
        ),
    )
    assert sorted(map(str, results)) == ["already"] * 9 + ["paid"]
    db.session.expire_all()
    assert db.session.get(Order, order_id).status == OrderStatus.PAID
    paid_events = db.session.scalar(
        select(func.count())
        .select_from(OrderEvent)
        .where(OrderEvent.order_id == order_id, OrderEvent.action == "paid")
    )
    assert paid_events == 1


@pytest.mark.parametrize("round_", range(5))
def test_expiry_racing_a_payment_ends_one_way_only(pg_app, round_):
    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    product = factories.ProductFactory(skus=[{"price_fen": 990, "stock": 3}])
    sku_id = product.skus[0].id
    order = orders.checkout.place_order(
        db.session,
        user=shopper,
        items={sku_id: 2},
        address_id=address.id,
        idempotency_key=f"race-expire-{round_:04d}",
    )
    payment = payments.start_payment(db.session, order, "sandbox", user=shopper)
    db.session.commit()
    trade_no, amount, order_id = payment.out_trade_no, payment.amount_fen, order.id
    set_clock(utcnow() + timedelta(minutes=31))

    def work(i):
        if i == 0:
            return orders.transitions.expire_if_due(db.session, db.session.get(Order, order_id))
        return payments.confirm_payment(
            db.session, provider="sandbox", out_trade_no=trade_no, amount_fen=amount
        ).outcome

    run_together(pg_app, 2, work)
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    payment = db.session.scalar(select(Payment).where(Payment.out_trade_no == trade_no))
    stock = db.session.get(Sku, sku_id).stock
    if order.status == OrderStatus.PAID:
        assert not payment.needs_refund
        assert stock == 1
    else:
        assert order.status == OrderStatus.CANCELLED
        assert payment.needs_refund
        assert stock == 3


def test_two_refund_requests_at_once_cannot_exceed_what_was_paid(pg_app):
    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    product = factories.ProductFactory(skus=[{"price_fen": 3000, "stock": 5}])
    order = orders.checkout.place_order(
        db.session,
        user=shopper,
        items={product.skus[0].id: 2},
        address_id=address.id,
        idempotency_key="race-refund-0001",
    )
    payment = payments.start_payment(db.session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        db.session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    db.session.commit()
    order_id, line_id, shopper_id = order.id, order.lines[0].id, shopper.id

    def ask(i):
        user = db.session.get(type(shopper), shopper_id)
        return orders.refunds.request_refund(
            db.session, db.session.get(Order, order_id), user, items={line_id: 2}, reason=f"第{i}次"
        ).amount_fen

    results = run_together(pg_app, 2, ask)
    assert sorted(type(r).__name__ for r in results) == ["OrderError", "int"]
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 1
