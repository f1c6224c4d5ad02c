"""Small pieces every view module uses: htmx toasts, page arguments, CSV downloads Excel opens well."""

import csv
import io
import json
from datetime import date
from urllib.parse import urlsplit, urlunsplit

from flask import Request, Response, request

from app.numbers import parse_whole_number


def safe_next(target: str | None, default: str) -> str:
    """`target` if it is a path on this site, else `default`: never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def referrer_path(default: str) -> str:
    """The page this request came from (its path and query) when that is on this site, else `default`."""
    parts = urlsplit(request.referrer or "")
    if parts.netloc != request.host:
        return default
    return safe_next(urlunsplit(("", "", parts.path, parts.query, "")), default)


def in_wechat(of: Request | None = None) -> bool:
    """This request (or `of`) comes from WeChat's in-app browser (its user agent says MicroMessenger)."""
    return "MicroMessenger" in (request if of is None else of).headers.get("User-Agent", "")


def toast(response: Response, message: str, level: str = "success") -> Response:
    """Ask the page to show a toast (admin.js and shop.js listen for the "toast" event)."""
    response.headers["HX-Trigger"] = json.dumps({"toast": {"message": str(message), "level": level}})
    return response


def counts_changed(response: Response) -> Response:
    """Tell the page that what its badges and tab counts show may have changed (admin.js listens for the
    "fenxiao:counts" event and has them fetch themselves again), beside any toast already asked for."""
    events = json.loads(response.headers.get("HX-Trigger") or "{}")
    events["fenxiao:counts"] = True
    response.headers["HX-Trigger"] = json.dumps(events)
    return response


def page_arg(name: str = "page", limit: int = 100_000) -> int:
    """?page=N as a sane positive number; anything else is page 1."""
    page = parse_whole_number(request.args.get(name, "1"))
    return page if page is not None and 0 < page < limit else 1


def tab_arg(tabs, default: str, name: str = "tab") -> str:
    """?tab=… when it names one of `tabs` (names, or (name, label) pairs), else the default tab."""
    wanted = request.args.get(name, default)
    names = {tab[0] if isinstance(tab, tuple) else tab for tab in tabs}
    return wanted if wanted in names else default


# Dates a filter can sensibly ask for; beyond them a day's end (the next midnight) would not exist.
DATE_ARG_RANGE = (date(2000, 1, 1), date(2999, 12, 31))


def date_arg(name: str) -> date | None:
    """?from=YYYY-MM-DD as a date, or None for anything else (not a date, or absurdly far away)."""
    value = request.args.get(name, "")
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None
    return day if day and DATE_ARG_RANGE[0] <= day <= DATE_ARG_RANGE[1] else None


def csv_text(value) -> str:
    """A text cell Excel will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_digits(value) -> str:
    """Long digit strings (card, order and tracking numbers, phones) stay text in Excel instead of 6.22E+18."""
    return f"{csv_text(value)}\t" if value else ""


def csv_line(row) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()


def csv_download(body, filename: str) -> Response:
    """A CSV download (the body should start with a BOM so Excel reads UTF-8 Chinese)."""
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def takes_gzip(of: Request | None = None) -> bool:
    """Whether this browser (or `of`'s) takes a gzipped answer ("gzip;q=0" says it does not)."""
    return (request if of is None else of).accept_encodings.quality("gzip") > 0
