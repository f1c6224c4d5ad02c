"""Inside WeChat's browser: sign the shopper in silently (snsapi_base) once per session, give every
shop page the JS-SDK share card (title, description, picture and — for a distributor — their own link), and
tell the payment lists which of the shop's methods need another browser (Alipay)."""

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask_login import current_user

from app.extensions import db, htmx
from app.payments import wechat_web

log = logging.getLogger(__name__)
TRIED_KEY = "wechat_oauth_tried"
NO_SILENT_LOGIN = {"shop.login", "shop.register", "shop.logout"}


def init_app(app: Flask) -> None:
    app.before_request(_silent_login)
    app.context_processor(_share_context)
    app.add_template_global(in_wechat)
    app.add_template_global(browser_only_providers)


def in_wechat() -> bool:
    return "MicroMessenger" in request.headers.get("User-Agent", "")


def browser_only_providers() -> list:
    """Inside WeChat: the methods the shop has switched on that WeChat's browser cannot open (Alipay), so
    that the payment list can say how to reach them ("open in browser"). Empty anywhere else."""
    from app.payments import all_providers

    if not in_wechat():
        return []
    app = current_app._get_current_object()
    return [p for p in all_providers() if not p.inside_wechat and p.offered(app, db.session, in_wechat=False)]


def _silent_login():
    if (
        request.blueprint != "shop"
        or request.method != "GET"
        or htmx
        or request.endpoint in NO_SILENT_LOGIN
        or not in_wechat()
        or session.get(TRIED_KEY)
        or (current_user.is_authenticated and current_user.wechat_openid)
        or not wechat_web.configured(db.session)
    ):
        return None
    session[TRIED_KEY] = True  # once per session, whatever WeChat answers
    return redirect(url_for("payments.wechat_oauth", next=request.full_path.rstrip("?")))


def _share_context() -> dict:
    if request.blueprint != "shop" or not in_wechat() or not wechat_web.configured(db.session):
        return {}
    try:
        config = wechat_web.share_config(db.session, request.url)
    except wechat_web.WechatApiError as error:
        log.warning("no WeChat share card: %s", error)
        return {}
    g.wechat_jssdk = True
    return {"wechat_share": {"config": config, "link": share_link(request.url)}}


def share_link(url: str) -> str:
    """The page's own URL; a distributor shares it with their own code, so the binding goes to them."""
    from app.distribution.services import distributor_of

    if not current_user.is_authenticated:
        return url
    distributor = distributor_of(db.session, current_user.id)
    if distributor is None or not distributor.is_active:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "ref"] + [("ref", distributor.code)]
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))
