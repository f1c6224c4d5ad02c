"""WeChat's web APIs for the official account: silent OAuth (snsapi_base → openid) and the JS-SDK share
card (access token and jsapi_ticket cached in the database so every worker shares one; signature made on
the server)."""

import hashlib
import json
import logging
import re
import secrets
import time
from datetime import timedelta
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.payments.gateways import HTTP_TIMEOUT, payment_settings, secret_readable
from app.payments.models import ApiToken
from app.secrets_box import SecretsKeyMissing, unseal
from app.timeutil import utcnow

TOKEN_MARGIN = timedelta(minutes=5)
_SECRET_IN_QUERY = re.compile(r"([?&](?:secret|access_token)=)[^&\s\"]+")


class _HideSecretsInUrls(logging.Filter):
    """urllib3 logs every request line at DEBUG, and WeChat's APIs take the AppSecret and the access token
    in the query string: keep the line, hide those."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "secret=" in message or "access_token=" in message:
            record.msg, record.args = _SECRET_IN_QUERY.sub(r"\1***", message), None
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_HideSecretsInUrls())


class WechatApiError(RuntimeError):
    pass


class WechatRefused(WechatApiError):
    """WeChat answered, with an error code (an invalid or used code, a bad secret, a token it calls invalid)."""

    def __init__(self, message: str, errcode: int):
        super().__init__(message)
        self.errcode = errcode


class WechatNoAnswer(WechatApiError):
    """The request went out but no answer came back (read timeout, connection dropped after sending):
    WeChat may have acted on it, so sending it again may do it twice."""


def api_base() -> str:
    return current_app.config.get("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/")


def open_base() -> str:
    return current_app.config.get("WECHAT_OPEN_BASE", "https://open.weixin.qq.com").rstrip("/")


def configured(session: Session) -> bool:
    settings = payment_settings(session)
    return bool(settings.wechat_appid and secret_readable(settings.wechat_app_secret_sealed))


def _credentials(session: Session) -> tuple[str, str]:
    settings = payment_settings(session)
    try:
        secret = unseal(settings.wechat_app_secret_sealed)
    except SecretsKeyMissing as error:  # a WeChat call that cannot be made, like any other (retried later)
        raise WechatApiError(str(error)) from None
    if not settings.wechat_appid or not secret:
        raise WechatApiError("the official account's appid and app secret are not set")
    return settings.wechat_appid, secret


def _get(path: str, params: dict) -> dict:
    import requests  # loaded on the first call to WeChat, not in every worker at start

    try:
        response = requests.get(api_base() + path, params=params, timeout=HTTP_TIMEOUT)
        data = response.json()
    except (requests.RequestException, ValueError) as error:
        raise WechatApiError(f"{path}: {error.__class__.__name__}") from None
    if data.get("errcode"):
        raise WechatRefused(
            f"{path}: errcode {data.get('errcode')} {data.get('errmsg', '')}", data["errcode"]
        )
    return data


def authorize_url(session: Session, redirect_uri: str, state: str) -> str:
    appid, _secret = _credentials(session)
    query = urlencode(
        {
            "appid": appid,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": "snsapi_base",
            "state": state,
        }
    )
    return f"{open_base()}/connect/oauth2/authorize?{query}#wechat_redirect"


def openid_for_code(session: Session, code: str) -> str:
    appid, secret = _credentials(session)
    data = _get(
        "/sns/oauth2/access_token",
        {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"},
    )
    openid = data.get("openid")
    if not openid:
        raise WechatApiError("no openid in the OAuth answer")
    return openid


def cached_token(session: Session, name: str, fetch) -> str:
    token = session.get(ApiToken, name)
    now = utcnow()
    if token is not None and token.expires_at - TOKEN_MARGIN > now:
        return token.value
    value, lifetime = fetch()
    try:
        with session.begin_nested():
            token = session.get(ApiToken, name) or ApiToken(name=name)
            token.value, token.expires_at = value, now + timedelta(seconds=int(lifetime))
            session.add(token)
    except (IntegrityError, StaleDataError):
        # Another worker stored the first one at the same moment (both tokens work for a while), or dropped
        # the one read above as invalid (forget_access_token): this one is used now, the next call fetches.
        pass
    session.commit()
    return value


def access_token(session: Session) -> str:
    def fetch():
        appid, secret = _credentials(session)
        data = _get("/cgi-bin/token", {"grant_type": "client_credential", "appid": appid, "secret": secret})
        return data["access_token"], data.get("expires_in", 7200)

    return cached_token(session, "wechat_access_token", fetch)


def forget_access_token(session: Session, token: str, name: str = "wechat_access_token") -> None:
    """WeChat called `token` invalid (40001, 42001: another server fetched a new one, or it expired early):
    drop it from the cache unless another worker has already put a newer one there. `name`: whose token
    (the official account's, or the mini-program's)."""
    session.execute(delete(ApiToken).where(ApiToken.name == name, ApiToken.value == token))
    session.commit()


def post_with_token(session: Session, path: str, body: dict, *, get_token=None) -> tuple[str, dict]:
    """POST `body` as JSON to one of WeChat's APIs with the access token in the query: (the token used,
    WeChat's answer as it came, errcode and all). Raises WechatApiError when WeChat cannot be reached, does
    not answer JSON, or the token cannot be had; WechatNoAnswer when the request may have reached it.
    `get_token`: whose token (the official account's by default; the mini-program's: wechat_mp)."""
    import requests
    from urllib3.exceptions import MaxRetryError

    token = (get_token or access_token)(session)
    try:
        response = requests.post(
            api_base() + path,
            params={"access_token": token},
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=HTTP_TIMEOUT,
        )
        data = response.json()
    except requests.ConnectTimeout:
        raise WechatApiError(f"{path}: ConnectTimeout") from None
    except (requests.ReadTimeout, requests.exceptions.ChunkedEncodingError) as error:
        raise WechatNoAnswer(f"{path}: {error.__class__.__name__}") from None
    except requests.ConnectionError as error:
        # requests retries nothing: a connection never made comes as urllib3's MaxRetryError, one that broke
        # once the request was on its way (ProtocolError, an SSL error mid-answer) as itself.
        if not (error.args and isinstance(error.args[0], MaxRetryError)):
            raise WechatNoAnswer(f"{path}: {error.__class__.__name__}") from None
        raise WechatApiError(f"{path}: {error.__class__.__name__}") from None
    except (requests.RequestException, ValueError) as error:
        raise WechatApiError(f"{path}: {error.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise WechatApiError(f"{path}: not a JSON object")
    return token, data


def jsapi_ticket(session: Session) -> str:
    def fetch():
        data = _get("/cgi-bin/ticket/getticket", {"access_token": access_token(session), "type": "jsapi"})
        return data["ticket"], data.get("expires_in", 7200)

    return cached_token(session, "wechat_jsapi_ticket", fetch)


def share_signature(ticket: str, nonce: str, timestamp: int, url: str) -> str:
    """sha1 of jsapi_ticket=…&noncestr=…&timestamp=…&url=… (url without its #fragment)."""
    url = url.split("#", 1)[0]
    return hashlib.sha1(
        f"jsapi_ticket={ticket}&noncestr={nonce}&timestamp={timestamp}&url={url}".encode()
    ).hexdigest()


def share_config(session: Session, url: str) -> dict:
    """wx.config for this page. Raises WechatApiError when WeChat cannot be reached or refuses."""
    appid, _secret = _credentials(session)
    nonce, timestamp = secrets.token_hex(8), int(time.time())
    return {
        "appId": appid,
        "timestamp": timestamp,
        "nonceStr": nonce,
        "signature": share_signature(jsapi_ticket(session), nonce, timestamp, url),
    }
