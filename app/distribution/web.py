"""Share links in the web layer: `?ref=CODE` on any shop URL records a visit and remembers the referrer
for this visitor; the binding is written when they register or log in (or at once if they already are).
A long-lived random visitor cookie tells visits apart and, hashed, serves the device fraud check."""

import logging
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, g, request, session
from flask_login import current_user, user_logged_in, user_logged_out

from app.distribution import services as dist
from app.distribution import share_links
from app.extensions import db
from app.payments import wechat_web
from app.request_input import strip_control_characters
from app.timeutil import utcnow
from app.webutil import in_wechat

REF_SESSION_KEY = "ref"
log = logging.getLogger(__name__)
VISITOR_COOKIE = "fx_vid"
VISITOR_COOKIE_AGE = 2 * 365 * 24 * 3600


def init_app(app: Flask) -> None:
    app.before_request(_track_share_link)
    app.context_processor(_share_card)
    app.after_request(_keep_visitor_cookie)
    user_logged_in.connect(_bind_on_login, app)
    user_logged_out.connect(_forget_on_logout, app)


def visitor_id() -> str:
    """This browser's random id (made on first sight; the cookie is set on the way out)."""
    if "visitor_id" not in g:
        value = request.cookies.get(VISITOR_COOKIE, "")
        g.visitor_id = value if 16 <= len(value) <= 64 and value.isalnum() else secrets.token_hex(16)
    return g.visitor_id


def device_hash() -> str:
    return dist.salted_hash("device", visitor_id())


def client_ip_hash() -> str:
    return dist.salted_hash("ip", request.remote_addr or "")


def _track_share_link():
    code = request.args.get("ref")
    if not code or request.method != "GET" or request.blueprint != "shop":
        return
    distributor = share_links.sharing_distributor(db.session, code)
    if distributor is None:
        return  # unknown and disabled codes are ignored, never an error page
    product_id = request.view_args.get("product_id") if request.view_args else None
    user = current_user._get_current_object() if current_user.is_authenticated else None
    visit = share_links.open_share_link(
        db.session,
        distributor,
        user=user,
        remembered=session.get(REF_SESSION_KEY) if user is None else None,
        visitor_key=visitor_id(),
        path=request.path,
        product_id=product_id if isinstance(product_id, int) else None,
        ip=request.remote_addr or "",
        in_wechat=in_wechat(),
        source=strip_control_characters(request.full_path.rstrip("?"))[:255],
        now=utcnow(),
    )
    if visit.remembered is not None:  # kept until the visitor registers or logs in
        session[REF_SESSION_KEY] = visit.remembered
    db.session.commit()


def _keep_visitor_cookie(response):
    if "visitor_id" in g and request.cookies.get(VISITOR_COOKIE) != g.visitor_id:
        response.set_cookie(
            VISITOR_COOKIE,
            g.visitor_id,
            max_age=VISITOR_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def _bind_on_login(app, user, **_):
    """The remembered share links survive registration and login: bind now (the rules decide whether and
    to whom). They have then served their purpose: whoever signs in next on this browser starts afresh."""
    dist.remember_device(db.session, user.id, visitor_id())
    dist.bind_remembered(db.session, user, session.pop(REF_SESSION_KEY, None))
    db.session.commit()


def _forget_on_logout(app, user, **_):
    session.pop(REF_SESSION_KEY, None)


# ---------------------------------------------------------------- the share card inside WeChat


def _share_card() -> dict:
    """Every shop page inside WeChat gets the JS-SDK share card (title, description, picture); a
    distributor's card carries their own link, so whoever opens it is theirs."""
    if request.blueprint != "shop" or not in_wechat() or not wechat_web.configured(db.session):
        return {}
    try:
        config = wechat_web.share_config(db.session, request.url)
    except wechat_web.WechatApiError as error:
        log.warning("no WeChat share card: %s", error)
        return {}
    g.wechat_jssdk = True
    return {"wechat_share": {"config": config, "link": own_share_link(request.url)}}


def own_share_link(url: str) -> str:
    """The page's own URL, with the signed-in distributor's code as its ?ref=."""
    if not current_user.is_authenticated:
        return url
    distributor = dist.distributor_of(db.session, current_user.id)
    if distributor is None or not distributor.is_active:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "ref"] + [("ref", distributor.code)]
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))
