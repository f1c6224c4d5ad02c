"""The shopper's side of orders, through the test client with CSRF on: cart, addresses, checkout,
paying (sandbox, manual transfer), my orders, cancelling, receiving, after-sales — and tampering."""

import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from app import orders
from app.catalog.models import Product, Sku
from app.orders.models import Address, CartItem, Order, OrderStatus, Refund, RefundStatus
from app.payments import services as payments
from app.settings.models import ShopSettings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import csrf_token, login

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI"


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture
def shopper(app):
    return factories.UserFactory(nickname="小林")


@pytest.fixture
def address(shopper):
    return factories.AddressFactory(user=shopper)


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


@pytest.fixture
def mug(app):
    return factories.ProductFactory(title="马克杯", skus=[{"price_fen": 2500, "stock": 10}])


@pytest.fixture
def shopper_client(client, shopper):
    login(client, shopper)
    return client


# ---------------------------------------------------------------- helpers


class _Hidden(HTMLParser):
    """The hidden inputs of the first form posting to `action` (what the browser would send back)."""

    def __init__(self, action):
        super().__init__()
        self.action, self.inside, self.done, self.fields = action, False, False, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and not self.done and attrs.get("action") == self.action:
            self.inside = True
        elif tag == "input" and self.inside and attrs.get("name"):
            sent = attrs.get("type") == "hidden" or (attrs.get("type") == "radio" and "checked" in attrs)
            if sent:
                self.fields.append((attrs["name"], attrs.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form" and self.inside:
            self.inside, self.done = False, True


def form_fields(html: str, action: str) -> dict:
    parser = _Hidden(action)
    parser.feed(html)
    fields: dict = {}
    for name, value in parser.fields:
        if name in fields:
            fields[name] = [*fields[name], value] if isinstance(fields[name], list) else [fields[name], value]
        else:
            fields[name] = value
    return fields


def checkout_form(client, query: str = "", **changes) -> dict:
    """The checkout form as the page renders it (idempotency key, expected total, address, items)."""
    response = client.get("/checkout" + query)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    fields = form_fields(response.get_data(as_text=True), "/checkout")
    assert fields["idempotency_key"] and fields["expected_total"].isdigit()
    fields.update(changes)
    return fields


def add(client, sku_id, qty=1, **extra):
    data = {"sku_id": sku_id, "qty": qty, "csrf_token": csrf_token(client, "/cart"), **extra}
    return client.post("/cart/add", data=data, headers=extra.pop("headers", {}))


def order_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Order))


def stock_of(session, sku_id) -> int:
    session.expire_all()
    return session.get(Sku, sku_id).stock


def the_order(session, user) -> Order:
    session.expire_all()
    return session.scalars(select(Order).where(Order.user_id == user.id)).one()


def place(client, session, user, query="?buy={sku}&qty={qty}", *, sku, qty=1, **changes) -> Order:
    fields = checkout_form(client, query.format(sku=sku, qty=qty), **changes)
    response = client.post("/checkout", data=fields)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return the_order(session, user)


def text_of(response) -> str:
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- cart


def test_a_guests_cart_moves_into_the_account_on_login(client, session, shopper, tee, mug):
    red, blue = tee.skus
    session.add(CartItem(user_id=shopper.id, sku_id=red.id, qty=1, seen_price_fen=red.price_fen))
    session.commit()
    assert add(client, red.id, 2).status_code == 302
    assert add(client, mug.skus[0].id, 1).status_code == 302
    assert "纯棉T恤" in text_of(client.get("/cart"))

    login(client, shopper)

    session.expire_all()
    cart = {item.sku_id: item.qty for item in session.scalars(select(CartItem))}
    assert cart == {red.id: 3, mug.skus[0].id: 1}
    page = text_of(client.get("/cart"))
    assert "马克杯" in page and "纯棉T恤" in page


def test_registering_also_brings_the_guest_cart_along(client, session, mug):
    add(client, mug.skus[0].id, 2)
    response = client.post(
        "/register",
        data={
            "mobile": "13911112222",
            "password": "abc12345",
            "password_again": "abc12345",
            "agree": "y",
            "csrf_token": csrf_token(client, "/register"),
        },
    )
    assert response.status_code == 302
    session.expire_all()
    assert [(item.sku_id, item.qty) for item in session.scalars(select(CartItem))] == [(mug.skus[0].id, 2)]


def test_the_cart_shows_changed_prices_off_shelf_items_and_low_stock(
    shopper_client, session, shopper, tee, mug
):
    red, blue = tee.skus
    add(shopper_client, red.id, 2)
    add(shopper_client, blue.id, 2)
    add(shopper_client, mug.skus[0].id, 1)
    session.get(Sku, red.id).price_fen = 6500
    session.get(Sku, blue.id).stock = 1
    session.get(Product, mug.id).is_on_shelf = False
    session.commit()

    page = text_of(shopper_client.get("/cart"))
    assert re.search(r"价格有变动.*¥59\.00.*→ ¥65\.00", page, re.S)
    assert "仅剩 1 件" in page
    assert "商品已下架" in page
    # Only the buyable line is ticked and counted: red 2 × ¥65.00.
    assert "¥130.00" in page
    assert re.findall(r'name="sku" value="(\d+)" checked', page) == [str(red.id)]

    response = shopper_client.post(
        "/cart/checkout",
        data={
            "sel": "1",
            "sku": [red.id, blue.id, mug.skus[0].id],
            "csrf_token": csrf_token(shopper_client, "/cart"),
        },
    )
    fields = checkout_form(shopper_client, response.headers["Location"].split("/checkout", 1)[1])
    assert fields["sku"] == str(red.id)  # the low-stock and off-shelf lines stay behind
    assert fields["expected_total"] == "13000"
    page = text_of(shopper_client.get(response.headers["Location"]))
    assert "以下商品暂时无法购买" in page and "马克杯" in page


def test_adding_more_than_the_stock_is_refused_with_a_message(client, session, shopper, tee):
    red = tee.skus[0]
    response = add(client, red.id, 6)
    assert response.status_code == 302
    assert "库存仅剩 5 件" in text_of(client.get(response.headers["Location"]))
    assert client.get("/cart/badge").get_data(as_text=True).count("cart-badge_empty") == 1

    login(client, shopper)
    add(client, red.id, 4)
    response = add(client, red.id, 2, headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "库存仅剩 5 件。"
    session.expire_all()
    assert session.scalar(select(CartItem.qty)) == 4


@pytest.mark.parametrize("qty", ["-1", "0", "1000000", "abc", "1.5", "", "99999999999999999999999"])
def test_bad_quantities_are_refused_everywhere(shopper_client, session, shopper, address, tee, qty):
    red = tee.skus[0]
    response = add(shopper_client, red.id, qty)
    assert response.status_code == 302
    add(shopper_client, red.id, 1)
    response = shopper_client.post(
        "/cart/update",
        data={"sel": "1", f"qty-{red.id}": qty, "csrf_token": csrf_token(shopper_client, "/cart")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["toast"]["level"] == "error"
    session.expire_all()
    assert session.scalar(select(CartItem.qty)) == 1

    fields = checkout_form(shopper_client, f"?buy={red.id}&qty=1", qty=qty)
    response = shopper_client.post("/checkout", data=fields)
    assert response.status_code == 422
    assert order_count(session) == 0
    assert stock_of(session, red.id) == 5


def test_htmx_cart_changes_answer_the_cart_and_tell_the_badge(shopper_client, session, shopper, tee):
    red, blue = tee.skus
    add(shopper_client, red.id, 1)
    add(shopper_client, blue.id, 1)
    token = csrf_token(shopper_client, "/cart")
    response = shopper_client.post(
        "/cart/update",
        data={
            "sel": "1",
            "sku": [red.id, blue.id],
            "op": f"inc:{red.id}",
            f"qty-{red.id}": "1",
            "csrf_token": token,
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"])["cart-changed"] == {"count": 3}
    assert 'id="cart-body"' in text_of(response) and "<html" not in text_of(response)
    assert "¥187.00" in text_of(response)  # 2 × 59 + 69

    response = shopper_client.post(
        "/cart/update",
        data={"sel": "1", "sku": [blue.id], "op": f"remove:{red.id}", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert json.loads(response.headers["HX-Trigger"])["cart-changed"] == {"count": 1}
    session.expire_all()
    assert [item.sku_id for item in session.scalars(select(CartItem))] == [blue.id]
    assert ">1</span>" in text_of(shopper_client.get("/cart/badge"))


def test_buy_now_goes_to_checkout_and_guests_log_in_first(client, shopper, mug):
    sku = mug.skus[0]
    response = add(client, sku.id, 2, buy_now="1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "buy%3D" in response.headers["Location"]

    login(client, shopper)
    response = add(client, sku.id, 2, buy_now="1")
    assert response.headers["Location"] == f"/checkout?buy={sku.id}&qty=2"
    assert "¥50.00" in text_of(client.get(response.headers["Location"]))


def test_checkout_needs_a_login(client):
    response = client.get("/checkout")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_the_empty_cart_has_an_empty_state(client):
    assert "购物车是空的" in text_of(client.get("/cart"))


# ---------------------------------------------------------------- checkout


def test_a_double_submit_of_the_checkout_makes_one_order(shopper_client, session, shopper, address, tee):
    red, blue = tee.skus
    add(shopper_client, red.id, 2)
    add(shopper_client, blue.id, 1)
    fields = checkout_form(shopper_client, buyer_note="  请尽快发货 ")
    first = shopper_client.post("/checkout", data=fields)
    second = shopper_client.post("/checkout", data=fields)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert first.headers["Location"].startswith("/pay/sandbox/")
    order = the_order(session, shopper)
    assert (order.total_fen, order.buyer_note, order.item_count) == (2 * 5900 + 6900, "请尽快发货", 3)
    assert stock_of(session, red.id) == 3 and stock_of(session, blue.id) == 1
    assert session.scalar(select(func.count()).select_from(CartItem)) == 0
    assert len(order.payments) == 1


def test_the_cart_says_baoyou_as_the_back_office_does(shopper_client, session, tee):
    """One word for free shipping in the shop and the back office: 包邮 (never 免运费)."""
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=0))
    session.commit()
    add(shopper_client, tee.skus[0].id)
    page = text_of(shopper_client.get("/cart"))
    assert '<p class="cart-bar__note">' in page and "包邮" in page
    assert "免运费" not in page


def test_checkout_shows_the_time_limit_and_the_shipping_fee(shopper_client, session, address, tee):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800, order_expire_minutes=45))
    session.commit()
    page = text_of(shopper_client.get(f"/checkout?buy={tee.skus[0].id}&qty=1"))
    assert "45 分钟内完成支付" in page
    assert "¥8.00" in page and "¥67.00" in page
    assert form_fields(page, "/checkout")["expected_total"] == "6700"


def test_a_changed_price_sends_the_shopper_back_with_the_new_total(
    shopper_client, session, shopper, address, tee
):
    red = tee.skus[0]
    fields = checkout_form(shopper_client, f"?buy={red.id}&qty=1")
    session.get(Sku, red.id).price_fen = 6100
    session.commit()
    response = shopper_client.post("/checkout", data=fields)
    assert response.status_code == 422
    page = text_of(response)
    assert "价格有变动" in page and "¥61.00" in page
    assert form_fields(page, "/checkout")["expected_total"] == "6100"
    assert order_count(session) == 0 and stock_of(session, red.id) == 5


@pytest.mark.parametrize("expected", ["1", "0", "-5900", "abc", "", "59.00", "9" * 30])
def test_a_tampered_expected_total_changes_nothing(shopper_client, session, address, tee, expected):
    red = tee.skus[0]
    fields = checkout_form(shopper_client, f"?buy={red.id}&qty=1", expected_total=expected)
    response = shopper_client.post("/checkout", data=fields)
    assert response.status_code == 422
    assert "价格有变动" in text_of(response)
    assert order_count(session) == 0 and stock_of(session, red.id) == 5


def test_an_off_shelf_sku_cannot_be_ordered(shopper_client, session, address, tee, mug):
    fields = checkout_form(shopper_client, f"?buy={tee.skus[0].id}&qty=1")
    session.get(Product, tee.id).is_on_shelf = False
    session.commit()
    response = shopper_client.post("/checkout", data=fields)
    assert response.status_code == 422
    assert order_count(session) == 0
    for sku_id in (tee.skus[1].id, "abc", "-1", "99999999999"):
        response = shopper_client.post("/checkout", data=dict(fields, buy=sku_id))
        assert response.status_code == 422
    assert order_count(session) == 0 and stock_of(session, tee.skus[0].id) == 5


def test_another_users_address_is_refused(shopper_client, session, shopper, address, tee):
    stranger = factories.UserFactory()
    theirs = factories.AddressFactory(user=stranger, recipient="王五", detail="别人家的地址 8 号")
    red = tee.skus[0]

    page = text_of(shopper_client.get(f"/checkout?buy={red.id}&qty=1&address_id={theirs.id}"))
    assert "王五" not in page and "别人家的地址" not in page and "请选择收货地址" in page

    for bad in (theirs.id, "abc", "", "99999999999"):
        fields = checkout_form(shopper_client, f"?buy={red.id}&qty=1", address_id=bad)
        response = shopper_client.post("/checkout", data=fields)
        assert response.status_code == 422
        assert "王五" not in text_of(response)
    assert order_count(session) == 0 and stock_of(session, red.id) == 5

    assert shopper_client.get(f"/addresses/{theirs.id}/edit").status_code == 404
    token = csrf_token(shopper_client, "/addresses")
    for action in ("delete", "default"):
        response = shopper_client.post(f"/addresses/{theirs.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 404
    session.expire_all()
    theirs = session.get(Address, theirs.id)
    assert not theirs.is_deleted and theirs.is_default


def test_an_unknown_payment_method_is_refused(shopper_client, session, address, tee):
    for method in ("manual", "alipay", ""):  # manual is off until the merchant sets it up
        fields = checkout_form(shopper_client, f"?buy={tee.skus[0].id}&qty=1", payment_method=method)
        assert shopper_client.post("/checkout", data=fields).status_code == 422
    assert order_count(session) == 0


def test_not_enough_stock_at_submit_time_explains_and_changes_nothing(shopper_client, session, address, tee):
    blue = tee.skus[1]
    fields = checkout_form(shopper_client, f"?buy={blue.id}&qty=2")
    session.get(Sku, blue.id).stock = 1
    session.commit()
    response = shopper_client.post("/checkout", data=fields)
    assert response.status_code == 422
    assert "仅剩 1 件" in text_of(response)
    assert order_count(session) == 0 and stock_of(session, blue.id) == 1


# ---------------------------------------------------------------- paying


def test_paying_in_the_sandbox_marks_the_order_paid_and_the_result_page_says_so(
    shopper_client, session, shopper, address, tee
):
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id, qty=2)
    assert "待付款" in text_of(shopper_client.get(f"/orders/{order.number}"))
    order_payment_url = f"/pay/sandbox/{order.payments[0].out_trade_no}"
    assert "¥118.00" in text_of(shopper_client.get(order_payment_url))
    response = shopper_client.post(
        order_payment_url, data={"action": "pay", "csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert response.headers["Location"] == f"/orders/{order.number}/result"
    page = text_of(shopper_client.get(response.headers["Location"]))
    assert "支付成功" in page and "hx-get" not in page
    assert the_order(session, shopper).status == OrderStatus.PAID
    assert "待发货" in text_of(shopper_client.get(f"/orders/{order.number}"))


def test_the_result_page_waits_for_the_notify_and_offers_a_retry_after_a_failure(
    shopper_client, session, shopper, address, tee
):
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id)
    page = text_of(shopper_client.get(f"/orders/{order.number}/result"))
    assert "确认中" in page and f"/orders/{order.number}/result?poll=1" in page

    fragment = shopper_client.get(f"/orders/{order.number}/result?poll=1", headers={"HX-Request": "true"})
    assert "<html" not in text_of(fragment) and "poll=2" in text_of(fragment)
    page = text_of(shopper_client.get(f"/orders/{order.number}/result?poll=99"))
    assert "暂未收到支付结果" in page and "hx-get" not in page

    payment_url = f"/pay/sandbox/{order.payments[0].out_trade_no}"
    response = shopper_client.post(
        payment_url, data={"action": "fail", "csrf_token": csrf_token(shopper_client, "/cart")}
    )
    page = text_of(shopper_client.get(response.headers["Location"]))
    assert "支付未成功" in page and f"/orders/{order.number}/pay" in page

    # Paying again opens a new attempt with the same provider and the order gets paid.
    response = shopper_client.post(
        f"/orders/{order.number}/pay",
        data={
            "payment_method": "sandbox",
            "csrf_token": csrf_token(shopper_client, f"/orders/{order.number}/pay"),
        },
    )
    assert (
        response.headers["Location"].startswith("/pay/sandbox/")
        and response.headers["Location"] != payment_url
    )
    session.expire_all()
    payment = payments.confirm_payment(
        session,
        provider="sandbox",
        out_trade_no=response.headers["Location"].rsplit("/", 1)[1],
        amount_fen=5900,
    )
    session.commit()
    assert payment.outcome == payments.Outcome.PAID
    assert "支付成功" in text_of(shopper_client.get(f"/orders/{order.number}/result?failed=1"))


def test_a_manual_transfer_is_claimed_and_waits_for_the_shop(shopper_client, session, shopper, address, tee):
    session.add(
        ShopSettings(id=1, name="店", manual_payment_enabled=True, manual_payment_text="工商银行 6222 0000")
    )
    session.commit()
    fields = checkout_form(shopper_client, f"?buy={tee.skus[0].id}&qty=1", payment_method="manual")
    response = shopper_client.post("/checkout", data=fields)
    order = the_order(session, shopper)
    assert response.headers["Location"] == f"/orders/{order.number}/manual"
    page = text_of(shopper_client.get(response.headers["Location"]))
    assert "¥59.00" in page and order.number in page and "工商银行 6222 0000" in page
    assert 'data-copy="59.00"' in page

    response = shopper_client.post(
        f"/orders/{order.number}/manual", data={"csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert response.headers["Location"] == f"/orders/{order.number}"
    assert the_order(session, shopper).status == OrderStatus.AWAITING_CONFIRMATION
    page = text_of(shopper_client.get(f"/orders/{order.number}"))
    assert "待商家确认收款" in page and "去支付" not in page
    # A second tap changes nothing and says so.
    response = shopper_client.post(
        f"/orders/{order.number}/manual", data={"csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert the_order(session, shopper).status == OrderStatus.AWAITING_CONFIRMATION


# ---------------------------------------------------------------- my orders


def test_cancelling_an_unpaid_order_gives_the_stock_back(shopper_client, session, shopper, address, tee):
    red = tee.skus[0]
    order = place(shopper_client, session, shopper, sku=red.id, qty=3)
    assert stock_of(session, red.id) == 2
    assert "取消订单" in text_of(shopper_client.get(f"/orders/{order.number}"))
    response = shopper_client.post(
        f"/orders/{order.number}/cancel", data={"csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert response.status_code == 302
    assert the_order(session, shopper).status == OrderStatus.CANCELLED
    assert stock_of(session, red.id) == 5
    again = shopper_client.post(
        f"/orders/{order.number}/cancel", data={"csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert "只有未付款的订单" in text_of(shopper_client.get(again.headers["Location"]))
    assert stock_of(session, red.id) == 5


def test_an_expired_order_shows_as_cancelled_with_its_stock_back(
    shopper_client, session, shopper, address, tee
):
    red = tee.skus[0]
    order = place(shopper_client, session, shopper, sku=red.id, qty=2)
    assert order.number in text_of(shopper_client.get(f"/orders/{order.number}"))
    set_clock(utcnow() + timedelta(minutes=31))
    assert order.number not in text_of(shopper_client.get("/orders?tab=unpaid"))
    page = text_of(shopper_client.get(f"/orders/{order.number}"))
    assert "已取消" in page and "去支付" not in page
    assert stock_of(session, red.id) == 5
    assert shopper_client.get(f"/orders/{order.number}/pay").status_code == 302


def test_confirming_receipt_completes_the_order(shopper_client, session, shopper, address, tee):
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id)
    pay_and_ship(session, order, shopper)
    page = text_of(shopper_client.get(f"/orders/{order.number}"))
    assert "顺丰速运" in page and "SF1234567890" in page and "确认收货" in page
    response = shopper_client.post(
        f"/orders/{order.number}/receive", data={"csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert response.status_code == 302
    assert the_order(session, shopper).status == OrderStatus.COMPLETED
    page = text_of(shopper_client.get(f"/orders/{order.number}"))
    assert "你已确认收货" in page and "商家已发货" not in page


def pay_and_ship(session, order, shopper):
    session.expire_all()
    order = session.get(Order, order.id)
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    staff = factories.UserFactory(role="staff")
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰速运", tracking_no="SF1234567890")
    session.commit()


def test_my_orders_has_tabs_and_the_me_page_counts_them(shopper_client, session, shopper, address, tee, mug):
    unpaid = place(shopper_client, session, shopper, sku=mug.skus[0].id)
    shipped = place_another(shopper_client, session, shopper, tee.skus[0].id)
    pay_and_ship(session, shipped, shopper)
    page = text_of(shopper_client.get("/orders?tab=unpaid"))
    assert unpaid.number in page or "马克杯" in page
    assert "纯棉T恤" not in page
    page = text_of(shopper_client.get("/orders?tab=to_receive"))
    assert "纯棉T恤" in page and "马克杯" not in page
    assert "马克杯" in text_of(shopper_client.get("/orders")) and "纯棉T恤" in text_of(
        shopper_client.get("/orders")
    )
    assert shopper_client.get("/orders?tab=nonsense").status_code == 200
    assert shopper_client.get("/orders?page=abc").status_code == 200


def place_another(client, session, user, sku_id) -> Order:
    before = {o.id for o in session.scalars(select(Order))}
    fields = checkout_form(client, f"?buy={sku_id}&qty=1")
    client.post("/checkout", data=fields)
    session.expire_all()
    return session.scalars(select(Order).where(Order.id.not_in(before))).one()


def test_nobody_sees_or_touches_another_shoppers_order(client, session, shopper, address, tee):
    login(client, shopper)
    order = place(client, session, shopper, sku=tee.skus[0].id)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    stranger = factories.UserFactory()
    login(client, stranger)
    token = csrf_token(client, "/cart")
    for path in ("", "/pay", "/result", "/manual", "/refund"):
        assert client.get(f"/orders/{order.number}{path}").status_code == 404, path
    for path in ("/cancel", "/receive", "/pay", "/manual", "/refund", "/refund/withdraw", "/refund/preview"):
        response = client.post(
            f"/orders/{order.number}{path}", data={"csrf_token": token, "payment_method": "sandbox"}
        )
        assert response.status_code == 404, path
    page = text_of(client.get(f"/orders/{order.number}"))
    assert "订单不存在" in page and order.ship_recipient not in page
    assert order.number not in text_of(client.get("/orders"))
    assert the_order(session, shopper).status == OrderStatus.PENDING_PAYMENT
    assert len(the_order(session, shopper).payments) == 1


# ---------------------------------------------------------------- after-sales


def test_the_refund_preview_and_request_match_refundable_amount(
    shopper_client, session, shopper, address, tee
):
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id, qty=3)
    pay_and_ship(session, order, shopper)
    order = the_order(session, shopper)
    line = order.lines[0]
    expected = orders.refunds.refundable_amount(line, 2)
    page = text_of(shopper_client.get(f"/orders/{order.number}/refund"))
    assert '<option value="质量问题">质量问题</option>' in page
    token = csrf_token(shopper_client, f"/orders/{order.number}/refund")

    preview = shopper_client.post(
        f"/orders/{order.number}/refund/preview",
        data={f"qty-{line.id}": "2", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert preview.status_code == 200 and "<html" not in text_of(preview)
    assert f"¥{expected // 100}.{expected % 100:02d}" in text_of(preview)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0  # a preview asks for nothing

    response = shopper_client.post(
        f"/orders/{order.number}/refund",
        data={f"qty-{line.id}": "2", "reason": "尺码不合适", "csrf_token": token},
    )
    assert response.status_code == 422  # not one of the offered reasons
    response = shopper_client.post(
        f"/orders/{order.number}/refund",
        data={f"qty-{line.id}": "2", "reason": "质量问题", "detail": "线头很多", "csrf_token": token},
    )
    assert response.status_code == 302
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert refund.amount_fen == expected and refund.reason == "质量问题：线头很多"
    page = text_of(shopper_client.get(f"/orders/{order.number}"))
    assert "退货退款中" in page and "撤回申请" in page  # a shipped order asks to return the goods

    # The shop rejects; the shopper reads why.
    orders.refunds.reject_refund(
        session, refund, actor=factories.UserFactory(role="staff"), reason="商品已拆封"
    )
    session.commit()
    page = text_of(shopper_client.get(f"/orders/{order.number}"))
    assert "商品已拆封" in page and "商家已拒绝" in page


def test_a_refund_of_more_units_than_bought_is_refused(shopper_client, session, shopper, address, tee):
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id, qty=2)
    pay_and_ship(session, order, shopper)
    line = the_order(session, shopper).lines[0]
    token = csrf_token(shopper_client, "/cart")
    for qty in ("3", "-1", "abc", "0", "99999999999999999999"):
        response = shopper_client.post(
            f"/orders/{order.number}/refund",
            data={f"qty-{line.id}": qty, "reason": "质量问题", "csrf_token": token},
        )
        assert response.status_code == 422, qty
    response = shopper_client.post(
        f"/orders/{order.number}/refund",
        data={f"qty-{line.id}": "3", "reason": "质量问题", "csrf_token": token},
    )
    assert "申请数量不能超过购买数量" in text_of(response)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0
    assert the_order(session, shopper).refund_status == RefundStatus.NONE


def test_a_refund_request_can_be_withdrawn(shopper_client, session, shopper, address, tee):
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id)
    pay_and_ship(session, order, shopper)
    line = the_order(session, shopper).lines[0]
    token = csrf_token(shopper_client, "/cart")
    shopper_client.post(
        f"/orders/{order.number}/refund",
        data={f"qty-{line.id}": "1", "reason": "不想要了", "csrf_token": token},
    )
    assert the_order(session, shopper).refund_status == RefundStatus.REQUESTED
    shopper_client.post(f"/orders/{order.number}/refund/withdraw", data={"csrf_token": token})
    assert the_order(session, shopper).refund_status == RefundStatus.NONE
    assert "你撤回了退款申请" in text_of(shopper_client.get(f"/orders/{order.number}"))


# ---------------------------------------------------------------- addresses


def test_the_address_book_validates_and_hands_the_choice_back_to_checkout(shopper_client, session, shopper):
    token = csrf_token(shopper_client, "/addresses/new")
    good = {
        "recipient": "李四",
        "mobile": "+86 138-1234-5678",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "detail": "文三路 100 号",
        "csrf_token": token,
    }
    for field, bad, message in (
        ("mobile", "12345", "11 位"),
        ("province", "火星", "请选择省份"),
        ("recipient", "", "收货人"),
        ("detail", "x", "门牌号"),
    ):
        response = shopper_client.post("/addresses/new", data=dict(good, **{field: bad}))
        assert response.status_code == 422, field
        assert message in text_of(response), field
    assert session.scalar(select(func.count()).select_from(Address)) == 0
    blank = shopper_client.post("/addresses/new", data={"csrf_token": token})  # every mistake at once
    assert blank.status_code == 422
    for message in ("收货人", "11 位", "请选择省份", "门牌号"):
        assert message in text_of(blank), message
    long_and_wrong = shopper_client.post("/addresses/new", data=dict(good, recipient="长" * 21, mobile="123"))
    assert "最多 20 个字" in text_of(long_and_wrong) and "11 位" in text_of(long_and_wrong)

    response = shopper_client.post("/addresses/new?select=1&next=/checkout%3Fbuy%3D7%26qty%3D2", data=good)
    session.expire_all()
    saved = session.scalars(select(Address)).one()
    assert (saved.mobile, saved.province, saved.is_default) == ("13812345678", "浙江省", True)
    assert response.headers["Location"] == f"/checkout?buy=7&qty=2&address_id={saved.id}"

    page = text_of(shopper_client.get("/addresses?select=1&next=/checkout"))
    assert f'href="/checkout?address_id={saved.id}"' in page
    page = text_of(shopper_client.get("/addresses?select=1&next=https://evil.example/"))
    assert "evil.example" not in page

    second = shopper_client.post("/addresses/new", data=dict(good, recipient="王五"))
    assert second.status_code == 302
    other = session.scalars(select(Address).where(Address.recipient == "王五")).one()
    shopper_client.post(f"/addresses/{other.id}/default", data={"csrf_token": token})
    shopper_client.post(f"/addresses/{saved.id}/delete", data={"csrf_token": token})
    session.expire_all()
    assert [(a.recipient, a.is_default) for a in orders.addresses.list_addresses(session, shopper.id)] == [
        ("王五", True)
    ]


def test_checkout_offers_only_the_methods_offered_here(shopper_client, session, address, tee):
    page = text_of(
        shopper_client.get(f"/checkout?buy={tee.skus[0].id}&qty=1", headers={"User-Agent": WECHAT_UA})
    )
    assert 'value="sandbox"' in page and 'value="manual"' not in page


# ---------------------------------------------------------------- the product page


def test_the_product_page_adds_to_the_cart_with_or_without_javascript(client, session, tee, mug):
    page = text_of(client.get(f"/p/{mug.id}"))
    fields = form_fields(page, "/cart/add")
    assert fields["sku_id"] == str(mug.skus[0].id)  # one SKU: chosen already
    assert 'name="qty"' in page and 'form="buy-form"' in page

    client.get("/csrf-token")  # a visitor with a session: a first-time one has no token yet (test_lazy_csrf)
    page = text_of(client.get(f"/p/{tee.id}"))
    fields = form_fields(page, "/cart/add")
    assert fields["sku_id"] == ""  # the picker (or the radios, without JavaScript) chooses
    # Without JavaScript the radios are sent with the form: the shop finds the SKU they name.
    response = client.post("/cart/add", data=dict(fields, opt0="蓝", qty="2", buy_now="0"))
    assert response.status_code == 302
    assert "已加入购物车" in text_of(client.get(response.headers["Location"]))
    assert "纯棉T恤" in text_of(client.get("/cart"))
    assert ">2</span>" in text_of(client.get("/cart/badge"))
    for bad in ({"opt0": "绿"}, {}, {"product_id": "abc"}, {"product_id": str(mug.id), "opt0": "红"}):
        response = client.post("/cart/add", data=dict(fields, **bad), headers={"HX-Request": "true"})
        assert response.status_code == 409
        assert json.loads(response.headers["HX-Trigger"])["toast"]["message"] == "请先选择规格。"


def test_a_sold_out_product_offers_no_buy_buttons(client):
    gone = factories.ProductFactory(title="卖光了", skus=[{"price_fen": 1000, "stock": 0}])
    page = text_of(client.get(f"/p/{gone.id}"))
    assert "buy-form" not in page and "已售罄" in page


@pytest.mark.parametrize(
    ("shipped", "wanted", "shipping_back"),
    [(False, {"red": 2, "blue": 1}, True), (False, {"red": 1}, False), (True, {"red": 2, "blue": 1}, False)],
)
def test_the_refund_preview_is_the_amount_the_request_asks_for(
    shopper_client, session, shopper, address, tee, shipped, wanted, shipping_back
):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800))
    session.commit()
    red, blue = tee.skus
    add(shopper_client, red.id, 2)
    add(shopper_client, blue.id, 1)
    shopper_client.post("/checkout", data=checkout_form(shopper_client))
    order = the_order(session, shopper)
    if shipped:
        pay_and_ship(session, order, shopper)
    else:
        payment = payments.start_payment(session, order, "sandbox", user=shopper)
        payments.confirm_payment(
            session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
        )
        session.commit()
    order = the_order(session, shopper)
    by_sku = {line.sku_id: line for line in order.lines}
    data = {
        f"qty-{by_sku[sku.id].id}": str(wanted.get(name, 0)) for name, sku in (("red", red), ("blue", blue))
    }
    data["csrf_token"] = csrf_token(shopper_client, "/cart")

    preview = text_of(
        shopper_client.post(
            f"/orders/{order.number}/refund/preview", data=data, headers={"HX-Request": "true"}
        )
    )
    shopper_client.post(f"/orders/{order.number}/refund", data=dict(data, reason="不想要了"))
    session.expire_all()
    refund = session.scalars(select(Refund)).one()
    assert (refund.shipping_fen == 800) is shipping_back
    assert f"¥{refund.amount_fen // 100}.{refund.amount_fen % 100:02d}" in preview
    assert ("含运费" in preview) is shipping_back


def test_a_transfer_cannot_be_claimed_where_the_shop_takes_none(
    shopper_client, session, shopper, address, tee
):
    # Waiting for a transfer stops the clock: a shop without manual transfer must not get such orders.
    order = place(shopper_client, session, shopper, sku=tee.skus[0].id)
    response = shopper_client.post(
        f"/orders/{order.number}/manual", data={"csrf_token": csrf_token(shopper_client, "/cart")}
    )
    assert response.headers["Location"] == f"/orders/{order.number}/pay"
    assert the_order(session, shopper).status == OrderStatus.PENDING_PAYMENT
    response = shopper_client.post(
        f"/orders/{order.number}/pay",
        data={"payment_method": "manual", "csrf_token": csrf_token(shopper_client, "/cart")},
    )
    assert response.status_code == 422
    assert the_order(session, shopper).status == OrderStatus.PENDING_PAYMENT
