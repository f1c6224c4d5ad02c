"""Marketing (MARKETING.md): member levels with their growth ledger, points with theirs, 限时折扣 and 满减
campaigns, coupon templates and the coupons shoppers hold. Balances sit on `MemberAccount` and change only
by conditional updates; every change also writes an append-only ledger entry, and `flask ledger audit`
proves one equals the sum of the other."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship
from sqlalchemy.types import JSON, BigInteger, String

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


def discount_in_range() -> CheckConstraint:
    """discount_bp is the share of the price paid (10000 = the full price): above nothing, at most all."""
    return CheckConstraint("discount_bp > 0 AND discount_bp <= 10000", name="discount_in_range")


class MarketingSettings(IdPrimaryKey, db.Model):
    """One row: how points are earned and spent, and how growth is counted."""

    __tablename__ = "marketing_settings"

    points_enabled: Mapped[bool] = mapped_column(default=True)
    earn_per_yuan: Mapped[int] = mapped_column(default=1)  # points per whole yuan of paid goods
    fen_per_point: Mapped[int] = mapped_column(default=1)  # 1: 100 points = ¥1
    points_max_bp: Mapped[int] = mapped_column(default=5000)  # the share of a basket points may pay
    max_points_per_order: Mapped[int | None]
    points_expiry_months: Mapped[int] = mapped_column(default=12)  # 0: never
    growth_per_order: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MemberLevel(IdPrimaryKey, db.Model):
    __tablename__ = "member_levels"
    __table_args__ = (
        discount_in_range(),
        CheckConstraint("points_multiplier_bp >= 0", name="multiplier_not_negative"),
        CheckConstraint("growth_threshold >= 0", name="threshold_not_negative"),
    )

    name: Mapped[str] = mapped_column(String(20))
    growth_threshold: Mapped[int] = mapped_column(unique=True)
    discount_bp: Mapped[int] = mapped_column(default=10000)
    points_multiplier_bp: Mapped[int] = mapped_column(default=10000)
    free_shipping: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberAccount(db.Model):
    """A shopper's growth and points balances and current level (a row appears with the first entry)."""

    __tablename__ = "member_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    growth: Mapped[int] = mapped_column(BigInteger, default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    level_id: Mapped[int | None] = mapped_column(ForeignKey("member_levels.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    level = relationship("MemberLevel")


class PointsKind(StrEnum):
    EARN = "earn"  # an order completed
    SPEND = "spend"  # used at checkout
    RETURN = "return"  # an unpaid order was cancelled, or a refund gave back what it used
    REVOKE = "revoke"  # a refund after completion takes back what the order earned
    EXPIRE = "expire"
    ADJUST = "adjust"  # by the merchant


class MemberEntry(IdPrimaryKey):
    """What the points and the growth ledgers share: append-only entries, amount positive or negative,
    never updated."""

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(BigInteger)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="SET NULL"))
    # For an earn entry: the paid goods (fen) it was earned on, so a later refund takes back its share.
    base_fen: Mapped[int | None] = mapped_column(BigInteger)
    # What this entry answers to, e.g. "earn:order:12" or "return:refund:5": unique, so a retried signal
    # cannot write it twice. None for entries that may repeat (merchant adjustments, expiry runs).
    once_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    note: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PointsEntry(MemberEntry, db.Model):
    """The points ledger (kinds: PointsKind)."""

    __tablename__ = "points_entries"
    __table_args__ = (Index("ix_points_entries_user", "user_id", "id"),)

    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class GrowthEntry(MemberEntry, db.Model):
    """The growth ledger (成长值; kinds earn | revoke | adjust)."""

    __tablename__ = "growth_entries"
    __table_args__ = (Index("ix_growth_entries_user", "user_id", "id"),)

    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))


class Campaign(IdPrimaryKey):
    """What 限时折扣 and 满减 share (app.marketing.campaigns treats them alike): a name, the two moments the
    campaign runs between, and the merchant's stop."""

    @declared_attr.directive
    def __table_args__(cls):
        return (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    name: Mapped[str] = mapped_column(String(30))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    is_stopped: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TimedDiscount(Campaign, db.Model):
    """限时折扣: SKUs at a fixed price or a discount between two moments."""

    __tablename__ = "timed_discounts"

    per_user_limit: Mapped[int | None]
    allow_points: Mapped[bool] = mapped_column(default=False)
    pays_commission: Mapped[bool] = mapped_column(default=False)

    items: Mapped[list["TimedDiscountItem"]] = relationship(
        back_populates="discount", order_by="TimedDiscountItem.id", cascade="all, delete-orphan"
    )


class TimedDiscountItem(IdPrimaryKey, db.Model):
    __tablename__ = "timed_discount_items"
    __table_args__ = (
        UniqueConstraint("discount_id", "sku_id", name="uq_timed_discount_items_sku"),
        CheckConstraint(
            "(price_fen IS NOT NULL AND price_fen >= 0 AND discount_bp IS NULL)"
            " OR (price_fen IS NULL AND discount_bp > 0 AND discount_bp < 10000)",
            name="price_or_discount",
        ),
    )

    discount_id: Mapped[int] = mapped_column(ForeignKey("timed_discounts.id", ondelete="CASCADE"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    price_fen: Mapped[int | None] = mapped_column(BigInteger)
    discount_bp: Mapped[int | None]

    discount: Mapped[TimedDiscount] = relationship(back_populates="items")
    sku = relationship("Sku")


class FullReductionCampaign(Campaign, db.Model):
    """满减 / 满折: tiers over a scope, between two moments. Tiers: [{"threshold_fen", "reduce_fen"} or
    {"threshold_fen", "discount_bp"}], ascending thresholds."""

    __tablename__ = "full_reduction_campaigns"

    tiers: Mapped[list] = mapped_column(JSON, default=list)
    scope_kind: Mapped[str] = mapped_column(String(12), default="all")  # all | products | categories
    scope_ids: Mapped[list] = mapped_column(JSON, default=list)
    include_activity: Mapped[bool] = mapped_column(default=False)
    repeat: Mapped[bool] = mapped_column(default=False)
    max_reduce_fen: Mapped[int | None] = mapped_column(BigInteger)


class CouponKind(StrEnum):
    AMOUNT = "amount"  # 满减券
    DISCOUNT = "discount"  # 折扣券


class CouponChannel(StrEnum):
    CENTRE = "centre"  # claimed in the coupon centre
    NEWCOMER = "newcomer"  # 新人券, given at registration
    ISSUED = "issued"  # the merchant gives it to chosen customers or a level
    CODE = "code"  # a distributor coupon code typed at checkout


class CouponTemplate(IdPrimaryKey, db.Model):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        CheckConstraint("total_qty >= 0", name="total_not_negative"),
        CheckConstraint("total_qty = 0 OR claimed_qty <= total_qty", name="claimed_within_total"),
        CheckConstraint("threshold_fen >= 0 AND value_fen >= 0", name="amounts_not_negative"),
        discount_in_range(),
    )

    name: Mapped[str] = mapped_column(String(30))
    kind: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(10), default=CouponChannel.CENTRE, index=True)
    value_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    discount_bp: Mapped[int] = mapped_column(default=10000)
    max_discount_fen: Mapped[int | None] = mapped_column(BigInteger)
    threshold_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    scope_kind: Mapped[str] = mapped_column(String(12), default="all")
    scope_ids: Mapped[list] = mapped_column(JSON, default=list)
    include_activity: Mapped[bool] = mapped_column(default=False)
    total_qty: Mapped[int] = mapped_column(default=0)  # 0: unlimited
    claimed_qty: Mapped[int] = mapped_column(default=0)
    per_user_limit: Mapped[int] = mapped_column(default=1)
    claim_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)  # fixed dates …
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_days: Mapped[int | None]  # … or this many days after claiming
    is_stopped: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CouponStatus(StrEnum):
    UNUSED = "unused"
    USED = "used"


class Coupon(IdPrimaryKey, db.Model):
    """A coupon a shopper holds. Expired is read from `valid_until`, never written: nothing is deleted."""

    __tablename__ = "coupons"
    __table_args__ = (Index("ix_coupons_user_status", "user_id", "status", "valid_until"),)

    template_id: Mapped[int] = mapped_column(
        ForeignKey("coupon_templates.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(8), default=CouponStatus.UNUSED)
    source: Mapped[str] = mapped_column(String(10))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    template: Mapped[CouponTemplate] = relationship()


class DistributorCode(IdPrimaryKey, db.Model):
    """A distributor's personal coupon code (unique, compared in upper case)."""

    __tablename__ = "distributor_codes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlashSession(IdPrimaryKey, db.Model):
    """秒杀场次: a time of day (shop time) and a duration, every day between two dates or on chosen dates.
    Each run is a FlashSlot row, so "is it on now" is one indexed query and the page cache knows every
    moment a flash price starts or ends. A stopped session is off for good (kept for the record)."""

    __tablename__ = "flash_sessions"
    __table_args__ = (
        CheckConstraint("start_minute >= 0 AND start_minute < 1440", name="start_in_day"),
        CheckConstraint("duration_minutes > 0 AND duration_minutes <= 1440", name="duration_in_day"),
        CheckConstraint("pay_minutes > 0 AND pay_minutes <= 60", name="pay_window"),
    )

    name: Mapped[str] = mapped_column(String(30))
    start_minute: Mapped[int]  # minutes after the shop's midnight
    duration_minutes: Mapped[int]
    repeat: Mapped[str] = mapped_column(String(8), default="daily")  # daily | dates
    dates: Mapped[list] = mapped_column(JSON, default=list)  # the shop dates it runs on, "YYYY-MM-DD"
    pay_minutes: Mapped[int] = mapped_column(default=5)  # the payment window of its orders
    allow_points: Mapped[bool] = mapped_column(default=False)
    pays_commission: Mapped[bool] = mapped_column(default=False)
    is_stopped: Mapped[bool] = mapped_column(default=False)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    slots: Mapped[list["FlashSlot"]] = relationship(
        order_by="FlashSlot.starts_at", cascade="all, delete-orphan", back_populates="flash_session"
    )
    items: Mapped[list["FlashItem"]] = relationship(
        order_by="FlashItem.id", cascade="all, delete-orphan", back_populates="flash_session"
    )


class FlashSlot(IdPrimaryKey, db.Model):
    """One run of a flash session: from starts_at to ends_at (UTC)."""

    __tablename__ = "flash_slots"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    session_id: Mapped[int] = mapped_column(ForeignKey("flash_sessions.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    flash_session: Mapped[FlashSession] = relationship(back_populates="slots")


class FlashItem(IdPrimaryKey, db.Model):
    """A SKU in a flash session: its flash price, the flash stock left (carved out of the SKU's stock, taken
    with it in the order's transaction) and what has been sold, with the limits per customer and per
    order (None: no limit)."""

    __tablename__ = "flash_items"
    __table_args__ = (
        UniqueConstraint("session_id", "sku_id", name="uq_flash_items_sku"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("sold >= 0", name="sold_not_negative"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
    )

    session_id: Mapped[int] = mapped_column(ForeignKey("flash_sessions.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)
    stock: Mapped[int] = mapped_column(default=0)
    sold: Mapped[int] = mapped_column(default=0)
    per_user_limit: Mapped[int | None]
    per_order_limit: Mapped[int | None]

    flash_session: Mapped[FlashSession] = relationship(back_populates="items")
    sku = relationship("Sku")


class GroupBuy(Campaign, db.Model):
    """拼团 activity: its SKUs at a group price between two moments, groups of `group_size` paid shoppers that
    must fill within `hours` of opening (never past the activity's end), at most `per_user_limit` groups a
    shopper takes part in (None: no limit). A stopped activity is off for good (kept for the record)."""

    __tablename__ = "group_buys"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("group_size >= 2 AND group_size <= 10", name="size_in_range"),
        CheckConstraint("hours >= 1 AND hours <= 72", name="hours_in_range"),
    )

    group_size: Mapped[int]
    hours: Mapped[int]  # the time limit of a group, from its opening
    per_user_limit: Mapped[int | None]
    allow_points: Mapped[bool] = mapped_column(default=False)
    pays_commission: Mapped[bool] = mapped_column(default=False)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    items: Mapped[list["GroupBuyItem"]] = relationship(
        back_populates="group_buy", order_by="GroupBuyItem.id", cascade="all, delete-orphan"
    )


class GroupBuyItem(IdPrimaryKey, db.Model):
    """A SKU in a 拼团 activity with its group price (below the list price; the list price is 单独购买)."""

    __tablename__ = "group_buy_items"
    __table_args__ = (
        UniqueConstraint("group_buy_id", "sku_id", name="uq_group_buy_items_sku"),
        CheckConstraint("price_fen >= 0", name="price_not_negative"),
    )

    group_buy_id: Mapped[int] = mapped_column(ForeignKey("group_buys.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    price_fen: Mapped[int] = mapped_column(BigInteger)

    group_buy: Mapped[GroupBuy] = relationship(back_populates="items")
    sku = relationship("Sku")


class BuyGroupStatus(StrEnum):
    PENDING = "pending"  # placed by its leader, not paid yet: nobody sees or joins it
    OPEN = "open"  # the leader paid: others join by paying until it is full or its time is up
    FULL = "full"  # every seat paid: its orders may be shipped
    FAILED = "failed"  # time up (or activity stopped) before it filled: every paid order is refunded
    CANCELLED = "cancelled"  # the leader's order was cancelled unpaid: it never opened


class BuyGroup(IdPrimaryKey, db.Model):
    """一个团: opened when its leader pays, full when `seats_taken` (paid seats, taken by one conditional
    UPDATE each) reaches `size` (the activity's size when it was placed), failed when `expires_at` passes
    first."""

    __tablename__ = "buy_groups"
    __table_args__ = (
        CheckConstraint("seats_taken >= 0 AND seats_taken <= size", name="seats_within_size"),
        Index("ix_buy_groups_status_expires", "status", "expires_at"),
    )

    group_buy_id: Mapped[int] = mapped_column(ForeignKey("group_buys.id", ondelete="RESTRICT"), index=True)
    leader_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=BuyGroupStatus.PENDING)
    size: Mapped[int]
    seats_taken: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    group_buy: Mapped[GroupBuy] = relationship()
    members: Mapped[list["BuyGroupMember"]] = relationship(
        back_populates="group", order_by="BuyGroupMember.id"
    )


class GroupRefundState(StrEnum):
    NONE = "none"  # nothing to give back
    DUE = "due"  # to be refunded (failed group, or paid after the last seat went); pushed until it goes
    SENT = "sent"  # handed over: the gateway's refund notify, or the merchant paying a transfer back, ends it
    DONE = "done"  # the money is back


class BuyGroupMember(IdPrimaryKey, db.Model):
    """A shopper's order in a group: its seat (taken at payment), and when the group failed or was full
    before they paid, the refund of the whole order through its gateway — the refund's number is stable, so
    a retry never refunds twice; a refusal is kept (`refund_error`) and tried again by `flask groups settle`."""

    __tablename__ = "buy_group_members"
    __table_args__ = (
        Index("ix_buy_group_members_user", "user_id", "group_id"),
        Index("ix_buy_group_members_refund_state", "refund_state"),
    )

    group_id: Mapped[int] = mapped_column(ForeignKey("buy_groups.id", ondelete="RESTRICT"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    is_leader: Mapped[bool] = mapped_column(default=False)
    seat_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refund_state: Mapped[str] = mapped_column(String(8), default=GroupRefundState.NONE)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id", ondelete="SET NULL"))
    refund_error: Mapped[str] = mapped_column(String(200), default="")
    refund_attempts: Mapped[int] = mapped_column(default=0)
    refund_tried_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[BuyGroup] = relationship(back_populates="members")
    order = relationship("Order")
