"""What the mini-program's share endpoints take and answer (app/api/share.py)."""

from pydantic import BaseModel, ConfigDict, Field

from app.db_types import MAX_ID

VISITOR_PATTERN = r"^[0-9A-Za-z]{16,64}$"


class WxacodeQuery(BaseModel):
    product: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="A product id: its 小程序码 (none: the shop home's)"
    )


class VisitIn(BaseModel):
    """What the mini-program sends when a page is opened from a share or a 小程序码: the `scene` (from
    options.scene, URL-decoded, or from the share path's query), or a distributor's `ref` and the
    `product_id`; after login, the `remembered` an anonymous answer gave, to bind."""

    model_config = ConfigDict(extra="forbid")

    scene: str | None = Field(
        default=None, max_length=200, description='The share\'s scene, e.g. "r=abcd2345&p=12"'
    )
    ref: str | None = Field(default=None, max_length=64, description="A distributor's share code")
    product_id: int | None = Field(default=None, ge=1, le=MAX_ID, description="With `ref`: the product")
    remembered: str | None = Field(
        default=None,
        max_length=4000,
        description="What an anonymous visit answered: send it back after login to be bound",
    )
    visitor: str | None = Field(
        default=None,
        pattern=VISITOR_PATTERN,
        description="The id this device was given by an earlier answer (keep it in storage)",
    )


class VisitOut(BaseModel):
    counted: bool = Field(description="A new visit was counted (one per visitor, page and day)")
    ref: str | None = Field(
        description="The distributor whose share this is; null when the link is ignored (an unknown or "
        "disabled code, distribution off, or the shop's own share)"
    )
    product_id: int | None = Field(description="The product the share is of (null: the shop)")
    page: str = Field(description="The mini-program page to show: pages/index/index or pages/product/index")
    bound: bool = Field(description="Signed in: the shopper was bound to this distributor now")
    binding: str | None = Field(
        description="Signed in: what the binding rules did (first_bind, rebind_last, rebind_lapsed; or why "
        "not: kept, fixed, self, cycle, staff, disabled); null for an anonymous visit"
    )
    remembered: str | None = Field(
        description="Anonymous: the share links to keep (storage) and send back as `remembered` after login"
    )
    visitor: str = Field(description="This device's visitor id: send it as `visitor` next time")
