"""The commission engine against the contract's worked cases, and properties that must hold for any
order: never negative, never above 30 % of what was paid, refunds never raise commission, a full refund
leaves nothing."""

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.distribution import engine
from app.distribution.engine import Line, Person, Settings

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "vectors" / "commission.json"
BUNDLED = Path(__file__).parent / "vectors" / "commission.json"


def vectors_file() -> Path:
    """FENXIAO_COMMISSION_VECTORS when set; else the contract beside the project; else our copy of it."""
    named = os.environ.get("FENXIAO_COMMISSION_VECTORS")
    if named:
        return Path(named)
    return CONTRACT if CONTRACT.exists() else BUNDLED


def load_cases() -> list[dict]:
    path = vectors_file()
    cases = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(cases, dict):
        cases = cases.get("cases", [])
    return cases


def run_case(case: dict) -> dict[tuple[str, int], int]:
    s = case["settings"]
    config = Settings(
        levels=s["levels"], rates_bp=tuple(s["rates_bp"]), self_purchase=s.get("self_purchase", False)
    )
    buyer_spec = case["buyer"]
    buyer = Person(
        id=buyer_spec["id"],
        active=buyer_spec.get("active", True),
        is_distributor=buyer_spec.get("is_distributor", False),
        grade_rates_bp=tuple(buyer_spec["grade_rates_bp"]) if "grade_rates_bp" in buyer_spec else None,
    )
    uplines = [
        Person(
            id=p["id"],
            active=p.get("active", True),
            grade_rates_bp=tuple(p["grade_rates_bp"]) if "grade_rates_bp" in p else None,
        )
        for p in case["chain"]
    ]
    bases = engine.line_bases(
        [(spec["unit_fen"], spec["qty"]) for spec in case["lines"]], case.get("order_discount_fen", 0)
    )
    lines = [
        Line(
            base_fen=base,
            qty=spec["qty"],
            rates_bp=tuple(spec["rates_bp"]) if "rates_bp" in spec else None,
            commission=spec.get("commission", True),
        )
        for base, spec in zip(bases, case["lines"], strict=True)
    ]
    refunds = [(r["line"], r["qty"]) for r in case.get("refunds", [])]
    return engine.compute(config, buyer, uplines, engine.remaining_bases(lines, refunds)).totals()


def test_the_vectors_file_holds_cases():
    assert load_cases(), f"no commission case in {vectors_file()}"


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: c.get("name", "?"))
def test_commission_vector(case):
    got = {key: amount for key, amount in run_case(case).items() if amount != 0}
    expected = {(e["to"], e["level"]): e["amount_fen"] for e in case["expect"]}
    assert got == {key: amount for key, amount in expected.items() if amount != 0}


# ---------------------------------------------------------------- properties

rates = st.lists(st.integers(0, 3000), min_size=0, max_size=3)


@st.composite
def orders(draw):
    levels = draw(st.integers(1, 3))
    vector = draw(
        st.lists(st.integers(0, 1500), min_size=levels, max_size=3).filter(lambda v: sum(v[:levels]) <= 3000)
    )
    config = Settings(levels=levels, rates_bp=tuple(vector), self_purchase=draw(st.booleans()))
    buyer = Person(
        id="buyer", is_distributor=draw(st.booleans()), grade_rates_bp=draw(st.none() | rates.map(tuple))
    )
    uplines = [
        Person(id=f"u{i}", active=draw(st.booleans()), grade_rates_bp=draw(st.none() | rates.map(tuple)))
        for i in range(draw(st.integers(0, 4)))
    ]
    raw = draw(st.lists(st.tuples(st.integers(1, 500_000), st.integers(1, 20)), min_size=1, max_size=5))
    bases = engine.line_bases(raw, draw(st.integers(0, 2_000_000)))
    lines = [
        Line(base, qty, draw(st.none() | rates.map(tuple)), draw(st.booleans()))
        for base, (_unit, qty) in zip(bases, raw, strict=True)
    ]
    return config, buyer, uplines, lines


def total(result) -> int:
    return sum(result.totals().values())


@settings(max_examples=300, deadline=None)
@given(orders())
def test_commission_is_never_negative_nor_above_thirty_percent(order):
    config, buyer, uplines, lines = order
    result = engine.compute(config, buyer, uplines, lines)
    assert all(share.amount_fen >= 0 for share in result.shares)
    for index, line in enumerate(lines):
        line_total = sum(s.amount_fen for s in result.shares if s.line == index)
        assert line_total <= line.base_fen * 3000 // 10000
    assert total(result) <= sum(line.base_fen for line in lines) * 3000 // 10000


@settings(max_examples=300, deadline=None)
@given(orders(), st.data())
def test_a_refund_never_raises_commission_and_a_full_refund_leaves_zero(order, data):
    config, buyer, uplines, lines = order
    before = engine.compute(config, buyer, uplines, lines)
    remaining = [line.qty for line in lines]
    refunds = []
    for _ in range(data.draw(st.integers(1, 6))):
        open_lines = [i for i, left in enumerate(remaining) if left]
        if not open_lines:
            break
        index = data.draw(st.sampled_from(open_lines))
        units = data.draw(st.integers(1, remaining[index]))
        remaining[index] -= units
        refunds.append((index, units))
        after = engine.compute(config, buyer, uplines, engine.remaining_bases(lines, refunds))
        for key, amount in after.totals().items():
            assert amount <= before.totals().get(key, 0)
        before = after
    everything = [(i, line.qty) for i, line in enumerate(lines)]
    assert total(engine.compute(config, buyer, uplines, engine.remaining_bases(lines, everything))) == 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        engine.check_settings(Settings(levels=4, rates_bp=(100, 100, 100, 100)))
    with pytest.raises(ValueError):
        engine.check_settings(Settings(levels=2, rates_bp=(2500, 600)))
    with pytest.raises(ValueError):
        engine.check_vector((-1,))
