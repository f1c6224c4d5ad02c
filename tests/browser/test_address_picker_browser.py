"""The address form's 省 / 市 / 区 picker and 粘贴地址自动识别 in Chromium, on a WeChat phone at 375 and
320 px: the selects cascade over htmx, a pasted address fills every field, the saved address has codes."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts import services as accounts
from app.extensions import db
from app.orders.models import Address
from tests.browser.conftest import PHONE
from tests.browser.helpers import SHOPPER_MOBILE, SHOPPER_PASSWORD, layout_problems, log_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [375, 320])
def test_the_picker_cascades_and_a_pasted_address_fills_the_form(live_server, open_context, shot, width):
    accounts.register_user(db.session, mobile=SHOPPER_MOBILE, password=SHOPPER_PASSWORD, nickname="小王")
    db.session.commit()
    context, _errors = open_context(
        PHONE | {"viewport": {"width": width, "height": 812 if width == 375 else 640}}
    )
    page = context.new_page()
    log_in(page, live_server(""))
    page.goto(live_server("/addresses/new"))
    expect(page.locator("label[for=paste]")).to_have_text("粘贴地址自动识别")

    page.select_option("#province", "四川省")
    page.locator("#city option[value='阿坝藏族羌族自治州']").wait_for(state="attached")
    page.select_option("#city", "阿坝藏族羌族自治州")
    page.locator("#district option[value='九寨沟县']").wait_for(state="attached")
    page.select_option("#district", "九寨沟县")
    assert not (problems := layout_problems(page)), problems
    shot(page, f"picked-{width}", full_page=True)

    # Another province: the old city and district go.
    page.select_option("#province", "北京市")
    page.locator("#city option[value='北京市']").wait_for(state="attached")
    expect(page.locator("#district")).to_have_value("")

    page.fill("#paste", "张三 +86 138-1234-5678 新疆维吾尔自治区伊犁哈萨克自治州伊宁市解放路 100 号")
    page.get_by_role("button", name="识别").click()
    expect(page.locator(".address-paste__note")).to_have_text("已识别，请核对后保存。")
    expect(page.locator("#recipient")).to_have_value("张三")
    expect(page.locator("#mobile")).to_have_value("13812345678")
    expect(page.locator("#province")).to_have_value("新疆维吾尔自治区")
    expect(page.locator("#city")).to_have_value("伊犁哈萨克自治州")
    expect(page.locator("#district")).to_have_value("伊宁市")
    expect(page.locator("#detail")).to_have_value("解放路 100 号")
    assert not (problems := layout_problems(page)), problems
    shot(page, f"pasted-{width}", full_page=True)

    page.get_by_role("button", name="保存").click()
    page.wait_for_url("**/addresses")
    expect(page.locator(".address-item__where")).to_contain_text(
        "新疆维吾尔自治区 伊犁哈萨克自治州 伊宁市 解放路 100 号"
    )
    db.session.expire_all()
    saved = db.session.scalars(select(Address)).one()
    assert (saved.province_code, saved.city_code, saved.district_code) == ("650000", "654000", "654002")


def test_a_paste_after_choosing_by_hand_replaces_the_whole_region_at_320(live_server, open_context, shot):
    """甘肃 临夏 积石山 chosen, then a 深圳 address pasted: the three are the paste's, with no red note."""
    accounts.register_user(db.session, mobile=SHOPPER_MOBILE, password=SHOPPER_PASSWORD, nickname="小王")
    db.session.commit()
    context, _errors = open_context(PHONE | {"viewport": {"width": 320, "height": 640}})
    page = context.new_page()
    log_in(page, live_server(""))
    page.goto(live_server("/addresses/new"))
    page.select_option("#province", "甘肃省")
    page.locator("#city option[value='临夏回族自治州']").wait_for(state="attached")
    page.select_option("#city", "临夏回族自治州")
    jishishan = "积石山保安族东乡族撒拉族自治县"
    page.locator(f"#district option[value='{jishishan}']").wait_for(state="attached")
    page.select_option("#district", jishishan)

    page.fill("#paste", "王海南 13812345678 广东省深圳市南山区科技园 1 号")
    page.get_by_role("button", name="识别").click()
    expect(page.locator(".address-paste__note")).to_have_text("已识别，请核对后保存。")
    expect(page.locator("#recipient")).to_have_value("王海南")
    expect(page.locator("#province")).to_have_value("广东省")
    expect(page.locator("#city")).to_have_value("深圳市")
    expect(page.locator("#district")).to_have_value("南山区")
    expect(page.locator("#detail")).to_have_value("科技园 1 号")
    expect(page.locator(".region-picker__old")).to_have_count(0)
    assert not (problems := layout_problems(page)), problems
    shot(page, "pasted-over-chosen-320", full_page=True)


def test_without_javascript_the_lists_are_drawn_by_the_server(live_server, open_context, shot):
    accounts.register_user(db.session, mobile=SHOPPER_MOBILE, password=SHOPPER_PASSWORD, nickname="小王")
    db.session.commit()
    context, _errors = open_context(PHONE, java_script_enabled=False)
    page = context.new_page()
    log_in(page, live_server(""))
    page.goto(live_server("/addresses/new"))
    page.fill("#recipient", "李四")
    page.fill("#mobile", "13812345678")
    page.fill("#detail", "文三路 100 号")
    page.select_option("#province", "浙江省")
    page.get_by_role("button", name="显示城市和区县").click()
    page.select_option("#city", "杭州市")
    page.get_by_role("button", name="显示城市和区县").click()
    page.select_option("#district", "西湖区")
    shot(page, "no-javascript", full_page=True)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url("**/addresses")
    db.session.expire_all()
    saved = db.session.scalars(select(Address)).one()
    assert (saved.recipient, saved.district_code, saved.detail) == ("李四", "330106", "文三路 100 号")


# WeChat's JS-SDK stood in for: openAddress fails the first time (not allowed), then the shopper cancels.
WX_ADDRESS_STUB = """
window.__openAddressCalls = 0;
window.wx = {
  config: function () {},
  ready: function (fn) { setTimeout(fn, 0); },
  error: function () {},
  updateAppMessageShareData: function () {},
  updateTimelineShareData: function () {},
  openAddress: function (options) {
    window.__openAddressCalls += 1;
    if (window.__openAddressCalls === 1) options.fail({errMsg: "openAddress:fail no permission"});
    else options.cancel({errMsg: "openAddress:cancel"});
  }
};
"""


def test_wechats_address_book_failing_says_so_and_cancelling_says_nothing(start_live_server, open_context):
    from app.payments.settings import save_payment_settings
    from tests.fakes import merchant_settings
    from tests.fakes.alipay import FakeAlipay
    from tests.fakes.wechat import FakeWechat

    wechat, alipay = FakeWechat(), FakeAlipay()
    try:
        server = start_live_server(
            {"WECHATPAY_GATEWAY": wechat.url, "WECHAT_API_BASE": wechat.url, "WECHAT_OPEN_BASE": wechat.url}
        )
        accounts.register_user(db.session, mobile=SHOPPER_MOBILE, password=SHOPPER_PASSWORD, nickname="小王")
        db.session.commit()
        context, _errors = open_context(PHONE)
        context.route(
            "https://res.wx.qq.com/**",
            lambda route: route.fulfill(content_type="application/javascript", body=WX_ADDRESS_STUB),
        )
        page = context.new_page()
        log_in(page, server(""))  # signed in before WeChat is set up: no silent WeChat sign-in on the way
        save_payment_settings(db.session, merchant_settings(wechat, alipay))
        db.session.commit()
        page.goto(server("/addresses/new"))
        button = page.locator("#wechat-address")
        expect(button).to_be_visible()
        button.click()
        message = page.locator("#toast .weui-toast__content")
        expect(message).to_be_visible()
        expect(message).to_have_text("无法打开微信地址，请手动填写。")
        expect(message).to_be_hidden(timeout=5000)  # the toast goes by itself
        button.click()
        page.wait_for_function("window.__openAddressCalls === 2")
        page.wait_for_timeout(300)
        expect(message).to_be_hidden()
    finally:
        wechat.stop()
        alipay.stop()
