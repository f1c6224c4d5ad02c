"""What the shop shows of 拼团 group buys (app/marketing/groups.py has the rules): the product page's group mode
and its open groups, the group page a shared link opens, 我的拼团, and a group order's state on the order
pages. Nothing here decides who may join: checkout asks groups.check_buy.

What strangers see of a group is its members' masked nicknames and avatars, never a mobile number, an
address or an order: the group page is public, it is what gets shared."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.accounts.models import User
from app.catalog.models import Product, Sku
from app.distribution.explain import mask_name
from app.marketing import flash_display
from app.marketing.groups import _running_items, group_with_members
from app.marketing.models import (
    BuyGroup,
    BuyGroupMember,
    BuyGroupStatus,
    GroupBuy,
    GroupBuyItem,
    GroupRefundState,
)
from app.orders.models import PAID_STATUSES, UNPAID_STATUSES, Order
from app.timeutil import utcnow

OPEN_GROUPS_SHOWN = 3
MY_GROUPS_SHOWN = 50

# A group's state, as its page, 我的拼团 and the API say it.
STATE_WORDS = {
    "pending": _l("Waiting for payment"),
    "open": _l("Group forming"),
    "full": _l("Group formed"),
    "refunding": _l("Group failed, refund in progress"),
    "refunded": _l("Group failed, refunded"),
    "cancelled": _l("Cancelled"),
}

# A group order's state on its order page.
ORDER_GROUP_WORDS = {
    "waiting": _l("Waiting for the group to form"),
    "unpaid": _l("Pay to take your place in the group"),
    "pending": _l("Pay to open your group"),
    "full": _l("Group formed: your order will be shipped"),
    "refunding": _l("The group did not form: refund in progress"),
    "refunded": _l("The group did not form: refunded"),
    "cancelled": _l("Cancelled"),
}


@dataclass(frozen=True)
class ProductOffer:
    """The product's SKUs in a running 拼团 (the product page's group mode)."""

    group_buy_id: int
    name: str
    size: int
    prices: dict[int, int]  # {sku id: group price}
    low_fen: int


@dataclass(frozen=True)
class OpenGroup:
    """An open group of a product as its page lists it (去参团)."""

    group_id: int
    leader: str  # masked
    places_left: int
    expires_at: datetime


@dataclass(frozen=True)
class Member:
    name: str  # masked
    avatar_key: str | None
    is_leader: bool


@dataclass(frozen=True)
class GroupView:
    """The group page: what everyone sees, and the viewer's own relation to it."""

    group_id: int
    state: str  # open | full | refunding | refunded
    size: int
    places_left: int
    expires_at: datetime | None
    product_id: int
    title: str
    image_key: str | None
    spec_text: str
    sku_id: int
    price_fen: int
    list_fen: int
    members: list[Member]
    viewer_is_member: bool
    viewer_order: str | None  # the viewer's own order number in it
    activity_running: bool
    group_buy_id: int = 0

    @property
    def can_join(self) -> bool:
        return self.state == "open" and not self.viewer_is_member

    @property
    def can_invite(self) -> bool:
        return self.state == "open" and self.viewer_is_member

    @property
    def can_open_another(self) -> bool:
        """我也开一个团: the group is over (full or failed) and the activity still runs."""
        return self.state != "open" and self.activity_running

    @property
    def counting_down(self) -> bool:
        return self.state == "open" and self.expires_at is not None

    @property
    def empty_seats(self) -> range:
        return range(self.places_left)


@dataclass(frozen=True)
class MyGroup:
    group_id: int
    state: str  # pending | open | full | refunding | refunded | cancelled
    title: str
    image_key: str | None
    price_fen: int
    size: int
    places_left: int
    expires_at: datetime | None
    order_number: str
    is_leader: bool

    @property
    def has_page(self) -> bool:
        """A group that never opened has no page: its row leads to the order."""
        return self.state not in ("pending", "cancelled")

    @property
    def forming(self) -> bool:
        return self.state == "open"


def for_product(session: Session, product_id: int, now: datetime | None = None) -> ProductOffer | None:
    """The running 拼团 of this product's SKUs, if any (one query; a SKU is in one activity at a time)."""
    rows = session.execute(
        _running_items(now or utcnow()).where(Sku.product_id == product_id, Sku.is_active)
    ).all()
    if not rows:
        return None
    group_buy = rows[0][1]
    prices = {
        item.sku_id: min(item.price_fen, list_fen)
        for item, found, list_fen in rows
        if found.id == group_buy.id
    }
    return ProductOffer(group_buy.id, group_buy.name, group_buy.group_size, prices, min(prices.values()))


def product_mode(session: Session, product_id: int, now: datetime | None = None) -> ProductOffer | None:
    """The product page's 拼团 mode: none while a SKU of the product is in a flash sale on now (the flash
    mode comes first, as on the product page), else the running 拼团 of its SKUs."""
    now = now or utcnow()
    if flash_display.in_flash_mode(session, {product_id}, now):
        return None
    return for_product(session, product_id, now)


@dataclass(frozen=True)
class GroupBuyProduct:
    """A product of a running 拼团 as a list shows it: its lowest group price and list price there."""

    product_id: int
    title: str
    image_key: str | None
    low_fen: int
    list_fen: int
    sku_ids: tuple[int, ...]


@dataclass(frozen=True)
class RunningGroupBuy:
    group_buy_id: int
    name: str
    size: int
    hours: int
    per_user_limit: int | None
    ends_at: datetime
    products: list[GroupBuyProduct]


def running_group_buys(session: Session, now: datetime | None = None) -> list[RunningGroupBuy]:
    """The 拼团 activities running now, ending soonest first, each with its on-shelf products (three
    queries). A product in a 秒杀 on now is left out: its page is in flash mode (`product_mode`)."""
    now = now or utcnow()
    rows = session.execute(
        _running_items(now)
        .add_columns(Sku.product_id)
        .where(Sku.is_active)
        .order_by(GroupBuy.ends_at, GroupBuy.id, GroupBuyItem.id)
    ).all()
    products = {
        product.id: product
        for product in session.scalars(
            select(Product)
            .where(Product.id.in_({row.product_id for row in rows} or {0}), Product.is_on_shelf)
            .options(selectinload(Product.images))
        )
    }
    for product_id in flash_display.in_flash_mode(session, set(products), now):
        del products[product_id]
    found: dict[int, tuple[GroupBuy, dict[int, list]]] = {}
    for item, group_buy, list_fen, product_id in rows:
        if product_id not in products:
            continue
        _found, by_product = found.setdefault(group_buy.id, (group_buy, {}))
        by_product.setdefault(product_id, []).append((min(item.price_fen, list_fen), list_fen, item.sku_id))
    return [
        RunningGroupBuy(
            group_buy_id=group_buy.id,
            name=group_buy.name,
            size=group_buy.group_size,
            hours=group_buy.hours,
            per_user_limit=group_buy.per_user_limit,
            ends_at=group_buy.ends_at,
            products=[
                GroupBuyProduct(
                    product_id=product_id,
                    title=products[product_id].title,
                    image_key=products[product_id].main_image_key,
                    low_fen=min(price for price, _list, _sku in units),
                    list_fen=min(list_fen for _price, list_fen, _sku in units),
                    sku_ids=tuple(sku_id for _price, _list, sku_id in units),
                )
                for product_id, units in by_product.items()
            ],
        )
        for group_buy, by_product in found.values()
    ]


def group_straight(offer: ProductOffer | None, skus: list[Sku]) -> int | None:
    """The SKU the product page's 单独购买 / 发起拼团 buttons go straight to the checkout of: only a product
    whose one SKU is in the 拼团 (with a choice of SKUs, the buttons follow the picker)."""
    if offer is None or len(skus) != 1 or skus[0].id not in offer.prices:
        return None
    return skus[0].id


def open_groups(
    session: Session, group_buy_id: int, now: datetime | None = None, limit: int = OPEN_GROUPS_SHOWN
) -> list[OpenGroup]:
    """A few open groups of an activity with places left, the ones closest to their end first."""
    rows = session.execute(
        select(BuyGroup.id, BuyGroup.size, BuyGroup.seats_taken, BuyGroup.expires_at, User.nickname)
        .join(User, User.id == BuyGroup.leader_id)
        .where(
            BuyGroup.group_buy_id == group_buy_id,
            BuyGroup.status == BuyGroupStatus.OPEN,
            BuyGroup.expires_at > (now or utcnow()),
            BuyGroup.seats_taken < BuyGroup.size,
        )
        .order_by(BuyGroup.expires_at, BuyGroup.id)
        .limit(limit)
    ).all()
    return [
        OpenGroup(row.id, mask_name(row.nickname), row.size - row.seats_taken, row.expires_at) for row in rows
    ]


def _state(group: BuyGroup, refund_states: Iterable[str], now: datetime) -> str:
    """open | full | refunding | refunded (a group whose time is up fails at the next settle: it is shown
    failed at once, its refunds on their way)."""
    if group.status == BuyGroupStatus.FULL:
        return "full"
    if group.status == BuyGroupStatus.OPEN and group.expires_at is not None and group.expires_at > now:
        return "open"
    states = list(refund_states)
    done = (
        group.status == BuyGroupStatus.FAILED and states and all(s == GroupRefundState.DONE for s in states)
    )
    return "refunded" if done else "refunding"


def _live(member: BuyGroupMember) -> bool:
    return member.order is not None and member.order.status in UNPAID_STATUSES + PAID_STATUSES


def group_view(
    session: Session, group_id, viewer_id: int | None, now: datetime | None = None
) -> GroupView | None:
    """The group page's content; None for a group nobody may see (unknown, tampered, never opened)."""
    now = now or utcnow()
    group = group_with_members(session, group_id)
    if group is None or group.status in (BuyGroupStatus.PENDING, BuyGroupStatus.CANCELLED):
        return None
    leader = next((m for m in group.members if m.is_leader), None)
    if leader is None or not leader.order.lines:
        return None
    line = leader.order.lines[0]
    sku = session.get(Sku, line.sku_id) if line.sku_id is not None else None
    seated = [m for m in group.members if m.seat_taken_at is not None]
    users = {
        user.id: user
        for user in session.scalars(select(User).where(User.id.in_([m.user_id for m in seated] or [0])))
    }
    mine = next(
        (m for m in group.members if viewer_id is not None and m.user_id == viewer_id and _live(m)), None
    )
    group_buy = group.group_buy
    item_price = next(
        (item.price_fen for item in group_buy.items if sku and item.sku_id == sku.id), line.unit_fen
    )
    list_fen = sku.price_fen if sku is not None else line.unit_fen
    return GroupView(
        group_id=group.id,
        state=_state(group, [m.refund_state for m in group.members if m.seat_taken_at is not None], now),
        size=group.size,
        places_left=max(0, group.size - group.seats_taken),
        expires_at=group.expires_at,
        product_id=sku.product_id if sku is not None else 0,
        title=line.title,
        image_key=line.image_key,
        spec_text=line.spec_text,
        sku_id=line.sku_id or 0,
        price_fen=min(item_price, list_fen),
        list_fen=list_fen,
        members=[
            Member(
                mask_name(users[m.user_id].nickname) if m.user_id in users else mask_name(""),
                users[m.user_id].avatar_key if m.user_id in users else None,
                m.is_leader,
            )
            for m in seated
        ],
        viewer_is_member=mine is not None,
        viewer_order=mine.order.number if mine is not None else None,
        activity_running=not group_buy.is_stopped and group_buy.starts_at <= now < group_buy.ends_at,
        group_buy_id=group_buy.id,
    )


def my_groups(session: Session, user_id: int, now: datetime | None = None) -> list[MyGroup]:
    """The shopper's own groups, newest first (their orders only)."""
    now = now or utcnow()
    members = session.scalars(
        select(BuyGroupMember)
        .where(BuyGroupMember.user_id == user_id)
        .options(
            selectinload(BuyGroupMember.group).selectinload(BuyGroup.members),
            selectinload(BuyGroupMember.order).selectinload(Order.lines),
        )
        .order_by(BuyGroupMember.id.desc())
        .limit(MY_GROUPS_SHOWN)
    ).all()
    found = []
    for member in members:
        group, order = member.group, member.order
        if group.status in (BuyGroupStatus.PENDING, BuyGroupStatus.CANCELLED):
            state = str(group.status) if member.is_leader else "cancelled"
        elif member.refund_state != GroupRefundState.NONE:
            state = "refunded" if member.refund_state == GroupRefundState.DONE else "refunding"
        else:
            state = _state(group, [m.refund_state for m in group.members if m.seat_taken_at is not None], now)
        line = order.lines[0] if order.lines else None
        found.append(
            MyGroup(
                group_id=group.id,
                state=state,
                title=line.title if line else "",
                image_key=line.image_key if line else None,
                price_fen=order.total_fen,
                size=group.size,
                places_left=max(0, group.size - group.seats_taken),
                expires_at=group.expires_at,
                order_number=order.number,
                is_leader=member.is_leader,
            )
        )
    return found


@dataclass(frozen=True)
class OrderGroup:
    group_id: int
    state: str  # waiting (待成团) | unpaid | pending | full | refunding | refunded | cancelled
    viewable: bool  # the group page exists (it opened)


def for_order(session: Session, order_id: int, now: datetime | None = None) -> OrderGroup | None:
    """The group of a group-buy order, as its order page shows it."""
    member = session.scalar(
        select(BuyGroupMember)
        .where(BuyGroupMember.order_id == order_id)
        .options(selectinload(BuyGroupMember.group))
    )
    if member is None:
        return None
    group = member.group
    viewable = group.status not in (BuyGroupStatus.PENDING, BuyGroupStatus.CANCELLED)
    if member.refund_state != GroupRefundState.NONE:
        state = "refunded" if member.refund_state == GroupRefundState.DONE else "refunding"
    elif group.status == BuyGroupStatus.FULL:
        state = "full"
    elif group.status in (BuyGroupStatus.PENDING, BuyGroupStatus.CANCELLED):
        state = str(group.status)
    elif group.status == BuyGroupStatus.OPEN and group.expires_at > (now or utcnow()):
        state = "waiting"
    else:
        state = "refunding"
    if member.seat_taken_at is None and state in ("waiting", "full"):
        state = "unpaid"  # joined at placement: the seat is taken by paying
    return OrderGroup(group.id, state, viewable)


def product_of_sku(session: Session, sku_id: int | None) -> int | None:
    return session.scalar(select(Sku.product_id).where(Sku.id == sku_id)) if sku_id is not None else None
