"""Distribution under real concurrency on PostgreSQL, and a long random simulation whose balances must
equal what the rules give and pass the ledger audit."""

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import orders
from app.accounts.models import User
from app.distribution import engine, ledger
from app.distribution import services as dist
from app.distribution.models import Commission, Distributor, LedgerEntry
from app.extensions import db
from app.orders.models import Order
from app.payments import services as payments
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import run_together


def _tree(session):
    dist.get_settings(session)
    session.add(dist.get_settings(session))
    a = dist.make_distributor(session, factories.UserFactory(), source="merchant")
    b_user = factories.UserFactory()
    dist.bind(session, b_user, a, source="test")
    b = dist.make_distributor(session, b_user, source="merchant")
    c = factories.UserFactory()
    dist.bind(session, c, b, source="test")
    session.commit()
    return a, b, c


def _paid_order(session, buyer, product, key):
    address = factories.AddressFactory(user=buyer)
    order = orders.checkout.place_order(
        session, user=buyer, items={product.skus[0].id: 1}, address_id=address.id, idempotency_key=key
    )
    payment = payments.start_payment(session, order, "sandbox", user=buyer)
    session.commit()
    return order, payment


def test_ten_notifies_at_once_create_one_set_of_commission(pg_app):
    a, b, c = _tree(db.session)
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 10}])
    order, payment = _paid_order(db.session, c, product, "dist-race-notify-01")
    trade_no, amount = payment.out_trade_no, payment.amount_fen
    run_together(
        pg_app,
        10,
        lambda i: payments.confirm_payment(
            db.session, provider="sandbox", out_trade_no=trade_no, amount_fen=amount
        ),
    )
    assert db.session.scalar(select(func.count()).select_from(Commission)) == 2
    assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 2
    db.session.expire_all()
    assert db.session.get(Distributor, b.id).frozen_fen == 1000
    assert ledger.audit(db.session) == []


def _released_balance(session, b, c, product, count=3):
    staff = factories.UserFactory(role="staff")
    for n in range(count):
        order, payment = _paid_order(session, c, product, f"dist-race-balance-{n:02d}")
        payments.confirm_payment(
            session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
        )
        orders.transitions.ship_order(
            session, order, actor=staff, carrier="顺丰", tracking_no=f"SF0000{n:04d}"
        )
        orders.transitions.complete_order(session, order, actor=None)
        session.commit()


def test_two_withdrawals_of_everything_at_once(pg_app):
    a, b, c = _tree(db.session)
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 10}])
    _released_balance(db.session, b, c, product)
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(db.session)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Distributor, b.id).available_fen == 3000

    def withdraw(i):
        me = db.session.get(Distributor, b.id)
        return ledger.request_withdrawal(
            db.session,
            me,
            ledger.WithdrawalInput(amount_fen=3000, method="wechat", real_name="王五", account=f"wx{i}"),
        ).id

    results = run_together(pg_app, 2, withdraw)
    assert sorted(type(r).__name__ for r in results) == ["LedgerError", "int"]
    db.session.expire_all()
    assert db.session.get(Distributor, b.id).available_fen == 0
    assert ledger.audit(db.session) == []


def test_settle_twice_at_once_releases_each_entry_once(pg_app):
    a, b, c = _tree(db.session)
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 10}])
    _released_balance(db.session, b, c, product, count=4)
    set_clock(utcnow() + timedelta(days=8))
    results = run_together(pg_app, 2, lambda i: ledger.release_due(db.session))
    assert sorted(results) == [0, 8]
    db.session.expire_all()
    assert db.session.get(Distributor, b.id).available_fen == 4000
    assert db.session.get(Distributor, a.id).available_fen == 2000
    releases = db.session.scalar(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "release")
    )
    assert releases == 8
    assert ledger.audit(db.session) == []


# ---------------------------------------------------------------- simulation


class Model:
    """What the rules say each distributor should have, tracked independently of the ledger code:
    per order the engine's amounts on what is left of each line, and whether each is released."""

    def __init__(self):
        self.orders = {}  # order id -> dict(lines, people, released, voided)
        self.withdrawn = {}
        self.held = {}

    def amounts(self, entry):
        result = engine.compute(entry["settings"], entry["buyer"], entry["uplines"], entry["lines"])
        return result.totals()

    def balances(self):
        frozen, available = {}, {}
        for entry in self.orders.values():
            for (distributor_id, _level), amount in self.amounts(entry).items():
                if not isinstance(distributor_id, int):
                    continue
                target = available if entry["released"] else frozen
                target[distributor_id] = target.get(distributor_id, 0) + amount
        for distributor_id, amount in self.held.items():
            available[distributor_id] = available.get(distributor_id, 0) - amount
        return frozen, available


def test_random_simulation_ends_with_a_clean_audit_and_the_rules_balances(pg_app):
    rng = random.Random(20261122)
    session = db.session
    config = dist.get_settings(session)
    config.levels, config.rates_bp, config.freeze_days = 3, [1200, 600, 300], 7
    config.three_levels_acknowledged_at = utcnow()
    session.add(config)
    session.commit()
    staff = factories.UserFactory(role="staff")
    product = factories.ProductFactory(skus=[{"price_fen": rng.randint(500, 50000), "stock": 1_000_000}])
    cheap = factories.ProductFactory(skus=[{"price_fen": 990, "stock": 1_000_000}])

    # A random tree: each new member binds to a random earlier distributor (or to no one).
    distributors, members = [], []
    for _ in range(60):
        user = factories.UserFactory()
        if distributors and rng.random() < 0.85:
            dist.bind(session, user, rng.choice(distributors), source="sim")
        if rng.random() < 0.6:
            distributors.append(dist.make_distributor(session, user, source="merchant"))
        members.append(user)
        session.commit()
    # Everyone at their own address: a shared one would (rightly) raise fraud flags and hold commission.
    addresses = {m.id: factories.AddressFactory(user=m, detail=f"幸福路 {m.id} 号").id for m in members}

    model = Model()
    settings_now = dist.engine_settings(config)
    clock = utcnow()
    completed = []
    for n in range(2000):
        buyer = rng.choice(members)
        items = {product.skus[0].id: rng.randint(1, 3)}
        if rng.random() < 0.3:
            items[cheap.skus[0].id] = rng.randint(1, 5)
        order = orders.checkout.place_order(
            session,
            user=buyer,
            items=items,
            address_id=addresses[buyer.id],
            idempotency_key=f"sim-order-{n:06d}",
        )
        payment = payments.start_payment(session, order, "sandbox", user=buyer)
        payments.confirm_payment(
            session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
        )
        session.commit()
        explanation = ledger_explanation(session, order.id)
        model.orders[order.id] = {
            "settings": settings_now,
            "buyer": engine.Person(id=f"buyer{buyer.id}", is_distributor=False),
            "uplines": [
                engine.Person(id=p["distributor_id"], active=p["active"]) for p in explanation["chain"]
            ],
            "lines": [engine.Line(base_fen=line.paid_fen, qty=line.qty) for line in order.lines],
            "refunds": [],
            "released": False,
        }
        roll = rng.random()
        if roll < 0.7:
            orders.transitions.ship_order(
                session, order, actor=staff, carrier="顺丰", tracking_no=f"SF{n:08d}"
            )
            orders.transitions.complete_order(session, order, actor=None)
            session.commit()
            completed.append(order.id)
        if roll < 0.15 or (0.7 <= roll < 0.8):
            _refund_some(session, rng, order, buyer, staff, model)
        if n % 250 == 249:  # time passes: a settle run, refunds after release, withdrawals
            clock += timedelta(days=8)
            set_clock(clock)
            ledger.release_due(session)
            session.commit()
            for order_id in completed:
                model.orders[order_id]["released"] = True
            completed = []
            for order_id in rng.sample(list(model.orders), 10):
                o = session.get(Order, order_id)
                if o.status in ("completed", "paid", "shipped") and o.refund_status in ("none", "partial"):
                    _refund_some(session, rng, o, session.get(User, o.user_id), staff, model)
            for d in rng.sample(distributors, 5):
                session.refresh(d)
                if d.available_fen >= 1000:
                    amount = rng.randint(1000, d.available_fen)
                    w = ledger.request_withdrawal(
                        session,
                        d,
                        ledger.WithdrawalInput(
                            amount_fen=amount, method="wechat", real_name="模拟", account="wx"
                        ),
                    )
                    if rng.random() < 0.5:
                        ledger.approve_withdrawal(session, w, actor=staff)
                        ledger.mark_withdrawal_paid(session, w, actor=staff, reference=f"REF{w.id}")
                        model.withdrawn[d.id] = model.withdrawn.get(d.id, 0) + amount
                    else:
                        ledger.reject_withdrawal(session, w, actor=staff, reason="模拟驳回")
                    session.commit()

    assert ledger.audit(session) == []
    frozen, available = model.balances()
    session.expire_all()
    for d in session.scalars(select(Distributor)):
        assert d.frozen_fen == frozen.get(d.id, 0), d.id
        assert d.available_fen == available.get(d.id, 0) - model.withdrawn.get(d.id, 0), d.id
        assert d.withdrawn_fen == model.withdrawn.get(d.id, 0), d.id


def ledger_explanation(session, order_id):
    from app.distribution.models import CommissionExplanation

    return session.scalar(
        select(CommissionExplanation.data).where(CommissionExplanation.order_id == order_id)
    )


def _refund_some(session, rng, order, buyer, staff, model):
    line = rng.choice([line for line in order.lines if line.refundable_qty] or [None])
    if line is None:
        return
    units = rng.randint(1, line.refundable_qty)
    refund = orders.refunds.request_refund(session, order, buyer, items={line.id: units}, reason="模拟退款")
    orders.refunds.approve_refund(session, refund, actor=staff, restock=False)
    session.commit()
    entry = model.orders[order.id]
    index = [ln.id for ln in order.lines].index(line.id)
    entry["refunds"].append((index, units))
    original = [engine.Line(base_fen=ln.paid_fen, qty=ln.qty) for ln in order.lines]
    entry["lines"] = engine.remaining_bases(original, entry["refunds"])


def test_model_is_not_vacuous():
    """The simulation's model must see commission where the rules give some."""
    model = Model()
    model.orders[1] = {
        "settings": engine.Settings(levels=2, rates_bp=(1000, 500)),
        "buyer": engine.Person(id="b", is_distributor=False),
        "uplines": [engine.Person(id=7), engine.Person(id=8)],
        "lines": [engine.Line(base_fen=10000, qty=1)],
        "released": False,
    }
    assert model.balances() == ({7: 1000, 8: 500}, {})


@pytest.fixture(autouse=True)
def _real_clock():
    yield
    set_clock(None)
