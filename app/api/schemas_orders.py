"""What the cart, quote, address and order endpoints take and answer (app/api/cart.py, addresses.py,
orders.py)."""

from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas import Money
from app.db_types import MAX_ID
from app.orders.cart import MAX_CART_LINES

Id = Field(ge=1, le=MAX_ID)
# Quantities are checked by the cart's own rules (1…999, with its sentences); the schema only keeps the
# number to something a database can hold.
Quantity = Field(ge=-(10**12), le=10**12, description="1 to 999 (the cart's limit)")
POINTS_MAX = 10**9

# --- cart ---------------------------------------------------------------------------------------------


class CartItemIn(BaseModel):
    sku_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(default=1, ge=-(10**12), le=10**12, description="Added to what the cart holds")


class CartQuantityIn(BaseModel):
    quantity: int = Field(ge=-(10**12), le=10**12, description="The line's new quantity, 1 to 999")


class CartLineOut(BaseModel):
    id: int = Field(description="The line's id: its SKU id (the cart holds one line per SKU, as on H5)")
    sku_id: int
    product_id: int | None
    title: str
    sku_values: list[str]
    spec_text: str
    image_url: str | None
    quantity: int
    unit_price: Money = Field(description="The unit price as the basket is priced (level, activity)")
    subtotal: Money
    seen_price: Money | None = Field(description="The price shown when the line was added")
    price_changed: bool
    available: bool = Field(description="Can be bought now (on sale, enough stock)")
    problems: list[str] = Field(description="Why not, as the H5 cart says it")
    max_quantity: int = Field(description="The most this line may be set to now (0: cannot be changed)")
    stock: int


class CartTotalsOut(BaseModel):
    """The cart's summary for the lines counted (every available line), from price_basket."""

    goods: Money
    discount: Money
    full_reduction: Money
    after_offers: Money = Field(description="Goods after 满减 (the cart's 合计, before shipping)")
    shipping: Money
    total: Money
    free_shipping_gap: Money = Field(description="How much more to spend for free shipping (0: none)")
    promo: str = Field(description="The 满减 hint line (e.g. 再买 ¥12.00 减 ¥20.00); empty without one")
    promo_name: str


class CartOut(BaseModel):
    lines: list[CartLineOut]
    count: int = Field(description="Units in the cart (the cart tab's badge)")
    chosen_count: int = Field(description="Units in the available lines")
    totals: CartTotalsOut
    max_lines: int = MAX_CART_LINES


# --- quote --------------------------------------------------------------------------------------------


class BasketItemIn(BaseModel):
    sku_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(ge=-(10**12), le=10**12, description="1 to 999")


class BasketIn(BaseModel):
    """A basket as the H5 checkout takes it: lines of the cart (`cart_sku_ids`; none: the whole cart) or
    explicit items (the product page's 立即购买), with the offers asked for."""

    items: list[BasketItemIn] | None = Field(
        default=None,
        max_length=MAX_CART_LINES,
        description="Explicit lines (立即购买); leave out to buy from the cart",
    )
    cart_sku_ids: list[int] | None = Field(
        default=None,
        max_length=MAX_CART_LINES,
        description="The cart's ticked lines by SKU id; empty or left out: the whole cart",
    )
    coupon_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="The coupon to use; left out: the best one"
    )
    no_coupon: bool = Field(default=False, description="Use no coupon (the picker's 不使用优惠券)")
    use_points: bool = Field(default=False, description="The points switch")
    points: int | None = Field(
        default=None,
        ge=0,
        le=POINTS_MAX,
        description="Points to use with use_points; left out: as many as may be used",
    )
    address_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="The delivery address; left out: the default one"
    )
    flash_item_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="秒杀: the flash item bought (one item only)"
    )
    group_buy_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="拼团: open a group of this activity (one item only)"
    )
    group_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="拼团: join this group (one item only)"
    )


class OrderIn(BasketIn):
    address_id: int = Field(ge=1, le=MAX_ID)
    buyer_note: str = Field(default="", max_length=200)
    expected_total_fen: int | None = Field(
        default=None,
        ge=0,
        le=10**13,
        description="The total the shopper saw (the quote's); a different price now refuses the order",
    )


class QuoteLineOut(BaseModel):
    sku_id: int
    product_id: int
    title: str
    spec_text: str
    image_url: str | None
    quantity: int
    list_unit_price: Money
    unit_price: Money
    unit_kind: Literal["activity", "member", "list"] = Field(description="Where the unit price came from")
    activity: str | None = Field(description="flash | group | timed, when the line is in one")
    subtotal: Money
    full_reduction: Money
    coupon: Money
    points: Money
    discount: Money
    paid: Money
    seen_price: Money | None
    price_changed: bool


class UnavailableLineOut(BaseModel):
    sku_id: int
    title: str
    quantity: int
    problems: list[str]


class DiscountOut(BaseModel):
    kind: Literal["activity", "member", "full_reduction", "coupon", "points"]
    label: str = Field(description="As the H5 price story says it: 会员价, 满减, 优惠券…")
    amount: Money
    name: str = Field(description="The campaign's or coupon's name, or the points used in words")
    points: int | None = None


class AmountRowOut(BaseModel):
    label: str
    amount: Money
    kind: Literal["goods", "minus", "shipping", "total"]
    note: str


class CouponChoiceOut(BaseModel):
    id: int
    name: str
    description: str = Field(description="e.g. 满100减20")
    valid_until: str = Field(description="ISO 8601, UTC")
    saves: Money
    total: Money = Field(description="The basket's total with this coupon")
    chosen: bool


class QuotePointsOut(BaseModel):
    enabled: bool
    balance: int
    usable: int = Field(description="The most points this basket can use (what the switch offers)")
    usable_value: Money
    used: int
    value: Money


class AddressOut(BaseModel):
    id: int
    recipient: str
    mobile: str
    province: str
    city: str
    district: str
    district_code: str | None
    detail: str
    region: str
    full_text: str
    is_default: bool


class QuoteOut(BaseModel):
    lines: list[QuoteLineOut]
    unavailable: list[UnavailableLineOut] = Field(description="Cart lines that cannot be bought now")
    list_goods: Money = Field(description="The goods at list price")
    goods: Money = Field(description="The goods at their unit prices (activity / member)")
    full_reduction: Money
    coupon: Money
    points_fen: Money
    discount: Money = Field(description="满减 + coupon + points")
    shipping: Money
    total: Money = Field(description="The total payable")
    discounts: list[DiscountOut] = Field(description="Each step price_basket applied, in order")
    amount_rows: list[AmountRowOut] = Field(description="The H5 checkout's amount rows")
    coupons: list[CouponChoiceOut] = Field(description="The coupons usable for this basket, best first")
    coupon_id: int | None = Field(description="The coupon in use")
    points: QuotePointsOut
    address: AddressOut | None
    pay_minutes: int = Field(description="Minutes to pay once placed")
    can_submit: bool
    expected_total_fen: int = Field(description="Send with POST /orders")


# --- addresses ----------------------------------------------------------------------------------------


class AddressIn(BaseModel):
    recipient: str = Field(max_length=100)
    mobile: str = Field(max_length=40)
    province: str = Field(default="", max_length=40)
    city: str = Field(default="", max_length=40)
    district: str = Field(default="", max_length=40)
    district_code: str | None = Field(
        default=None, max_length=12, description="GB/T 2260 code (WeChat's nationalCode)"
    )
    detail: str = Field(max_length=400)
    is_default: bool = False


class AddressesOut(BaseModel):
    items: list[AddressOut]
    max_addresses: int


# --- orders -------------------------------------------------------------------------------------------


class OrdersQuery(BaseModel):
    tab: Literal["all", "unpaid", "to_ship", "to_receive", "done", "after_sales"] = "all"
    page: int = Field(default=1, ge=1, le=10_000)
    per_page: int = Field(default=10, ge=1, le=50)


class OrderHeaders(BaseModel):
    """Checked by the view (a missing or bad key is a 400, not a 422): declared here for the description."""

    idempotency_key: str | None = Field(
        default=None,
        alias="Idempotency-Key",
        description="Required: 1 to 64 printable ASCII characters, new for each order the shopper places; "
        "send the same one again to retry without placing a second order",
    )


class OrderLineOut(BaseModel):
    id: int
    product_id: int | None
    sku_id: int | None
    title: str
    spec_text: str
    image_url: str | None
    quantity: int
    list_unit_price: Money
    unit_price: Money
    subtotal: Money
    discount: Money
    paid: Money
    refunded_quantity: int


class TrackingOut(BaseModel):
    carrier: str
    tracking_no: str
    link: str | None
    state: str
    latest: str = Field(description="The newest tracking line, when fetched")
    fetched_at: str | None


class OrderSummaryOut(BaseModel):
    id: int
    number: str
    status: str
    status_label: str
    refund_status: str
    refund_label: str
    created_at: str
    total: Money
    item_count: int
    lines: list[OrderLineOut]
    actions: list[str]


class OrderOut(OrderSummaryOut):
    status_hint: str
    goods: Money
    list_goods: Money
    discount: Money
    full_reduction: Money
    coupon: Money
    points_used: int
    points_fen: Money
    shipping: Money
    refunded: Money
    amount_rows: list[AmountRowOut]
    discounts: list[DiscountOut]
    buyer_note: str
    address: dict[str, str] = Field(description="recipient, mobile, region, detail as at checkout")
    awaits_payment: bool
    payable: Money = Field(description="What is still to pay (0 once paid)")
    pay_before: str | None = Field(description="ISO 8601, UTC: unpaid orders are cancelled then")
    paid_at: str | None
    shipped_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    payment_method: str | None
    tracking: TrackingOut | None


class OrderPage(BaseModel):
    items: list[OrderSummaryOut]
    page: int
    pages: int
    total: int
