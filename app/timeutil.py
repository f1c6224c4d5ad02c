"""One clock for the whole app: UTC-aware now(), which tests can set."""

import calendar
from datetime import UTC, date, datetime, time
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


def local_midnight_utc(day: date) -> datetime:
    """The UTC moment the shop's calendar day begins."""
    return datetime.combine(day, time.min, tzinfo=SHOP_TZ).astimezone(UTC)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later, on the month's last day when it is shorter (31 Jan + 1 → 28/29
    Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))
