"""秒杀 in the back office: the sessions with their status, live sold counts and a stop button; a session's form
(when, how long, which days) and its SKUs (flash price, flash stock, limits), added through the 限时折扣 form's
SKU search. The checks are marketing.flash's; this parses what was typed and shows the answer."""

from datetime import date

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.marketing import item_change_answer, saved_answer, search_products, stop_answer
from app.admin.viewutil import get_or_404
from app.db_types import parse_id
from app.extensions import db
from app.marketing import flash
from app.marketing.errors import MarketingError
from app.marketing.models import FlashSession
from app.money import MoneyError, parse_yuan, yuan
from app.numbers import parse_whole_number

STOPPABLE = ("running", "upcoming", "between")
GONE = _l("The flash session does not exist or has been deleted.")
REPEAT_WORDS = {"daily": _l("Every day between two dates"), "dates": _l("On chosen dates")}


def _whole(name: str, *, required: bool = True) -> int | None:
    text = (request.form.get(name) or "").strip()
    if not text and not required:
        return None
    number = parse_whole_number(text, max_digits=5)
    if number is None:
        raise MarketingError(_l("Please enter a whole number."), name)
    return number


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise MarketingError(_l("Please enter a date such as 2026-12-24."), field) from None


def _minute_of_day(text: str) -> int:
    hours, _sep, minutes = (text or "").strip().partition(":")
    hour, minute = parse_whole_number(hours, max_digits=2), parse_whole_number(minutes, max_digits=2)
    if hour is None or minute is None or hour > 23 or minute > 59:
        raise MarketingError(_l("Enter the time it starts."), "start_time")
    return hour * 60 + minute


def session_data() -> dict:
    """What the session form says, as marketing.flash.save_session reads it."""
    form = request.form
    repeat = "dates" if form.get("repeat") == "dates" else "daily"
    data = {
        "name": (form.get("name") or "")[:60],
        "start_minute": _minute_of_day(form.get("start_time", "")),
        "duration_minutes": _whole("duration_minutes"),
        "pay_minutes": _whole("pay_minutes", required=False),
        "repeat": repeat,
        "allow_points": bool(form.get("allow_points")),
        "pays_commission": bool(form.get("pays_commission")),
    }
    if repeat == "dates":
        words = (form.get("dates") or "").replace("，", ",").replace(",", " ").split()
        data["dates"] = [_day(word, "dates") for word in words[: flash.MAX_DAYS + 1]]
    else:
        data["first_date"] = _day(form.get("first_date", ""), "first_date")
        data["last_date"] = _day(form.get("last_date", ""), "last_date")
    return data


def item_draft() -> flash.ItemDraft:
    form = request.form
    sku_id = parse_id(form.get("sku_id"))
    if sku_id is None:
        raise MarketingError(_l("A product in the list no longer exists."), "sku_id")
    try:
        price = parse_yuan(form.get("price"))
    except MoneyError as error:
        raise MarketingError(str(error), "price") from None
    return flash.ItemDraft(
        sku_id=sku_id,
        price_fen=price,
        stock=_whole("stock"),
        per_user_limit=_whole("per_user_limit", required=False),
        per_order_limit=_whole("per_order_limit", required=False),
        stock_seen=_whole("stock_seen", required=False),
    )


def _form_values(record: FlashSession | None, typed: bool) -> dict:
    if typed:
        return dict(request.form)
    if record is None:
        return {"repeat": "daily", "pay_minutes": flash.DEFAULT_PAY_MINUTES, "duration_minutes": 120}
    return {
        "name": record.name,
        "start_time": f"{record.start_minute // 60:02d}:{record.start_minute % 60:02d}",
        "duration_minutes": record.duration_minutes,
        "pay_minutes": record.pay_minutes,
        "repeat": record.repeat,
        "first_date": record.dates[0] if record.dates else "",
        "last_date": record.dates[-1] if record.dates else "",
        "dates": " ".join(record.dates),
        "allow_points": record.allow_points,
        "pays_commission": record.pays_commission,
    }


def sku_chooser(record: FlashSession | None) -> dict:
    """The SKU search of the add row: the results of what was searched, the SKUs already in the session, and
    that a result's button sends its id as sku_id."""
    return {
        "sku_results": search_products(request.values.get("sku_q", "")),
        "chosen_skus": {item.sku_id for item in record.items} if record else set(),
        "sku_button": "sku_id",
    }


def _page(record: FlashSession | None, *, error: str = "", item_error: str = "", status: int = 200):
    # A refused SKU leaves the session's own fields as saved (the add row keeps what was typed in it).
    typed = request.method == "POST" and not item_error
    return (
        render_template(
            "admin/marketing/flash_form.html",
            record=record,
            values=_form_values(record, typed),
            status=flash.session_status(record) if record else None,
            repeat_words=REPEAT_WORDS,
            error=error,
            item_error=item_error,
            yuan=yuan,
            **sku_chooser(record),
        ),
        status,
    )


@bp.get("/marketing/flash")
@permission_required(Permission.MARKETING)
def marketing_flash():
    rows = []
    for found in flash.all_sessions(db.session):
        status = flash.session_status(found)
        actions = ([] if status == "stopped" else ["edit"]) + (["stop"] if status in STOPPABLE else [])
        sold = sum(item.sold for item in found.items)
        total = sold + sum(item.stock for item in found.items)
        rows.append((found, status, flash.next_start(found), actions, sold, total))
    return render_template("admin/marketing/flash.html", rows=rows, repeat_words=REPEAT_WORDS)


@bp.route("/marketing/flash/new", methods=["GET", "POST"])
@permission_required(Permission.MARKETING)
def marketing_flash_new():
    if request.method == "GET":
        return _page(None)
    try:
        found = flash.save_session(db.session, None, session_data())
        db.session.commit()
    except MarketingError as error:
        db.session.rollback()
        return _page(None, error=str(error.message), status=422)
    return saved_answer(
        _("Flash session “%(name)s” saved. Now add its products.", name=found.name),
        "admin.marketing_flash_edit",
        session_id=found.id,
    )


@bp.route("/marketing/flash/<int:session_id>", methods=["GET", "POST"])
@permission_required(Permission.MARKETING)
def marketing_flash_edit(session_id: int):
    record = get_or_404(FlashSession, session_id, GONE)
    if request.method == "GET":
        return _page(record)
    try:
        flash.save_session(db.session, record, session_data())
        db.session.commit()
    except MarketingError as error:
        db.session.rollback()
        return _page(record, error=str(error.message), status=422)
    return saved_answer(_("Flash session “%(name)s” saved.", name=record.name), "admin.marketing_flash")


@bp.get("/marketing/flash/<int:session_id>/skus")
@permission_required(Permission.MARKETING)
def marketing_flash_skus(session_id: int):
    """The add row's search: SKUs by product title or SKU code, with list price and stock, each with a button
    that adds it at the flash price typed (those already in the session say so)."""
    record = get_or_404(FlashSession, session_id, GONE)
    return render_template("admin/marketing/_sku_results.html", **sku_chooser(record))


@bp.post("/marketing/flash/<int:session_id>/items")
@permission_required(Permission.MARKETING)
def marketing_flash_item(session_id: int):
    def save(record: FlashSession):
        if record.is_stopped:
            raise MarketingError(_l("This session has been stopped."))
        flash.save_item(db.session, record, item_draft())

    return _change_items(session_id, save, _("Saved."))


@bp.post("/marketing/flash/<int:session_id>/items/<int:item_id>/remove")
@permission_required(Permission.MARKETING)
def marketing_flash_item_remove(session_id: int, item_id: int):
    return _change_items(
        session_id, lambda record: flash.remove_item(db.session, record, item_id), _("Removed.")
    )


def _change_items(session_id: int, change, done: str):
    record = get_or_404(FlashSession, session_id, GONE)
    return item_change_answer(record, change, done, _page, "admin.marketing_flash_edit", session_id=record.id)


@bp.post("/marketing/flash/<int:session_id>/stop")
@permission_required(Permission.MARKETING)
def marketing_flash_stop(session_id: int):
    record = get_or_404(FlashSession, session_id, GONE)
    return stop_answer(record, flash.stop_session(db.session, record.id), "admin.marketing_flash")
