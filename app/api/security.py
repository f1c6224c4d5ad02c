"""Who is calling, and CSRF.

A request with an `Authorization: Bearer …` header is signed in by that token alone (never by a cookie it
may also carry), so it needs no CSRF token: a browser never adds the header by itself. A request without
one may be signed in by the shop's session cookie (an H5 page calling the API): then an unsafe method needs
the CSRF token, exactly as on the H5 shop. A request with neither cookie nor token is anonymous, and has no
ambient credential to abuse."""

from functools import wraps

from flask import Blueprint, current_app, g, request
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts import access_tokens
from app.accounts.models import User
from app.api.errors import ApiError, api_error_response
from app.extensions import csrf, db

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REMEMBER_COOKIE = "remember_token"  # Flask-Login's default name


def bearer_token() -> str | None:
    """The token of an Authorization header ("" for a header that carries none), None without one."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _sep, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _has_cookie_session() -> bool:
    cookies = request.cookies
    return bool(cookies.get(current_app.config["SESSION_COOKIE_NAME"]) or cookies.get(REMEMBER_COOKIE))


def _identify():
    g.api_user = None
    g.api_token = None
    token = bearer_token()
    if token is not None:
        row = access_tokens.find_valid(db.session, token)
        if row is None:
            db.session.rollback()
            raise ApiError(
                401, _("The sign-in has expired or is not valid. Please log in again."), code="invalid_token"
            )
        db.session.commit()  # last_used_at, in its own short transaction
        g.api_token = row
        g.api_user = db.session.get(User, row.user_id)
        return
    if request.method not in SAFE_METHODS and _has_cookie_session():
        csrf.protect()  # a CSRFError, answered in the API's shape by the app's handler
    if current_user.is_authenticated:
        g.api_user = current_user._get_current_object()


def api_user() -> User | None:
    return g.get("api_user")


def login_required(view):
    """The view needs a signed-in user (token or cookie): 401 in the error shape otherwise."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if api_user() is None:
            raise ApiError(401)
        return view(*args, **kwargs)

    return wrapper


def init_blueprint(bp: Blueprint) -> None:
    csrf.exempt(bp)  # the blueprint checks CSRF itself, for cookie-signed requests only (above)
    bp.before_request(_identify)
    bp.register_error_handler(ApiError, api_error_response)
