"""Account rules: who may register, how they sign in, how staff accounts are made."""

import re
import unicodedata

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import signals
from app.accounts.models import Role, User
from app.errors import UserError
from app.timeutil import utcnow

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
PASSWORD_MIN, PASSWORD_MAX = 8, 64
NICKNAME_MAX = 32


class AccountError(UserError):
    """A refusal about an account (sign-up, log-in, profile)."""


def normalise_mobile(raw: str | None) -> str:
    """Accept what people paste or type (spaces, dashes, +86, full-width digits from a Chinese input
    method) and return the 11 ASCII digits, or refuse."""
    digits = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", raw or ""))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if not MOBILE_RE.match(digits):
        raise AccountError(_l("Please enter a valid mainland China mobile number (11 digits)."), "mobile")
    return digits


def check_password_strength(password: str | None) -> str:
    password = password or ""
    if len(password) < PASSWORD_MIN:
        raise AccountError(_l("The password needs at least %(n)d characters.", n=PASSWORD_MIN), "password")
    if len(password) > PASSWORD_MAX:
        raise AccountError(_l("The password may have at most %(n)d characters.", n=PASSWORD_MAX), "password")
    if password.isdigit() or password.isalpha():
        raise AccountError(_l("Use both letters and digits in the password."), "password")
    return password


def clean_nickname(nickname: str | None, mobile: str | None = None) -> str:
    nickname = " ".join((nickname or "").split())
    if len(nickname) > NICKNAME_MAX:
        raise AccountError(_l("The nickname may have at most %(n)d characters.", n=NICKNAME_MAX), "nickname")
    if not nickname and mobile:
        nickname = _default_nickname(mobile)
    return nickname


def _default_nickname(mobile: str) -> str:
    return gettext("User %(tail)s", tail=mobile[-4:])


def find_by_mobile(session: Session, mobile: str) -> User | None:
    return session.scalar(select(User).where(User.mobile == mobile))


def register_user(
    session: Session, *, mobile: str, password: str, nickname: str = "", role: Role = Role.CUSTOMER
) -> User:
    """Create an account. The mobile number is the login name, so it must be unused."""
    mobile = normalise_mobile(mobile)
    check_password_strength(password)
    nickname = clean_nickname(nickname, mobile)
    if find_by_mobile(session, mobile) is not None:
        raise AccountError(_l("This mobile number is already registered. Please log in."), "mobile")
    user = User(mobile=mobile, nickname=nickname, role=role)
    user.set_password(password)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:  # two sign-ups with one number at the same moment
        raise AccountError(_l("This mobile number is already registered. Please log in."), "mobile") from None
    if role == Role.CUSTOMER:
        signals.customer_registered.send(user, session=session)
    return user


def authenticate(session: Session, *, mobile: str, password: str) -> User:
    """The user for this number and password, or one vague refusal (never say which part was wrong)."""
    refusal = AccountError(_l("Wrong mobile number or password."))
    try:
        mobile = normalise_mobile(mobile)
    except AccountError:
        raise refusal from None
    user = find_by_mobile(session, mobile)
    if user is None or not user.check_password(password or ""):
        raise refusal
    if not user.is_active:
        raise AccountError(_l("This account has been disabled. Please contact the shop."))
    user.last_login_at = utcnow()
    return user


def change_password(user: User, *, current: str, new: str) -> None:
    if not user.check_password(current or ""):
        raise AccountError(_l("The current password is not right."), "current_password")
    check_password_strength(new)
    user.set_password(new)


def add_mobile_login(session: Session, user: User, *, mobile: str, password: str) -> None:
    """Give an account made by WeChat's silent login a mobile number and password, so its shopper can
    also log in outside WeChat (in the phone's browser, to pay with Alipay). Only once: an account that
    has a number changes its password instead."""
    if user.mobile:
        raise AccountError(_l("This account already logs in with a mobile number."))
    mobile = normalise_mobile(mobile)
    check_password_strength(password)
    taken = AccountError(
        _l(
            "This mobile number already has an account. Outside WeChat, log in with it; "
            "its orders stay with it and are not joined to this WeChat account."
        ),
        "mobile",
    )
    if find_by_mobile(session, mobile) is not None:
        raise taken
    try:
        with session.begin_nested():
            user.mobile = mobile
            user.set_password(password)
            session.flush()
    except IntegrityError:  # someone registered the number at the same moment
        raise taken from None


def update_profile(user: User, *, nickname: str) -> None:
    user.nickname = clean_nickname(nickname, user.mobile)


def create_admin(
    session: Session, *, mobile: str, password: str, role: Role = Role.OWNER, nickname: str = ""
) -> User:
    """Make a back-office account, or promote and reset the password of an existing one."""
    mobile = normalise_mobile(mobile)
    check_password_strength(password)
    user = find_by_mobile(session, mobile)
    if user is None:
        return register_user(
            session, mobile=mobile, password=password, nickname=nickname or gettext("Shop owner"), role=role
        )
    user.role = role
    user.is_active = True
    user.set_password(password)
    return user


def count_owners(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.role == Role.OWNER)) or 0


def sign_in_with_openid(session: Session, openid: str, current: User | None) -> User:
    """WeChat silent login. A signed-in shopper gets the openid linked to their account; otherwise the
    account that has it signs in, or a new one is made (the shopper can add a mobile number later)."""
    openid = (openid or "").strip()
    if not openid or len(openid) > 64:
        raise AccountError(_l("WeChat did not say who you are. Please log in with your mobile number."))
    owner = session.scalar(select(User).where(User.wechat_openid == openid))
    if current is not None:
        if owner is None and not current.wechat_openid:
            current.wechat_openid = openid
        return current
    if owner is not None:
        if not owner.is_active:
            raise AccountError(_l("This account has been disabled. Please contact the shop."))
        owner.last_login_at = utcnow()
        return owner
    user = User(
        mobile=None,
        nickname=gettext("WeChat user %(tail)s", tail=openid[-4:]),
        role=Role.CUSTOMER,
        wechat_openid=openid,
        auth_version=1,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:  # the same shopper in two tabs at once
        return session.scalar(select(User).where(User.wechat_openid == openid))
    signals.customer_registered.send(user, session=session)
    return user
