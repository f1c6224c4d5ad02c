"""Rate-limit counters every worker and host share, in the shop's own database: the default storage for
Flask-Limiter (`RATELIMIT_STORAGE_URI=database://`). A per-process store (`memory://`) would give each
gunicorn worker its own count — ten tries a minute become twenty with two workers. Redis
(`redis://…`) works as well when a shop runs it.

Fixed windows: one row per key holds the count and when its window ends; a hit is one atomic upsert that
starts a new window when the old one is over, so concurrent hits from several workers all count."""

import hashlib
import random
import time
from importlib import import_module

from limits.storage import Storage
from sqlalchemy import BigInteger, String, case, delete, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

PURGE_ONE_IN = 200  # now and then a hit also clears windows that ended long ago
MAX_KEY_LENGTH = 200


class RateLimitCounter(db.Model):
    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    count: Mapped[int]
    # Milliseconds since the epoch: limits' own clock is time.time(), not the app's (test) clock.
    window_ends_ms: Mapped[int] = mapped_column(BigInteger, index=True)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _row_key(key: str) -> str:
    """Keys carry what the limit is keyed on (an address, a number); a long one is hashed to fit."""
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return key[:100] + "#" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseStorage(Storage):
    """A `limits` storage on the app's SQLAlchemy engine (SQLite or PostgreSQL). Each call runs in its own
    short transaction on its own connection, apart from the request's session."""

    STORAGE_SCHEME = ["database"]

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = _now_ms()
        table = RateLimitCounter.__table__
        engine = db.engine
        # The upsert of the database in use; a shop on SQLite never loads PostgreSQL's dialects (~3 MB).
        dialect = import_module(f"sqlalchemy.dialects.{engine.dialect.name}")
        window_over = table.c.window_ends_ms <= now
        statement = (
            dialect.insert(table)
            .values(key=_row_key(key), count=amount, window_ends_ms=now + expiry * 1000)
            .on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "count": case((window_over, amount), else_=table.c.count + amount),
                    "window_ends_ms": case((window_over, now + expiry * 1000), else_=table.c.window_ends_ms),
                },
            )
            .returning(table.c.count)
        )
        with engine.begin() as connection:
            count = connection.execute(statement).scalar_one()
        if random.randrange(PURGE_ONE_IN) == 0:
            self._purge(now)
        return count

    def _purge(self, now: int) -> None:
        """In its own transaction, after the hit: two purges at once must never cost a hit (a deadlock)."""
        table = RateLimitCounter.__table__
        try:
            with db.engine.begin() as connection:
                connection.execute(delete(table).where(table.c.window_ends_ms < now - 3_600_000))
        except SQLAlchemyError:
            pass  # the next purge will do it

    def get(self, key: str) -> int:
        table = RateLimitCounter.__table__
        with db.engine.connect() as connection:
            count = connection.execute(
                select(table.c.count).where(table.c.key == _row_key(key), table.c.window_ends_ms > _now_ms())
            ).scalar()
        return count or 0

    def get_expiry(self, key: str) -> float:
        table = RateLimitCounter.__table__
        with db.engine.connect() as connection:
            ends = connection.execute(
                select(table.c.window_ends_ms).where(table.c.key == _row_key(key))
            ).scalar()
        return max(ends or 0, _now_ms()) / 1000

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(delete(RateLimitCounter.__table__)).rowcount

    def clear(self, key: str) -> None:
        table = RateLimitCounter.__table__
        with db.engine.begin() as connection:
            connection.execute(delete(table).where(table.c.key == _row_key(key)))
