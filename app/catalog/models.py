"""The catalog: two-level categories, products with option axes (颜色 × 尺寸), one SKU per combination."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON, BigInteger, String, Text

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


class Category(IdPrimaryKey, db.Model):
    __tablename__ = "categories"

    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(32))
    icon_key: Mapped[str | None] = mapped_column(String(80))
    sort: Mapped[int] = mapped_column(default=0)
    is_visible: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped["Category | None"] = relationship(remote_side="Category.id", back_populates="children")
    children: Mapped[list["Category"]] = relationship(
        back_populates="parent", order_by="(Category.sort, Category.id)"
    )

    def __repr__(self) -> str:
        return f"<Category {self.id} {self.name}>"


class Product(IdPrimaryKey, db.Model):
    __tablename__ = "products"
    # The shop lists on-shelf products by weight, newest first: one index serves it (scanned backwards).
    __table_args__ = (Index("ix_products_shelf_order", "is_on_shelf", "sort_weight", "id"),)

    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(60))
    subtitle: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    is_on_shelf: Mapped[bool] = mapped_column(default=False, index=True)
    sort_weight: Mapped[int] = mapped_column(default=0)
    sales_count: Mapped[int] = mapped_column(default=0)
    free_shipping: Mapped[bool] = mapped_column(default=False)
    # Marketing: whether member prices and points apply to this product (MARKETING.md, on by default).
    member_discount: Mapped[bool] = mapped_column(default=True, server_default=true())
    takes_points: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Distribution: the product's own rate vector (basis points per level), or no commission at all.
    commission_rates_bp: Mapped[list | None] = mapped_column(JSON)
    commission_opt_out: Mapped[bool] = mapped_column(default=False)
    # Option axes, e.g. [{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺寸", "values": ["M", "L"]}].
    # Empty for a product without options, which then has exactly one default SKU.
    options: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    category: Mapped[Category | None] = relationship()
    images: Mapped[list["ProductImage"]] = relationship(
        back_populates="product", order_by="ProductImage.position", cascade="all, delete-orphan"
    )
    skus: Mapped[list["Sku"]] = relationship(
        back_populates="product", order_by="Sku.position", cascade="all, delete-orphan"
    )
    detail_images: Mapped[list["ProductDetailImage"]] = relationship(
        back_populates="product", order_by="ProductDetailImage.position", cascade="all, delete-orphan"
    )

    @property
    def main_image_key(self) -> str | None:
        return self.images[0].image_key if self.images else None

    @property
    def active_skus(self) -> list["Sku"]:
        return [sku for sku in self.skus if sku.is_active]

    @property
    def price_range(self) -> tuple[int | None, int | None]:
        prices = [sku.price_fen for sku in self.active_skus]
        return (min(prices), max(prices)) if prices else (None, None)

    @property
    def total_stock(self) -> int:
        return sum(sku.stock for sku in self.active_skus)

    @property
    def is_sold_out(self) -> bool:
        return self.total_stock <= 0

    def __repr__(self) -> str:
        return f"<Product {self.id} {self.title}>"


class ProductImage(IdPrimaryKey, db.Model):
    __tablename__ = "product_images"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    image_key: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)

    product: Mapped[Product] = relationship(back_populates="images")


class ProductDetailImage(IdPrimaryKey, db.Model):
    """A picture under the description on the product page (商品详情图), in the merchant's order. Its size
    (of the 800 px thumbnail the page shows) lets the page hold its place before it loads."""

    __tablename__ = "product_detail_images"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    image_key: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(default=0)
    width: Mapped[int]
    height: Mapped[int]

    product: Mapped[Product] = relationship(back_populates="detail_images")


class Sku(IdPrimaryKey, db.Model):
    """One sellable combination of a product's options. Never deleted once made (orders point at it):
    a combination dropped from the options is deactivated instead."""

    __tablename__ = "skus"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
        CheckConstraint(
            "original_price_fen IS NULL OR original_price_fen >= 0", name="original_price_not_negative"
        ),
        UniqueConstraint("product_id", "spec_key", name="uq_skus_product_spec"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    # The option values in axis order, e.g. ["红", "M"]; [] for the default SKU.
    spec_values: Mapped[list] = mapped_column(JSON, default=list)
    # spec_values joined with a separator no one types, for uniqueness and lookups.
    spec_key: Mapped[str] = mapped_column(String(255), default="")
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    original_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    product: Mapped[Product] = relationship(back_populates="skus")

    @property
    def spec_text(self) -> str:
        """ "红 / M" as shown on the product page, in the cart and on order lines."""
        return " / ".join(self.spec_values or [])

    def __repr__(self) -> str:
        return f"<Sku {self.id} {self.spec_key!r} stock={self.stock}>"
