"""Idempotency keys of the JSON API's order placement (`Idempotency-Key` header): a client that sends the
same key again — a retry after a lost answer — gets the order its first request placed, never a second.

The key is the client's (1–64 printable ASCII characters), kept per user with the SHA-256 of the request's
canonical body, so the same key with another body is told apart (a client bug) instead of answered with an
order that is not what it asked for. Its row is written in the order's own transaction, and the unique
(user, key) constraint makes two concurrent requests with one key place one order: the second fails on
the constraint (or on the order's own unique idempotency key, derived from it), rolls back, and reads the
first one's row. The order itself carries `order_key(key)`, so placement is idempotent on its own too."""

import hashlib
import json
import re
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow

KEY_MAX = 64
KEY_RE = re.compile(r"^[\x20-\x7e]{1,64}$")  # printable ASCII
ORDER_KEY_PREFIX = "api-"


class ApiIdempotencyKey(IdPrimaryKey, db.Model):
    __tablename__ = "api_idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical JSON body
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def valid_key(key: str | None) -> bool:
    return key is not None and bool(KEY_RE.match(key))


def fingerprint(body) -> str:
    """The SHA-256 of a JSON body written canonically (sorted keys, no spaces)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def order_key(key: str) -> str:
    """The order's own idempotency key for a client's key: fits checkout.IDEMPOTENCY_RE whatever the
    client sent, and never equals a key the H5 checkout makes up (those have no "api-" prefix)."""
    return ORDER_KEY_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:60]


def find(session: Session, user_id: int, key: str) -> ApiIdempotencyKey | None:
    return session.scalar(
        select(ApiIdempotencyKey).where(ApiIdempotencyKey.user_id == user_id, ApiIdempotencyKey.key == key)
    )


def remember(session: Session, user_id: int, key: str, body_fingerprint: str, order_id: int) -> None:
    """Write the key in the order's transaction (flushed now: a concurrent twin fails here or at commit)."""
    session.add(
        ApiIdempotencyKey(
            user_id=user_id, key=key, fingerprint=body_fingerprint, order_id=order_id, created_at=utcnow()
        )
    )
    session.flush()
