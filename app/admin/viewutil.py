"""Small pieces the back office's order and distribution views share: a refused form's message, local
times, fragment requests, text arguments and 404s."""

from flask import abort, request
from flask_babel import format_datetime
from flask_babel import gettext as _

from app.extensions import db, htmx
from app.forms import apply_service_error

PER_PAGE = 20  # rows on a list page
EXPORT_BATCH = 500  # rows a streamed CSV export loads at a time


def local_time(moment) -> str:
    """A UTC time in the shop's time zone, to the minute."""
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else ""


def first_error(form) -> str:
    """The first message of a form that did not validate."""
    for name, errors in form.errors.items():
        if errors and name.endswith("csrf_token"):
            return _("The page has expired. Please refresh it and try again.")
    for errors in form.errors.values():
        if errors:
            return str(errors[0])
    return _("Please check the form.")


def service_refused(form, error) -> str:
    """A service said no: undo what it began, show its message on the form, and return the message."""
    db.session.rollback()
    apply_service_error(form, error)
    return str(error.message)


def is_fragment(target: str) -> bool:
    """An htmx request for one part of the page (not a history restore, which wants the whole page)."""
    return bool(htmx) and htmx.target == target and not htmx.history_restore_request


def text_arg(name: str, limit: int = 40) -> str:
    return " ".join(request.args.get(name, "").split())[:limit]


def get_or_404(model, ident: int, message: str):
    row = db.session.get(model, ident)
    if row is None:
        abort(404, message)
    return row
