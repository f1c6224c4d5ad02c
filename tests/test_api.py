"""The JSON API v1 (app/api): one error shape, bearer tokens, CSRF only for cookie sessions, the product
list's cursor, the same prices as the H5 pages, and an OpenAPI 3.1 description that validates."""

import json
import re
from datetime import timedelta

import pytest
from openapi_spec_validator import validate
from sqlalchemy import select

from app.accounts.access_tokens import AccessToken
from app.accounts.models import User
from app.marketing import campaigns
from app.settings.models import ShopSettings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import csrf_token, login

API = "/api/v1"


def api_login(client, user, password=factories.DEFAULT_PASSWORD) -> str:
    response = client.post(f"{API}/auth/login", json={"mobile": user.mobile, "password": password})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert re.search(r"[\u4e00-\u9fff]", error["message"]), error["message"]  # said in Chinese
    if code:
        assert error["code"] == code
    return error


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13800001111")


# --- the error shape ---------------------------------------------------------------------------------


def test_errors_under_api_are_json_never_html(client):
    assert_error(client.get(f"{API}/no-such-thing"), 404, "not_found")
    assert_error(client.get("/api/v2/anything"), 404, "not_found")
    assert_error(client.delete(f"{API}/shop"), 405, "method_not_allowed")
    assert_error(client.get(f"{API}/me"), 401, "unauthorized")
    assert_error(client.get(f"{API}/products/{2**31 - 1}"), 404, "not_found")
    # The H5 shop still answers pages.
    assert client.get("/no-such-thing").mimetype == "text/html"


def test_validation_errors_name_each_field_in_chinese(client):
    error = assert_error(client.get(f"{API}/products?limit=0&sort=cheap&category=x"), 422, "invalid")
    assert set(error["fields"]) == {"limit", "sort", "category"}
    assert all(re.search(r"[\u4e00-\u9fff]", text) for text in error["fields"].values())
    error = assert_error(client.post(f"{API}/auth/login", json={"mobile": "13800001111"}), 422, "invalid")
    assert set(error["fields"]) == {"password"}
    error = assert_error(client.post(f"{API}/auth/login", json=["not", "an", "object"]), 422, "invalid")
    assert error["fields"]
    assert_error(client.get(f"{API}/products?cursor=not-a-cursor"), 422, "invalid")
    # A form post (found by the route fuzzer: it reached the view with no body and failed with a 500).
    form = client.post(f"{API}/auth/login", data={"mobile": "13800001111", "password": "x"})
    assert "请以 JSON" in assert_error(form, 415, "unsupported_media_type")["message"]
    assert_error(
        client.post(f"{API}/auth/login", data="mobile=1", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )


def test_login_is_rate_limited_like_the_h5_login(app, client, shopper):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    for _ in range(3):
        response = client.post(f"{API}/auth/login", json={"mobile": shopper.mobile, "password": "wrong-1"})
        assert_error(response, 401, "login_failed")
    assert_error(
        client.post(f"{API}/auth/login", json={"mobile": shopper.mobile, "password": "wrong-1"}),
        429,
        "rate_limited",
    )


# --- tokens ------------------------------------------------------------------------------------------


def test_a_token_signs_in_until_logout(client, session, shopper):
    token = api_login(client, shopper)
    me = client.get(f"{API}/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json() == {
        "id": shopper.id,
        "nickname": shopper.nickname,
        "mobile_masked": "138****1111",
        "avatar_url": None,
    }
    row = session.scalar(select(AccessToken).where(AccessToken.user_id == shopper.id))
    assert row.token_hash != token and len(row.token_hash) == 64  # only a hash is kept
    # A bearer POST needs no CSRF token.
    assert client.post(f"{API}/auth/logout", headers=bearer(token)).status_code == 200
    assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")
    assert_error(client.post(f"{API}/auth/logout", headers=bearer(token)), 401, "invalid_token")


def test_expired_tampered_and_garbled_tokens_are_refused(client, shopper):
    token = api_login(client, shopper)
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert_error(client.get(f"{API}/me", headers=bearer(tampered)), 401, "invalid_token")
    assert_error(client.get(f"{API}/me", headers=bearer("")), 401, "invalid_token")
    assert_error(client.get(f"{API}/me", headers={"Authorization": f"Basic {token}"}), 401, "invalid_token")
    assert_error(client.get(f"{API}/me", headers=bearer("x" * 5000)), 401, "invalid_token")
    assert client.get(f"{API}/me", headers=bearer(token)).status_code == 200
    set_clock(utcnow() + timedelta(days=31))
    try:
        assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")
    finally:
        set_clock(None)


def test_a_disabled_account_or_a_new_password_ends_its_tokens(client, session, shopper):
    first = api_login(client, shopper)
    second = api_login(client, shopper)
    user = session.get(User, shopper.id)
    user.set_password("another-pass-1")  # bumps auth_version
    session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(first)), 401, "invalid_token")
    third = api_login(client, shopper, "another-pass-1")
    assert client.get(f"{API}/me", headers=bearer(third)).status_code == 200
    user.is_active = False
    session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(third)), 401, "invalid_token")
    assert_error(client.get(f"{API}/me", headers=bearer(second)), 401, "invalid_token")
    # And it cannot log in again.
    assert_error(
        client.post(f"{API}/auth/login", json={"mobile": shopper.mobile, "password": "another-pass-1"}),
        401,
        "login_failed",
    )


def test_a_cookie_session_needs_csrf_for_unsafe_methods(app, client, shopper):
    login(client, shopper)  # the H5 shop's session cookie
    assert client.get(f"{API}/me").get_json()["id"] == shopper.id  # reads need no token
    assert_error(client.post(f"{API}/auth/logout"), 400, "csrf_failed")
    with_token = client.post(f"{API}/auth/logout", headers={"X-CSRFToken": csrf_token(client, "/me")})
    assert with_token.status_code == 401  # past CSRF; a cookie session logs out on the H5 shop
    # A bearer request is signed in by its token alone, even with the cookie along: no CSRF needed.
    token = api_login(app.test_client(), shopper)  # the mini-program: no cookie
    assert client.post(f"{API}/auth/logout", headers=bearer(token)).status_code == 200


# --- products ----------------------------------------------------------------------------------------


def walk(client, query: str, limit: int = 3, between=None) -> list[int]:
    seen, cursor = [], None
    for _ in range(20):
        url = f"{API}/products?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url)
        assert page.status_code == 200, page.get_data(as_text=True)
        body = page.get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if between:
            between()
            between = None
        if cursor is None:
            return seen
    raise AssertionError("the cursor never ended")


def test_the_cursor_walks_every_product_once_in_every_order(client, session):
    prices = [500, 300, 900, 300, 700, 100, 800]
    products = [
        factories.ProductFactory(skus=[{"price_fen": price}], sales_count=i % 3, sort_weight=i % 2)
        for i, price in enumerate(prices)
    ]
    factories.ProductFactory(is_on_shelf=False)
    session.commit()
    ids = {product.id for product in products}
    for sort in ("", "sales", "newest", "price", "price_desc"):
        seen = walk(client, f"&sort={sort}")
        assert len(seen) == len(ids) and set(seen) == ids, sort
    by_price = walk(client, "&sort=price")
    shown = {p.id: p.skus[0].price_fen for p in products}
    assert [shown[i] for i in by_price] == sorted(prices)
    newest = walk(client, "&sort=newest")
    assert newest == sorted(ids, reverse=True)
    # The same cursor of another order is refused, not misread.
    cursor = client.get(f"{API}/products?limit=2&sort=sales").get_json()["next_cursor"]
    assert_error(client.get(f"{API}/products?sort=price&cursor={cursor}"), 422, "invalid")


def test_a_product_added_between_two_pages_moves_nothing(client, session):
    products = [factories.ProductFactory() for _ in range(6)]
    session.commit()

    def add_one():
        factories.ProductFactory()
        session.commit()

    seen = walk(client, "&sort=newest", between=add_one)
    assert seen == sorted((p.id for p in products), reverse=True)  # the new one is before the first page


def test_filters_by_category_and_words(client, session):
    tea = factories.CategoryFactory(name="茶叶")
    green = factories.CategoryFactory(name="绿茶", parent=tea)
    hidden = factories.CategoryFactory(name="隐藏", is_visible=False)
    in_green = factories.ProductFactory(title="龙井", category=green)
    factories.ProductFactory(title="杯子")
    session.commit()
    body = client.get(f"{API}/products?category={tea.id}").get_json()
    assert [item["id"] for item in body["items"]] == [in_green.id]
    assert [i["id"] for i in client.get(f"{API}/products?q=龙井").get_json()["items"]] == [in_green.id]
    assert [i["id"] for i in client.get(f"{API}/products?q=茶叶").get_json()["items"]] == [in_green.id]
    assert_error(client.get(f"{API}/products?category={hidden.id}"), 404, "not_found")
    categories = client.get(f"{API}/categories").get_json()["items"]
    assert [(c["name"], [k["name"] for k in c["children"]]) for c in categories] == [("茶叶", ["绿茶"])]


def h5_skus(client, product_id: int) -> dict:
    html = client.get(f"/p/{product_id}").get_data(as_text=True)
    raw = re.search(r"<script type=\"application/json\" data-sku-json>(.*?)</script>", html, re.S)[1]
    price_line = re.search(r"data-sku-price>([^<]*)<", html)[1]
    return {"skus": {sku["id"]: sku for sku in json.loads(raw)["skus"]}, "price": price_line}


def test_prices_are_the_h5_product_pages_with_a_running_discount(client, session, shopper):
    session.add(ShopSettings(id=1, name="小店", service_phone="400-000", announcement="今日上新"))
    product = factories.ProductFactory(
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"price_fen": 12_900, "stock": 5, "spec_values": ["红"], "original_price_fen": 15_900},
            {"price_fen": 9_900, "stock": 0, "spec_values": ["蓝"]},
        ],
    )
    session.commit()
    factories.running_discount(
        session, campaigns.ItemDraft(product.skus[0].id, price_fen=8_800), name="周末特惠"
    )
    session.commit()

    detail = client.get(f"{API}/products/{product.id}").get_json()
    h5 = h5_skus(client, product.id)
    for sku in detail["skus"]:
        assert sku["price"]["display"] == h5["skus"][sku["id"]]["price"]
        assert (sku["original"] or {}).get("display", "") == h5["skus"][sku["id"]]["original"]
        assert sku["stock"] == h5["skus"][sku["id"]]["stock"]
    assert {sku["id"]: sku["price"]["fen"] for sku in detail["skus"]} == {
        product.skus[0].id: 8_800,
        product.skus[1].id: 9_900,
    }
    assert detail["price_text"] == h5["price"]
    assert detail["activity"]["name"] == "周末特惠" and detail["activity"]["kind"] == "timed"
    assert [sku["in_stock"] for sku in detail["skus"]] == [True, False]
    assert detail["sold_out"] is False

    card = client.get(f"{API}/products").get_json()["items"][0]
    assert (card["price"]["fen"], card["price_high"]["fen"], card["activity"]) == (8_800, 12_900, True)
    assert card["was"]["fen"] == 9_900  # the lowest list price, struck out as on the H5 card

    # Signed in, as on the H5 page for the same shopper.
    token = api_login(client, shopper)
    signed = client.get(f"{API}/products/{product.id}", headers=bearer(token)).get_json()
    login(client, shopper)
    h5 = h5_skus(client, product.id)
    assert {sku["id"]: sku["price"]["display"] for sku in signed["skus"]} == {
        sku_id: sku["price"] for sku_id, sku in h5["skus"].items()
    }

    shop = client.get(f"{API}/shop").get_json()
    assert shop == {"name": "小店", "logo_url": None, "announcement": "今日上新", "service_phone": "400-000"}


def test_an_off_shelf_product_is_not_found(client, session):
    product = factories.ProductFactory(is_on_shelf=False)
    session.commit()
    assert_error(client.get(f"{API}/products/{product.id}"), 404, "not_found")


# --- the description ---------------------------------------------------------------------------------


def test_the_openapi_description_is_31_and_valid(client):
    document = client.get(f"{API}/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert document["paths"][f"{API}/me"]["get"]["security"] == [{"bearer": []}]
    # Every route of the API is described, and nothing else: a view added without @spec.validate fails here.
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and rule.rule.startswith(API)
    } - {f"{API}/openapi.json", f"{API}/docs"}
    assert set(document["paths"]) == routes
    assert {"/auth/login", "/auth/logout", "/me", "/shop", "/products", "/products/{product_id}"} <= {
        path.removeprefix(API) for path in document["paths"]
    }
    docs = client.get(f"{API}/docs")
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    assert (
        "GET /api/v1/products/{product_id}" in html
        and "<script" not in html
        and "http" not in html.split("</head>")[0]
    )


def test_a_server_error_under_api_is_json_too(app, client, monkeypatch):
    def broken(session):
        raise RuntimeError("the settings table is gone")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the error handler answers
    monkeypatch.setattr("app.api.catalog.get_shop_settings", broken)
    error = assert_error(client.get(f"{API}/shop"), 500, "server_error")
    assert "settings table" not in error["message"]


def test_every_operation_declares_what_the_blueprint_answers_before_its_view(client):
    """A bad token (401) on any operation and a body that is not JSON (415) on any that takes one are
    answered before the view runs: the description says so for each, and the answers are those."""
    document = client.get(f"{API}/openapi.json").get_json()
    walked = 0
    for path, item in document["paths"].items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            walked += 1
            assert "401" in operation["responses"], (method, path)
            call = getattr(client, method)
            assert_error(call(url, headers=bearer("not-a-token")), 401, "invalid_token")
            if method != "get":
                assert "415" in operation["responses"], (method, path)
                assert_error(call(url, data="a=1", content_type="text/plain"), 415)
    assert walked >= 7


def test_every_api_model_has_its_own_name():
    """The description names each schema by its class name: two models of one name (in two modules of
    app/api) would share one schema in the document, silently wrong for one of them."""
    import importlib
    import pkgutil

    from pydantic import BaseModel

    import app.api

    seen: dict[str, type] = {}
    for info in pkgutil.iter_modules(app.api.__path__):
        module = importlib.import_module(f"app.api.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
            ):
                assert seen.setdefault(value.__name__, value) is value, (
                    f"two API models named {value.__name__}"
                )
    assert len(seen) > 20
