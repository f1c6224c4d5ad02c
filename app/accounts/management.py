"""The back office's hold on accounts: disabling and enabling a shopper or a staff member, making someone
staff and choosing their permissions. Every change is checked against the row as it is now and written to
the account event log."""

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.accounts.models import (
    GRANTABLE_PERMISSIONS,
    AccountEvent,
    AccountEventKind,
    Permission,
    Role,
    User,
)
from app.accounts.services import (
    AccountError,
    check_password_strength,
    clean_nickname,
    find_by_mobile,
    normalise_mobile,
    register_user,
)

REASON_MAX = 200


def _reason(text: str | None, *, required: bool) -> str:
    reason = " ".join((text or "").split())
    if required and not reason:
        raise AccountError(_l("Please give a reason."), "reason")
    if len(reason) > REASON_MAX:
        raise AccountError(_l("The reason may have at most %(n)d characters.", n=REASON_MAX), "reason")
    return reason


def record(
    session: Session, user: User, kind: AccountEventKind, *, actor: User | None, note: str = ""
) -> None:
    session.add(AccountEvent(user_id=user.id, actor_id=actor.id if actor else None, kind=kind, note=note))


def account_events(session: Session, user_id: int, limit: int = 30) -> list[AccountEvent]:
    return list(
        session.scalars(
            select(AccountEvent)
            .where(AccountEvent.user_id == user_id)
            .order_by(AccountEvent.id.desc())
            .limit(limit)
        )
    )


def may_disable(user: User, actor: User) -> bool:
    """The owner's account is never disabled (the shop would have no one left to enable it), and no one
    disables themselves."""
    return user.role != Role.OWNER and user.id != actor.id


def set_account_active(session: Session, user: User, *, active: bool, actor: User, reason: str = "") -> None:
    """Disable or enable an account. A disabled account cannot log in or order, and its open sessions end at
    their next request (the sign-in version moves on, so enabling it again does not bring them back). Its
    orders, points, commission and balance are kept."""
    if not may_disable(user, actor):
        if user.id == actor.id:
            raise AccountError(_l("You cannot disable your own account."))
        raise AccountError(_l("The shop owner's account cannot be disabled."))
    reason = _reason(reason, required=not active)
    values = {"is_active": active}
    if not active:
        values["auth_version"] = User.auth_version + 1
    changed = session.execute(
        update(User)
        .where(User.id == user.id, User.is_active == (not active), User.role != Role.OWNER)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise AccountError(
            _l("This account is already enabled.") if active else _l("This account is already disabled.")
        )
    session.refresh(user)
    record(
        session,
        user,
        AccountEventKind.ENABLED if active else AccountEventKind.DISABLED,
        actor=actor,
        note=reason,
    )


def clean_permissions(chosen: Iterable[str]) -> list[Permission]:
    """The grantable permissions among `chosen`, in the order the page lists them; anything else refused."""
    wanted = set(chosen)
    known = {p.value for p in GRANTABLE_PERMISSIONS}
    if wanted - known:
        raise AccountError(_l("Please choose permissions from the list."), "permissions")
    return [p for p in GRANTABLE_PERMISSIONS if p.value in wanted]


def _permissions_text(permissions: list[Permission]) -> str:
    return ",".join(p.value for p in permissions)


def add_staff(
    session: Session, *, actor: User, mobile: str, nickname: str = "", password: str = "", permissions=()
) -> User:
    """Make the account with this mobile number staff, with the chosen permissions, and the first password
    the owner types (they tell it to the new staff member, who can change it later). For a number with no
    account, one is made. A shopper's account becomes staff with that password too, and every old way into
    it ends (sessions, remember-me, API tokens, the linked WeChat): signing up proves nothing about the
    number, so whoever registered it may not be the person the owner means."""
    mobile = normalise_mobile(mobile)
    chosen = clean_permissions(permissions)
    user = find_by_mobile(session, mobile)
    if user is not None and user.role != Role.CUSTOMER:
        raise AccountError(_l("This mobile number already has back-office access."), "mobile")
    if not password:
        raise AccountError(_l("Please set a first password and tell it to the new staff member."), "password")
    check_password_strength(password)
    if user is None:
        user = register_user(
            session,
            mobile=mobile,
            password=password,
            nickname=clean_nickname(nickname, mobile),
            role=Role.STAFF,
        )
    else:
        if nickname.strip():
            user.nickname = clean_nickname(nickname, mobile)
        user.set_password(password)  # moves auth_version on: the account's sessions and tokens end
        user.wechat_openid = None
    promoted = session.execute(
        update(User)
        .where(User.id == user.id, User.role.in_((Role.CUSTOMER, Role.STAFF)))
        .values(role=Role.STAFF, permissions=_permissions_text(chosen))
        .execution_options(synchronize_session=False)
    ).rowcount
    if not promoted:
        raise AccountError(_l("This mobile number already has back-office access."), "mobile")
    session.refresh(user)
    record(session, user, AccountEventKind.MADE_STAFF, actor=actor, note=_permissions_text(chosen))
    return user


def set_staff_permissions(session: Session, staff: User, *, actor: User, permissions) -> None:
    """Change what a staff member may do; it applies at their next request."""
    chosen = clean_permissions(permissions)
    changed = session.execute(
        update(User)
        .where(User.id == staff.id, User.role == Role.STAFF)
        .values(permissions=_permissions_text(chosen))
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise AccountError(_l("This person is not a staff member."))
    session.refresh(staff)
    record(session, staff, AccountEventKind.PERMISSIONS, actor=actor, note=_permissions_text(chosen))


def staff_members(session: Session) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .where(User.role.in_((Role.STAFF, Role.OWNER)))
            .order_by(User.role, User.id)  # the owner first
        )
    )
