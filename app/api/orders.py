"""The shopper's orders: place one (with an `Idempotency-Key`), list, detail, cancel, confirm receipt — the
H5 shop's services (orders.checkout.place_order, orders.transitions), the H5 pages' words. Another
shopper's order is not found (404); a move the order's state does not allow is a 409."""

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from spectree import Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app import orders
from app.api import bp
from app.api.basket import activity_checks, order_offers, price, read_basket, refusal
from app.api.cart import discounts_out, rows_out
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_orders import (
    OrderHeaders,
    OrderIn,
    OrderLineOut,
    OrderOut,
    OrderPage,
    OrdersQuery,
    OrderSummaryOut,
    TrackingOut,
)
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.distribution import web as share_tracking
from app.extensions import db
from app.marketing import flash as flash_sale
from app.marketing import group_orders, groups, story
from app.marketing.errors import MarketingError
from app.media import image_url
from app.orders import idempotency
from app.orders.events import OrderError
from app.orders.labels import STATUS_HINT, STATUS_TEXT, TAB_STATUSES, refund_status_text
from app.orders.models import Order, OrderStatus, RefundStatus
from app.timeutil import utcnow

IMAGE_SIZE = 200
ID = {"order_id": "An order id"}
KEY_HEADER = "Idempotency-Key"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _lines_out(order: Order) -> list[OrderLineOut]:
    return [
        OrderLineOut(
            id=line.id,
            product_id=line.product_id,
            sku_id=line.sku_id,
            title=line.title,
            spec_text=line.spec_text or "",
            image_url=image_url(line.image_key, IMAGE_SIZE, external=True) if line.image_key else None,
            quantity=line.qty,
            list_unit_price=Money.of(line.list_unit_fen or line.unit_fen),
            unit_price=Money.of(line.unit_fen),
            subtotal=Money.of(line.subtotal_fen),
            discount=Money.of(line.discount_fen),
            paid=Money.of(line.paid_fen),
            refunded_quantity=line.refunded_qty,
        )
        for line in order.lines
    ]


def _summary_fields(order: Order, no_refund: set[int]) -> dict:
    return {
        "id": order.id,
        "number": order.number,
        "status": order.status,
        "status_label": str(STATUS_TEXT.get(order.status, order.status)),
        "refund_status": order.refund_status,
        "refund_label": refund_status_text(order),
        "created_at": order.created_at.isoformat(),
        "total": Money.of(order.total_fen),
        "item_count": order.item_count,
        "lines": _lines_out(order),
        "actions": sorted(orders.access.shopper_actions(order, no_refund)),
    }


def _tracking_out(order: Order) -> TrackingOut | None:
    view = orders.tracking.tracking_view(db.session, order)
    if view is None:
        return None
    latest = view.lines[0] if view.lines else {}
    return TrackingOut(
        carrier=view.carrier,
        tracking_no=view.tracking_no,
        link=view.link,
        state=view.state_label,
        latest=str(latest.get("context", "")) if isinstance(latest, dict) else "",
        fetched_at=_iso(view.fetched_at),
    )


def order_out(order: Order) -> OrderOut:
    no_refund = group_orders.no_after_sales(db.session, [order.id])
    awaits = order.status == OrderStatus.PENDING_PAYMENT
    label = _l("Amount paid") if order.paid_at else _l("Amount due")
    return OrderOut(
        **_summary_fields(order, no_refund),
        status_hint=str(STATUS_HINT.get(order.status, "")),
        goods=Money.of(order.goods_fen),
        list_goods=Money.of(order.list_goods_fen or order.goods_fen),
        discount=Money.of(order.discount_fen),
        full_reduction=Money.of(order.full_reduction_fen),
        coupon=Money.of(order.coupon_fen),
        points_used=order.points_used,
        points_fen=Money.of(order.points_fen),
        shipping=Money.of(order.shipping_fen),
        refunded=Money.of(order.refunded_fen),
        amount_rows=rows_out(story.of_order(order, label)),
        discounts=discounts_out(order.applied),
        buyer_note=order.buyer_note or "",
        address={
            "recipient": order.ship_recipient,
            "mobile": order.ship_mobile,
            "region": order.ship_region,
            "detail": order.ship_detail,
        },
        awaits_payment=awaits,
        payable=Money.of(order.total_fen if awaits else 0),
        pay_before=_iso(order.expires_at) if awaits else None,
        paid_at=_iso(order.paid_at),
        shipped_at=_iso(order.shipped_at),
        completed_at=_iso(order.completed_at),
        cancelled_at=_iso(order.cancelled_at),
        payment_method=order.payment_method,
        tracking=_tracking_out(order),
    )


def _own_order(order_id: int) -> Order:
    """The caller's order (an unpaid one past its time is cancelled on the way, as on H5), else 404."""
    try:
        order = orders.access.user_order_by_id(db.session, api_user().id, order_id)
    except OrderError as error:
        raise ApiError(404, error.message) from None
    if orders.transitions.expire_if_due(db.session, order):
        db.session.commit()
    return order


# ---------------------------------------------------------------- placing


def _idempotency_key() -> str:
    key = request.headers.get(KEY_HEADER)
    if key is None or key == "":
        raise ApiError(
            400,
            _("Please send an Idempotency-Key header (1 to 64 characters) with the order."),
            code="idempotency_key_missing",
        )
    if not idempotency.valid_key(key):
        raise ApiError(
            400,
            _("The Idempotency-Key must be 1 to 64 printable ASCII characters."),
            code="idempotency_key_invalid",
        )
    return key


def _replay(user_id: int, key: str, fingerprint: str):
    """The order placed before with this key (200), a 409 for the same key with another body, or None."""
    row = idempotency.find(db.session, user_id, key)
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise ApiError(
            409,
            _("This Idempotency-Key was already used for a different order request."),
            code="idempotency_conflict",
        )
    return order_out(_own_order(row.order_id)), 200


ORDER_RESPONSES = Response(
    HTTP_200=OrderOut,
    HTTP_201=OrderOut,
    HTTP_400=ErrorBody,
    HTTP_401=ErrorBody,
    HTTP_404=ErrorBody,
    HTTP_409=ErrorBody,
    HTTP_422=ErrorBody,
)


@bp.post("/orders")
@login_required
@spec.validate(
    json=OrderIn, headers=OrderHeaders, resp=ORDER_RESPONSES, tags=["orders"], security={BEARER: []}
)
def place_order(json: OrderIn):
    """Place an order, as the H5 checkout does; needs an `Idempotency-Key` header

    The basket and offers are POST /quote's (the best coupon unless `coupon_id` / `no_coupon` say
    otherwise); stock is taken by conditional update, the coupon and points are spent, all in one
    transaction. 201 with the order. The same key again with the same body: the same order (200), nothing
    new; with another body: 409 idempotency_conflict. No or a bad key: 400. Out of stock, prices changed
    since `expected_total_fen`, a 秒杀 sold out: 409; bad input: 422."""
    user = api_user()
    key = _idempotency_key()
    fingerprint = idempotency.fingerprint(json.model_dump(mode="json"))
    replayed = _replay(user.id, key, fingerprint)
    if replayed is not None:
        return replayed
    try:
        order = _place(user, key, json)
        idempotency.remember(db.session, user.id, key, fingerprint, order.id)
        db.session.commit()
    except (IntegrityError, OrderError, MarketingError, ApiError) as error:
        db.session.rollback()
        # A twin request with the same key placed its order first: answer that one.
        replayed = _replay(user.id, key, fingerprint)
        if replayed is not None:
            return replayed
        if isinstance(error, ApiError):
            raise
        if isinstance(error, IntegrityError):
            raise ApiError(409, _("This order has already been submitted."), code="conflict") from None
        raise _order_refusal(error) from None
    return order_out(_own_order(order.id)), 201


def _place(user, key: str, json: OrderIn) -> Order:
    basket = read_basket(user.id, json)
    activity_checks(user.id, basket)
    priced = price(user.id, basket)
    # Lines named by the shopper must all be bought; the whole cart is bought as the H5 checkout page
    # submits it, without the lines it shows as unavailable.
    if not priced.lines or (priced.unbuyable and json.cart_sku_ids):
        message = _("Something in your order is no longer available. Please check your cart.")
        raise ApiError(409, message, code="unavailable")
    offers = order_offers(user.id, basket, priced)
    quantities = {line.sku.id: line.qty for line in priced.lines}
    if basket.group_mode:
        groups.check_buy(db.session, user.id, basket.group_mode, quantities, offers.activities)
    if json.flash_item_id is not None:
        flash_sale.check_buy(db.session, user.id, json.flash_item_id, quantities, offers.activities)
    return orders.checkout.place_order(
        db.session,
        user=user,
        items=quantities,
        address_id=json.address_id,
        idempotency_key=idempotency.order_key(key),
        buyer_note=json.buyer_note,
        expected_total_fen=json.expected_total_fen,
        client_ip_hash=share_tracking.client_ip_hash(),
        device_hash=share_tracking.device_hash(),
        offers=offers,
    )


# What a refusal of placement is, by the field the service names: the state of the shop (409) or the input.
CONFLICT_FIELDS = {"stock": "out_of_stock", "total": "price_changed"}


def _order_refusal(error) -> ApiError:
    if isinstance(error, flash_sale.UnpaidFlashOrder):
        return ApiError(409, error.message, code="unpaid_flash_order")
    if isinstance(error, flash_sale.SoldOut):
        return ApiError(409, error.message, code="sold_out")
    if error.field in CONFLICT_FIELDS:
        return refusal(error, 409, CONFLICT_FIELDS[error.field])
    if not error.field:
        return ApiError(409, error.message, code="refused")
    return refusal(error)


# ---------------------------------------------------------------- my orders


def _expire_due_orders_of(user_id: int) -> None:
    """Unpaid orders whose time ran out are cancelled before the list shows them, as on H5."""
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
@spec.validate(
    query=OrdersQuery,
    resp=Response(HTTP_200=OrderPage, HTTP_401=ErrorBody),
    tags=["orders"],
    security={BEARER: []},
)
def order_list(query: OrdersQuery):
    """The shopper's orders, newest first, by the H5 "my orders" tabs, a page at a time"""
    user = api_user()
    _expire_due_orders_of(user.id)
    found = (
        select(Order)
        .where(Order.user_id == user.id)
        .options(selectinload(Order.lines), selectinload(Order.refunds))
        .order_by(Order.created_at.desc(), Order.id.desc())
    )
    if query.tab in TAB_STATUSES:
        found = found.where(Order.status.in_([str(s) for s in TAB_STATUSES[query.tab]]))
    elif query.tab == "after_sales":
        found = found.where(Order.refund_status != RefundStatus.NONE)
    page = db.paginate(found, page=query.page, per_page=query.per_page, error_out=False)
    no_refund = group_orders.no_after_sales(db.session, [order.id for order in page.items])
    return OrderPage(
        items=[OrderSummaryOut(**_summary_fields(order, no_refund)) for order in page.items],
        page=query.page,
        pages=page.pages,
        total=page.total or 0,
    )


@bp.get("/orders/<int:order_id>")
@login_required
@spec.validate(
    path_parameter_descriptions=ID,
    resp=Response(HTTP_200=OrderOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["orders"],
    security={BEARER: []},
)
def order_detail(order_id: int):
    """One order: lines, amounts, address, status and what the shopper may do with it"""
    return order_out(_own_order(order_id))


MOVE_RESPONSES = Response(HTTP_200=OrderOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_409=ErrorBody)


def _move(order_id: int, service) -> OrderOut:
    order = _own_order(order_id)
    try:
        service(db.session, order, api_user())
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise ApiError(409, error.message, code="wrong_state") from None
    return order_out(_own_order(order_id))


@bp.post("/orders/<int:order_id>/cancel")
@login_required
@spec.validate(path_parameter_descriptions=ID, resp=MOVE_RESPONSES, tags=["orders"], security={BEARER: []})
def order_cancel(order_id: int):
    """Cancel an unpaid order (its stock, coupon and points come back); otherwise 409"""
    return _move(order_id, orders.transitions.shopper_cancel)


@bp.post("/orders/<int:order_id>/confirm-receipt")
@login_required
@spec.validate(path_parameter_descriptions=ID, resp=MOVE_RESPONSES, tags=["orders"], security={BEARER: []})
def order_confirm_receipt(order_id: int):
    """Confirm a shipped order has arrived; otherwise 409"""
    return _move(order_id, orders.transitions.confirm_receipt)
