"""The order rules, through the services: placing, paying, expiring, shipping, refunding."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import orders
from app.catalog.models import Sku
from app.orders.models import Order, OrderEvent, OrderStatus, RefundStatus
from app.payments import services as payments
from app.payments.models import PaymentStatus
from app.payments.services import Outcome, PaymentError
from app.settings.models import ShopSettings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import login


@pytest.fixture
def shopper(app):
    return factories.UserFactory()


@pytest.fixture
def address(shopper):
    return factories.AddressFactory(user=shopper)


@pytest.fixture
def tee(app):
    return factories.ProductFactory(
        title="纯棉T恤",
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"spec_values": ["红"], "price_fen": 5900, "stock": 5},
            {"spec_values": ["蓝"], "price_fen": 6900, "stock": 2},
        ],
    )


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


def key(n: int = 1) -> str:
    return f"test-idempotency-key-{n:04d}"


def place(session, shopper, address, items, n=1, **kwargs):
    order = orders.checkout.place_order(
        session, user=shopper, items=items, address_id=address.id, idempotency_key=key(n), **kwargs
    )
    session.commit()
    return order


def stock_of(session, sku_id) -> int:
    session.expire_all()
    return session.get(Sku, sku_id).stock


def pay_with_sandbox(session, order, shopper):
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    result = payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    return result


def test_placing_an_order_takes_stock_and_copies_the_lines(session, shopper, address, tee):
    red, blue = tee.skus
    order = place(session, shopper, address, {red.id: 2, blue.id: 1}, buyer_note="  请尽快发货 ")
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.goods_fen == 2 * 5900 + 6900
    assert order.total_fen == order.goods_fen + order.shipping_fen
    assert [(line.title, line.spec_text, line.unit_fen, line.qty) for line in order.lines] == [
        ("纯棉T恤", "红", 5900, 2),
        ("纯棉T恤", "蓝", 6900, 1),
    ]
    assert order.buyer_note == "请尽快发货"
    assert len(order.number) == 16 and order.number.isdigit()
    assert stock_of(session, red.id) == 3
    assert stock_of(session, blue.id) == 1
    assert [e.action for e in order.events] == ["placed"]


def test_the_same_idempotency_key_makes_one_order(session, shopper, address, tee):
    red = tee.skus[0]
    first = place(session, shopper, address, {red.id: 1}, n=7)
    second = place(session, shopper, address, {red.id: 1}, n=7)
    assert first.id == second.id
    assert session.scalar(select(Order.id).where(Order.id != first.id)) is None
    assert stock_of(session, red.id) == 4


def test_not_enough_stock_refuses_and_changes_nothing(session, shopper, address, tee):
    red, blue = tee.skus
    with pytest.raises(orders.events.OrderError, match="库存不足"):
        orders.checkout.place_order(
            session, user=shopper, items={red.id: 1, blue.id: 3}, address_id=address.id, idempotency_key=key()
        )
    session.rollback()
    assert stock_of(session, red.id) == 5
    assert stock_of(session, blue.id) == 2
    assert session.scalar(select(Order.id)) is None


@pytest.mark.parametrize("qty", [0, -1, 1000, "abc", None, "1.5"])
def test_bad_quantities_are_refused(session, shopper, address, tee, qty):
    with pytest.raises(orders.events.OrderError):
        orders.checkout.place_order(
            session, user=shopper, items={tee.skus[0].id: qty}, address_id=address.id, idempotency_key=key()
        )
    session.rollback()
    assert stock_of(session, tee.skus[0].id) == 5


def test_another_users_address_is_refused(session, shopper, tee):
    stranger = factories.UserFactory()
    their_address = factories.AddressFactory(user=stranger)
    with pytest.raises(orders.events.OrderError, match="收货地址"):
        orders.checkout.place_order(
            session,
            user=shopper,
            items={tee.skus[0].id: 1},
            address_id=their_address.id,
            idempotency_key=key(),
        )


def test_off_shelf_product_cannot_be_ordered(session, shopper, address, tee):
    tee.is_on_shelf = False
    session.commit()
    with pytest.raises(orders.events.OrderError, match="无法购买"):
        orders.checkout.place_order(
            session, user=shopper, items={tee.skus[0].id: 1}, address_id=address.id, idempotency_key=key()
        )


def test_a_changed_price_is_caught_before_the_order_is_placed(session, shopper, address, tee):
    red = tee.skus[0]
    with pytest.raises(orders.events.OrderError, match="价格有变动"):
        orders.checkout.place_order(
            session,
            user=shopper,
            items={red.id: 1},
            address_id=address.id,
            idempotency_key=key(),
            expected_total_fen=100,
        )


def test_shipping_rule(session, shopper, address, tee):
    settings = ShopSettings(id=1, name="店", shipping_flat_fen=800, free_shipping_over_fen=10000)
    session.add(settings)
    session.commit()
    small = place(session, shopper, address, {tee.skus[0].id: 1}, n=1)
    big = place(session, shopper, address, {tee.skus[0].id: 2}, n=2)
    assert (small.shipping_fen, small.total_fen) == (800, 5900 + 800)
    assert (big.shipping_fen, big.total_fen) == (0, 11800)
    free = factories.ProductFactory(free_shipping=True, skus=[{"price_fen": 100, "stock": 10}])
    assert place(session, shopper, address, {free.skus[0].id: 1}, n=3).shipping_fen == 0


def test_sandbox_payment_marks_paid_once(session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    first = pay_with_sandbox(session, order, shopper)
    again = payments.confirm_payment(
        session,
        provider="sandbox",
        out_trade_no=first.payment.out_trade_no,
        amount_fen=first.payment.amount_fen,
    )
    session.commit()
    assert (first.outcome, again.outcome) == (Outcome.PAID, Outcome.ALREADY)
    session.refresh(order)
    assert order.status == OrderStatus.PAID
    assert [e.action for e in order.events].count("paid") == 1
    session.refresh(tee)
    assert tee.sales_count == 1


def test_a_wrong_amount_never_pays_the_order(session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    with pytest.raises(PaymentError, match="金额不符"):
        payments.confirm_payment(session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=1)
    with pytest.raises(PaymentError, match="未知的支付"):
        payments.confirm_payment(session, provider="sandbox", out_trade_no="nope", amount_fen=1)
    session.rollback()
    session.refresh(order)
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_expiry_gives_stock_back_exactly_once(session, shopper, address, tee):
    red = tee.skus[0]
    order = place(session, shopper, address, {red.id: 2})
    assert stock_of(session, red.id) == 3
    set_clock(utcnow() + timedelta(minutes=31))
    assert orders.transitions.expire_due_orders(session) == 1
    assert orders.transitions.expire_due_orders(session) == 0
    session.refresh(order)
    assert order.status == OrderStatus.CANCELLED
    assert stock_of(session, red.id) == 5
    assert not orders.transitions.expire_if_due(session, order)
    assert stock_of(session, red.id) == 5


def test_an_order_looked_at_after_its_time_expires_lazily(client, session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    login(client, shopper)
    set_clock(utcnow() + timedelta(minutes=45))
    assert "已取消" in client.get(f"/orders/{order.number}").get_data(as_text=True)
    session.refresh(order)
    assert order.status == OrderStatus.CANCELLED
    assert stock_of(session, tee.skus[0].id) == 5


def test_money_for_a_cancelled_order_is_kept_and_flagged(session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    session.commit()
    orders.transitions.cancel_order(session, order, actor=None, reason="timeout")
    session.commit()
    result = payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    assert result.outcome == Outcome.FLAGGED
    assert result.payment.needs_refund
    assert result.payment.status == PaymentStatus.SUCCEEDED
    session.refresh(order)
    assert order.status == OrderStatus.CANCELLED
    assert payments.flagged_payments(session) == [result.payment]


def test_ship_confirm_and_partial_then_full_refund(session, shopper, address, tee):
    staff = factories.UserFactory(role="staff")
    red = tee.skus[0]
    order = place(session, shopper, address, {red.id: 3})
    pay_with_sandbox(session, order, shopper)
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF1234567890")
    orders.transitions.confirm_receipt(session, order, shopper)
    session.commit()
    assert order.status == OrderStatus.COMPLETED

    line = order.lines[0]
    refund = orders.refunds.request_refund(session, order, shopper, items={line.id: 1}, reason="尺码不合适")
    session.commit()
    assert refund.amount_fen == 5900 * 1 // 1 and order.refund_status == RefundStatus.REQUESTED
    with pytest.raises(orders.events.OrderError, match="进行中的售后"):
        orders.refunds.request_refund(session, order, shopper, items={line.id: 1}, reason="again")
    session.rollback()
    orders.refunds.approve_refund(session, refund, actor=staff, restock=True)
    session.commit()
    session.refresh(order)
    assert (order.status, order.refund_status, order.refunded_fen) == (
        OrderStatus.COMPLETED,
        RefundStatus.PARTIAL,
        5900,
    )
    assert stock_of(session, red.id) == 3  # 5 - 3 + 1 restocked

    rest = orders.refunds.request_refund(session, order, shopper, items={line.id: 2}, reason="都不要了")
    orders.refunds.approve_refund(session, rest, actor=staff, restock=False)
    session.commit()
    session.refresh(order)
    assert order.status == OrderStatus.REFUNDED
    assert order.refund_status == RefundStatus.FULL
    assert order.refunded_fen == order.goods_fen
    with pytest.raises(orders.events.OrderError):
        orders.refunds.request_refund(session, order, shopper, items={line.id: 1}, reason="more")


def test_refund_before_shipping_of_everything_returns_shipping_too(session, shopper, address, tee):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800))
    session.commit()
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    pay_with_sandbox(session, order, shopper)
    refund = orders.refunds.request_refund(
        session, order, shopper, items={order.lines[0].id: 1}, reason="拍错了"
    )
    assert refund.amount_fen == order.total_fen == 5900 + 800


def test_refund_cannot_ask_for_more_than_bought_or_for_others_orders(session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 2})
    pay_with_sandbox(session, order, shopper)
    stranger = factories.UserFactory()
    with pytest.raises(orders.events.OrderError, match="订单不存在"):
        orders.refunds.request_refund(session, order, stranger, items={order.lines[0].id: 1}, reason="x")
    for items in ({order.lines[0].id: 3}, {order.lines[0].id: -1}, {999999: 1}, {}):
        with pytest.raises(orders.events.OrderError):
            orders.refunds.request_refund(session, order, shopper, items=items, reason="x")
    session.rollback()
    session.refresh(order)
    assert order.refund_status == RefundStatus.NONE


def test_rejecting_a_refund_restores_the_previous_state(session, shopper, address, tee):
    staff = factories.UserFactory(role="staff")
    order = place(session, shopper, address, {tee.skus[0].id: 2})
    pay_with_sandbox(session, order, shopper)
    refund = orders.refunds.request_refund(
        session, order, shopper, items={order.lines[0].id: 1}, reason="不想要了"
    )
    with pytest.raises(orders.events.OrderError):
        orders.refunds.reject_refund(session, refund, actor=staff, reason="  ")
    orders.refunds.reject_refund(session, refund, actor=staff, reason="商品已拆封")
    session.commit()
    session.refresh(order)
    assert order.refund_status == RefundStatus.NONE
    assert refund.reject_reason == "商品已拆封"
    actions = session.scalars(select(OrderEvent.action).where(OrderEvent.order_id == order.id)).all()
    assert actions == ["placed", "paid", "refund_requested", "refund_rejected"]


def test_manual_transfer_claim_confirm_and_reject(session, shopper, address, tee):
    session.add(
        ShopSettings(id=1, name="店", manual_payment_enabled=True, manual_payment_text="工商银行 6222…")
    )
    session.commit()
    staff = factories.UserFactory(role="staff")
    order = place(session, shopper, address, {tee.skus[0].id: 1}, n=1)
    payments.claim_manual_payment(session, order, shopper)
    session.commit()
    assert order.status == OrderStatus.AWAITING_CONFIRMATION
    set_clock(utcnow() + timedelta(hours=3))
    assert orders.transitions.expire_due_orders(session) == 0  # waiting for the merchant: it does not expire
    payments.reject_manual_payment(session, order, actor=staff, reason="没有收到转账", expire_minutes=30)
    session.commit()
    assert order.status == OrderStatus.PENDING_PAYMENT
    payments.claim_manual_payment(session, order, shopper)
    result = payments.confirm_manual_payment(session, order, actor=staff)
    session.commit()
    assert result.outcome == Outcome.PAID
    assert order.status == OrderStatus.PAID
    assert order.payment_method == "manual"


def test_a_sale_counts_but_is_not_an_edit_of_the_product(session, shopper, address, tee):
    red, blue = tee.skus
    session.refresh(tee)
    edited_at = tee.updated_at
    order = place(session, shopper, address, {red.id: 2, blue.id: 1})
    pay_with_sandbox(session, order, shopper)
    session.expire_all()
    product = session.get(type(tee), tee.id)
    assert product.sales_count == 3
    assert product.updated_at == edited_at  # posters and caches keyed on updated_at stay valid


def test_the_audit_trail_says_who_moved_an_order_and_from_which_status(session, shopper, address, tee):
    session.add(ShopSettings(id=1, name="店", manual_payment_enabled=True, manual_payment_text="转账"))
    session.commit()
    staff = factories.UserFactory(role="staff")
    order = place(session, shopper, address, {tee.skus[0].id: 1}, n=1)
    payments.claim_manual_payment(session, order, shopper)
    payments.reject_manual_payment(session, order, actor=staff, reason="没有收到", expire_minutes=30)
    pay_with_sandbox(session, order, shopper)
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF1234567890")
    orders.transitions.complete_order(session, order, actor=None, automatic=True)
    late = place(session, shopper, address, {tee.skus[0].id: 1}, n=2)
    payment = payments.start_payment(session, late, "sandbox", user=shopper)
    orders.transitions.cancel_order(session, late, actor=None, reason="timeout")
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()

    def trail(o):
        events = session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == o.id).order_by(OrderEvent.id)
        )
        return [(e.action, e.actor_kind, e.from_status, e.to_status) for e in events]

    assert trail(order) == [
        ("placed", "shopper", None, "pending_payment"),
        ("manual_payment_claimed", "shopper", "pending_payment", "awaiting_confirmation"),
        ("manual_payment_rejected", "staff", "awaiting_confirmation", "pending_payment"),
        ("paid", "gateway", "pending_payment", "paid"),
        ("shipped", "staff", "paid", "shipped"),
        ("auto_completed", "system", "shipped", "completed"),
    ]
    assert trail(late) == [
        ("placed", "shopper", None, "pending_payment"),
        ("cancelled", "system", "pending_payment", "cancelled"),
        ("payment_flagged", "gateway", None, None),
    ]
