"""WeChat's server APIs for the shop's mini-program (小程序): its own AppID and AppSecret (payment settings),
its own access token (cached in the database beside the official account's, under another name), and
wx.login's code → openid (code2session). The JSON API (app/api) signs shoppers in with it; 小程序码 and
JSAPI payments inside the mini-program use the same credentials."""

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.payments import wechat_web
from app.payments.gateways import HTTP_TIMEOUT, payment_settings, secret_readable
from app.payments.wechat_web import WechatApiError, WechatRefused, _get, api_base, cached_token
from app.secrets_box import SecretsKeyMissing, unseal

ACCESS_TOKEN_NAME = "mp_access_token"
WXACODE_PATH = "/wxa/getwxacodeunlimit"
WXACODE_MAX_BYTES = 2 * 1024 * 1024
INVALID_TOKEN_ERRCODES = (40001, 42001)  # invalid credential, access_token expired: forget it, ask once more
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG


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
        token, lifetime = data.get("access_token"), data.get("expires_in", 7200)
        # Anything else than a token and its lifetime is an error, never a KeyError (a poster asks too).
        if not isinstance(token, str) or not token or len(token) > 512:
            raise WechatApiError("/cgi-bin/token: no access_token in the answer")
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime <= 0:
            raise WechatApiError("/cgi-bin/token: no expires_in in the answer")
        return token, lifetime

    return cached_token(session, ACCESS_TOKEN_NAME, fetch)


def forget_access_token(session: Session, token: str) -> None:
    """WeChat called the mini-program's `token` invalid (40001, 42001): drop it from the cache unless
    another worker has already put a newer one there."""
    wechat_web.forget_access_token(session, token, ACCESS_TOKEN_NAME)


def unlimited_wxacode(session: Session, *, scene: str, page: str, width: int = 430) -> bytes:
    """wxacode.getUnlimited: the 小程序码 (an image, PNG or JPEG bytes) that opens `page` with `scene` in
    its options. WeChat answers the image itself, or a JSON error: an invalid or expired access token
    (another server fetched a new one) is forgotten and the call made once more with a fresh one. Raises
    WechatApiError for anything else (not configured, unreachable, refused, not an image). Asking again
    is harmless: the same scene and page give the same code."""
    body = {"scene": scene, "page": page, "check_path": False, "env_version": "release", "width": width}
    for attempt in (1, 2):
        token = access_token(session)
        content = _post_for_image(token, body)
        if isinstance(content, bytes):
            return content
        errcode = content.get("errcode")
        if errcode in INVALID_TOKEN_ERRCODES and attempt == 1:
            forget_access_token(session, token)
            continue
        raise WechatApiError(f"{WXACODE_PATH}: errcode {errcode} {content.get('errmsg', '')}")
    raise AssertionError("unreachable")  # pragma: no cover


def _post_for_image(token: str, body: dict) -> bytes | dict:
    """The image WeChat answers, or its JSON error as a dict."""
    import requests

    try:
        response = requests.post(
            api_base() + WXACODE_PATH,
            params={"access_token": token},
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=HTTP_TIMEOUT,
            stream=True,
        )
        with response:
            content = _read_at_most(response, WXACODE_MAX_BYTES + 1)
    except requests.RequestException as error:
        raise WechatApiError(f"{WXACODE_PATH}: {error.__class__.__name__}") from None
    if len(content) > WXACODE_MAX_BYTES:  # never read whole into memory: no 小程序码 is this large
        raise WechatApiError(f"{WXACODE_PATH}: HTTP {response.status_code}, answer too large")
    if response.status_code == 200 and content.startswith(_IMAGE_MAGIC):
        return content
    try:
        data = json.loads(content)
    except ValueError:
        raise WechatApiError(
            f"{WXACODE_PATH}: HTTP {response.status_code}, neither an image nor JSON"
        ) from None
    if not isinstance(data, dict) or not data.get("errcode"):
        raise WechatApiError(f"{WXACODE_PATH}: HTTP {response.status_code}, no image")
    return data


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
        if errcode in INVALID_TOKEN_ERRCODES and attempt == 1:
            forget_access_token(session, token)
            continue
        if errcode:
            raise WechatRefused(f"getuserphonenumber: errcode {errcode} {data.get('errmsg', '')}", errcode)
        info = data.get("phone_info")
        info = info if isinstance(info, dict) else {}
        pure, country = info.get("purePhoneNumber"), info.get("countryCode")
        if not isinstance(pure, str) or not pure or len(pure) > 20 or not isinstance(country, str | int):
            raise WechatApiError("no phone number in the getuserphonenumber answer")
        return PhoneNumber(pure=pure, country_code=str(country))
    raise WechatApiError("getuserphonenumber: the access token was refused twice")


def _read_at_most(response, limit: int) -> bytes:
    """At most `limit` bytes of a streamed answer's body."""
    chunks, size = [], 0
    for chunk in response.iter_content(chunk_size=64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]
