"""Dividend pools: every worked case of tests/vectors/dividends.json (the pure split, and real orders through
checkout, payment, receipt, refunds and the job), final orders, the job's idempotence and catch-up, the
audit over dividend entries, and two runs at once on PostgreSQL."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import orders
from app.distribution import dividends, ledger
from app.distribution import services as dist
from app.distribution.dividend_split import split_pools
from app.distribution.models import DistributorGrade, DividendDay, DividendPayout, EntryKind, LedgerEntry
from app.extensions import db
from app.orders.models import Order
from app.timeutil import SHOP_TZ, set_clock
from tests import factories
from tests.conftest import run_together
from tests.test_distribution import bind, buy, distributor, settings

VECTORS = Path(__file__).parent / "vectors" / "dividends.json"
CASES = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]
# 09:00 in Shanghai: orders are received an hour later, and finalise_due runs at this hour, so an order
# received on day n is final on day n + freeze days + 1 (7 days to the minute have not quite passed on n + 7).
BASE = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


def at(offset: int, hours: int = 0) -> datetime:
    return BASE + timedelta(days=offset, hours=hours)


def local_day(offset: int) -> date:
    return at(offset).astimezone(SHOP_TZ).date()


# ---------------------------------------------------------------- the vectors: the pure split


def _names(sharers) -> list[str]:
    return [f"d{i}" for i in range(1, sharers + 1)] if isinstance(sharers, int) else list(sharers)


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "split"], ids=lambda c: c["name"])
def test_split_vectors(case):
    names = sorted({n for pool in case["pools"] for n in _names(pool["sharers"])} | set(case["room"]))
    ids = {name: i for i, name in enumerate(names, start=1)}
    room = {ids[name]: fen for name, fen in case["room"].items()}
    pools = [
        (p["key"], case["turnover_fen"] * p["ratio_bp"] // 10000, [ids[n] for n in _names(p["sharers"])])
        for p in case["pools"]
    ]
    results = split_pools(pools, room)
    by_id = {i: name for name, i in ids.items()}
    for split, want in zip(results, case["expect"], strict=True):
        assert split.key == want["key"]
        assert (split.pool_fen, split.paid_fen, split.remainder_fen) == (
            want["pool_fen"],
            want["paid_fen"],
            want["remainder_fen"],
        )
        got = {by_id[d]: amount for d, amount in split.shares.items()}
        if "each_fen" in want:
            assert set(got.values()) == {want["each_fen"]} and len(got) == split.sharers
        else:
            assert got == want["shares"]
        assert sorted(by_id[d] for d in split.capped) == sorted(want["capped"])


def test_split_never_pays_more_than_the_pool_nor_past_a_room():
    import random

    rng = random.Random(11)
    for _ in range(300):
        sharers = list(range(1, rng.randint(1, 30)))
        room = {d: rng.choice([None, 0, rng.randint(0, 5000)]) for d in sharers}
        room = {d: r for d, r in room.items() if r is not None}
        before = dict(room)
        pool = rng.randint(0, 100000)
        (split,) = split_pools([("grade:1", pool, sharers)], room)
        assert split.paid_fen + split.remainder_fen == pool and split.remainder_fen >= 0
        for d, amount in split.shares.items():
            assert amount <= before.get(d, amount)
        uncapped = [split.shares.get(d, 0) for d in sharers if d not in before]
        assert len(set(uncapped)) <= 1  # equal shares among those no cap touched
        # Those who could still take more share the pool equally: only the floor is left over.
        open_ = [d for d in sharers if d not in before or split.shares.get(d, 0) < before[d]]
        if open_:
            assert split.remainder_fen < len(open_)


# ---------------------------------------------------------------- the vectors: real orders


def _enable(session, *, mode="static", levels=(0, 0, 0), caps=None, start_on=None, freeze_days=7):
    caps = caps or {}
    return settings(
        session,
        levels=2,
        rates_bp=[1000, 500],
        freeze_days=freeze_days,
        dividends_enabled=True,
        dividend_mode=mode,
        dividend_level_ratios_bp=list(levels),
        dividends_acknowledged_at=BASE,
        dividends_start_on=start_on,
        **{f"dividend_cap_{period}_fen": fen for period, fen in caps.items()},
    )


def _scenario(session, case, product):
    """The case's grades, distributors (bound to their uplines) and orders, received on their days."""
    set_clock(at(-1))
    grade_ids = {}
    for sort, (name, ratio) in enumerate(case["grades"].items()):
        grade = DistributorGrade(name=name, sort=sort, dividend_ratio_bp=ratio)
        session.add(grade)
        session.flush()
        grade_ids[name] = grade.id
    _enable(
        session,
        mode=case["mode"],
        levels=case.get("levels", (0, 0, 0)),
        caps=case.get("caps"),
        start_on=local_day(0),
    )
    people = {}
    for name, grade in case["distributors"].items():
        user = factories.UserFactory()
        upline = case.get("uplines", {}).get(name)
        if upline:
            bind(session, user, people[upline])
        people[name] = distributor(session, user)
        people[name].grade_id = grade_ids.get(grade)
    session.commit()
    staff = factories.UserFactory(role="staff")
    for spec in sorted(case["orders"], key=lambda o: o["completed_on"]):
        set_clock(at(spec["completed_on"]))
        buyer = factories.UserFactory()
        bind(session, buyer, people[spec["via"]])
        order = buy(session, buyer, product, qty=spec["qty"])
        orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF100200300")
        set_clock(at(spec["completed_on"], hours=1))
        orders.transitions.complete_order(session, order, actor=None)
        session.commit()
        for day, qty in spec.get("refund_qty_on", []):
            set_clock(at(day))
            refund = orders.refunds.request_refund(
                session, order, buyer, items={order.lines[0].id: qty}, reason="不合适"
            )
            orders.refunds.approve_refund(session, refund, actor=staff, restock=False)
            session.commit()
    return people


@pytest.mark.parametrize("case", [c for c in CASES if c["kind"] == "db"], ids=lambda c: c["name"])
def test_db_vectors(session, case):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    people = _scenario(session, case, product)
    for offset in case["final_on"]:
        _finalise(session, at(offset))
        session.commit()
    last = max(int(day) for day in case["expect"])
    counts = dividends.run_dividends(session, now=at(last + 1))
    assert counts["days"] == last + 1  # every day from the start day up to yesterday
    names = {d.id: name for name, d in people.items()}
    for offset, want in case["expect"].items():
        row = session.scalar(select(DividendDay).where(DividendDay.day == local_day(int(offset))))
        assert (row.orders, row.turnover_fen) == (want["orders"], want["turnover_fen"]), offset
        paid = dict(
            session.execute(
                select(DividendPayout.distributor_id, DividendPayout.amount_fen).where(
                    DividendPayout.dividend_day_id == row.id
                )
            ).all()
        )
        assert {names[d]: fen for d, fen in paid.items()} == want["payouts"], offset
        assert row.paid_fen == sum(want["payouts"].values())
        if "remainder_fen" in want:
            assert sum(pool["remainder_fen"] for pool in row.pools) == want["remainder_fen"]
    assert ledger.audit(session) == []
    dividend_entries = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.available_delta_fen), 0)).where(
            LedgerEntry.kind == EntryKind.DIVIDEND
        )
    )
    assert dividend_entries == sum(sum(w["payouts"].values()) for w in case["expect"].values())


# ---------------------------------------------------------------- final orders


def _finalise(session, now):
    """What the settle job does: release the commission now due, then stamp the orders that became final."""
    ledger.release_due(session, now=now)
    return dividends.finalise_due(session, now=now)


def _received(session, product, *, via, offset):
    staff = factories.UserFactory(role="staff")
    set_clock(at(offset))
    buyer = factories.UserFactory()
    bind(session, buyer, via)
    order = buy(session, buyer, product)
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF100200300")
    set_clock(at(offset, hours=1))
    orders.transitions.complete_order(session, order, actor=None)
    session.commit()
    return buyer, order


def test_finalise_due_waits_for_the_freeze_days_and_open_after_sales(session):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    _enable(session)
    a = distributor(session)
    buyer, held = _received(session, product, via=a, offset=0)
    _buyer2, plain = _received(session, product, via=a, offset=0)
    orders.refunds.request_refund(session, held, buyer, items={held.lines[0].id: 1}, reason="坏了")
    session.commit()
    assert _finalise(session, at(7)) == 0  # 7 days to the minute have not passed
    assert _finalise(session, at(8)) == 1  # the open after-sales request holds one back
    assert _finalise(session, at(9)) == 0  # stamped once
    session.commit()
    session.expire_all()
    assert session.get(Order, plain.id).final_at == at(8)
    assert session.get(Order, held.id).final_at is None
    refund = held.refunds[0]
    orders.refunds.reject_refund(session, refund, actor=factories.UserFactory(role="staff"), reason="无问题")
    session.commit()
    assert _finalise(session, at(10)) == 1
    session.commit()
    assert session.get(Order, held.id).final_at == at(10)


def test_settle_stamps_final_orders(app, session, runner):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    _enable(session)
    a = distributor(session)
    _buyer, order = _received(session, product, via=a, offset=0)
    set_clock(at(8))
    result = runner.invoke(args=["distribution", "settle"])
    assert result.exit_code == 0, result.output
    assert "finalised=1" in result.output
    session.expire_all()
    assert session.get(Order, order.id).final_at == at(8)


# ---------------------------------------------------------------- the job


def _gold_day(session, product, *, start_on):
    gold = DistributorGrade(name="金牌", sort=3, dividend_ratio_bp=500)
    session.add(gold)
    session.commit()
    _enable(session, start_on=start_on)
    a, b = distributor(session), distributor(session)
    a.grade_id = b.grade_id = gold.id
    session.commit()
    return a, b


def test_job_twice_pays_once_and_catches_up_missed_days(session, runner):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, b = _gold_day(session, product, start_on=local_day(8))
    _received(session, product, via=a, offset=0)  # final on day 8
    _received(session, product, via=a, offset=2)  # final on day 10
    _received(session, product, via=a, offset=-1)  # final on day 7: before the start day, never paid
    for offset in (7, 8, 9, 10):
        _finalise(session, at(offset))
        session.commit()
    set_clock(at(9))  # the job ran on day 9 (paying day 8), then missed days 10 and 11
    assert runner.invoke(args=["distribution", "dividends"]).exit_code == 0
    set_clock(at(12))
    first = runner.invoke(args=["distribution", "dividends"])
    again = runner.invoke(args=["distribution", "dividends"])
    assert "days=3" in first.output and "days=0" in again.output, (first.output, again.output)
    session.expire_all()
    days = session.execute(select(DividendDay.day, DividendDay.paid_fen).order_by(DividendDay.day)).all()
    assert days == [(local_day(8), 500), (local_day(9), 0), (local_day(10), 500), (local_day(11), 0)]
    rows = session.execute(select(DividendPayout.day, DividendPayout.distributor_id)).all()
    assert len(rows) == len(set(rows)) == 4
    assert session.get(type(a), a.id).available_fen == 3 * 1000 + 500  # three commissions released, one share
    assert ledger.audit(session) == []
    assert (
        dividends.pay_day(session, local_day(8), dividends.rules_from(session, dist.get_settings(session)))
        is None
    )


def test_dividends_off_do_nothing(session, runner):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, _b = _gold_day(session, product, start_on=local_day(0))
    _received(session, product, via=a, offset=0)
    settings(session, dividends_enabled=False)
    set_clock(at(20))
    result = runner.invoke(args=["distribution", "dividends"])
    assert result.exit_code == 0 and "days=0" in result.output
    assert session.scalar(select(func.count()).select_from(DividendDay)) == 0
    assert session.get(Order, session.scalar(select(Order.id))).final_at is None  # not even stamped


def test_audit_finds_a_tampered_balance_after_a_dividend(session):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, b = _gold_day(session, product, start_on=local_day(8))
    _received(session, product, via=a, offset=0)
    _finalise(session, at(8))
    session.commit()
    assert dividends.run_dividends(session, now=at(9))["paid_fen"] == 500
    assert ledger.audit(session) == []
    assert session.scalar(select(LedgerEntry.kind).where(LedgerEntry.distributor_id == b.id)) == "dividend"
    # The dividend's entry is what b's balance is checked against: a balance moved without it is found.
    session.get(type(b), b.id).available_fen += 500
    session.commit()
    assert [(m.distributor_id, m.field) for m in ledger.audit(session)] == [(b.id, "available")]


def test_plan_day_reads_only_and_follows_unsaved_rules(session):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, b = _gold_day(session, product, start_on=local_day(0))
    _received(session, product, via=a, offset=0)
    _finalise(session, at(8))
    session.commit()
    saved = dividends.rules_from(session, dist.get_settings(session))
    gold = next(iter(saved.grade_ratios_bp))
    trial = dividends.DividendRules(
        enabled=True, mode="static", grade_ratios_bp={gold: 1000}, level_ratios_bp=(0, 0, 0), cap_day_fen=300
    )
    plan = dividends.plan_day(session, local_day(8), trial)
    assert (plan.orders, plan.turnover_fen) == (1, 10000)
    assert [(p.key, p.pool_fen, p.sharers, p.paid_fen, p.remainder_fen) for p in plan.pools] == [
        (f"grade:{gold}", 1000, 2, 600, 400)
    ]
    assert plan.payouts[a.id].amount_fen == 300 and plan.payouts[a.id].capped
    assert session.scalar(select(func.count()).select_from(DividendDay)) == 0


def test_only_active_distributors_who_existed_that_day_share(session):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, b = _gold_day(session, product, start_on=local_day(0))
    _received(session, product, via=a, offset=0)
    _finalise(session, at(8))
    session.commit()
    session.get(type(b), b.id).status = "disabled"
    set_clock(at(9))  # joins the day after: not a sharer of day 8
    late = distributor(session)
    late.grade_id = session.get(type(a), a.id).grade_id
    session.commit()
    plan = dividends.plan_day(
        session, local_day(8), dividends.rules_from(session, dist.get_settings(session))
    )
    assert list(plan.payouts) == [a.id] and plan.payouts[a.id].amount_fen == 500


def test_dynamic_leaves_out_voided_commission(session):
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    _enable(session, mode="dynamic", levels=(1000, 0, 0), start_on=local_day(0))
    a, b = distributor(session), distributor(session)
    _received(session, product, via=a, offset=0)
    _buyer, voided = _received(session, product, via=b, offset=0)
    orders_owner = factories.UserFactory(role="owner")
    ledger.void_order_commission(session, voided, actor=orders_owner, reason="刷单")
    session.commit()
    _finalise(session, at(8))
    session.commit()
    rules = dividends.rules_from(session, dist.get_settings(session))
    plan = dividends.plan_day(session, local_day(8), rules)
    assert plan.turnover_fen == 20000  # both orders are turnover; only a's chain shares
    assert {d: p.amount_fen for d, p in plan.payouts.items()} == {a.id: 2000}


def test_the_back_office_runs_the_job_now_and_shows_its_last_run(owner_client, session):
    from app.jobs import JobRun
    from tests.test_admin_distribution import token

    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, _b = _gold_day(session, product, start_on=local_day(8))
    _received(session, product, via=a, offset=0)
    _finalise(session, at(8))
    session.commit()
    set_clock(at(9))
    assert owner_client.post("/admin/distribution/jobs/dividends").status_code == 400  # no CSRF: refused
    assert session.scalar(select(func.count()).select_from(DividendDay)) == 0
    response = owner_client.post(
        "/admin/distribution/jobs/dividends", data={"csrf_token": token(owner_client)}
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(JobRun, "distribution-dividends").result == "days=1 paid_fen=500 sharers=2 finalised=0"
    page = owner_client.get("/admin/distribution/ledger").get_data(as_text=True)
    assert "分红（按已结算日）" in page and "计算 1 天分红" in page and "发放分红 ¥5.00" in page
    assert "分红（按已结算日）" in owner_client.get("/admin/distribution/overview").get_data(as_text=True)


# ---------------------------------------------------------------- PostgreSQL: two runs at once


def test_two_dividend_runs_at_once_pay_each_day_once(pg_app):
    session = db.session
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    set_clock(at(-1))
    a, b = _gold_day(session, product, start_on=local_day(8))
    for offset in (0, 1, 2):
        _received(session, product, via=a, offset=offset)
    for offset in (8, 9, 10):
        _finalise(session, at(offset))
        session.commit()
    results = run_together(pg_app, 4, lambda i: dividends.run_dividends(db.session, now=at(12)))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["days"] for r in results) == 4  # days 8..11, each by one run
    db.session.expire_all()
    rows = db.session.execute(select(DividendPayout.day, DividendPayout.distributor_id)).all()
    assert len(rows) == len(set(rows)) == 6
    assert db.session.get(type(a), a.id).available_fen == 3 * 1000 + 3 * 250  # commissions and shares
    assert ledger.audit(db.session) == []
