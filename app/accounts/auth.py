"""Sign-in plumbing the shop and the back office share: rate limits, safe redirects, logging in, the login
page."""

import hashlib
import hmac
import unicodedata
from collections.abc import Callable

from flask import after_this_request, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.accounts import services as accounts
from app.accounts.forms import LoginForm
from app.accounts.models import User
from app.extensions import db, limiter
from app.forms import apply_service_error
from app.webutil import safe_next


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


KNOWN_DEVICE_COOKIE = "fx_known"
KNOWN_DEVICE_SECONDS = 180 * 24 * 3600
KNOWN_DEVICE_MAX_NUMBERS = 5


def _mobile_key() -> str:
    """The number as login will read it (NFKC: full-width and other look-alike digits become ASCII), so
    that spelling one number many ways does not give it many separate limits.

    A browser that has signed in to this number before counts apart from everyone else: a stranger who
    spends the number's allowance on wrong passwords locks themselves out, not its owner's phone (which
    still has the same allowance of its own, and the per-address limit besides)."""
    raw = unicodedata.normalize("NFKC", request.form.get("mobile") or _json_mobile())
    number = "".join(ch for ch in raw if ch in "0123456789")[-11:]
    if number and _number_token(number) in _known_tokens():
        return "known-device:" + number
    return "mobile:" + number


def _json_mobile() -> str:
    """The number a JSON login (the API's) sends, or ""."""
    body = request.get_json(silent=True) if request.is_json else None
    mobile = body.get("mobile") if isinstance(body, dict) else None
    return mobile if isinstance(mobile, str) else ""


def _number_token(number: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"known-device:" + number.encode(), hashlib.sha256).hexdigest()[:32]


def _known_device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def _known_tokens() -> list[str]:
    """The numbers this browser has signed in to (as keyed hashes, never the numbers themselves)."""
    raw = request.cookies.get(KNOWN_DEVICE_COOKIE)
    if not raw:
        return []
    try:
        tokens = _known_device_serializer().loads(raw, max_age=KNOWN_DEVICE_SECONDS)
    except BadSignature:
        return []
    return [t for t in tokens if isinstance(t, str)] if isinstance(tokens, list) else []


def _remember_known_device(user: User) -> None:
    if not user.mobile:
        return
    tokens = [_number_token(user.mobile)]
    tokens += [t for t in _known_tokens() if t != tokens[0]][: KNOWN_DEVICE_MAX_NUMBERS - 1]

    @after_this_request
    def set_cookie(response):
        response.set_cookie(
            KNOWN_DEVICE_COOKIE,
            _known_device_serializer().dumps(tokens),
            max_age=KNOWN_DEVICE_SECONDS,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
        return response


# Per address and per mobile number, shared by the shop and the back-office login forms, so that
# neither one address guessing many numbers nor many addresses guessing one number get far.
login_rate_limit_by_ip = limiter.shared_limit(_login_limit, scope="login-ip", methods=["POST"])
login_rate_limit_by_mobile = limiter.shared_limit(
    _login_limit, scope="login-mobile", key_func=_mobile_key, methods=["POST"]
)
register_rate_limit = limiter.shared_limit("20 per hour", scope="register", methods=["POST"])


def start_session(user: User) -> None:
    login_user(user, remember=True)
    _remember_known_device(user)


def sign_in_page(
    template: str, home: str, form_class, enter: Callable, admits=lambda user: True, welcome=None
):
    """A page whose form signs someone in (log in, register), the shop's and the back office's alike,
    rendered with `template`. Someone signed in whom `admits(user)` lets in goes on at once, as does
    someone the form signs in now: to the form's `next` path when it is one of ours, else to the endpoint
    `home` (with the flash `welcome`, if any). `enter(form)` is the service that returns the user or
    refuses with an AccountError, shown on the form with nothing saved."""
    form = form_class(next=request.args.get("next"))
    if current_user.is_authenticated and admits(current_user):
        return redirect(safe_next(form.next.data, url_for(home)))
    if form.validate_on_submit():
        try:
            user = enter(form)
        except accounts.AccountError as error:
            db.session.rollback()
            apply_service_error(form, error)
        else:
            db.session.commit()
            start_session(user)
            if welcome:
                flash(welcome, "success")
            return redirect(safe_next(form.next.data, url_for(home)))
    return render_template(template, form=form)


def login_page(
    template: str, home: str, admits: Callable[[User], bool] = lambda user: True, refusal: str = ""
):
    """The login form (see sign_in_page). The right password of an account that `admits` turns away is
    refused with `refusal`, like a wrong one. (Rate limit the view with login_rate_limit_by_ip and
    login_rate_limit_by_mobile.)"""

    def enter(form: LoginForm) -> User:
        user = accounts.authenticate(db.session, mobile=form.mobile.data, password=form.password.data)
        if not admits(user):
            raise accounts.AccountError(refusal)
        return user

    return sign_in_page(template, home, LoginForm, enter, admits)
