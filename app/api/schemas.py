"""What the API takes and answers, as pydantic models: SpecTree validates with them and documents them."""

from typing import Literal

from pydantic import BaseModel, Field

from app.db_types import MAX_ID
from app.money import format_fen

MAX_CURSOR = 200
SEARCH_MAX = 40  # as the H5 search (app/shop/catalog.py)


class Money(BaseModel):
    """An amount: integer fen (分), and how the shop writes it."""

    fen: int
    display: str = Field(description="e.g. ¥12.30")

    @classmethod
    def of(cls, fen: int | None) -> "Money | None":
        return None if fen is None else cls(fen=fen, display=format_fen(fen))


class LoginIn(BaseModel):
    mobile: str = Field(max_length=40, description="Mainland China mobile number")
    password: str = Field(max_length=128)


class UserOut(BaseModel):
    id: int
    nickname: str
    mobile_masked: str = Field(description="138****5678; empty without a number")
    avatar_url: str | None = None


class TokenOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`")
    token_type: Literal["Bearer"] = "Bearer"
    expires_at: str = Field(description="ISO 8601, UTC")
    user: UserOut


class OkOut(BaseModel):
    ok: bool = True


class ShopOut(BaseModel):
    name: str
    logo_url: str | None
    announcement: str
    service_phone: str


class CategoryOut(BaseModel):
    id: int
    name: str
    icon_url: str | None = None
    children: list["CategoryOut"] = Field(default_factory=list)


class CategoriesOut(BaseModel):
    items: list[CategoryOut]


class ProductsQuery(BaseModel):
    category: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="A category id (with its children)"
    )
    q: str | None = Field(
        default=None, max_length=200, description="Words in the title, subtitle or category"
    )
    sort: Literal["", "sales", "newest", "price", "price_desc"] = Field(
        default="", description='"" the shop\'s order; as the H5 search'
    )
    cursor: str | None = Field(
        default=None, max_length=MAX_CURSOR, description="next_cursor of the page before"
    )
    limit: int = Field(default=20, ge=1, le=50)


class ProductCard(BaseModel):
    id: int
    title: str
    subtitle: str
    image_url: str
    price: Money | None = Field(description="The lowest price shown (member or activity price included)")
    price_high: Money | None
    was: Money | None = Field(description="The list price struck out beside a lower price")
    activity: bool = Field(description="A SKU is in a running activity (限时折扣 / 秒杀)")
    sold_out: bool
    sales_count: int


class ProductPage(BaseModel):
    items: list[ProductCard]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last")


class SkuOut(BaseModel):
    id: int
    values: list[str] = Field(description="One value per option of the product")
    price: Money = Field(description="The unit price shown on the product page")
    original: Money | None = Field(description="Struck-out price, when one is shown")
    stock: int
    in_stock: bool
    activity: bool


class OptionOut(BaseModel):
    name: str
    values: list[str]


class ActivityOut(BaseModel):
    kind: str = Field(description="flash | group | timed")
    name: str
    ends_at: str | None = Field(description="ISO 8601, UTC")


class ProductDetail(BaseModel):
    id: int
    title: str
    subtitle: str
    description: str
    images: list[str]
    detail_images: list[str]
    options: list[OptionOut]
    skus: list[SkuOut]
    price: Money | None
    price_high: Money | None
    price_text: str = Field(description="The price line of the H5 product page (a range)")
    stock: int
    sold_out: bool
    activity: ActivityOut | None
