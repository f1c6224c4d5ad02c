"""The shopper's orders: checkout, paying (sandbox, manual transfer), the order list and detail, cancelling,
confirming receipt and after-sales requests. Every order is looked up through orders.access.user_order,
the one place that decides a shopper may see it; every change goes through a service."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app import orders
from app.db_types import parse_id
from app.extensions import db, htmx
from app.forms import ActionForm
from app.marketing import group_display, group_orders, story
from app.numbers import parse_whole_number
from app.orders.events import OrderError
from app.orders.labels import (
    EVENT_NOTE_SHOWN,
    EVENT_TEXT,
    REFUND_REQUEST_TEXT,
    STATUS_HINT,
    STATUS_TEXT,
    TAB_STATUSES,
    refund_status_text,
)
from app.orders.models import PAID_STATUSES, Order, OrderStatus, RefundStatus
from app.orders.shop_forms import CheckoutForm
from app.payments import all_providers, get_provider
from app.payments import services as payments
from app.shop import bp
from app.shop.groups import ORDER_GROUP_WORDS
from app.timeutil import utcnow
from app.webutil import in_wechat, tab_arg

ORDERS_PER_PAGE = 10
POLL_SECONDS = 2
POLL_LIMIT = 20  # about 40 seconds of "confirming…" before we say so and offer the buttons

# The list's tabs: name, label, and which orders belong there.
ORDER_TABS = (
    ("all", _l("All")),
    ("unpaid", _l("To pay")),
    ("to_ship", _l("To ship")),
    ("to_receive", _l("To receive")),
    ("done", _l("Completed")),
    ("after_sales", _l("After-sales")),
)


def shopper_actions(order: Order, no_refund: set[int] = frozenset()) -> set[str]:
    """The buyer's buttons (orders.access), less "refund" for the orders in `no_refund`."""
    return orders.access.shopper_actions(order, no_refund)


bp.add_app_template_global(shopper_actions, "shopper_actions")


@bp.app_template_global()
def order_story(order: Order) -> list:
    """The order's amounts line by line: list price, each discount, shipping, paid or due."""
    return story.of_order(order, _l("Amount paid") if order.paid_at else _l("Amount due"))


@bp.app_template_global()
def quote_story(priced) -> list:
    return story.of_priced(priced, _l("Amount due"))


@bp.app_template_global()
def order_status_text(order: Order) -> str:
    return str(STATUS_TEXT.get(order.status, order.status))


bp.add_app_template_global(refund_status_text, "refund_status_text")


@bp.app_template_global()
def order_tab_counts() -> dict[str, int]:
    """How many of the shopper's orders wait in each tab (for the "me" page). Orders whose time ran out
    count as cancelled even before anyone looks at them."""
    if not current_user.is_authenticated:
        return {}
    now = utcnow()
    rows = db.session.execute(
        select(
            func.count().filter(
                Order.status == OrderStatus.AWAITING_CONFIRMATION,
            )
            + func.count().filter(Order.status == OrderStatus.PENDING_PAYMENT, Order.expires_at > now),
            func.count().filter(Order.status == OrderStatus.PAID),
            func.count().filter(Order.status == OrderStatus.SHIPPED),
            func.count().filter(Order.status == OrderStatus.COMPLETED),
            func.count().filter(Order.refund_status == RefundStatus.REQUESTED),
        ).where(Order.user_id == current_user.id)
    ).one()
    return dict(zip(("unpaid", "to_ship", "to_receive", "done", "after_sales"), rows, strict=True))


def _own_order(number: str) -> Order:
    """The shopper's own order (expired lazily on the way), or 404 for anyone else's number."""
    try:
        order = orders.access.user_order(db.session, current_user.id, number)
    except OrderError as error:
        abort(404, str(error.message))
    orders.transitions.expire_if_due(db.session, order)
    db.session.commit()  # a lazy expiry is a change to keep
    return order


def offered_providers() -> list:
    app = current_app._get_current_object()
    return [p for p in all_providers() if _safe_offered(p, app)]


def _safe_offered(provider, app) -> bool:
    try:
        return provider.offered(app, db.session, in_wechat=in_wechat())
    except RuntimeError:  # the sandbox refuses to exist in production
        return False


def send_to_provider(order: Order, method: str):
    """Open a payment attempt and send the shopper to the provider's page."""
    provider = get_provider(method)
    payment = payments.start_payment(db.session, order, method, user=current_user)
    db.session.commit()
    start = provider.start(db.session, order, payment)
    db.session.commit()
    if start.redirect_url:
        return redirect(start.redirect_url)
    return render_template(start.template, order=order, payment=payment, **(start.context or {}))


# ---------------------------------------------------------------- paying


@bp.route("/orders/<number>/pay", methods=["GET", "POST"])
@login_required
def pay(number: str):
    """Pay an unpaid order (again), with any method offered here, before it expires."""
    order = _own_order(number)
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        return redirect(url_for("shop.manual_payment", number=order.number))
    if order.status != OrderStatus.PENDING_PAYMENT:
        flash(_("This order cannot be paid any more."), "info")
        return redirect(url_for("shop.order_detail", number=order.number))
    providers = offered_providers()
    form = CheckoutForm(payment_method=order.payment_method)
    error = None
    if request.method == "POST" and form.validate():
        method = form.payment_method.data
        if method in {p.name for p in providers}:
            try:
                return send_to_provider(order, method)
            except OrderError as refusal:
                db.session.rollback()
                error = str(refusal.message)
        else:
            error = _("Please choose a payment method.")
    if form.payment_method.data not in {p.name for p in providers}:
        form.payment_method.data = providers[0].name if providers else None
    return render_template(
        "shop/pay.html",
        order=order,
        form=form,
        providers=providers,
        error=error,
        remaining=_remaining_seconds(order),
    ), (422 if error else 200)


def _remaining_seconds(order: Order) -> int:
    return max(int((order.expires_at - utcnow()).total_seconds()), 0)


@bp.get("/orders/<number>/result")
@login_required
def pay_result(number: str):
    """Where a gateway sends the shopper back. The browser's "paid" is only a hint: the page asks the
    server every two seconds until the order is paid (the notify arrived), failed or closed."""
    order = _own_order(number)
    poll = parse_id(request.args.get("poll")) or 0
    failed = request.args.get("failed") == "1"
    state = _pay_state(order, failed=failed, gave_up=poll >= POLL_LIMIT)
    next_poll = url_for("shop.pay_result", number=order.number, poll=poll + 1, failed=1 if failed else None)
    context = {"order": order, "state": state, "next_poll": next_poll, "poll_seconds": POLL_SECONDS}
    if htmx and not htmx.history_restore_request:
        return render_block("shop/pay_result.html", "pay_state", **context)
    return render_template("shop/pay_result.html", **context)


def _pay_state(order: Order, *, failed: bool, gave_up: bool) -> str:
    if order.status in PAID_STATUSES or order.status == OrderStatus.REFUNDED:
        return "paid"
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        return "awaiting"
    if order.status == OrderStatus.CANCELLED:
        return "cancelled"
    if failed:
        return "failed"
    return "waiting" if gave_up else "confirming"


@bp.route("/orders/<number>/manual", methods=["GET", "POST"])
@login_required
def manual_payment(number: str):
    """Manual transfer: the shop's QR code or bank details, the exact amount and the order number to
    write in the note; "I have paid" tells the shop to look for the money."""
    order = _own_order(number)
    form = ActionForm()
    manual = get_provider("manual")
    # An order waiting for a transfer no longer expires: only a shop that takes transfers may hold one.
    taken = manual.offered(current_app, db.session, in_wechat=in_wechat())
    if request.method == "POST" and form.validate() and taken:
        try:
            payments.claim_manual_payment(db.session, order, current_user)
            db.session.commit()
        except OrderError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            flash(_("Thank you. The shop will confirm your payment soon."), "success")
        return redirect(url_for("shop.order_detail", number=order.number))
    if request.method == "POST" and form.errors:
        flash(_("The page has expired. Please refresh it and try again."), "error")
    if order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.AWAITING_CONFIRMATION):
        return redirect(url_for("shop.order_detail", number=order.number))
    if order.status == OrderStatus.PENDING_PAYMENT and not taken:
        flash(_("The shop does not take transfers at the moment. Please choose another way to pay."), "info")
        return redirect(url_for("shop.pay", number=order.number))
    return render_template(
        "shop/pay_manual.html", order=order, form=form, remaining=_remaining_seconds(order)
    )


# ---------------------------------------------------------------- my orders


def _expire_due_orders_of(user_id: int) -> None:
    """Unpaid orders whose time ran out are cancelled before the list shows them (the job does the same
    for everyone every few minutes)."""
    due = db.session.scalars(
        select(Order)
        .where(
            Order.user_id == user_id,
            Order.status == OrderStatus.PENDING_PAYMENT,
            Order.expires_at <= utcnow(),
        )
        .options(selectinload(Order.lines))
    ).all()
    for order in due:
        orders.transitions.expire_if_due(db.session, order)
    if due:
        db.session.commit()


@bp.get("/orders")
@login_required
def order_list():
    tab = tab_arg(ORDER_TABS, "all")
    _expire_due_orders_of(current_user.id)
    query = (
        select(Order)
        .where(Order.user_id == current_user.id)
        .options(selectinload(Order.lines), selectinload(Order.refunds))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    if tab in TAB_STATUSES:
        query = query.where(Order.status.in_([str(s) for s in TAB_STATUSES[tab]]))
    elif tab == "after_sales":
        query = query.where(Order.refund_status != RefundStatus.NONE)
    page_arg = request.args.get("page", "1")
    page_number = parse_whole_number(page_arg, max_digits=5) or 1
    page = db.paginate(query, page=max(page_number, 1), per_page=ORDERS_PER_PAGE, error_out=False)
    context = {"tab": "me", "order_tab": tab, "tabs": ORDER_TABS, "page": page, "action_form": ActionForm()}
    shown = [order.id for order in page.items]
    context["group_waiting"] = group_orders.waiting_for_group(db.session, shown)
    context["no_refund"] = group_orders.no_after_sales(db.session, shown)
    if htmx and not htmx.history_restore_request and "page" in request.args:
        return render_block("shop/orders.html", "order_cards", **context)
    return render_template("shop/orders.html", **context)


@bp.get("/orders/<number>")
@login_required
def order_detail(number: str):
    order = _own_order(number)
    events = [event for event in order.events if event.action in EVENT_TEXT]
    return render_template(
        "shop/order_detail.html",
        order=order,
        events=list(reversed(events)),
        actions=shopper_actions(order, group_orders.no_after_sales(db.session, [order.id])),
        action_form=ActionForm(),
        remaining=_remaining_seconds(order),
        payment_label=_payment_label(order.payment_method),
        status_hint=STATUS_HINT.get(order.status, ""),
        order_group=group_display.for_order(db.session, order.id),
        group_words=ORDER_GROUP_WORDS,
        **_tracking_context(orders.tracking.tracking_view(db.session, order)),
    )


def _tracking_context(view) -> dict:
    """The parcel panel's view, and how old its copy is in words ("5 minutes ago")."""
    age = ""
    if view is not None and view.fetched_at is not None:
        age = format_timedelta(view.fetched_at - utcnow(), threshold=1, add_direction=True)
    return {"tracking": view, "tracking_age": age}


@bp.get("/orders/<number>/tracking")
@login_required
def order_tracking(number: str):
    """The parcel panel, asked for by the order page when its copy is old: 快递100 is asked (briefly) here,
    so the page itself never waits for it."""
    order = _own_order(number)
    orders.tracking.refresh_for_page(db.session, order)
    view = orders.tracking.tracking_view(db.session, order)
    if view is None:
        abort(404)
    view.stale = False  # asked once per page: no loop when 快递100 fails
    return render_template("shop/_tracking.html", order=order, **_tracking_context(view))


def _payment_label(method: str | None) -> str:
    if not method:
        return ""
    if method == orders.checkout.NO_PAYMENT_METHOD:
        return _("Nothing to pay (covered by offers)")
    try:
        return str(get_provider(method).label)
    except (KeyError, RuntimeError):
        return method


# The shopper's own moves on an order: the service that makes each, and what is said once it is made.
SHOPPER_MOVES = {
    "cancel": (orders.transitions.shopper_cancel, _l("Order cancelled.")),
    "receive": (orders.transitions.confirm_receipt, _l("Thank you! The order is complete.")),
}


@bp.post("/orders/<number>/cancel", endpoint="cancel_order", defaults={"move": "cancel"})
@bp.post("/orders/<number>/receive", endpoint="confirm_receipt", defaults={"move": "receive"})
@login_required
def shopper_move(number: str, move: str):
    order = _own_order(number)
    service, done = SHOPPER_MOVES[move]
    return _act(order, lambda: service(db.session, order, current_user), str(done))


@bp.post("/orders/<number>/refund/withdraw")
@login_required
def withdraw_refund(number: str):
    order = _own_order(number)
    refund = order.open_refund
    if refund is None:
        flash(_("This request can no longer be withdrawn."), "error")
        return redirect(url_for("shop.order_detail", number=order.number))
    return _act(
        order,
        lambda: orders.refunds.cancel_refund_request(db.session, refund, current_user),
        _("Your refund request has been withdrawn."),
    )


def _act(order: Order, action, done_message: str):
    """Run one of the shopper's order actions (POST, CSRF-checked) and go back to the order."""
    if not ActionForm().validate():
        flash(_("The page has expired. Please refresh it and try again."), "error")
    else:
        try:
            action()
            db.session.commit()
        except OrderError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            flash(done_message, "success")
    back = request.form.get("back")
    if back == "list":
        return redirect(url_for("shop.order_list", tab=request.form.get("tab") or None))
    return redirect(url_for("shop.order_detail", number=order.number))


@bp.app_template_filter("refund_request_text")
def refund_request_text(status: str) -> str:
    return str(REFUND_REQUEST_TEXT.get(status, status))


@bp.app_template_global()
def event_text(event) -> str:
    """An order event in the shopper's words, with the shop's note where the shopper should read it."""
    return str(EVENT_TEXT.get(event.action, event.action))


@bp.app_template_global()
def event_note(event) -> str:
    return event.note if event.action in EVENT_NOTE_SHOWN else ""
