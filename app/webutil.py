"""Small pieces every view module uses: htmx toasts, page arguments, CSV downloads Excel opens well."""

import csv
import io
import json

from flask import Response, request


def toast(response: Response, message: str, level: str = "success") -> Response:
    """Ask the page to show a toast (admin.js and shop.js listen for the "toast" event)."""
    response.headers["HX-Trigger"] = json.dumps({"toast": {"message": str(message), "level": level}})
    return response


def page_arg(name: str = "page", limit: int = 100_000) -> int:
    """?page=N as a sane positive number; anything else is page 1."""
    page = request.args.get(name, "1")
    return int(page) if page.isdigit() and 0 < int(page) < limit else 1


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
