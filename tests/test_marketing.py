"""Marketing through its services and the shop: offers priced by price_basket at placement, the coupon and the
points taken with the order and given back on cancel, points and growth on completion and on refunds,
levels, expiry and the audit, and the refusals (MARKETING.md)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import orders
from app.marketing import campaigns, coupons, members, offers, points, pricing
from app.marketing.errors import MarketingError
from app.marketing.models import (
    Coupon,
    CouponStatus,
    CouponTemplate,
    MarketingSettings,
    MemberAccount,
    MemberLevel,
)
from app.orders.events import OrderError
from app.orders.models import OrderStatus
from app.settings.models import ShopSettings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import login
from tests.test_orders import key, pay_with_sandbox


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture
def shopper(app):
    return factories.UserFactory()


@pytest.fixture
def address(shopper):
    return factories.AddressFactory(user=shopper)


@pytest.fixture
def shop(session):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800, free_shipping_over_fen=300_00))
    session.add(MarketingSettings(id=1, earn_per_yuan=1, fen_per_point=1, points_max_bp=5000))
    session.commit()


@pytest.fixture
def tee(app):
    return factories.ProductFactory(title="T恤", skus=[{"price_fen": 100_00, "stock": 20}])


@pytest.fixture
def mug(app):
    return factories.ProductFactory(title="杯子", skus=[{"price_fen": 50_00, "stock": 20}])


def amount_coupon(session, **changes) -> CouponTemplate:
    data = {
        "name": "满150减20",
        "kind": "amount",
        "channel": "centre",
        "value_fen": 20_00,
        "threshold_fen": 150_00,
        "total_qty": 0,
        "per_user_limit": 1,
        "scope_kind": "all",
        "valid_days": 7,
    } | changes
    template = coupons.save_template(session, None, data)
    session.commit()
    return template


def give_points(session, user, amount):
    points.add_points(session, user.id, amount, "adjust", note="test")
    session.commit()


def place(session, shopper, address, items, n=1, *, coupon_id=None, points_asked=None):
    chosen = offers.for_basket(
        session, shopper.id, list(items), coupon_id=coupon_id, points_asked=points_asked
    )
    order = orders.checkout.place_order(
        session, user=shopper, items=items, address_id=address.id, idempotency_key=key(n), offers=chosen
    )
    session.commit()
    return order


def balance(session, user) -> int:
    session.expire_all()
    return points.balance(session, user.id)


def test_an_order_with_every_offer_keeps_what_price_basket_said(session, shop, shopper, address, tee, mug):
    factories.running_reduction(
        session,
        campaigns.TierDraft(100_00, reduce_fen=10_00),
        campaigns.TierDraft(200_00, reduce_fen=30_00),
        name="满200减30",
        ends_in=timedelta(days=1),
    )
    factories.running_discount(
        session,
        campaigns.ItemDraft(mug.skus[0].id, price_fen=40_00),
        name="杯子限时",
        ends_in=timedelta(hours=5),
    )
    session.add(MemberLevel(name="银卡", growth_threshold=0, discount_bp=9000, points_multiplier_bp=10000))
    session.commit()
    members.add_growth(session, shopper.id, 1, "adjust")
    template = amount_coupon(session)
    coupon = coupons.claim(session, shopper.id, template.id)
    give_points(session, shopper, 5000)
    session.commit()

    items = {tee.skus[0].id: 2, mug.skus[0].id: 1}
    order = place(session, shopper, address, items, coupon_id=coupon.id, points_asked=3000)

    # Step 1: the tee at member price 90.00 ×2, the mug at its activity price 40.00. Step 2: 180.00 of
    # eligible goods (the mug is an activity line) reach the 100 tier: 10.00 off. Step 3: 170.00 left
    # on eligible lines ≥ 150: 20.00 off. Step 4: 3000 points (30.00, under half of 150.00 + 0).
    expected = pricing.price_basket(
        [
            pricing.Line(unit_fen=100_00, qty=2, product=tee.id),
            pricing.Line(
                unit_fen=50_00, qty=1, product=mug.id, activity=pricing.Activity(kind="timed", unit_fen=40_00)
            ),
        ],
        shipping=pricing.Shipping(fee_fen=800, free_threshold_fen=300_00),
        member_level=pricing.MemberLevel(discount_bp=9000),
        full_reduction=pricing.FullReduction(
            tiers=(pricing.Tier(100_00, reduce_fen=10_00), pricing.Tier(200_00, reduce_fen=30_00))
        ),
        coupon=pricing.Coupon(kind="amount", threshold_fen=150_00, value_fen=20_00),
        points=pricing.Points(balance=5000, use=3000),
    )
    assert (expected.goods_fen, expected.full_reduction_fen, expected.coupon_fen, expected.points_used) == (
        220_00,
        10_00,
        20_00,
        3000,
    )
    assert (order.goods_fen, order.discount_fen, order.shipping_fen, order.total_fen) == (
        expected.goods_fen,
        expected.discount_fen,
        expected.shipping_fen,
        expected.total_fen,
    )
    assert order.list_goods_fen == 250_00
    assert [(line.list_unit_fen, line.unit_fen, line.price_kind, line.paid_fen) for line in order.lines] == [
        (p.list_unit_fen, p.unit_fen, p.unit_kind, p.paid_fen) for p in expected.lines
    ]
    assert [line.pays_commission for line in order.lines] == [True, False]
    assert [step["kind"] for step in order.applied] == [
        "activity",
        "member",
        "full_reduction",
        "coupon",
        "points",
    ]
    session.expire_all()
    assert session.get(Coupon, coupon.id).status == CouponStatus.USED
    assert balance(session, shopper) == 2000
    assert not points.audit(session)


def test_cancelling_an_unpaid_order_gives_the_coupon_and_points_back(session, shop, shopper, address, tee):
    coupon = coupons.claim(session, shopper.id, amount_coupon(session).id)
    give_points(session, shopper, 1000)
    order = place(session, shopper, address, {tee.skus[0].id: 2}, coupon_id=coupon.id, points_asked=1000)
    assert balance(session, shopper) == 0
    orders.transitions.shopper_cancel(session, order, shopper)
    orders.transitions.cancel_order(session, order, actor=None, reason="again")  # a retry changes nothing
    session.commit()
    session.expire_all()
    assert session.get(Coupon, coupon.id).status == CouponStatus.UNUSED
    assert balance(session, shopper) == 1000
    assert not points.audit(session)
    again = place(session, shopper, address, {tee.skus[0].id: 2}, n=2, coupon_id=coupon.id)
    assert again.coupon_fen == 20_00


def test_a_used_expired_or_foreign_coupon_is_refused_and_nothing_changes(
    session, shop, shopper, address, tee, mug
):
    stranger = factories.UserFactory()
    template = amount_coupon(session, per_user_limit=2)
    theirs = coupons.claim(session, stranger.id, template.id)
    mine = coupons.claim(session, shopper.id, template.id)
    session.commit()
    for bad in (theirs.id, "abc", "999999", "-1", "1 OR 1=1", "<script>"):
        with pytest.raises(MarketingError):
            place(session, shopper, address, {tee.skus[0].id: 2}, coupon_id=bad)
        session.rollback()
    # Not applicable to this basket (one mug: 50.00 < 150.00).
    with pytest.raises(OrderError, match="金额"):
        place(session, shopper, address, {mug.skus[0].id: 1}, coupon_id=mine.id)
    session.rollback()
    set_clock(utcnow() + timedelta(days=8))
    with pytest.raises(MarketingError, match="过期"):
        place(session, shopper, address, {tee.skus[0].id: 2}, coupon_id=mine.id)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Coupon).where(Coupon.status == "used")) == 0
    assert (
        factories.ProductFactory._meta.sqlalchemy_session.get(type(tee.skus[0]), tee.skus[0].id).stock == 20
    )


def test_bad_points_are_refused_and_more_than_allowed_uses_what_is_allowed(
    session, shop, shopper, address, tee
):
    give_points(session, shopper, 100_000)
    for bad in (-5, "1.5", "abc", "１２"):
        with pytest.raises(OrderError, match="积分"):
            place(session, shopper, address, {tee.skus[0].id: 1}, points_asked=bad)
        session.rollback()
    order = place(session, shopper, address, {tee.skus[0].id: 1}, points_asked=10**30)
    assert order.points_used == 50_00  # half of 100.00
    assert balance(session, shopper) == 100_000 - 50_00


def test_completion_earns_points_and_growth_and_a_refund_takes_their_share_back(
    session, shop, shopper, address, tee
):
    session.add_all(
        [
            MemberLevel(name="普通", growth_threshold=0, discount_bp=10000, points_multiplier_bp=10000),
            MemberLevel(name="金卡", growth_threshold=250, discount_bp=10000, points_multiplier_bp=20000),
        ]
    )
    session.commit()
    give_points(session, shopper, 60_00)
    order = place(session, shopper, address, {tee.skus[0].id: 3}, points_asked=60_00)
    assert order.points_used == 60_00
    pay_with_sandbox(session, order, shopper)
    staff = factories.UserFactory(role="staff")
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF1234567890")
    orders.transitions.confirm_receipt(session, order, shopper)
    session.commit()
    # Paid goods 300.00 - 60.00 = 240.00: 240 points at ×1 (the level before completion), 240 growth.
    assert balance(session, shopper) == 240
    account = session.get(MemberAccount, shopper.id)
    assert account.growth == 240 and account.level.name == "普通"

    line = order.lines[0]
    assert (line.subtotal_fen, line.points_fen, line.paid_fen) == (300_00, 60_00, 240_00)
    refund = orders.refunds.request_refund(session, order, shopper, items={line.id: 1}, reason="不要了")
    assert refund.amount_fen == 80_00  # a third of what was paid for the line, not of its list price
    orders.refunds.approve_refund(session, refund, actor=staff, restock=True)
    session.commit()
    session.expire_all()
    # One of three units: its 20.00 of points come back; a third of what was earned is taken back.
    assert balance(session, shopper) == 240 + 20_00 - 80
    assert session.get(MemberAccount, shopper.id).growth == 160
    rest = orders.refunds.request_refund(session, order, shopper, items={line.id: 2}, reason="都不要")
    orders.refunds.approve_refund(session, rest, actor=staff, restock=True)
    session.commit()
    session.expire_all()
    assert balance(session, shopper) == 60_00  # every point used came back, every point earned went
    assert session.get(MemberAccount, shopper.id).growth == 0
    assert not points.audit(session)


def test_growth_moves_the_level_both_ways(session, shopper):
    session.add_all(
        [
            MemberLevel(name="银卡", growth_threshold=100, discount_bp=9500),
            MemberLevel(name="金卡", growth_threshold=500, discount_bp=9000, free_shipping=True),
        ]
    )
    session.commit()
    members.add_growth(session, shopper.id, 120, "adjust")
    assert members.level_of_user(session, shopper.id).name == "银卡"
    progress = members.progress(session, shopper.id)
    assert (progress.needed, progress.next_level.name, progress.percent) == (380, "金卡", 5)
    members.add_growth(session, shopper.id, 400, "adjust")
    assert members.level_of_user(session, shopper.id).name == "金卡"
    members.add_growth(session, shopper.id, -500, "revoke")
    assert members.level_of_user(session, shopper.id) is None
    session.commit()
    assert not points.audit(session)


def test_points_expire_oldest_first_once(session, shopper):
    session.add(MarketingSettings(id=1, points_expiry_months=12))
    session.commit()
    old = utcnow() - timedelta(days=400)
    points.add_points(session, shopper.id, 500, "earn", expires_at=old + timedelta(days=365))
    points.add_points(session, shopper.id, 300, "earn", expires_at=utcnow() + timedelta(days=200))
    points.add_points(session, shopper.id, -200, "spend")
    session.commit()
    assert points.expire_due(session) == 1
    assert points.expire_due(session) == 0  # a second run finds nothing
    session.expire_all()
    # 200 spent came out of the oldest 500: 300 of them expire, the newer 300 stay.
    assert balance(session, shopper) == 300
    assert not points.audit(session)


def test_the_audit_finds_a_balance_that_does_not_match_its_ledger(session, shopper):
    give_points(session, shopper, 100)
    session.execute(MemberAccount.__table__.update().values(points=150))
    session.commit()
    found = points.audit(session)
    assert [(m.user_id, m.what, m.balance, m.ledger) for m in found] == [(shopper.id, "points", 150, 100)]


def test_a_timed_discount_limit_per_customer_refuses_more(session, shop, shopper, address, tee):
    factories.running_discount(
        session, campaigns.ItemDraft(tee.skus[0].id, discount_bp=8000), name="T恤限时", per_user_limit=2
    )
    session.commit()
    order = place(session, shopper, address, {tee.skus[0].id: 2})
    assert order.lines[0].unit_fen == 80_00
    with pytest.raises(MarketingError, match="每人"):
        place(session, shopper, address, {tee.skus[0].id: 1}, n=2)
    session.rollback()
    orders.transitions.shopper_cancel(session, order, shopper)
    session.commit()
    assert place(session, shopper, address, {tee.skus[0].id: 1}, n=3).lines[0].unit_fen == 80_00


def test_an_order_paid_entirely_by_offers_is_paid_at_placement(session, shop, shopper, address, mug):
    template = amount_coupon(session, value_fen=50_00, threshold_fen=0, name="无门槛50")
    session.execute(ShopSettings.__table__.update().values(shipping_flat_fen=0))
    session.commit()
    coupon = coupons.claim(session, shopper.id, template.id)
    session.commit()
    order = place(session, shopper, address, {mug.skus[0].id: 1}, coupon_id=coupon.id)
    assert (order.total_fen, order.status, order.payment_method) == (0, OrderStatus.PAID, "none")


def test_campaign_checks_refuse_bad_input(session, tee):
    now = utcnow()
    base = {"name": "x", "starts_at": now, "ends_at": now + timedelta(days=1), "scope_kind": "all"}
    bad_tiers = (
        [],
        [campaigns.TierDraft(200_00, reduce_fen=30_00), campaigns.TierDraft(100_00, reduce_fen=10_00)],
        [campaigns.TierDraft(100_00, discount_bp=0)],
        [campaigns.TierDraft(100_00, discount_bp=10000)],
        [campaigns.TierDraft(100_00, discount_bp=12000)],
        [campaigns.TierDraft(100_00, reduce_fen=200_00)],
        [campaigns.TierDraft(100_00)],
    )
    for tiers in bad_tiers:
        with pytest.raises(MarketingError):
            campaigns.save_full_reduction(session, None, base | {"tiers": tiers})
    with pytest.raises(MarketingError, match="结束"):
        campaigns.save_full_reduction(
            session,
            None,
            base | {"ends_at": now - timedelta(days=1), "tiers": [campaigns.TierDraft(100, reduce_fen=1)]},
        )
    first = campaigns.save_full_reduction(
        session, None, base | {"tiers": [campaigns.TierDraft(100_00, reduce_fen=10_00)]}
    )
    with pytest.raises(MarketingError, match="同一时间"):
        campaigns.save_full_reduction(
            session, None, base | {"tiers": [campaigns.TierDraft(100_00, reduce_fen=10_00)]}
        )
    timed = base | {"items": [campaigns.ItemDraft(tee.skus[0].id, price_fen=90_00)]}
    campaigns.save_timed_discount(session, None, timed)
    with pytest.raises(MarketingError, match="一个活动"):
        campaigns.save_timed_discount(session, None, timed)
    for item in (
        campaigns.ItemDraft(tee.skus[0].id, price_fen=100_00),
        campaigns.ItemDraft(tee.skus[0].id, discount_bp=0),
        campaigns.ItemDraft(tee.skus[0].id, discount_bp=10000),
        campaigns.ItemDraft(999999, price_fen=1),
    ):
        with pytest.raises(MarketingError):
            campaigns.save_timed_discount(
                session,
                None,
                timed
                | {"starts_at": now + timedelta(days=5), "ends_at": now + timedelta(days=6), "items": [item]},
            )
    assert first.id


def test_coupon_template_checks_refuse_bad_input(session):
    base = {
        "name": "券",
        "kind": "amount",
        "channel": "centre",
        "value_fen": 10_00,
        "threshold_fen": 50_00,
        "total_qty": 10,
        "per_user_limit": 1,
        "scope_kind": "all",
        "valid_days": 7,
    }
    for changes in (
        {"value_fen": 60_00},
        {"value_fen": 0},
        {"kind": "discount", "discount_bp": 0},
        {"kind": "discount", "discount_bp": 10000},
        {"total_qty": -1},
        {"per_user_limit": 0},
        {"kind": "free"},
        {"scope_kind": "products", "scope_ids": []},
        {"valid_days": None, "valid_from": utcnow(), "valid_until": utcnow() - timedelta(days=1)},
    ):
        with pytest.raises(MarketingError):
            coupons.save_template(session, None, base | changes)
    assert session.scalar(select(func.count()).select_from(CouponTemplate)) == 0


def test_claiming_respects_the_total_and_the_per_user_limit(session, shopper):
    template = amount_coupon(session, total_qty=2, per_user_limit=1)
    coupons.claim(session, shopper.id, template.id)
    with pytest.raises(MarketingError, match="已经"):
        coupons.claim(session, shopper.id, template.id)
    coupons.claim(session, factories.UserFactory().id, template.id)
    with pytest.raises(MarketingError, match="领完"):
        coupons.claim(session, factories.UserFactory().id, template.id)
    session.commit()
    session.expire_all()
    assert session.get(CouponTemplate, template.id).claimed_qty == 2


def test_a_newcomer_coupon_is_given_at_registration(client, session):
    amount_coupon(session, channel="newcomer", name="新人券", threshold_fen=0, value_fen=5_00)
    from tests.conftest import csrf_token

    response = client.post(
        "/register",
        data={
            "mobile": "13900001111",
            "password": "abc12345",
            "password_again": "abc12345",
            "agree": "y",
            "csrf_token": csrf_token(client, "/register"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    session.expire_all()
    held = session.scalars(select(Coupon)).all()
    assert [(c.source, c.template.name) for c in held] == [("newcomer", "新人券")]
    assert "新人券" in client.get("/me/coupons").get_data(as_text=True)


def test_checkout_page_preselects_the_best_coupon_and_the_order_page_tells_the_story(
    client, session, shop, shopper, address, tee
):
    from tests.conftest import login
    from tests.test_shop_orders import checkout_form

    small = coupons.claim(session, shopper.id, amount_coupon(session, name="小券", value_fen=5_00).id)
    big = coupons.claim(session, shopper.id, amount_coupon(session, name="大券", value_fen=25_00).id)
    give_points(session, shopper, 1000)
    session.commit()
    login(client, shopper)
    page = client.get(f"/checkout?buy={tee.skus[0].id}&qty=2").get_data(as_text=True)
    assert f'value="{big.id}" checked' in page and f'value="{small.id}"' in page
    assert "用 1000 积分抵 ¥10.00" in page
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=2", coupon=str(small.id))
    response = client.post("/checkout", data=fields)
    assert response.status_code == 422 and "价格有变动" in response.get_data(as_text=True)
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=2")
    response = client.post("/checkout", data=fields)
    assert response.status_code == 302
    session.expire_all()
    order = session.scalars(select(orders.models.Order)).one()
    assert order.coupon_fen == 25_00 and order.points_used == 0
    detail = client.get(f"/orders/{order.number}").get_data(as_text=True)
    for words in ("商品原价", "优惠券", "大券", "-¥25.00", "运费"):
        assert words in detail


def test_a_distributor_code_at_checkout_gives_the_coupon_and_binds_the_shopper(
    client, session, shop, shopper, address, tee
):
    from app.distribution.models import BindingLog, DistributionSettings, Distributor
    from tests.conftest import login
    from tests.test_shop_orders import checkout_form

    session.add(DistributionSettings(id=1, enabled=True))
    seller = factories.UserFactory(nickname="林姐")
    session.add(Distributor(user_id=seller.id, code="abcd2345", status="active", source="apply"))
    session.commit()
    amount_coupon(session, channel="code", name="达人专享", threshold_fen=99_00, value_fen=15_00)
    login(client, shopper)
    page = client.get(f"/checkout?buy={tee.skus[0].id}&qty=1").get_data(as_text=True)
    assert 'name="code"' in page

    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=1")
    for bad in ("NOPE9999", "<b>x</b>", "' OR 1=1 --", "x" * 300):
        response = client.post("/checkout/code", data=fields | {"code": bad})
        assert response.status_code == 422 and "优惠码无效" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Coupon)) == 0 and shopper.referrer_id is None

    response = client.post("/checkout/code", data=fields | {"code": "ABCD2345"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    page = response.get_data(as_text=True)
    assert "达人专享" in page and "-¥15.00" in page
    session.expire_all()
    assert session.get(type(shopper), shopper.id).referrer_id == seller.id
    log = session.scalars(select(BindingLog)).one()
    assert log.source.startswith("优惠码") and log.new_parent_id == seller.id
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=1")
    assert client.post("/checkout", data=fields).status_code == 302
    session.expire_all()
    assert session.scalars(select(orders.models.Order)).one().coupon_fen == 15_00


def test_wrong_codes_are_rate_limited(client, session, shop, shopper, address, tee):
    from tests.conftest import login
    from tests.test_shop_orders import checkout_form

    amount_coupon(session, channel="code", name="达人专享", threshold_fen=0, value_fen=5_00)
    login(client, shopper)
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=1")
    codes = [
        client.post("/checkout/code", data=fields | {"code": f"WRONG{i:03d}"}).status_code for i in range(12)
    ]
    assert codes[:10] == [422] * 10 and codes[10:] == [429, 429]


def test_the_points_expire_command_runs_as_a_job_and_the_ledger_audit_covers_points(runner, session, shopper):
    from app.jobs import last_runs

    points.add_points(session, shopper.id, 500, "earn", expires_at=utcnow() - timedelta(days=1))
    session.commit()
    result = runner.invoke(args=["points", "expire"])
    assert result.exit_code == 0 and "expired_points=1" in result.output
    assert "points-expire" in last_runs()
    assert runner.invoke(args=["ledger", "audit"]).exit_code == 0
    session.execute(MemberAccount.__table__.update().values(growth=7))
    session.commit()
    audit = runner.invoke(args=["ledger", "audit"])
    assert audit.exit_code == 1 and f"shopper {shopper.id}: growth balance 7 != ledger 0" in audit.output


def test_tampered_checkout_posts_get_a_clear_refusal_and_change_nothing(
    client, session, shop, shopper, address, tee
):
    from tests.conftest import login
    from tests.test_shop_orders import checkout_form

    stranger = factories.UserFactory()
    template = amount_coupon(session, per_user_limit=2, threshold_fen=0)
    theirs = coupons.claim(session, stranger.id, template.id)
    give_points(session, shopper, 1000)
    login(client, shopper)
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=1")
    for changes, words in (
        ({"coupon": str(theirs.id)}, "不属于你"),
        ({"coupon": "99999999999999999999"}, "不属于你"),
        ({"coupon": "<script>alert(1)</script>"}, "不属于你"),
        ({"use_points": "y", "points": "-500"}, "积分数量"),
        ({"use_points": "y", "points": "1e9"}, "积分数量"),
        ({"use_points": "y", "points": "9" * 40}, "积分数量"),
    ):
        response = client.post("/checkout", data=fields | changes)
        assert response.status_code == 422, (changes, response.status_code)
        assert words in response.get_data(as_text=True), changes
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(orders.models.Order)) == 0
    assert balance(session, shopper) == 1000
    assert session.get(Coupon, theirs.id).status == CouponStatus.UNUSED
    # Asking for more points than the shopper has is not an error: the page's own number is used.
    page = client.get(
        f"/checkout?buy={tee.skus[0].id}&qty=1&idempotency_key={fields['idempotency_key']}&use_points=y"
    )
    assert "用 1000 积分抵 ¥10.00" in page.get_data(as_text=True)


@pytest.mark.parametrize("pays", [False, True])
def test_an_activity_line_pays_commission_only_when_its_activity_says_so(session, shopper, address, pays):
    from app.distribution import explain
    from app.distribution.models import Commission
    from tests.test_distribution import bind, distributor, settings

    settings(session)
    bind(session, shopper, distributor(session))
    product = factories.ProductFactory(skus=[{"price_fen": 100_00, "stock": 10}])
    factories.running_discount(
        session, campaigns.ItemDraft(product.skus[0].id, price_fen=80_00), pays_commission=pays
    )
    session.commit()
    order = place(session, shopper, address, {product.skus[0].id: 1})
    pay_with_sandbox(session, order, shopper)
    assert order.lines[0].unit_fen == 80_00
    paid = session.scalars(select(Commission.original_fen).where(Commission.order_id == order.id)).all()
    assert (sum(paid) > 0) is pays
    notes = [row.note for row in explain.explain(session, order).shares]
    assert any("活动" in note for note in notes) is (not pays)


def test_a_distributor_chooses_their_own_code(client, session, shop, shopper):
    from app.distribution.models import DistributionSettings, Distributor
    from app.marketing import codes
    from tests.conftest import csrf_token, login

    session.add(DistributionSettings(id=1, enabled=True))
    other = factories.UserFactory()
    session.add(Distributor(user_id=other.id, code="zzzz2345", status="active", source="apply"))
    seller = factories.UserFactory()
    session.add(Distributor(user_id=seller.id, code="abcd2345", status="active", source="apply"))
    session.commit()
    amount_coupon(session, channel="code", name="达人专享", threshold_fen=0, value_fen=5_00)
    login(client, seller)
    assert "ABCD2345" in client.get("/d/share").get_data(as_text=True)

    def choose(code):
        token = csrf_token(client, "/d/share")
        return client.post("/d/share/code", data={"code": code, "csrf_token": token}, follow_redirects=True)

    for bad, words in (
        ("ab", "4 到 20"),
        ("<b>hi</b>", "4 到 20"),
        ("zzzz2345", "已被使用"),
        ("x" * 30, "4 到 20"),
    ):
        assert words in choose(bad).get_data(as_text=True), bad
    assert "LINJIE88" in choose("linjie88").get_data(as_text=True)
    session.expire_all()
    seller_distributor = session.scalar(select(Distributor).where(Distributor.user_id == seller.id))
    assert codes.code_of(session, seller_distributor) == "LINJIE88"
    assert codes.distributor_for(session, "LinJie88").user_id == seller.id
    assert codes.distributor_for(session, "ABCD2345").user_id == seller.id  # codes handed out still count
    with pytest.raises(MarketingError):
        codes.choose_code(
            session, session.scalar(select(Distributor).where(Distributor.user_id == other.id)), "LINJIE88"
        )


def test_my_points_and_my_level_show_the_signed_in_shoppers_own_figures(client, session, shop, shopper):
    assert client.get("/me/points").status_code == 302  # to the login page
    session.add(MemberLevel(name="银卡", growth_threshold=100, discount_bp=9500))
    members.add_growth(session, shopper.id, 120, "adjust")
    points.add_points(session, shopper.id, 321, "adjust", note="补发")
    session.commit()
    login(client, shopper)
    page = client.get("/me/points").get_data(as_text=True)
    assert "321" in page and "补发" in page
    assert "银卡" in client.get("/me/level").get_data(as_text=True)
