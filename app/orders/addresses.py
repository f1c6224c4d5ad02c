"""The shopper's delivery addresses."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.services import AccountError, normalise_mobile
from app.db_types import parse_id
from app.orders import regions
from app.orders.events import OrderError
from app.orders.models import Address

MAX_ADDRESSES = 20


DETAIL_MAX, RECIPIENT_MAX = 120, 20


def save_address(session: Session, user_id: int, address: Address | None, **fields) -> Address:
    problems = []  # (field, message): every mistake in the form at once, not one per try
    recipient = " ".join((fields.get("recipient") or "").split())
    if not recipient:
        problems.append(("recipient", _l("Please enter the recipient's name.")))
    elif len(recipient) > RECIPIENT_MAX:
        problems.append(("recipient", _l("The name may have at most %(n)d characters.", n=RECIPIENT_MAX)))
    mobile = None
    try:
        mobile = normalise_mobile(fields.get("mobile"))
    except AccountError as error:
        problems.append(("mobile", error.message))
    region = _region(fields, problems)
    detail = " ".join((fields.get("detail") or "").split())
    if len(detail) < 4:
        problems.append(("detail", _l("Please enter the street and house number.")))
    elif len(detail) > DETAIL_MAX:
        problems.append(("detail", _l("The address may have at most %(n)d characters.", n=DETAIL_MAX)))
    if problems:
        (field, message), *more = problems
        raise OrderError(message, field, more=more)
    if address is None:
        count = session.scalar(
            select(func.count()).select_from(Address).where(Address.user_id == user_id, ~Address.is_deleted)
        )
        if count >= MAX_ADDRESSES:
            raise OrderError(_l("You can keep at most %(n)d addresses.", n=MAX_ADDRESSES))
        address = Address(user_id=user_id)
        session.add(address)
        fields.setdefault("is_default", count == 0)
    elif address.user_id != user_id or address.is_deleted:
        raise OrderError(_l("This address does not exist."))
    address.recipient = recipient
    address.mobile = mobile
    address.province, address.city, address.district = region.province, region.city, region.district
    # 香港、澳门、台湾 have no codes: stored empty (None), as on the addresses saved before the picker.
    address.province_code, address.city_code = region.province_code or None, region.city_code or None
    address.district_code = region.district_code or None
    address.detail = detail
    session.flush()
    if fields.get("is_default"):
        make_default_address(session, user_id, address.id)
    return address


def _region(fields: dict, problems: list) -> regions.Region | None:
    """The region the form chose: the three names, which must be a district of that city of that province
    in the region data (a tampered form saves nothing); or a district code (WeChat's nationalCode), whose
    region any names given with it must agree with. 香港、澳门、台湾 have no cities in the data: their city
    and district are written by hand (or left empty) and no codes are stored."""
    names = {key: " ".join((fields.get(key) or "").split()) for key in ("province", "city", "district")}
    code = (fields.get("district_code") or "").strip()
    if code:
        region = regions.resolve_code(code[:12])
        if region is None:
            problems.append(("district", _l("Please choose the province, city and district from the lists.")))
        elif not _names_agree(region, names):
            problems.append(
                ("district", _l("The region's code does not match the province, city and district given."))
            )
            return None
        return region
    if regions.is_outside_mainland(names["province"]):
        for key in ("city", "district"):
            if len(names[key]) > regions.FREE_NAME_MAX:
                problems.append((key, _l("At most %(n)d characters.", n=regions.FREE_NAME_MAX)))
                return None
        return regions.free_region(names["province"], names["city"], names["district"])
    if names["province"] not in regions.PROVINCES:
        problems.append(("province", _l("Please choose a province.")))
        return None
    if not names["city"]:
        problems.append(("city", _l("Please choose a city.")))
        return None
    if not names["district"]:
        problems.append(("district", _l("Please choose a district.")))
        return None
    if regions.find_city(names["province"], names["city"]) is None:
        problems.append(("city", _l("That city is not in the chosen province. Please choose again.")))
        return None
    region = regions.resolve(names["province"], names["city"], names["district"])
    if region is None:
        problems.append(("district", _l("That district is not in the chosen city. Please choose again.")))
    return region


def _names_agree(region: regions.Region, names: dict) -> bool:
    """Each name given beside a code is the code's (a municipality's city may be written 市辖区)."""
    if names["province"] and names["province"] != region.province:
        return False
    if names["city"] and regions.find_city(region.province, names["city"]) != regions.find_city(
        region.province, region.city
    ):
        return False
    return not names["district"] or names["district"] == region.district


def user_address(session: Session, user_id: int, address_id) -> Address:
    """An address of this user, or a refusal that says nothing about other people's addresses."""
    address_id = parse_id(address_id)
    address = session.get(Address, address_id) if address_id is not None else None
    if address is None or address.user_id != user_id or address.is_deleted:
        raise OrderError(_l("Please choose a delivery address."), "address_id")
    return address


def make_default_address(session: Session, user_id: int, address_id: int) -> None:
    address = user_address(session, user_id, address_id)
    session.execute(
        update(Address)
        .where(Address.user_id == user_id, Address.id != address.id)
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    address.is_default = True


def delete_address(session: Session, user_id: int, address_id) -> None:
    """Addresses are hidden, not deleted: orders keep their own copy anyway."""
    address = user_address(session, user_id, address_id)
    address.is_deleted = True
    address.is_default = False


def list_addresses(session: Session, user_id: int) -> list[Address]:
    return list(
        session.scalars(
            select(Address)
            .where(Address.user_id == user_id, ~Address.is_deleted)
            .order_by(Address.is_default.desc(), Address.id.desc())
        )
    )
