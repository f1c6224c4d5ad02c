"""Promotions, end to end, in Chromium on a WeChat phone (375×812): a shopper claims a coupon in the coupon
centre, buys a 限时折扣 product with a 满减 campaign, the coupon and points, and the order page shows each
discount line by line — the same amounts price_basket gives."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.marketing import campaigns, coupons, points
from app.marketing.models import Coupon, CouponStatus, MarketingSettings
from app.orders.models import Order
from app.settings.models import ShopSettings
from tests import factories
from tests.browser.helpers import SHOPPER_MOBILE, SHOPPER_PASSWORD, layout_problems, log_in, product

pytestmark = pytest.mark.browser


@pytest.fixture
def promotions(live_server):
    db.session.add(ShopSettings(id=1, name="小满好物", shipping_flat_fen=800, free_shipping_over_fen=None))
    db.session.add(MarketingSettings(id=1, points_max_bp=5000))
    db.session.commit()
    shopper = factories.UserFactory(mobile=SHOPPER_MOBILE, nickname="小林", password=SHOPPER_PASSWORD)
    factories.AddressFactory(user=shopper)
    mug = product("北欧简约陶瓷马克杯", skus=[([], 100_00, 20)], images=1, colour=2)
    tea = product("明前龙井 100g", skus=[([], 80_00, 20)], images=1, colour=4)
    factories.running_discount(
        db.session,
        campaigns.ItemDraft(mug.skus[0].id, discount_bp=9000),
        name="周末限时",
        ends_in=timedelta(days=1, hours=3),
        allow_points=True,
    )
    factories.running_reduction(
        db.session,
        campaigns.TierDraft(150_00, reduce_fen=15_00),
        name="满150减15",
        ends_in=timedelta(days=5),
        include_activity=True,
    )
    coupons.save_template(
        db.session,
        None,
        {
            "name": "满100减10",
            "kind": "amount",
            "channel": "centre",
            "value_fen": 10_00,
            "threshold_fen": 100_00,
            "total_qty": 100,
            "per_user_limit": 1,
            "scope_kind": "all",
            "include_activity": True,
            "valid_days": 7,
        },
    )
    points.add_points(db.session, shopper.id, 3000, "adjust", note="test")
    db.session.commit()
    return {"mug": mug, "tea": tea, "shopper": shopper}


def test_claim_a_coupon_then_buy_with_every_offer(live_server, promotions, phone, shot):
    log_in(phone, live_server.url)

    # The coupon centre: claim, and the ticket says so in place (htmx).
    phone.goto(live_server("/coupons"))
    ticket = phone.locator(".coupon-centre__card", has_text="满100减10")
    ticket.get_by_role("button", name="领取").click()
    expect(ticket.locator(".ticket__message")).to_contain_text("领取成功")
    expect(phone.locator(".coupon-centre__card", has_text="满100减10")).to_contain_text("已领取")
    shot(phone, "coupon-centre-claimed")

    # The product page shows the activity price, the list price struck out and a countdown.
    phone.goto(live_server(f"/p/{promotions['mug'].id}"))
    expect(phone.locator(".promo-bar")).to_contain_text("限时折扣")
    expect(phone.locator("[data-sku-price]")).to_have_text("¥90.00")
    expect(phone.locator("[data-sku-original]")).to_have_text("¥100.00")
    expect(phone.locator(".promo-bar .countdown")).to_have_text(re.compile(r"^1天 \d\d:\d\d:\d\d$"))
    shot(phone, "product-timed-discount")
    phone.get_by_role("button", name="加入购物车").click()
    expect(phone.locator(".weui-toast__content")).to_have_text("已加入购物车。")
    phone.goto(live_server(f"/p/{promotions['tea'].id}"))
    phone.get_by_role("button", name="加入购物车").click()
    expect(phone.locator(".weui-toast__content")).to_have_text("已加入购物车。")

    # The cart prices the basket with the campaign and says what it takes off.
    phone.goto(live_server("/cart"))
    expect(phone.locator(".cart-promo")).to_contain_text("已减 ¥15.00")
    expect(phone.locator(".cart-bar__total .price")).to_have_text("¥155.00")  # 90 + 80 − 15
    assert not (problems := layout_problems(phone)), problems
    shot(phone, "cart-with-full-reduction")
    phone.get_by_role("button", name=re.compile("结算")).click()
    phone.wait_for_url("**/checkout**")

    # Checkout: the claimed coupon is chosen already; points are offered and switched on.
    expect(phone.locator(".checkout-offers .offer-row__value").first).to_have_text(re.compile("-¥10.00"))
    phone.locator("label.points-switch").click()
    expect(phone.locator(".amounts")).to_contain_text("积分抵扣")
    # 170 − 15 − 10 = 145; points may pay half of it: 7250 points, but there are 3000 → ¥30.00.
    expect(phone.locator(".submit-bar .price")).to_have_text("¥123.00")  # 145 − 30 + 8 shipping
    assert not (problems := layout_problems(phone)), problems
    shot(phone, "checkout-every-offer", full_page=True)
    phone.get_by_role("button", name="提交订单").click()
    phone.wait_for_url("**/pay/sandbox/*")
    phone.get_by_role("button", name="模拟支付成功").click()
    phone.wait_for_url("**/result")

    db.session.expire_all()
    order = db.session.scalars(select(Order)).one()
    assert (order.list_goods_fen, order.full_reduction_fen, order.coupon_fen, order.points_used) == (
        180_00,
        15_00,
        10_00,
        3000,
    )
    assert order.total_fen == 123_00 and order.status == "paid"
    assert db.session.scalars(select(Coupon)).one().status == CouponStatus.USED
    assert points.balance(db.session, promotions["shopper"].id) == 0

    phone.goto(live_server(f"/orders/{order.number}"))
    amounts = phone.locator(".amounts")
    for words in (
        "商品原价",
        "¥180.00",
        "活动优惠",  # the 限时折扣's saving (price_basket counts 限时折扣 and 秒杀 savings as one step)
        "-¥10.00",
        "满减",
        "-¥15.00",
        "优惠券",
        "积分抵扣",
        "-¥30.00",
        "运费",
        "¥123.00",
    ):
        expect(amounts).to_contain_text(words)
    assert not (problems := layout_problems(phone)), problems
    shot(phone, "order-story", full_page=True)
