"""What the shop shows of 秒杀 flash sales (app/marketing/flash.py has the rules): today's runs as the
秒杀 page's tabs with their items, whether the home page links there, and the product page's flash mode."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.catalog.models import Sku
from app.marketing.flash import on_now
from app.marketing.models import FlashItem, FlashSession, FlashSlot
from app.timeutil import SHOP_TZ, utcnow

# A run's state as the 秒杀 page's tab and the API say it.
STATE_WORDS = {"running": _l("On now"), "upcoming": _l("Coming up"), "ended": _l("Over")}


@dataclass(frozen=True)
class ShopItem:
    item_id: int
    sku_id: int
    product_id: int
    title: str
    image_key: str | None
    spec_text: str
    price_fen: int
    list_fen: int
    stock: int
    sold: int
    sold_out: bool
    sold_pct: int  # 0–100, for the progress bar
    can_buy: bool


@dataclass(frozen=True)
class ShopRun:
    """One run of a session today, as a tab of the 秒杀 page."""

    session_id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    state: str  # running | upcoming | ended
    countdown_to: datetime | None  # the end of a running run, the start of an upcoming one
    items: list[ShopItem]


def _shop_item(item: FlashItem, state: str) -> ShopItem:
    sku, product = item.sku, item.sku.product
    # Flash stock is capped by the SKU's when saved, but ordinary sales may take the SKU below it since:
    # what can still be bought is the smaller of the two.
    left = max(0, min(item.stock, sku.stock))
    total = left + item.sold
    return ShopItem(
        item_id=item.id,
        sku_id=sku.id,
        product_id=product.id,
        title=product.title,
        image_key=product.main_image_key,
        spec_text=sku.spec_text,
        price_fen=min(item.price_fen, sku.price_fen),
        list_fen=sku.price_fen,
        stock=left,
        sold=item.sold,
        sold_out=left <= 0,
        sold_pct=item.sold * 100 // total if total else 100,
        can_buy=state == "running" and left > 0 and sku.is_active and product.is_on_shelf,
    )


def _state(slot: FlashSlot, now: datetime) -> str:
    if now < slot.starts_at:
        return "upcoming"
    return "running" if now < slot.ends_at else "ended"


def today_runs(session: Session, now: datetime | None = None) -> list[ShopRun]:
    """The runs of today (shop time) and one still on from yesterday, in start order, with their items."""
    now = now or utcnow()
    local_day = now.astimezone(SHOP_TZ).date()
    day_start = datetime.combine(local_day, time.min, tzinfo=SHOP_TZ)
    slots = session.scalars(
        select(FlashSlot)
        .join(FlashSession)
        .where(
            ~FlashSession.is_stopped,
            FlashSlot.ends_at > day_start,
            FlashSlot.starts_at < day_start + timedelta(days=1),
        )
        .options(
            selectinload(FlashSlot.flash_session)
            .selectinload(FlashSession.items)
            .selectinload(FlashItem.sku)
            .selectinload(Sku.product)
        )
        .order_by(FlashSlot.starts_at, FlashSlot.id)
    ).all()
    runs = []
    for slot in slots:
        state = _state(slot, now)
        items = [
            _shop_item(item, state)
            for item in slot.flash_session.items
            if item.sku is not None and item.sku.product is not None and item.sku.product.is_on_shelf
        ]
        runs.append(
            ShopRun(
                session_id=slot.session_id,
                name=slot.flash_session.name,
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                state=state,
                countdown_to={"running": slot.ends_at, "upcoming": slot.starts_at}.get(state),
                items=items,
            )
        )
    return runs


def has_flash_today(session: Session, now: datetime | None = None) -> bool:
    """A run on now or still to come today (one indexed query): the home page then links to the 秒杀 page."""
    now = now or utcnow()
    day_end = datetime.combine(now.astimezone(SHOP_TZ).date(), time.min, tzinfo=SHOP_TZ) + timedelta(days=1)
    found = session.scalar(
        select(FlashSlot.id)
        .join(FlashSession)
        .where(~FlashSession.is_stopped, FlashSlot.ends_at > now, FlashSlot.starts_at < day_end)
        .limit(1)
    )
    return found is not None


def for_product(
    session: Session, product_id: int, now: datetime | None = None
) -> list[tuple[ShopRun, ShopItem]]:
    """The product's SKUs in a run on now (flash mode of the product page), sold out ones too: one query
    (the page has loaded the product and its SKUs already, which the items then find in the session)."""
    now = now or utcnow()
    rows = session.execute(
        select(FlashItem, FlashSlot, FlashSession)
        .join(FlashSession, FlashSession.id == FlashItem.session_id)
        .join(FlashSlot, FlashSlot.session_id == FlashSession.id)
        .join(Sku, Sku.id == FlashItem.sku_id)
        .where(Sku.product_id == product_id, *on_now(now))
        .order_by(FlashSlot.starts_at, FlashItem.id)
    ).all()
    found = []
    for item, slot, flash in rows:
        shown = _shop_item(item, "running")
        run = ShopRun(flash.id, flash.name, slot.starts_at, slot.ends_at, "running", slot.ends_at, [shown])
        found.append((run, shown))
    return found


def in_flash_mode(session: Session, product_ids: set[int], now: datetime | None = None) -> set[int]:
    """Those of these products with a SKU in a run on now, sold out or not: their page is in flash mode (the
    products `for_product` finds something for), in one query for a list."""
    if not product_ids:
        return set()
    return set(
        session.scalars(
            select(Sku.product_id)
            .join(FlashItem, FlashItem.sku_id == Sku.id)
            .join(FlashSession, FlashSession.id == FlashItem.session_id)
            .join(FlashSlot, FlashSlot.session_id == FlashSession.id)
            .where(Sku.product_id.in_(sorted(product_ids)), *on_now(now or utcnow()))
            .distinct()
        )
    )


def chosen_run(runs: list[ShopRun], wanted: int | None) -> int | None:
    """The tab the 秒杀 page opens on: the one asked for, else the run on now, else the next, else the last."""
    if not runs:
        return None
    if wanted is not None and 0 <= wanted < len(runs):
        return wanted
    for state in ("running", "upcoming"):
        found = next((index for index, run in enumerate(runs) if run.state == state), None)
        if found is not None:
            return found
    return len(runs) - 1


def grab_straight(item: ShopItem | None, sku_count: int) -> bool:
    """Whether the product page's 马上抢 button goes straight to the flash SKU's checkout: only when that is
    the product's one SKU. With a choice of SKUs the usual bar follows the picker (the flash SKU is priced at
    its flash price there too, with the same limits), so a shopper never buys another SKU than chosen."""
    return item is not None and item.can_buy and sku_count == 1
