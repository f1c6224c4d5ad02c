"""Account rules: who may register, how they sign in, how staff accounts are made."""

import re
import unicodedata

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts import signals
from app.accounts.models import AccountEvent, AccountEventKind, Role, User
from app.errors import UserError
from app.timeutil import utcnow

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
PASSWORD_MIN, PASSWORD_MAX = 8, 64
NICKNAME_MAX = 32


class AccountError(UserError):
    """A refusal about an account (sign-up, log-in, profile)."""


class AccountDisabled(AccountError):
    """The account exists but the shop has disabled it."""


class AccountConflict(AccountError):
    """What the shopper asks cannot be done to this account as it is (the shop has to look at it)."""


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


# ---------------------------------------------------------------- the WeChat mini-program


def _disabled() -> AccountDisabled:
    return AccountDisabled(_l("This account has been disabled. Please contact the shop."))


def _mini_program_account(session: Session, openid: str, unionid: str | None) -> User | None:
    """The account of this mini-program openid, else the one of this unionid (the same WeChat user, known
    from the shop's other apps)."""
    user = session.scalar(select(User).where(User.mp_openid == openid))
    if user is None and unionid:
        user = session.scalar(select(User).where(User.wechat_unionid == unionid))
    return user


def sign_in_with_mini_program(session: Session, openid: str, unionid: str | None) -> User:
    """wx.login's identity (code2session) → the shopper's account: the one with this mini-program openid,
    else the one with this unionid (the same person as on the H5 shop: the SAME account, which now gets the
    openid too), else a new shopper account without a mobile number (the mini-program asks for one later).
    Two first logins of one WeChat user at the same moment make one account (the openid is unique)."""
    openid, unionid = (openid or "").strip(), (unionid or "").strip() or None
    if not openid or len(openid) > 64 or (unionid and len(unionid) > 64):
        raise AccountError(_l("WeChat did not say who you are. Please log in with your mobile number."))
    user = _mini_program_account(session, openid, unionid)
    if user is None:
        user = User(
            mobile=None,
            nickname=gettext("WeChat user %(tail)s", tail=openid[-4:]),
            role=Role.CUSTOMER,
            mp_openid=openid,
            wechat_unionid=unionid,
            auth_version=1,
            created_at=utcnow(),
            last_login_at=utcnow(),
        )
        try:
            with session.begin_nested():
                session.add(user)
        except IntegrityError:  # the same shopper's first login twice at once: the other one made it
            user = _mini_program_account(session, openid, unionid)
            if user is None:
                raise
        else:
            signals.customer_registered.send(user, session=session)
            return user
    if not user.is_active:
        raise _disabled()
    if user.mp_openid is None or (unionid and user.wechat_unionid is None):
        try:
            with session.begin_nested():
                user.mp_openid = user.mp_openid or openid
                user.wechat_unionid = user.wechat_unionid or unionid
                session.flush()
        except IntegrityError:  # held by another account meanwhile: sign in without linking
            session.refresh(user)
    user.last_login_at = utcnow()
    return user


def account_holdings(session: Session, user: User) -> list[str]:
    """What the account holds anywhere in the shop (each area answers the signal), e.g. ["orders"]."""
    held: list[str] = []
    for _receiver, answer in signals.account_holdings.send(user, session=session):
        held += list(answer or [])
    return held


def _record(session: Session, user: User, kind: AccountEventKind, note: str = "") -> None:
    session.add(AccountEvent(user_id=user.id, actor_id=user.id, kind=kind, note=note))


def link_verified_mobile(session: Session, user: User, mobile: str) -> User:
    """The mini-program's getPhoneNumber: a mobile number WeChat verified, for the signed-in mini-program
    account `user`. Returns the account the shopper is signed in to from now on:

    - no account has the number: it is set on this one (it logs in by WeChat; a password can come later);
    - the account that has it is the shopper's H5 account: the mini-program identity (openid, unionid) moves
      there and that account is returned; this one — made by the mini-program and still empty — is disabled
      and its sessions end. Only an empty account is folded: one that holds orders, cart lines, coupons,
      points, commission or a distributor's standing of its own is refused (AccountConflict: the shop
      decides), as is a number whose account is of the back office, disabled, or already has another
      mini-program WeChat. This is not a general merge of two accounts' data."""
    mobile = normalise_mobile(mobile)
    if user.mobile == mobile:
        return user
    if user.mobile:
        raise AccountConflict(_l("This account already has another mobile number."))
    other = session.scalar(select(User).where(User.mobile == mobile).with_for_update())
    if other is None:
        try:
            with session.begin_nested():
                # Only while the account is still active and without a number: a request of the same shopper
                # that folded it into another account meanwhile must not leave the number on a disabled one.
                given = session.execute(
                    update(User)
                    .where(User.id == user.id, User.is_active, User.mobile.is_(None))
                    .values(mobile=mobile)
                    .execution_options(synchronize_session=False)
                ).rowcount
        except IntegrityError:  # an account took the number at the same moment
            raise AccountConflict(
                _l("This mobile number was registered just now. Please try again.")
            ) from None
        if given != 1:
            raise AccountConflict(_l("This account has changed meanwhile. Please log in again."))
        session.refresh(user)
        _record(session, user, AccountEventKind.MOBILE_LINKED, mobile[:3] + "****" + mobile[-4:])
        return user
    _check_foldable(session, user, other)
    openid, unionid, web_openid = user.mp_openid, user.wechat_unionid, user.wechat_openid
    emptied = session.execute(
        update(User)
        .where(User.id == user.id, User.is_active, User.mobile.is_(None))
        .values(
            is_active=False,
            auth_version=User.auth_version + 1,
            mp_openid=None,
            wechat_unionid=None,
            wechat_openid=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if emptied != 1:  # folded (or disabled) by another request meanwhile
        raise AccountConflict(_l("This account has changed meanwhile. Please log in again."))
    session.refresh(user)
    other.mp_openid = openid
    other.wechat_unionid = other.wechat_unionid or unionid
    other.wechat_openid = other.wechat_openid or web_openid
    other.last_login_at = utcnow()
    session.flush()
    _record(session, user, AccountEventKind.MERGED_INTO, f"#{other.id}")
    _record(session, other, AccountEventKind.MERGED_FROM, f"#{user.id}")
    return other


def _check_foldable(session: Session, user: User, other: User) -> None:
    contact = _l(
        "This mobile number already has an account in the shop, and this WeChat account has orders or "
        "benefits of its own. Please contact the shop to join them."
    )
    if not other.is_active:
        raise _disabled()
    if other.role != Role.CUSTOMER or user.role != Role.CUSTOMER:
        raise AccountConflict(contact)
    clashes = [
        (user.mp_openid, other.mp_openid),
        (user.wechat_unionid, other.wechat_unionid),
        (user.wechat_openid, other.wechat_openid),
    ]
    if any(mine and theirs and mine != theirs for mine, theirs in clashes):
        raise AccountConflict(
            _l("This mobile number's account is already linked to another WeChat. Please contact the shop.")
        )
    if account_holdings(session, user):
        raise AccountConflict(contact)
