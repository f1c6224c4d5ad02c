"""Security across the whole app: CSRF, who may open the back office, sessions that end, headers,
cookies, error pages (also for htmx), the production secret key, and redirects that stay on the site."""

import json
import re

import pytest
from werkzeug.routing import IntegerConverter

from app import create_app
from app.accounts.models import User
from tests import factories
from tests.conftest import base_config, csrf_token, login

HTMX = {"HX-Request": "true"}


def toast(response) -> dict:
    """The toast an htmx error response asks the page to show."""
    return json.loads(response.headers["HX-Trigger"])["toast"]


def assert_full_error_page(response, code: int, *texts: str) -> None:
    assert response.status_code == code
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "<html" in page
    for text in texts:
        assert text in page


def assert_htmx_error(response, code: int, message: str) -> None:
    """htmx does not swap error responses: a short text body and a toast, never a whole page."""
    assert response.status_code == code
    body = response.get_data(as_text=True)
    assert "<html" not in body and len(body) < 200
    assert toast(response) == {"level": "error", "message": message}


# ---------------------------------------------------------------- CSRF

EXPIRED = "页面已过期，请刷新后重试。"


def test_shop_form_posted_without_a_csrf_token_is_refused(client):
    user = factories.UserFactory()
    response = client.post("/login", data={"mobile": user.mobile, "password": factories.DEFAULT_PASSWORD})
    assert_full_error_page(response, 400, EXPIRED)
    assert client.get("/me").status_code == 302  # not logged in


def test_admin_form_posted_without_a_csrf_token_is_refused(owner_client, session):
    response = owner_client.post("/admin/settings", data={"name": "被篡改的店名", "low_stock_threshold": "5"})
    assert_full_error_page(response, 400, EXPIRED)
    response = owner_client.post("/admin/settings", data={"name": "被篡改的店名"}, headers=HTMX)
    assert_htmx_error(response, 400, EXPIRED)
    assert "被篡改的店名" not in owner_client.get("/admin/settings").get_data(as_text=True)


def test_admin_login_posted_without_a_csrf_token_is_refused(client, owner):
    response = client.post(
        "/admin/login", data={"mobile": owner.mobile, "password": factories.DEFAULT_PASSWORD}
    )
    assert_full_error_page(response, 400, EXPIRED)


def test_htmx_post_with_only_the_csrf_header_passes(client):
    user = factories.UserFactory()
    login(client, user)
    token = csrf_token(client, "/me")
    response = client.post("/logout", headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code in (200, 302)
    assert client.get("/me").status_code == 302  # the logout really happened


def test_htmx_post_with_a_wrong_csrf_header_is_refused_with_a_toast(owner_client):
    response = owner_client.post("/admin/logout", headers={**HTMX, "X-CSRFToken": "forged"})
    assert_htmx_error(response, 400, EXPIRED)
    assert owner_client.get("/admin/").status_code == 200  # still logged in


# ---------------------------------------------------------------- the back office is for staff only


def admin_requests(app):
    """Every (method, url) under /admin except the login page, with dummy values for URL parameters."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin") or rule.endpoint == "admin.login":
            continue
        values = {
            name: 1 if isinstance(converter, IntegerConverter) else "x"
            for name, converter in rule._converters.items()
        }
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_every_admin_route_refuses_anonymous_and_customer_users(app):
    routes = admin_requests(app)
    assert len(routes) >= 5, routes  # the walk really walked
    assert ("GET", "/admin/") in routes and ("POST", "/admin/settings") in routes

    anonymous = app.test_client()
    anon_token = {"X-CSRFToken": csrf_token(anonymous, "/login")}
    customer = app.test_client()
    login(customer, factories.UserFactory(role="customer"))
    customer_token = {"X-CSRFToken": csrf_token(customer, "/me")}

    failures = []
    for method, url in routes:
        plain = anonymous.open(url, method=method, headers=anon_token)
        if plain.status_code != 302 or not plain.headers["Location"].startswith("/admin/login"):
            failures.append(f"anonymous {method} {url}: {plain.status_code} {plain.headers.get('Location')}")
        htmx = anonymous.open(url, method=method, headers={**anon_token, **HTMX})
        if htmx.status_code != 401 or not htmx.headers.get("HX-Redirect", "").startswith("/admin/login"):
            failures.append(
                f"anonymous htmx {method} {url}: {htmx.status_code} {htmx.headers.get('HX-Redirect')}"
            )
        for headers in (customer_token, {**customer_token, **HTMX}):
            denied = customer.open(url, method=method, headers=headers)
            if denied.status_code != 403:
                failures.append(f"customer {method} {url} {sorted(headers)}: {denied.status_code}")
    assert not failures, "\n".join(failures)


def test_back_office_login_page_is_open_to_everyone(client):
    assert client.get("/admin/login").status_code == 200


# ---------------------------------------------------------------- sessions that end


def end_sessions_of(session, user) -> None:
    """What a password change elsewhere does: every existing session of the user stops working."""
    session.expire_all()
    session.get(User, user.id).auth_version += 1
    session.commit()


def test_an_ended_session_on_an_htmx_request_answers_hx_redirect_to_the_login_page(
    owner_client, owner, session
):
    assert owner_client.get("/admin/products").status_code == 200
    end_sessions_of(session, owner)
    response = owner_client.get(
        "/admin/products?q=x", headers={**HTMX, "HX-Current-URL": "http://localhost/admin/products?q=杯子"}
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/admin/login?next=")
    assert "/admin/products" in response.headers["HX-Redirect"]
    assert response.get_data(as_text=True) == ""  # no login form swapped into the page
    plain = owner_client.get("/admin/products")
    assert plain.status_code == 302 and plain.headers["Location"].startswith("/admin/login")


def test_an_ended_shop_session_on_an_htmx_request_answers_hx_redirect_to_the_shop_login(client, session):
    user = factories.UserFactory()
    login(client, user)
    end_sessions_of(session, user)
    response = client.get("/me", headers={**HTMX, "HX-Current-URL": "http://localhost/me"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/me"


def test_hx_redirect_never_sends_the_login_back_to_another_site(client):
    response = client.get("/admin/products", headers={**HTMX, "HX-Current-URL": "https://evil.example/phish"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/admin/login"


# ---------------------------------------------------------------- headers and cookies


@pytest.mark.parametrize("path", ["/", "/login", "/admin/login", "/no-such-page"])
def test_responses_carry_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'self'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] in ("DENY", "SAMEORIGIN")
    assert "HX-Request" in response.headers["Vary"]


def cookie(response, name: str) -> str:
    found = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]
    assert found, f"no {name} cookie set"
    return found[-1]


def test_session_cookies_are_httponly_and_samesite_lax(client):
    session_cookie = cookie(client.get("/login"), "fenxiao_session")
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Secure" not in session_cookie  # plain http in development must still work
    user = factories.UserFactory()
    remember = cookie(login(client, user), "fenxiao_remember")
    assert "HttpOnly" in remember and "SameSite=Lax" in remember


def test_cookies_are_secure_when_session_cookie_secure_is_set(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    app = create_app(base_config(db_url, tmp_path))
    response = app.test_client().get("/login")
    session_cookie = cookie(response, "fenxiao_session")
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# ---------------------------------------------------------------- error pages in Chinese, htmx-aware


def test_404_page_is_chinese_and_htmx_gets_a_toast(client):
    assert_full_error_page(client.get("/no-such-page"), 404, "页面不存在", "返回")
    assert_htmx_error(client.get("/no-such-page", headers=HTMX), 404, "页面不存在或已被删除。")


def test_admin_404_uses_the_back_office_look(owner_client):
    response = owner_client.get("/admin/products/999999/edit")
    assert_full_error_page(response, 404)
    assert "bootstrap" in response.get_data(as_text=True) and "weui" not in response.get_data(as_text=True)


def test_403_page_is_chinese_and_htmx_gets_a_toast(client):
    login(client, factories.UserFactory(role="customer"))
    assert_full_error_page(client.get("/admin/"), 403, "无权访问", "你没有权限打开这个页面。")
    assert_htmx_error(client.get("/admin/", headers=HTMX), 403, "你没有权限打开这个页面。")


def test_a_customer_at_the_back_office_is_offered_the_shop_and_the_staff_login(client):
    """The dashboard would only answer 403 again: the page offers the way back and the way in."""
    login(client, factories.UserFactory(role="customer"))
    page = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/"' not in page and "返回概览" not in page
    assert 'href="/">返回商城</a>' in page
    assert 'href="/admin/login">以员工身份登录</a>' in page
    # The staff login is a real way in from there: the customer's session gives way to the staff's.
    staff = factories.UserFactory(role="staff")
    token = csrf_token(client, "/admin/login")
    data = {"mobile": staff.mobile, "password": factories.DEFAULT_PASSWORD, "csrf_token": token}
    response = client.post("/admin/login", data=data)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_staff_who_may_not_open_a_page_go_back_to_the_dashboard(client):
    login(client, factories.UserFactory(role="staff"), admin=True)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "返回概览" in page and "以员工身份登录" not in page


def test_405_page_is_chinese_and_htmx_gets_a_toast(client):
    assert_full_error_page(client.get("/logout"), 405, "不支持这样访问该页面。")
    assert_htmx_error(client.get("/logout", headers=HTMX), 405, "不支持这样访问该页面。")


def test_429_page_is_chinese_and_htmx_gets_a_toast(app, client):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    token = csrf_token(client, "/login")
    data = {"mobile": "13812345678", "password": "wrong-pass1", "csrf_token": token}
    assert [client.post("/login", data=data).status_code for _ in range(2)] == [200, 200]
    assert_full_error_page(client.post("/login", data=data), 429, "尝试次数过多")
    assert_htmx_error(client.post("/login", data=data, headers=HTMX), 429, "尝试次数过多，请 1 分钟后再试。")


def test_500_page_is_chinese_and_htmx_gets_a_toast(db_url, tmp_path):
    app = create_app({**base_config(db_url, tmp_path), "PROPAGATE_EXCEPTIONS": False})

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug")

    client = app.test_client()
    response = client.get("/boom")
    assert_full_error_page(response, 500, "服务器错误", "服务器开小差了，请稍后再试。")
    assert "a bug" not in response.get_data(as_text=True) and "Traceback" not in response.get_data(
        as_text=True
    )
    assert_htmx_error(client.get("/boom", headers=HTMX), 500, "服务器开小差了，请稍后再试。")


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("environment", ["production", None])
def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path, environment):
    if environment:
        monkeypatch.setenv("FENXIAO_ENV", environment)
    else:
        monkeypatch.delenv("FENXIAO_ENV", raising=False)  # production is the default
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret")
    assert create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"}).secret_key


# ---------------------------------------------------------------- redirects stay on the site


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "evil.example",
    ],
)
def test_back_office_login_never_redirects_off_site(client, owner, target):
    response = client.post(
        "/admin/login?" + "next=" + re.sub(r"[^A-Za-z0-9]", lambda m: f"%{ord(m.group()):02X}", target),
        data={
            "mobile": owner.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "next": target,
            "csrf_token": csrf_token(client, "/admin/login"),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_back_office_login_does_follow_a_local_next(client, owner):
    response = client.post(
        "/admin/login",
        data={
            "mobile": owner.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "next": "/admin/products?q=杯",
            "csrf_token": csrf_token(client, "/admin/login"),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/products?q=")
