"""The shopper's after-sales (仅退款 / 退货退款 / 换货) on the H5 shop's services (app/shop/aftersales.py): what an
order allows and the live preview's amounts, opening a request (with photos uploaded first, as JSON), the
requests and their timelines, sending the goods back, withdrawing. Someone else's order or request is a
404; a request in the wrong state is a 409 with the service's Chinese sentence; bad input a 422 by field."""

import base64
import binascii
from functools import wraps

from flask import current_app, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from app import orders
from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_aftersales import (
    MAX_PHOTO_BASE64,
    AftersalesIn,
    AftersalesLineOut,
    AftersalesOut,
    AftersalesPage,
    AftersalesQuery,
    AftersalesSummary,
    CarrierOut,
    KindOption,
    LineOption,
    OptionsOut,
    ParcelOut,
    PhotoIn,
    PhotoOut,
    PreviewIn,
    PreviewOut,
    ReturnAddressOut,
    ReturnShipmentIn,
    TimelineEntry,
)
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.db_types import MAX_ID
from app.extensions import db, limiter
from app.marketing import group_orders
from app.media import ImageError, image_url, private_image, save_private_image
from app.orders import aftersales, returns
from app.orders.carriers import CARRIERS
from app.orders.events import OrderError
from app.orders.labels import EVENT_NOTE_SHOWN, EVENT_TEXT, REFUND_REQUEST_TEXT
from app.orders.models import AfterSalesKind, Order, Refund, RefundRequestStatus
from app.orders.shop_forms import RefundForm

TAGS = ["aftersales"]
PHOTO_SALT = "api-aftersales-photo"
PHOTO_MAX_AGE = 24 * 3600  # an uploaded photo is used within a day, or uploaded again
LINE_IMAGE_SIZE = 200
# A data URL's header, when the picture is sent as one: only the types the H5 form takes.
DATA_URL_HEADERS = {f"data:image/{kind};base64" for kind in ("jpeg", "jpg", "png", "webp")}
MAX_PHOTO_BODY = MAX_PHOTO_BASE64 + 1024  # the JSON around the base64 text
# Six photos to a request, a request per order at a time: an hour's uploads of a busy shopper, and a
# bound on what one account can pile into the private storage.
PHOTO_UPLOAD_LIMIT = "60 per hour"
SIGNED_IN = {BEARER: []}


def _refusal(error: OrderError) -> ApiError:
    """A service's refusal: about a field → 422 naming it; about the state of things → 409."""
    if error.field:
        fields = {error.field: str(error.message)}
        fields.update({field: str(message) for field, message in error.more})
        return ApiError(422, error.message, code="invalid", fields=fields)
    return ApiError(409, error.message, code="conflict")


def _own_order(order_id: int) -> Order:
    """The caller's own order (expired lazily on the way, as the H5 pages do), else 404."""
    order = db.session.get(Order, order_id) if 0 < order_id <= MAX_ID else None
    if order is None or not orders.access.is_buyer(order, api_user()):
        raise ApiError(404, _("This order does not exist."))
    orders.transitions.expire_if_due(db.session, order)
    db.session.commit()
    return order


def _own_refund(refund_id: int) -> Refund:
    refund = db.session.get(Refund, refund_id) if 0 < refund_id <= MAX_ID else None
    if refund is None or not orders.access.is_buyer(refund.order, api_user()):
        raise ApiError(404, _("This after-sales request does not exist."))
    return refund


def _may_ask(order: Order) -> bool:
    """The H5 order page's "apply for after-sales" button (a 拼团 order still forming has none)."""
    return "refund" in orders.access.shopper_actions(
        order, group_orders.no_after_sales(db.session, [order.id])
    )


def _unavailable_message(order: Order) -> str:
    if order.open_refund is not None:
        return _("This order already has an open after-sales request.")
    return _("This order cannot be refunded now.")


def _items(items) -> dict[int, int]:
    """{order line id: units}, as the H5 form's qty-<line id> fields: each line once (a line sent twice is
    not guessed at: 422)."""
    wanted: dict[int, int] = {}
    for index, item in enumerate(items):
        if item.line_id in wanted:
            raise ApiError(422, fields={f"items.{index}.line_id": _("Each line may be listed only once.")})
        wanted[item.line_id] = item.qty
    return wanted


def _preview(order: Order, items: dict, kind: str) -> PreviewOut:
    """The H5 form's live preview (the same service: refunds.preview)."""
    found = orders.refunds.preview(order, items, kind)
    return PreviewOut(
        amount=Money.of(found.amount_fen),
        shipping=Money.of(found.shipping_fen),
        exchange=found.exchange,
        error=found.error,
    )


ORDER_PATH = {"order_id": "An order id (GET /orders)"}
REQUEST_PATH = {"request_id": "An after-sales request id (GET /aftersales)"}


@bp.get("/orders/<int:order_id>/aftersales/options")
@login_required
@spec.validate(
    path_parameter_descriptions=ORDER_PATH,
    resp=Response(HTTP_200=OptionsOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=TAGS,
    security=SIGNED_IN,
)
def aftersales_options(order_id: int):
    """What an after-sales request on this order may be now

    The types the order allows (仅退款 before shipping; once shipped also 退货退款 and 换货), each type's
    reasons, the lines with the units and amounts left, and the live preview for the units the H5 form
    starts with. `available` is false (with the reason) when no request can be opened now."""
    order = _own_order(order_id)
    available = _may_ask(order)
    kinds = aftersales.allowed_kinds(order) if available else ()
    default = aftersales.default_kind(order) if kinds else None
    suggested = orders.refunds.suggested_items(order)
    return OptionsOut(
        order_id=order.id,
        available=available,
        message=_unavailable_message(order) if not available else "",
        kinds=[
            KindOption(
                kind=str(kind),
                label=aftersales.kind_label(kind),
                moves_money=aftersales.moves_money(kind),
                reasons=[str(reason) for reason in aftersales.reasons_for(kind)],
            )
            for kind in kinds
        ],
        default_kind=str(default) if default else None,
        not_received_reason=str(aftersales.NOT_RECEIVED),
        other_reason=str(aftersales.OTHER),
        lines=[
            LineOption(
                line_id=line.id,
                title=line.title,
                spec_text=line.spec_text or "",
                image_url=image_url(line.image_key, LINE_IMAGE_SIZE, external=True)
                if line.image_key
                else None,
                qty=line.qty,
                paid=Money.of(line.paid_fen),
                refunded_qty=line.refunded_qty,
                refundable_qty=line.refundable_qty,
                refundable=Money.of(
                    orders.refunds.refundable_amount(line, line.refundable_qty) if line.refundable_qty else 0
                ),
                suggested_qty=suggested[line.id],
            )
            for line in order.lines
        ],
        preview=_preview(order, suggested, str(default or AfterSalesKind.REFUND_ONLY)),
    )


@bp.post("/orders/<int:order_id>/aftersales/preview")
@login_required
@spec.validate(
    path_parameter_descriptions=ORDER_PATH,
    json=PreviewIn,
    resp=Response(
        HTTP_200=PreviewOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_415=ErrorBody, HTTP_422=ErrorBody
    ),
    tags=TAGS,
    security=SIGNED_IN,
)
def aftersales_preview(order_id: int, json: PreviewIn):
    """The live preview: what these units would bring back (changes nothing)

    As the H5 form's preview: units it cannot have are not an error status but `error` in the answer."""
    order = _own_order(order_id)
    return _preview(order, _items(json.items), json.kind)


def _photo_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=PHOTO_SALT)


def _photo_keys(photo_ids: list[str], user_id: int) -> list[str]:
    """The stored keys of photos this user uploaded within the day; 422 for any other id."""
    keys = []
    for index, photo_id in enumerate(photo_ids):
        try:
            owner, key = _photo_serializer().loads(photo_id, max_age=PHOTO_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            owner, key = None, None
        if owner != user_id or not isinstance(key, str) or not key.startswith("private/"):
            raise ApiError(
                422,
                fields={
                    f"photo_ids.{index}": _("This photo has expired or is not yours. Please upload it again.")
                },
            )
        keys.append(key)
    return keys


def _photo_body_limit(view):
    """The upload's body is read only up to a photo's size (not the app's MAX_CONTENT_LENGTH): 413 beyond."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        request.max_content_length = MAX_PHOTO_BODY
        return view(*args, **kwargs)

    return wrapper


def _uploader_key() -> str:
    return f"aftersales-photo-user:{api_user().id}"


@bp.post("/uploads/aftersales-photos")
@login_required
@limiter.limit(PHOTO_UPLOAD_LIMIT, key_func=_uploader_key)
@_photo_body_limit
@spec.validate(
    json=PhotoIn,
    resp=Response(
        HTTP_200=PhotoOut,
        HTTP_401=ErrorBody,
        HTTP_413=ErrorBody,
        HTTP_415=ErrorBody,
        HTTP_422=ErrorBody,
        HTTP_429=ErrorBody,
    ),
    tags=TAGS,
    security=SIGNED_IN,
)
def upload_aftersales_photo(json: PhotoIn):
    """Upload one photo for an after-sales request

    Checked as the H5 form's photos are: a real JPEG, PNG or WebP within the size limit, not a
    decompression bomb; EXIF (place, phone) is dropped and it is stored privately, shown only to the buyer
    and the shop. The answer's id is for photo_ids of a request, by the same user, within a day. A body
    larger than a photo's limit is a 413; more than PHOTO_UPLOAD_LIMIT uploads by one user a 429."""
    data = json.data.strip()
    if data[:5].lower() == "data:":  # a data URL: data:image/jpeg;base64,....
        header, _comma, data = data.partition(",")
        if header.lower() not in DATA_URL_HEADERS:
            raise ApiError(422, fields={"data": _("Only JPEG, PNG and WebP pictures are accepted.")})
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, fields={"data": _("This is not a base64-encoded picture.")}) from None
    try:
        key = save_private_image(raw)
    except ImageError as error:
        raise ApiError(422, str(error), code="invalid", fields={"data": str(error)}) from None
    return PhotoOut(id=_photo_serializer().dumps([api_user().id, key]))


@bp.post("/orders/<int:order_id>/aftersales")
@login_required
@spec.validate(
    path_parameter_descriptions=ORDER_PATH,
    json=AftersalesIn,
    resp=Response(
        HTTP_201=AftersalesOut,
        HTTP_401=ErrorBody,
        HTTP_404=ErrorBody,
        HTTP_409=ErrorBody,
        HTTP_415=ErrorBody,
        HTTP_422=ErrorBody,
    ),
    tags=TAGS,
    security=SIGNED_IN,
)
def open_aftersales(order_id: int, json: AftersalesIn):
    """Open an after-sales request

    The H5 form's fields: the type, one of its reasons (with a description for 其他; the reason
    「未收到货」 with 仅退款 says the parcel has not arrived), the units of each line (an exchange: one
    line), photo ids. One open request per order: a retry, or a second request while one is open, is a
    409 with the code already_open (GET /aftersales lists it)."""
    order = _own_order(order_id)
    if order.open_refund is not None:  # a retry of a request that went through, or a second one
        raise ApiError(409, _unavailable_message(order), code="already_open")
    if not _may_ask(order):
        raise ApiError(409, _unavailable_message(order), code="conflict")
    form = RefundForm(
        formdata=MultiDict({"reason": json.reason, "detail": json.description}),
        meta={"csrf": False},
        kind=json.kind,
    )
    if not form.validate():
        names = {"reason": "reason", "detail": "description"}
        raise ApiError(422, fields={names.get(name, name): errors[0] for name, errors in form.errors.items()})
    photos = _photo_keys(json.photo_ids, api_user().id)
    try:
        refund = orders.refunds.request_refund(
            db.session,
            order,
            api_user(),
            items=_items(json.items),
            reason=form.reason_text(),
            kind=json.kind,
            not_received=form.not_received(),
            photos=photos,
        )
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise _refusal(error) from None
    return _request_out(refund), 201


def _summary(refund: Refund) -> dict:
    order = refund.order
    return {
        "id": refund.id,
        "number": refund.number,
        "order_id": order.id,
        "order_number": order.number,
        "kind": refund.kind,
        "kind_label": aftersales.kind_label(refund.kind),
        "status": refund.status,
        "status_label": str(REFUND_REQUEST_TEXT.get(refund.status, refund.status)),
        "amount": Money.of(refund.amount_fen) if aftersales.moves_money(refund) else None,
        "created_at": refund.created_at.isoformat(),
    }


def _parcel(carrier, tracking_no, shipped_at, spec_text: str = "") -> ParcelOut | None:
    if not tracking_no:
        return None
    return ParcelOut(
        carrier=carrier or "",
        tracking_no=tracking_no,
        shipped_at=shipped_at.isoformat() if shipped_at else None,
        spec_text=spec_text or "",
    )


def _timeline(refund: Refund) -> list[TimelineEntry]:
    """The request's events in the H5 order page's words, newest first (each event's note starts with the
    request's number)."""
    events = [event for event in aftersales.request_events(refund) if event.action in EVENT_TEXT]
    return [
        TimelineEntry(
            text=str(EVENT_TEXT[event.action]),
            note=event.note.removeprefix(refund.number).strip() if event.action in EVENT_NOTE_SHOWN else "",
            at=event.created_at.isoformat(),
        )
        for event in reversed(events)
    ]


def _request_out(refund: Refund) -> AftersalesOut:
    waiting = refund.status == RefundRequestStatus.AWAITING_RETURN
    address = returns.return_address(db.session) if waiting else None
    return AftersalesOut(
        **_summary(refund),
        reason=refund.reason,
        lines=[
            AftersalesLineOut(
                line_id=item.order_line_id,
                title=item.order_line.title,
                spec_text=item.order_line.spec_text or "",
                qty=item.qty,
                amount=Money.of(item.amount_fen),
            )
            for item in refund.lines
        ],
        shipping=Money.of(refund.shipping_fen or 0),
        photo_count=len(aftersales.photo_keys(refund)),
        photo_urls=[
            url_for("api.aftersales_photo", request_id=refund.id, index=index, _external=True)
            for index in range(len(aftersales.photo_keys(refund)))
        ],
        next_action=aftersales.next_action(refund),
        shopper_action="send_return" if waiting else "none",
        can_cancel=orders.refunds.can_withdraw(refund),
        return_address=ReturnAddressOut(**address) if address else None,
        carriers=[CarrierOut(code=c.code, name=str(c.name)) for c in CARRIERS] if waiting else [],
        return_parcel=_parcel(refund.return_carrier, refund.return_tracking_no, refund.return_shipped_at),
        replacement_parcel=_parcel(
            refund.replacement_carrier,
            refund.replacement_tracking_no,
            refund.replacement_shipped_at,
            refund.replacement_spec_text,
        ),
        reject_reason=refund.reject_reason,
        timeline=_timeline(refund),
    )


@bp.get("/aftersales")
@login_required
@spec.validate(
    query=AftersalesQuery,
    resp=Response(HTTP_200=AftersalesPage, HTTP_401=ErrorBody, HTTP_422=ErrorBody),
    tags=TAGS,
    security=SIGNED_IN,
)
def aftersales_list(query: AftersalesQuery):
    """My after-sales requests, newest first"""
    rows = db.session.scalars(
        select(Refund)
        .join(Order, Order.id == Refund.order_id)
        .where(Order.user_id == api_user().id)
        .options(selectinload(Refund.order))
        .order_by(Refund.created_at.desc(), Refund.id.desc())
        .offset((query.page - 1) * query.limit)
        .limit(query.limit + 1)
    ).all()
    return AftersalesPage(
        items=[AftersalesSummary(**_summary(refund)) for refund in rows[: query.limit]],
        page=query.page,
        has_more=len(rows) > query.limit,
    )


@bp.get("/aftersales/<int:request_id>")
@login_required
@spec.validate(
    path_parameter_descriptions=REQUEST_PATH,
    resp=Response(HTTP_200=AftersalesOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=TAGS,
    security=SIGNED_IN,
)
def aftersales_detail(request_id: int):
    """One request: its state, what it waits for, where to send the goods, its timeline"""
    return _request_out(_own_refund(request_id))


@bp.post("/aftersales/<int:request_id>/return-shipment")
@login_required
@spec.validate(
    path_parameter_descriptions=REQUEST_PATH,
    json=ReturnShipmentIn,
    resp=Response(
        HTTP_200=AftersalesOut,
        HTTP_401=ErrorBody,
        HTTP_404=ErrorBody,
        HTTP_409=ErrorBody,
        HTTP_415=ErrorBody,
        HTTP_422=ErrorBody,
    ),
    tags=TAGS,
    security=SIGNED_IN,
)
def return_shipment(request_id: int, json: ReturnShipmentIn):
    """I have sent the goods back: the carrier and the tracking number

    Only while the request waits for them (shopper_action send_return); otherwise a 409."""
    refund = _own_refund(request_id)
    try:
        returns.ship_return(
            db.session, refund, api_user(), carrier_code=json.carrier_code, tracking_no=json.tracking_no
        )
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise _refusal(error) from None
    return _request_out(refund)


@bp.post("/aftersales/<int:request_id>/cancel")
@login_required
@spec.validate(
    path_parameter_descriptions=REQUEST_PATH,
    resp=Response(
        HTTP_200=AftersalesOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_409=ErrorBody, HTTP_415=ErrorBody
    ),
    tags=TAGS,
    security=SIGNED_IN,
)
def cancel_aftersales(request_id: int):
    """Withdraw my request: until the goods are on their way back (can_cancel); otherwise a 409"""
    refund = _own_refund(request_id)
    try:
        orders.refunds.cancel_refund_request(db.session, refund, api_user())
        db.session.commit()
    except OrderError as error:
        db.session.rollback()
        raise _refusal(error) from None
    return _request_out(refund)


@bp.get("/aftersales/<int:request_id>/photos/<int:index>")
@login_required
@spec.validate(
    path_parameter_descriptions={**REQUEST_PATH, "index": "The photo's place, from 0 (photo_urls)"},
    resp=Response(
        HTTP_200=(None, "The photo (JPEG, PNG or WebP), never cached"),
        HTTP_401=ErrorBody,
        HTTP_404=ErrorBody,
    ),
    tags=TAGS,
    security=SIGNED_IN,
)
def aftersales_photo(request_id: int, index: int):
    """One of my request's photos (the picture itself, not JSON), as the H5 order page shows it"""
    keys = aftersales.photo_keys(_own_refund(request_id))
    found = private_image(keys[index]) if index < len(keys) else None
    if found is None:
        raise ApiError(404, _("This photo does not exist."))
    response = current_app.response_class(found[0], content_type=found[1])
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
