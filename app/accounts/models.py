"""Users: shoppers, distributors and the merchant's staff share one table; the role says who may do what."""

from datetime import datetime
from enum import StrEnum

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import String
from werkzeug.security import check_password_hash, generate_password_hash

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


class Role(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"
    OWNER = "owner"


class Permission(StrEnum):
    """What a back-office user may do. The owner may do everything; staff run the daily work."""

    CATALOG = "catalog"
    ORDERS = "orders"
    DISTRIBUTION = "distribution"
    MARKETING = "marketing"
    REPORTS = "reports"
    SETTINGS = "settings"
    STAFF = "staff"
    # Approving and paying money out: refunds, withdrawals, voiding commission, settling flagged payments.
    MONEY = "money"
    # The customer list and pages, and disabling an account. Full mobiles and addresses on them need ORDERS
    # too (the permission that already shows them on every order).
    CUSTOMERS = "customers"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.CUSTOMER: frozenset(),
    # What a staff member holds whose permissions the owner never chose (accounts made before per-person
    # permissions, or by `flask create-admin --staff`): the daily work, as before.
    Role.STAFF: frozenset(
        {
            Permission.CATALOG,
            Permission.ORDERS,
            Permission.DISTRIBUTION,
            Permission.MARKETING,
            Permission.REPORTS,
            Permission.MONEY,
            Permission.CUSTOMERS,
        }
    ),
    Role.OWNER: frozenset(Permission),
}
# What the owner may give a staff member, one by one: everything but managing staff, which stays the
# owner's (so no one can give themselves more than they were given).
GRANTABLE_PERMISSIONS: tuple[Permission, ...] = (
    Permission.ORDERS,
    Permission.CATALOG,
    Permission.DISTRIBUTION,
    Permission.MARKETING,
    Permission.MONEY,
    Permission.CUSTOMERS,
    Permission.REPORTS,
    Permission.SETTINGS,
)


class User(IdPrimaryKey, UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('customer', 'staff', 'owner')", name="role_known"),)

    mobile: Mapped[str | None] = mapped_column(String(11), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    nickname: Mapped[str] = mapped_column(String(32), default="")
    avatar_key: Mapped[str | None] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16), default=Role.CUSTOMER, index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped when the password changes, so every other session of this user ends.
    auth_version: Mapped[int] = mapped_column(default=1)
    # A staff member's permissions as the owner chose them ("orders,money"); None: the role's
    # (ROLE_PERMISSIONS). Read on every request, so a change applies at the member's next click.
    permissions: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Distribution: who referred this member (always a distributor's user when bound), since when, until
    # when (None: no end), and whether a "last click wins" binding has been fixed by a first paid order.
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    referrer_bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referrer_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referrer_fixed: Mapped[bool] = mapped_column(default=False)
    # WeChat web OAuth (snsapi_base): the shopper's openid for the shop's official-account appid.
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The WeChat mini-program's login (code2session): the shopper's openid for the mini-program's appid, and
    # the unionid WeChat gives when the mini-program and the official account share an open-platform account
    # (the same person in both: one account).
    mp_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    wechat_unionid: Mapped[str | None] = mapped_column(String(64), unique=True)

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)
        self.auth_version = (self.auth_version or 0) + 1

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        return f"{self.id}:{self.auth_version}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_back_office(self) -> bool:
        return self.role in (Role.STAFF, Role.OWNER)

    @property
    def granted_permissions(self) -> frozenset[Permission]:
        role = self.role_enum
        if role != Role.STAFF or self.permissions is None:
            return ROLE_PERMISSIONS[role]
        grantable = {p.value: p for p in GRANTABLE_PERMISSIONS}
        return frozenset(grantable[name] for name in self.permissions.split(",") if name in grantable)

    def can(self, permission: Permission) -> bool:
        return self.is_active and permission in self.granted_permissions

    @property
    def display_name(self) -> str:
        return self.nickname or mask_mobile(self.mobile) or f"#{self.id}"

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


def mask_mobile(mobile: str | None) -> str:
    """13812345678 -> 138****5678: how one person's number is shown to anyone but them and the merchant."""
    if not mobile:
        return ""
    return mobile[:3] + "****" + mobile[-4:] if len(mobile) == 11 else "****"


class AccountEventKind(StrEnum):
    DISABLED = "disabled"
    ENABLED = "enabled"
    MADE_STAFF = "made_staff"
    PERMISSIONS = "permissions"
    # The mini-program's sign-in: a WeChat-verified mobile number set on the account, or the mini-program's
    # account folded into the account that already had that number (on both: into / from, note "#id").
    MOBILE_LINKED = "mobile_linked"
    MERGED_INTO = "merged_into"
    MERGED_FROM = "merged_from"


class AccountEvent(IdPrimaryKey, db.Model):
    """Append-only: who disabled or enabled an account, made someone staff or changed their permissions,
    linked a mobile number or folded a mini-program account into another, when and why."""

    __tablename__ = "account_events"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User", foreign_keys=[actor_id])
