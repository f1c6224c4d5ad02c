"""price_basket against the contract's worked cases (MARKETING.md), and properties that must hold for any
basket: paid never negative, the steps' shares add up, the total is goods − discounts + shipping, a coupon
never raises the total, and the order in which offers are listed changes nothing."""

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.marketing.pricing import (
    Activity,
    Coupon,
    FullReduction,
    Line,
    MemberLevel,
    Points,
    PricingError,
    Scope,
    Shipping,
    Tier,
    display_price,
    price_basket,
)

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT.parent / "shared" / "vectors" / "pricing.json"
BUNDLED = Path(__file__).parent / "vectors" / "pricing.json"


def vectors_file() -> Path:
    """FENXIAO_PRICING_VECTORS when set; else the contract beside the project; else our copy of it."""
    named = os.environ.get("FENXIAO_PRICING_VECTORS")
    if named:
        return Path(named)
    return CONTRACT if CONTRACT.exists() else BUNDLED


def load_cases() -> list[dict]:
    cases = json.loads(vectors_file().read_text(encoding="utf-8"))
    return cases.get("cases", []) if isinstance(cases, dict) else cases


def scope(spec: dict | None) -> Scope:
    spec = spec or {"kind": "all"}
    return Scope(kind=spec["kind"], ids=frozenset(spec.get("ids", [])))


def inputs(case: dict) -> dict:
    lines = [
        Line(
            unit_fen=spec["unit_fen"],
            qty=spec["qty"],
            product=spec["product"],
            category=spec.get("category"),
            member_discount=spec.get("member_discount", True),
            points=spec.get("points", True),
            activity=Activity(
                kind=spec["activity"]["kind"],
                unit_fen=spec["activity"]["unit_fen"],
                points=spec["activity"].get("points", False),
            )
            if spec.get("activity")
            else None,
        )
        for spec in case["lines"]
    ]
    level = case.get("member_level")
    campaign = case.get("full_reduction")
    coupon = case.get("coupon")
    points = case.get("points")
    return {
        "lines": lines,
        "member_level": MemberLevel(level["discount_bp"], level.get("free_shipping", False))
        if level
        else None,
        "full_reduction": FullReduction(
            tiers=tuple(
                Tier(t["threshold_fen"], t.get("reduce_fen"), t.get("discount_bp")) for t in campaign["tiers"]
            ),
            scope=scope(campaign.get("scope")),
            include_activity=campaign.get("include_activity", False),
            repeat=campaign.get("repeat", False),
            max_reduce_fen=campaign.get("max_reduce_fen"),
        )
        if campaign
        else None,
        "coupon": Coupon(
            kind=coupon["kind"],
            threshold_fen=coupon.get("threshold_fen", 0),
            value_fen=coupon.get("value_fen", 0),
            discount_bp=coupon.get("discount_bp", 10000),
            max_discount_fen=coupon.get("max_discount_fen"),
            scope=scope(coupon.get("scope")),
            include_activity=coupon.get("include_activity", False),
        )
        if coupon
        else None,
        "points": Points(
            balance=points["balance"],
            use=points["use"],
            fen_per_point=points.get("fen_per_point", 1),
            max_bp=points.get("max_bp", 5000),
            max_points_per_order=points.get("max_points_per_order"),
        )
        if points
        else None,
        "shipping": Shipping(case["shipping"]["fee_fen"], case["shipping"].get("free_threshold_fen")),
    }


def as_expected(priced) -> dict:
    return {
        "lines": [
            {
                "unit_fen": line.unit_fen,
                "subtotal_fen": line.subtotal_fen,
                "discount_fen": line.discount_fen,
                "paid_fen": line.paid_fen,
            }
            for line in priced.lines
        ],
        "goods_fen": priced.goods_fen,
        "full_reduction_fen": priced.full_reduction_fen,
        "coupon_fen": priced.coupon_fen,
        "points_used": priced.points_used,
        "points_fen": priced.points_fen,
        "shipping_fen": priced.shipping_fen,
        "total_fen": priced.total_fen,
    }


def test_the_vectors_file_holds_cases():
    assert load_cases(), f"no pricing case in {vectors_file()}"


@pytest.mark.parametrize("case", load_cases(), ids=lambda c: c.get("name", "?"))
def test_pricing_vector(case):
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(PricingError) as refused:
            price_basket(**inputs(case))
        assert refused.value.code == expect["error"]
    else:
        assert as_expected(price_basket(**inputs(case))) == expect


def test_a_product_page_shows_the_activity_then_the_member_price():
    level = MemberLevel(discount_bp=9500)
    assert display_price(9999, member_level=level) == 9499
    assert display_price(9999, member_level=level, member_discount=False) == 9999
    assert display_price(9999, member_level=level, activity=Activity("timed", 7900)) == 7900
    assert display_price(9999) == 9999


# ---------------------------------------------------------------- properties

money = st.integers(0, 2_000_000)
ids = st.sampled_from(["p1", "p2", "p3"])
scopes = st.one_of(
    st.just(Scope()),
    st.builds(lambda ids_: Scope("products", frozenset(ids_)), st.sets(ids, min_size=1)),
    st.builds(
        lambda ids_: Scope("categories", frozenset(ids_)), st.sets(st.sampled_from(["c1", "c2"]), min_size=1)
    ),
)
activities = st.none() | st.builds(
    Activity, st.sampled_from(["flash", "group", "timed"]), st.integers(0, 500_000), st.booleans()
)
lines = st.lists(
    st.builds(
        Line,
        unit_fen=st.integers(0, 500_000),
        qty=st.integers(1, 20),
        product=ids,
        category=st.sampled_from(["c1", "c2"]),
        member_discount=st.booleans(),
        points=st.booleans(),
        activity=activities,
    ),
    min_size=1,
    max_size=6,
)
tiers = st.lists(
    st.one_of(
        st.builds(Tier, threshold_fen=st.integers(1, 500_000), reduce_fen=st.integers(0, 100_000)),
        st.builds(Tier, threshold_fen=st.integers(0, 500_000), discount_bp=st.integers(1, 10000)),
    ),
    min_size=1,
    max_size=4,
)
campaigns = st.none() | st.builds(
    FullReduction,
    tiers=tiers.map(tuple),
    scope=scopes,
    include_activity=st.booleans(),
    repeat=st.booleans(),
    max_reduce_fen=st.none() | money,
)
coupons = st.builds(
    Coupon,
    kind=st.sampled_from(["amount", "discount"]),
    threshold_fen=st.integers(0, 100_000),
    value_fen=st.integers(0, 100_000),
    discount_bp=st.integers(1, 10000),
    max_discount_fen=st.none() | money,
    scope=scopes,
    include_activity=st.booleans(),
)
baskets = st.fixed_dictionaries(
    {
        "lines": lines,
        "member_level": st.none() | st.builds(MemberLevel, st.integers(1, 10000), st.booleans()),
        "full_reduction": campaigns,
        "coupon": st.none() | coupons,
        "points": st.none()
        | st.builds(
            Points,
            balance=st.integers(-1000, 1_000_000),
            use=st.integers(0, 1_000_000),
            fen_per_point=st.integers(1, 100),
            max_bp=st.integers(0, 10000),
            max_points_per_order=st.none() | st.integers(0, 100_000),
        ),
        "shipping": st.builds(Shipping, st.integers(0, 5000), st.none() | money),
    }
)


def priced_or_none(basket):
    try:
        return price_basket(**basket)
    except PricingError:
        return None


@settings(max_examples=400, deadline=None)
@given(baskets)
def test_the_numbers_always_add_up(basket):
    priced = priced_or_none(basket)
    if priced is None:
        return
    assert all(line.paid_fen >= 0 for line in priced.lines)
    assert sum(line.full_reduction_fen for line in priced.lines) == priced.full_reduction_fen
    assert sum(line.coupon_fen for line in priced.lines) == priced.coupon_fen
    assert sum(line.points_fen for line in priced.lines) == priced.points_fen
    assert sum(line.discount_fen for line in priced.lines) == priced.discount_fen
    assert priced.total_fen == priced.goods_fen - priced.discount_fen + priced.shipping_fen
    assert (
        priced.total_fen >= 0 and priced.points_fen == priced.points_used * basket["points"].fen_per_point
        if basket["points"]
        else True
    )


@settings(max_examples=300, deadline=None)
@given(baskets, coupons)
def test_a_coupon_never_raises_the_total(basket, coupon):
    without = priced_or_none(basket | {"coupon": None})
    with_coupon = priced_or_none(basket | {"coupon": coupon})
    if without is not None and with_coupon is not None:
        # Shipping may be charged once the coupon takes the goods below the free-shipping threshold:
        # what the shopper pays for the goods never goes up.
        assert with_coupon.total_fen - with_coupon.shipping_fen <= without.total_fen - without.shipping_fen


@settings(max_examples=300, deadline=None)
@given(baskets, st.randoms(use_true_random=False))
def test_the_order_of_tiers_and_scope_ids_changes_nothing(basket, rng):
    campaign = basket["full_reduction"]
    if campaign is None:
        return
    shuffled = list(campaign.tiers)
    rng.shuffle(shuffled)
    again = basket | {"full_reduction": replace(campaign, tiers=tuple(shuffled))}
    first, second = priced_or_none(basket), priced_or_none(again)
    assert (first is None) == (second is None)
    if first is not None:
        assert as_expected(first) == as_expected(second)
