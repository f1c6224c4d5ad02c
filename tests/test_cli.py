"""`flask create-admin`: how a merchant makes the first back-office account on a new server."""

import pytest
from sqlalchemy import select

from app.accounts.models import User
from tests import factories
from tests.conftest import login


def owner_by_mobile(session, mobile):
    session.expire_all()
    return session.scalar(select(User).where(User.mobile == mobile))


def test_create_admin_makes_an_owner_who_can_log_in_to_the_back_office(runner, session, client):
    result = runner.invoke(
        args=["create-admin", "--mobile", "138 1234 5678", "--password", "abc12345", "--nickname", "老板"]
    )
    assert result.exit_code == 0, result.output
    assert "13812345678" in result.output
    user = owner_by_mobile(session, "13812345678")
    assert user.role == "owner"
    assert user.nickname == "老板"
    assert user.check_password("abc12345")
    login(client, user, "abc12345", admin=True)
    assert client.get("/admin/").status_code == 200


def test_create_admin_asks_for_the_password_twice_when_not_given(runner, session):
    result = runner.invoke(
        args=["create-admin", "--mobile", "13812345678"],
        input="abc12345\nabc99999\nabc12345\nabc12345\n",
    )
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output  # the first pair differed, so it asked again
    assert "abc12345" not in result.output  # hidden input is not echoed
    assert owner_by_mobile(session, "13812345678").check_password("abc12345")


def test_create_admin_asks_for_the_mobile_when_not_given(runner, session):
    result = runner.invoke(args=["create-admin", "--password", "abc12345"], input="13812345678\n")
    assert result.exit_code == 0, result.output
    assert owner_by_mobile(session, "13812345678").role == "owner"


@pytest.mark.parametrize(
    ("mobile", "password", "message"),
    [
        ("12345", "abc12345", "请输入有效的中国大陆手机号"),
        ("23812345678", "abc12345", "请输入有效的中国大陆手机号"),
        ("13812345678", "abc123", "密码至少需要 8 个字符"),
        ("13812345678", "abcdefgh", "字母和数字"),
        ("13812345678", "12345678", "字母和数字"),
    ],
)
def test_create_admin_refuses_bad_input_with_a_clear_message(runner, session, mobile, password, message):
    result = runner.invoke(args=["create-admin", "--mobile", mobile, "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert session.scalar(select(User).where(User.role == "owner")) is None


def test_create_admin_promotes_an_existing_customer_and_resets_the_password(runner, session, client):
    customer = factories.UserFactory(mobile="13812345678", role="customer", nickname="老顾客")
    result = runner.invoke(args=["create-admin", "--mobile", "13812345678", "--password", "newpass123"])
    assert result.exit_code == 0, result.output
    user = owner_by_mobile(session, "13812345678")
    assert user.id == customer.id
    assert user.role == "owner"
    assert user.nickname == "老顾客"
    assert user.check_password("newpass123")
    assert not user.check_password(factories.DEFAULT_PASSWORD)
    assert session.query(User).count() == 1


def test_create_admin_with_staff_flag_makes_a_staff_account(runner, session):
    result = runner.invoke(
        args=["create-admin", "--mobile", "13812345678", "--password", "abc12345", "--staff"]
    )
    assert result.exit_code == 0, result.output
    assert owner_by_mobile(session, "13812345678").role == "staff"
