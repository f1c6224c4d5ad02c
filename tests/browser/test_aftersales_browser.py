"""A 退货退款 request with a photo, in Chromium: the shopper on a WeChat phone (375×812) asks, the merchant
on a desktop (1366×800) approves the return, the shopper sends the parcel back, the merchant confirms the
goods and the money goes back; the shopper's timeline shows every step. Screenshots in test-artifacts/."""

import io

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect
from sqlalchemy import select

from app import orders
from app.accounts import services as accounts
from app.accounts.models import Role
from app.extensions import db
from app.orders.models import Refund, RefundRequestStatus
from app.payments import services as payments
from app.settings.models import ShopSettings
from app.settings.services import update_shop_settings
from tests import factories
from tests.browser.conftest import accept_confirms
from tests.browser.helpers import SHOPPER_MOBILE, SHOPPER_PASSWORD, layout_problems, log_in, t_shirt

pytestmark = pytest.mark.browser

OWNER_MOBILE, OWNER_PASSWORD = "13800000009", "owner12345"
WIDE = {"viewport": {"width": 1366, "height": 800}, "locale": "zh-CN"}


@pytest.fixture
def shipped(live_server):
    update_shop_settings(db.session, name="小满好物")
    settings = db.session.get(ShopSettings, 1)
    settings.return_contact, settings.return_phone = "王店长", "13800000000"
    settings.return_address = "浙江省杭州市西湖区文三路 100 号 小满好物售后部"
    accounts.create_admin(db.session, mobile=OWNER_MOBILE, password=OWNER_PASSWORD, role=Role.OWNER)
    db.session.commit()
    shirt = t_shirt()
    shopper = factories.UserFactory(mobile=SHOPPER_MOBILE, nickname="小林", password=SHOPPER_PASSWORD)
    address = factories.AddressFactory(user=shopper)
    order = orders.checkout.place_order(
        db.session, user=shopper, items={shirt.skus[0].id: 2}, address_id=address.id,
        idempotency_key="browser-aftersales-0001",
    )  # fmt: skip
    db.session.commit()
    payment = payments.start_payment(db.session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        db.session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    orders.transitions.ship_order(
        db.session,
        order,
        actor=factories.UserFactory(role="staff"),
        carrier="顺丰",
        tracking_no="SF1234567890",
    )
    db.session.commit()
    return order


def photo_file(tmp_path):
    image = Image.new("RGB", (600, 450), "#f4efe6")
    draw = ImageDraw.Draw(image)
    draw.rectangle((120, 80, 480, 380), fill="#e76f51")
    draw.line((200, 120, 420, 340), fill="#222222", width=9)  # the tear
    path = tmp_path / "领口开线.jpg"
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    path.write_bytes(out.getvalue())
    return path


def the_refund() -> Refund:
    db.session.expire_all()
    return db.session.scalars(select(Refund)).one()


def test_return_and_refund_with_a_photo(live_server, shipped, phone, open_context, shot, tmp_path):
    number = shipped.number
    log_in(phone, live_server.url)
    phone.goto(live_server(f"/orders/{number}"))
    phone.get_by_role("link", name="申请售后").click()
    expect(phone.locator(".aftersales-kinds__item.is-current")).to_have_text("退货退款")
    phone.select_option("#reason", "质量问题")
    phone.fill("#detail", "领口开线，洗了一次就裂开了")
    # Choosing photos refreshes the amount: that small request must not carry the photos (up to six phone
    # pictures sent again on every change, on a mobile connection). Chromium does not hand multipart bodies
    # to Playwright: their length tells.
    previews = []
    phone.on("request", lambda r: previews.append(r) if r.url.endswith("/refund/preview") else None)
    with phone.expect_response(lambda r: r.url.endswith("/refund/preview")):
        phone.set_input_files("#photos", str(photo_file(tmp_path)))
    photo_bytes = photo_file(tmp_path).stat().st_size
    assert [int(r.all_headers().get("content-length") or 0) < photo_bytes for r in previews] == [True]
    assert layout_problems(phone) == []
    shot(phone, "phone-request-form-with-photo", full_page=True)
    # The live amount preview the form fires as it is filled must be back before the page moves on: on a
    # busy machine a preview cut off by the navigation is a console error.
    phone.wait_for_load_state("networkidle")
    phone.get_by_role("button", name="提交申请").click()
    phone.wait_for_url(f"**/orders/{number}")
    expect(phone.locator(".refund-item__kind").first).to_have_text("退货退款")
    expect(phone.locator(".refund-item__photos img")).to_have_count(1)
    assert the_refund().photos

    desk_context, _errors = open_context(WIDE)
    desk = desk_context.new_page()
    asked = accept_confirms(desk)
    desk.goto(live_server("/admin/login"))
    desk.fill("input[name=mobile]", OWNER_MOBILE)
    desk.fill("input[name=password]", OWNER_PASSWORD)
    desk.locator("button[type=submit]").click()
    desk.wait_for_url("**/admin/")
    desk.goto(live_server("/admin/refunds"))
    expect(desk.locator(".refund-card").first).to_contain_text("待商家处理")
    shot(desk, "desktop-request-to-approve", full_page=True)
    desk.get_by_role("button", name="同意退货").click()
    expect(desk.locator(".refund-card").first).to_contain_text("待买家寄回商品")
    assert the_refund().status == RefundRequestStatus.AWAITING_RETURN

    phone.goto(live_server(f"/orders/{number}"))
    expect(phone.locator(".return-box")).to_contain_text("王店长")
    phone.select_option("#carrier_code", "zhongtong")
    phone.fill("#tracking_no", "ZT7788990011")
    phone.locator(".return-box").scroll_into_view_if_needed()
    shot(phone, "phone-return-address-and-parcel-form")
    phone.get_by_role("button", name="我已寄出").click()
    expect(phone.locator(".refund-item__parcel").first).to_contain_text("ZT7788990011")

    desk.goto(live_server(f"/admin/orders/{number}"))
    expect(desk.locator(".refund-card").first).to_contain_text("ZT7788990011")
    shot(desk, "desktop-request-goods-on-their-way", full_page=False)
    desk.get_by_role("button", name="确认收货并退款").click()
    expect(desk.locator(".refund-card").first).to_contain_text("已退款")
    assert asked and "¥" in asked[0]
    shot(desk, "desktop-request-refunded", full_page=True)
    assert the_refund().status == RefundRequestStatus.REFUNDED

    phone.goto(live_server(f"/orders/{number}"))
    timeline = phone.locator(".timeline")
    for words in ("你已寄回商品", "商家已收到退货", "退款成功"):
        expect(timeline).to_contain_text(words)
    assert layout_problems(phone) == []
    shot(phone, "phone-order-timeline", full_page=True)
