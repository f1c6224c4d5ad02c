"""What the after-sales endpoints take and answer (仅退款 / 退货退款 / 换货), as pydantic models."""

from typing import Literal

from pydantic import BaseModel, Field

from app.api.schemas import Money
from app.orders.models import MAX_AFTERSALES_PHOTOS

Kind = Literal["refund_only", "return_refund", "exchange"]
MAX_LINES = 100
MAX_PHOTO_ID = 400
# Base64 of MAX_IMAGE_BYTES (5 MB) is about 6.7 million characters; the image's own limit is checked after.
MAX_PHOTO_BASE64 = 8 * 1024 * 1024


class KindOption(BaseModel):
    kind: Kind
    label: str = Field(description="仅退款 / 退货退款 / 换货")
    moves_money: bool = Field(description="False for an exchange: no money changes hands")
    reasons: list[str] = Field(description="Send one of these, as written, as `reason`")


class LineOption(BaseModel):
    line_id: int
    title: str
    spec_text: str
    image_url: str | None
    qty: int = Field(description="Units bought")
    paid: Money = Field(description="What the line cost, all units")
    refunded_qty: int
    refundable_qty: int = Field(description="Units that may still be asked for")
    refundable: Money = Field(description="What all the units left would bring back")
    suggested_qty: int = Field(description="What the H5 form starts on: every unit of a single line, else 0")


class PreviewOut(BaseModel):
    """The H5 form's live preview: what the request would bring back."""

    amount: Money = Field(description="Nothing for an exchange")
    shipping: Money = Field(description="The shipping fee, included in amount")
    exchange: bool
    error: str | None = Field(description="Why these units cannot be asked for (the preview shows it)")


class OptionsOut(BaseModel):
    order_id: int
    available: bool = Field(description="Whether an after-sales request can be opened on this order now")
    message: str = Field(description="Why not, when it cannot (Chinese); empty otherwise")
    kinds: list[KindOption]
    default_kind: Kind | None = Field(description="The type the H5 form opens on")
    not_received_reason: str = Field(
        description="Choosing this reason with 仅退款 says the parcel has not arrived (allowed once shipped)"
    )
    other_reason: str = Field(description="Choosing this reason needs a description")
    lines: list[LineOption]
    preview: PreviewOut = Field(description="For suggested_qty of each line and default_kind")
    max_photos: int = MAX_AFTERSALES_PHOTOS
    max_description: int = 150


class ItemIn(BaseModel):
    line_id: int = Field(ge=1, le=2**31 - 1)
    qty: int = Field(ge=0, le=999_999)


class PreviewIn(BaseModel):
    kind: Kind
    items: list[ItemIn] = Field(max_length=MAX_LINES)


class AftersalesIn(BaseModel):
    kind: Kind
    reason: str = Field(max_length=60, description="One of the type's reasons (GET …/aftersales/options)")
    description: str = Field(default="", max_length=150, description="Required with the reason 其他")
    items: list[ItemIn] = Field(min_length=1, max_length=MAX_LINES, description="Units per order line")
    photo_ids: list[str] = Field(
        default_factory=list,
        max_length=MAX_AFTERSALES_PHOTOS,
        description="From POST /uploads/aftersales-photos, by the same user, within a day",
    )


class PhotoIn(BaseModel):
    data: str = Field(
        max_length=MAX_PHOTO_BASE64, description="The picture (JPEG, PNG or WebP), base64-encoded"
    )


class PhotoOut(BaseModel):
    id: str = Field(description="Send in photo_ids of POST /orders/{order_id}/aftersales")


class ReturnShipmentIn(BaseModel):
    carrier_code: str = Field(max_length=24, description="A code from `carriers` of the request")
    tracking_no: str = Field(max_length=40)


class AftersalesLineOut(BaseModel):
    line_id: int
    title: str
    spec_text: str
    qty: int
    amount: Money


class ReturnAddressOut(BaseModel):
    contact: str
    phone: str
    address: str


class ParcelOut(BaseModel):
    carrier: str
    tracking_no: str
    shipped_at: str | None = Field(description="ISO 8601, UTC")
    spec_text: str = Field(default="", description="The replacement's SKU (exchange)")


class CarrierOut(BaseModel):
    code: str
    name: str


class TimelineEntry(BaseModel):
    text: str
    note: str = Field(description="The shop's reason or a parcel's number, when the H5 page shows one")
    at: str = Field(description="ISO 8601, UTC")


class AftersalesSummary(BaseModel):
    id: int
    number: str
    order_id: int
    order_number: str
    kind: Kind
    kind_label: str
    status: str = Field(description="requested, awaiting_return, returning, received, approved, refunded…")
    status_label: str = Field(description="As the H5 order page says it")
    amount: Money | None = Field(description="What it brings back; null for an exchange")
    created_at: str = Field(description="ISO 8601, UTC")


class AftersalesOut(AftersalesSummary):
    reason: str
    lines: list[AftersalesLineOut]
    shipping: Money
    photo_count: int
    photo_urls: list[str] = Field(description="GET each with the bearer token (the pictures are private)")
    next_action: str = Field(description="What the request waits for (Chinese); empty once over")
    shopper_action: Literal["send_return", "none"] = Field(
        description="send_return: POST …/return-shipment with the parcel, to return_address"
    )
    can_cancel: bool = Field(description="Whether POST …/cancel withdraws it now")
    return_address: ReturnAddressOut | None = Field(description="Where to send the goods (send_return)")
    carriers: list[CarrierOut] = Field(description="The carriers to choose from (send_return)")
    return_parcel: ParcelOut | None
    replacement_parcel: ParcelOut | None
    reject_reason: str | None
    timeline: list[TimelineEntry] = Field(description="Newest first, as the H5 page")


class AftersalesQuery(BaseModel):
    page: int = Field(default=1, ge=1, le=10_000)
    limit: int = Field(default=10, ge=1, le=50)


class AftersalesPage(BaseModel):
    items: list[AftersalesSummary]
    page: int
    has_more: bool
