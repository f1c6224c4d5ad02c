"""The shopper's address book, with the H5 address form's rules (orders.addresses.save_address: names,
mobile, a region from the region data or a district code, every problem of one request at once). Another
shopper's address is simply not found (404)."""

from flask_babel import gettext as _
from spectree import Response

from app import orders
from app.api import bp
from app.api.basket import refusal
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import OkOut
from app.api.schemas_orders import AddressesOut, AddressIn, AddressOut
from app.api.security import api_user, login_required
from app.api.spec import BEARER, spec
from app.extensions import db
from app.orders.events import OrderError
from app.orders.models import Address

ID = {"address_id": "An address id"}


def address_out(address: Address) -> AddressOut:
    return AddressOut(
        id=address.id,
        recipient=address.recipient,
        mobile=address.mobile,
        province=address.province,
        city=address.city,
        district=address.district,
        district_code=address.district_code,
        detail=address.detail,
        region=address.region,
        full_text=address.full_text,
        is_default=address.is_default,
    )


def _own(address_id: int) -> Address:
    try:
        return orders.addresses.user_address(db.session, api_user().id, address_id)
    except OrderError:
        raise ApiError(404, _("This address does not exist.")) from None


def _save(address: Address | None, json: AddressIn) -> Address:
    fields = json.model_dump()
    # False means "no opinion", as the H5 form's unticked box: the first address is the default anyway.
    if not fields["is_default"]:
        del fields["is_default"]
    try:
        saved = orders.addresses.save_address(db.session, api_user().id, address, **fields)
    except OrderError as error:
        db.session.rollback()
        raise refusal(error, 422 if error.field else 409, None if error.field else "too_many") from None
    db.session.commit()
    return saved


@bp.get("/addresses")
@login_required
@spec.validate(
    resp=Response(HTTP_200=AddressesOut, HTTP_401=ErrorBody), tags=["addresses"], security={BEARER: []}
)
def addresses():
    """The shopper's addresses, the default one first"""
    found = orders.addresses.list_addresses(db.session, api_user().id)
    return AddressesOut(items=[address_out(a) for a in found], max_addresses=orders.addresses.MAX_ADDRESSES)


@bp.post("/addresses")
@login_required
@spec.validate(
    json=AddressIn,
    resp=Response(HTTP_201=AddressOut, HTTP_401=ErrorBody, HTTP_409=ErrorBody, HTTP_422=ErrorBody),
    tags=["addresses"],
    security={BEARER: []},
)
def address_create(json: AddressIn):
    """Add an address (the first one is the default; at most 20: 409)"""
    return address_out(_save(None, json)), 201


@bp.get("/addresses/<int:address_id>")
@login_required
@spec.validate(
    path_parameter_descriptions=ID,
    resp=Response(HTTP_200=AddressOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["addresses"],
    security={BEARER: []},
)
def address(address_id: int):
    """One of the shopper's addresses"""
    return address_out(_own(address_id))


@bp.put("/addresses/<int:address_id>")
@login_required
@spec.validate(
    json=AddressIn,
    path_parameter_descriptions=ID,
    resp=Response(HTTP_200=AddressOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_422=ErrorBody),
    tags=["addresses"],
    security={BEARER: []},
)
def address_update(address_id: int, json: AddressIn):
    """Change an address (every field, as the H5 form sends them)"""
    return address_out(_save(_own(address_id), json))


@bp.delete("/addresses/<int:address_id>")
@login_required
@spec.validate(
    path_parameter_descriptions=ID,
    resp=Response(HTTP_200=OkOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["addresses"],
    security={BEARER: []},
)
def address_delete(address_id: int):
    """Delete an address (orders keep their own copy)"""
    own = _own(address_id)
    orders.addresses.delete_address(db.session, api_user().id, own.id)
    db.session.commit()
    return OkOut()


@bp.post("/addresses/<int:address_id>/default")
@login_required
@spec.validate(
    path_parameter_descriptions=ID,
    resp=Response(HTTP_200=AddressOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["addresses"],
    security={BEARER: []},
)
def address_make_default(address_id: int):
    """Make an address the default one"""
    own = _own(address_id)
    orders.addresses.make_default_address(db.session, api_user().id, own.id)
    db.session.commit()
    return address_out(own)
