"""A report's date range on the shop's calendar, read from the page's ?from=&to= with a clear message when
they are wrong, its days, and the SQL that puts a UTC moment on its local day."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, cast, func, literal_column
from sqlalchemy.orm import Session

from app.money import rate_bp  # noqa: F401  (the reports' rates, made where every layer can reach)
from app.orders.stats import Window
from app.timeutil import SHOP_TZ, local_midnight_utc, utcnow

DEFAULT_DAYS = 30
MAX_DAYS = 366
EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class DateRange:
    """From `first` to `last`, both days included, of the shop's calendar."""

    first: date
    last: date

    @property
    def window(self) -> Window:
        """[start, end) in UTC."""
        return Window(local_midnight_utc(self.first), local_midnight_utc(self.last + timedelta(days=1)))

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def args(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHOP_TZ).date()


def default_range(now: datetime | None = None) -> DateRange:
    last = today(now)
    return DateRange(last - timedelta(days=DEFAULT_DAYS - 1), last)


def _day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None
    return day if day is not None and EARLIEST <= day <= date(2100, 12, 31) else None


def parse_range(
    first_text: str | None, last_text: str | None, now: datetime | None = None
) -> tuple[DateRange, str | None]:
    """The range the page asks for, or the last 30 days and what was wrong (a message to show)."""
    first_text, last_text = (first_text or "").strip(), (last_text or "").strip()
    if not first_text and not last_text:
        return default_range(now), None
    first, last = _day(first_text) if first_text else None, _day(last_text) if last_text else None
    if (first_text and first is None) or (last_text and last is None):
        return default_range(now), str(_l("Enter dates as YYYY-MM-DD, for example 2026-12-01."))
    last = last or today(now)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        return default_range(now), str(_l("The start date is after the end date."))
    if (last - first).days + 1 > MAX_DAYS:
        return default_range(now), str(_l("A report covers at most %(days)d days.", days=MAX_DAYS))
    return DateRange(first, last), None


def local_day(session: Session, column):
    """The shop-calendar day of a UTC timestamp column, in SQL. Asia/Shanghai has had no daylight saving
    since 1991, so on SQLite (no time zones) eight hours are added."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(literal_column(f"'{SHOP_TZ.key}'"), column), Date)
    return func.date(column, "+8 hours")


def as_date(value) -> date:
    """A day as the database hands it back (a date on PostgreSQL, text on SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
