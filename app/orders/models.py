"""Orders and what surrounds them. Order lines copy title, SKU text, price and picture, so later catalog
edits never rewrite history. Amount columns are integer fen."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON, BigInteger, String, Text

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.orders.regions import shown_city
from app.timeutil import utcnow


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    AWAITING_CONFIRMATION = "awaiting_confirmation"  # manual transfer: the shopper says they paid
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"  # everything paid has been refunded: the order is closed


class RefundStatus(StrEnum):
    """After-sales state, kept beside the fulfilment status so that a refund of some units does not stop
    the rest of the order from being shipped and received."""

    NONE = "none"
    REQUESTED = "requested"  # an after-sales request is open
    PARTIAL = "partial"  # some of the order has been refunded
    FULL = "full"


UNPAID_STATUSES = (OrderStatus.PENDING_PAYMENT, OrderStatus.AWAITING_CONFIRMATION)
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED)
REFUNDABLE_STATUSES = PAID_STATUSES  # after-sales may be asked for once paid, until refunded


def refunded_within(refunded: str, whole: str, *, name: str) -> CheckConstraint:
    """What has been refunded of an amount or a quantity: never negative, never more than the whole."""
    return CheckConstraint(f"{refunded} >= 0 AND {refunded} <= {whole}", name=name)


class CartItem(IdPrimaryKey, db.Model):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("user_id", "sku_id", name="uq_cart_items_user_sku"),
        CheckConstraint("qty > 0", name="qty_positive"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"))
    qty: Mapped[int]
    # The price the shopper saw when adding, so the cart can say "price changed".
    seen_price_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    sku = relationship("Sku")


class Address(IdPrimaryKey, db.Model):
    __tablename__ = "addresses"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    recipient: Mapped[str] = mapped_column(String(20))
    mobile: Mapped[str] = mapped_column(String(11))
    province: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(20))
    district: Mapped[str] = mapped_column(String(20))
    # GB/T 2260 codes of the region (app/orders/regions.py); empty on addresses saved before the picker.
    province_code: Mapped[str | None] = mapped_column(String(6))
    city_code: Mapped[str | None] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(12))
    detail: Mapped[str] = mapped_column(String(120))
    is_default: Mapped[bool] = mapped_column(default=False)
    is_deleted: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def region(self) -> str:
        parts = [self.province, shown_city(self.city), self.district]
        return " ".join(dict.fromkeys(p for p in parts if p))

    @property
    def full_text(self) -> str:
        return f"{self.region} {self.detail}"


class Order(IdPrimaryKey, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_orders_user_idempotency"),
        CheckConstraint("total_fen >= 0", name="total_not_negative"),
        refunded_within("refunded_fen", "total_fen", name="refund_within_total"),
        Index("ix_orders_status_expires", "status", "expires_at"),
        # Orders still waiting to become final are few beside the history: a partial index finds them.
        Index(
            "ix_orders_not_final_completed",
            "completed_at",
            sqlite_where=text("final_at IS NULL"),
            postgresql_where=text("final_at IS NULL"),
        ),
    )

    number: Mapped[str] = mapped_column(String(20), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(24), default=OrderStatus.PENDING_PAYMENT, index=True)
    refund_status: Mapped[str] = mapped_column(String(16), default=RefundStatus.NONE, index=True)
    # The refund status to return to when the merchant rejects an open after-sales request.
    refund_status_before: Mapped[str | None] = mapped_column(String(16))
    goods_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # The story of the price (price_basket's answer): the goods at list price, each discount, the points
    # used, and what was applied ([{"kind": "activity" | "member" | "full_reduction" | "coupon" | "points",
    # "fen": …, "name": …}]), kept for the shopper, the merchant and audit.
    list_goods_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    full_reduction_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    coupon_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    applied: Mapped[list | None] = mapped_column(JSON, default=list)
    buyer_note: Mapped[str] = mapped_column(String(200), default="")
    idempotency_key: Mapped[str] = mapped_column(String(64))
    payment_method: Mapped[str | None] = mapped_column(String(16))
    # The address as it was at checkout.
    ship_recipient: Mapped[str] = mapped_column(String(20))
    ship_mobile: Mapped[str] = mapped_column(String(11))
    ship_region: Mapped[str] = mapped_column(String(64))
    ship_detail: Mapped[str] = mapped_column(String(120))
    carrier: Mapped[str | None] = mapped_column(String(32))
    # 快递100's company code (app/orders/carriers.py); None for a carrier typed in, or an order shipped before
    # codes were kept (its carrier is then found by name).
    carrier_code: Mapped[str | None] = mapped_column(String(24))
    tracking_no: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # the dashboard's periods
    shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the carrier says the parcel was signed for (快递100 state 3, ischeck 1): automatic receipt counts
    # from here when known, from shipped_at otherwise.
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # When the order became final: received, the freeze days passed, no after-sales request open — when its
    # commission would be released. Stamped once by the settle job; the dividend turnover of a day is the
    # orders that became final on it.
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    staff_note: Mapped[str] = mapped_column(Text, default="")
    # Salted hashes of where the order came from, for distribution fraud flags (never the raw values).
    client_ip_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    device_hash: Mapped[str | None] = mapped_column(String(64))

    user = relationship("User")
    lines: Mapped[list["OrderLine"]] = relationship(
        back_populates="order", order_by="OrderLine.id", cascade="all, delete-orphan"
    )
    events: Mapped[list["OrderEvent"]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )
    refunds: Mapped[list["Refund"]] = relationship(back_populates="order", order_by="Refund.id")

    @property
    def item_count(self) -> int:
        return sum(line.qty for line in self.lines)

    @property
    def refundable_fen(self) -> int:
        return self.total_fen - self.refunded_fen

    @property
    def open_refund(self) -> "Refund | None":
        return next((r for r in self.refunds if r.status in OPEN_REFUND_STATUSES), None)


class OrderLine(IdPrimaryKey, db.Model):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("qty > 0", name="qty_positive"),
        refunded_within("refunded_qty", "qty", name="refunded_qty_within_qty"),
        refunded_within("refunded_fen", "paid_fen", name="refunded_within_paid"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(60))
    spec_text: Mapped[str] = mapped_column(String(120), default="")
    image_key: Mapped[str | None] = mapped_column(String(80))
    unit_fen: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[int]
    subtotal_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_fen: Mapped[int] = mapped_column(BigInteger)  # subtotal - discount: the commission base
    # Where the unit price came from (list | member | activity), the list price, and the line's share of
    # each order-level discount (they add up to discount_fen) and of the points used.
    list_unit_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    price_kind: Mapped[str] = mapped_column(String(8), default="list", server_default="list")
    activity_kind: Mapped[str | None] = mapped_column(String(8))
    activity_id: Mapped[int | None]
    full_reduction_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    coupon_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_fen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_used: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # An activity line pays commission and earns points only when its activity says so.
    pays_commission: Mapped[bool] = mapped_column(default=True, server_default=true())
    earns_points: Mapped[bool] = mapped_column(default=True, server_default=true())
    refunded_qty: Mapped[int] = mapped_column(default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def refundable_qty(self) -> int:
        return self.qty - self.refunded_qty


class OrderEvent(IdPrimaryKey, db.Model):
    """The audit trail: every transition, who made it and when."""

    __tablename__ = "order_events"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(String(16))  # shopper / staff / system / gateway
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")
    actor = relationship("User")


class RefundRequestStatus(StrEnum):
    REQUESTED = "requested"
    # 退货退款 / 换货: approved, waiting for the shopper to send the goods back; then on their way back.
    AWAITING_RETURN = "awaiting_return"
    RETURNING = "returning"
    # 换货: the returned goods are in; the merchant is to ship the replacement.
    RECEIVED = "received"
    APPROVED = "approved"  # approved; the money is on its way back (gateway, or the merchant pays by hand)
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"  # 换货: the replacement has been shipped (the exchange is over)
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # withdrawn by the shopper
    CLOSED = "closed"  # the shopper did not send the goods back in time


# Until the goods are on their way back, the shopper may withdraw a request (the service, the buttons).
WITHDRAWABLE_REQUEST_STATUSES = (RefundRequestStatus.REQUESTED, RefundRequestStatus.AWAITING_RETURN)


class AfterSalesKind(StrEnum):
    REFUND_ONLY = "refund_only"  # 仅退款
    RETURN_REFUND = "return_refund"  # 退货退款
    EXCHANGE = "exchange"  # 换货


OPEN_REFUND_STATUSES = (
    RefundRequestStatus.REQUESTED,
    RefundRequestStatus.AWAITING_RETURN,
    RefundRequestStatus.RETURNING,
    RefundRequestStatus.RECEIVED,
    RefundRequestStatus.APPROVED,
)
MAX_AFTERSALES_PHOTOS = 6


class Refund(IdPrimaryKey, db.Model):
    """An after-sales request for some units of some lines (or the whole order)."""

    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("amount_fen >= 0", name="amount_not_negative"),)

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    number: Mapped[str] = mapped_column(
        String(32), unique=True
    )  # out_refund_no: the same number refunds once
    status: Mapped[str] = mapped_column(String(16), default=RefundRequestStatus.REQUESTED, index=True)
    kind: Mapped[str] = mapped_column(
        String(16), default=AfterSalesKind.REFUND_ONLY, server_default=AfterSalesKind.REFUND_ONLY.value
    )
    reason: Mapped[str] = mapped_column(String(200))
    # The shopper's photos: private media keys (app/media.save_private_image), at most six.
    photos: Mapped[list | None] = mapped_column(JSON)
    # 退货退款 / 换货: the parcel the shopper sends back, and when the merchant had it.
    return_carrier: Mapped[str | None] = mapped_column(String(32))
    return_carrier_code: Mapped[str | None] = mapped_column(String(24))
    return_tracking_no: Mapped[str | None] = mapped_column(String(40))
    return_shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 换货: the replacement SKU (same product, same price) and its parcel.
    replacement_sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id", ondelete="SET NULL"))
    replacement_spec_text: Mapped[str | None] = mapped_column(String(120))
    replacement_carrier: Mapped[str | None] = mapped_column(String(32))
    replacement_carrier_code: Mapped[str | None] = mapped_column(String(24))
    replacement_tracking_no: Mapped[str | None] = mapped_column(String(40))
    replacement_shipped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    shipping_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    restock: Mapped[bool] = mapped_column(default=False)
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    order: Mapped[Order] = relationship(back_populates="refunds")
    lines: Mapped[list["RefundLine"]] = relationship(back_populates="refund", cascade="all, delete-orphan")


class RefundLine(IdPrimaryKey, db.Model):
    __tablename__ = "refund_lines"
    __table_args__ = (CheckConstraint("qty > 0", name="qty_positive"),)

    refund_id: Mapped[int] = mapped_column(ForeignKey("refunds.id", ondelete="CASCADE"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="RESTRICT"), index=True)
    qty: Mapped[int]
    amount_fen: Mapped[int] = mapped_column(BigInteger)

    refund: Mapped[Refund] = relationship(back_populates="lines")
    order_line = relationship("OrderLine")


class OrderTracking(db.Model):
    """The last answer of 快递100 about a shipped order's parcel: its state code, the trace (newest first,
    [{"time", "context", "status"}]) and when it was fetched; `error` says why the last attempt failed
    (the trace of the last good answer stays)."""

    __tablename__ = "order_trackings"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(4))
    signed: Mapped[bool] = mapped_column(default=False)
    data: Mapped[list | None] = mapped_column(JSON)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    error: Mapped[str | None] = mapped_column(String(200))
