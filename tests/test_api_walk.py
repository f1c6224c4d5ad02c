"""The walk of a mini-program user, in API calls only, against the fake WeChat (login, phone number, WeChat
Pay and its notify): a distributor's share → a visit → login → browse → cart → claim a coupon → quote →
an order sent twice with one Idempotency-Key (one order) → pay → notify → the commission in the
distributor's API centre. The numbers are checked against the H5 pages for the same basket and person."""

import base64
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import func, select

from app.accounts.models import User
from app.distribution import services as dist
from app.distribution.models import Commission
from app.extensions import db
from app.marketing import coupons
from app.orders.models import Order, OrderStatus
from app.payments.settings import save_payment_settings
from tests import factories
from tests.conftest import login
from tests.fakes import merchant_settings
from tests.fakes.wechat import MP_APPID, FakeWechat
from tests.test_api import API, api_login, bearer
from tests.test_shop_orders import checkout_form, form_fields

OPENID = "oMiniProgramWalker0000000001"
MOBILE = "13912340000"
HOME = {
    "recipient": "林小雨",
    "mobile": "18612345678",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园路 1 号 2 栋",
}


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url, "WECHATPAY_GATEWAY": wechat.url, "PUBLIC_URL": "http://shop.test"}


@pytest.fixture
def shop(session, wechat):
    save_payment_settings(session, merchant_settings(wechat, mini_program=True))
    coffee = factories.ProductFactory(title="云南小粒咖啡豆", skus=[{"price_fen": 8800, "stock": 20}])
    template = coupons.save_template(
        session,
        None,
        {
            "name": "满100减10",
            "kind": "amount",
            "channel": "centre",
            "value_fen": 10_00,
            "threshold_fen": 100_00,
            "total_qty": 50,
            "per_user_limit": 1,
            "scope_kind": "all",
            "valid_days": 7,
        },
    )
    seller = factories.UserFactory(nickname="小B", mobile="13800007777")
    distributor = dist.make_distributor(session, seller, source="merchant")
    session.commit()
    return coffee, template, seller, distributor


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


def test_a_mini_program_shopper_from_a_share_to_the_distributors_commission(client, session, wechat, shop):
    coffee, template, seller, distributor = shop
    sku = coffee.skus[0]

    # The distributor shares the product from the mini-program.
    seller_auth = bearer(api_login(client, seller))
    share = ok(
        client.get(f"{API}/distribution/share", query_string={"product": coffee.id}, headers=seller_auth)
    )
    path = urlsplit(share["product"]["path"])
    assert path.path == "pages/product/index"
    scene = parse_qs(path.query)["scene"][0]

    # A WeChat user opens it: anonymous first (the visit counts, the share is remembered), then logs in.
    first_visit = ok(client.post(f"{API}/visits", json={"scene": scene}))
    assert first_visit["ref"] == distributor.code and first_visit["product_id"] == coffee.id
    signed_in = ok(client.post(f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for(OPENID)}))
    assert signed_in["has_mobile"] is False
    auth = bearer(signed_in["token"])
    shopper = db.session.get(User, signed_in["user"]["id"])
    assert shopper.mp_openid == OPENID
    bound = ok(
        client.post(
            f"{API}/visits", json={"scene": scene, "remembered": first_visit["remembered"]}, headers=auth
        )
    )
    assert bound["bound"] is True, str(bound)
    # The number WeChat verified becomes the account's.
    phone = ok(
        client.post(
            f"{API}/auth/wechat-mini/phone", json={"code": wechat.mp_phone_code_for(MOBILE)}, headers=auth
        )
    )
    assert phone["merged"] is False and phone["user"]["mobile_masked"] == "139****0000"

    # Browse, cart, coupon, address.
    listed = ok(client.get(f"{API}/products", headers=auth))
    assert coffee.id in [item["id"] for item in listed["items"]]
    detail = ok(client.get(f"{API}/products/{coffee.id}", headers=auth))
    assert detail["skus"][0]["price"] == {"fen": 8800, "display": "¥88.00"}
    ok(client.post(f"{API}/cart/items", json={"sku_id": sku.id, "quantity": 2}, headers=auth))
    cart = ok(client.get(f"{API}/cart", headers=auth))
    assert [(line["sku_id"], line["quantity"]) for line in cart["lines"]] == [(sku.id, 2)]
    centre = ok(client.get(f"{API}/coupons/centre", headers=auth))["items"]
    assert [item["template_id"] for item in centre] == [template.id]
    coupon = ok(client.post(f"{API}/coupons/{template.id}/claim", headers=auth), 201)
    address = ok(client.post(f"{API}/addresses", json=HOME, headers=auth), 201)

    # The quote for the cart with the coupon.
    basket = {"cart_sku_ids": [sku.id], "coupon_id": coupon["id"], "address_id": address["id"]}
    quote = ok(client.post(f"{API}/quote", json=basket, headers=auth))
    assert quote["goods"]["fen"] == 2 * 8800 and quote["coupon"]["fen"] == 10_00
    assert quote["total"]["fen"] == 2 * 8800 - 10_00 + quote["shipping"]["fen"]

    # The same person's H5 checkout for the same basket and coupon shows the same total.
    shopper.set_password("walk-password-1")
    session.commit()
    h5 = client.application.test_client()
    login(h5, shopper, "walk-password-1")
    query = f"?sku={sku.id}"
    fields = checkout_form(h5, query)
    page = h5.get(
        f"/checkout{query}&idempotency_key={fields['idempotency_key']}&coupon={coupon['id']}"
    ).get_data(as_text=True)
    assert int(form_fields(page, "/checkout")["expected_total"]) == quote["total"]["fen"]
    # A new password ended the mini-program's token; wx.login again signs in to the same account.
    again = ok(client.post(f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for(OPENID)}))
    assert again["user"]["id"] == shopper.id and again["has_mobile"] is True
    auth = bearer(again["token"])

    # The order, sent twice with one key (a retry after a lost answer): one order.
    body = basket | {"expected_total_fen": quote["expected_total_fen"]}
    key = {"Idempotency-Key": "walk-7f3a9c1e-0001"}
    placed = ok(client.post(f"{API}/orders", json=body, headers=auth | key), 201)
    retried = ok(client.post(f"{API}/orders", json=body, headers=auth | key), 200)
    assert retried["id"] == placed["id"] and retried["number"] == placed["number"]
    orders_of = session.scalar(select(func.count()).select_from(Order).where(Order.user_id == shopper.id))
    assert orders_of == 1
    assert placed["awaits_payment"] is True and placed["payable"]["fen"] == quote["total"]["fen"]

    # Pay inside the mini-program: wx.requestPayment's parameters, signed by the merchant's key.
    paying = ok(client.post(f"{API}/orders/{placed['id']}/pay/wechat", headers=auth))
    params = paying["request_payment"]
    signed = f"{MP_APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    wechat.merchant.public.verify(
        base64.b64decode(params["paySign"]), signed, padding.PKCS1v15(), hashes.SHA256()
    )
    opened = wechat.orders[paying["out_trade_no"]]
    assert (opened["appid"], opened["openid"], opened["amount"]) == (MP_APPID, OPENID, quote["total"]["fen"])
    # WeChat takes the money and notifies the shop.
    headers, notify = wechat.paid_notify(paying["out_trade_no"])
    assert client.post("/pay/notify/wechat", data=notify, headers=headers).status_code == 204
    assert ok(client.get(f"{API}/orders/{placed['id']}/payment", headers=auth))["paid"] is True
    order = ok(client.get(f"{API}/orders/{placed['id']}", headers=auth))
    assert order["status"] == OrderStatus.PAID

    # The commission is in the distributor's API centre: the ledger's amount, as the H5 centre shows it.
    commission = session.scalars(select(Commission).where(Commission.order_id == placed["id"])).one()
    assert commission.distributor_id == distributor.id and commission.original_fen > 0
    listed = ok(client.get(f"{API}/distribution/commissions", headers=seller_auth))["items"]
    assert [(item["id"], item["state"], item["amount"]["fen"]) for item in listed] == [
        (commission.id, "frozen", commission.original_fen)
    ]
    centre = ok(client.get(f"{API}/distribution/centre", headers=seller_auth))
    assert centre["balances"]["frozen"]["fen"] == commission.original_fen
    assert centre["earnings"]["today"]["fen"] == commission.original_fen
    h5_seller = client.application.test_client()
    login(h5_seller, seller)
    h5_centre = h5_seller.get("/d").get_data(as_text=True)
    assert re.search(re.escape(centre["balances"]["frozen"]["display"]), h5_centre)
