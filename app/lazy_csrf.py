"""The pages a shared link opens set no cookie.

A CSRF token lives in the session, so printing one into a page gives every first-time visitor a session
cookie, and makes the page different for each visitor (no cache can share it). Pages call
`page_csrf_token()` instead: it is the token for a visitor who has a session already, and empty for one who
has none. The first time such a visitor sends something (add to cart, buy now), static/js/shop.js fetches a
token from /csrf-token — which starts the session — and sends the request with it. Without JavaScript the
form arrives without a token: `retry_first_post` starts the session and sends the visitor back to the page,
which now carries one."""

from flask import Flask, current_app, flash, jsonify, redirect, request, session
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.webutil import referrer_path

# The forms on the pages that print no token (without JavaScript they arrive without one).
RETRY_ENDPOINTS = {"shop.cart_add"}


def init_app(app: Flask) -> None:
    app.jinja_env.globals["page_csrf_token"] = page_csrf_token
    app.add_url_rule("/csrf-token", "csrf_token", token, methods=["GET"])


def _has_session() -> bool:
    return (
        bool(request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])) or current_user.is_authenticated
    )


def page_csrf_token() -> str:
    """The token, unless the visitor has no session (and this request starts none: a share link's does)."""
    return generate_csrf() if _has_session() or session.modified else ""


def retry_first_post():
    """For a form refused for want of a token from a visitor who had no session: back to the page it was
    sent from (this site's only), now with a session, to send it once more. None otherwise: a token that
    expired or was forged gets the usual error page."""
    if request.endpoint not in RETRY_ENDPOINTS or request.headers.get("HX-Request") or _has_session():
        return None
    back = referrer_path("")
    if not back:
        return None
    generate_csrf()
    flash(_("The page is ready now: please tap once more."), "info")
    return redirect(back, 303)


def token():
    """{"token": …} for the session this request starts (or has). Never cached."""
    response = jsonify(token=generate_csrf())
    response.cache_control.no_store = True
    return response
