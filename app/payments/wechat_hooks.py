"""Inside WeChat's browser: sign the shopper in silently (snsapi_base) once per session, and tell the
payment lists which of the shop's methods need another browser (Alipay). (The share card, which carries a
distributor's own link, is distribution's: distribution.web.)"""

import logging

from flask import Flask, current_app, redirect, request, session, url_for
from flask_login import current_user

from app.extensions import db, htmx
from app.payments import wechat_web
from app.webutil import in_wechat

log = logging.getLogger(__name__)
TRIED_KEY = "wechat_oauth_tried"
NO_SILENT_LOGIN = {"shop.login", "shop.register", "shop.logout"}


def init_app(app: Flask) -> None:
    app.before_request(_silent_login)
    app.add_template_global(browser_only_providers)


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
