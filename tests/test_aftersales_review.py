"""Review of the after-sales types (issue 13 §1): the timeout job's stock, and races on PostgreSQL."""

from datetime import timedelta

from sqlalchemy import func, select

from app import orders
from app.extensions import db
from app.orders import aftersales_jobs
from app.orders.models import Order, OrderEvent, Refund, RefundRequestStatus
from app.settings.models import ShopSettings
from app.timeutil import set_clock
from tests import factories
from tests.conftest import run_together
from tests.test_aftersales import START, ask, clock, paid_order, shop, shopper, staff, stock_of, tee  # noqa: F401


def test_the_job_puts_units_never_shipped_back_into_stock(session, shopper, tee, shop):
    """仅退款 before shipping, left unanswered: the job approves it and the goods, still in the warehouse,
    go back into stock (the merchant's own approval offers the choice; the job has nobody to ask)."""
    order = paid_order(session, shopper, tee.skus[0], qty=2, ship=False)
    assert stock_of(session, tee.skus[0].id) == 3
    ask(session, order, shopper, "refund_only", qty=2, not_received=False)
    set_clock(START + timedelta(days=4))
    assert aftersales_jobs.run_timeouts(session)["auto_approved"] == 1
    assert stock_of(session, tee.skus[0].id) == 5


def test_the_job_keeps_units_lost_in_the_post_out_of_stock(session, shopper, staff, tee, shop):
    """仅退款 "not received" on a shipped order: the goods are not back, stock stays as it is."""
    order = paid_order(session, shopper, tee.skus[0], qty=2, staff=staff)
    ask(session, order, shopper, "refund_only", qty=1, not_received=True)
    set_clock(START + timedelta(days=4))
    assert aftersales_jobs.run_timeouts(session)["auto_approved"] == 1
    assert stock_of(session, tee.skus[0].id) == 3


def _pg_setup():
    db.session.add(
        ShopSettings(id=1, name="店", return_contact="王", return_phone="13800000000", return_address="杭州")
    )
    db.session.commit()
    buyer = factories.UserFactory()
    merchant = factories.UserFactory(role="owner")
    product = factories.ProductFactory(
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"spec_values": ["红"], "price_fen": 5900, "stock": 5},
            {"spec_values": ["蓝"], "price_fen": 5900, "stock": 1},
        ],
    )
    return buyer, merchant, product


def test_two_job_runs_a_merchant_and_the_shopper_at_once(pg_app):
    """A 仅退款 left unanswered: two job runs, the merchant's approval and the shopper's withdrawal all at
    once. One of them wins; the money goes back at most once."""
    set_clock(START)
    buyer, merchant, product = _pg_setup()
    order = paid_order(db.session, buyer, product.skus[0], qty=2, ship=False)
    refund = ask(db.session, order, buyer, "refund_only", qty=2, not_received=False)
    refund_id, order_id, buyer_id, merchant_id = refund.id, order.id, buyer.id, merchant.id
    set_clock(START + timedelta(days=4))

    def work(i):
        if i < 2:
            return aftersales_jobs.run_timeouts(db.session)
        refund = db.session.get(Refund, refund_id)
        if i == 2:
            user = db.session.get(type(buyer), merchant_id)
            return orders.refunds.approve_refund(db.session, refund, actor=user, restock=True)
        user = db.session.get(type(buyer), buyer_id)
        return orders.refunds.cancel_refund_request(db.session, refund, user)

    results = run_together(pg_app, 4, work)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, orders.events.OrderError)]
    db.session.expire_all()
    refund = db.session.get(Refund, refund_id)
    order = db.session.get(Order, order_id)
    refunded = db.session.scalar(
        select(func.count()).where(OrderEvent.order_id == order_id, OrderEvent.action == "refunded")
    )
    if refund.status == RefundRequestStatus.CANCELLED:
        assert refunded == 0 and order.refunded_fen == 0
    else:
        assert refund.status == RefundRequestStatus.REFUNDED
        assert refunded == 1 and order.refunded_fen == order.total_fen
    assert stock_of(db.session, product.skus[0].id) == (5 if refunded else 3)


def test_goods_received_twice_and_the_replacement_shipped_twice_at_once(pg_app):
    set_clock(START)
    buyer, merchant, product = _pg_setup()
    back = paid_order(db.session, buyer, product.skus[0], qty=1, n=1)
    swap = paid_order(db.session, buyer, product.skus[0], qty=1, n=2)
    ret = ask(db.session, back, buyer, "return_refund")
    exc = ask(db.session, swap, buyer, "exchange")
    for refund in (ret, exc):
        orders.returns.approve_return(db.session, refund, actor=merchant)
        orders.returns.ship_return(db.session, refund, buyer, carrier_code="shunfeng", tracking_no="SF12345678")
    db.session.commit()
    ids = (ret.id, exc.id, back.id, merchant.id, product.skus[1].id)

    def receive(i):
        refund = db.session.get(Refund, ids[i % 2])
        user = db.session.get(type(buyer), ids[3])
        return orders.returns.confirm_return_received(db.session, refund, actor=user, restock=True)

    results = run_together(pg_app, 4, receive)
    assert sum(1 for r in results if r is None) == 2
    db.session.expire_all()
    assert db.session.get(Order, ids[2]).refunded_fen == db.session.get(Order, ids[2]).total_fen
    assert stock_of(db.session, product.skus[0].id) == 5  # 5 - 2 sold + 1 returned + 1 exchanged back

    def ship(i):
        refund = db.session.get(Refund, ids[1])
        user = db.session.get(type(buyer), ids[3])
        return orders.exchanges.ship_replacement(
            db.session, refund, actor=user, sku_id=ids[4], carrier_code="shunfeng", tracking_no="SF87654321"
        )

    results = run_together(pg_app, 3, ship)
    assert sum(1 for r in results if r is None) == 1
    assert all(isinstance(r, orders.events.OrderError) for r in results if r is not None)
    assert stock_of(db.session, ids[4]) == 0
    assert db.session.get(Refund, ids[1]).status == RefundRequestStatus.EXCHANGED
