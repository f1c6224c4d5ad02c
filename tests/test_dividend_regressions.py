"""Regression tests of the dividend review: final orders wait for every commission, the dynamic chain, the
grade held when a day ended, the capped flag, the settings the job refuses, the day-boundary delay, the
dividend audit and the migration's backfill."""

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import func, select, update

from app import orders
from app.distribution import dividend_audit, dividends, grades, ledger
from app.distribution import services as dist
from app.distribution.dividend_split import split_pool
from app.distribution.dividends import DividendSettingsError
from app.distribution.models import (
    Commission,
    DistributorGrade,
    DividendDay,
    DividendPayout,
    EntryKind,
    LedgerEntry,
)
from app.jobs import last_runs
from app.timeutil import set_clock
from tests import factories
from tests.test_distribution import distributor, settings
from tests.test_dividends import _enable, _gold_day, _received, at, local_day, real_clock  # noqa: F401


def _plan(session, offset):
    return dividends.plan_day(
        session, local_day(offset), dividends.rules_from(session, dist.get_settings(session))
    )


def _product():
    return factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])


# ---------------------------------------------------------------- 1: final only when no commission is frozen


def test_an_order_whose_commission_is_held_does_not_become_final(session):
    set_clock(at(-1))
    _enable(session, mode="dynamic", levels=(1000, 0, 0), start_on=local_day(0))
    a = distributor(session)
    _buyer, order = _received(session, _product(), via=a, offset=0)
    session.execute(update(Commission).where(Commission.order_id == order.id).values(held=True))
    session.commit()
    assert ledger.release_due(session, now=at(8)) == 0
    assert dividends.finalise_due(session, now=at(8)) == 0
    session.execute(update(Commission).where(Commission.order_id == order.id).values(held=False))
    session.commit()
    assert dividends.run_dividends(session, now=at(9))["finalised"] == 1  # the job releases first


def test_lowered_freeze_days_do_not_make_an_order_final_before_its_commission(session):
    set_clock(at(-1))
    _enable(session, start_on=local_day(0), freeze_days=14)
    a = distributor(session)
    _received(session, _product(), via=a, offset=0)  # release_after = completion + 14 days
    _enable(session, start_on=local_day(0), freeze_days=7)
    assert ledger.release_due(session, now=at(8)) == 0
    assert dividends.finalise_due(session, now=at(8)) == 0
    assert ledger.release_due(session, now=at(15)) == 1
    assert dividends.finalise_due(session, now=at(15)) == 1


# ---------------------------------------------------------------- 3, 4: the dynamic chain


def test_a_fully_refunded_order_seats_nobody_in_the_dynamic_pool(session):
    product = _product()
    set_clock(at(-1))
    _enable(session, mode="dynamic", levels=(1000, 0, 0), start_on=local_day(0))
    a, b = distributor(session), distributor(session)
    _received(session, product, via=a, offset=0)
    buyer, refunded = _received(session, product, via=b, offset=0)
    set_clock(at(2))
    refund = orders.refunds.request_refund(
        session, refunded, buyer, items={refunded.lines[0].id: 1}, reason="坏了"
    )
    orders.refunds.approve_refund(session, refund, actor=factories.UserFactory(role="staff"), restock=False)
    session.commit()
    ledger.release_due(session, now=at(8))
    dividends.finalise_due(session, now=at(8))
    session.commit()
    plan = _plan(session, 8)
    assert plan.turnover_fen == 10000
    assert set(plan.payouts) == {a.id} and plan.payouts[a.id].amount_fen == 1000


def test_the_job_refuses_a_dynamic_level_beyond_the_commission_levels(session):
    set_clock(at(-1))
    _enable(session, mode="dynamic", levels=(0, 0, 1000), start_on=local_day(0))  # the shop pays 2 levels
    with pytest.raises(DividendSettingsError, match="level-3|3 级|三级|第 ?3"):
        dividends.run_dividends(session, now=at(9))


# ---------------------------------------------------------------- 6: the grade held when the day ended


def _log(session, d, from_id, to_id, when):
    from app.distribution.models import DistributorGradeLog

    session.add(
        DistributorGradeLog(
            distributor_id=d.id, from_grade_id=from_id, to_grade_id=to_id, kind="manual", created_at=when
        )
    )


def test_static_pools_use_the_grade_held_at_the_end_of_the_day(session):
    product = _product()
    set_clock(at(-5))
    a, b = _gold_day(session, product, start_on=local_day(0))
    gold = a.grade_id
    late, downgraded, logged_before = (distributor(session, factories.UserFactory()) for _ in range(3))
    _received(session, product, via=a, offset=0)
    ledger.release_due(session, now=at(8))
    dividends.finalise_due(session, now=at(8))
    session.commit()
    # late: upgraded to gold on day 9, after day 8 ended. downgraded: gold on day 8, downgraded by hand
    # on day 9. logged_before: upgraded on day 3, then upgraded again (to none) on day 10.
    late.grade_id = gold
    _log(session, late, None, gold, at(9))
    downgraded.grade_id = None
    _log(session, downgraded, gold, None, at(9))
    logged_before.grade_id = None
    _log(session, logged_before, None, gold, at(3))
    _log(session, logged_before, gold, None, at(10))
    session.commit()
    plan = _plan(session, 8)
    assert late.id not in plan.payouts
    assert set(plan.payouts) == {a.id, b.id, downgraded.id, logged_before.id}


def test_the_grade_at_the_end_of_the_day_follows_a_real_change_by_hand(session):
    product = _product()
    set_clock(at(-1))
    a, b = _gold_day(session, product, start_on=local_day(0))
    _received(session, product, via=a, offset=0)
    ledger.release_due(session, now=at(8))
    dividends.finalise_due(session, now=at(8))
    session.commit()
    set_clock(at(9))
    grades.change_grade_by_hand(session, b, None, reason="违规", actor=factories.UserFactory(role="owner"))
    session.commit()
    assert set(_plan(session, 8).payouts) == {a.id, b.id}
    assert set(_plan(session, 9).payouts) <= {a.id}


# ---------------------------------------------------------------- 7: the capped flag


def test_capped_flag_names_a_sharer_cut_to_its_room():
    split = split_pool("grade:1", 52, [1, 2, 3, 4], {1: 2, 2: 13})
    assert split.shares == {1: 2, 2: 13, 3: 18, 4: 18}
    assert split.capped == [1, 2]


def test_capped_flag_when_everybody_is_cut():
    split = split_pool("grade:1", 69, [1, 4, 8], {8: 23, 1: 26, 4: 13})
    assert split.remainder_fen == 7
    assert split.capped == [1, 4, 8]


def _reference(pool, sharers, room):
    """The exact level L (a fraction; None: the pool is more than every room) with sum(min(room, L)) ==
    pool, by its breakpoints; shares are min(room, floor(L)), a sharer is capped when room < floor(L)."""
    rooms = {d: room.get(d) for d in sharers}
    finite = sorted({max(r, 0) for r in rooms.values() if r is not None})
    level = None
    if any(r is None for r in rooms.values()) or sum(max(r, 0) for r in rooms.values()) > pool:
        points = [0, *finite]
        for k, low in enumerate(points):
            below = sum(max(r, 0) for r in rooms.values() if r is not None and max(r, 0) <= low)
            above = sum(1 for r in rooms.values() if r is None or max(r, 0) > low)
            candidate = Fraction(pool - below, above)
            high = points[k + 1] if k + 1 < len(points) else None
            if candidate >= low and (high is None or candidate <= high):
                level = candidate
                break
    elif sum(max(r, 0) for r in rooms.values()) == pool:
        level = Fraction(max(finite))
    if level is None:
        return {d: max(r, 0) for d, r in rooms.items()}, sorted(sharers)
    floor = level.numerator // level.denominator
    shares = {d: floor if r is None else min(max(r, 0), floor) for d, r in rooms.items()}
    return shares, sorted(d for d, r in rooms.items() if r is not None and max(r, 0) < floor)


def test_split_and_capped_flag_against_an_exact_reference():
    rng = random.Random(7)
    for _ in range(3000):
        sharers = list(range(1, rng.randint(2, 9)))
        room = {d: rng.randint(0, 40) for d in sharers if rng.random() < 0.6}
        pool = rng.randint(1, 150)
        split = split_pool("grade:1", pool, sharers, room)
        shares, capped = _reference(pool, sharers, room)
        assert split.shares == {d: s for d, s in shares.items() if s > 0}, (pool, sharers, room)
        assert split.capped == capped, (pool, sharers, room, split.shares)


# ---------------------------------------------------------------- 9, 10: settings the job refuses


@pytest.mark.parametrize(
    "tamper, match",
    [
        ({"dividends_acknowledged_at": None}, "acknowledgement|确认"),
        ({"dividends_start_on": None}, "start day|开始"),
        ({"dividend_mode": "dynamic", "dividend_level_ratios_bp": [-5, 0, 0]}, "100%"),
        ({"rates_bp": [2000, 800]}, "30%"),  # 28 % commission + the gold pool's 5 %
    ],
)
def test_the_job_refuses_settings_it_cannot_pay_from(app, session, runner, tamper, match):
    set_clock(at(-1))
    a, _b = _gold_day(session, _product(), start_on=local_day(0))
    _received(session, _product(), via=a, offset=0)
    settings(session, **tamper)
    set_clock(at(9))
    result = runner.invoke(args=["distribution", "dividends"])
    assert result.exit_code != 0
    session.expire_all()
    run = last_runs()["distribution-dividends"]
    assert run.ok is False and __import__("re").search(match, run.result), run.result
    assert session.scalar(select(func.count()).select_from(DividendDay)) == 0


def test_the_job_refuses_a_grade_ratio_past_the_limits(session):
    set_clock(at(-1))
    _gold_day(session, _product(), start_on=local_day(0))
    session.execute(update(DistributorGrade).values(dividend_ratio_bp=20000))
    session.commit()
    with pytest.raises(DividendSettingsError):
        dividends.run_dividends(session, now=at(9))
    session.execute(update(DistributorGrade).values(dividend_ratio_bp=1600))  # 1000 + 500 + 1600 > 3000
    session.commit()
    with pytest.raises(DividendSettingsError):
        dividends.run_dividends(session, now=at(9))
    session.execute(update(DistributorGrade).values(dividend_ratio_bp=1500))
    session.commit()
    assert dividends.run_dividends(session, now=at(9))["days"] == 9


def test_days_due_without_a_start_day_is_refused(session):
    set_clock(at(-1))
    _enable(session, start_on=None)
    rules = dividends.rules_from(session, dist.get_settings(session))
    with pytest.raises(DividendSettingsError):
        dividends.days_due(session, rules, now=at(10))


# ---------------------------------------------------------------- 14: the day-boundary delay


def test_a_day_is_computed_only_15_minutes_after_it_ended(session):
    set_clock(at(-1))
    _enable(session, start_on=local_day(0))
    rules = dividends.rules_from(session, dist.get_settings(session))
    midnight = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # 00:00 of 03-05 in Shanghai
    assert (
        dividends.days_due(session, rules, now=midnight + timedelta(minutes=5))[-1].isoformat()
        == "2026-03-03"
    )
    assert (
        dividends.days_due(session, rules, now=midnight + timedelta(minutes=20))[-1].isoformat()
        == "2026-03-04"
    )


# ---------------------------------------------------------------- 8: the dividend audit


def _paid_day(session):
    set_clock(at(-1))
    a, b = _gold_day(session, _product(), start_on=local_day(8))
    _received(session, _product(), via=a, offset=0)
    ledger.release_due(session, now=at(8))
    dividends.finalise_due(session, now=at(8))
    session.commit()
    assert dividends.run_dividends(session, now=at(9))["paid_fen"] == 500
    assert dividend_audit.audit(session) == []
    return a, b


def test_audit_finds_a_payout_that_no_longer_matches_its_entry(app, session, runner):
    _paid_day(session)
    session.execute(update(DividendPayout).where(DividendPayout.amount_fen == 250).values(amount_fen=99999))
    session.commit()
    found = dividend_audit.audit(session)
    assert len(found) == 3 and all("payout" in line or "dividend day" in line for line in found), found
    result = runner.invoke(args=["ledger", "audit"])
    assert result.exit_code == 1 and "dividend payout" in result.output


def test_audit_finds_a_payout_without_its_entry_and_an_entry_without_payout(session):
    a, _b = _paid_day(session)
    payout = session.scalar(select(DividendPayout).where(DividendPayout.distributor_id == a.id))
    # A second entry for the same payout (balances moved with it, so only the dividend check can see it).
    session.add(
        LedgerEntry(
            distributor_id=a.id,
            kind=EntryKind.DIVIDEND,
            dividend_payout_id=payout.id,
            frozen_delta_fen=0,
            available_delta_fen=0,
            withdrawn_delta_fen=0,
            batch="x",
            note="",
        )
    )
    session.add(
        LedgerEntry(
            distributor_id=a.id,
            kind=EntryKind.DIVIDEND,
            frozen_delta_fen=0,
            available_delta_fen=0,
            withdrawn_delta_fen=0,
            batch="x",
            note="",
        )
    )
    session.commit()
    found = dividend_audit.audit(session)
    assert any(f"payout {payout.id}:" in line and "2 ledger entries" in line for line in found), found
    assert any("no payout" in line for line in found), found


def test_audit_finds_a_day_and_a_pool_that_do_not_add_up(session):
    _paid_day(session)
    day = session.scalar(select(DividendDay).where(DividendDay.paid_fen == 500))
    day.paid_fen = 400
    session.commit()
    assert [line for line in dividend_audit.audit(session) if "payouts add up to 500" in line]
    day.paid_fen = 500
    pools = [dict(pool) for pool in day.pools]
    pools[0]["remainder_fen"] += 1
    day.pools = pools
    session.commit()
    found = dividend_audit.audit(session)
    assert len(found) == 1 and "pool grade:" in found[0], found


# ---------------------------------------------------------------- 5, 12: what the pages say


def test_a_day_keeps_the_first_20_capped_ids_and_their_count(app, owner_client, session):
    from tests.test_dividend_views import get, text_of

    set_clock(at(-1))
    gold = DistributorGrade(name="金牌", sort=3, dividend_ratio_bp=500)
    session.add(gold)
    session.commit()
    _enable(session, start_on=local_day(0), caps={"day": 1})  # 1 fen a day: everybody cut
    people = [distributor(session, factories.UserFactory(nickname=f"金{n}")) for n in range(25)]
    for person in people:
        person.grade_id = gold.id
    session.commit()
    _received(session, _product(), via=people[0], offset=0)
    ledger.release_due(session, now=at(8))
    dividends.finalise_due(session, now=at(8))
    session.commit()
    dividends.run_dividends(session, now=at(9))
    day = session.scalar(select(DividendDay).where(DividendDay.paid_fen > 0))
    (pool,) = day.pools
    assert pool["capped_count"] == 25 and len(pool["capped"]) == 20
    assert session.scalar(select(func.count()).where(DividendPayout.capped)) == 25
    report = text_of(get(owner_client, "/admin/distribution/dividends"))
    assert "另有 22 人" in report
    page = text_of(get(owner_client, f"/admin/distribution/dividends/{day.day.isoformat()}"))
    assert "共 25 人封顶" in page
    csv_text = get(owner_client, "/admin/distribution/dividends.csv")
    assert "封顶人数" in csv_text and ",25," in csv_text
    assert dividend_audit.audit(session) == []


def test_the_centre_does_not_say_a_final_order_cannot_be_refunded(client, session):
    from tests.conftest import login
    from tests.test_dividend_views import get

    settings(session, dividends_enabled=True, freeze_days=7)
    login(client, distributor(session).user)
    html = get(client, "/d/dividends")
    assert "不会再退款" not in html
    assert "确认收货后 7 天" in html and "已发放的分红也不会改变" in html
