"""One clock for the whole app: UTC-aware now(), which tests can set."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

# The shop's calendar: "today", order numbers and daily figures follow mainland China time.
SHOP_TZ = ZoneInfo("Asia/Shanghai")

_frozen: datetime | None = None


def utcnow() -> datetime:
    """The current time in UTC (naive UTC datetimes are never stored)."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_clock(moment: datetime | None) -> None:
    """Tests move time with this; None goes back to the real clock."""
    global _frozen
    if moment is not None and moment.tzinfo is None:
        raise ValueError("the clock only takes timezone-aware datetimes")
    _frozen = moment
