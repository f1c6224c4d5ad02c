"""拼团 end to end in Chromium on a WeChat phone (375×812): A opens a 2-person group from the product page and
pays in the sandbox; B opens the group's share link in another browser, joins and pays; both then see
拼团成功. Screenshots of the product page in group mode, the group page open and full, and 我的拼团."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.marketing import groups
from app.marketing.models import BuyGroup, BuyGroupStatus, MarketingSettings
from app.settings.services import update_shop_settings
from app.timeutil import utcnow
from tests import factories
from tests.browser.conftest import PHONE
from tests.browser.helpers import layout_problems, log_in, product

pytestmark = pytest.mark.browser


@pytest.fixture
def group_shop(live_server):
    update_shop_settings(db.session, name="小满好物")
    if db.session.get(MarketingSettings, 1) is None:
        db.session.add(MarketingSettings(id=1))
    db.session.commit()
    pot = product("手冲咖啡壶 600ml", skus=[([], 12900, 30)], images=1, colour=1)
    now = utcnow()
    activity = groups.save_group_buy(
        db.session,
        None,
        {
            "name": "两人团",
            "starts_at": now - timedelta(hours=1),
            "ends_at": now + timedelta(days=3),
            "group_size": 2,
            "hours": 24,
            "items": [groups.ItemDraft(pot.skus[0].id, 8900)],
        },
    )
    db.session.commit()
    people = []
    for mobile, nickname in (("13900000011", "张三丰"), ("13900000012", "李小龙")):
        user = factories.UserFactory(mobile=mobile, nickname=nickname)
        factories.AddressFactory(user=user)
        people.append(user)
    db.session.commit()
    return {"pot": pot, "activity": activity, "a": people[0], "b": people[1]}


def pay_in_sandbox(page) -> None:
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_url("**/pay/sandbox/*")
    page.get_by_role("button", name="模拟支付成功").click()
    page.wait_for_url("**/result")
    expect(page.locator(".weui-msg__title")).to_have_text("支付成功")


def test_a_opens_a_group_b_joins_from_the_share_link_and_both_see_it_formed(
    live_server, group_shop, open_context, shot
):
    context_a, errors_a = open_context(PHONE)
    context_b, errors_b = open_context(PHONE)
    for errors in (errors_a, errors_b):
        errors.allow(r"status of 404 .*/favicon\.ico\]$")  # the sandbox gateway page links no icon
        errors.allow(r"res\.wx\.qq\.com")  # no network: WeChat's JS-SDK does not load here
    a, b = context_a.new_page(), context_b.new_page()
    pot = group_shop["pot"]

    log_in(a, live_server.url, "13900000011", factories.DEFAULT_PASSWORD)
    a.goto(live_server(f"/p/{pot.id}"))
    expect(a.locator("#buy-alone")).to_contain_text("单独购买")
    expect(a.locator("#buy-alone")).to_contain_text("¥129.00")
    expect(a.locator("#open-group")).to_contain_text("发起拼团")
    expect(a.locator("#open-group")).to_contain_text("¥89.00")
    expect(a.locator(".promo-bar_group")).to_contain_text("2人团")
    assert not (problems := layout_problems(a)), problems
    shot(a, "product-group-mode")
    a.locator("#open-group").click()
    a.wait_for_url("**/checkout?**group_buy=*")
    expect(a.locator(".submit-bar .price")).to_have_text("¥89.00")
    pay_in_sandbox(a)

    group = db.session.scalar(select(BuyGroup))
    assert group.status == BuyGroupStatus.OPEN
    number = a.url.rsplit("/", 2)[1]
    a.goto(live_server(f"/orders/{number}"))
    expect(a.locator(".group-order")).to_contain_text("待成团")
    a.locator("#group-link").click()
    a.wait_for_url(f"**/groups/{group.id}")
    expect(a.locator(".group-card__state")).to_have_text("拼团中")
    expect(a.locator("#invite")).to_have_text("邀请好友")
    expect(a.locator(".group-member__name").first).to_have_text("张**")
    assert not (problems := layout_problems(a)), problems
    shot(a, "group-open-leader", full_page=True)
    share_link = a.url

    # B opens the shared link: not signed in, sees the group, joins (logging in on the way) and pays.
    b.goto(share_link)
    expect(b.locator(".group-card__state")).to_have_text("拼团中")
    expect(b.locator(".group-card__left")).to_contain_text("还差 1 人")
    expect(b.locator("body")).not_to_contain_text("张三丰")
    shot(b, "group-open-visitor", full_page=True)
    b.locator("#join-group").click()
    b.wait_for_url("**/login**")
    b.fill("#mobile", "13900000012")
    b.fill("#password", factories.DEFAULT_PASSWORD)
    b.click("button[type=submit]")
    b.wait_for_url("**/checkout?**group=*")
    expect(b.locator(".group-note")).to_contain_text("参团")
    expect(b.locator(".submit-bar .price")).to_have_text("¥89.00")
    pay_in_sandbox(b)

    db.session.expire_all()
    assert db.session.get(BuyGroup, group.id).status == BuyGroupStatus.FULL
    for page in (a, b):
        page.goto(share_link)
        expect(page.locator(".group-card__state")).to_have_text("拼团成功")
        expect(page.locator(".group-member")).to_have_count(2)
    shot(b, "group-full", full_page=True)
    b.goto(live_server("/me/groups"))
    expect(b.locator(".my-group__state")).to_have_text("拼团成功")
    shot(b, "my-groups")
    a.goto(live_server(f"/orders/{number}"))
    expect(a.locator(".group-order")).to_contain_text("拼团成功")
