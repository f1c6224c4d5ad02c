"""Column types shared by every model."""

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from app.numbers import parse_whole_number


class UTCDateTime(TypeDecorator):
    """Stores UTC; always hands back timezone-aware datetimes, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use app.timeutil.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class IdPrimaryKey:
    """The integer id most tables are keyed by, kept as the table's first column."""

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-1)


# Ids are 32-bit integers in PostgreSQL: a larger number from a URL or a form is no id, not a server error.
MAX_ID = 2**31 - 1


def parse_id(value) -> int | None:
    """A database id from a URL, a form or a session, or None (letters, zero, negatives, absurd sizes)."""
    number = parse_whole_number(value, max_digits=10)
    return number if number is not None and 0 < number <= MAX_ID else None
