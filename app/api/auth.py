"""Sign-in: mobile + password → a bearer token (the H5 login's rules and rate limits); log out; who am I."""

from flask import g
from spectree import Response

from app.accounts import access_tokens
from app.accounts import services as accounts
from app.accounts.auth import login_rate_limit_by_ip, login_rate_limit_by_mobile
from app.accounts.models import User, mask_mobile
from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import LoginIn, OkOut, TokenOut, UserOut
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.extensions import db
from app.media import image_url


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        nickname=user.nickname,
        mobile_masked=mask_mobile(user.mobile),
        avatar_url=image_url(user.avatar_key, 200, external=True) if user.avatar_key else None,
    )


@bp.post("/auth/login")
@login_rate_limit_by_ip
@login_rate_limit_by_mobile
@spec.validate(
    json=LoginIn, resp=Response(HTTP_200=TokenOut, HTTP_401=ErrorBody, HTTP_429=ErrorBody), tags=["auth"]
)
def login(json: LoginIn):
    """Log in with mobile number and password

    The same account, rules and rate limits as the H5 shop's login. The token lasts 30 days, until
    logout, or until the account is disabled or its password changes."""
    try:
        user = accounts.authenticate(db.session, mobile=json.mobile, password=json.password)
    except accounts.AccountError as error:
        db.session.rollback()
        raise ApiError(401, error.message, code="login_failed") from None
    token, row = access_tokens.issue(db.session, user)
    db.session.commit()
    return TokenOut(token=token, expires_at=row.expires_at.isoformat(), user=user_out(user))


@bp.post("/auth/logout")
@login_required
@spec.validate(resp=Response(HTTP_200=OkOut, HTTP_401=ErrorBody), tags=["auth"], security={BEARER: []})
def logout():
    """Log out: the token stops working at once"""
    if g.api_token is None:
        raise ApiError(401)  # a cookie session logs out on the H5 shop
    access_tokens.revoke(db.session, g.api_token)
    db.session.commit()
    return OkOut()


@bp.get("/me")
@login_required
@spec.validate(resp=Response(HTTP_200=UserOut, HTTP_401=ErrorBody), tags=["account"], security={BEARER: []})
def me():
    """The signed-in user"""
    return user_out(api_user())
