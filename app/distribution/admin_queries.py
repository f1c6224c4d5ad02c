"""What the back office's distribution pages list and count: distributors with their team and sales,
applications, the ledger, withdrawals, the binding log and held orders (the month's overview is in
app.distribution.admin_overview). Every list loads its page in a fixed number of set-based queries,
however many rows it shows."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session, aliased, contains_eager, selectinload

from app.accounts.models import User
from app.catalog.services import _escape_like
from app.db_types import parse_id
from app.distribution.models import (
    ApplicationStatus,
    BindingLog,
    Commission,
    CommissionExplanation,
    CommissionStatus,
    Distributor,
    DistributorApplication,
    DistributorGrade,
    EntryKind,
    LedgerEntry,
    Withdrawal,
    WithdrawalStatus,
)
from app.orders.models import Order
from app.timeutil import local_midnight_utc, utcnow

WITHDRAWAL_TABS = ("requested", "approved", "paid", "rejected")
APPLICATION_TABS = ("pending", "approved", "rejected", "all")


def _like(text: str) -> str:
    return f"%{_escape_like(text)}%"


def _bound_now(user, now: datetime):
    """The user's binding to their referrer has not lapsed."""
    return or_(user.referrer_until.is_(None), user.referrer_until > now)


def distributor_ids_matching(q: str) -> Select:
    """Distributors whose code, real name, nickname or mobile contains the keyword."""
    like = _like(q)
    return (
        select(Distributor.id)
        .join(User, User.id == Distributor.user_id)
        .where(
            or_(
                Distributor.code == q.lower(),
                Distributor.real_name.ilike(like, escape="\\"),
                User.nickname.ilike(like, escape="\\"),
                User.mobile.like(like, escape="\\"),
            )
        )
    )


# ---------------------------------------------------------------- distributors


@dataclass
class DistributorFilters:
    q: str = ""
    status: str = ""  # "", active, disabled
    grade: str = ""  # "", "none" or a grade id as text


def distributors_query(filters: DistributorFilters) -> Select:
    """The distributor list: newest first, each with its member and grade (no query per row)."""
    query = (
        select(Distributor)
        .join(User, User.id == Distributor.user_id)
        .options(contains_eager(Distributor.user), selectinload(Distributor.grade))
    )
    if filters.status in ("active", "disabled"):
        query = query.where(Distributor.status == filters.status)
    if filters.grade == "none":
        query = query.where(Distributor.grade_id.is_(None))
    elif parse_id(filters.grade) is not None:
        query = query.where(Distributor.grade_id == parse_id(filters.grade))
    if filters.q:
        query = query.where(Distributor.id.in_(distributor_ids_matching(filters.q)))
    return query.order_by(Distributor.created_at.desc(), Distributor.id.desc())


@dataclass
class DistributorStats:
    level1: int = 0
    level2: int = 0
    sales_fen: int = 0  # paid minus refunded, of the orders that gave them level-1 commission
    orders: int = 0


def distributor_stats(
    session: Session, distributors: list[Distributor], now: datetime | None = None
) -> dict[int, DistributorStats]:
    """Team size (members bound to them now, and members bound to those) and the sales they brought, for
    a page of distributors: three grouped queries whatever the page size."""
    now = now or utcnow()
    stats = {d.id: DistributorStats() for d in distributors}
    if not distributors:
        return stats
    by_user = {d.user_id: d.id for d in distributors}
    child, parent = aliased(User), aliased(User)
    level1 = session.execute(
        select(child.referrer_id, func.count())
        .where(child.referrer_id.in_(by_user), _bound_now(child, now))
        .group_by(child.referrer_id)
    )
    for user_id, count in level1:
        stats[by_user[user_id]].level1 = count
    level2 = session.execute(
        select(parent.referrer_id, func.count(child.id))
        .join(parent, parent.id == child.referrer_id)
        .where(parent.referrer_id.in_(by_user), _bound_now(child, now), _bound_now(parent, now))
        .group_by(parent.referrer_id)
    )
    for user_id, count in level2:
        stats[by_user[user_id]].level2 = count
    sales = session.execute(
        select(
            Commission.distributor_id,
            func.coalesce(func.sum(Order.total_fen - Order.refunded_fen), 0),
            func.count(),
        )
        .join(Order, Order.id == Commission.order_id)
        .where(
            Commission.distributor_id.in_(stats),
            Commission.level == 1,
            Commission.status != CommissionStatus.VOIDED,
        )
        .group_by(Commission.distributor_id)
    )
    for distributor_id, total, count in sales:
        stats[distributor_id].sales_fen = int(total)
        stats[distributor_id].orders = count
    return stats


def grades(session: Session) -> list[DistributorGrade]:
    return list(
        session.scalars(select(DistributorGrade).order_by(DistributorGrade.sort, DistributorGrade.id))
    )


def grade_member_counts(session: Session) -> dict[int, int]:
    rows = session.execute(
        select(Distributor.grade_id, func.count())
        .where(Distributor.grade_id.is_not(None))
        .group_by(Distributor.grade_id)
    )
    return dict(rows.all())


def team_query(distributor: Distributor, now: datetime | None = None) -> Select:
    """Members bound to this distributor now, newest binding first."""
    now = now or utcnow()
    return (
        select(User)
        .where(User.referrer_id == distributor.user_id, _bound_now(User, now))
        .order_by(User.referrer_bound_at.desc(), User.id.desc())
    )


def team_sizes_below(session: Session, users: list[User], now: datetime | None = None) -> dict[int, int]:
    """How many members each of these users has bound to them now (a level-1 member's own team)."""
    now = now or utcnow()
    ids = [user.id for user in users]
    if not ids:
        return {}
    rows = session.execute(
        select(User.referrer_id, func.count())
        .where(User.referrer_id.in_(ids), _bound_now(User, now))
        .group_by(User.referrer_id)
    )
    return dict(rows.all())


def distributor_user_ids(session: Session, user_ids: list[int]) -> dict[int, Distributor]:
    """Which of these users are distributors (by user id)."""
    if not user_ids:
        return {}
    rows = session.scalars(select(Distributor).where(Distributor.user_id.in_(user_ids)))
    return {d.user_id: d for d in rows}


# ---------------------------------------------------------------- applications


def applications_query(tab: str) -> Select:
    """Pending applications first (oldest first: first come, first served), then decided ones, newest first."""
    query = select(DistributorApplication).options(selectinload(DistributorApplication.user))
    if tab in (ApplicationStatus.PENDING, ApplicationStatus.APPROVED, ApplicationStatus.REJECTED):
        query = query.where(DistributorApplication.status == tab)
    pending_first = case((DistributorApplication.status == ApplicationStatus.PENDING, 0), else_=1)
    return query.order_by(
        pending_first,
        case(
            (DistributorApplication.status == ApplicationStatus.PENDING, DistributorApplication.id),
            else_=-DistributorApplication.id,
        ),
    )


def application_counts(session: Session) -> dict[str, int]:
    rows = dict(
        session.execute(
            select(DistributorApplication.status, func.count()).group_by(DistributorApplication.status)
        ).all()
    )
    counts = {tab: rows.get(tab, 0) for tab in APPLICATION_TABS if tab != "all"}
    counts["all"] = sum(counts.values())
    return counts


# ---------------------------------------------------------------- the ledger


@dataclass
class LedgerFilters:
    q: str = ""  # distributor keyword
    distributor_id: int | None = None
    order: str = ""  # order number (or part of it)
    kind: str = ""
    status: str = ""  # commission status: frozen / released / voided
    date_from: date | None = None
    date_to: date | None = None

    @property
    def active(self) -> bool:
        return any(
            (self.q, self.distributor_id, self.order, self.kind, self.status, self.date_from, self.date_to)
        )


def ledger_query(filters: LedgerFilters) -> Select:
    """Ledger entries, newest first, with their commission and its order (no query per row)."""
    query = select(LedgerEntry).options(selectinload(LedgerEntry.commission).selectinload(Commission.order))
    if filters.distributor_id:
        query = query.where(LedgerEntry.distributor_id == filters.distributor_id)
    if filters.q:
        query = query.where(LedgerEntry.distributor_id.in_(distributor_ids_matching(filters.q)))
    if filters.order:
        commissions = (
            select(Commission.id)
            .join(Order, Order.id == Commission.order_id)
            .where(Order.number.like(_like(filters.order), escape="\\"))
        )
        query = query.where(LedgerEntry.commission_id.in_(commissions))
    if filters.kind in set(EntryKind):
        query = query.where(LedgerEntry.kind == filters.kind)
    if filters.status in set(CommissionStatus):
        query = query.where(
            LedgerEntry.commission_id.in_(select(Commission.id).where(Commission.status == filters.status))
        )
    if filters.date_from:
        query = query.where(LedgerEntry.created_at >= local_midnight_utc(filters.date_from))
    if filters.date_to:
        query = query.where(LedgerEntry.created_at < local_midnight_utc(filters.date_to + timedelta(days=1)))
    return query.order_by(LedgerEntry.id.desc())


def ledger_totals(session: Session, filters: LedgerFilters) -> tuple[int, int, int]:
    """The sums of the filtered entries' frozen, available and withdrawn changes."""
    entries = ledger_query(filters).order_by(None).subquery()
    row = session.execute(
        select(
            func.coalesce(func.sum(entries.c.frozen_delta_fen), 0),
            func.coalesce(func.sum(entries.c.available_delta_fen), 0),
            func.coalesce(func.sum(entries.c.withdrawn_delta_fen), 0),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def distributors_by_id(session: Session, ids) -> dict[int, Distributor]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.scalars(
        select(Distributor).where(Distributor.id.in_(ids)).options(selectinload(Distributor.user))
    )
    return {d.id: d for d in rows}


# ---------------------------------------------------------------- withdrawals


def withdrawals_query(tab: str, q: str = "") -> Select:
    """Withdrawals of one status: waiting ones oldest first (first come, first paid), done ones newest first."""
    tab = tab if tab in WITHDRAWAL_TABS else "requested"
    query = (
        select(Withdrawal)
        .where(Withdrawal.status == tab)
        .options(selectinload(Withdrawal.distributor).selectinload(Distributor.user))
    )
    if q:
        query = query.where(Withdrawal.distributor_id.in_(distributor_ids_matching(q)))
    if tab in ("requested", "approved"):
        return query.order_by(Withdrawal.id)
    return query.order_by(Withdrawal.id.desc())


def withdrawal_counts(session: Session) -> dict[str, int]:
    rows = dict(session.execute(select(Withdrawal.status, func.count()).group_by(Withdrawal.status)).all())
    return {tab: rows.get(tab, 0) for tab in WITHDRAWAL_TABS}


def bank_batch_query() -> Select:
    """Approved bank-card withdrawals, to pay as one bank batch."""
    return (
        select(Withdrawal)
        .where(Withdrawal.status == WithdrawalStatus.APPROVED, Withdrawal.method == "bank")
        .order_by(Withdrawal.id)
    )


# ---------------------------------------------------------------- binding log


def bindings_query(member: str = "", distributor: str = "") -> Select:
    """The binding log, newest first, with the member and both referrers."""
    query = select(BindingLog).options(
        selectinload(BindingLog.user),
        selectinload(BindingLog.old_parent),
        selectinload(BindingLog.new_parent),
    )
    if member:
        like = _like(member)
        members = select(User.id).where(
            or_(User.mobile.like(like, escape="\\"), User.nickname.ilike(like, escape="\\"))
        )
        query = query.where(BindingLog.user_id.in_(members))
    if distributor:
        parents = select(Distributor.user_id).where(Distributor.id.in_(distributor_ids_matching(distributor)))
        query = query.where(or_(BindingLog.new_parent_id.in_(parents), BindingLog.old_parent_id.in_(parents)))
    return query.order_by(BindingLog.created_at.desc(), BindingLog.id.desc())


def distributor_binding_query(distributor: Distributor) -> Select:
    """Every binding change that involves this distributor: members joining or leaving them, and their own."""
    user_id = distributor.user_id
    return (
        select(BindingLog)
        .where(
            or_(
                BindingLog.user_id == user_id,
                BindingLog.new_parent_id == user_id,
                BindingLog.old_parent_id == user_id,
            )
        )
        .options(
            selectinload(BindingLog.user),
            selectinload(BindingLog.old_parent),
            selectinload(BindingLog.new_parent),
        )
        .order_by(BindingLog.created_at.desc(), BindingLog.id.desc())
    )


# ---------------------------------------------------------------- fraud holds


def held_orders_query() -> Select:
    """Orders whose commission is held by a fraud flag that nobody has cleared yet, oldest first."""
    held = select(Commission.order_id).where(Commission.held, Commission.status == CommissionStatus.FROZEN)
    return (
        select(Order)
        .where(Order.id.in_(held))
        .options(selectinload(Order.user))
        .order_by(Order.paid_at, Order.id)
    )


def held_count(session: Session) -> int:
    return session.scalar(
        select(func.count(func.distinct(Commission.order_id))).where(
            Commission.held, Commission.status == CommissionStatus.FROZEN
        )
    )


def explanations_for(session: Session, order_ids: list[int]) -> dict[int, CommissionExplanation]:
    if not order_ids:
        return {}
    rows = session.scalars(select(CommissionExplanation).where(CommissionExplanation.order_id.in_(order_ids)))
    return {row.order_id: row for row in rows}


def frozen_by_order(session: Session, order_ids: list[int]) -> dict[int, int]:
    """What is still frozen of each order's commission (from the ledger)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Commission.order_id, func.coalesce(func.sum(LedgerEntry.frozen_delta_fen), 0))
        .join(LedgerEntry, LedgerEntry.commission_id == Commission.id)
        .where(Commission.order_id.in_(order_ids))
        .group_by(Commission.order_id)
    )
    return {order_id: int(amount) for order_id, amount in rows}


def frozen_holders(session: Session, order_ids: list[int]) -> dict[int, list[Distributor]]:
    """Whose commission on each order is still frozen (what voiding it would take from), level order."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(Commission.order_id, Distributor)
        .join(Distributor, Distributor.id == Commission.distributor_id)
        .where(Commission.order_id.in_(order_ids), Commission.status == CommissionStatus.FROZEN)
        .options(selectinload(Distributor.user))
        .order_by(Commission.order_id, Commission.level)
    )
    holders: dict[int, list[Distributor]] = {}
    for order_id, distributor in rows:
        holders.setdefault(order_id, []).append(distributor)
    return holders


def menu_alerts(session: Session) -> tuple[int, int]:
    """Pending applications and withdrawals waiting for a decision, for the menu badge: one query."""
    pending = (
        select(func.count())
        .select_from(DistributorApplication)
        .where(DistributorApplication.status == ApplicationStatus.PENDING)
        .scalar_subquery()
    )
    requested = (
        select(func.count())
        .select_from(Withdrawal)
        .where(Withdrawal.status == WithdrawalStatus.REQUESTED)
        .scalar_subquery()
    )
    row = session.execute(select(pending, requested)).one()
    return int(row[0]), int(row[1])
