"""What probing the shop as an attacker and as a careless user found, pinned: share-link binding modes,
amounts typed with commas, control characters, sandbox routes and demo data in production, rate limits
that hold across workers, lock-outs that say how long and spare known devices, fraud flags fed from real
orders, staff never bound, back-office pages never cached. (The gateway and multi-worker cases against a
real gunicorn are in test_gunicorn.py; every route with hostile input in test_route_fuzzer.py.)"""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from app.accounts.models import User
from app.catalog.models import Category, Product
from app.distribution import services as dist
from app.distribution import web as share_tracking
from app.distribution.models import Commission, CommissionExplanation, DistributorGrade
from app.extensions import db
from app.orders.models import Address, CartItem, Order
from app.ratelimit import RateLimitCounter
from app.settings.models import ShopSettings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import IsolatedClient, base_config, csrf_token, login
from tests.htmlforms import form
from tests.test_shop_orders import place

NUL_NAME = "ab\x00cd"


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


def distribution_settings(session, **values):
    row = dist.get_settings(session)
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    session.commit()


def a_distributor(session, nickname):
    d = dist.make_distributor(session, factories.UserFactory(nickname=nickname), source="merchant")
    session.commit()
    return d


def register(client, mobile="13712345678"):
    response = client.post(
        "/register",
        data={
            "mobile": mobile,
            "password": "abc12345",
            "password_again": "abc12345",
            "agree": "y",
            "csrf_token": csrf_token(client, "/register"),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]


def referrer_of(session, mobile):
    session.expire_all()
    return session.scalar(select(User.referrer_id).where(User.mobile == mobile))


# ---------------------------------------------------------------- binding: first and last link


def test_in_first_mode_a_guest_who_opened_two_links_is_bound_to_the_first(client, session):
    b, d = a_distributor(session, "B"), a_distributor(session, "D")
    client.get(f"/?ref={b.code}")
    client.get(f"/p/1?ref={d.code}")
    client.get(f"/d/share?ref={d.code}")
    register(client)
    assert referrer_of(session, "13712345678") == b.user_id


def test_in_last_mode_the_newest_link_wins(client, session):
    distribution_settings(session, binding_mode="last")
    b, d = a_distributor(session, "B"), a_distributor(session, "D")
    client.get(f"/?ref={b.code}")
    client.get(f"/?ref={d.code}")
    register(client)
    assert referrer_of(session, "13712345678") == d.user_id


def test_in_first_mode_the_first_link_holds_through_login_too(client, session):
    shopper = factories.UserFactory()
    b, d = a_distributor(session, "B"), a_distributor(session, "D")
    client.get(f"/?ref={b.code}")
    client.get(f"/?ref={d.code}")
    login(client, shopper)
    assert referrer_of(session, shopper.mobile) == b.user_id


def test_a_remembered_first_link_lapses_under_binding_days(client, session):
    distribution_settings(session, binding_days=7)
    b, d = a_distributor(session, "B"), a_distributor(session, "D")
    client.get(f"/?ref={b.code}")
    set_clock(utcnow() + timedelta(days=6))
    client.get(f"/?ref={d.code}")
    set_clock(utcnow() + timedelta(days=2))  # B's link is 8 days old now, D's 2
    register(client)
    assert referrer_of(session, "13712345678") == d.user_id


def test_a_link_opened_again_lasts_from_the_second_opening(client, session):
    distribution_settings(session, binding_days=7)
    b = a_distributor(session, "B")
    client.get(f"/?ref={b.code}")
    set_clock(utcnow() + timedelta(days=6))
    client.get(f"/p/1?ref={b.code}")
    set_clock(utcnow() + timedelta(days=2))
    register(client)
    assert referrer_of(session, "13712345678") == b.user_id


def test_a_link_the_rules_refuse_for_this_visitor_gives_way_to_the_next(client, session):
    own, d = a_distributor(session, "自己"), a_distributor(session, "D")
    client.get(f"/?ref={own.code}")  # a distributor, signed out, tries their own link first
    client.get(f"/?ref={d.code}")
    login(client, own.user)
    assert referrer_of(session, own.user.mobile) == d.user_id


def test_remembered_links_are_spent_at_sign_in(client, session):
    b = a_distributor(session, "B")
    first, second = factories.UserFactory(), factories.UserFactory()
    client.get(f"/?ref={b.code}")
    login(client, first)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    login(client, second)  # the next person on this browser opened no link
    assert referrer_of(session, first.mobile) == b.user_id
    assert referrer_of(session, second.mobile) is None


def test_lapsed_links_never_crowd_out_a_fresh_one(client, session):
    distribution_settings(session, binding_days=3)
    for n in range(dist.MAX_REMEMBERED_LINKS + 1):
        client.get(f"/?ref={a_distributor(session, f'旧{n}').code}")
    set_clock(utcnow() + timedelta(days=4))
    fresh = a_distributor(session, "新")
    client.get(f"/?ref={fresh.code}")
    register(client)
    assert referrer_of(session, "13712345678") == fresh.user_id


def test_a_remembered_link_of_a_distributor_disabled_since_gives_way(client, session):
    b, d = a_distributor(session, "B"), a_distributor(session, "D")
    client.get(f"/?ref={b.code}")
    dist.set_distributor_active(session, b, False)
    session.commit()
    client.get(f"/?ref={d.code}")
    register(client)
    assert referrer_of(session, "13712345678") == d.user_id


@pytest.mark.parametrize("role", ["staff", "owner"])
def test_staff_and_owners_are_never_bound(client, session, role):
    b = a_distributor(session, "B")
    staff = factories.UserFactory(role=role)
    client.get(f"/?ref={b.code}")
    login(client, staff, admin=True)
    client.get(f"/p/1?ref={b.code}")  # and while signed in
    assert referrer_of(session, staff.mobile) is None
    assert dist.bind(session, staff, b, source="/").reason == "staff"


# ---------------------------------------------------------------- amounts and whole numbers


def test_an_amount_with_a_comma_is_a_field_error_and_changes_nothing(owner_client, session):
    page = owner_client.get("/admin/settings").get_data(as_text=True)
    data = form(page).data(name="禾木生活馆", shipping_flat_fen="12,30")
    response = owner_client.post("/admin/settings", data=data)
    assert "金额里请不要用逗号" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(ShopSettings.shipping_flat_fen)) in (None, 0)

    data = form(page).data(
        name="禾木生活馆", shipping_flat_fen="１２．３０"
    )  # full-width, as a Chinese IME types it
    assert owner_client.post("/admin/settings", data=data).status_code == 302
    session.expire_all()
    assert session.scalar(select(ShopSettings.shipping_flat_fen)) == 1230


def test_a_cart_quantity_is_plain_digits_only(client, session):
    shopper = factories.UserFactory()
    sku = factories.ProductFactory(skus=[{"price_fen": 2500, "stock": 50}]).skus[0]
    login(client, shopper)
    token = csrf_token(client, "/cart")
    for typed in ("1_0", "1e1", " +3", "٣"):
        response = client.post("/cart/add", data={"sku_id": sku.id, "qty": typed, "csrf_token": token})
        assert response.status_code < 500
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CartItem)) == 0
    client.post("/cart/add", data={"sku_id": sku.id, "qty": "２", "csrf_token": token})
    assert session.scalar(select(CartItem.qty)) == 2
    client.post("/cart/update", data={f"qty-{sku.id}": "1_0", "csrf_token": token})
    session.expire_all()
    assert session.scalar(select(CartItem.qty)) == 2


# ---------------------------------------------------------------- control characters (NUL)


def test_nul_bytes_in_shop_forms_are_dropped_not_a_crash(client, session):
    response = client.post(
        "/register",
        data={
            "mobile": "13712345678",
            "password": "abc12345",
            "password_again": "abc12345",
            "nickname": NUL_NAME,
            "agree": "y",
            "csrf_token": csrf_token(client, "/register"),
        },
    )
    assert response.status_code == 302
    user = session.scalar(select(User).where(User.mobile == "13712345678"))
    assert user.nickname == "abcd"

    page = client.get("/me/profile").get_data(as_text=True)
    assert client.post("/me/profile", data=form(page).data(nickname="小\x00林\x1b")).status_code == 302
    session.expire_all()
    assert session.get(User, user.id).nickname == "小林"

    page = client.get("/addresses/new").get_data(as_text=True)
    fields = form(page).data(
        recipient="张\x00三",
        mobile="13812345678",
        province="广东省",
        city="深圳市",
        district="南山区",
        detail="科技园\x00路 1 号\r\n",
    )
    assert client.post("/addresses/new", data=fields).status_code == 302
    address = session.scalar(select(Address).where(Address.user_id == user.id))
    assert address.recipient == "张三" and "\x00" not in address.detail
    assert client.get("/search?q=%00杯").status_code == 200
    assert client.get("/orders/AB%00CD").status_code == 404


def test_nul_bytes_in_back_office_forms_and_filters(owner_client, session):
    page = owner_client.get("/admin/categories/new").get_data(as_text=True)
    response = owner_client.post("/admin/categories/new", data=form(page).data(name="水果\x00生鲜"))
    assert response.status_code in (200, 302)
    assert session.scalar(select(Category.name)) == "水果生鲜"

    page = owner_client.get("/admin/distribution/grades/new").get_data(as_text=True)
    response = owner_client.post("/admin/distribution/grades/new", data=form(page).data(name="金\x00牌"))
    assert response.status_code in (200, 302)
    assert session.scalar(select(DistributorGrade.name)) == "金牌"

    for path in (
        "/admin/orders?q=%00",
        "/admin/orders/export.csv?q=%00",
        "/admin/products?q=%00",
        "/admin/refunds?q=%00",
        "/admin/distribution/ledger?q=%00",
        "/admin/distribution/ledger.csv?q=%00",
        "/admin/distribution/bindings?q=%00",
        "/admin/distribution?q=%00",
        "/admin/distribution/withdrawals?q=%00",
        "/admin/payments?q=%00",
    ):
        assert owner_client.get(path).status_code == 200, path


# ---------------------------------------------------------------- production: no sandbox, no demo


@pytest.fixture
def production_app(db_url, tmp_path):
    app = create_app(base_config(db_url, tmp_path) | {"FENXIAO_ENV": "production", "TESTING": False})
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def test_sandbox_routes_do_not_exist_in_production(production_app):
    client = production_app.test_client()
    assert client.get("/pay/sandbox/FX20260101000000001").status_code == 404
    assert client.post("/pay/sandbox/FX20260101000000001", data={"action": "pay"}).status_code == 404
    notify = client.post("/pay/notify/sandbox", data=b"{}", headers={"X-Sandbox-Signature": "0" * 64})
    assert notify.status_code == 404
    assert not any(rule.endpoint.startswith("sandbox.") for rule in production_app.url_map.iter_rules())


def test_seed_demo_refuses_in_production_and_writes_nothing(production_app):
    result = production_app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 1
    assert "does not run in production" in result.output
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


# ---------------------------------------------------------------- rate limits and lock-outs


def test_login_attempts_are_counted_in_the_database(app, client, session):
    """The default store is the shop's database (so gunicorn workers and hosts share one count: the real
    two-worker check is test_gunicorn.py). Every attempt adds to one row per limit and key."""
    token = csrf_token(client, "/login")
    for _ in range(12):
        client.post("/login", data={"mobile": "13800138000", "password": "wrong-pass1", "csrf_token": token})
    counts = dict(session.execute(select(RateLimitCounter.key, RateLimitCounter.count)).all())
    per_number = [count for key, count in counts.items() if "mobile:13800138000" in key]
    assert len(per_number) == 2 and max(per_number) == 12  # this minute's and this hour's windows


def test_a_lock_out_says_how_long_and_spares_a_device_that_signed_in_before(app, client):
    owner_phone = client
    user = factories.UserFactory(mobile="13800138000")
    login(owner_phone, user)
    owner_phone.post("/logout", data={"csrf_token": csrf_token(owner_phone, "/me")})

    stranger = app.test_client()
    token = csrf_token(stranger, "/login")
    answers = []
    for n in range(12):  # from twelve addresses: only the per-number limit can stop them
        answers.append(
            stranger.post(
                "/login",
                data={"mobile": "13800138000", "password": "guess-123", "csrf_token": token},
                environ_base={"REMOTE_ADDR": f"10.1.0.{n + 1}"},
            )
        )
    assert answers[-1].status_code == 429
    assert "尝试次数过多，请 1 分钟后再试" in answers[-1].get_data(as_text=True)

    # The owner's phone, which signed in before, still gets in with the right password.
    right = {"mobile": "13800138000", "password": factories.DEFAULT_PASSWORD}
    back = owner_phone.post(
        "/login",
        data=right | {"csrf_token": csrf_token(owner_phone, "/login")},
        environ_base={"REMOTE_ADDR": "10.2.0.1"},
    )
    assert back.status_code == 302
    # A new browser with the right password waits like the stranger: the number's allowance is spent.
    newcomer = app.test_client()
    refused = newcomer.post(
        "/login",
        data=right | {"csrf_token": csrf_token(newcomer, "/login")},
        environ_base={"REMOTE_ADDR": "10.3.0.1"},
    )
    assert refused.status_code == 429


# ---------------------------------------------------------------- fraud flags from real orders


@pytest.fixture
def shop_with_distributor(session):
    b = a_distributor(session, "B")
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    return b, product


def buy_over_http(client, session, buyer, b, product, n):
    client.get(f"/?ref={b.code}")
    login(client, buyer)
    factories.AddressFactory(user=buyer, detail=f"幸福路 {n} 号")
    order = place(client, session, buyer, sku=product.skus[0].id, payment_method="sandbox")
    payment = order.payments[0]
    client.post(
        f"/pay/sandbox/{payment.out_trade_no}",
        data={"action": "pay", "csrf_token": csrf_token(client, "/cart")},
    )
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    session.expire_all()
    return session.get(Order, order.id)


def flags_of(session, order):
    explanation = session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    return {flag["kind"] for flag in explanation.flags}


def test_orders_carry_the_hashes_of_their_address_and_device(app, client, session, shop_with_distributor):
    b, product = shop_with_distributor
    order = buy_over_http(client, session, factories.UserFactory(), b, product, 1)
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        assert order.client_ip_hash == share_tracking.client_ip_hash()
    device = client.get_cookie(share_tracking.VISITOR_COOKIE).value
    assert order.device_hash == dist.salted_hash("device", device)


def test_many_orders_from_one_address_hold_the_commission(app, session, shop_with_distributor):
    b, product = shop_with_distributor
    orders = [
        buy_over_http(app.test_client(), session, factories.UserFactory(), b, product, n) for n in range(5)
    ]
    assert "many_orders_one_ip" not in flags_of(session, orders[3])
    assert "many_orders_one_ip" in flags_of(session, orders[4])
    assert session.scalar(select(Commission.held).where(Commission.order_id == orders[4].id))
    owner = factories.UserFactory(role="owner")
    owner_client = app.test_client()
    login(owner_client, owner, admin=True)
    held = owner_client.get("/admin/distribution/fraud").get_data(as_text=True)
    assert orders[4].number in held and orders[3].number not in held


def test_shoppers_of_different_distributors_behind_one_address_are_not_held(app, session):
    """Carrier-grade NAT puts many strangers behind one address: only orders for one referrer count."""
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    orders = [
        buy_over_http(
            app.test_client(), session, factories.UserFactory(), a_distributor(session, f"D{n}"), product, n
        )
        for n in range(6)
    ]
    assert all("many_orders_one_ip" not in flags_of(session, order) for order in orders)


def test_a_buyer_on_the_distributors_own_phone_holds_the_commission(
    app, client, session, shop_with_distributor
):
    b, product = shop_with_distributor
    login(client, b.user)  # B's phone
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    order = buy_over_http(client, session, factories.UserFactory(), b, product, 1)
    assert "same_device" in flags_of(session, order)
    assert session.scalar(select(Commission.held).where(Commission.order_id == order.id))
    owner_client = app.test_client()
    login(owner_client, factories.UserFactory(role="owner"), admin=True)
    assert order.number in owner_client.get("/admin/distribution/fraud").get_data(as_text=True)


# ---------------------------------------------------------------- caching


def test_back_office_pages_are_never_stored(owner_client, client, app):
    for path in ("/admin/", "/admin/orders", "/admin/orders/export.csv", "/admin/distribution/ledger"):
        assert owner_client.get(path).headers.get("Cache-Control") == "no-store", path
    assert app.test_client().get("/admin/login").headers.get("Cache-Control") == "no-store"
    assert client.get("/").headers.get("Cache-Control") != "no-store"
