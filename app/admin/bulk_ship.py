"""Bulk shipping in the back office: the merchant uploads a CSV file of order numbers with carriers and
tracking numbers, sees what shipped and why the rest did not, and downloads the report or a template of
the orders waiting to be shipped."""

import csv
import io
import json

from flask import abort, make_response, render_template, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app import orders
from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.orders import staff_actions
from app.admin.viewutil import first_error
from app.extensions import db, htmx
from app.marketing import group_admin
from app.orders.forms import AdminBulkShipForm
from app.request_input import strip_control_characters
from app.webutil import csv_digits, csv_download, csv_line, csv_text, toast

BULK_MAX_BYTES = 2 * 1024 * 1024
BULK_MAX_ROWS = 5000

BULK_HEADERS = {"number": _l("Order No."), "carrier": _l("Carrier"), "tracking_no": _l("Tracking No.")}
# Other names merchants' files use for the same columns (Chinese and English, whatever the UI language).
BULK_HEADER_ALIASES = {
    "number": {"订单号", "订单编号", "Order number", "Order No."},
    "carrier": {"快递公司", "物流公司", "快递", "Carrier"},
    "tracking_no": {"快递单号", "运单号", "物流单号", "Tracking number", "Tracking No."},
}


class BulkFileError(ValueError):
    pass


def _decode(raw: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes), else GBK as Excel on a Chinese Windows saves it."""
    if raw.startswith(b"PK\x03\x04") or b"\x00" in raw[:4096]:
        raise BulkFileError(_('This is not a CSV file. In Excel, use "Save as" and choose CSV.'))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BulkFileError(_("The file's text encoding is not readable. Save it as CSV (UTF-8) and try again."))


def read_bulk_ship_file(upload) -> list[tuple[str, str, str]]:
    """The (order number, carrier, tracking number) rows of an uploaded CSV, or a BulkFileError."""
    if upload is None or not getattr(upload, "filename", ""):
        raise BulkFileError(_("Please choose a CSV file."))
    if not upload.filename.lower().endswith((".csv", ".txt")):
        raise BulkFileError(_('This is not a CSV file. In Excel, use "Save as" and choose CSV.'))
    raw = upload.stream.read(BULK_MAX_BYTES + 1)
    if len(raw) > BULK_MAX_BYTES:
        raise BulkFileError(_("The file is larger than 2 MB. Please split it into smaller files."))
    text = strip_control_characters(_decode(raw))  # like every form field (a NUL deep in a cell, say)
    if not text.strip():
        raise BulkFileError(_("The file is empty."))
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    try:
        table = [
            row
            for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            if any(c.strip() for c in row)
        ]
    except csv.Error:
        raise BulkFileError(_("The file could not be read as CSV. Please check it and try again.")) from None
    if not table:
        raise BulkFileError(_("The file is empty."))
    header = [cell.strip().strip("\ufeff").strip() for cell in table[0]]
    index, missing = {}, []
    for key, label in BULK_HEADERS.items():
        names = BULK_HEADER_ALIASES[key] | {str(label)}
        position = next((i for i, cell in enumerate(header) if cell in names), None)
        if position is None:
            missing.append(str(label))
        else:
            index[key] = position
    if missing:
        raise BulkFileError(
            _(
                "The first row must name the columns %(columns)s (missing: %(missing)s).",
                columns="、".join(str(label) for label in BULK_HEADERS.values()),
                missing="、".join(missing),
            )
        )
    rows = table[1:]
    if not rows:
        raise BulkFileError(_("The file has a header but no orders."))
    if len(rows) > BULK_MAX_ROWS:
        raise BulkFileError(_("At most %(n)d orders per file. Please split it.", n=BULK_MAX_ROWS))

    def cell(row, key):
        position = index[key]
        return row[position].strip() if position < len(row) else ""

    return [(cell(row, "number"), cell(row, "carrier"), cell(row, "tracking_no")) for row in rows]


@bp.route("/orders/bulk-ship", methods=["GET", "POST"])
@permission_required(Permission.ORDERS)
def orders_bulk_ship():
    form = AdminBulkShipForm()
    results = None
    error = None
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = first_error(form), 422
        else:
            try:
                rows = read_bulk_ship_file(form.file.data)
            except BulkFileError as refusal:
                error, status = str(refusal), 422
            else:
                results = orders.queries.ship_orders_in_bulk(db.session, rows, actor=current_user)
                db.session.commit()
    context = {
        "form": form,
        "results": results,
        "error": error,
        "shipped": sum(1 for result in results if result.ok) if results else 0,
        "failed": [result for result in results if not result.ok] if results else [],
        "bulk_columns": "、".join(str(label) for label in BULK_HEADERS.values()),
        "max_rows": BULK_MAX_ROWS,
        "report_json": json.dumps(
            [[r.row, r.number, r.carrier, r.tracking_no, r.ok, r.message] for r in results or []],
            ensure_ascii=False,
        ),
    }
    if htmx and htmx.target == "bulk-result":
        response = make_response(
            render_block("admin/orders_bulk_ship.html", "bulk_result", **context), status
        )
        if error:
            toast(response, error, "error")
        return response
    return make_response(render_template("admin/orders_bulk_ship.html", **context), status)


REPORT_COLUMNS = (
    _l("Row"),
    _l("Order No."),
    _l("Carrier"),
    _l("Tracking No."),
    _l("Result"),
    _l("Why it failed"),
)


@bp.post("/orders/bulk-ship/report.csv")
@permission_required(Permission.ORDERS)
def orders_bulk_ship_report():
    """The result report of a bulk upload as a CSV file. The page hands the rows back (nothing is kept on
    the server, so any host can answer)."""
    try:
        rows = json.loads(request.form.get("report", ""))
        if not isinstance(rows, list) or len(rows) > BULK_MAX_ROWS:
            raise ValueError
        lines = [
            [
                str(int(row_no)),
                csv_digits(number),
                csv_text(carrier),
                csv_digits(tracking),
                _("Succeeded") if ok is True else _("Failed"),
                csv_text(message),
            ]
            for row_no, number, carrier, tracking, ok, message in rows
        ]
    except (ValueError, TypeError, OverflowError, RecursionError):  # not a report this page made
        abort(400)
    body = "\ufeff" + csv_line([str(c) for c in REPORT_COLUMNS]) + "".join(csv_line(line) for line in lines)
    stamp = format_datetime(format="yyyyMMdd-HHmm")
    return csv_download(body, f"bulk-ship-report-{stamp}.csv")


@bp.get("/orders/bulk-ship/template.csv")
@permission_required(Permission.ORDERS)
def orders_bulk_ship_template():
    """The orders waiting to be shipped, ready for the carrier and tracking number to be filled in."""
    query = orders.queries.admin_orders_query(orders.queries.OrderFilters(tab="paid"))
    columns = [
        *(str(label) for label in BULK_HEADERS.values()),
        str(_l("Recipient")),
        str(_l("Recipient phone")),
        str(_l("Address")),
        str(_l("Products")),
    ]
    body = ["\ufeff" + csv_line(columns)]
    found = db.session.scalars(query.limit(BULK_MAX_ROWS)).all()
    held = group_admin.held_orders(db.session, found)  # 拼团 orders not to ship yet
    for order in found:
        if "ship" not in staff_actions(order, held):
            continue
        products = "；".join(
            f"{line.title} {line.spec_text} ×{line.qty}".replace("  ", " ") for line in order.lines
        )
        body.append(
            csv_line(
                [
                    csv_digits(order.number),
                    "",
                    "",
                    csv_text(order.ship_recipient),
                    csv_digits(order.ship_mobile),
                    csv_text(f"{order.ship_region} {order.ship_detail}"),
                    csv_text(products),
                ]
            )
        )
    stamp = format_datetime(format="yyyyMMdd")
    return csv_download("".join(body), f"to-ship-{stamp}.csv")
