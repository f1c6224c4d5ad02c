"""Sign-in plumbing the shop and the back office share: rate limits, safe redirects, logging in."""

import unicodedata
from urllib.parse import urlsplit

from flask import current_app, request
from flask_login import login_user

from app.accounts.models import User
from app.extensions import limiter


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _mobile_key() -> str:
    """The number as login will read it (NFKC: full-width and other look-alike digits become ASCII), so
    that spelling one number many ways does not give it many separate limits."""
    raw = unicodedata.normalize("NFKC", request.form.get("mobile") or "")
    return "mobile:" + "".join(ch for ch in raw if ch in "0123456789")[-11:]


# Per address and per mobile number, shared by the shop and the back-office login forms, so that
# neither one address guessing many numbers nor many addresses guessing one number get far.
login_rate_limit_by_ip = limiter.shared_limit(_login_limit, scope="login-ip", methods=["POST"])
login_rate_limit_by_mobile = limiter.shared_limit(
    _login_limit, scope="login-mobile", key_func=_mobile_key, methods=["POST"]
)
register_rate_limit = limiter.shared_limit("20 per hour", scope="register", methods=["POST"])


def safe_next(target: str | None, default: str) -> str:
    """Only ever redirect to a path on this site after login (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def start_session(user: User) -> None:
    login_user(user, remember=True)
