"""Signing in from the WeChat mini-program: wx.login's code → the shopper's account and a bearer token
(the same account as on the H5 shop when WeChat's unionid matches), and the getPhoneNumber button's code →
a verified mobile number on the account, or the account that already has that number (the H5 one).

The rules are the accounts service's (sign_in_with_mini_program, link_verified_mobile); WeChat's APIs are
app/payments/wechat_mp.py."""

import logging

from flask_babel import gettext as _
from spectree import Response

from app.accounts import access_tokens
from app.accounts import services as accounts
from app.accounts.auth import login_rate_limit_by_ip, register_rate_limit
from app.accounts.models import User
from app.api import bp
from app.api.auth import user_out
from app.api.errors import ApiError, ErrorBody
from app.api.schemas_mini_program import MiniLoginOut, PhoneCodeIn, PhoneLinkOut, WechatCodeIn
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.extensions import db
from app.payments import wechat_mp
from app.payments.wechat_web import WechatApiError, WechatRefused

log = logging.getLogger(__name__)
MAINLAND = "86"


def _mini_program_on() -> None:
    if not wechat_mp.configured(db.session):
        raise ApiError(503, _("The shop has not set up its mini-program yet."), code="mini_program_off")


def _wechat_unreachable(error: WechatApiError) -> ApiError:
    log.warning("wechat mini-program call failed: %s", error)
    return ApiError(
        503, _("WeChat cannot be reached just now. Please try again in a minute."), code="wechat_unavailable"
    )


def _refusal(error: accounts.AccountError) -> ApiError:
    if isinstance(error, accounts.AccountDisabled):
        return ApiError(403, error.message, code="account_disabled")
    if isinstance(error, accounts.AccountConflict):
        return ApiError(409, error.message, code="account_conflict")
    return ApiError(
        422, error.message, code="invalid", fields={error.field: error.message} if error.field else None
    )


def login_out(user: User) -> MiniLoginOut:
    token, row = access_tokens.issue(db.session, user)
    return MiniLoginOut(
        token=token, expires_at=row.expires_at.isoformat(), user=user_out(user), has_mobile=bool(user.mobile)
    )


@bp.post("/auth/wechat-mini")
@login_rate_limit_by_ip
@spec.validate(
    json=WechatCodeIn,
    resp=Response(
        HTTP_200=MiniLoginOut, HTTP_401=ErrorBody, HTTP_403=ErrorBody, HTTP_429=ErrorBody, HTTP_503=ErrorBody
    ),
    tags=["auth"],
)
def wechat_mini_login(json: WechatCodeIn):
    """Log in with the mini-program's wx.login code

    WeChat (code2session) says who the shopper is. Their account is the one this mini-program signed in
    before, else the one WeChat's unionid names (the same person on the H5 shop: the same account), else a
    new one without a mobile number (`has_mobile` false: ask for it with the getPhoneNumber button and POST
    /auth/wechat-mini/phone). 401 wechat_code_invalid: WeChat refused the code (used, expired, forged);
    403 account_disabled; 503 mini_program_off: the shop has no mini-program set up; 503
    wechat_unavailable: WeChat could not be reached."""
    _mini_program_on()
    try:
        who = wechat_mp.code2session(db.session, json.code)
    except WechatRefused:
        raise ApiError(
            401, _("WeChat did not accept this sign-in. Please try again."), code="wechat_code_invalid"
        ) from None
    except WechatApiError as error:
        raise _wechat_unreachable(error) from None
    try:
        user = accounts.sign_in_with_mini_program(db.session, who.openid, who.unionid)
    except accounts.AccountError as error:
        db.session.rollback()
        if isinstance(error, accounts.AccountDisabled):
            raise _refusal(error) from None
        raise ApiError(401, error.message, code="wechat_code_invalid") from None
    answer = login_out(user)
    db.session.commit()
    return answer


@bp.post("/auth/wechat-mini/phone")
@register_rate_limit  # it tells whether a number has an account, like registering on H5 does
@login_required
@spec.validate(
    json=PhoneCodeIn,
    resp=Response(
        HTTP_200=PhoneLinkOut,
        HTTP_401=ErrorBody,
        HTTP_403=ErrorBody,
        HTTP_409=ErrorBody,
        HTTP_422=ErrorBody,
        HTTP_429=ErrorBody,
        HTTP_503=ErrorBody,
    ),
    tags=["auth"],
    security={BEARER: []},
)
def wechat_mini_phone(json: PhoneCodeIn):
    """Give the mini-program account its WeChat-verified mobile number

    For an account signed in from the mini-program. When no account has the number, this one gets it.
    When the shopper's H5 account has it, the mini-program is joined to that account: the answer carries
    its token (`merged`, `session`) and the old token stops working — only while the mini-program's account
    is still empty (no orders, cart, coupons, points, commission or distributor standing of its own);
    otherwise 409 account_conflict (the shop joins them). 401 wechat_code_invalid: WeChat refused the code;
    409 needs_wechat_login: the account did not sign in from the mini-program; 422 not_mainland_mobile;
    429 rate_limited: too many tries from this address (as registering on H5: it tells whether a number has
    an account); 503 mini_program_off / wechat_unavailable."""
    user = api_user()
    if not user.mp_openid:
        raise ApiError(
            409, _("Please sign in from the mini-program with WeChat first."), code="needs_wechat_login"
        )
    _mini_program_on()
    try:
        phone = wechat_mp.phone_number(db.session, json.code)
    except WechatRefused:
        raise ApiError(
            401, _("WeChat did not give the mobile number. Please try again."), code="wechat_code_invalid"
        ) from None
    except WechatApiError as error:
        raise _wechat_unreachable(error) from None
    if phone.country_code != MAINLAND:
        raise ApiError(
            422, _("Only mainland China mobile numbers can be used in this shop."), code="not_mainland_mobile"
        )
    try:
        account = accounts.link_verified_mobile(db.session, user, phone.pure)
    except accounts.AccountError as error:
        db.session.rollback()
        raise _refusal(error) from None
    merged = account.id != user.id
    session = login_out(account) if merged else None
    db.session.commit()
    return PhoneLinkOut(merged=merged, session=session, user=user_out(account))
