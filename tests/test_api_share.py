"""Sharing inside the mini-program through the API: the distributor's 小程序码 (GET /distribution/wxacode,
from the fake WeChat, cached), and POST /visits — a visit from a share counts and binds exactly as `?ref=`
on the H5 shop (the same flow, compared side by side), anonymous visitors bind after login, a disabled
distributor's scene is ignored as their ?ref= is, and a bad scene is a 422 in Chinese."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.models import User
from app.distribution import services as dist
from app.distribution.models import BindingLog, Visit
from app.extensions import db
from app.payments.settings import save_payment_settings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import login
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat
from tests.test_api import API, api_login, assert_error, bearer
from tests.test_distribution import distributor, settings


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url}


@pytest.fixture(autouse=True)
def own_instance(app, tmp_path, wechat):
    app.instance_path = str(tmp_path / "instance")
    wechat.failing_wxacodes = 0
    yield
    set_clock(None)


def mini_program_on(wechat, on=True):
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=on))
    db.session.commit()


@pytest.fixture
def shop(session):
    """Distribution on (bindings last 30 days), a distributor 小B and a product."""
    settings(session, binding_days=30)
    sharer = distributor(session, factories.UserFactory(nickname="小B", mobile="13900000001"))
    product = factories.ProductFactory(title="云南小粒咖啡豆", skus=[{"price_fen": 10000, "stock": 5}])
    return sharer, product


def visits_of(session, distributor_id) -> int:
    return session.scalar(select(func.count(Visit.id)).where(Visit.distributor_id == distributor_id))


def binding(session, user_id) -> dict:
    session.expire_all()
    user = session.get(User, user_id)
    log = session.scalars(select(BindingLog).where(BindingLog.user_id == user_id)).all()
    return {
        "referrer_id": user.referrer_id,
        "lasts": user.referrer_until - user.referrer_bound_at if user.referrer_until else None,
        "referrer_fixed": user.referrer_fixed,
        "log": [(row.old_parent_id, row.new_parent_id, row.reason) for row in log],
    }


# ---------------------------------------------------------------- the 小程序码


def test_a_distributor_gets_their_own_wxacode_asked_of_wechat_once(client, wechat, shop):
    sharer, product = shop
    mini_program_on(wechat)
    token = api_login(client, sharer.user)
    calls = wechat.wxacode_calls
    first = client.get(f"{API}/distribution/wxacode?product={product.id}", headers=bearer(token))
    assert first.status_code == 200 and first.mimetype == "image/png", first.get_data(as_text=True)[:300]
    assert first.data == FakeWechat.wxacode_png("pages/product/index", f"r={sharer.code}&p={product.id}")
    assert "private" in first.headers["Cache-Control"]
    again = client.get(f"{API}/distribution/wxacode?product={product.id}", headers=bearer(token))
    assert again.data == first.data and wechat.wxacode_calls == calls + 1  # cached: no second call
    home = client.get(f"{API}/distribution/wxacode", headers=bearer(token))
    assert home.data == FakeWechat.wxacode_png("pages/index/index", f"r={sharer.code}")
    assert wechat.wxacode_calls == calls + 2


def test_wxacode_refusals(client, session, wechat, shop):
    sharer, product = shop
    mini_program_on(wechat)
    assert_error(client.get(f"{API}/distribution/wxacode"), 401, "unauthorized")
    shopper = api_login(client, factories.UserFactory(mobile="13900000002"))
    assert_error(client.get(f"{API}/distribution/wxacode", headers=bearer(shopper)), 403, "not_distributor")
    token = api_login(client, sharer.user)
    missing = client.get(f"{API}/distribution/wxacode?product={2**31 - 1}", headers=bearer(token))
    assert_error(missing, 404, "not_found")
    assert_error(client.get(f"{API}/distribution/wxacode?product=0", headers=bearer(token)), 422, "invalid")
    product.is_on_shelf = False  # off the shelf: no code for it
    session.commit()
    off = client.get(f"{API}/distribution/wxacode?product={product.id}", headers=bearer(token))
    assert_error(off, 404, "not_found")
    wechat.failing_wxacodes = 1
    down = assert_error(client.get(f"{API}/distribution/wxacode", headers=bearer(token)), 503)
    assert down["code"] == "wechat_unavailable"
    mini_program_on(wechat, on=False)
    error = assert_error(client.get(f"{API}/distribution/wxacode", headers=bearer(token)), 409)
    assert error["code"] == "mini_program_not_configured" and "小程序" in error["message"]
    mini_program_on(wechat)
    dist.set_distributor_active(session, sharer, False, reason="违规推广")
    session.commit()
    disabled = client.get(f"{API}/distribution/wxacode", headers=bearer(token))
    assert_error(disabled, 403, "distributor_disabled")


def test_the_share_endpoints_are_in_the_openapi_description_with_every_status(client):
    document = client.get(f"{API}/openapi.json").get_json()
    wxacode = document["paths"]["/api/v1/distribution/wxacode"]["get"]
    assert set(wxacode["responses"]) == {"200", "401", "403", "404", "409", "422", "503"}
    assert wxacode["responses"]["200"]["content"] == {
        "image/png": {"schema": {"type": "string", "format": "binary"}}
    }
    assert wxacode["security"] == [{"bearer": []}]
    visits = document["paths"]["/api/v1/visits"]["post"]
    assert set(visits["responses"]) == {"200", "400", "401", "415", "422"}
    assert visits["security"] == [{}, {"bearer": []}]  # anonymous or signed in
    assert visits["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/VisitIn")


# ---------------------------------------------------------------- visits


def test_a_visit_from_a_scene_binds_exactly_as_an_h5_ref_visit(app, client, session, shop):
    sharer, product = shop
    h5_shopper = factories.UserFactory(mobile="13900000011")
    mp_shopper = factories.UserFactory(mobile="13900000012")
    login(client, h5_shopper)
    assert client.get(f"/p/{product.id}?ref={sharer.code}").status_code == 200
    h5 = binding(session, h5_shopper.id)

    api = app.test_client()
    token = api_login(api, mp_shopper)
    answer = api.post(
        f"{API}/visits", json={"scene": f"r={sharer.code}&p={product.id}"}, headers=bearer(token)
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["counted"] and body["bound"] and body["binding"] == "first_bind"
    assert body["ref"] == sharer.code and body["product_id"] == product.id
    assert body["page"] == "pages/product/index" and body["remembered"] is None
    mp = binding(session, mp_shopper.id)
    assert h5["referrer_id"] == mp["referrer_id"] == sharer.user_id
    assert h5["lasts"] == mp["lasts"] == timedelta(days=30)
    assert h5["referrer_fixed"] == mp["referrer_fixed"] is False
    assert [entry[1:] for entry in h5["log"]] == [entry[1:] for entry in mp["log"]]
    assert visits_of(session, sharer.id) == 2
    row = session.scalar(select(Visit).where(Visit.user_id == mp_shopper.id))
    assert row.product_id == product.id and row.path == f"mp:pages/product/index?p={product.id}"
    # The same page again today is not another visit; the binding is kept.
    again = api.post(
        f"{API}/visits", json={"scene": f"r={sharer.code}&p={product.id}"}, headers=bearer(token)
    )
    assert again.get_json()["counted"] is False and again.get_json()["binding"] == "kept"
    assert visits_of(session, sharer.id) == 2


def test_in_last_mode_a_second_share_rebinds_on_both_sides(app, client, session, shop):
    sharer, _product = shop
    settings(session, binding_mode="last")
    other = distributor(session, factories.UserFactory(nickname="阿D"))
    h5_shopper = factories.UserFactory(mobile="13900000021")
    mp_shopper = factories.UserFactory(mobile="13900000022")
    login(client, h5_shopper)
    client.get(f"/?ref={sharer.code}")
    client.get(f"/?ref={other.code}")
    api = app.test_client()
    token = api_login(api, mp_shopper)
    api.post(f"{API}/visits", json={"ref": sharer.code}, headers=bearer(token))
    last = api.post(f"{API}/visits", json={"scene": f"r={other.code}"}, headers=bearer(token)).get_json()
    assert last["bound"] and last["binding"] == "rebind_last" and last["page"] == "pages/index/index"
    h5, mp = binding(session, h5_shopper.id), binding(session, mp_shopper.id)
    assert h5["referrer_id"] == mp["referrer_id"] == other.user_id
    assert (
        [entry[2] for entry in h5["log"]]
        == [entry[2] for entry in mp["log"]]
        == ["first_bind", "rebind_last"]
    )


def test_a_disabled_distributors_scene_is_ignored_as_their_ref_is(app, client, session, shop):
    sharer, product = shop
    dist.set_distributor_active(session, sharer, False, reason="违规推广")
    session.commit()
    h5_shopper = factories.UserFactory(mobile="13900000031")
    mp_shopper = factories.UserFactory(mobile="13900000032")
    login(client, h5_shopper)
    assert client.get(f"/p/{product.id}?ref={sharer.code}").status_code == 200
    api = app.test_client()
    token = api_login(api, mp_shopper)
    for body in (
        {"scene": f"r={sharer.code}&p={product.id}"},
        {"ref": sharer.code, "product_id": product.id},
    ):
        answer = api.post(f"{API}/visits", json=body, headers=bearer(token))
        assert answer.status_code == 200
        assert answer.get_json() | {"visitor": None} == {
            "counted": False,
            "ref": None,
            "product_id": product.id,
            "page": "pages/product/index",
            "bound": False,
            "binding": None,
            "remembered": None,
            "visitor": None,
        }
    assert visits_of(session, sharer.id) == 0
    assert binding(session, h5_shopper.id)["referrer_id"] is None
    assert binding(session, mp_shopper.id)["referrer_id"] is None
    # An unknown code and distribution switched off are ignored the same way.
    unknown = api.post(f"{API}/visits", json={"ref": "zzzzzzzz"}, headers=bearer(token))
    assert unknown.status_code == 200 and unknown.get_json()["ref"] is None
    dist.set_distributor_active(session, sharer, True)
    settings(session, enabled=False)
    off = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}, headers=bearer(token))
    assert off.get_json()["ref"] is None and visits_of(session, sharer.id) == 0


def test_an_anonymous_visit_counts_then_binds_after_login(app, session, shop):
    sharer, product = shop
    shopper = factories.UserFactory(mobile="13900000041")
    api = app.test_client()
    # options.scene comes URL-encoded: taken as it is.
    anonymous = api.post(f"{API}/visits", json={"scene": f"r%3D{sharer.code}%26p%3D{product.id}"})
    assert anonymous.status_code == 200, anonymous.get_data(as_text=True)
    body = anonymous.get_json()
    assert body["counted"] and not body["bound"] and body["binding"] is None
    assert body["ref"] == sharer.code and body["remembered"] and len(body["visitor"]) == 32
    assert visits_of(session, sharer.id) == 1
    assert binding(session, shopper.id)["referrer_id"] is None
    token = api_login(api, shopper)
    after = api.post(
        f"{API}/visits",
        json={"remembered": body["remembered"], "visitor": body["visitor"]},
        headers=bearer(token),
    )
    assert after.status_code == 200, after.get_data(as_text=True)
    assert after.get_json()["bound"] and after.get_json()["binding"] == "first_bind"
    assert binding(session, shopper.id)["referrer_id"] == sharer.user_id
    # With the ref as well, it is the same visitor's same page today: not counted twice.
    again = api.post(
        f"{API}/visits",
        json={
            "ref": sharer.code,
            "product_id": product.id,
            "remembered": body["remembered"],
            "visitor": body["visitor"],
        },
        headers=bearer(token),
    )
    assert again.get_json()["counted"] is False and visits_of(session, sharer.id) == 1


def test_in_first_mode_the_first_anonymous_share_wins_at_login_as_on_h5(app, session, shop):
    sharer, _product = shop
    other = distributor(session, factories.UserFactory(nickname="阿D"))
    shopper = factories.UserFactory(mobile="13900000051")
    api = app.test_client()
    first = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}).get_json()
    second = api.post(
        f"{API}/visits",
        json={"ref": other.code, "remembered": first["remembered"], "visitor": first["visitor"]},
    ).get_json()
    token = api_login(api, shopper)
    api.post(f"{API}/visits", json={"remembered": second["remembered"]}, headers=bearer(token))
    assert binding(session, shopper.id)["referrer_id"] == sharer.user_id


def test_a_remembered_share_lapses_as_the_h5_one_does(app, session, shop):
    sharer, _product = shop
    shopper = factories.UserFactory(mobile="13900000061")
    api = app.test_client()
    remembered = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}).get_json()["remembered"]
    set_clock(utcnow() + timedelta(days=31))  # longer than binding_days
    token = api_login(api, shopper)
    late = api.post(f"{API}/visits", json={"remembered": remembered}, headers=bearer(token))
    assert late.status_code == 200 and not late.get_json()["bound"]
    assert binding(session, shopper.id)["referrer_id"] is None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"scene": "r=abc&p=0"}, "scene"),
        ({"scene": "p=1&r=abcd2345"}, "scene"),
        ({"scene": "x" * 33}, "scene"),
        ({"scene": "r=ABCD"}, "scene"),
        ({"scene": "home", "ref": "abcd2345"}, "scene"),
        ({}, "scene"),
        ({"product_id": 3}, "scene"),
        ({"remembered": "not-a-signed-value"}, "remembered"),
        ({"scene": "home", "visitor": "short"}, "visitor"),
        ({"scene": "home", "extra": 1}, "extra"),
        ({"scene": 12}, "scene"),
    ],
)
def test_bad_visits_are_422_in_chinese_and_count_nothing(client, session, shop, body, field):
    sharer, _product = shop
    error = assert_error(client.post(f"{API}/visits", json=body), 422)
    assert field in error["fields"]
    assert session.scalar(select(func.count(Visit.id))) == 0


def test_a_forged_remembered_share_is_refused(app, session, shop):
    sharer, _product = shop
    api = app.test_client()
    remembered = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}).get_json()["remembered"]
    forged = remembered[:-2] + ("AA" if not remembered.endswith("AA") else "BB")
    assert_error(api.post(f"{API}/visits", json={"remembered": forged}), 422, "invalid_remembered")


def test_a_cookie_signed_visit_needs_the_csrf_token_and_a_json_body(client, session, shop):
    sharer, _product = shop
    login(client, factories.UserFactory(mobile="13900000071"))
    refused = client.post(f"{API}/visits", json={"scene": f"r={sharer.code}"})
    assert_error(refused, 400, "csrf_failed")
    form = client.post(f"{API}/visits", data={"scene": f"r={sharer.code}"})
    assert form.status_code in (400, 415) and form.mimetype == "application/json"
    assert visits_of(session, sharer.id) == 0


def test_a_scene_of_a_deleted_product_is_a_visit_to_the_shop(client, session, shop):
    sharer, _product = shop
    answer = client.post(f"{API}/visits", json={"scene": f"r={sharer.code}&p={2**31 - 1}"}).get_json()
    assert answer["counted"] and answer["product_id"] is None and answer["page"] == "pages/index/index"


# ---------------------------------------------------------------- review fixes


def test_the_visitor_a_signed_in_visit_answers_can_be_sent_back(app, session, shop):
    sharer, product = shop
    api = app.test_client()
    token = api_login(api, factories.UserFactory(mobile="13900000081"))
    first = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}, headers=bearer(token))
    visitor = first.get_json()["visitor"]
    again = api.post(
        f"{API}/visits", json={"scene": f"r={sharer.code}", "visitor": visitor}, headers=bearer(token)
    )
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_json()["counted"] is False and visits_of(session, sharer.id) == 1
    # The same shopper without it is still the same visitor: not counted again.
    other_device = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}, headers=bearer(token))
    assert other_device.get_json()["counted"] is False and visits_of(session, sharer.id) == 1


def test_a_remembered_share_lasts_no_longer_than_the_h5_session_that_keeps_it(app, session):
    """With bindings for ever (binding_days 0), the H5 shop's remembered ?ref= lives in the session
    cookie, which the server reads for PERMANENT_SESSION_LIFETIME (30 days) after it was written; the API's
    signed `remembered` may not outlive it (it took 400 days)."""
    settings(session, binding_days=0)
    sharer = distributor(session, factories.UserFactory(nickname="小B", mobile="13900000091"))
    other_shopper = factories.UserFactory(mobile="13900000092")
    mp_shopper = factories.UserFactory(mobile="13900000093")
    start = utcnow()
    set_clock(start)
    api = app.test_client()
    remembered = api.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}).get_json()["remembered"]
    lifetime = app.permanent_session_lifetime
    set_clock(start + lifetime + timedelta(days=1))
    token = api_login(api, mp_shopper)
    late = api.post(f"{API}/visits", json={"remembered": remembered}, headers=bearer(token))
    assert late.status_code == 200 and not late.get_json()["bound"]
    assert binding(session, mp_shopper.id)["referrer_id"] is None
    # Within the lifetime it binds.
    set_clock(start + lifetime - timedelta(days=1))
    fresh = app.test_client()
    kept = fresh.post(f"{API}/visits", json={"scene": f"r={sharer.code}"}).get_json()["remembered"]
    token = api_login(fresh, other_shopper)
    assert fresh.post(f"{API}/visits", json={"remembered": kept}, headers=bearer(token)).get_json()["bound"]


def test_a_broken_wxacode_from_wechat_is_a_503_not_a_broken_picture(client, wechat, shop):
    sharer, _product = shop
    mini_program_on(wechat)
    token = api_login(client, sharer.user)
    wechat.wxacode_answer = b"\x89PNG\r\n\x1a\n" + b"garbage" * 40
    try:
        broken = client.get(f"{API}/distribution/wxacode", headers=bearer(token))
    finally:
        wechat.wxacode_answer = None
    assert_error(broken, 503, "wechat_unavailable")
    good = client.get(f"{API}/distribution/wxacode", headers=bearer(token))
    assert good.status_code == 200 and good.mimetype == "image/png"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"scene": "r=中文&p=1"}, 422),
        ({"scene": "%E4%B8%AD%FF%00"}, 422),
        ({"scene": "r=abcd2345\x00"}, 200),  # control characters are dropped from JSON as from forms
        ({"scene": "x" * 201}, 422),
        ({"scene": ""}, 422),
        ({"ref": "abcd2345", "product_id": 2**63}, 422),
        ({"ref": "abcd2345", "product_id": -1}, 422),
        ({"ref": "中文\x00", "product_id": 1}, 200),
        ({"ref": ""}, 200),
        ({"remembered": "é" * 100}, 422),
        ({"remembered": "", "ref": "zzzz"}, 200),
        ({"visitor": "a" * 65, "scene": "home"}, 422),
    ],
)
def test_odd_visits_are_answered_never_a_500(client, session, shop, body, status):
    answer = client.post(f"{API}/visits", json=body)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert session.scalar(select(func.count(Visit.id))) == 0
