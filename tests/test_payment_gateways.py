"""WeChat Pay v3 and Alipay against local fake gateways that speak the real protocols (signatures,
encryption, notifies): paying, the notify cases that must fail, reconcile, refunds, and secrets."""

import base64
import logging
import secrets
import time

import pytest
from sqlalchemy import select

from app import create_app, orders
from app.extensions import db
from app.orders.models import Order, OrderEvent, OrderStatus, Refund, RefundRequestStatus, RefundStatus
from app.payments import get_provider, wechat_certificates
from app.payments.cli import reconcile
from app.payments.gateways import payment_settings
from app.payments.models import Payment
from app.payments.services import start_payment
from app.payments.settings import save_payment_settings
from tests import factories
from tests.conftest import base_config, login
from tests.fakes import merchant_settings
from tests.fakes.alipay import FakeAlipay
from tests.fakes.wechat import APPID, PUBLIC_KEY_ID, FakeWechat
from tests.htmlforms import form

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
)


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


@pytest.fixture
def app(db_url, tmp_path, wechat, alipay_gw):
    from tests.conftest import IsolatedClient

    config = base_config(db_url, tmp_path) | {
        "WECHATPAY_GATEWAY": wechat.url,
        "WECHAT_API_BASE": wechat.url,
        "WECHAT_OPEN_BASE": wechat.url,
        "ALIPAY_GATEWAY": alipay_gw.gateway,
        "PUBLIC_URL": "http://shop.test",
    }
    app = create_app(config)
    app.test_client_class = IsolatedClient
    with app.app_context():
        factories.bind(db.session)
        save_payment_settings(db.session, merchant_settings(wechat, alipay_gw))
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def shopper(app):
    user = factories.UserFactory()
    user.wechat_openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    db.session.commit()
    return user


def unpaid_order(shopper, provider: str, price_fen: int = 12345):
    product = factories.ProductFactory(skus=[{"price_fen": price_fen, "stock": 10}])
    address = factories.AddressFactory(user=shopper)
    order = orders.checkout.place_order(
        db.session,
        user=shopper,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key=f"gateway-test-{provider}-{time.time_ns()}",
    )
    payment = start_payment(db.session, order, provider, user=shopper)
    db.session.commit()
    return order, payment


def order_status(order_id) -> str:
    db.session.expire_all()
    return db.session.get(Order, order_id).status


# ---------------------------------------------------------------- WeChat Pay


def open_wechat_order(client, shopper, wechat, ua=WECHAT_UA):
    order, payment = unpaid_order(shopper, "wechat")
    login(client, shopper)
    return order, payment, client.get(f"/pay/wechat/{payment.out_trade_no}", headers={"User-Agent": ua})


def test_jsapi_page_carries_a_pay_sign_the_merchant_key_verifies(client, shopper, wechat):
    import base64
    import json
    import re

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    order, payment, page = open_wechat_order(client, shopper, wechat)
    assert page.status_code == 200
    params = json.loads(re.search(r"data-jsapi>(.*?)</script>", page.get_data(as_text=True)).group(1))
    assert (
        params["appId"] == APPID
        and params["package"].startswith("prepay_id=")
        and params["signType"] == "RSA"
    )
    message = (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    )
    wechat.merchant.public.verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )
    assert wechat.orders[payment.out_trade_no]["openid"] == shopper.wechat_openid
    assert order_status(order.id) == OrderStatus.PENDING_PAYMENT  # the page alone pays nothing


def test_h5_outside_wechat_redirects_to_the_gateway(client, shopper, wechat):
    order, payment, page = open_wechat_order(client, shopper, wechat, ua=PHONE_UA)
    assert page.status_code == 302
    assert page.headers["Location"].startswith("https://wx.tenpay.com/")
    assert "redirect_url=http%3A%2F%2Fshop.test%2Forders%2F" in page.headers["Location"]


def test_a_good_notify_pays_the_order_once(client, shopper, wechat):
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    headers, body = wechat.paid_notify(payment.out_trade_no)
    first = client.post("/pay/notify/wechat", data=body, headers=headers)
    again = client.post("/pay/notify/wechat", data=body, headers=headers)  # WeChat retries; duplicates come
    assert (first.status_code, again.status_code) == (204, 204)
    assert order_status(order.id) == OrderStatus.PAID
    paid = db.session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.action == "paid")
    )
    assert len(paid.all()) == 1


@pytest.mark.parametrize("case", ["forged", "probe", "stale", "wrong_key"])
def test_notifies_that_must_fail(client, shopper, wechat, case):
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    resource = wechat.transaction(wechat.pay(payment.out_trade_no))
    kwargs = {
        "forged": {"signature": "c2lnbmF0dXJl" * 20},
        "probe": {"signature": "WECHATPAY/SIGNTEST/" + "A" * 300},
        "stale": {"timestamp": int(time.time()) - 3600},
        "wrong_key": {"key": "ffffffffffffffffffffffffffffffff"},
    }[case]
    headers, body = wechat.notify(resource, **kwargs)
    response = client.post("/pay/notify/wechat", data=body, headers=headers)
    assert response.status_code >= 400
    assert response.get_json()["code"] == "FAIL"
    assert order_status(order.id) == OrderStatus.PENDING_PAYMENT


def test_a_notify_with_an_unknown_serial_is_refused_before_anything_reaches_the_gateway(
    client, shopper, wechat
):
    """A forged notify with a random serial once made the SDK download certificates on every request,
    holding a worker while the gateway answered: now it is refused before the SDK sees it."""
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    headers, body = wechat.notify(wechat.transaction(wechat.pay(payment.out_trade_no)))
    headers["Wechatpay-Serial"] = secrets.token_hex(20).upper()
    headers["Wechatpay-Signature"] = base64.b64encode(secrets.token_bytes(256)).decode()
    before = len(wechat.requests)
    response = client.post("/pay/notify/wechat", data=body, headers=headers)
    assert response.status_code == 401 and response.get_json()["code"] == "FAIL"
    assert wechat.requests[before:] == []
    assert order_status(order.id) == OrderStatus.PENDING_PAYMENT


@pytest.fixture
def moving_to_the_public_key(wechat):
    """The merchant is switching from platform certificates: for a week notifies come signed by either."""
    serial = wechat.add_platform_certificate()
    yield serial
    wechat.platform_certificates.clear()


def certificate_fetches(wechat, since: int) -> int:
    return sum(1 for method, path in wechat.requests[since:] if (method, path) == ("GET", "/v3/certificates"))


def test_certificate_signed_notifies_verify_once_the_job_fetched_the_certificates(
    client, shopper, wechat, moving_to_the_public_key
):
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    resource = wechat.transaction(wechat.pay(payment.out_trade_no))
    before = len(wechat.requests)
    headers, body = wechat.notify(resource, certificate_serial=moving_to_the_public_key)
    assert client.post("/pay/notify/wechat", data=body, headers=headers).status_code == 401
    assert wechat.requests[before:] == []  # the request itself never fetches

    reconcile(db.session)
    reconcile(db.session)  # every 5 minutes from cron: the certificates are fetched at most once an hour
    assert certificate_fetches(wechat, before) == 1

    headers, body = wechat.notify(resource, certificate_serial=moving_to_the_public_key)
    assert client.post("/pay/notify/wechat", data=body, headers=headers).status_code == 204
    assert order_status(order.id) == OrderStatus.PAID
    headers, body = wechat.notify(resource, certificate_serial=moving_to_the_public_key, key="f" * 32)
    assert client.post("/pay/notify/wechat", data=body, headers=headers).status_code == 401


def test_only_the_public_key_id_and_the_cached_certificates_are_known_serials(
    app, wechat, moving_to_the_public_key
):
    settings = payment_settings(db.session)
    assert not wechat_certificates.cached_certificates(db.session)
    wechat_certificates.refresh_certificates(db.session, force=True)
    certificates = wechat_certificates.cached_certificates(db.session)
    assert len(certificates) == 1

    def known(serial):
        return wechat_certificates.is_known_serial(serial, settings, certificates)

    assert known(PUBLIC_KEY_ID) and known(moving_to_the_public_key)
    assert known(moving_to_the_public_key.lower()) and known("00" + moving_to_the_public_key)  # hex numbers
    for serial in (
        "",
        PUBLIC_KEY_ID.lower(),
        PUBLIC_KEY_ID + " ",
        secrets.token_hex(20),
        "PUB_KEY_ID_",
        "zz",
    ):
        assert not known(serial), serial


def test_saving_the_payment_settings_fetches_the_certificates(client, wechat, moving_to_the_public_key):
    owner = factories.UserFactory(role="owner")
    login(client, owner, admin=True)
    page = client.get("/admin/settings/payments").get_data(as_text=True)
    before = len(wechat.requests)
    saved = client.post("/admin/settings/payments", data=form(page).data())
    assert saved.status_code == 302, saved.get_data(as_text=True)[:500]
    assert certificate_fetches(wechat, before) == 1
    assert wechat_certificates.cached_certificates(db.session)


@pytest.mark.parametrize("change", ["amount", "mchid", "appid", "unknown"])
def test_notifies_with_wrong_content_are_refused(client, shopper, wechat, change):
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    resource = wechat.transaction(wechat.pay(payment.out_trade_no))
    if change == "amount":
        resource["amount"]["total"] -= 1
    elif change == "mchid":
        resource["mchid"] = "1900000999"
    elif change == "appid":
        resource["appid"] = "wx0000000000000000"
    else:
        resource["out_trade_no"] = "NOSUCHORDER00"
    headers, body = wechat.notify(resource)
    response = client.post("/pay/notify/wechat", data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["code"] == "FAIL"
    assert order_status(order.id) == OrderStatus.PENDING_PAYMENT


def test_a_lost_notify_is_recovered_by_reconcile(client, shopper, wechat):
    from datetime import timedelta

    from app.timeutil import set_clock, utcnow

    order, payment, _page = open_wechat_order(client, shopper, wechat)
    wechat.pay(payment.out_trade_no)  # paid at the gateway, but the notify never arrives
    set_clock(utcnow() + timedelta(minutes=5))
    try:
        counts = reconcile(db.session)
    finally:
        set_clock(None)
    assert counts["paid"] == 1
    assert order_status(order.id) == OrderStatus.PAID


def test_an_expired_order_is_closed_at_the_gateway(client, shopper, wechat):
    from datetime import timedelta

    from app.timeutil import set_clock, utcnow

    order, payment, _page = open_wechat_order(client, shopper, wechat)
    set_clock(utcnow() + timedelta(minutes=40))
    try:
        counts = reconcile(db.session)
    finally:
        set_clock(None)
    assert counts["closed"] == 1
    assert wechat.orders[payment.out_trade_no]["trade_state"] == "CLOSED"
    assert order_status(order.id) == OrderStatus.CANCELLED


def test_refund_through_the_api_then_the_refund_notify(client, shopper, wechat):
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    headers, body = wechat.paid_notify(payment.out_trade_no)
    client.post("/pay/notify/wechat", data=body, headers=headers)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    refund = orders.refunds.request_refund(
        db.session, order, shopper, items={order.lines[0].id: 1}, reason="不想要了"
    )
    orders.refunds.approve_refund(db.session, refund, actor=factories.UserFactory(role="staff"), restock=True)
    db.session.commit()
    assert wechat.refunds[refund.number]["amount"] == refund.amount_fen
    assert order_status(order.id) == OrderStatus.PAID  # waiting for the refund notify
    headers, body = wechat.refund_notify(refund.number)
    assert client.post("/pay/notify/wechat", data=body, headers=headers).status_code == 204
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert (order.status, order.refund_status) == (OrderStatus.REFUNDED, RefundStatus.FULL)


def test_a_refund_the_gateway_refuses_is_not_approved_and_the_merchant_is_told_why(
    app, client, shopper, wechat
):
    """Approving sends the money back at once; WeChat Pay refusing it used to be a 500. Now the approval is
    refused with the reason, nothing changes, and pressing again once WeChat takes it refunds once."""
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    headers, body = wechat.paid_notify(payment.out_trade_no)
    client.post("/pay/notify/wechat", data=body, headers=headers)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    refund = orders.refunds.request_refund(
        db.session, order, shopper, items={order.lines[0].id: 1}, reason="不想要了"
    )
    owner = factories.UserFactory(role="owner")
    db.session.commit()
    refund_id, number, refund_number = refund.id, order.number, refund.number
    staff = app.test_client()
    login(staff, owner, admin=True)
    approve = form(
        staff.get(f"/admin/orders/{number}").get_data(as_text=True), f"/admin/refunds/{refund_id}/approve"
    )
    wechat.failing_refunds = 1
    refused = staff.post(approve.action, data=dict(approve.fields), follow_redirects=True)
    assert refused.status_code == 200
    assert "支付平台没有受理这笔退款" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Refund, refund_id).status == RefundRequestStatus.REQUESTED
    assert refund_number not in wechat.refunds
    assert staff.post(approve.action, data=dict(approve.fields)).status_code == 302
    db.session.expire_all()
    assert db.session.get(Refund, refund_id).status == RefundRequestStatus.APPROVED
    assert wechat.refunds[refund_number]["amount"] == refund.amount_fen


# ---------------------------------------------------------------- Alipay


def start_alipay(client, shopper, alipay_gw):
    order, payment = unpaid_order(shopper, "alipay", price_fen=9990)
    with client.application.test_request_context(base_url="http://shop.test"):
        redirect_url = get_provider("alipay").start(db.session, order, payment).redirect_url
    assert redirect_url.startswith(alipay_gw.gateway + "?")
    import requests

    page = requests.get(redirect_url, timeout=10)  # the shopper's browser opens the cashier
    assert page.status_code == 200 and "¥99.90" in page.text
    return order, payment


def test_alipay_good_notify_pays_once(client, shopper, alipay_gw):
    order, payment = start_alipay(client, shopper, alipay_gw)
    alipay_gw.pay(payment.out_trade_no)
    form = alipay_gw.notify_form(payment.out_trade_no)
    assert client.post("/pay/notify/alipay", data=form).get_data(as_text=True) == "success"
    assert client.post("/pay/notify/alipay", data=form).get_data(as_text=True) == "success"
    assert order_status(order.id) == OrderStatus.PAID


@pytest.mark.parametrize("case", ["forged", "amount", "app_id", "unknown", "no_sign"])
def test_alipay_notifies_that_must_fail(client, shopper, alipay_gw, case):
    from tests.fakes.keys import pair

    order, payment = start_alipay(client, shopper, alipay_gw)
    alipay_gw.pay(payment.out_trade_no)
    if case == "forged":
        form = alipay_gw.notify_form(payment.out_trade_no, key=pair("someone-else").private)
    elif case == "amount":
        form = alipay_gw.notify_form(payment.out_trade_no, total_amount="0.01")
    elif case == "app_id":
        form = alipay_gw.notify_form(payment.out_trade_no, app_id="2021000000000999")
    elif case == "unknown":
        alipay_gw.open_trade("NOSUCHORDER00", "1.00")
        alipay_gw.pay("NOSUCHORDER00")
        form = alipay_gw.notify_form("NOSUCHORDER00")
    else:
        form = alipay_gw.notify_form(payment.out_trade_no)
        form.pop("sign")
    response = client.post("/pay/notify/alipay", data=form)
    assert response.get_data(as_text=True) == "fail"
    assert order_status(order.id) == OrderStatus.PENDING_PAYMENT


def test_alipay_reconcile_and_refund(client, shopper, alipay_gw):
    from datetime import timedelta

    from app.timeutil import set_clock, utcnow

    order, payment = start_alipay(client, shopper, alipay_gw)
    alipay_gw.pay(payment.out_trade_no)
    set_clock(utcnow() + timedelta(minutes=5))
    try:
        assert reconcile(db.session)["paid"] == 1
    finally:
        set_clock(None)
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    refund = orders.refunds.request_refund(
        db.session, order, shopper, items={order.lines[0].id: 1}, reason="拍错了"
    )
    orders.refunds.approve_refund(
        db.session, refund, actor=factories.UserFactory(role="staff"), restock=False
    )
    db.session.commit()
    assert order_status(order.id) == OrderStatus.REFUNDED  # Alipay refunds at once
    assert alipay_gw.refunds[refund.number]["fen"] == refund.amount_fen


def test_alipay_is_not_offered_inside_wechat(app):
    provider = get_provider("alipay")
    assert provider.offered(app, db.session, in_wechat=False)
    assert not provider.offered(app, db.session, in_wechat=True)


# ---------------------------------------------------------------- WeChat login


def test_silent_login_inside_wechat_keeps_the_share_ref(client, wechat):
    from app.accounts.models import User
    from app.distribution import services as dist

    distributor = dist.make_distributor(db.session, factories.UserFactory(), source="merchant")
    db.session.commit()
    client.get(f"/?ref={distributor.code}", headers={"User-Agent": WECHAT_UA})
    start = client.get("/pay/wechat/oauth?next=/p/1", headers={"User-Agent": WECHAT_UA})
    assert start.status_code == 302 and start.headers["Location"].startswith(
        wechat.url + "/connect/oauth2/authorize?"
    )
    assert "scope=snsapi_base" in start.headers["Location"]
    state = start.headers["Location"].split("state=")[1].split("#")[0].split("&")[0]
    code = wechat.oauth_code_for("oNewShopperOpenId0000000001")
    back = client.get(
        f"/pay/wechat/oauth/callback?code={code}&state={state}", headers={"User-Agent": WECHAT_UA}
    )
    assert back.status_code == 302 and back.headers["Location"] == "/p/1"
    user = db.session.scalar(select(User).where(User.wechat_openid == "oNewShopperOpenId0000000001"))
    assert user is not None and user.referrer_id == distributor.user_id
    assert client.get("/me").status_code == 200  # signed in


def test_first_mode_binding_holds_through_the_wechat_oauth_round_trip(client, wechat):
    from app.accounts.models import User
    from app.distribution import services as dist
    from app.payments.wechat_hooks import TRIED_KEY

    first, later = (
        dist.make_distributor(db.session, factories.UserFactory(), source="merchant") for _ in "ab"
    )
    db.session.commit()
    with client.session_transaction() as cookie:
        cookie[TRIED_KEY] = True  # browsing as a guest first; paying will ask WeChat for the openid
    client.get(f"/?ref={first.code}", headers={"User-Agent": WECHAT_UA})
    client.get(f"/p/1?ref={later.code}", headers={"User-Agent": WECHAT_UA})
    start = client.get("/pay/wechat/oauth?next=/cart", headers={"User-Agent": WECHAT_UA})
    state = start.headers["Location"].split("state=")[1].split("#")[0].split("&")[0]
    code = wechat.oauth_code_for("oFirstModeShopper0000000001")
    client.get(f"/pay/wechat/oauth/callback?code={code}&state={state}", headers={"User-Agent": WECHAT_UA})
    user = db.session.scalar(select(User).where(User.wechat_openid == "oFirstModeShopper0000000001"))
    assert user.referrer_id == first.user_id


def wechat_only_login(client, wechat, openid: str) -> None:
    start = client.get("/pay/wechat/oauth?next=/me", headers={"User-Agent": WECHAT_UA})
    state = start.headers["Location"].split("state=")[1].split("#")[0].split("&")[0]
    code = wechat.oauth_code_for(openid)
    client.get(f"/pay/wechat/oauth/callback?code={code}&state={state}", headers={"User-Agent": WECHAT_UA})


def test_a_wechat_only_account_adds_a_mobile_number_to_log_in_outside_wechat(client, wechat):
    from app.accounts.models import User
    from tests.conftest import csrf_token

    taken = factories.UserFactory(mobile="13912345678")
    wechat_only_login(client, wechat, "oWechatOnlyOpenId000000001")
    me = client.get("/me", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert "添加手机号和密码" in me and "修改密码" not in me  # it has no password to change
    assert client.get("/me/password").headers["Location"] == "/me/mobile"
    token = csrf_token(client, "/me/mobile")

    def post(**fields):
        data = {
            "mobile": "13711112222",
            "password": "abc12345",
            "password_again": "abc12345",
            "csrf_token": token,
        }
        return client.post("/me/mobile", data={**data, **fields})

    refusals = [
        (post(mobile="12345"), "请输入有效的中国大陆手机号"),
        (post(mobile=taken.mobile), "这个手机号已有账号"),
        (post(password="12345678", password_again="12345678"), "字母和数字"),
        (post(password_again="abc12346"), "两次输入的密码不一致"),
        (post(csrf_token=""), None),
    ]
    for response, message in refusals:
        assert response.status_code in (200, 400)
        if message:
            assert message in response.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.wechat_openid == "oWechatOnlyOpenId000000001"))
    assert user.mobile is None and user.password_hash is None  # nothing changed

    done = post()
    assert done.status_code == 302 and done.headers["Location"] == "/me"
    assert client.get("/me").status_code == 200  # still signed in here
    db.session.expire_all()
    assert user.mobile == "13711112222" and user.check_password("abc12345")
    assert client.get("/me/mobile").headers["Location"] == "/me/password"  # only once

    browser = client.application.test_client()  # the phone's browser, outside WeChat
    login(browser, user, "abc12345")
    assert browser.get("/me").status_code == 200


def test_a_forged_oauth_state_signs_no_one_in(client, wechat):
    client.get("/pay/wechat/oauth?next=/", headers={"User-Agent": WECHAT_UA})
    code = wechat.oauth_code_for("oAttackerOpenId")
    client.get(f"/pay/wechat/oauth/callback?code={code}&state=forged", headers={"User-Agent": WECHAT_UA})
    assert client.get("/me").status_code == 302


# ---------------------------------------------------------------- secrets


def test_secrets_never_appear_in_logs_or_html(client, shopper, wechat, alipay_gw, caplog):
    caplog.set_level(logging.DEBUG)
    owner = factories.UserFactory(role="owner")
    w, a = wechat.settings(), alipay_gw.settings()
    secrets_ = [
        w["apiv3_key"],
        w["app_secret"],
        w["private_key"].splitlines()[5],
        a["private_key"].splitlines()[5],
    ]
    order, payment, _page = open_wechat_order(client, shopper, wechat)
    headers, body = wechat.paid_notify(payment.out_trade_no)
    client.post("/pay/notify/wechat", data=body, headers=headers)
    admin = client.application.test_client()
    login(admin, owner, admin=True)
    settings_page = admin.get("/admin/settings/payments")
    assert settings_page.status_code == 200
    pages = [settings_page.get_data(as_text=True)]
    assert "••••" + w["apiv3_key"][-4:] in pages[0]  # only a hint of what is stored
    stored = db.session.execute(select(Payment.raw_notify)).scalars().all()
    assert "wechat notify" in caplog.text  # the log is really captured (app loggers are not disabled)
    for secret in secrets_:
        assert secret not in caplog.text
        for html in pages:
            assert secret not in html
    assert stored  # the notify was kept (raw resource), and it holds no secret either
    for secret in secrets_:
        assert all(secret not in str(raw) for raw in stored)


# ---------------------------------------------------------------- share card


def test_inside_wechat_the_first_page_signs_in_silently_then_pages_carry_the_share_card(client, wechat):
    import hashlib
    import json
    import re

    from app.distribution import services as dist

    first = client.get("/", headers={"User-Agent": WECHAT_UA})
    assert first.status_code == 302 and first.headers["Location"].startswith("/pay/wechat/oauth?next=/")
    page = client.get("/", headers={"User-Agent": WECHAT_UA})  # tried once this session: no loop
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "https://res.wx.qq.com/open/js/jweixin-1.6.0.js" in html
    assert "https://res.wx.qq.com" in page.headers["Content-Security-Policy"]
    share = json.loads(re.search(r'id="wechat-share">(.*?)</script>', html).group(1))
    config = share["config"]
    expected = hashlib.sha1(
        f"jsapi_ticket=jsapi-ticket-for-tests&noncestr={config['nonceStr']}&timestamp={config['timestamp']}"
        f"&url=http://localhost/".encode()
    ).hexdigest()
    assert config["signature"] == expected and config["appId"] == APPID
    calls = wechat.token_calls
    client.get("/categories", headers={"User-Agent": WECHAT_UA})
    assert wechat.token_calls == calls  # token and ticket are cached in the database, not fetched per page

    seller = factories.UserFactory()
    seller.wechat_openid = "oSellerOpenId"
    code = dist.make_distributor(db.session, seller, source="merchant").code
    db.session.commit()
    login(client, seller)
    mine = client.get("/categories?ref=someoneelse", headers={"User-Agent": WECHAT_UA}).get_data(as_text=True)
    assert f"ref={code}" in re.search(r'id="wechat-share">(.*?)</script>', mine).group(1)


def test_outside_wechat_no_external_script_is_loaded(client):
    page = client.get("/", headers={"User-Agent": PHONE_UA})
    assert "res.wx.qq.com" not in page.get_data(as_text=True)
    assert "res.wx.qq.com" not in page.headers["Content-Security-Policy"]


def test_two_notifies_at_once_pay_once(app, shopper, wechat):
    from tests.conftest import run_together

    order, payment = unpaid_order(shopper, "wechat")
    client = app.test_client()
    login(client, shopper)
    client.get(f"/pay/wechat/{payment.out_trade_no}", headers={"User-Agent": WECHAT_UA})
    wechat.pay(payment.out_trade_no)
    notifies = [wechat.notify(wechat.transaction(wechat.orders[payment.out_trade_no])) for _ in range(2)]
    statuses = run_together(
        app,
        2,
        lambda i: (
            app.test_client()
            .post("/pay/notify/wechat", data=notifies[i][1], headers=notifies[i][0])
            .status_code
        ),
    )
    assert statuses == [204, 204]
    paid = db.session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.action == "paid")
    )
    assert len(paid.all()) == 1
    assert order_status(order.id) == OrderStatus.PAID


# ---------------------------------------------------------------- where each method is offered


def checkout_page(client, shopper, ua: str) -> str:
    product = factories.ProductFactory(skus=[{"price_fen": 3900, "stock": 5}])
    factories.AddressFactory(user=shopper)
    login(client, shopper)
    page = client.get(f"/checkout?buy={product.skus[0].id}", headers={"User-Agent": ua})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_inside_wechat_alipay_is_a_quiet_open_in_browser_row_not_a_method(client, shopper):
    html = checkout_page(client, shopper, WECHAT_UA)
    assert 'id="pm-wechat"' in html and 'id="pm-alipay"' not in html
    assert 'id="browser-guide-alipay"' in html and "在浏览器打开" in html
    assert 'type="checkbox" class="browser-guide__switch visually-hidden" id="browser-guide-alipay">' in html
    assert 'name="browser' not in html  # the guide's switch is never sent with the order


def test_outside_wechat_both_are_methods_and_there_is_no_guide(client, shopper):
    html = checkout_page(client, shopper, PHONE_UA)
    assert 'id="pm-wechat"' in html and 'id="pm-alipay"' in html
    assert "browser-guide" not in html


def test_no_guide_inside_wechat_when_the_shop_has_alipay_off(client, shopper):
    from app.payments.gateways import payment_settings

    payment_settings(db.session).alipay_enabled = False
    db.session.commit()
    html = checkout_page(client, shopper, WECHAT_UA)
    assert "browser-guide" not in html and 'id="pm-wechat"' in html


def test_wechat_pay_inside_wechat_needs_the_official_accounts_app_secret(app):
    """JSAPI needs the payer's openid, which only the official account's OAuth gives; H5 does not."""
    from app.payments.gateways import payment_settings

    provider = get_provider("wechat")
    assert provider.offered(app, db.session, in_wechat=True)
    payment_settings(db.session).wechat_app_secret_sealed = None
    db.session.commit()
    assert not provider.offered(app, db.session, in_wechat=True)
    assert provider.offered(app, db.session, in_wechat=False)  # H5 is on
    payment_settings(db.session).wechat_h5_enabled = False
    db.session.commit()
    assert not provider.offered(app, db.session, in_wechat=False)


def test_paying_inside_wechat_without_an_openid_asks_wechat_once_and_never_loops(client, wechat):
    """The shopper's account has no openid (another account holds this WeChat user's): paying goes through
    OAuth for the payer's openid and comes back to pay; if OAuth gives none, it stops with a message."""
    holder = factories.UserFactory()
    holder.wechat_openid = "oHeldByAnotherAccount"
    shopper = factories.UserFactory()
    db.session.commit()
    order, payment = unpaid_order(shopper, "wechat")
    login(client, shopper)
    pay_path = f"/pay/wechat/{payment.out_trade_no}"

    first = client.get(pay_path, headers={"User-Agent": WECHAT_UA})
    assert first.status_code == 302 and first.headers["Location"].startswith("/pay/wechat/oauth?next=")
    start = client.get(first.headers["Location"], headers={"User-Agent": WECHAT_UA})
    state = start.headers["Location"].split("state=")[1].split("#")[0].split("&")[0]
    code = wechat.oauth_code_for("oHeldByAnotherAccount")
    back = client.get(
        f"/pay/wechat/oauth/callback?code={code}&state={state}", headers={"User-Agent": WECHAT_UA}
    )
    assert back.headers["Location"] == f"{pay_path}?oauth=1"
    page = client.get(back.headers["Location"], headers={"User-Agent": WECHAT_UA})
    assert page.status_code == 200 and "data-jsapi" in page.get_data(as_text=True)
    assert wechat.orders[payment.out_trade_no]["openid"] == "oHeldByAnotherAccount"
    db.session.expire_all()
    assert db.session.get(type(shopper), shopper.id).wechat_openid is None  # not linked twice

    other = client.application.test_client()  # a session whose OAuth round trip gave nothing
    login(other, shopper)
    stuck = other.get(f"{pay_path}?oauth=1", headers={"User-Agent": WECHAT_UA})
    assert stuck.status_code == 302 and stuck.headers["Location"] == f"/orders/{order.number}"


def test_inside_wechat_forms_may_end_at_wechat_oauth(client):
    """Logging in (or paying) inside WeChat redirects on to WeChat's OAuth; browsers apply form-action to
    every hop of a form's redirects."""
    policy = client.get("/login").headers["Content-Security-Policy"]
    form_action = next(part for part in policy.split("; ") if part.startswith("form-action"))
    assert "https://open.weixin.qq.com" in form_action
    assert client.application.config["WECHAT_OPEN_BASE"] in form_action  # the fake, in these tests


def test_wechat_api_secrets_are_hidden_in_urllib3_debug_lines(app, wechat, caplog):
    """WeChat's token and OAuth APIs take the AppSecret (and the ticket API the access token) in the query
    string, and urllib3 logs every request line at DEBUG."""
    from app.payments import wechat_web

    caplog.set_level(logging.DEBUG)
    wechat_web.jsapi_ticket(db.session)
    lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert any("/cgi-bin/token?" in line and "secret=***" in line for line in lines), lines
    assert any("/cgi-bin/ticket/getticket?" in line and "access_token=***" in line for line in lines), lines
    assert wechat.settings()["app_secret"] not in caplog.text and "token-" not in caplog.text


def test_a_changed_secrets_key_switches_the_gateways_off_instead_of_breaking_the_shop(app, client, shopper):
    """The stored secrets cannot be read any more: no share card, no silent sign-in, no WeChat Pay or
    Alipay offered — and no error page — until the merchant pastes them again."""
    from cryptography.fernet import Fernet

    app.config["SECRETS_KEY"] = Fernet.generate_key().decode()
    home = client.get("/", headers={"User-Agent": WECHAT_UA})
    assert home.status_code == 200 and "res.wx.qq.com" not in home.get_data(as_text=True)
    html = checkout_page(client, shopper, WECHAT_UA)
    assert 'id="pm-wechat"' not in html and "browser-guide" not in html
    buy = html.split('name="buy" value="')[1].split('"')[0]
    html = client.get(f"/checkout?buy={buy}", headers={"User-Agent": PHONE_UA}).get_data(as_text=True)
    assert 'id="pm-wechat"' not in html and 'id="pm-alipay"' not in html
    assert reconcile(db.session)["errors"] == 0
    admin = app.test_client()
    login(admin, factories.UserFactory(role="owner"), admin=True)
    page = admin.get("/admin/settings/payments")
    assert page.status_code == 200 and "••••" not in page.get_data(as_text=True)
