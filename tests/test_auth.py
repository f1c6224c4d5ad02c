"""Accounts: registering, logging in, the rate limit, and who may enter the back office."""

import pytest

from app.accounts.models import User
from tests import factories
from tests.conftest import csrf_token, login


def post_form(client, path, data):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, path)})


def test_register_then_log_in(client, session):
    response = post_form(
        client,
        "/register",
        {"mobile": "+86 138-1234-5678", "password": "abc12345", "password_again": "abc12345", "agree": "y"},
    )
    assert response.status_code == 302
    user = session.query(User).one()
    assert user.mobile == "13812345678"
    assert user.password_hash != "abc12345"
    assert user.check_password("abc12345")
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"mobile": "12345", "password": "abc12345"}, "有效的中国大陆手机号"),
        ({"mobile": "13812345678", "password": "short1"}, "至少需要 8 个字符"),
        ({"mobile": "13812345678", "password": "onlyletters"}, "字母和数字"),
    ],
)
def test_register_refuses_bad_input_with_a_message(client, session, data, message):
    data = {**data, "password_again": data["password"], "agree": "y"}
    response = post_form(client, "/register", data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert session.query(User).count() == 0


def test_register_refuses_a_taken_mobile(client, session):
    factories.UserFactory(mobile="13812345678")
    response = post_form(
        client,
        "/register",
        {"mobile": "13812345678", "password": "abc12345", "password_again": "abc12345", "agree": "y"},
    )
    assert "已注册" in response.get_data(as_text=True)
    assert session.query(User).count() == 1


def test_wrong_password_is_refused_without_saying_which_part(client):
    user = factories.UserFactory()
    response = post_form(client, "/login", {"mobile": user.mobile, "password": "wrong-password1"})
    assert response.status_code == 200
    assert "手机号或密码错误" in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_login_is_rate_limited(client):
    user = factories.UserFactory()
    token = csrf_token(client)
    responses = [
        client.post("/login", data={"mobile": user.mobile, "password": "nope12345", "csrf_token": token})
        for _ in range(11)
    ]
    assert [r.status_code for r in responses[:10]] == [200] * 10
    assert responses[10].status_code == 429
    assert "尝试次数过多" in responses[10].get_data(as_text=True)
    # The right password does not get through either while the limit holds.
    blocked = client.post(
        "/login", data={"mobile": user.mobile, "password": factories.DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert blocked.status_code == 429


def test_changing_the_password_ends_other_sessions(app, session):
    user = factories.UserFactory()
    phone, laptop = app.test_client(), app.test_client()
    login(phone, user)
    login(laptop, user)
    response = post_form(
        phone,
        "/me/password",
        {
            "current_password": factories.DEFAULT_PASSWORD,
            "password": "newpass123",
            "password_again": "newpass123",
        },
    )
    assert response.status_code == 302
    assert phone.get("/me").status_code == 200
    assert laptop.get("/me").status_code == 302


def test_next_never_leaves_the_site(client):
    user = factories.UserFactory()
    response = client.post(
        "/login?next=https://evil.example/",
        data={
            "mobile": user.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "next": "//evil.example/",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"


def test_a_rolled_back_registration_leaves_no_account(session):
    """The account is written inside a savepoint as the transaction's first write; rolling back the
    transaction must undo it (on SQLite too, where the driver used to commit at the savepoint's release)."""
    from app.accounts import services as accounts

    accounts.register_user(session, mobile="13612345678", password="abc12345")
    session.rollback()
    assert session.query(User).count() == 0
