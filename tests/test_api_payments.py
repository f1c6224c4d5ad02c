"""Paying inside the mini-program (app/api/payments.py) end to end against the fake WeChat Pay: the prepay is
opened for the mini-program's AppID and the shopper's mini-program openid, paySign verifies with the
merchant's key, the gateway pays and notifies, the order is paid once; polling sees it (and asks the gateway
when the notify is late). Refusals: another user's order, a paid order, a password-only account, WeChat Pay
or the mini-program not set up."""

import base64
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select

from app import orders
from app.accounts.models import User
from app.extensions import db
from app.orders.models import Order, OrderEvent, OrderStatus
from app.payments.settings import save_payment_settings
from tests import factories
from tests.fakes import merchant_settings
from tests.fakes.wechat import APPID, MP_APPID, FakeWechat
from tests.test_api import API, api_login, assert_error, bearer

OPENID = "oMiniProgramPayer00000000001"


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url, "WECHATPAY_GATEWAY": wechat.url, "PUBLIC_URL": "http://shop.test"}


@pytest.fixture
def mini_program(app, wechat):
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=True))
    db.session.commit()


@pytest.fixture
def payer(client, wechat, mini_program) -> tuple[User, str]:
    """A shopper signed in from the mini-program: (their account, their token)."""
    response = client.post(f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for(OPENID)})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return db.session.get(User, body["user"]["id"]), body["token"]


def unpaid_order(user, price_fen: int = 12_345) -> Order:
    product = factories.ProductFactory(skus=[{"price_fen": price_fen, "stock": 10}])
    address = factories.AddressFactory(user=user)
    order = orders.checkout.place_order(
        db.session,
        user=user,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key=f"mini-program-pay-{time.time_ns()}",
    )
    db.session.commit()
    return order


def pay(client, order_id, token):
    return client.post(f"{API}/orders/{order_id}/pay/wechat", headers=bearer(token))


def payment_state(client, order_id, token) -> dict:
    response = client.get(f"{API}/orders/{order_id}/payment", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_pay_in_the_mini_program_then_the_notify_pays_the_order_once(client, wechat, payer):
    user, token = payer
    order = unpaid_order(user)
    response = pay(client, order.id, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    params = body["request_payment"]
    assert body["app_id"] == MP_APPID and body["amount"] == {"fen": 12_345, "display": "¥123.45"}
    assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA"
    message = f"{MP_APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    wechat.merchant.public.verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )
    opened = wechat.orders[body["out_trade_no"]]
    assert (opened["appid"], opened["openid"], opened["amount"]) == (MP_APPID, OPENID, 12_345)

    waiting = payment_state(client, order.id, token)  # the gateway is asked: not paid yet
    assert (waiting["state"], waiting["paid"], waiting["payment"]["status"]) == ("waiting", False, "pending")
    assert waiting["payment"]["out_trade_no"] == body["out_trade_no"] == f"{order.number}P01"
    # Opening it again reuses the attempt.
    assert pay(client, order.id, token).get_json()["out_trade_no"] == body["out_trade_no"]

    headers, notify = wechat.paid_notify(body["out_trade_no"])
    assert client.post("/pay/notify/wechat", data=notify, headers=headers).status_code == 204
    assert client.post("/pay/notify/wechat", data=notify, headers=headers).status_code == 204  # a retry
    paid = payment_state(client, order.id, token)
    assert (paid["state"], paid["paid"], paid["order_status"]) == ("paid", True, OrderStatus.PAID)
    assert paid["payment"]["status"] == "succeeded" and paid["payment"]["id"] == body["payment_id"]
    events = db.session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.action == "paid")
    )
    assert len(events.all()) == 1
    assert_error(pay(client, order.id, token), 409, "order_not_payable")


def test_a_notify_for_an_appid_not_the_shops_is_refused(client, wechat, payer):
    user, token = payer
    order = unpaid_order(user)
    out_trade_no = pay(client, order.id, token).get_json()["out_trade_no"]
    resource = wechat.transaction(wechat.pay(out_trade_no)) | {"appid": "wx7777777777777777"}
    headers, notify = wechat.notify(resource)
    assert client.post("/pay/notify/wechat", data=notify, headers=headers).status_code == 400
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.PENDING_PAYMENT


def test_a_late_notify_is_not_waited_for_polling_asks_the_gateway(client, wechat, payer):
    user, token = payer
    order = unpaid_order(user)
    out_trade_no = pay(client, order.id, token).get_json()["out_trade_no"]
    wechat.pay(out_trade_no)  # paid at the gateway; the notify has not come
    assert payment_state(client, order.id, token)["state"] == "paid"
    db.session.expire_all()
    assert db.session.get(Order, order.id).status == OrderStatus.PAID
    headers, notify = wechat.notify(wechat.transaction(wechat.orders[out_trade_no]))
    assert client.post("/pay/notify/wechat", data=notify, headers=headers).status_code == 204  # then it comes
    paid = db.session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id, OrderEvent.action == "paid")
    )
    assert len(paid.all()) == 1


def test_another_users_order_is_not_found(client, wechat, payer):
    _user, token = payer
    someone = factories.UserFactory()
    db.session.commit()
    theirs = unpaid_order(someone)
    assert_error(pay(client, theirs.id, token), 404, "not_found")
    assert_error(client.get(f"{API}/orders/{theirs.id}/payment", headers=bearer(token)), 404, "not_found")
    assert_error(pay(client, 2**31 - 1, token), 404, "not_found")
    assert_error(client.post(f"{API}/orders/{theirs.id}/pay/wechat"), 401, "unauthorized")
    assert_error(client.get(f"{API}/orders/{theirs.id}/payment"), 401, "unauthorized")
    assert not theirs.payments


def test_a_password_only_account_needs_the_wechat_login(client, wechat, mini_program):
    shopper = factories.UserFactory(mobile="13800001111")
    db.session.commit()
    order = unpaid_order(shopper)
    token = api_login(client, shopper)
    error = assert_error(pay(client, order.id, token), 409, "needs_wechat_login")
    assert "微信登录" in error["message"]
    assert payment_state(client, order.id, token)["payment"] is None  # no attempt was opened


def test_a_cancelled_order_cannot_be_paid(client, wechat, payer):
    user, token = payer
    order = unpaid_order(user)
    orders.transitions.shopper_cancel(db.session, order, user)
    db.session.commit()
    assert_error(pay(client, order.id, token), 409, "order_not_payable")
    assert payment_state(client, order.id, token)["state"] == "cancelled"


def test_without_wechat_pay_or_the_mini_program_it_is_unavailable(client, wechat, payer):
    user, token = payer
    order = unpaid_order(user)
    settings = merchant_settings(wechat, mini_program=True)
    settings.wechat_enabled = False
    save_payment_settings(db.session, settings)
    db.session.commit()
    assert_error(pay(client, order.id, token), 503, "wechat_pay_off")
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=False))
    db.session.commit()
    assert_error(pay(client, order.id, token), 503, "mini_program_off")
    assert not wechat.orders.get(f"{order.number}P01")


def test_the_h5_jsapi_still_opens_for_the_official_accounts_appid(app, wechat, payer):
    from app.payments import get_provider
    from app.payments.services import start_payment

    user, _token = payer
    order = unpaid_order(user)
    payment = start_payment(db.session, order, "wechat", user=user)
    db.session.commit()
    with app.test_request_context():
        params = get_provider("wechat").jsapi(db.session, order, payment, "oOfficialAccount000000000001")
    assert params.appId == APPID
    assert wechat.orders[payment.out_trade_no]["appid"] == APPID


def test_an_attempt_opened_in_h5_is_not_reused_for_the_mini_program(app, client, wechat, payer):
    """WeChat Pay refuses one out_trade_no for two AppIDs: the mini-program opens an attempt of its own
    when the H5 shop (the official account's AppID) opened one, and each keeps reusing its own."""
    from app.payments import get_provider
    from app.payments.services import start_payment

    user, token = payer
    order = unpaid_order(user)
    h5 = start_payment(db.session, order, "wechat", user=user)
    db.session.commit()
    with app.test_request_context():
        get_provider("wechat").jsapi(db.session, order, h5, "oOfficialAccount000000000001")
    assert wechat.orders[h5.out_trade_no]["appid"] == APPID
    response = pay(client, order.id, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    mini = response.get_json()["out_trade_no"]
    assert mini == f"{order.number}P02" and wechat.orders[mini]["appid"] == MP_APPID
    assert pay(client, order.id, token).get_json()["out_trade_no"] == mini
    db.session.expire_all()
    order = db.session.get(Order, order.id)
    assert start_payment(db.session, order, "wechat", user=order.user).out_trade_no == h5.out_trade_no
    db.session.rollback()
    # Whichever is paid pays the order; the notify names the mini-program's AppID.
    headers, notify = wechat.paid_notify(mini)
    assert client.post("/pay/notify/wechat", data=notify, headers=headers).status_code == 204
    assert payment_state(client, order.id, token)["paid"] is True
