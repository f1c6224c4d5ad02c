"""拼团 in the back office: the activities with their groups counted by state and a stop button; an activity's
form (when, group size, time limit, per-customer limit, the points and commission switches) and its SKUs at
a group price, added through the same SKU search as 秒杀; an activity's groups with their members and
orders; and the group refunds in flight with the gateway's reason when it refused. The rules are
marketing.groups' (the reads and the one-SKU changes marketing.group_admin's); this parses what was typed
and shows the answer."""

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.accounts.models import Permission, mask_mobile
from app.admin import bp, permission_required
from app.admin.marketing import item_change_answer, saved_answer, stop_answer
from app.admin.marketing_flash import sku_chooser
from app.admin.viewutil import get_or_404
from app.db_types import parse_id
from app.extensions import db
from app.jobs import job_result, last_runs
from app.marketing import group_admin, groups
from app.marketing.errors import MarketingError
from app.marketing.forms import local_input_value, parse_local_time
from app.marketing.models import GroupBuy
from app.money import MoneyError, parse_yuan, yuan
from app.numbers import parse_whole_number

GONE = _l("The group buy does not exist or has been deleted.")
STATE_LABELS = {
    "open": _l("Forming"),
    "full": _l("Formed"),
    "failed": _l("Did not form"),
    "cancelled": _l("Cancelled"),
}
STATE_COLOURS = {"open": "warning", "full": "success", "failed": "danger", "cancelled": "light"}
REFUND_STATE_LABELS = {"due": _l("To send"), "sent": _l("Sent, waiting"), "done": _l("Refunded")}
REFUND_STATE_COLOURS = {"due": "warning", "sent": "info", "done": "success"}


@bp.context_processor
def group_helpers():
    return {"group_state_labels": STATE_LABELS, "group_state_colours": STATE_COLOURS}


def _whole(name: str, *, required: bool = True) -> int | None:
    text = (request.form.get(name) or "").strip()
    if not text and not required:
        return None
    number = parse_whole_number(text, max_digits=5)
    if number is None:
        raise MarketingError(_l("Please enter a whole number."), name)
    return number


def _moment(name: str):
    try:
        return parse_local_time(request.form.get(name) or "")
    except ValueError as error:
        raise MarketingError(str(error), name) from None


def _price() -> int:
    try:
        return parse_yuan(request.form.get("price"))
    except MoneyError as error:
        raise MarketingError(str(error), "price") from None


def item_draft() -> groups.ItemDraft:
    if not (request.form.get("sku_id") or "").strip():
        raise MarketingError(_l("Choose a product: search for it and press “Add” next to it."), "sku_id")
    sku_id = parse_id(request.form.get("sku_id"))
    if sku_id is None:
        raise MarketingError(_l("A product in the list no longer exists."), "sku_id")
    return groups.ItemDraft(sku_id=sku_id, price_fen=_price())


def activity_data(*, new: bool) -> dict:
    """What the activity form says, as marketing.groups.save_group_buy reads it (a new activity also takes
    the first SKU chosen in its add row)."""
    form = request.form
    data = {
        "name": (form.get("name") or "")[:60],
        "starts_at": _moment("starts_at"),
        "ends_at": _moment("ends_at"),
        "group_size": _whole("group_size"),
        "hours": _whole("hours"),
        "per_user_limit": _whole("per_user_limit", required=False),
        "allow_points": bool(form.get("allow_points")),
        "pays_commission": bool(form.get("pays_commission")),
    }
    if new:
        data["items"] = [item_draft()] if form.get("sku_id") else []
    return data


def _form_values(record: GroupBuy | None, typed: bool) -> dict:
    if typed:
        return dict(request.form)
    if record is None:
        return {"group_size": 2, "hours": 24}
    return {
        "name": record.name,
        "starts_at": local_input_value(record.starts_at),
        "ends_at": local_input_value(record.ends_at),
        "group_size": record.group_size,
        "hours": record.hours,
        "per_user_limit": record.per_user_limit or "",
        "allow_points": record.allow_points,
        "pays_commission": record.pays_commission,
    }


def _page(record: GroupBuy | None, *, error: str = "", item_error: str = "", status: int = 200):
    # A refused SKU leaves the activity's own fields as saved (the add row keeps what was typed in it).
    typed = request.method == "POST" and not item_error
    return (
        render_template(
            "admin/marketing/group_form.html",
            record=record,
            values=_form_values(record, typed),
            status=groups.status_of(record) if record else None,
            ordered=group_admin.items_with_orders(db.session, [item.id for item in record.items])
            if record
            else set(),
            error=error,
            item_error=item_error,
            yuan=yuan,
            **sku_chooser(record),
        ),
        status,
    )


@bp.get("/marketing/groups")
@permission_required(Permission.MARKETING)
def marketing_groups():
    return render_template(
        "admin/marketing/groups.html",
        rows=group_admin.activities(db.session),
        in_flight=len(group_admin.refunds_in_flight(db.session)),
    )


@bp.route("/marketing/groups/new", methods=["GET", "POST"])
@permission_required(Permission.MARKETING)
def marketing_groups_new():
    if request.method == "GET":
        return _page(None)
    try:
        found = group_admin.save_settings(db.session, None, activity_data(new=True))
        db.session.commit()
    except MarketingError as error:
        db.session.rollback()
        return _page(None, error=str(error.message), status=422)
    return saved_answer(
        _("Group buy “%(name)s” saved.", name=found.name),
        "admin.marketing_groups_edit",
        group_buy_id=found.id,
    )


@bp.route("/marketing/groups/<int:group_buy_id>", methods=["GET", "POST"])
@permission_required(Permission.MARKETING)
def marketing_groups_edit(group_buy_id: int):
    record = get_or_404(GroupBuy, group_buy_id, GONE)
    if request.method == "GET":
        return _page(record)
    try:
        group_admin.save_settings(db.session, record, activity_data(new=False))
        db.session.commit()
    except MarketingError as error:
        db.session.rollback()
        db.session.refresh(record)
        return _page(record, error=str(error.message), status=422)
    return saved_answer(_("Group buy “%(name)s” saved.", name=record.name), "admin.marketing_groups")


@bp.get("/marketing/groups/skus")
@permission_required(Permission.MARKETING)
def marketing_groups_skus():
    """The add row's search (the 秒杀 form's): SKUs by title or code, those already in the activity say so."""
    record = None
    if "activity" in request.args:  # the edit page's search; the new page's has no activity yet
        record = get_or_404(GroupBuy, parse_id(request.args["activity"]) or 0, GONE)
    return render_template("admin/marketing/_sku_results.html", **sku_chooser(record))


@bp.post("/marketing/groups/<int:group_buy_id>/items")
@permission_required(Permission.MARKETING)
def marketing_groups_item(group_buy_id: int):
    return _change_items(
        group_buy_id, lambda record: group_admin.save_item(db.session, record, item_draft()), _("Saved.")
    )


@bp.post("/marketing/groups/<int:group_buy_id>/items/<int:item_id>/remove")
@permission_required(Permission.MARKETING)
def marketing_groups_item_remove(group_buy_id: int, item_id: int):
    return _change_items(
        group_buy_id, lambda record: group_admin.remove_item(db.session, record, item_id), _("Removed.")
    )


def _change_items(group_buy_id: int, change, done: str):
    record = get_or_404(GroupBuy, group_buy_id, GONE)
    return item_change_answer(
        record, change, done, _page, "admin.marketing_groups_edit", group_buy_id=record.id
    )


@bp.post("/marketing/groups/<int:group_buy_id>/stop")
@permission_required(Permission.MARKETING)
def marketing_groups_stop(group_buy_id: int):
    record = get_or_404(GroupBuy, group_buy_id, GONE)
    return stop_answer(record, groups.stop_group_buy(db.session, record.id), "admin.marketing_groups")


def _shopper(user) -> str:
    """A shopper as this back-office user may see them: the full mobile for those who handle orders (the
    order pages show it to them), masked for the others."""
    if user is None:
        return "—"
    mobile = user.mobile if current_user.can(Permission.ORDERS) else mask_mobile(user.mobile)
    return " ".join(part for part in (user.nickname, mobile) if part) or f"#{user.id}"


@bp.get("/marketing/groups/<int:group_buy_id>/groups")
@permission_required(Permission.MARKETING)
def marketing_groups_groups(group_buy_id: int):
    record = get_or_404(GroupBuy, group_buy_id, GONE)
    state = request.args.get("state", "")
    state = state if state in group_admin.STATES else ""
    found = group_admin.groups_of(db.session, record.id, state or None)
    return render_template(
        "admin/marketing/group_groups.html",
        record=record,
        state=state,
        found=found,
        holds=group_admin.held_orders(db.session, [m.order for group in found for m in group.members]),
        counts=group_admin.state_counts(db.session, record.id),
        states=group_admin.STATES,
        shopper=_shopper,
        refund_state_labels=REFUND_STATE_LABELS,
        sees_orders=current_user.can(Permission.ORDERS),
    )


@bp.get("/marketing/groups/refunds")
@permission_required(Permission.MARKETING)
def marketing_groups_refunds():
    run = last_runs().get("groups-settle")
    return render_template(
        "admin/marketing/group_refunds.html",
        rows=group_admin.refunds_in_flight(db.session),
        refund_state_colours=REFUND_STATE_COLOURS,
        run=run,
        run_result=job_result(run) if run else "",
        shopper=_shopper,
        refund_state_labels=REFUND_STATE_LABELS,
        sees_orders=current_user.can(Permission.ORDERS),
    )
