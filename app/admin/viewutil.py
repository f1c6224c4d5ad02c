"""Small pieces the back office's views share: status badges' words and colours, the new and edit addresses
of a form, a button that changes one record, a form that saves, a refused form's message, the answer after an action, local
times, list pages and their fragments, text arguments, 404s and streamed CSV exports."""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from functools import wraps

from flask import (
    Response,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from jinja2_fragments.flask import render_block
from markupsafe import Markup

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.errors import UserError
from app.extensions import db, htmx
from app.forms import apply_service_error
from app.webutil import counts_changed, csv_download, csv_line, toast

PER_PAGE = 20  # rows on a list page
EXPORT_BATCH = 500  # rows a streamed CSV export loads at a time


def local_time(moment) -> str:
    """A UTC time in the shop's time zone, to the minute."""
    return format_datetime(moment, "yyyy-MM-dd HH:mm") if moment else ""


def live_counts(element_id: str) -> Markup:
    """The attributes of an element holding counts (tabs with badges) that fetch it again from the same page
    whenever the page hears that something changed (admin.js's "fenxiao:changed"). On a page answering a
    POST (a form shown again) there is no page to fetch: it only gets its id."""
    if request.method != "GET":
        return Markup('id="{0}"').format(element_id)
    return Markup(
        'id="{0}" hx-get="{1}" hx-select="#{0}" hx-target="this" hx-swap="outerHTML" '
        'hx-trigger="fenxiao:changed from:body"'
    ).format(element_id, request.full_path)


@bp.context_processor
def view_helpers():
    return {"live_counts": live_counts}


def badges(**states: tuple[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The words and the colour of each state's badge, given together (`paid=(_l("Paid out"), "success")`),
    as the two lookups the templates read: {state: label} and {state: Bootstrap colour}."""
    labels = {state: label for state, (label, _colour) in states.items()}
    colours = {state: colour for state, (_label, colour) in states.items()}
    return labels, colours


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


def save_form(
    form, save: Callable, saved: str, endpoint: str, then: Callable | None = None
) -> Response | None:
    """A form that saves: once it validates (its CSRF token too), `save()` runs the service and the change is
    committed, `then()` runs if given, and the answer goes on to `endpoint` with the flash `saved`. None when
    the form is to be shown again: it did not validate, or the service refused (a UserError: rolled back
    and shown on the form)."""
    if not form.validate_on_submit():
        return None
    try:
        save()
    except UserError as error:
        service_refused(form, error)
        return None
    db.session.commit()
    if then is not None:
        then()
    flash(saved, "success")
    return redirect(url_for(endpoint))


def form_routes(path: str, edit: str, permission: Permission, load: Callable):
    """Serve one form view for GET and POST under `permission`, at two addresses named after `path`
    ("/marketing/coupons": endpoints marketing_coupons_new and marketing_coupons_edit): `<path>/new` calls it
    with None, `<path>/<edit>` (whose one value is the record's id) with the record `load(id)` finds."""

    def register(view):
        def new():
            return view(None)

        def edit_existing(**url_values):
            (ident,) = url_values.values()
            return view(load(ident))

        for rule, name, handler in ((f"{path}/new", "new", new), (f"{path}/{edit}", "edit", edit_existing)):
            handler = permission_required(permission)(handler)
            endpoint = path.strip("/").replace("/", "_") + "_" + name
            bp.add_url_rule(rule, endpoint, handler, methods=["GET", "POST"])
        return view

    return register


def record_action(
    permission: Permission, load: Callable, answer: Callable, form_args: Callable | None = None
):
    """The decorator of the buttons that change one kind of record (an order, a refund, a withdrawal …), used
    as `@order_action("note", AdminStaffNoteForm)` under each button's route.

    Every button needs `permission` (or the one its `needs=` names). `load(id)` finds the record (or 404s); the button's form is built with
    `form_args(record)`. Once the form has validated (its CSRF token too), the view runs as
    `act(record, form)`: it calls the service and returns what to tell the merchant, and the change is
    committed. Over htmx the answer also tells the page to refresh its badges and tab counts. `answer(record, message, failed)` builds the response: `failed` is None after a success, and
    {name: form} when the form did not validate or the service refused (a UserError: rolled back and shown
    on the form)."""

    def action(name: str, form_class, *, needs: Permission | None = None):
        def decorator(act):
            @permission_required(needs or permission)
            @wraps(act)
            def view(**url_values):
                (ident,) = url_values.values()
                record = load(ident)
                form = form_class(**(form_args(record) if form_args else {}))
                if not form.validate_on_submit():
                    return answer(record, first_error(form), {name: form})
                try:
                    message = act(record, form)
                except UserError as error:
                    # Refused, often because someone else handled it first: the counts move all the same.
                    response = answer(record, service_refused(form, error), {name: form})
                else:
                    db.session.commit()
                    response = answer(record, message, None)
                return counts_changed(make_response(response)) if htmx else response

            return view

        return decorator

    return action


def action_answer(message: str, refused: bool, page_url: str, render_part) -> Response:
    """After a button that changes something: without htmx, the page at `page_url` with a flash; with htmx,
    the part of the page `render_part()` renders afresh from the database, with a toast (a 422 when the
    action was refused, so that the form shows its message)."""
    level = "error" if refused else "success"
    if not htmx:
        flash(message, level)
        return redirect(page_url)
    db.session.expire_all()
    return toast(make_response(render_part(), 422 if refused else 200), message, level)


def is_fragment(target: str) -> bool:
    """An htmx request for one part of the page (not a history restore, which wants the whole page)."""
    return bool(htmx) and htmx.target == target and not htmx.history_restore_request


def list_page(template: str, /, **context) -> str:
    """A list page, or only its "results" block when htmx asks for that part (a live filter, a page link)."""
    if is_fragment("results"):
        return render_block(template, "results", **context)
    return render_template(template, **context)


def text_arg(name: str, limit: int = 40) -> str:
    return " ".join(request.args.get(name, "").split())[:limit]


def get_or_404(model, ident: int, message: str):
    return db.get_or_404(model, ident, description=message)


def newest_first_batches(query, id_column) -> Iterator[list]:
    """The rows of `query` (ordered by `id_column`, newest first) EXPORT_BATCH at a time; each batch starts
    below the last id seen, so no OFFSET grows with the export."""
    last_id = None
    while True:
        batch_query = query.limit(EXPORT_BATCH)
        if last_id is not None:
            batch_query = batch_query.where(id_column < last_id)
        batch = list(db.session.scalars(batch_query))
        if not batch:
            return
        yield batch
        last_id = batch[-1].id


def csv_rows(columns, rows: Iterable[tuple]) -> str:
    """The CSV text of `rows`: a line each, whose cells the `columns` ((label, cell) pairs) fill, each as
    `cell(*row)`."""
    text = io.StringIO()
    writer = csv.writer(text)
    for row in rows:
        writer.writerow([cell(*row) for _label, cell in columns])
    return text.getvalue()


def streamed_csv(name: str, columns, chunks: Iterable[str]) -> Response:
    """A CSV download named `name`-<local time>.csv: a BOM (so Excel reads the Chinese as UTF-8), the labels
    of the `columns` ((label, cell) pairs), then the text `chunks` as they come, inside the request's
    context."""

    def generate() -> Iterator[str]:
        yield "\ufeff" + csv_line([str(label) for label, _cell in columns])
        yield from chunks

    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(stream_with_context(generate()), f"{name}-{stamp}.csv")
