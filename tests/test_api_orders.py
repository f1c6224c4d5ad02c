"""The API's cart, quote, addresses and orders (app/api/cart.py, addresses.py, orders.py): the H5 shop's
rules and numbers through the same services, an order placed once per Idempotency-Key (also when two
requests race on PostgreSQL), and nobody else's address or order."""

import re

import pytest
from sqlalchemy import func, select

from app.catalog.models import Sku
from app.marketing import campaigns, coupons, members, points
from app.marketing.models import Coupon, MarketingSettings, MemberLevel
from app.orders import transitions
from app.orders.idempotency import ApiIdempotencyKey
from app.orders.models import Address, Order, OrderStatus
from app.settings.models import ShopSettings
from tests import factories
from tests.conftest import login, run_together
from tests.test_api import API, api_login, assert_error, bearer
from tests.test_one_price import PRICE_RE, fen
from tests.test_shop_orders import checkout_form, form_fields

KEY = {"Idempotency-Key": "order-0001"}


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13800002222")


@pytest.fixture
def other(app):
    return factories.UserFactory(mobile="13800003333")


@pytest.fixture
def auth(client, shopper):
    return bearer(api_login(client, shopper))


@pytest.fixture
def tee(app):
    return factories.ProductFactory(
        title="纯棉T恤",
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"spec_values": ["红"], "price_fen": 5900, "stock": 5},
            {"spec_values": ["蓝"], "price_fen": 6900, "stock": 2},
        ],
    )


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def stock_of(session, sku_id) -> int:
    session.expire_all()
    return session.get(Sku, sku_id).stock


# ---------------------------------------------------------------- cart


def test_the_cart_adds_changes_and_removes_lines(client, session, shopper, auth, tee):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800, free_shipping_over_fen=200_00))
    session.commit()
    red, blue = tee.skus
    assert client.get(f"{API}/cart", headers=auth).get_json()["lines"] == []
    body = client.post(f"{API}/cart/items", json={"sku_id": red.id, "quantity": 2}, headers=auth).get_json()
    body = client.post(f"{API}/cart/items", json={"sku_id": blue.id}, headers=auth).get_json()
    assert [(line["id"], line["quantity"]) for line in body["lines"]] == [(blue.id, 1), (red.id, 2)]
    line = body["lines"][1]
    assert line["sku_values"] == ["红"] and line["unit_price"] == {"fen": 5900, "display": "¥59.00"}
    assert line["available"] and line["max_quantity"] == 5 and line["problems"] == []
    assert body["count"] == 3
    totals = body["totals"]
    assert (totals["goods"]["fen"], totals["shipping"]["fen"], totals["total"]["fen"]) == (18700, 800, 19500)
    assert totals["free_shipping_gap"]["fen"] == 200_00 - 18700
    # Adding again adds to the line; PATCH sets it; DELETE removes it.
    body = client.post(f"{API}/cart/items", json={"sku_id": red.id, "quantity": 1}, headers=auth).get_json()
    assert {line["id"]: line["quantity"] for line in body["lines"]}[red.id] == 3
    response = client.patch(f"{API}/cart/items/{red.id}", json={"quantity": 4}, headers=auth)
    assert {line["id"]: line["quantity"] for line in response.get_json()["lines"]}[red.id] == 4
    response = client.delete(f"{API}/cart/items/{blue.id}", headers=auth)
    assert [line["id"] for line in response.get_json()["lines"]] == [red.id]
    # The H5 cart shows the same cart.
    login(client, shopper)
    html = client.get("/cart").get_data(as_text=True)
    assert "纯棉T恤" in html and "¥236.00" in html  # 4 × ¥59.00


def test_the_cart_refuses_what_the_h5_cart_refuses(client, session, auth, tee):
    red, blue = tee.skus
    off = factories.ProductFactory(is_on_shelf=False)
    session.commit()

    def add_item(body):
        return client.post(f"{API}/cart/items", json=body, headers=auth)

    assert "quantity" in assert_error(add_item({"sku_id": red.id, "quantity": 0}), 422, "invalid")["fields"]
    assert "quantity" in assert_error(add_item({"sku_id": red.id, "quantity": -3}), 422, "invalid")["fields"]
    error = assert_error(add_item({"sku_id": red.id, "quantity": 10**9}), 422, "invalid")
    assert "999" in error["fields"]["quantity"]
    assert_error(add_item({"sku_id": red.id, "quantity": 10**15}), 422, "invalid")  # past the schema
    error = assert_error(add_item({"sku_id": blue.id, "quantity": 3}), 422, "invalid")
    assert "2" in error["fields"]["quantity"]  # only 2 left
    assert "sku_id" in assert_error(add_item({"sku_id": 2**31 - 1}), 422, "invalid")["fields"]
    assert "sku_id" in assert_error(add_item({"sku_id": off.skus[0].id}), 422, "invalid")["fields"]
    assert_error(add_item({"sku_id": "x"}), 422, "invalid")
    assert client.get(f"{API}/cart", headers=auth).get_json()["lines"] == []
    # A line not in the cart.
    assert_error(client.patch(f"{API}/cart/items/{red.id}", json={"quantity": 1}, headers=auth), 404)
    assert_error(client.delete(f"{API}/cart/items/{red.id}", headers=auth), 404)
    add_item({"sku_id": red.id, "quantity": 1})
    error = assert_error(
        client.patch(f"{API}/cart/items/{red.id}", json={"quantity": 6}, headers=auth), 422, "invalid"
    )
    assert "5" in error["fields"]["quantity"]
    # A product taken off the shelf stays in the cart, marked.
    red.product.is_on_shelf = False
    session.commit()
    line = client.get(f"{API}/cart", headers=auth).get_json()["lines"][0]
    assert not line["available"] and line["problems"] and line["max_quantity"] == 0
    assert_error(client.get(f"{API}/cart"), 401, "unauthorized")


# ---------------------------------------------------------------- quote


def offers_shop(session, shopper):
    """A shop with a member level, a 限时折扣, a 满减, a coupon the shopper holds and 777 points."""
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800, free_shipping_over_fen=300_00))
    session.add(MemberLevel(name="银卡", growth_threshold=0, discount_bp=9500))
    session.commit()
    factories.AddressFactory(user=shopper)
    tee = factories.ProductFactory(title="T恤", skus=[{"price_fen": 3333, "stock": 10}])
    mug = factories.ProductFactory(title="杯子", skus=[{"price_fen": 1999, "stock": 10}])
    factories.running_discount(session, campaigns.ItemDraft(mug.skus[0].id, discount_bp=8000))
    factories.running_reduction(
        session, campaigns.TierDraft(60_00, reduce_fen=7_00), name="满60减7", include_activity=True
    )
    template = coupons.save_template(
        session, None,
        {"name": "满50减5", "kind": "amount", "channel": "centre", "value_fen": 5_00, "threshold_fen": 50_00,
         "total_qty": 0, "per_user_limit": 1, "scope_kind": "all", "include_activity": True, "valid_days": 3},
    )  # fmt: skip
    coupon = coupons.claim(session, shopper.id, template.id)
    members.add_growth(session, shopper.id, 10, "adjust")
    points.add_points(session, shopper.id, 777, "adjust")
    session.commit()
    return tee.skus[0], mug.skus[0], coupon


def test_the_quote_is_the_h5_checkouts_with_a_coupon_a_level_and_points(client, session, shopper, auth):
    tee, mug, coupon = offers_shop(session, shopper)
    for sku, qty in ((tee, 2), (mug, 1)):
        client.post(f"{API}/cart/items", json={"sku_id": sku.id, "quantity": qty}, headers=auth)

    body = {"cart_sku_ids": [tee.id, mug.id], "use_points": True}
    quote = client.post(f"{API}/quote", json=body, headers=auth)
    assert quote.status_code == 200, quote.get_data(as_text=True)
    quote = quote.get_json()
    # The H5 checkout page for the same basket, coupon and points switch.
    login(client, shopper)
    query = f"?sku={tee.id}&sku={mug.id}"
    fields = checkout_form(client, query)
    assert fields["coupon"] == str(coupon.id) == str(quote["coupon_id"])  # the best coupon, both
    page = client.get(
        f"/checkout{query}&idempotency_key={fields['idempotency_key']}&coupon={coupon.id}&use_points=y"
    ).get_data(as_text=True)
    h5_total = fen(re.search(r'submit-bar__sum">[^<]*<span class="price price_big">' + PRICE_RE, page)[1])
    h5_fields = form_fields(page, "/checkout")
    assert quote["total"]["fen"] == h5_total == int(h5_fields["expected_total"])
    assert quote["expected_total_fen"] == h5_total
    assert str(quote["points"]["used"]) == h5_fields["points"] == "777"
    for row in quote["amount_rows"]:  # every row of the H5 price story, with the same amount
        assert row["label"] in page and row["amount"]["display"] in page, row
    # The numbers themselves: level 95%, mug at 80%, 满60减7, the coupon's ¥5, 777 points, shipping.
    assert {d["kind"]: d["amount"]["fen"] for d in quote["discounts"]} == {
        "activity": 1999 - 1599,
        "member": 2 * (3333 - 3166),
        "full_reduction": 700,
        "coupon": 500,
        "points": 777,
    }
    assert quote["shipping"]["fen"] == 800
    assert quote["total"]["fen"] == 2 * 3166 + 1599 - 700 - 500 - 777 + 800
    kinds = {line["sku_id"]: line["unit_kind"] for line in quote["lines"]}
    assert kinds == {tee.id: "member", mug.id: "activity"}
    assert sum(line["paid"]["fen"] for line in quote["lines"]) + 800 == quote["total"]["fen"]
    assert [(c["id"], c["chosen"], c["description"]) for c in quote["coupons"]] == [
        (coupon.id, True, "满 ¥50.00 减 ¥5.00")
    ]
    assert quote["points"]["balance"] == 777 and quote["points"]["usable"] == 777
    assert quote["address"]["recipient"] == "张三" and quote["can_submit"]
    # Without the coupon, and without points: as the picker's 不使用 and the switch off.
    plain = client.post(
        f"{API}/quote", json={"cart_sku_ids": [tee.id, mug.id], "no_coupon": True}, headers=auth
    ).get_json()
    assert plain["coupon_id"] is None and plain["points"]["used"] == 0
    assert plain["total"]["fen"] == quote["total"]["fen"] + 500 + 777


def test_the_quote_refuses_bad_baskets(client, session, shopper, other, auth, tee):
    red, blue = tee.skus
    theirs = coupons.save_template(
        session, None,
        {"name": "无门槛5元", "kind": "amount", "channel": "centre", "value_fen": 5_00, "threshold_fen": 0,
         "total_qty": 0, "per_user_limit": 1, "scope_kind": "all", "include_activity": True, "valid_days": 3},
    )  # fmt: skip
    foreign = coupons.claim(session, other.id, theirs.id)
    big = coupons.save_template(
        session, None,
        {"name": "满1000减100", "kind": "amount", "channel": "centre", "value_fen": 100_00,
         "threshold_fen": 1000_00, "total_qty": 0, "per_user_limit": 1, "scope_kind": "all",
         "include_activity": True, "valid_days": 3},
    )  # fmt: skip
    mine = coupons.claim(session, shopper.id, big.id)
    points.add_points(session, shopper.id, 50, "adjust")
    session.commit()

    def quote(body):
        return client.post(f"{API}/quote", json=body, headers=auth)

    one = {"items": [{"sku_id": red.id, "quantity": 1}]}
    assert quote(one).status_code == 200
    assert "coupon_id" in assert_error(quote(one | {"coupon_id": foreign.id}), 422, "invalid")["fields"]
    assert "coupon_id" in assert_error(quote(one | {"coupon_id": mine.id}), 422, "invalid")["fields"]
    assert "coupon_id" in assert_error(quote(one | {"coupon_id": 2**31 - 1}), 422, "invalid")["fields"]
    assert_error(quote({"items": [{"sku_id": 2**31 - 1, "quantity": 1}]}), 422, "unavailable")
    assert_error(quote({"items": [{"sku_id": blue.id, "quantity": 3}]}), 409, "out_of_stock")
    assert_error(quote({"items": [{"sku_id": red.id, "quantity": 0}]}), 422, "invalid")
    assert_error(quote({"items": [{"sku_id": red.id, "quantity": 1000}]}), 422, "invalid")
    assert_error(quote({"items": []}), 422, "empty_basket")
    assert_error(quote({}), 422, "empty_basket")  # an empty cart
    twice = {"items": [{"sku_id": red.id, "quantity": 1}, {"sku_id": red.id, "quantity": 2}]}
    assert_error(quote(twice), 422, "invalid")
    assert_error(quote(one | {"points": -1, "use_points": True}), 422, "invalid")
    assert_error(quote(one | {"address_id": 2**31 - 1}), 422, "invalid")
    assert_error(quote(one | {"flash_item_id": 1, "items": None}), 422, "invalid")
    # Asking for more points than one has is not an error on H5 either: the quote says what is used.
    body = quote(one | {"use_points": True, "points": 10**9}).get_json()
    assert body["points"]["used"] == 50 and body["points_fen"]["fen"] == 50
    assert_error(client.post(f"{API}/quote", json=one), 401)


# ---------------------------------------------------------------- addresses

HOME = {
    "recipient": "李四",
    "mobile": "13912345678",
    "province": "广东省",
    "city": "深圳市",
    "district": "南山区",
    "detail": "科技园路 1 号 2 栋",
}


def test_addresses_are_kept_with_the_h5_rules(client, session, auth):
    first = client.post(f"{API}/addresses", json=HOME, headers=auth)
    assert first.status_code == 201, first.get_data(as_text=True)
    first = first.get_json()
    assert first["is_default"] and first["district_code"] == "440305"  # the first one is the default
    assert first["region"] == "广东省 深圳市 南山区"
    second = client.post(
        f"{API}/addresses", json={"recipient": "王五", "mobile": "13712345678", "district_code": "110105",
                                  "detail": "朝阳路 8 号"}, headers=auth,
    ).get_json()  # fmt: skip
    assert (second["province"], second["district"], second["is_default"]) == ("北京市", "朝阳区", False)
    made = client.post(f"{API}/addresses/{second['id']}/default", headers=auth).get_json()
    assert made["is_default"]
    listed = client.get(f"{API}/addresses", headers=auth).get_json()
    assert [(a["id"], a["is_default"]) for a in listed["items"]] == [
        (second["id"], True),
        (first["id"], False),
    ]
    changed = client.put(f"{API}/addresses/{first['id']}", json=HOME | {"recipient": "李四四"}, headers=auth)
    assert changed.get_json()["recipient"] == "李四四"
    assert client.get(f"{API}/addresses/{first['id']}", headers=auth).get_json()["recipient"] == "李四四"
    assert client.delete(f"{API}/addresses/{first['id']}", headers=auth).get_json() == {"ok": True}
    assert_error(client.get(f"{API}/addresses/{first['id']}", headers=auth), 404, "not_found")
    # Every mistake of one request at once, in the H5 form's words.
    bad = {
        "recipient": "",
        "mobile": "123",
        "province": "广东省",
        "city": "北京市",
        "district": "",
        "detail": "x",
    }
    error = assert_error(client.post(f"{API}/addresses", json=bad, headers=auth), 422, "invalid")
    assert set(error["fields"]) == {"recipient", "mobile", "district", "detail"}
    wrong = HOME | {"district": "朝阳区"}
    assert (
        "district" in assert_error(client.post(f"{API}/addresses", json=wrong, headers=auth), 422)["fields"]
    )
    assert_error(client.post(f"{API}/addresses", json={"recipient": "x"}, headers=auth), 422, "invalid")


def test_another_shoppers_address_is_not_found(client, session, other, auth):
    theirs = factories.AddressFactory(user=other)
    session.commit()
    path = f"{API}/addresses/{theirs.id}"
    assert_error(client.get(path, headers=auth), 404, "not_found")
    assert_error(client.put(path, json=HOME, headers=auth), 404, "not_found")
    assert_error(client.delete(path, headers=auth), 404, "not_found")
    assert_error(client.post(f"{path}/default", headers=auth), 404, "not_found")
    assert_error(client.get(f"{API}/addresses/{2**31 - 1}", headers=auth), 404, "not_found")
    assert client.get(f"{API}/addresses", headers=auth).get_json()["items"] == []
    session.refresh(theirs)
    assert (theirs.recipient, theirs.is_deleted, theirs.is_default) == ("张三", False, True)


# ---------------------------------------------------------------- orders


def place(client, auth, body, key="order-0001"):
    return client.post(f"{API}/orders", json=body, headers=auth | {"Idempotency-Key": key})


def test_an_order_is_placed_once_per_idempotency_key(client, session, shopper, auth):
    tee, mug, coupon = offers_shop(session, shopper)
    address = session.scalars(select(Address)).one()
    body = {"items": [{"sku_id": tee.id, "quantity": 2}], "address_id": address.id, "use_points": True}
    quote = client.post(f"{API}/quote", json=body, headers=auth).get_json()
    body["expected_total_fen"] = quote["total"]["fen"]
    first = place(client, auth, body)
    assert first.status_code == 201, first.get_data(as_text=True)
    order = first.get_json()
    assert order["total"] == quote["total"] and order["status"] == "pending_payment"
    assert order["awaits_payment"] and order["payable"] == quote["total"] and order["pay_before"]
    assert order["status_label"] == "待付款" and set(order["actions"]) == {"pay", "cancel"}
    assert (
        order["coupon"]["fen"] == quote["coupon"]["fen"] and order["points_used"] == quote["points"]["used"]
    )
    assert order["address"]["recipient"] == "张三"
    assert [row["amount"] for row in order["amount_rows"]] == [row["amount"] for row in quote["amount_rows"]]
    assert stock_of(session, tee.id) == 8
    assert session.get(Coupon, coupon.id).status == "used"
    # The retry: the same order, nothing new.
    again = place(client, auth, body)
    assert again.status_code == 200 and again.get_json() == order
    assert count(session, Order) == 1 and count(session, ApiIdempotencyKey) == 1
    assert (
        stock_of(session, tee.id) == 8 and points.balance(session, shopper.id) == 777 - order["points_used"]
    )
    # The same key with another body; no key; a bad key.
    other_body = body | {"buyer_note": "请尽快发货"}
    assert_error(place(client, auth, other_body), 409, "idempotency_conflict")
    assert_error(client.post(f"{API}/orders", json=body, headers=auth), 400, "idempotency_key_missing")
    for bad in ("", "x" * 65, "订单一", "a\tb"):
        response = client.post(f"{API}/orders", json=body, headers=auth | {"Idempotency-Key": bad})
        assert_error(response, 400)
    assert count(session, Order) == 1
    # Another key is another order (the coupon is used now: the best is none, and the total moves).
    second = place(client, auth, body | {"expected_total_fen": None}, key="order-0002")
    assert second.status_code == 201 and second.get_json()["id"] != order["id"]
    assert count(session, Order) == 2


def test_placing_refuses_what_h5_checkout_refuses(client, session, shopper, other, auth, tee):
    red, blue = tee.skus
    mine = factories.AddressFactory(user=shopper)
    theirs = factories.AddressFactory(user=other)
    session.commit()
    one = {"items": [{"sku_id": red.id, "quantity": 1}], "address_id": mine.id}
    cases = [
        (one | {"address_id": theirs.id}, 422, "invalid"),
        ({"items": [{"sku_id": blue.id, "quantity": 3}], "address_id": mine.id}, 409, "out_of_stock"),
        ({"items": [{"sku_id": 2**31 - 1, "quantity": 1}], "address_id": mine.id}, 422, "unavailable"),
        (one | {"expected_total_fen": 1}, 409, "price_changed"),
        (one | {"coupon_id": 12345}, 422, "invalid"),
        ({"address_id": mine.id}, 422, "empty_basket"),
        ({"items": [{"sku_id": red.id, "quantity": 1}]}, 422, "invalid"),  # no address
    ]
    for index, (body, status, code) in enumerate(cases):
        assert_error(place(client, auth, body, key=f"bad-{index}"), status, code)
    assert count(session, Order) == 0 and count(session, ApiIdempotencyKey) == 0
    assert stock_of(session, red.id) == 5
    # A refused key may be used again once the request is right.
    assert place(client, auth, one, key="bad-0").status_code == 201


def test_my_orders_list_detail_cancel_and_confirm_receipt(client, session, shopper, auth, tee):
    red, blue = tee.skus
    address = factories.AddressFactory(user=shopper)
    session.commit()
    ids = []
    for index in range(3):
        body = {"items": [{"sku_id": red.id, "quantity": 1}], "address_id": address.id}
        ids.append(place(client, auth, body, key=f"k-{index}").get_json()["id"])
    page = client.get(f"{API}/orders?per_page=2", headers=auth).get_json()
    assert [o["id"] for o in page["items"]] == ids[::-1][:2] and (page["pages"], page["total"]) == (2, 3)
    assert [
        o["id"] for o in client.get(f"{API}/orders?page=2&per_page=2", headers=auth).get_json()["items"]
    ] == [ids[0]]
    # Cancel one (its stock comes back); cancelling again is a state error.
    assert stock_of(session, red.id) == 2
    cancelled = client.post(f"{API}/orders/{ids[0]}/cancel", headers=auth).get_json()
    assert cancelled["status"] == "cancelled" and cancelled["status_label"] == "已取消"
    assert not cancelled["awaits_payment"] and cancelled["payable"]["fen"] == 0 and cancelled["actions"] == []
    assert stock_of(session, red.id) == 3
    error = assert_error(client.post(f"{API}/orders/{ids[0]}/cancel", headers=auth), 409, "wrong_state")
    assert "未付款" in error["message"] or "待付款" in error["message"] or error["message"]
    assert_error(client.post(f"{API}/orders/{ids[1]}/confirm-receipt", headers=auth), 409, "wrong_state")
    # Paid and shipped: receipt can be confirmed, not cancelled.
    order = session.get(Order, ids[1])
    transitions.mark_paid(session, order, method="sandbox")
    staff = factories.UserFactory(role="staff")
    transitions.ship_order(session, order, actor=staff, carrier="顺丰速运", tracking_no="SF1234567890")
    session.commit()
    detail = client.get(f"{API}/orders/{ids[1]}", headers=auth).get_json()
    assert detail["status"] == "shipped" and "receive" in detail["actions"]
    assert detail["tracking"]["tracking_no"] == "SF1234567890"
    assert_error(client.post(f"{API}/orders/{ids[1]}/cancel", headers=auth), 409, "wrong_state")
    done = client.post(f"{API}/orders/{ids[1]}/confirm-receipt", headers=auth).get_json()
    assert done["status"] == "completed" and done["completed_at"]
    tabs = {
        tab: [o["id"] for o in client.get(f"{API}/orders?tab={tab}", headers=auth).get_json()["items"]]
        for tab in ("unpaid", "done", "to_ship")
    }
    assert tabs == {"unpaid": [ids[2]], "done": [ids[1]], "to_ship": []}
    assert_error(client.get(f"{API}/orders?tab=nope", headers=auth), 422, "invalid")


def test_another_shoppers_order_is_not_found(client, session, shopper, other, tee):
    address = factories.AddressFactory(user=shopper)
    session.commit()
    mine = bearer(api_login(client, shopper))
    body = {"items": [{"sku_id": tee.skus[0].id, "quantity": 1}], "address_id": address.id}
    order_id = place(client, mine, body).get_json()["id"]
    theirs = bearer(api_login(client, other))
    for method, path in (
        ("get", f"{API}/orders/{order_id}"),
        ("post", f"{API}/orders/{order_id}/cancel"),
        ("post", f"{API}/orders/{order_id}/confirm-receipt"),
        ("get", f"{API}/orders/{2**31 - 1}"),
    ):
        assert_error(getattr(client, method)(path, headers=theirs), 404, "not_found")
    assert client.get(f"{API}/orders", headers=theirs).get_json()["items"] == []
    # The other shopper's own key of the same name is their own.
    other_address = factories.AddressFactory(user=other)
    session.commit()
    response = place(client, theirs, body | {"address_id": other_address.id})
    assert response.status_code == 201 and response.get_json()["id"] != order_id
    assert session.get(Order, order_id).status == OrderStatus.PENDING_PAYMENT


def test_two_requests_with_one_key_at_once_place_one_order(pg_app):
    from app.extensions import db

    shopper = factories.UserFactory(mobile="13800004444")
    tee = factories.ProductFactory(skus=[{"price_fen": 5000, "stock": 10}])
    address = factories.AddressFactory(user=shopper)
    db.session.commit()
    token = api_login(pg_app.test_client(), shopper)
    body = {"items": [{"sku_id": tee.skus[0].id, "quantity": 1}], "address_id": address.id}

    def work(_i):
        response = place(pg_app.test_client(), bearer(token), body, key="same-key")
        return response.status_code, response.get_json()

    results = run_together(pg_app, 2, work)
    assert sorted(status for status, _body in results) == [200, 201], results
    assert results[0][1]["id"] == results[1][1]["id"]
    assert count(db.session, Order) == 1 and count(db.session, ApiIdempotencyKey) == 1
    assert stock_of(db.session, tee.skus[0].id) == 9


# ---------------------------------------------------------------- 秒杀


def test_a_flash_item_is_quoted_and_ordered_at_its_price_and_answers_snapped_up(
    client, session, shopper, auth
):
    from tests.test_flash import flash_session

    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=0, order_expire_minutes=30))
    session.add(MarketingSettings(id=1))
    session.commit()
    address = factories.AddressFactory(user=shopper)
    tee = factories.ProductFactory(title="T恤", skus=[{"price_fen": 100_00, "stock": 20}])
    item = flash_session(session, tee.skus[0], stock=1)
    body = {"items": [{"sku_id": tee.skus[0].id, "quantity": 1}], "flash_item_id": item.id}
    quote = client.post(f"{API}/quote", json=body, headers=auth).get_json()
    assert quote["total"]["fen"] == 10_00 and quote["lines"][0]["activity"] == "flash"
    assert quote["pay_minutes"] <= 30
    two = body | {"items": [{"sku_id": tee.skus[0].id, "quantity": 2}]}
    assert_error(place(client, auth, two | {"address_id": address.id}, key="f-0"), 422)  # 1 per customer
    order = place(client, auth, body | {"address_id": address.id}, key="f-1")
    assert order.status_code == 201, order.get_data(as_text=True)
    assert order.get_json()["total"]["fen"] == 10_00
    # Gone now: another shopper is told 已抢光, and the buyer is sent to pay the unpaid one.
    assert_error(client.post(f"{API}/quote", json=body, headers=auth), 409, "unpaid_flash_order")
    stranger = factories.UserFactory(mobile="13800005555")
    theirs = factories.AddressFactory(user=stranger)
    session.commit()
    them = bearer(api_login(client, stranger))
    error = assert_error(place(client, them, body | {"address_id": theirs.id}, key="f-2"), 409, "sold_out")
    assert error["message"] == "已抢光"
    assert count(session, Order) == 1


def test_an_order_from_the_cart_takes_the_ticked_lines_out_of_it(client, session, shopper, auth, tee):
    red, blue = tee.skus
    address = factories.AddressFactory(user=shopper)
    session.commit()
    for sku in (red, blue):
        client.post(f"{API}/cart/items", json={"sku_id": sku.id, "quantity": 1}, headers=auth)
    response = place(client, auth, {"cart_sku_ids": [red.id], "address_id": address.id})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert [line["sku_id"] for line in response.get_json()["lines"]] == [red.id]
    assert [line["id"] for line in client.get(f"{API}/cart", headers=auth).get_json()["lines"]] == [blue.id]
    assert (stock_of(session, red.id), stock_of(session, blue.id)) == (4, 2)


# ---------------------------------------------------------------- 拼团


def test_a_group_is_opened_at_the_group_price_and_a_full_group_refuses_to_be_joined(client, session):
    from tests.test_groups import buy, group_of, make_group_buy, open_group, pay, people

    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=0, order_expire_minutes=30))
    session.commit()
    sku = factories.ProductFactory(title="T恤", skus=[{"price_fen": 100_00, "stock": 20}]).skus[0]
    activity = make_group_buy(session, sku, price_fen=59_00, size=2)
    leader, friend, late = people(3)
    headers = bearer(api_login(client, late))
    late_address = session.scalars(select(Address).where(Address.user_id == late.id)).one().id
    alone = {"items": [{"sku_id": sku.id, "quantity": 1}], "address_id": late_address}
    assert client.post(f"{API}/quote", json=alone, headers=headers).get_json()["total"]["fen"] == 100_00
    grouped = alone | {"group_buy_id": activity.id}
    assert client.post(f"{API}/quote", json=grouped, headers=headers).get_json()["total"]["fen"] == 59_00
    # Join a group that fills meanwhile: refused, nothing written.
    _order, group = open_group(session, leader, sku, activity)
    joining = alone | {"group_id": group.id}
    assert client.post(f"{API}/quote", json=joining, headers=headers).get_json()["total"]["fen"] == 59_00
    pay(session, buy(session, friend, sku, group=group.id))
    before = count(session, Order)
    error = assert_error(place(client, headers, joining, key="g-1"), 409, "group_refused")
    assert "满员" in error["message"]
    assert_error(place(client, headers, alone | {"group_id": 2**31 - 1}, key="g-2"), 409, "group_refused")
    assert count(session, Order) == before
    # Opening one's own group at the group price.
    opened = place(client, headers, grouped, key="g-3")
    assert opened.status_code == 201, opened.get_data(as_text=True)
    assert opened.get_json()["total"]["fen"] == 59_00
    assert group_of(session, session.get(Order, opened.get_json()["id"])) is not None


def test_a_cart_line_gone_from_sale_is_not_bought_when_named(client, session, shopper, auth, tee):
    red, blue = tee.skus
    address = factories.AddressFactory(user=shopper)
    session.commit()
    for sku in (red, blue):
        client.post(f"{API}/cart/items", json={"sku_id": sku.id, "quantity": 1}, headers=auth)
    blue.stock = 0
    session.commit()
    quote = client.post(f"{API}/quote", json={}, headers=auth).get_json()
    assert [line["sku_id"] for line in quote["lines"]] == [red.id]
    assert [(line["sku_id"], line["problems"]) for line in quote["unavailable"]] == [(blue.id, ["已售罄"])]
    named = {"cart_sku_ids": [red.id, blue.id], "address_id": address.id}
    assert_error(place(client, auth, named, key="n-1"), 409, "unavailable")
    assert count(session, Order) == 0
    whole = place(client, auth, {"address_id": address.id}, key="n-2")  # the cart as the H5 page sends it
    assert [line["sku_id"] for line in whole.get_json()["lines"]] == [red.id]
