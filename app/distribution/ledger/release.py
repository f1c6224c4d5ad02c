"""Frozen commission becomes available: due once its order has been received for the shop's freeze days,
released in bulk by the nightly settle job (or lazily when a distributor's balances are shown)."""

import secrets
from datetime import datetime, timedelta

from sqlalchemy import exists, func, insert, literal, select, update
from sqlalchemy.orm import Session

from app.distribution import grades
from app.distribution.models import Commission, CommissionStatus, Distributor, EntryKind, LedgerEntry
from app.distribution.services import get_settings
from app.orders.models import Order, OrderStatus, RefundStatus
from app.timeutil import utcnow


def start_freeze(session: Session, order: Order) -> None:
    """The order is received: its frozen commission becomes due after the shop's freeze days."""
    release_after = order.completed_at + timedelta(days=get_settings(session).freeze_days)
    session.execute(
        update(Commission)
        .where(Commission.order_id == order.id, Commission.status == CommissionStatus.FROZEN)
        .values(release_after=release_after)
        .execution_options(synchronize_session=False)
    )


def release_due(session: Session, *, now: datetime | None = None, distributor_id: int | None = None) -> int:
    """Frozen → available for every commission whose order has been completed for the freeze days and
    has no open after-sales request. Set-based SQL: one UPDATE marks the batch, one INSERT … SELECT writes
    its entries, one UPDATE moves the balances. Returns how many commissions were released."""
    now = now or utcnow()
    batch = secrets.token_hex(8)
    # release_after (completion + freeze days) picks the few due commissions by index; the order is only
    # asked whether an after-sales request is open right now.
    order_due = exists().where(
        Order.id == Commission.order_id,
        Order.status.in_([OrderStatus.COMPLETED, OrderStatus.REFUNDED]),
        Order.refund_status != RefundStatus.REQUESTED,
    )
    mark = (
        update(Commission)
        .where(
            Commission.status == CommissionStatus.FROZEN,
            Commission.release_after <= now,
            ~Commission.held,
            order_due,
        )
        .values(status=CommissionStatus.RELEASED, released_at=now, release_batch=batch)
        .execution_options(synchronize_session=False)
    )
    if distributor_id is not None:
        mark = mark.where(Commission.distributor_id == distributor_id)
    released = session.execute(mark).rowcount
    if not released:
        return 0
    # Grouped straight from the join: the planner cannot know how many rows the fresh batch marks, and a
    # correlated or IN-subquery form made PostgreSQL re-scan the ledger for each one (minutes at 10⁶ entries).
    frozen = func.sum(LedgerEntry.frozen_delta_fen)
    session.execute(
        insert(LedgerEntry).from_select(
            [
                "distributor_id",
                "kind",
                "commission_id",
                "frozen_delta_fen",
                "available_delta_fen",
                "withdrawn_delta_fen",
                "batch",
                "note",
                "created_at",
            ],
            select(
                Commission.distributor_id,
                literal(EntryKind.RELEASE.value),
                Commission.id,
                -frozen,
                frozen,
                literal(0),
                literal(batch),
                literal(""),
                literal(now, LedgerEntry.created_at.type),
            )
            .join(LedgerEntry, LedgerEntry.commission_id == Commission.id)
            .where(Commission.release_batch == batch)
            .group_by(Commission.id, Commission.distributor_id)
            .having(frozen > 0),
        )
    )
    moved = (
        select(LedgerEntry.distributor_id, func.sum(LedgerEntry.available_delta_fen).label("amount"))
        .where(LedgerEntry.batch == batch)
        .group_by(LedgerEntry.distributor_id)
        .subquery()
    )
    session.execute(
        update(Distributor)
        .where(Distributor.id == moved.c.distributor_id)
        .values(
            frozen_fen=Distributor.frozen_fen - moved.c.amount,
            available_fen=Distributor.available_fen + moved.c.amount,
        )
        .execution_options(synchronize_session=False)
    )
    # Commission earned has grown for everyone in the batch: their grades, and only theirs, are checked.
    grades.check_upgrades(session, select(Commission.distributor_id).where(Commission.release_batch == batch))
    return released
