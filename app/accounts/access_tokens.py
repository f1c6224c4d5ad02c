"""Bearer tokens for the JSON API (the mini-program signs in with one instead of a cookie).

A token is 32 random bytes handed out once; only its SHA-256 is stored, so a copy of the database signs
no one in. A token stops working when it expires, when its holder logs out (revoked), when the account is
disabled, or when the account's auth_version moves on (a new password ends every session, cookie or
token). The table is `api_access_tokens`: `api_tokens` already holds the gateways' own tokens
(app/payments/models.py)."""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.accounts.models import User
from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow

TOKEN_DAYS = 30
# last_used_at is written at most this often per token: not one UPDATE per API call.
LAST_USED_EVERY = timedelta(minutes=5)
TOKEN_MAX_LENGTH = 100  # what a well-formed token can be; anything longer is not looked up


class AccessToken(IdPrimaryKey, db.Model):
    __tablename__ = "api_access_tokens"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The account's auth_version when the token was issued: a new password ends the token too.
    auth_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(session: Session, user: User, *, days: int = TOKEN_DAYS) -> tuple[str, AccessToken]:
    """A new token for `user` (the secret, shown once, and its row)."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = AccessToken(
        user_id=user.id,
        token_hash=_digest(secret),
        auth_version=user.auth_version,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return secret, row


def find_valid(session: Session, token: str | None) -> AccessToken | None:
    """The live token row for this secret, or None: unknown (or altered), expired, revoked, of a disabled
    account or of an older password. Notes when it was last used (now and then)."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    row = session.scalar(select(AccessToken).where(AccessToken.token_hash == _digest(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or user.auth_version != row.auth_version:
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        session.execute(update(AccessToken).where(AccessToken.id == row.id).values(last_used_at=now))
        row.last_used_at = now
    return row


def revoke(session: Session, row: AccessToken) -> bool:
    """Ends the token; False if it had been ended already (a second logout changes nothing)."""
    result = session.execute(
        update(AccessToken)
        .where(AccessToken.id == row.id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount == 1
