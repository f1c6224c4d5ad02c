"""Bearer tokens beyond tests/test_api.py: an expires_at in the past, a revoked token on a change, a stored
hash used as a token, an account disabled and enabled again through the back office's service, a password
changed by its holder, a token and a cookie session of another user in one request, and CSRF on a cookie
session's change under /api (but not on a bearer one)."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts import management
from app.accounts import services as accounts
from app.accounts.access_tokens import AccessToken
from app.accounts.models import User
from app.orders.models import Refund, RefundRequestStatus
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_aftersales import paid_order
from tests.test_api import API, api_login, assert_error, bearer


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13800004444")


@pytest.fixture
def other(app):
    return factories.UserFactory(mobile="13800005555")


@pytest.fixture
def requested(session, shopper):
    """A paid order of the shopper with an open 仅退款 request: something a POST can change."""
    product = factories.ProductFactory(skus=[{"price_fen": 1000, "stock": 5}])
    order = paid_order(session, shopper, product.skus[0], qty=1, ship=False)
    from app import orders

    refund = orders.refunds.request_refund(
        session, order, shopper, items={order.lines[0].id: 1}, reason="不想要了", kind="refund_only"
    )
    session.commit()
    return refund


def status_of(session, refund_id) -> str:
    session.expire_all()
    return session.get(Refund, refund_id).status


def row_of(session, user_id) -> AccessToken:
    return session.scalars(
        select(AccessToken).where(AccessToken.user_id == user_id).order_by(AccessToken.id.desc())
    ).first()


def test_a_token_whose_expires_at_has_passed_is_refused(client, session, shopper, requested):
    token = api_login(client, shopper)
    row = row_of(session, shopper.id)
    set_clock(row.expires_at - timedelta(seconds=1))  # the last second of its life: still good
    try:
        assert client.get(f"{API}/me", headers=bearer(token)).status_code == 200
    finally:
        set_clock(None)
    session.execute(
        update(AccessToken).where(AccessToken.id == row.id).values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")
    cancel = client.post(f"{API}/aftersales/{requested.id}/cancel", headers=bearer(token))
    assert_error(cancel, 401, "invalid_token")
    assert status_of(session, requested.id) == RefundRequestStatus.REQUESTED


def test_a_revoked_token_changes_nothing_and_only_it_is_revoked(app, client, session, shopper, requested):
    kept = api_login(client, shopper)
    token = api_login(client, shopper)
    assert client.post(f"{API}/auth/logout", headers=bearer(token)).status_code == 200
    assert row_of(session, shopper.id).revoked_at is not None
    assert_error(client.get(f"{API}/aftersales", headers=bearer(token)), 401, "invalid_token")
    assert_error(
        client.post(f"{API}/aftersales/{requested.id}/cancel", headers=bearer(token)), 401, "invalid_token"
    )
    assert status_of(session, requested.id) == RefundRequestStatus.REQUESTED
    # The shopper's other token (another phone) still signs in.
    assert client.get(f"{API}/me", headers=bearer(kept)).get_json()["id"] == shopper.id


def test_the_stored_hash_or_one_changed_character_signs_no_one_in(client, session, shopper):
    token = api_login(client, shopper)
    stored = row_of(session, shopper.id).token_hash
    assert_error(client.get(f"{API}/me", headers=bearer(stored)), 401, "invalid_token")  # a database copy
    middle = len(token) // 2
    changed = token[:middle] + ("a" if token[middle] != "a" else "b") + token[middle + 1 :]
    assert_error(client.get(f"{API}/me", headers=bearer(changed)), 401, "invalid_token")
    assert_error(client.get(f"{API}/me", headers=bearer(token + "x")), 401, "invalid_token")
    assert client.get(f"{API}/me", headers=bearer(token)).status_code == 200


def test_an_account_disabled_by_the_shop_stays_signed_out_when_enabled_again(client, session, shopper):
    owner = factories.UserFactory(role="owner")
    token = api_login(client, shopper)
    management.set_account_active(session, shopper, active=False, actor=owner, reason="刷单")
    session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")
    management.set_account_active(session, session.get(User, shopper.id), active=True, actor=owner)
    session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")  # not brought back
    assert client.get(f"{API}/me", headers=bearer(api_login(client, shopper))).status_code == 200


def test_a_password_changed_by_its_holder_ends_the_tokens(client, session, shopper):
    token = api_login(client, shopper)
    accounts.change_password(
        session.get(User, shopper.id), current=factories.DEFAULT_PASSWORD, new="brand-new-pass-9"
    )
    session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")
    assert (
        client.get(f"{API}/me", headers=bearer(api_login(client, shopper, "brand-new-pass-9"))).status_code
        == 200
    )


def test_a_bearer_request_is_judged_by_its_token_never_by_the_cookie(app, client, session, shopper, other):
    login(client, other)  # this client now carries the other user's H5 session cookie
    token = api_login(app.test_client(), shopper)
    assert client.get(f"{API}/me").get_json()["id"] == other.id
    assert client.get(f"{API}/me", headers=bearer(token)).get_json()["id"] == shopper.id
    # A bad or ended token is refused, not helped by the cookie.
    assert_error(client.get(f"{API}/me", headers=bearer(token[:-2])), 401, "invalid_token")
    assert_error(client.get(f"{API}/me", headers=bearer("")), 401, "invalid_token")
    assert client.post(f"{API}/auth/logout", headers=bearer(token)).status_code == 200  # no CSRF needed
    assert_error(client.get(f"{API}/me", headers=bearer(token)), 401, "invalid_token")
    # Logging the token out left the cookie session alone.
    assert client.get(f"{API}/me").get_json()["id"] == other.id
    assert client.get("/me").status_code == 200


def test_a_cookie_change_under_api_needs_csrf_a_bearer_one_does_not(app, client, session, shopper, requested):
    login(client, shopper)
    url = f"{API}/aftersales/{requested.id}/cancel"
    refused = assert_error(client.post(url), 400, "csrf_failed")
    assert refused["fields"] == {}
    assert_error(client.post(url, headers={"X-CSRFToken": "not-the-token"}), 400, "csrf_failed")
    assert status_of(session, requested.id) == RefundRequestStatus.REQUESTED
    # With the page's token the same cookie request goes through.
    done = client.post(url, headers={"X-CSRFToken": csrf_token(client, "/me")})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert status_of(session, requested.id) == RefundRequestStatus.CANCELLED


def test_a_bearer_change_needs_no_csrf_even_with_the_cookie(app, client, session, shopper, requested):
    login(client, shopper)
    token = api_login(app.test_client(), shopper)
    done = client.post(f"{API}/aftersales/{requested.id}/cancel", headers=bearer(token))
    assert done.status_code == 200, done.get_data(as_text=True)
    assert status_of(session, requested.id) == RefundRequestStatus.CANCELLED
