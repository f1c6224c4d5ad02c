"""What the marketing endpoints take and answer: coupons, points, member level, 秒杀 and 拼团."""

from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas import MAX_CURSOR, Money

# --- coupons -------------------------------------------------------------------------------------------


class CouponFace(BaseModel):
    """What a coupon gives, as its ticket shows it."""

    template_id: int
    name: str
    kind: Literal["amount", "discount"] = Field(description="amount: money off; discount: a rate (折)")
    value: Money | None = Field(description="The amount off (kind amount)")
    discount_bp: int | None = Field(description="The share of the price paid, 8500 = 8.5折 (kind discount)")
    discount_text: str | None = Field(description="e.g. 8.5折 (kind discount)")
    max_discount: Money | None = Field(description="The most a discount coupon takes off")
    threshold: Money = Field(description="The order amount it needs (0: no minimum)")
    threshold_text: str = Field(description="满¥100可用 / 无门槛, as on the ticket")
    description: str = Field(description="What it gives in words (满100减20…)")
    scope: Literal["all", "products", "categories"] = Field(description="The products it covers")
    include_activity: bool = Field(description="It also applies to activity-priced lines")


class CentreCoupon(CouponFace):
    valid_days: int | None = Field(description="Valid this many days after claiming (else fixed dates)")
    valid_from: str | None = Field(description="ISO 8601, UTC (fixed dates)")
    valid_until: str | None = Field(description="ISO 8601, UTC (fixed dates)")
    validity_text: str = Field(description="The validity line of the H5 centre")
    claim_ends_at: str | None = Field(description="ISO 8601, UTC: the claiming ends then")
    total: int | None = Field(description="How many there are in all; null: unlimited")
    remaining: int | None = Field(description="How many are left to claim; null: unlimited")
    per_user_limit: int
    held: int | None = Field(description="How many the caller holds; null for a guest")
    state: Literal["claimable", "held", "gone"] = Field(
        description="As the H5 centre: claimable, held (the caller is at the limit), gone (none left)"
    )
    can_claim: bool | None = Field(description="The caller may claim one now; null for a guest (unknown)")
    reason: str | None = Field(description="Why not, in Chinese (held, gone, or: log in first)")


class CentreOut(BaseModel):
    items: list[CentreCoupon]


class MyCouponsQuery(BaseModel):
    status: Literal["usable", "used", "expired"] = Field(
        default="usable", description="As the H5 tabs: usable, used, expired"
    )


class MyCoupon(CouponFace):
    id: int = Field(description="The coupon id: pass it as the order's coupon")
    status: Literal["usable", "used", "expired"]
    source: str = Field(description="centre | newcomer | issued | code")
    source_text: str
    valid_from: str = Field(description="ISO 8601, UTC")
    valid_until: str = Field(description="ISO 8601, UTC")
    claimed_at: str = Field(description="ISO 8601, UTC")
    used_at: str | None = Field(description="ISO 8601, UTC")


class MyCouponsOut(BaseModel):
    status: Literal["usable", "used", "expired"]
    items: list[MyCoupon] = Field(description="At most 200, as the H5 page")


# --- points and level -------------------------------------------------------------------------------------


class PointsQuery(BaseModel):
    cursor: str | None = Field(
        default=None, max_length=MAX_CURSOR, description="next_cursor of the page before"
    )
    limit: int = Field(default=20, ge=1, le=100)


class PointsEntryOut(BaseModel):
    id: int
    kind: str = Field(description="earn | spend | return | revoke | expire | adjust")
    kind_text: str
    amount: int = Field(description="Points: positive in, negative out")
    note: str = Field(description="The order number, or the shop's note")
    created_at: str = Field(description="ISO 8601, UTC")
    expires_at: str | None = Field(description="ISO 8601, UTC: when earned points expire")


class PointsOut(BaseModel):
    balance: int
    enabled: bool = Field(description="The shop lets points pay part of an order")
    rules_text: str = Field(description="The rules line of the H5 points page")
    fen_per_point: int = Field(description="What one point takes off, in fen")
    entries: list[PointsEntryOut] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as ?cursor= for older entries; null on the last")


class LevelOut(BaseModel):
    id: int
    name: str
    growth_threshold: int
    discount_bp: int = Field(description="The share of the price paid: 9500 = 9.5折, 10000 = none")
    discount_text: str | None = Field(description="e.g. 9.5折; null without a discount")
    points_multiplier_bp: int
    free_shipping: bool
    perks: list[str] = Field(description="As the H5 member page lists them")


class LevelProgressOut(BaseModel):
    growth: int
    level: LevelOut | None = Field(description="null: below the first level")
    level_name: str = Field(description="The level's name, or 会员 below the first level")
    next_level: LevelOut | None = Field(description="null at the top level")
    needed: int = Field(description="Growth still missing for the next level (0 at the top)")
    needed_text: str | None
    percent: int = Field(description="0–100, towards the next level")
    levels: list[LevelOut] = Field(description="Every level, lowest first")
    growth_rule_text: str


# --- 秒杀 ------------------------------------------------------------------------------------------------


class FlashItemOut(BaseModel):
    flash_item_id: int = Field(description="Name it as the order's flash item to buy at the flash price")
    sku_id: int
    product_id: int
    title: str
    image_url: str
    spec_text: str
    price: Money = Field(description="The flash price")
    list_price: Money
    stock: int = Field(description="Flash units left")
    sold: int
    sold_out: bool
    sold_pct: int = Field(description="0–100, for the progress bar")
    can_buy: bool = Field(description="On now, units left, the product on sale")


class FlashRunOut(BaseModel):
    session_id: int
    name: str
    starts_at: str = Field(description="ISO 8601, UTC")
    ends_at: str = Field(description="ISO 8601, UTC")
    state: Literal["running", "upcoming", "ended"]
    state_text: str
    countdown_to: str | None = Field(description="The end of a running run, the start of an upcoming one")
    items: list[FlashItemOut]


class FlashRunsOut(BaseModel):
    runs: list[FlashRunOut] = Field(description="Today's runs (shop time) in start order, as the H5 tabs")
    chosen: int | None = Field(description="The index of the tab the H5 page opens on")
    server_now: str = Field(description="ISO 8601, UTC: count down against this")


class FlashSessionOut(BaseModel):
    session_id: int
    name: str
    runs: list[FlashRunOut] = Field(description="The session's runs today")
    server_now: str


# --- 拼团 ------------------------------------------------------------------------------------------------


class GroupProductOut(BaseModel):
    product_id: int
    title: str
    image_url: str
    group_price: Money = Field(description="The lowest group price")
    list_price: Money = Field(description="The lowest list price (单独购买)")
    sku_ids: list[int] = Field(description="Its SKUs in the activity")


class GroupBuyOut(BaseModel):
    group_buy_id: int = Field(description="Name it as the order's group_buy to open a group")
    name: str
    size: int = Field(description="People a group needs")
    hours: int = Field(description="A group must fill within this many hours of opening")
    per_user_limit: int | None
    ends_at: str = Field(description="ISO 8601, UTC")
    products: list[GroupProductOut]


class GroupBuysOut(BaseModel):
    items: list[GroupBuyOut]


class GroupMemberOut(BaseModel):
    name: str = Field(description="Masked nickname")
    avatar_url: str | None
    is_leader: bool


class GroupOut(BaseModel):
    group_id: int = Field(description="Name it as the order's group to join it")
    group_buy_id: int | None = Field(description="The activity, while it runs")
    state: Literal["open", "full", "refunding", "refunded"]
    state_text: str
    size: int
    needed: int = Field(description="Places left")
    ends_at: str | None = Field(description="ISO 8601, UTC: the group must fill by then")
    product_id: int
    sku_id: int = Field(description="The SKU to order when joining (one unit)")
    title: str
    image_url: str
    spec_text: str
    price: Money = Field(description="The group price")
    list_price: Money
    members: list[GroupMemberOut]
    viewer_is_member: bool
    viewer_order: str | None = Field(description="The caller's own order number in it")
    can_join: bool = Field(description="As the H5 group page's join button (a guest: after logging in)")
    can_invite: bool
    can_open_another: bool
    server_now: str


class ProductGroupsQuery(BaseModel):
    limit: int = Field(default=3, ge=1, le=20, description="Open groups shown (3 on the H5 product page)")


class OpenGroupOut(BaseModel):
    group_id: int = Field(description="Name it as the order's group to join it")
    leader: str = Field(description="Masked nickname")
    needed: int = Field(description="Places left")
    ends_at: str = Field(description="ISO 8601, UTC")


class GroupSkuOut(BaseModel):
    sku_id: int
    group_price: Money


class ProductGroupsOut(BaseModel):
    group_buy_id: int | None = Field(description="null: the product is in no running 拼团 now")
    name: str | None
    size: int | None
    low_price: Money | None
    skus: list[GroupSkuOut]
    groups: list[OpenGroupOut] = Field(description="Open groups with places left, closest to their end first")
