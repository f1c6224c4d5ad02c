"""Distribution rules end to end through the services: binding, commission at payment, refunds,
release, withdrawals, voids, fraud holds, and the ledger audit."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import orders
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import (
    BindingLog,
    Commission,
    CommissionExplanation,
    CommissionStatus,
    DistributionSettings,
    EntryKind,
    LedgerEntry,
    WithdrawalStatus,
)
from app.payments import services as payments
from app.timeutil import set_clock, utcnow
from tests import factories


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


def settings(session, **values):
    row = dist.get_settings(session)
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    session.commit()
    return row


def distributor(session, user=None, **kwargs):
    user = user or factories.UserFactory()
    d = dist.make_distributor(session, user, source="merchant", **kwargs)
    session.commit()
    return d


def bind(session, user, parent_distributor, source="/?ref=x"):
    result = dist.bind(session, user, parent_distributor, source=source)
    session.commit()
    return result


def buy(session, buyer, product, qty=1, n=[0]):  # noqa: B006 - a counter shared across calls
    n[0] += 1
    address = factories.AddressFactory(user=buyer, detail=f"幸福路 {n[0]} 号")
    order = orders.checkout.place_order(
        session,
        user=buyer,
        items={product.skus[0].id: qty},
        address_id=address.id,
        idempotency_key=f"dist-test-order-{n[0]:06d}",
    )
    payment = payments.start_payment(session, order, "sandbox", user=buyer)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    return order


def complete(session, order):
    staff = factories.UserFactory(role="staff")
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF100200300")
    orders.transitions.complete_order(session, order, actor=None)
    session.commit()


def balances(session, d):
    session.expire_all()
    d = session.get(type(d), d.id)
    return d.frozen_fen, d.available_fen, d.withdrawn_fen


@pytest.fixture
def tree(session):
    """A (distributor) ← B (distributor, bound to A) ← C (shopper, bound to B)."""
    settings(session)
    a = distributor(session)
    b_user = factories.UserFactory()
    bind(session, b_user, a)
    b = distributor(session, b_user)
    c = factories.UserFactory()
    bind(session, c, b)
    return a, b, c


@pytest.fixture
def product(app):
    return factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])


# ---------------------------------------------------------------- binding


def test_binding_rules(session):
    settings(session)
    a, b = distributor(session), distributor(session)
    shopper = factories.UserFactory()
    assert bind(session, shopper, a).reason == "first_bind"
    assert bind(session, shopper, b).reason == "kept"  # first binding wins by default
    assert shopper.referrer_id == a.user_id
    assert bind(session, a.user, a).reason == "self"
    # a's own uplink cannot point into a's downline: no cycles anywhere up the chain
    b_user = b.user
    bind(session, b_user, a)
    assert bind(session, a.user, b).reason == "cycle"
    disabled = distributor(session)
    dist.set_distributor_active(session, disabled, False, reason="违规")
    session.commit()
    assert bind(session, factories.UserFactory(), disabled).reason == "disabled"
    assert dist.distributor_by_code(session, disabled.code) is None
    assert dist.distributor_by_code(session, "nope!") is None
    logs = session.scalars(select(BindingLog).order_by(BindingLog.id)).all()
    assert [(log.reason, log.new_parent_id) for log in logs] == [
        ("first_bind", a.user_id),
        ("first_bind", a.user_id),
    ]


def test_last_click_wins_until_the_first_paid_order(session, product):
    settings(session, binding_mode="last")
    a, b, c = distributor(session), distributor(session), distributor(session)
    shopper = factories.UserFactory()
    bind(session, shopper, a)
    assert bind(session, shopper, b).reason == "rebind_last"
    buy(session, shopper, product)
    session.refresh(shopper)
    assert shopper.referrer_fixed
    assert bind(session, shopper, c).reason == "fixed"
    assert shopper.referrer_id == b.user_id


def test_a_lapsed_binding_earns_nothing_and_can_be_replaced(session, product):
    settings(session, binding_days=30)
    a, b = distributor(session), distributor(session)
    shopper = factories.UserFactory()
    bind(session, shopper, a)
    set_clock(utcnow() + timedelta(days=31))
    order = buy(session, shopper, product)
    assert session.scalars(select(Commission).where(Commission.order_id == order.id)).all() == []
    explanation = session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    assert explanation.data["stop"]["why"] == "binding_lapsed"
    assert bind(session, shopper, b).reason == "rebind_lapsed"


# ---------------------------------------------------------------- commission


def test_payment_creates_frozen_commission_once(session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    assert balances(session, b) == (1000, 0, 0)
    assert balances(session, a) == (500, 0, 0)
    # a duplicate notify changes nothing
    payment = order.payments[0]
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    assert balances(session, b) == (1000, 0, 0)
    assert (
        session.scalar(select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)).data[
            "chain"
        ][0]["distributor_id"]
        == b.id
    )
    assert ledger.audit(session) == []


def test_refund_before_release_reverses_and_after_release_claws_back(session, tree, product):
    a, b, c = tree
    order = buy(session, c, product, qty=3)  # paid 30000: B 3000, A 1500
    staff = factories.UserFactory(role="staff")
    refund = orders.refunds.request_refund(session, order, c, items={order.lines[0].id: 1}, reason="不合适")
    orders.refunds.approve_refund(session, refund, actor=staff, restock=False)
    session.commit()
    assert balances(session, b) == (2000, 0, 0)
    assert balances(session, a) == (1000, 0, 0)

    complete(session, order)
    set_clock(utcnow() + timedelta(days=8))
    assert ledger.release_due(session) == 2
    session.commit()
    assert balances(session, b) == (0, 2000, 0)
    assert ledger.release_due(session) == 0  # released once

    refund = orders.refunds.request_refund(session, order, c, items={order.lines[0].id: 2}, reason="都退")
    orders.refunds.approve_refund(session, refund, actor=staff, restock=False)
    session.commit()
    assert balances(session, b) == (0, 0, 0)
    kinds = session.scalars(
        select(LedgerEntry.kind).where(LedgerEntry.distributor_id == b.id).order_by(LedgerEntry.id)
    ).all()
    assert kinds == [EntryKind.FROZEN_CREDIT, EntryKind.REVERSAL, EntryKind.RELEASE, EntryKind.CLAWBACK]
    assert ledger.audit(session) == []


def test_claw_back_below_zero_blocks_withdrawals(session, tree, product):
    a, b, c = tree
    first = buy(session, c, product)
    complete(session, first)
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(session)
    session.commit()
    withdrawal = ledger.request_withdrawal(
        session,
        b,
        ledger.WithdrawalInput(amount_fen=1000, method="alipay", real_name="李四", account="13800001111"),
    )
    session.commit()
    assert balances(session, b) == (0, 0, 0)
    staff = factories.UserFactory(role="staff")
    refund = orders.refunds.request_refund(session, first, c, items={first.lines[0].id: 1}, reason="坏了")
    orders.refunds.approve_refund(session, refund, actor=staff, restock=False)
    session.commit()
    assert balances(session, b)[1] == -1000
    with pytest.raises(ledger.LedgerError, match="余额为负"):
        ledger.request_withdrawal(
            session,
            b,
            ledger.WithdrawalInput(amount_fen=1000, method="alipay", real_name="李四", account="138"),
        )
    assert withdrawal.status == WithdrawalStatus.REQUESTED
    assert ledger.audit(session) == []


def test_withdrawal_paid_and_rejected(session, tree, product):
    a, b, c = tree
    settings(session, withdrawal_min_fen=500, withdrawal_fee_bp=100)
    for _ in range(2):
        complete(session, buy(session, c, product))
    set_clock(utcnow() + timedelta(days=8))
    staff = factories.UserFactory(role="staff")
    # The withdrawal itself releases what is due (nothing waits for cron).
    w1 = ledger.request_withdrawal(
        session,
        b,
        ledger.WithdrawalInput(
            amount_fen=1500,
            method="bank",
            real_name="王五",
            account="6222 0000 1111 2222",
            bank_name="工商银行",
        ),
    )
    session.commit()
    assert w1.fee_fen == 15
    assert balances(session, b) == (0, 500, 0)
    for bad, message in [(100, "最低提现"), (600, "余额不足"), (0, "请输入金额")]:
        with pytest.raises(ledger.LedgerError, match=message):
            ledger.request_withdrawal(
                session,
                b,
                ledger.WithdrawalInput(amount_fen=bad, method="wechat", real_name="王五", account="wx1"),
            )
    with pytest.raises(ledger.LedgerError, match="12 到 19"):
        ledger.request_withdrawal(
            session,
            b,
            ledger.WithdrawalInput(
                amount_fen=500, method="bank", real_name="王五", account="12ab", bank_name="x"
            ),
        )
    session.rollback()
    ledger.approve_withdrawal(session, w1, actor=staff)
    ledger.mark_withdrawal_paid(session, w1, actor=staff, reference="BANK-20261122-01")
    session.commit()
    assert balances(session, b) == (0, 500, 1500)
    w2 = ledger.request_withdrawal(
        session,
        b,
        ledger.WithdrawalInput(amount_fen=500, method="wechat", real_name="王五", account="wxid_123"),
    )
    ledger.reject_withdrawal(session, w2, actor=staff, reason="账户信息有误")
    session.commit()
    assert balances(session, b) == (0, 500, 1500)
    with pytest.raises(ledger.LedgerError, match="已处理过"):
        ledger.reject_withdrawal(session, w2, actor=staff, reason="again")
    assert ledger.audit(session) == []


def test_void_before_release(session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    staff = factories.UserFactory(role="staff")
    with pytest.raises(ledger.LedgerError, match="请填写原因"):
        ledger.void_order_commission(session, order, actor=staff, reason=" ")
    assert ledger.void_order_commission(session, order, actor=staff, reason="刷单") == 2
    session.commit()
    assert balances(session, b) == (0, 0, 0)
    complete(session, order)
    set_clock(utcnow() + timedelta(days=8))
    assert ledger.release_due(session) == 0
    assert ledger.audit(session) == []


def test_a_flagged_order_stays_frozen_until_cleared(session, tree, product):
    a, b, c = tree
    factories.AddressFactory(user=b.user, detail="幸福路 999 号")
    address = factories.AddressFactory(user=c, detail="幸福路 999 号")
    order = orders.checkout.place_order(
        session,
        user=c,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key="flagged-order-0001",
    )
    payment = payments.start_payment(session, order, "sandbox", user=c)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    explanation = session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    assert {"kind": "same_address", "distributor_id": b.id} in explanation.flags
    complete(session, order)
    set_clock(utcnow() + timedelta(days=8))
    assert ledger.release_due(session) == 0
    ledger.clear_flags(session, order, actor=factories.UserFactory(role="owner"))
    assert ledger.release_due(session) == 2
    session.commit()
    assert balances(session, b) == (0, 1000, 0)


def test_product_opt_out_and_override(session, tree):
    a, b, c = tree
    opted = factories.ProductFactory(commission_opt_out=True, skus=[{"price_fen": 5000, "stock": 5}])
    special = factories.ProductFactory(commission_rates_bp=[2000, 0], skus=[{"price_fen": 5000, "stock": 5}])
    buy(session, c, opted)
    buy(session, c, special)
    assert balances(session, b) == (1000, 0, 0)
    assert balances(session, a) == (0, 0, 0)


def test_spend_mode_promotes_automatically(session, product):
    settings(session, mode="spend", spend_threshold_fen=15000)
    shopper = factories.UserFactory()
    buy(session, shopper, product)
    assert dist.distributor_of(session, shopper.id) is None
    assert "¥50.00" in dist.can_join_now(session, shopper)[1]
    buy(session, shopper, product)
    assert dist.distributor_of(session, shopper.id) is not None


def test_settings_validation(session):
    good = dict(
        enabled=True,
        mode="apply",
        spend_threshold_fen=10000,
        levels=2,
        rates_bp=[1000, 500],
        three_levels_acknowledged=False,
        self_purchase=False,
        binding_mode="first",
        binding_days=0,
        freeze_days=7,
        withdrawal_min_fen=1000,
        withdrawal_fee_bp=0,
    )
    dist.update_settings(session, dist.SettingsInput(**good))
    for change, field in [
        ({"levels": 3, "rates_bp": [1000, 500, 100]}, "three_levels_acknowledged"),
        ({"levels": 4}, "levels"),
        ({"rates_bp": [2500, 600]}, "rates_bp"),
        ({"rates_bp": [-1, 100]}, "rates_bp"),
        ({"freeze_days": 181}, "freeze_days"),
        ({"binding_mode": "middle"}, "binding_mode"),
        ({"withdrawal_min_fen": 0}, "withdrawal_min_fen"),
    ]:
        with pytest.raises(dist.DistributionError) as caught:
            dist.update_settings(session, dist.SettingsInput(**{**good, **change}))
        assert caught.value.field == field
    three = dist.update_settings(
        session,
        dist.SettingsInput(
            **{**good, "levels": 3, "rates_bp": [1000, 500, 100], "three_levels_acknowledged": True}
        ),
    )
    assert three.three_levels_acknowledged_at is not None
    assert session.get(DistributionSettings, 1).rates_bp == [1000, 500, 100]
    assert dist.example_split([1000, 500]) == [1000, 500]


def test_audit_finds_a_tampered_balance(session, tree, product):
    a, b, c = tree
    buy(session, c, product)
    b_row = session.get(type(b), b.id)
    b_row.available_fen += 1  # what a bug (or a hand edit) would do
    session.commit()
    mismatches = ledger.audit(session)
    assert [(m.distributor_id, m.field) for m in mismatches] == [(b.id, "available")]


def test_commission_status_after_release(session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    complete(session, order)
    set_clock(utcnow() + timedelta(days=6))
    assert ledger.release_due(session) == 0  # freeze days not over yet
    set_clock(utcnow() + timedelta(days=2))
    ledger.release_due(session)
    session.commit()
    statuses = session.scalars(select(Commission.status).where(Commission.order_id == order.id)).all()
    assert statuses == [CommissionStatus.RELEASED, CommissionStatus.RELEASED]
