"""The mini-program's AppID and AppSecret on the payment settings page (secret sealed, shown back only as a
hint), and the WeChat calls made with them: code2session and the mini-program's own access token."""

import pytest

from app.extensions import db
from app.payments import wechat_mp
from app.payments.gateways import payment_settings
from app.payments.models import ApiToken
from app.payments.settings import PaymentSettingsError, PaymentSettingsInput, save_payment_settings
from app.payments.wechat_web import WechatApiError
from app.secrets_box import unseal
from tests.conftest import login
from tests.fakes import merchant_settings
from tests.fakes.wechat import MP_APP_SECRET, MP_APPID, FakeWechat
from tests.htmlforms import form


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url}


def test_the_owner_saves_the_mini_program_on_the_payment_page(client, owner):
    login(client, owner, admin=True)
    page = client.get("/admin/settings/payments").get_data(as_text=True)
    assert "小程序 AppID" in page
    data = form(page).data() | {"mp_appid": MP_APPID, "mp_app_secret": MP_APP_SECRET}
    saved = client.post("/admin/settings/payments", data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:500]
    settings = payment_settings(db.session)
    assert settings.mp_appid == MP_APPID
    assert unseal(settings.mp_app_secret_sealed) == MP_APP_SECRET
    again = client.get("/admin/settings/payments").get_data(as_text=True)
    assert MP_APP_SECRET not in again  # never shown back, only its last characters
    assert MP_APP_SECRET[-4:] in again
    # Saving again with the secret field left empty keeps the stored secret.
    client.post("/admin/settings/payments", data=form(again).data())
    db.session.expire_all()
    assert unseal(payment_settings(db.session).mp_app_secret_sealed) == MP_APP_SECRET


def test_a_wrong_mini_program_appid_or_secret_is_refused_and_changes_nothing(client, owner):
    login(client, owner, admin=True)
    page = client.get("/admin/settings/payments").get_data(as_text=True)
    refused = client.post("/admin/settings/payments", data=form(page).data() | {"mp_appid": "gh_123"})
    assert refused.status_code == 422
    assert "小程序 AppID 以 wx 开头" in refused.get_data(as_text=True)
    with pytest.raises(PaymentSettingsError) as refusal:
        save_payment_settings(db.session, PaymentSettingsInput(mp_appid=MP_APPID, mp_app_secret="短"))
    assert refusal.value.field == "mp_app_secret"
    db.session.rollback()
    assert payment_settings(db.session).mp_appid == ""


def test_code2session_gives_the_openid_and_unionid_once(app, wechat):
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=True))
    db.session.commit()
    assert wechat_mp.configured(db.session)
    code = wechat.mp_code_for("oMiniProgramUser000000000001", unionid="oUnion0000000000000000000001")
    answer = wechat_mp.code2session(db.session, code)
    assert answer.openid == "oMiniProgramUser000000000001"
    assert answer.unionid == "oUnion0000000000000000000001"
    with pytest.raises(WechatApiError, match="40029"):  # a code works once
        wechat_mp.code2session(db.session, code)
    plain = wechat_mp.code2session(db.session, wechat.mp_code_for("oMiniProgramUser000000000002"))
    assert plain.unionid is None


def test_without_the_mini_program_nothing_is_asked_of_wechat(app, wechat):
    save_payment_settings(db.session, merchant_settings(wechat))
    db.session.commit()
    assert not wechat_mp.configured(db.session)
    with pytest.raises(WechatApiError, match="not set"):
        wechat_mp.code2session(db.session, "any")


def test_the_mini_program_has_its_own_cached_access_token(app, wechat):
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=True))
    db.session.commit()
    before = wechat.mp_token_calls
    first = wechat_mp.access_token(db.session)
    assert first.startswith("mptoken-")
    assert wechat_mp.access_token(db.session) == first  # cached: one call to WeChat
    assert wechat.mp_token_calls == before + 1
    assert db.session.get(ApiToken, "mp_access_token").value == first
    assert db.session.get(ApiToken, "wechat_access_token") is None  # the official account's is apart
