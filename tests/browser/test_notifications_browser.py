"""设置 › 消息通知 in a real browser at 1366×800 and on a phone: a template switched on without its ID is
refused next to the field, a good one saves, the test message is queued to the owner's own WeChat (the page
never calls WeChat) and shows as sent in the outbox list once the job has run."""

import pytest
from playwright.sync_api import expect

from app.accounts import services as accounts
from app.accounts.models import Role, User
from app.extensions import db
from app.notifications import sender
from app.payments.settings import save_payment_settings
from tests.browser.helpers import layout_problems
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat

pytestmark = pytest.mark.browser

OWNER_MOBILE, OWNER_PASSWORD = "13800000000", "owner1234"
WIDE = {"viewport": {"width": 1366, "height": 800}, "locale": "zh-CN"}
PHONE = {"viewport": {"width": 375, "height": 812}, "locale": "zh-CN", "is_mobile": True, "has_touch": True}


def overflow(page) -> list[str]:
    """The layout checks that hold for the back office too (its links are not held to the shop's 40 px tap
    targets): nothing wider than the screen, nothing cut off."""
    return [problem for problem in layout_problems(page) if not problem.startswith("tap target")]


@pytest.fixture
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


def test_owner_sets_up_notifications_and_sends_a_test_message(start_live_server, open_context, wechat, shot):
    live_server = start_live_server({"WECHAT_API_BASE": wechat.url, "WECHATPAY_GATEWAY": wechat.url})
    context, errors = open_context(WIDE)
    errors.allow(r"status of 4\d\d .*/favicon\.ico\]$")
    errors.allow(r"status of 422")  # the refused form answers 422, as every refused form does
    owner = accounts.create_admin(db.session, mobile=OWNER_MOBILE, password=OWNER_PASSWORD, role=Role.OWNER)
    owner.wechat_openid = "oOwnerOpenid00000000000009"
    save_payment_settings(db.session, merchant_settings(wechat))
    db.session.commit()

    page = context.new_page()
    page.goto(live_server("/admin/login"))
    page.fill("input[name=mobile]", OWNER_MOBILE)
    page.fill("input[name=password]", OWNER_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url("**/admin/")
    page.get_by_role("link", name="消息通知").click()
    expect(page.locator("h1")).to_have_text("消息通知")
    assert overflow(page) == []
    shot(page, "settings-1366")

    page.check("#enabled")
    page.check("#order_paid_on")
    page.locator("#notification-settings button[type=submit]").click()
    expect(page.locator("#kind-order_paid .invalid-feedback")).to_have_text("请填写模板 ID，或关闭这条消息。")
    shot(page, "refused-1366")

    page.fill("#order_paid_template_id", "TPL-order_paid-0123456789")
    page.fill("#order_paid_mapping", "thing1={product}\namount2={amount}\ncharacter_string3={order_no}")
    page.locator("#notification-settings button[type=submit]").click()
    expect(page.get_by_text("消息通知设置已保存。")).to_be_visible()
    expect(page.locator("#order_paid_template_id")).to_have_value("TPL-order_paid-0123456789")

    page.select_option("#test_kind", "order_paid")
    page.get_by_role("button", name="发送测试消息").click()
    expect(page.get_by_text("测试消息已排队")).to_be_visible()
    expect(page.locator("#outbox-table tbody tr").first).to_contain_text("等待发送")
    assert wechat.template_messages == []  # the page only wrote the outbox

    db.session.expire_all()
    assert sender.send_due(db.session)["notified"] == 1
    (message,) = wechat.template_messages
    assert message["touser"] == "oOwnerOpenid00000000000009" and set(message["data"]) == {
        "thing1",
        "amount2",
        "character_string3",
    }
    page.reload()
    expect(page.locator("#outbox-table tbody tr").first).to_contain_text("已发送")
    page.locator("#outbox").scroll_into_view_if_needed()
    shot(page, "outbox-1366")
    shot(page, "whole-page-1366", full_page=True)

    phone_context, _phone_errors = open_context(PHONE)
    phone_context.add_cookies(context.cookies())
    phone = phone_context.new_page()
    phone.goto(live_server("/admin/settings/notifications"))
    expect(phone.locator("h1")).to_have_text("消息通知")
    assert overflow(phone) == []
    shot(phone, "settings-375")
    assert db.session.get(User, owner.id).wechat_openid
