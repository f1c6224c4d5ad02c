"""WeChat's server APIs for the shop's mini-program (小程序): its own AppID and AppSecret (payment settings),
its own access token (cached in the database beside the official account's, under another name), and
wx.login's code → openid (code2session). The JSON API (app/api) signs shoppers in with it; 小程序码 and
JSAPI payments inside the mini-program use the same credentials."""

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.payments import wechat_web
from app.payments.gateways import payment_settings, secret_readable
from app.payments.wechat_web import WechatApiError, WechatRefused, _get, cached_token
from app.secrets_box import SecretsKeyMissing, unseal

ACCESS_TOKEN_NAME = "mp_access_token"
TOKEN_INVALID = {40001, 42001}  # invalid / expired access token: forget it and ask once more


@dataclass(frozen=True)
class MiniProgramSession:
    """What code2session answers: the shopper's openid for the mini-program, and the unionid when the
    mini-program is bound to an open-platform account (the same person's id across the shop's apps)."""

    openid: str
    unionid: str | None


def configured(session: Session) -> bool:
    settings = payment_settings(session)
    return bool(settings.mp_appid and secret_readable(settings.mp_app_secret_sealed))


def credentials(session: Session) -> tuple[str, str]:
    settings = payment_settings(session)
    try:
        secret = unseal(settings.mp_app_secret_sealed)
    except SecretsKeyMissing as error:
        raise WechatApiError(str(error)) from None
    if not settings.mp_appid or not secret:
        raise WechatApiError("the mini-program's appid and app secret are not set")
    return settings.mp_appid, secret


def appid(session: Session) -> str:
    return payment_settings(session).mp_appid


def code2session(session: Session, code: str) -> MiniProgramSession:
    """wx.login's code (valid once, for 5 minutes) → the shopper's openid. Raises WechatApiError when WeChat
    refuses the code (40029 invalid, 40163 used) or cannot be reached."""
    mp_appid, secret = credentials(session)
    data = _get(
        "/sns/jscode2session",
        {"appid": mp_appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"},
    )
    openid = data.get("openid")
    if not openid or len(openid) > 64:
        raise WechatApiError("no openid in the code2session answer")
    unionid = data.get("unionid") or None
    return MiniProgramSession(openid=openid, unionid=unionid if unionid and len(unionid) <= 64 else None)


def access_token(session: Session) -> str:
    def fetch():
        mp_appid, secret = credentials(session)
        data = _get(
            "/cgi-bin/token", {"grant_type": "client_credential", "appid": mp_appid, "secret": secret}
        )
        return data["access_token"], data.get("expires_in", 7200)

    return cached_token(session, ACCESS_TOKEN_NAME, fetch)


@dataclass(frozen=True)
class PhoneNumber:
    """What getuserphonenumber answers for the getPhoneNumber button's code: a number WeChat verified."""

    pure: str  # without the country code
    country_code: str


def phone_number(session: Session, code: str) -> PhoneNumber:
    """The getPhoneNumber button's code (valid once, for 5 minutes) → the shopper's verified mobile number.
    Raises WechatRefused when WeChat refuses the code (40029), WechatApiError when it cannot be reached. An
    access token WeChat calls invalid (another server fetched a newer one) is forgotten and the call made
    once more."""
    for attempt in (1, 2):
        token, data = wechat_web.post_with_token(
            session, "/wxa/business/getuserphonenumber", {"code": code}, get_token=access_token
        )
        errcode = data.get("errcode") or 0
        if errcode in TOKEN_INVALID and attempt == 1:
            wechat_web.forget_access_token(session, token, ACCESS_TOKEN_NAME)
            continue
        if errcode:
            raise WechatRefused(f"getuserphonenumber: errcode {errcode} {data.get('errmsg', '')}", errcode)
        info = data.get("phone_info") or {}
        pure = str(info.get("purePhoneNumber") or "")
        if not pure or len(pure) > 20:
            raise WechatApiError("no phone number in the getuserphonenumber answer")
        return PhoneNumber(pure=pure, country_code=str(info.get("countryCode") or ""))
    raise WechatApiError("getuserphonenumber: the access token was refused twice")
