"""Signing in from the WeChat mini-program (app/api/mini_program.py) against the fake WeChat: wx.login's code
→ an account and a token (new, returning, the H5 account by unionid), the getPhoneNumber code → a verified
mobile number or the H5 account that has it (joined only while the mini-program account is empty), and the
refusals: a used code, no mini-program, a disabled account, WeChat unreachable, two first logins at once."""

import time

import pytest
from sqlalchemy import func, select

from app import orders
from app.accounts.models import AccountEvent, AccountEventKind, User
from app.extensions import db
from app.marketing import coupons, points
from app.marketing.models import Coupon
from app.payments.settings import save_payment_settings
from tests import factories
from tests.conftest import run_together
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat
from tests.test_api import API, api_login, assert_error, bearer

OPENID = "oMiniProgramShopper000000001"
UNIONID = "oUnionShopper00000000000001"


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url, "WECHATPAY_GATEWAY": wechat.url}


@pytest.fixture
def mini_program(app, wechat):
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=True))
    db.session.commit()


def mini_login(client, wechat, openid=OPENID, unionid=None, status=200):
    response = client.post(f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for(openid, unionid)})
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    return response.get_json()


def link_phone(client, wechat, token, mobile):
    return client.post(
        f"{API}/auth/wechat-mini/phone",
        json={"code": wechat.mp_phone_code_for(mobile)},
        headers=bearer(token),
    )


def events(user_id) -> list[tuple[str, str]]:
    rows = db.session.scalars(
        select(AccountEvent).where(AccountEvent.user_id == user_id).order_by(AccountEvent.id)
    )
    return [(row.kind, row.note) for row in rows]


def fresh(user_id) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


# --- wx.login ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("mini_program")
def test_a_new_wechat_user_gets_an_account_and_a_token(client, wechat):
    body = mini_login(client, wechat)
    assert body["has_mobile"] is False and body["token_type"] == "Bearer"
    assert body["user"]["nickname"] == "微信用户0001" and body["user"]["mobile_masked"] == ""
    me = client.get(f"{API}/me", headers=bearer(body["token"]))
    assert me.status_code == 200 and me.get_json()["id"] == body["user"]["id"]
    user = fresh(body["user"]["id"])
    assert (user.mp_openid, user.wechat_unionid, user.mobile, user.role) == (OPENID, None, None, "customer")


@pytest.mark.usefixtures("mini_program")
def test_a_returning_user_gets_the_same_account(client, wechat):
    first = mini_login(client, wechat)
    again = mini_login(client, wechat, unionid=UNIONID)  # the mini-program got bound to an open platform
    assert again["user"]["id"] == first["user"]["id"]
    assert again["token"] != first["token"]
    assert fresh(first["user"]["id"]).wechat_unionid == UNIONID  # learnt on the way
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.usefixtures("mini_program")
def test_the_unionid_of_an_h5_account_signs_in_to_that_same_account(client, wechat):
    h5 = factories.UserFactory(mobile="13900001234")
    h5.wechat_unionid = UNIONID
    db.session.commit()
    body = mini_login(client, wechat, unionid=UNIONID)
    assert body["user"]["id"] == h5.id
    assert body["has_mobile"] is True and body["user"]["mobile_masked"] == "139****1234"
    assert fresh(h5.id).mp_openid == OPENID
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    # Next time the openid alone finds it.
    assert mini_login(client, wechat)["user"]["id"] == h5.id


@pytest.mark.usefixtures("mini_program")
def test_a_used_or_made_up_code_is_refused(client, wechat):
    code = wechat.mp_code_for(OPENID)
    assert client.post(f"{API}/auth/wechat-mini", json={"code": code}).status_code == 200
    again = client.post(f"{API}/auth/wechat-mini", json={"code": code})
    assert_error(again, 401, "wechat_code_invalid")
    assert_error(client.post(f"{API}/auth/wechat-mini", json={"code": "made-up"}), 401, "wechat_code_invalid")
    assert_error(client.post(f"{API}/auth/wechat-mini", json={"code": ""}), 422, "invalid")
    assert_error(client.post(f"{API}/auth/wechat-mini", json={}), 422, "invalid")


def test_without_a_mini_program_the_login_is_unavailable(client, wechat):
    save_payment_settings(db.session, merchant_settings(wechat))  # WeChat Pay, but no mini-program
    db.session.commit()
    code = wechat.mp_code_for(OPENID)
    assert_error(client.post(f"{API}/auth/wechat-mini", json={"code": code}), 503, "mini_program_off")
    assert code in wechat.mp_codes  # WeChat was not even asked


@pytest.mark.usefixtures("mini_program")
def test_wechat_unreachable_is_503(app, client, wechat):
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:9"  # nothing listens there
    response = client.post(f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for(OPENID)})
    assert_error(response, 503, "wechat_unavailable")
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


@pytest.mark.usefixtures("mini_program")
def test_a_disabled_account_is_refused(client, wechat):
    body = mini_login(client, wechat)
    user = fresh(body["user"]["id"])
    user.is_active = False
    h5 = factories.UserFactory(mobile="13900005678", is_active=False)
    h5.wechat_unionid = UNIONID
    db.session.commit()
    assert_error(client.get(f"{API}/me", headers=bearer(body["token"])), 401, "invalid_token")
    response = client.post(f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for(OPENID)})
    assert_error(response, 403, "account_disabled")
    by_unionid = client.post(
        f"{API}/auth/wechat-mini", json={"code": wechat.mp_code_for("oAnotherOpenid0000000000001", UNIONID)}
    )
    assert_error(by_unionid, 403, "account_disabled")
    assert fresh(h5.id).mp_openid is None


def test_two_first_logins_at_once_make_one_account(pg_app, wechat):
    pg_app.config["WECHAT_API_BASE"] = wechat.url
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=True))
    db.session.commit()
    codes = [wechat.mp_code_for(OPENID, UNIONID) for _ in range(4)]

    def first_login(i):
        response = pg_app.test_client().post(f"{API}/auth/wechat-mini", json={"code": codes[i]})
        return response.status_code, response.get_json()["user"]["id"]

    results = run_together(pg_app, 4, first_login)
    assert [status for status, _id in results] == [200] * 4, results
    assert len({user_id for _status, user_id in results}) == 1
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(User).where(User.mp_openid == OPENID)) == 1


# --- getPhoneNumber ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("mini_program")
def test_a_verified_number_no_one_has_is_set_on_the_account(client, wechat):
    body = mini_login(client, wechat)
    response = link_phone(client, wechat, body["token"], "13912345678")
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["merged"] is False and answer["session"] is None
    assert answer["user"] == client.get(f"{API}/me", headers=bearer(body["token"])).get_json()
    assert answer["user"]["mobile_masked"] == "139****5678"
    assert fresh(body["user"]["id"]).mobile == "13912345678"
    assert events(body["user"]["id"]) == [(AccountEventKind.MOBILE_LINKED, "139****5678")]
    # The same number again changes nothing; another one is refused.
    assert link_phone(client, wechat, body["token"], "13912345678").get_json()["merged"] is False
    assert_error(link_phone(client, wechat, body["token"], "13700000000"), 409, "account_conflict")
    # And the next wx.login says it has a number.
    assert mini_login(client, wechat)["has_mobile"] is True


def newcomer_coupon(session):
    coupons.save_template(
        session,
        None,
        {
            "name": "新人券",
            "kind": "amount",
            "channel": "newcomer",
            "value_fen": 500,
            "threshold_fen": 0,
            "total_qty": 0,
            "per_user_limit": 1,
            "scope_kind": "all",
            "valid_days": 7,
        },
    )
    session.commit()


@pytest.mark.usefixtures("mini_program")
def test_the_number_of_an_h5_account_joins_the_mini_program_to_it(client, session, wechat):
    newcomer_coupon(session)  # every new account gets one: it does not make the account "hold" anything
    h5 = factories.UserFactory(mobile="13900001234")
    session.commit()
    body = mini_login(client, wechat, unionid=UNIONID)
    mini_id = body["user"]["id"]
    assert mini_id != h5.id
    assert session.scalar(select(func.count()).select_from(Coupon).where(Coupon.user_id == mini_id)) == 1

    response = link_phone(client, wechat, body["token"], "13900001234")
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["merged"] is True and answer["user"]["id"] == h5.id
    new_token = answer["session"]["token"]
    assert answer["session"]["has_mobile"] is True and answer["session"]["user"]["id"] == h5.id
    assert client.get(f"{API}/me", headers=bearer(new_token)).get_json()["id"] == h5.id
    assert_error(client.get(f"{API}/me", headers=bearer(body["token"])), 401, "invalid_token")

    joined, emptied = fresh(h5.id), fresh(mini_id)
    assert (joined.mp_openid, joined.wechat_unionid, joined.is_active) == (OPENID, UNIONID, True)
    assert (emptied.mp_openid, emptied.wechat_unionid, emptied.is_active) == (None, None, False)
    assert events(mini_id) == [(AccountEventKind.MERGED_INTO, f"#{h5.id}")]
    assert events(h5.id) == [(AccountEventKind.MERGED_FROM, f"#{mini_id}")]
    # From now on wx.login signs in to the H5 account, and the password still works too.
    assert mini_login(client, wechat)["user"]["id"] == h5.id
    assert api_login(client, joined)


def place_order(user):
    product = factories.ProductFactory(skus=[{"price_fen": 1000, "stock": 10}])
    address = factories.AddressFactory(user=user)
    order = orders.checkout.place_order(
        db.session,
        user=user,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key=f"mini-program-{time.time_ns()}",
    )
    db.session.commit()
    return order


@pytest.mark.usefixtures("mini_program")
@pytest.mark.parametrize("holding", ["order", "points"])
def test_a_mini_program_account_with_its_own_orders_or_points_is_not_joined(client, session, wechat, holding):
    h5 = factories.UserFactory(mobile="13900001234")
    session.commit()
    body = mini_login(client, wechat)
    mini = fresh(body["user"]["id"])
    if holding == "order":
        place_order(mini)
    else:
        points.add_points(session, mini.id, 100, "adjust", note="test")
        session.commit()
    error = assert_error(link_phone(client, wechat, body["token"], "13900001234"), 409, "account_conflict")
    assert "联系商家" in error["message"]
    assert client.get(f"{API}/me", headers=bearer(body["token"])).status_code == 200  # nothing changed
    assert (fresh(h5.id).mp_openid, fresh(mini.id).mp_openid, fresh(mini.id).mobile) == (None, OPENID, None)
    assert events(mini.id) == [] and events(h5.id) == []


@pytest.mark.usefixtures("mini_program")
def test_phone_refusals(client, session, wechat):
    password_user = factories.UserFactory(mobile="13800001111")
    session.commit()
    # Signed in with a password, not from the mini-program.
    token = api_login(client, password_user)
    assert_error(link_phone(client, wechat, token, "13800001111"), 409, "needs_wechat_login")
    assert_error(client.post(f"{API}/auth/wechat-mini/phone", json={"code": "x"}), 401, "unauthorized")
    body = mini_login(client, wechat)
    made_up = client.post(
        f"{API}/auth/wechat-mini/phone", json={"code": "made-up"}, headers=bearer(body["token"])
    )
    assert_error(made_up, 401, "wechat_code_invalid")
    # Only mainland numbers: the shop's accounts log in with 11-digit mainland mobiles.
    foreign = client.post(
        f"{API}/auth/wechat-mini/phone",
        json={"code": wechat.mp_phone_code_for("4155550100", country_code="1")},
        headers=bearer(body["token"]),
    )
    assert_error(foreign, 422, "not_mainland_mobile")
    # A number whose account is of the back office is not joined.
    factories.UserFactory(mobile="13800002222", role="staff")
    session.commit()
    assert_error(link_phone(client, wechat, body["token"], "13800002222"), 409, "account_conflict")
    assert fresh(body["user"]["id"]).is_active


@pytest.mark.usefixtures("mini_program")
def test_an_access_token_wechat_calls_invalid_is_fetched_again_once(client, session, wechat):
    from app.payments import wechat_mp

    body = mini_login(client, wechat)
    stale = wechat_mp.access_token(db.session)
    wechat.mp_revoked_tokens.add(stale)
    calls = wechat.mp_token_calls
    response = link_phone(client, wechat, body["token"], "13912345678")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert wechat.mp_token_calls == calls + 1
    assert wechat_mp.access_token(db.session) != stale


# --- review fixes ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("mini_program")
def test_the_phone_link_is_rate_limited_like_registering(client, session, wechat):
    """It tells whether a number has an account in the shop: as many tries per address as registering."""
    body = mini_login(client, wechat)
    for _ in range(20):
        made_up = client.post(
            f"{API}/auth/wechat-mini/phone", json={"code": "made-up"}, headers=bearer(body["token"])
        )
        assert_error(made_up, 401, "wechat_code_invalid")
    assert_error(link_phone(client, wechat, body["token"], "13800007777"), 429, "rate_limited")
    assert fresh(body["user"]["id"]).mobile is None


@pytest.mark.usefixtures("mini_program")
def test_a_number_is_never_set_on_an_account_folded_meanwhile(client, session, wechat):
    """The same shopper's other request folded the account (disabled, no number) while this one had it
    loaded: the number is not put on the disabled account (it would hold the number for no one)."""
    from sqlalchemy import update

    from app.accounts import services as accounts

    body = mini_login(client, wechat)
    mini = fresh(body["user"]["id"])
    assert mini.is_active and mini.mobile is None
    session.execute(
        update(User)
        .where(User.id == mini.id)
        .values(is_active=False, mp_openid=None)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(accounts.AccountConflict):
        accounts.link_verified_mobile(session, mini, "13800006666")
    assert session.scalar(select(User.mobile).where(User.id == mini.id)) is None
    assert events(mini.id) == []


@pytest.mark.usefixtures("mini_program")
@pytest.mark.parametrize(
    "answer",
    [
        {"errcode": 0, "phone_info": "13800008888"},
        {"errcode": 0, "phone_info": ["13800008888"]},
        {"errcode": 0, "phone_info": {"purePhoneNumber": 13800008888, "countryCode": "86"}},
        {"errcode": 0, "phone_info": {"purePhoneNumber": "13800008888", "countryCode": None}},
        {"errcode": 0, "phone_info": {"purePhoneNumber": "13800008888", "countryCode": {"cc": 86}}},
        {"errcode": 0},
    ],
)
def test_an_odd_phone_number_answer_is_a_wechat_error(client, session, wechat, answer):
    """Only a number WeChat's answer really gives, with a country code, is used; anything else is a 503."""
    body = mini_login(client, wechat)
    wechat.mp_phone_answer = answer
    try:
        response = link_phone(client, wechat, body["token"], "13800008888")
    finally:
        wechat.mp_phone_answer = None
    assert_error(response, 503, "wechat_unavailable")
    assert fresh(body["user"]["id"]).mobile is None
