"""The pages a shared link opens set no cookie; the first thing a visitor sends starts the session
(app/lazy_csrf.py). With JavaScript the page fetches a token first; without it the form is sent back once."""

import re

from tests import factories
from tests.conftest import login

LANDING = ["/", "/categories", "/search?q=%E8%8C%B6"]


def _token_in(page: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]*)"', page).group(1)


def _cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


def test_a_first_visit_to_the_shop_sets_no_cookie_and_prints_no_token(client, session):
    product = factories.ProductFactory()
    session.commit()
    for path in [*LANDING, f"/p/{product.id}", f"/c/{product.category_id or 0}"]:
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert _cookies(response) == [], path
        if response.status_code == 200:
            page = response.get_data(as_text=True)
            assert _token_in(page) == "", path
            assert 'name="csrf_token" value=""' in page or "buy-form" not in page


def test_the_token_endpoint_starts_the_session_and_its_token_is_accepted(client, session):
    product = factories.ProductFactory()
    session.commit()
    response = client.get("/csrf-token")
    assert response.status_code == 200
    assert response.cache_control.no_store
    assert any(cookie.startswith("fenxiao_session=") for cookie in _cookies(response))
    token = response.get_json()["token"]
    added = client.post(
        "/cart/add",
        data={"sku_id": product.skus[0].id, "qty": 1, "csrf_token": ""},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert added.status_code == 204
    # From now on the visitor has a session: pages carry the token (signed anew, so compare what it signs).
    assert (
        _token_in(client.get(f"/p/{product.id}").get_data(as_text=True)).split(".")[0] == token.split(".")[0]
    )


def test_without_javascript_the_first_post_comes_back_to_the_page_once(client, session):
    product = factories.ProductFactory()
    session.commit()
    page_url = f"http://localhost/p/{product.id}"
    refused = client.post(
        "/cart/add",
        data={"sku_id": product.skus[0].id, "qty": 1, "csrf_token": ""},
        headers={"Referer": page_url},
    )
    assert refused.status_code == 303
    assert refused.headers["Location"] == f"/p/{product.id}"
    again = client.get(f"/p/{product.id}")
    page = again.get_data(as_text=True)
    assert "请再点一次" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    added = client.post("/cart/add", data={"sku_id": product.skus[0].id, "qty": 1, "csrf_token": token})
    assert added.status_code == 302
    assert "已加入购物车" in client.get(added.headers["Location"]).get_data(as_text=True)


def test_a_post_from_elsewhere_or_with_a_bad_token_is_refused_as_before(client, session):
    product = factories.ProductFactory()
    session.commit()
    data = {"sku_id": product.skus[0].id, "qty": 1, "csrf_token": ""}
    foreign = client.post("/cart/add", data=data, headers={"Referer": "https://evil.example/p/1"})
    assert foreign.status_code == 400
    off_site = client.post("/cart/add", data=data, headers={"Referer": "http://localhost//evil.example/"})
    assert off_site.status_code == 400
    client.get("/csrf-token")  # now the visitor has a session: a missing token is an error, not a retry
    stale = client.post("/cart/add", data=data, headers={"Referer": f"http://localhost/p/{product.id}"})
    assert stale.status_code == 400
    assert "页面已过期" in stale.get_data(as_text=True)


def test_a_signed_in_shopper_gets_the_token_in_the_page(client, session):
    shopper = factories.UserFactory()
    session.commit()
    login(client, shopper)
    assert _token_in(client.get("/").get_data(as_text=True)) != ""


def test_a_share_link_starts_the_session_so_its_page_carries_the_token(client, session):
    from tests.test_distribution import distributor

    product = factories.ProductFactory()
    code = distributor(session).code
    response = client.get(f"/p/{product.id}?ref={code}")
    assert any(cookie.startswith("fenxiao_session=") for cookie in _cookies(response))
    assert _token_in(response.get_data(as_text=True)) != ""


def test_only_the_add_to_cart_form_is_sent_back_once(client, session):
    """Other forms always printed their token; one arriving without it is the usual error."""
    refused = client.post(
        "/login",
        data={"mobile": "13700000000", "password": "x"},
        headers={"Referer": "http://localhost/login"},
    )
    assert refused.status_code == 400
    htmx = client.post(
        "/cart/add", data={"sku_id": "1"}, headers={"Referer": "http://localhost/p/1", "HX-Request": "true"}
    )
    assert htmx.status_code == 400  # shop.js fetched a token before any htmx post: this one is forged
