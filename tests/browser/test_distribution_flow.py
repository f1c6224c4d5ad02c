"""Distribution end to end in Chromium, three shoppers on WeChat phones and the merchant at a desk:

A (a distributor) shares a product → B opens the link, registers, applies, the merchant approves → B shares
→ C registers through B's link and buys (sandbox) → B sees frozen level-1 commission, A level 2 → the
merchant ships, C confirms receipt → eight days pass (the test moves the app's clock: the live server runs
in this process) → available → B withdraws → the merchant approves and pays → B sees 已打款.

Screenshots, the poster PNG among them, go to test-artifacts/<test name>/."""

import io
import re
from datetime import timedelta

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Role
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import Distributor, Withdrawal, WithdrawalStatus
from app.extensions import db
from app.orders.models import Order, OrderStatus
from app.settings.services import update_shop_settings
from app.timeutil import set_clock, utcnow
from tests.browser.conftest import PHONE, accept_confirms
from tests.browser.helpers import layout_problems, product
from tests.browser.test_order_flow import OWNER_MOBILE, OWNER_PASSWORD, confirm_dialog, merchant_logs_in

pytestmark = pytest.mark.browser

A_MOBILE, B_MOBILE, C_MOBILE, PASSWORD = "13700000011", "13700000022", "13700000033", "abc12345"


@pytest.fixture
def shop(live_server, tmp_path):
    live_server.app.instance_path = str(tmp_path / "instance")  # posters are drawn into instance/posters
    update_shop_settings(db.session, name="小满好物")
    accounts.create_admin(db.session, mobile=OWNER_MOBILE, password=OWNER_PASSWORD, role=Role.OWNER)
    a_user = accounts.register_user(db.session, mobile=A_MOBILE, password=PASSWORD, nickname="阿安")
    db.session.commit()
    a = dist.make_distributor(db.session, a_user, source="merchant", real_name="安然")
    db.session.commit()
    beans = product(
        "云南小粒咖啡豆 中度烘焙 500g",
        subtitle="保山高山产区 当季新豆",
        skus=[([], 12800, 50)],
        images=1,
        colour=3,
    )
    product("手冲咖啡壶 600ml", skus=[([], 8900, 20)], images=1, colour=5)
    yield {"a": a, "beans": beans}
    set_clock(None)


def register(page, live_server, mobile: str, nickname: str) -> None:
    page.goto(live_server("/register"))
    page.fill("#mobile", mobile)
    page.fill("#nickname", nickname)
    page.fill("#password", PASSWORD)
    page.fill("#password_again", PASSWORD)
    page.check("input[name=agree]")
    page.locator("form button[type=submit]").click()
    page.wait_for_url("**/me")


def log_in(page, live_server, mobile: str) -> None:
    page.goto(live_server("/login"))
    page.fill("#mobile", mobile)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/me")


def share_link(page, live_server, product_id: int) -> str:
    page.goto(live_server(f"/d/share/p/{product_id}"))
    link = page.locator("[data-share-url]").inner_text().strip()
    page.get_by_role("button", name="复制链接").click()
    expect(page.locator(".weui-toast__content")).to_contain_text("链接已复制")
    return link


def balances(page) -> dict:
    return {name: page.locator(f"#{name}").inner_text() for name in ("available", "frozen", "withdrawn")}


def test_a_referral_chain_earns_is_released_and_withdrawn(
    live_server, shop, open_context, desktop, desktop_errors, shot
):
    desktop_errors.allow(r"status of 404 .*/favicon\.ico\]$")
    phones = {}
    for who in ("a", "b", "c"):
        context, errors = open_context(PHONE)
        errors.allow(r"status of 404 .*/favicon\.ico\]$")  # the sandbox gateway page links no icon
        errors.allow(r"status of 422 .*/d/withdraw\]$")  # the refused withdrawal below, on purpose
        phones[who] = context.new_page()
    a_page, b_page, c_page = phones["a"], phones["b"], phones["c"]
    beans = shop["beans"]

    # A finds the product with the picker's live search, then shares it: link, copy button, QR code and
    # poster (a real PNG, for WeChat's long-press save).
    log_in(a_page, live_server, A_MOBILE)
    a_page.goto(live_server("/d/share"))
    expect(a_page.locator(".dist-pick")).to_have_count(2)
    a_page.locator("#share-products").scroll_into_view_if_needed()
    a_page.get_by_placeholder("搜索商品").press_sequentially("小粒")
    expect(a_page.locator(".dist-pick")).to_have_count(1)
    expect(a_page.locator(".dist-pick")).to_contain_text("云南小粒咖啡豆")
    assert not (problems := layout_problems(a_page)), problems
    shot(a_page, "a-share-picker")
    a_link = share_link(a_page, live_server, beans.id)
    assert a_link.endswith(f"/p/{beans.id}?ref={shop['a'].code}")
    expect(a_page.locator("#product-poster img")).to_have_js_property("complete", True)
    assert a_page.locator("#product-poster img").evaluate("img => img.naturalWidth") == 750
    assert not (problems := layout_problems(a_page)), problems
    shot(a_page, "a-share-product", full_page=True)
    poster_url = a_page.locator("#product-poster img").get_attribute("src")
    poster = a_page.request.get(live_server(poster_url))
    assert poster.status == 200 and poster.headers["content-type"] == "image/png"
    folder = shot(a_page, "a-share-product-top").parent  # the PNG itself goes beside the screenshots
    (folder / "poster-a-product.png").write_bytes(poster.body())
    with Image.open(io.BytesIO(poster.body())) as image:
        assert image.size == (750, 1200)

    # B opens A's link, registers (bound to A), applies; the merchant approves in the back office.
    b_page.goto(a_link)
    expect(b_page.locator(".product-title")).to_contain_text("云南小粒咖啡豆")
    register(b_page, live_server, B_MOBILE, "贝贝")
    b_user = accounts.find_by_mobile(db.session, B_MOBILE)
    assert b_user.referrer_id == shop["a"].user_id
    b_page.goto(live_server("/d"))
    expect(b_page.locator(".dist-intro__title")).to_have_text("推荐好物，赚取佣金")
    assert not (problems := layout_problems(b_page)), problems
    shot(b_page, "b-join-page", full_page=True)
    b_page.fill("#real_name", "白贝贝")
    b_page.fill("#reason", "喜欢喝咖啡，朋友也爱喝")
    b_page.get_by_role("button", name="提交申请").click()
    b_page.wait_for_url("**/d")
    expect(b_page.locator(".dist-application")).to_contain_text("申请审核中")
    shot(b_page, "b-application-pending")

    merchant_logs_in(desktop, live_server)
    desktop.goto(live_server("/admin/distribution/applications"))
    row = desktop.locator("tr", has_text="白贝贝")
    row.get_by_role("button", name="通过").click()
    expect(desktop.locator("tr", has_text="白贝贝")).to_contain_text("已通过")
    shot(desktop, "merchant-approved-b")

    b_page.reload()
    expect(b_page.locator(".dist-hero__code")).to_contain_text("推广码")
    b_code = db.session.scalar(select(Distributor.code).where(Distributor.user_id == b_user.id))
    b_link = share_link(b_page, live_server, beans.id)
    assert b_link.endswith(f"?ref={b_code}")

    # C registers through B's link and buys now, paying in the sandbox.
    c_page.goto(b_link)
    register(c_page, live_server, C_MOBILE, "陈晨")
    assert accounts.find_by_mobile(db.session, C_MOBILE).referrer_id == b_user.id
    c_page.goto(live_server(f"/p/{beans.id}"))
    c_page.get_by_role("button", name="立即购买").click()
    c_page.wait_for_url("**/checkout?buy=*")
    c_page.locator(".address-card_empty").click()
    c_page.fill("#recipient", "陈晨")
    c_page.fill("#mobile", "13912349876")
    c_page.select_option("#province", "浙江省")  # the picker asks for the province's cities, then districts
    c_page.locator("#city option[value='杭州市']").wait_for(state="attached")
    c_page.select_option("#city", "杭州市")
    c_page.locator("#district option[value='西湖区']").wait_for(state="attached")
    c_page.select_option("#district", "西湖区")
    c_page.fill("#detail", "文三路 100 号 2 单元 301")
    c_page.get_by_role("button", name="保存").click()
    c_page.wait_for_url("**/checkout?**address_id=*")
    c_page.get_by_role("button", name="提交订单").click()
    c_page.wait_for_url("**/pay/sandbox/*")
    c_page.get_by_role("button", name="模拟支付成功").click()
    c_page.wait_for_url("**/result")
    expect(c_page.locator(".weui-msg__title")).to_have_text("支付成功")
    number = c_page.url.rsplit("/", 2)[1]

    # B earns 10 % at level 1 (¥12.80), A 5 % at level 2 (¥6.40), frozen; the buyer is masked.
    b_page.goto(live_server("/d"))
    assert balances(b_page) == {"available": "¥0.00", "frozen": "¥12.80", "withdrawn": "¥0.00"}
    expect(b_page.locator("#today")).to_have_text("¥12.80")
    assert not (problems := layout_problems(b_page)), problems
    shot(b_page, "b-center-frozen", full_page=True)
    b_page.goto(live_server("/d/commissions"))
    entry = b_page.locator(".dist-entry").first
    expect(entry).to_contain_text("一级")
    expect(entry).to_contain_text("陈** / 137****0033")
    expect(entry).to_contain_text("冻结中")
    page_text = b_page.locator("body").inner_text()
    assert "13700000033" not in page_text and "文三路" not in page_text and "13912349876" not in page_text
    shot(b_page, "b-commission-list")
    entry.click()
    b_page.wait_for_url(f"**/d/orders/{number}")
    expect(b_page.locator("#buyer")).to_have_text("陈** / 137****0033")
    expect(b_page.locator("body")).to_contain_text("¥128.00 × 10%")
    assert not (problems := layout_problems(b_page)), problems
    shot(b_page, "b-commission-explained", full_page=True)

    a_page.goto(live_server("/d"))
    assert balances(a_page)["frozen"] == "¥6.40"
    a_page.goto(live_server("/d/commissions"))
    expect(a_page.locator(".dist-entry").first).to_contain_text("二级")
    a_page.goto(live_server("/d/team?level=2"))
    expect(a_page.locator(".dist-member").first).to_contain_text("陈** / 137****0033")
    shot(a_page, "a-team-level-2")

    # The merchant ships; C confirms receipt.
    desktop.goto(live_server(f"/admin/orders/{number}"))
    shot(desktop, "merchant-order-to-ship")
    ship = desktop.locator("form.ship-form")
    ship.locator("select[name$=carrier_choice]").select_option(label="顺丰速运")
    ship.locator("input[name$=tracking_no]").fill("SF1234567890")
    ship.locator("button[type=submit]").click()
    expect(desktop.locator("form.ship-form")).to_have_count(0)
    c_page.goto(live_server(f"/orders/{number}"))
    c_page.get_by_role("button", name="确认收货").click()
    confirm_dialog(c_page)
    expect(c_page.locator(".status-banner__title")).to_contain_text("已完成")
    assert db.session.scalar(select(Order.status).where(Order.number == number)) == OrderStatus.COMPLETED
    b_page.goto(live_server("/d/commissions"))
    expect(b_page.locator(".dist-entry__note").first).to_contain_text("可提现")  # "预计 … 可提现"

    # Eight days later the commission is available (released as the page shows the balance).
    set_clock(utcnow() + timedelta(days=8))
    b_page.goto(live_server("/d"))
    assert balances(b_page) == {"available": "¥12.80", "frozen": "¥0.00", "withdrawn": "¥0.00"}
    shot(b_page, "b-center-available")

    # B withdraws everything to WeChat; the bank fields stay hidden for WeChat.
    b_page.get_by_role("link", name="提现").first.click()
    b_page.wait_for_url("**/d/withdraw")
    expect(b_page.locator("#bank_name")).to_be_hidden()
    b_page.get_by_text("银行卡", exact=True).click()
    expect(b_page.locator("#bank_name")).to_be_visible()
    expect(b_page.locator("label[for=account]")).to_have_text("银行卡号")
    b_page.get_by_text("微信", exact=True).click()
    expect(b_page.locator("#bank_name")).to_be_hidden()
    b_page.fill("#amount_fen", "13")
    b_page.fill("#real_name", "白贝贝")
    b_page.fill("#account", "beibei_coffee")
    b_page.get_by_role("button", name="申请提现").click()
    expect(b_page.locator(".field-error")).to_contain_text("余额不足")  # ¥13 > ¥12.80: refused, nothing moved
    b_page.fill("#amount_fen", "12.80")
    assert not (problems := layout_problems(b_page)), problems
    shot(b_page, "b-withdraw-form", full_page=True)
    b_page.get_by_role("button", name="申请提现").click()
    b_page.wait_for_url(re.compile(r".*/d/withdrawals/\d+$"))
    expect(b_page.locator("#withdrawal-status")).to_have_text("申请中")
    shot(b_page, "b-withdrawal-requested")

    # The merchant approves, transfers and marks it paid with the reference.
    desktop.goto(live_server("/admin/distribution/withdrawals"))
    asked = accept_confirms(desktop)
    row = desktop.locator("tr", has_text="白贝贝").first
    row.get_by_role("button", name="通过").click()
    row = desktop.locator("tr", has_text="白贝贝").first
    row.locator("input[name=reference]").fill("WX-TRANSFER-0001")
    row.get_by_role("button", name="标记已打款").click()
    expect(desktop.locator("tr", has_text="白贝贝").first).to_contain_text("WX-TRANSFER-0001")
    # Both money steps asked first, naming the (masked) person.
    assert [question[:6] for question in asked] == ["确认同意 白", "确认已向 白"], asked
    shot(desktop, "merchant-withdrawal-paid")
    withdrawal = db.session.scalar(select(Withdrawal))
    db.session.refresh(withdrawal)
    assert withdrawal.status == WithdrawalStatus.PAID

    b_page.goto(live_server("/d/withdrawals"))
    expect(b_page.locator(".dist-wstate").first).to_have_text("已打款")
    expect(b_page.locator(".dist-entry").first).to_contain_text("WX-TRANSFER-0001")
    shot(b_page, "b-withdrawals-paid")
    b_page.goto(live_server("/d"))
    assert balances(b_page) == {"available": "¥0.00", "frozen": "¥0.00", "withdrawn": "¥12.80"}
    shot(b_page, "b-center-withdrawn", full_page=True)
    assert ledger.audit(db.session) == []
