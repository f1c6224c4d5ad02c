"""Paying with WeChat Pay and Alipay, end to end in Chromium, against the fake gateways (real HTTP servers
speaking the real protocols). The live server is the shop's PUBLIC_URL, so the fakes deliver their signed
notifies to it over HTTP, as the real gateways would.

Inside WeChat: silent sign-in through WeChat's OAuth → checkout → the JSAPI page (WeixinJSBridge stubbed)
→ "确认中…" until the signed notify → 支付成功. Outside WeChat: H5 (the wx.tenpay.com page is stood in for)
and Alipay's cashier. A lost notify: `flask payments reconcile` finds the money. Throughout, neither the
app's log nor the pages carry a secret."""

import base64
import logging
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from playwright.sync_api import expect
from sqlalchemy import select, update

from app.accounts import services as accounts
from app.accounts.models import User
from app.extensions import db
from app.orders.models import Order, OrderStatus
from app.payments.models import Payment
from app.payments.settings import save_payment_settings
from app.settings.models import ShopSettings
from app.settings.services import update_shop_settings
from tests import factories
from tests.browser.conftest import PHONE, SELF_URL
from tests.browser.helpers import SHOPPER_MOBILE, SHOPPER_PASSWORD, layout_problems, log_in, product
from tests.fakes import merchant_settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.wechat import FakeWechat

pytestmark = pytest.mark.browser

SAFARI_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
SAFARI_PHONE = PHONE | {"user_agent": SAFARI_UA}
SHIPPING_FEN = 800

# Stands in for WeChat's JS-SDK (https://res.wx.qq.com/open/js/jweixin-1.6.0.js): records the share card.
WX_SDK_STUB = """
window.wx = {
  config: function (c) { window.__wxConfig = c; },
  ready: function (fn) { setTimeout(fn, 0); },
  error: function () {},
  updateAppMessageShareData: function (card) { window.__shareCard = card; },
  updateTimelineShareData: function () {}
};
"""
# WeChat's in-app bridge: getBrandWCPayRequest is recorded and answered only when the test says so.
JSBRIDGE_STUB = """
window.WeixinJSBridge = {
  invoke: function (name, params, callback) { window.__wxpay = {name: name, params: params, callback: callback}; }
};
"""
# What wx.tenpay.com's H5 middle page does, in miniature: a way back to redirect_url.
TENPAY_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>微信支付</title></head>
<body><h1>微信支付（测试替身）</h1><p>正在打开微信…</p><a id="back" href="{back}">已完成支付</a></body></html>"""


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def alipay_gw():
    fake = FakeAlipay()
    yield fake
    fake.stop()


def secrets_of(wechat, alipay_gw) -> list[str]:
    w, a = wechat.settings(), alipay_gw.settings()
    return [
        w["apiv3_key"],
        w["app_secret"],
        w["private_key"].splitlines()[5],
        a["private_key"].splitlines()[5],
    ]


@pytest.fixture
def shop(start_live_server, wechat, alipay_gw, caplog):
    """The shop served for real, with WeChat Pay (JSAPI and H5) and Alipay set up against the fakes, no
    sandbox, and the app's whole log captured (every thread: the live server runs in this process)."""
    caplog.set_level(logging.DEBUG)
    server = start_live_server(
        {
            "WECHATPAY_GATEWAY": wechat.url,
            "WECHAT_API_BASE": wechat.url,
            "WECHAT_OPEN_BASE": wechat.url,
            "ALIPAY_GATEWAY": alipay_gw.gateway,
            "PUBLIC_URL": SELF_URL,
            "SANDBOX_PAYMENTS": False,
        }
    )
    wechat.oauth_domain = urlsplit(server.url).hostname  # the 网页授权域名 the merchant registered
    save_payment_settings(db.session, merchant_settings(wechat, alipay_gw))
    update_shop_settings(db.session, name="小满好物")
    settings = db.session.get(ShopSettings, 1)
    settings.shipping_flat_fen = SHIPPING_FEN
    db.session.commit()
    mug = product("北欧简约陶瓷马克杯", skus=[([], 3900, 25)], images=1, colour=2)
    pages: list[str] = []
    yield SimpleNamespace(server=server, mug=mug, pages=pages)
    # Nothing the app logged (any thread, any level), and no page the shopper saw, carries a secret.
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        for when in ("setup", "call")
        for record in caplog.get_records(when)
    )
    for secret in secrets_of(wechat, alipay_gw):
        assert secret not in logged, "a secret reached the log"
        assert all(secret not in html for html in pages), "a secret reached a page"


def step(shop, shot, page, name: str, **kwargs):
    """Screenshot a step and keep its HTML for the secrets check."""
    shop.pages.append(page.content())
    return shot(page, name, **kwargs)


def the_order(number: str) -> Order:
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.number == number))


def pending_payment(number: str) -> Payment:
    return the_order(number).payments[-1]


def inside_wechat(context):
    """WeChat's own pieces in a WeChat-UA context: its JS-SDK and its bridge, stood in for."""
    context.route(
        "https://res.wx.qq.com/**",
        lambda route: route.fulfill(content_type="application/javascript", body=WX_SDK_STUB),
    )
    context.add_init_script(JSBRIDGE_STUB)


def add_address(page) -> None:
    page.locator(".address-card_empty").click()
    page.fill("#recipient", "林小满")
    page.fill("#mobile", "139 1234 5678")
    page.select_option("#province", "浙江省")  # the picker asks for the province's cities, then districts
    page.locator("#city option[value='杭州市']").wait_for(state="attached")
    page.select_option("#city", "杭州市")
    page.locator("#district option[value='西湖区']").wait_for(state="attached")
    page.select_option("#district", "西湖区")
    page.fill("#detail", "文三路 100 号 2 单元 301")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url("**/checkout?**address_id=*")


def shopper_with_address() -> User:
    accounts.register_user(db.session, mobile=SHOPPER_MOBILE, password=SHOPPER_PASSWORD, nickname="小王")
    db.session.commit()
    user = accounts.find_by_mobile(db.session, SHOPPER_MOBILE)
    factories.AddressFactory(user=user)
    return user


def buy_now(page, shop) -> None:
    page.goto(shop.server(f"/p/{shop.mug.id}"))
    page.get_by_role("button", name="立即购买").click()
    page.wait_for_url("**/checkout?buy=*")


def method_names(page) -> list[str]:
    return page.locator(
        ".pay-methods:not(.pay-methods_elsewhere) .weui-cell__bd > p:first-child"
    ).all_inner_texts()


def deliver_wechat_notify(shop, wechat, out_trade_no: str) -> None:
    headers, body = wechat.paid_notify(out_trade_no)
    answer = wechat.deliver(shop.server("/pay/notify/wechat"), headers, body)
    assert answer.status_code == 204, answer.text


def result_says(page, title: str) -> None:
    expect(page.locator("#pay-state .weui-msg__title")).to_have_text(title)


# ---------------------------------------------------------------- (a) inside WeChat: JSAPI


def test_inside_wechat_a_new_shopper_is_signed_in_silently_and_pays_by_jsapi_once_the_notify_arrives(
    shop, wechat, phone_context, shot
):
    context, errors = phone_context
    inside_wechat(context)
    page = context.new_page()
    wechat.user_openid = "oShopperInWechat00000000001"

    # The first shop page goes through WeChat's OAuth (snsapi_base) and back, signed in, no page shown.
    page.goto(shop.server(f"/p/{shop.mug.id}"))
    # (Browsers keep a fragment across redirects: like WeChat's, the URL ends in #wechat_redirect.)
    assert page.url.split("#")[0] == shop.server(f"/p/{shop.mug.id}")
    user = db.session.scalar(select(User).where(User.wechat_openid == "oShopperInWechat00000000001"))
    assert user is not None
    # The share card is signed on the server and filled in from the page.
    page.wait_for_function("window.__shareCard !== undefined")
    card = page.evaluate("window.__shareCard")
    assert card["title"].startswith("北欧简约陶瓷马克杯") and card["link"].startswith(shop.server("/p/"))
    assert page.evaluate("window.__wxConfig.jsApiList").count("updateAppMessageShareData") == 1
    step(shop, shot, page, "signed-in-silently")

    page.get_by_role("button", name="立即购买").click()
    page.wait_for_url("**/checkout?buy=*")
    add_address(page)

    # WeChat Pay is the one method here; Alipay (switched on) is a quiet row explaining the way out.
    assert method_names(page) == ["微信支付"]
    expect(page.locator("#pm-wechat")).to_be_checked()
    guide = page.locator(".pay-methods_elsewhere")
    expect(guide).to_contain_text("支付宝")
    expect(page.locator(".browser-guide__overlay")).to_be_hidden()  # never on its own
    assert not (problems := layout_problems(page)), problems
    step(shop, shot, page, "checkout-in-wechat", full_page=True)
    guide.click()
    overlay = page.locator(".browser-guide__overlay")
    expect(overlay).to_be_visible()
    expect(overlay).to_contain_text("点击右上角 ··· 选择『在浏览器打开』后用支付宝付款")
    # Signed in by WeChat alone: the browser would ask for a number and password this account lacks.
    expect(overlay.locator(".browser-guide__note a")).to_have_attribute("href", "/me/mobile")
    step(shop, shot, page, "open-in-browser-guide")
    overlay.get_by_text("知道了").click()
    expect(overlay).to_be_hidden()
    expect(page.locator("#pm-wechat")).to_be_checked()

    page.get_by_role("button", name="提交订单").click()
    page.wait_for_url("**/pay/wechat/*")
    expect(page.locator(".weui-msg__title")).to_have_text("正在调起微信支付…")
    page.wait_for_function("window.__wxpay !== undefined")
    call = page.evaluate("({name: window.__wxpay.name, params: window.__wxpay.params})")
    assert call["name"] == "getBrandWCPayRequest"
    params = call["params"]
    assert params["signType"] == "RSA" and params["package"].startswith("prepay_id=")
    signed = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    wechat.merchant.public.verify(
        base64.b64decode(params["paySign"]), signed.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    step(shop, shot, page, "jsapi-page")
    out_trade_no = page.url.rsplit("/", 1)[1]
    assert wechat.orders[out_trade_no]["openid"] == "oShopperInWechat00000000001"

    # WeChat says "ok" in the browser: only a hint. The order stays unpaid until the notify.
    page.evaluate("window.__wxpay.callback({err_msg: 'get_brand_wcpay_request:ok'})")
    page.wait_for_url("**/orders/*/result")
    number = page.url.rsplit("/", 2)[1]
    result_says(page, "确认中…")
    step(shop, shot, page, "confirming")
    assert the_order(number).status == OrderStatus.PENDING_PAYMENT

    deliver_wechat_notify(shop, wechat, out_trade_no)
    result_says(page, "支付成功")  # the page's own polling
    step(shop, shot, page, "paid")
    order = the_order(number)
    assert (order.status, order.payment_method, order.total_fen) == (
        OrderStatus.PAID,
        "wechat",
        3900 + SHIPPING_FEN,
    )


def test_inside_wechat_a_shopper_without_an_openid_pays_after_a_round_trip_to_wechat_oauth(
    shop, wechat, phone_context, shot
):
    """The silent sign-in of this session failed (WeChat was busy), and another account already holds
    this WeChat user's openid, so it is never linked to the shopper's: paying fetches the payer's openid
    through OAuth on the way — a redirect chain from the checkout form, which the CSP must allow — and
    comes back to pay, without looping."""
    context, errors = phone_context
    inside_wechat(context)
    page = context.new_page()
    holder = factories.UserFactory()
    holder.wechat_openid = wechat.user_openid = "oAlreadyLinkedElsewhere0001"
    shopper_with_address()
    db.session.commit()

    wechat.failing_code_exchanges = 1
    page.goto(shop.server("/login"))  # no silent sign-in on the login page itself
    page.fill("#mobile", SHOPPER_MOBILE)
    page.fill("#password", SHOPPER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: urlsplit(url).path == "/me")  # silent sign-in tried on the way: failed
    assert wechat.failing_code_exchanges == 0
    buy_now(page, shop)
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_url("**/pay/wechat/*")
    page.wait_for_function("window.__wxpay !== undefined")
    assert parse_qs(urlsplit(page.url).query) == {"oauth": ["1"]}  # back from WeChat's OAuth
    out_trade_no = urlsplit(page.url).path.rsplit("/", 1)[1]
    assert wechat.orders[out_trade_no]["openid"] == "oAlreadyLinkedElsewhere0001"
    step(shop, shot, page, "jsapi-after-oauth")
    assert accounts.find_by_mobile(db.session, SHOPPER_MOBILE).wechat_openid is None


# ---------------------------------------------------------------- (b) outside WeChat: H5 and Alipay


def test_outside_wechat_h5_pay_goes_to_wechat_and_comes_back_to_a_page_that_waits_for_the_notify(
    shop, wechat, alipay_gw, open_context, shot
):
    context, errors = open_context(SAFARI_PHONE)
    page = context.new_page()
    shopper_with_address()
    log_in(page, shop.server.url)

    # Without H5 activated, WeChat Pay is not offered outside WeChat; Alipay is, with no guide.
    save_payment_settings(db.session, merchant_settings(wechat, alipay_gw, h5=False))
    db.session.commit()
    buy_now(page, shop)
    assert method_names(page) == ["支付宝"]
    expect(page.locator(".browser-guide")).to_have_count(0)

    save_payment_settings(db.session, merchant_settings(wechat, alipay_gw, h5=True))
    db.session.commit()
    page.reload()
    assert method_names(page) == ["微信支付", "支付宝"]
    expect(page.locator(".pay-methods__icon_wechat + .weui-cell__bd .pay-methods__hint")).to_have_text(
        "将跳转到微信完成支付"
    )
    assert not (problems := layout_problems(page)), problems
    step(shop, shot, page, "checkout-in-safari", full_page=True)

    tenpay = []

    def stand_in_for_tenpay(route):
        tenpay.append((route.request.url, route.request.headers.get("referer", "")))
        back = parse_qs(urlsplit(route.request.url).query)["redirect_url"][0]
        route.fulfill(content_type="text/html; charset=utf-8", body=TENPAY_PAGE.format(back=back))

    page.route("https://wx.tenpay.com/**", stand_in_for_tenpay)
    page.get_by_text("微信支付", exact=True).click()
    page.get_by_role("button", name="提交订单").click()
    page.wait_for_url("https://wx.tenpay.com/**")
    step(shop, shot, page, "tenpay-middle-page")
    url, referer = tenpay[0]
    # WeChat checks the Referer against the merchant's H5 payment domain: the shop's origin must be sent.
    assert referer.startswith(shop.server.url), referer
    query = parse_qs(urlsplit(url).query)
    assert query["prepay_id"][0].startswith("wx")
    number = query["redirect_url"][0].rsplit("/", 2)[1]
    assert query["redirect_url"][0] == shop.server(f"/orders/{number}/result")  # PUBLIC_URL + the result page

    # WeChat sends the shopper back whether or not the payment is done: the page waits for the notify.
    page.locator("#back").click()
    page.wait_for_url(f"**/orders/{number}/result")
    result_says(page, "确认中…")
    expect(page.locator(".pay-state__other")).to_have_text("没有付款？重新选择支付方式")
    step(shop, shot, page, "h5-back-confirming")
    assert the_order(number).status == OrderStatus.PENDING_PAYMENT
    deliver_wechat_notify(shop, wechat, pending_payment(number).out_trade_no)
    result_says(page, "支付成功")
    step(shop, shot, page, "h5-paid")
    assert the_order(number).status == OrderStatus.PAID


def test_outside_wechat_alipay_cashier_notifies_then_returns_to_a_paid_order(
    shop, alipay_gw, open_context, shot
):
    context, errors = open_context(SAFARI_PHONE)
    errors.allow(r"status of 404 .*/favicon\.ico\]$")  # the fake cashier page links no icon
    page = context.new_page()
    shopper_with_address()
    log_in(page, shop.server.url)
    buy_now(page, shop)
    page.get_by_text("支付宝", exact=True).click()
    page.get_by_role("button", name="提交订单").click()

    page.wait_for_url(alipay_gw.gateway + "?**")
    expect(page.locator("#amount")).to_have_text("¥47.00")  # 39 + 8 shipping, in yuan on the wire
    step(shop, shot, page, "alipay-cashier")
    page.get_by_role("button", name="确认付款").click()
    page.wait_for_url("**/orders/*/result?**")
    returned = parse_qs(urlsplit(page.url).query)
    assert returned["method"] == ["alipay.trade.wap.pay.return"] and returned["sign"]
    number = urlsplit(page.url).path.rsplit("/", 2)[1]
    result_says(page, "支付成功")  # the fake's notify came first
    step(shop, shot, page, "alipay-paid")
    order = the_order(number)
    assert (order.status, order.payment_method) == (OrderStatus.PAID, "alipay")


# ---------------------------------------------------------------- (c) a lost notify


@pytest.mark.parametrize("method", ["wechat_h5", "alipay"])
def test_a_lost_notify_is_recovered_by_reconcile_and_the_waiting_page_follows(
    shop, wechat, alipay_gw, open_context, shot, method
):
    context, errors = open_context(SAFARI_PHONE)
    errors.allow(r"status of 404 .*/favicon\.ico\]$")
    page = context.new_page()
    shopper_with_address()
    log_in(page, shop.server.url)
    buy_now(page, shop)

    if method == "wechat_h5":
        page.route(
            "https://wx.tenpay.com/**",
            lambda route: route.fulfill(
                content_type="text/html; charset=utf-8",
                body=TENPAY_PAGE.format(back=parse_qs(urlsplit(route.request.url).query)["redirect_url"][0]),
            ),
        )
        page.get_by_text("微信支付", exact=True).click()
        page.get_by_role("button", name="提交订单").click()
        page.wait_for_url("https://wx.tenpay.com/**")
        number = parse_qs(urlsplit(page.url).query)["redirect_url"][0].rsplit("/", 2)[1]
        wechat.pay(pending_payment(number).out_trade_no)  # paid at WeChat; the notify never comes
        page.locator("#back").click()
    else:
        alipay_gw.hold_notifies = True
        try:
            page.get_by_text("支付宝", exact=True).click()
            page.get_by_role("button", name="提交订单").click()
            page.wait_for_url(alipay_gw.gateway + "?**")
            page.get_by_role("button", name="确认付款").click()
        finally:
            alipay_gw.hold_notifies = False
        assert len(alipay_gw.held) == 1
        alipay_gw.held.clear()  # lost for good

    page.wait_for_url("**/orders/*/result**")
    number = urlsplit(page.url).path.rsplit("/", 2)[1]
    result_says(page, "确认中…")
    step(shop, shot, page, "waiting-for-a-notify")
    assert the_order(number).status == OrderStatus.PENDING_PAYMENT

    # Cron runs reconcile every few minutes; it leaves payments younger than its quiet period alone.
    runner = shop.server.app.test_cli_runner()
    assert "paid=0" in runner.invoke(args=["payments", "reconcile"]).output
    payment = pending_payment(number)
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment.id)
        .values(created_at=payment.created_at - timedelta(minutes=5))
    )
    db.session.commit()
    result = runner.invoke(args=["payments", "reconcile"])
    assert result.exit_code == 0 and "paid=1" in result.output, result.output

    result_says(page, "支付成功")
    step(shop, shot, page, "recovered-by-reconcile")
    page.goto(shop.server(f"/orders/{number}"))
    expect(page.locator(".status-banner__title")).to_contain_text("待发货")
    step(shop, shot, page, "order-paid")


# ---------------------------------------------------------------- the log capture itself


def test_the_log_capture_sees_the_live_servers_threads(shop, wechat, caplog):
    """The secrets check above is only worth something if the live server's log lines reach it."""
    import requests

    headers, body = wechat.notify({"out_trade_no": "X"}, signature="WECHATPAY/SIGNTEST/" + "A" * 40)
    assert (
        requests.post(shop.server("/pay/notify/wechat"), data=body, headers=headers, timeout=10).status_code
        == 401
    )
    assert "wechat notify refused" in caplog.text
