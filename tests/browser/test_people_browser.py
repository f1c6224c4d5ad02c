"""Customers and staff in Chromium: the owner finds a customer, opens their page, disables the account
(the browser's confirm names the person), and gives a new staff member permissions; at 1366×800 and on a
375×812 phone. Screenshots in test-artifacts/."""

import pytest
from playwright.sync_api import expect

from app.accounts import services as accounts
from app.accounts.models import Role
from app.extensions import db
from app.marketing.models import MemberAccount, MemberLevel
from tests import factories
from tests.browser.conftest import PHONE, accept_confirms

pytestmark = pytest.mark.browser

OWNER_MOBILE, OWNER_PASSWORD = "13800000000", "owner1234"
WIDE = {"viewport": {"width": 1366, "height": 800}, "locale": "zh-CN"}


def arrange():
    accounts.create_admin(db.session, mobile=OWNER_MOBILE, password=OWNER_PASSWORD, role=Role.OWNER)
    gold = MemberLevel(name="金卡会员", growth_threshold=500)
    db.session.add(gold)
    db.session.commit()
    referrer = factories.UserFactory(nickname="推广员阿梅", mobile="13911112222")
    for n in range(8):
        factories.UserFactory(nickname=f"顾客{n}", mobile=f"1370000{n:04d}")
    shopper = factories.UserFactory(nickname="林小雨", mobile="13812345678", referrer_id=referrer.id)
    db.session.add(MemberAccount(user_id=shopper.id, growth=600, points=1280, level_id=gold.id))
    factories.AddressFactory(user=shopper, recipient="林小雨", detail="科技园路 1 号 A 座 1201")
    factories.UserFactory(
        role="staff", nickname="店员小王", mobile="13900001234", permissions="orders,catalog"
    )
    db.session.commit()
    return shopper


def scrolls_sideways(page) -> bool:
    """The back office's own check on a phone: the page never scrolls sideways (wide tables scroll inside
    their box). The shop's 40 px tap-target rule is not the back office's."""
    page.wait_for_load_state("load")
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")


def log_in_owner(page, live_server):
    page.goto(live_server("/admin/login"))
    page.fill("input[name=mobile]", OWNER_MOBILE)
    page.fill("input[name=password]", OWNER_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url("**/admin/")


def test_owner_finds_and_disables_a_customer_and_manages_staff(live_server, open_context, shot):
    shopper = arrange()
    context, errors = open_context(WIDE)
    errors.allow(r"status of 404 .*/favicon\.ico\]$")
    page = context.new_page()
    log_in_owner(page, live_server)

    page.goto(live_server("/admin/customers"))
    page.fill("input[name=q]", "5678")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text("林小雨")
    page.fill("input[name=q]", "")
    expect(page.locator("#results tbody tr")).to_have_count(10)
    assert not scrolls_sideways(page)
    shot(page, "customers-1366")

    page.goto(live_server(f"/admin/customers/{shopper.id}"))
    expect(page.locator("body")).to_contain_text("1280")
    expect(page.locator("body")).to_contain_text("推广员阿梅")
    asked = accept_confirms(page)
    page.fill("#disable-reason", "恶意刷单")
    page.locator("#customer-status button[type=submit]").click()
    expect(page.locator("#customer-status")).to_contain_text("恶意刷单")
    assert asked and "林**" in asked[0]
    assert not scrolls_sideways(page)
    shot(page, "customer-disabled-1366", full_page=True)

    page.goto(live_server("/admin/staff"))
    page.fill("#mobile", "13700005555")
    page.fill("#nickname", "客服小赵")
    page.fill("#password", "welcome123")
    page.check("#new-perm-orders")
    page.check("#new-perm-money")
    page.locator("#add-staff button[type=submit]").click()
    expect(page.locator("#staff-members")).to_contain_text("客服小赵")
    assert not scrolls_sideways(page)
    shot(page, "staff-1366", full_page=True)

    phone_context, phone_errors = open_context(PHONE)
    phone_errors.allow(r"status of 404 .*/favicon\.ico\]$")
    phone = phone_context.new_page()
    log_in_owner(phone, live_server)
    for path, name in (
        ("/admin/customers", "customers-375"),
        (f"/admin/customers/{shopper.id}", "customer-375"),
        ("/admin/staff", "staff-375"),
    ):
        phone.goto(live_server(path))
        assert not scrolls_sideways(phone), path
        shot(phone, name, full_page=True)
