"""Distribution data: the merchant's rules, distributors and their grades, applications, the binding
log, share-link visits, commissions and the append-only ledger, withdrawals."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON, BigInteger, Date, String

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


class DistributionSettings(IdPrimaryKey, db.Model):
    """One row: the rules of ../shared/DISTRIBUTION.md as the merchant set them."""

    __tablename__ = "distribution_settings"

    enabled: Mapped[bool] = mapped_column(default=True)
    mode: Mapped[str] = mapped_column(String(16), default="apply")  # everyone / apply / spend
    spend_threshold_fen: Mapped[int] = mapped_column(BigInteger, default=10000)
    levels: Mapped[int] = mapped_column(default=2)
    rates_bp: Mapped[list] = mapped_column(JSON, default=lambda: [1000, 500])
    three_levels_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    self_purchase: Mapped[bool] = mapped_column(default=False)
    binding_mode: Mapped[str] = mapped_column(String(8), default="first")  # first / last
    binding_days: Mapped[int] = mapped_column(default=0)  # 0 = permanent
    freeze_days: Mapped[int] = mapped_column(default=7)
    withdrawal_min_fen: Mapped[int] = mapped_column(BigInteger, default=1000)
    withdrawal_fee_bp: Mapped[int] = mapped_column(default=0)
    # Dividend pools (DISTRIBUTION.md "Dividend pools"): off by default, static (a ratio per grade, on the
    # grade) or dynamic (a ratio per chain level, here), caps per distributor, the same acknowledgement as
    # level 3. Days before `dividends_start_on` (the day they were turned on) are never paid.
    dividends_enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    dividend_mode: Mapped[str] = mapped_column(String(8), default="static", server_default="static")
    dividend_level_ratios_bp: Mapped[list] = mapped_column(JSON, default=list)  # dynamic: level 1, 2, 3
    dividends_acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dividends_start_on: Mapped[date | None] = mapped_column(Date)
    dividend_cap_day_fen: Mapped[int | None] = mapped_column(BigInteger)  # None: no cap for that period
    dividend_cap_month_fen: Mapped[int | None] = mapped_column(BigInteger)
    dividend_cap_quarter_fen: Mapped[int | None] = mapped_column(BigInteger)
    dividend_cap_year_fen: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DistributorGrade(IdPrimaryKey, db.Model):
    """A grade: its own rate vector, and the conditions that move a distributor up to it by themselves
    (each None when not asked; none at all: the merchant gives the grade by hand only). Higher `sort`,
    higher grade."""

    __tablename__ = "distributor_grades"

    name: Mapped[str] = mapped_column(String(20))
    rates_bp: Mapped[list | None] = mapped_column(JSON)  # None: use the shop's rates
    sort: Mapped[int] = mapped_column(default=0)
    upgrade_mode: Mapped[str] = mapped_column(String(8), default="all", server_default="all")  # all / any
    min_commission_fen: Mapped[int | None] = mapped_column(BigInteger)
    min_own_spend_fen: Mapped[int | None] = mapped_column(BigInteger)
    min_team_spend_fen: Mapped[int | None] = mapped_column(BigInteger)
    dividend_ratio_bp: Mapped[int] = mapped_column(default=0, server_default="0")  # static dividends


class DistributorStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Distributor(IdPrimaryKey, db.Model):
    """A member who may share and earn. Balances are kept in step with the ledger by conditional updates."""

    __tablename__ = "distributors"
    __table_args__ = (
        CheckConstraint("frozen_fen >= 0", name="frozen_not_negative"),
        CheckConstraint("withdrawn_fen >= 0", name="withdrawn_not_negative"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), unique=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=DistributorStatus.ACTIVE, index=True)
    grade_id: Mapped[int | None] = mapped_column(ForeignKey("distributor_grades.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(16), default="apply")  # apply / everyone / spend / merchant
    real_name: Mapped[str] = mapped_column(String(20), default="")
    frozen_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # May go below zero after a claw-back; withdrawals are refused until it is positive again.
    available_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    withdrawn_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))

    user = relationship("User")
    grade: Mapped[DistributorGrade | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == DistributorStatus.ACTIVE

    @property
    def label(self) -> str:
        """The real name from the application with the shop nickname the rest of the back office shows,
        so the merchant can tell 梅雪（阿梅） in the list is 阿梅 on an order."""
        nickname = self.user.display_name
        if self.real_name and self.real_name != nickname:
            return f"{self.real_name}（{nickname}）"
        return self.real_name or nickname


class GradeChangeKind(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    # The merchant deleted the grade the distributor held: said in the log, but not a judgement of them
    # (unlike MANUAL, it pins nothing, so a lower grade they qualify for is given by the next check).
    GRADE_DELETED = "grade_deleted"


class DistributorGradeLog(IdPrimaryKey, db.Model):
    """Append-only: every grade change, with the three figures at that moment (what an automatic upgrade
    was decided on; for a manual one, what the conditions are measured against afterwards). Grade names are
    copied so that renaming or deleting a grade never rewrites history."""

    __tablename__ = "distributor_grade_logs"
    __table_args__ = (Index("ix_distributor_grade_logs_distributor_id_id", "distributor_id", "id"),)

    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id", ondelete="RESTRICT"))
    from_grade_id: Mapped[int | None] = mapped_column(
        ForeignKey("distributor_grades.id", ondelete="SET NULL")
    )
    to_grade_id: Mapped[int | None] = mapped_column(ForeignKey("distributor_grades.id", ondelete="SET NULL"))
    from_name: Mapped[str | None] = mapped_column(String(20))  # None: no grade (the shop's rates)
    to_name: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    commission_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    own_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    team_spend_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor = relationship("User")


class ApplicationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class DistributorApplication(IdPrimaryKey, db.Model):
    __tablename__ = "distributor_applications"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    real_name: Mapped[str] = mapped_column(String(20))
    mobile: Mapped[str] = mapped_column(String(11))
    reason: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.PENDING, index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    user = relationship("User", foreign_keys=[user_id])


class BindingLog(IdPrimaryKey, db.Model):
    """Every change of a shopper's referrer: who, from whom, to whom, through which link, when."""

    __tablename__ = "binding_logs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    old_parent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    new_parent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str] = mapped_column(String(32))  # first_bind / rebind_last / rebind_lapsed / merchant
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    user = relationship("User", foreign_keys=[user_id])
    old_parent = relationship("User", foreign_keys=[old_parent_id])
    new_parent = relationship("User", foreign_keys=[new_parent_id])


class Visit(IdPrimaryKey, db.Model):
    """A share-link visit: one per visitor per page per day. The IP is kept only as a salted hash."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("distributor_id", "visitor_key", "path", "day", name="uq_visits_once_a_day"),
        Index("ix_visits_distributor_day", "distributor_id", "day"),
        # The reports' date ranges; on PostgreSQL the index carries what they count (an index-only scan
        # instead of a visit to a random heap page for each of a month's visits).
        Index(
            "ix_visits_created_at",
            "created_at",
            postgresql_include=["distributor_id", "product_id", "user_id", "visitor_key"],
        ),
    )

    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id", ondelete="CASCADE"))
    visitor_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    ip_hash: Mapped[str] = mapped_column(String(64))
    in_wechat: Mapped[bool] = mapped_column(default=False)
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommissionStatus(StrEnum):
    FROZEN = "frozen"
    RELEASED = "released"
    VOIDED = "voided"


class Commission(IdPrimaryKey, db.Model):
    """What one distributor earns at one level of one order. Its amounts live in the ledger; this row only
    carries the state that the bulk release and the merchant's void move forward (each exactly once)."""

    __tablename__ = "commissions"
    __table_args__ = (
        UniqueConstraint(
            "order_id", "distributor_id", "level", name="uq_commissions_order_distributor_level"
        ),
        Index("ix_commissions_status_order", "status", "order_id"),
        Index("ix_commissions_status_release_after", "status", "release_after"),
        # A distributor's own commissions: newest first (the list, paged by id), by status (the lazy release
        # before balances are shown, the list's tabs), and by date (earnings today and this month).
        Index("ix_commissions_distributor_id_id", "distributor_id", "id"),
        Index("ix_commissions_distributor_status_id", "distributor_id", "status", "id"),
        Index("ix_commissions_distributor_created", "distributor_id", "created_at"),
        # Held commissions are few: a partial index finds them without tempting the planner to walk every
        # not-held row through a plain index on the flag.
        Index("ix_commissions_held", "held", sqlite_where=text("held"), postgresql_where=text("held")),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id", ondelete="RESTRICT"))
    level: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=CommissionStatus.FROZEN)
    original_fen: Mapped[int] = mapped_column(BigInteger)
    # Held by a fraud flag: stays frozen until the merchant clears or voids it.
    held: Mapped[bool] = mapped_column(default=False)
    release_batch: Mapped[str | None] = mapped_column(String(32), index=True)
    # When the order was received plus the freeze days: set once the order is completed, so that finding
    # what is due never has to look at every order.
    release_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(String(200))

    order = relationship("Order")
    distributor: Mapped[Distributor] = relationship()


class CommissionExplanation(IdPrimaryKey, db.Model):
    """Why each person got what they got on an order, and why others got nothing: the chain at payment
    time, the rate vectors and where they came from, every line's base, rounding, caps and reasons."""

    __tablename__ = "commission_explanations"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    data: Mapped[dict] = mapped_column(JSON)
    flags: Mapped[list] = mapped_column(JSON, default=list)  # fraud flags raised at payment time
    flags_cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EntryKind(StrEnum):
    FROZEN_CREDIT = "frozen_credit"
    RELEASE = "release"
    REVERSAL = "reversal"  # a refund before release reduces frozen commission
    CLAWBACK = "clawback"  # a refund after release takes back available commission
    VOID = "void"  # the merchant voids the commission of a suspicious order
    WITHDRAWAL_HOLD = "withdrawal_hold"
    WITHDRAWAL_PAID = "withdrawal_paid"
    WITHDRAWAL_RETURNED = "withdrawal_returned"
    DIVIDEND = "dividend"  # a day's dividend share, straight to available (its orders are final)


class LedgerEntry(db.Model):
    """Append-only. Each entry moves money between a distributor's frozen, available and withdrawn
    figures; the balances on Distributor always equal the sums of these deltas (`flask ledger audit`)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_distributor_id_id", "distributor_id", "id"),
        Index("ix_ledger_entries_kind_created", "kind", "created_at"),  # the ledger's filters and overview
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(24))
    commission_id: Mapped[int | None] = mapped_column(
        ForeignKey("commissions.id", ondelete="RESTRICT"), index=True
    )
    withdrawal_id: Mapped[int | None] = mapped_column(
        ForeignKey("withdrawals.id", ondelete="RESTRICT"), index=True
    )
    dividend_payout_id: Mapped[int | None] = mapped_column(
        ForeignKey("dividend_payouts.id", ondelete="RESTRICT"), index=True
    )
    frozen_delta_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    available_delta_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    withdrawn_delta_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    batch: Mapped[str | None] = mapped_column(String(32), index=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    commission: Mapped[Commission | None] = relationship()


class DividendDay(IdPrimaryKey, db.Model):
    """One computed day of the dividend job: written once (the unique day is what makes a second run, or
    a concurrent one, pay nothing twice), with the turnover and, per pool, how it was split — what the
    back office's report and the distributor centre explain a share with."""

    __tablename__ = "dividend_days"

    day: Mapped[date] = mapped_column(Date, unique=True)
    mode: Mapped[str] = mapped_column(String(8))  # static / dynamic
    orders: Mapped[int] = mapped_column(default=0)  # orders that became final that day
    turnover_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # Per pool: {"key": "grade:3" | "level:1", "name", "ratio_bp", "pool_fen", "sharers", "paid_fen",
    # "remainder_fen", "capped": [the first 20 distributor ids held back or cut by a cap], "capped_count"}.
    pools: Mapped[list] = mapped_column(JSON, default=list)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    sharers: Mapped[int] = mapped_column(default=0)  # distinct distributors paid
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DividendPayout(IdPrimaryKey, db.Model):
    """One distributor's dividend for one day (at most one: the unique pair), with its ledger entry."""

    __tablename__ = "dividend_payouts"
    __table_args__ = (
        UniqueConstraint("day", "distributor_id", name="uq_dividend_payouts_day_distributor"),
        Index("ix_dividend_payouts_distributor_day", "distributor_id", "day"),
    )

    dividend_day_id: Mapped[int] = mapped_column(
        ForeignKey("dividend_days.id", ondelete="RESTRICT"), index=True
    )
    day: Mapped[date] = mapped_column(Date)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id", ondelete="RESTRICT"))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    parts: Mapped[list] = mapped_column(JSON, default=list)  # [{"key": pool key, "amount_fen"}]
    capped: Mapped[bool] = mapped_column(default=False)  # a cap cut this share
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dividend_day: Mapped[DividendDay] = relationship()
    distributor: Mapped[Distributor] = relationship()


class WithdrawalStatus(StrEnum):
    """Asking holds the amount out of the available balance; the merchant approves, then pays (the amount
    becomes withdrawn), or rejects a requested or approved withdrawal (the amount becomes available again)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"


class Withdrawal(IdPrimaryKey, db.Model):
    __tablename__ = "withdrawals"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    distributor_id: Mapped[int] = mapped_column(
        ForeignKey("distributors.id", ondelete="RESTRICT"), index=True
    )
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    method: Mapped[str] = mapped_column(String(16))  # wechat / alipay / bank
    account: Mapped[dict] = mapped_column(JSON)  # what the method needs: name, account, bank, branch
    status: Mapped[str] = mapped_column(String(16), default=WithdrawalStatus.REQUESTED, index=True)
    reject_reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    distributor: Mapped[Distributor] = relationship()

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.fee_fen


class Device(IdPrimaryKey, db.Model):
    """A browser seen signing in to an account (a hashed cookie id): used only for fraud flags."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "device_hash", name="uq_devices_user_device"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device_hash: Mapped[str] = mapped_column(String(64), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MerchantMilestone(db.Model):
    """A first time the back office remembers (the first poster shared, the checklist hidden): one row per
    key, written once, never changed (app/distribution/checklist.py)."""

    __tablename__ = "merchant_milestones"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
