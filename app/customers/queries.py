"""Reading customers for the back office. Figures come from their owners: spend from distribution's
member_sales (paid orders less refunds), points and level from the member account, bindings from the
binding log."""

from dataclasses import dataclass

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import Permission, Role, User, mask_mobile
from app.catalog.services import _escape_like
from app.db_types import parse_id
from app.distribution.explain import mask_name
from app.distribution.models import BindingLog, Distributor
from app.distribution.queries import member_sales
from app.marketing.models import MemberAccount, MemberLevel
from app.orders.models import Address, Order

SEARCH_MAX = 40
DISTRIBUTOR_FILTERS = ("referred", "unreferred", "distributor")
ORDER_FILTERS = ("yes", "no")


@dataclass(frozen=True)
class CustomerFilters:
    q: str = ""
    level: str = ""  # "" all, "none" no level, or a level id
    distributor: str = ""  # DISTRIBUTOR_FILTERS or ""
    orders: str = ""  # ORDER_FILTERS or ""

    @classmethod
    def from_args(cls, args) -> "CustomerFilters":
        """From the query string; anything not understood is no filter (never an error)."""
        level = (args.get("level") or "").strip()
        distributor = args.get("distributor") or ""
        orders = args.get("orders") or ""
        return cls(
            q=" ".join((args.get("q") or "").split())[:SEARCH_MAX],
            level=level if level == "none" or parse_id(level) is not None else "",
            distributor=distributor if distributor in DISTRIBUTOR_FILTERS else "",
            orders=orders if orders in ORDER_FILTERS else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.level or self.distributor or self.orders)


VISIBLE_TAIL = 4  # mask_mobile shows the last four digits


def _mobile_match(digits: str, *, full_contacts: bool):
    """Numbers matching the digits typed. A viewer who sees numbers masked (138****5678) may find a customer
    by the whole number or by the visible last digits, never by a part of the hidden middle: searching
    1381, 13812 … would spell it out one digit at a time."""
    if full_contacts:
        return User.mobile.like(f"%{digits}%")
    if len(digits) == 11:
        return User.mobile == digits
    if len(digits) <= VISIBLE_TAIL:
        return User.mobile.like(f"%{digits}")
    return None


def customers_query(filters: CustomerFilters, *, full_contacts: bool = False) -> Select:
    """Customers (not staff), newest first, narrowed by the filters. `full_contacts`: the viewer sees whole
    mobile numbers, so may search on any part of them."""
    query = select(User).where(User.role == Role.CUSTOMER)
    if filters.q:
        like = f"%{_escape_like(filters.q)}%"
        digits = "".join(ch for ch in filters.q if ch.isdigit())
        search = User.nickname.ilike(like, escape="\\")
        mobile_match = _mobile_match(digits, full_contacts=full_contacts) if digits else None
        if mobile_match is not None:
            search = search | mobile_match
        query = query.where(search)
    if filters.level == "none":
        query = query.where(
            ~exists().where(MemberAccount.user_id == User.id, MemberAccount.level_id.is_not(None))
        )
    elif filters.level:
        query = query.where(
            exists().where(MemberAccount.user_id == User.id, MemberAccount.level_id == int(filters.level))
        )
    if filters.distributor == "referred":
        query = query.where(User.referrer_id.is_not(None))
    elif filters.distributor == "unreferred":
        query = query.where(User.referrer_id.is_(None))
    elif filters.distributor == "distributor":
        query = query.where(exists().where(Distributor.user_id == User.id))
    if filters.orders:
        has_orders = exists().where(Order.user_id == User.id)
        query = query.where(has_orders if filters.orders == "yes" else ~has_orders)
    return query.order_by(User.id.desc())


@dataclass
class CustomerRow:
    """What the list shows beside each customer."""

    orders: int = 0
    spend_fen: int = 0
    points: int = 0
    level: str = ""
    referrer: str = ""
    is_distributor: bool = False
    mobile: str = ""  # whole, or masked for a viewer who may not see it


def customer_rows(session: Session, users: list[User], *, full_contacts: bool) -> dict[int, CustomerRow]:
    """The list's figures for one page of customers, in a few grouped queries."""
    ids = [user.id for user in users]
    rows = {
        user.id: CustomerRow(mobile=(user.mobile or "") if full_contacts else mask_mobile(user.mobile))
        for user in users
    }
    if not ids:
        return rows
    for user_id, (count, spent) in member_sales(session, ids).items():
        rows[user_id].orders, rows[user_id].spend_fen = count, spent
    accounts = session.execute(
        select(MemberAccount.user_id, MemberAccount.points, MemberLevel.name)
        .outerjoin(MemberLevel, MemberLevel.id == MemberAccount.level_id)
        .where(MemberAccount.user_id.in_(ids))
    )
    for user_id, points, level in accounts:
        rows[user_id].points, rows[user_id].level = int(points), level or ""
    referrer_ids = {user.referrer_id for user in users if user.referrer_id}
    if referrer_ids:
        names = {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(referrer_ids)))}
        for user in users:
            if user.referrer_id:
                rows[user.id].referrer = names.get(user.referrer_id, "")
    for user_id in session.scalars(select(Distributor.user_id).where(Distributor.user_id.in_(ids))):
        rows[user_id].is_distributor = True
    return rows


@dataclass
class ShownAddress:
    recipient: str
    mobile: str
    text: str
    is_default: bool


def shown_address(address: Address, full: bool) -> ShownAddress:
    """An address as this staff member may see it: whole, or 张** 138****5678 浙江省 杭州市 西湖区 文三****."""
    if full:
        return ShownAddress(address.recipient, address.mobile, address.full_text, address.is_default)
    detail = address.detail[:2] + "****" if address.detail else ""
    return ShownAddress(
        mask_name(address.recipient),
        mask_mobile(address.mobile),
        f"{address.region} {detail}",
        address.is_default,
    )


def may_see_contacts(viewer: User) -> bool:
    """Full mobiles and addresses: for those who see them on every order anyway."""
    return viewer.can(Permission.ORDERS)


@dataclass
class CustomerPage:
    customer: User
    row: CustomerRow
    referrer: User | None
    bindings: list[BindingLog]
    addresses: list[ShownAddress]
    orders: list[Order]
    distributor: Distributor | None
    contacts_masked: bool


RECENT_ORDERS = 20


def customer_page(session: Session, customer: User, viewer: User) -> CustomerPage:
    full = may_see_contacts(viewer)
    addresses = session.scalars(
        select(Address)
        .where(Address.user_id == customer.id, Address.is_deleted.is_(False))
        .order_by(Address.is_default.desc(), Address.id.desc())
    )
    bindings = session.scalars(
        select(BindingLog)
        .options(selectinload(BindingLog.old_parent), selectinload(BindingLog.new_parent))
        .where(BindingLog.user_id == customer.id)
        .order_by(BindingLog.id.desc())
        .limit(30)
    )
    orders = session.scalars(
        select(Order).where(Order.user_id == customer.id).order_by(Order.id.desc()).limit(RECENT_ORDERS)
    )
    return CustomerPage(
        customer=customer,
        row=customer_rows(session, [customer], full_contacts=full)[customer.id],
        referrer=session.get(User, customer.referrer_id) if customer.referrer_id else None,
        bindings=list(bindings),
        addresses=[shown_address(a, full) for a in addresses],
        orders=list(orders),
        distributor=session.scalar(select(Distributor).where(Distributor.user_id == customer.id)),
        contacts_masked=not full,
    )


def customer_or_none(session: Session, customer_id: int) -> User | None:
    """A customer (not a staff member or the owner, whom the staff page handles)."""
    user = session.get(User, customer_id)
    return user if user is not None and user.role == Role.CUSTOMER else None


def levels(session: Session) -> list[MemberLevel]:
    return list(session.scalars(select(MemberLevel).order_by(MemberLevel.growth_threshold)))
