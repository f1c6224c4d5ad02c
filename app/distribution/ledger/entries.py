"""The ledger itself: append-only entries, each posted together with the same change to a distributor's
balances in one conditional UPDATE (`post_entry`), so balances always equal the sums of the ledger —
`audit` proves it — and two withdrawals at once can never take more than is available."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.distribution.models import Distributor, EntryKind, LedgerEntry
from app.distribution.services import DistributionError
from app.timeutil import utcnow


class LedgerError(DistributionError):
    pass


# A distributor's three balances, each with the ledger column that moves it.
BALANCES = (
    ("frozen", Distributor.frozen_fen, LedgerEntry.frozen_delta_fen),
    ("available", Distributor.available_fen, LedgerEntry.available_delta_fen),
    ("withdrawn", Distributor.withdrawn_fen, LedgerEntry.withdrawn_delta_fen),
)


def post_entry(
    session: Session,
    distributor_id: int,
    kind: EntryKind,
    *,
    frozen: int = 0,
    available: int = 0,
    withdrawn: int = 0,
    commission_id: int | None = None,
    withdrawal_id: int | None = None,
    note: str = "",
    actor: User | None = None,
    require_available: int | None = None,
) -> LedgerEntry:
    """Write one entry and move the balances by the same deltas, in one conditional UPDATE.
    `require_available`: refuse unless at least this much is available (withdrawals)."""
    moves = {"frozen": frozen, "available": available, "withdrawn": withdrawn}
    query = update(Distributor).where(Distributor.id == distributor_id)
    if require_available is not None:
        query = query.where(Distributor.available_fen >= require_available)
    if frozen < 0:
        query = query.where(Distributor.frozen_fen + frozen >= 0)
    result = session.execute(
        query.values(
            {balance: balance + moves[name] for name, balance, _delta in BALANCES}
        ).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LedgerError(_l("Not enough available balance."))
    entry = LedgerEntry(
        distributor_id=distributor_id,
        kind=kind,
        commission_id=commission_id,
        withdrawal_id=withdrawal_id,
        note=note[:200],
        created_at=utcnow(),
        created_by_id=actor.id if actor else None,
        **{delta.key: moves[name] for name, _balance, delta in BALANCES},
    )
    session.add(entry)
    session.flush()
    return entry


def commission_net(session: Session, commission_id: int) -> tuple[int, int]:
    """(frozen, available) still carried by one commission, from its ledger entries."""
    row = session.execute(
        select(
            func.coalesce(func.sum(LedgerEntry.frozen_delta_fen), 0),
            func.coalesce(func.sum(LedgerEntry.available_delta_fen), 0),
        ).where(LedgerEntry.commission_id == commission_id)
    ).one()
    return int(row[0]), int(row[1])


# ---------------------------------------------------------------- audit


@dataclass
class Mismatch:
    distributor_id: int
    field: str
    balance: int
    ledger: int


def audit(session: Session) -> list[Mismatch]:
    """Every distributor's frozen, available and withdrawn equal the sums of their ledger entries."""
    sums = (
        select(
            LedgerEntry.distributor_id, *(func.sum(delta).label(name) for name, _balance, delta in BALANCES)
        )
        .group_by(LedgerEntry.distributor_id)
        .subquery()
    )
    names = [name for name, _balance, _delta in BALANCES]
    rows = session.execute(
        select(
            Distributor.id,
            *(balance for _name, balance, _delta in BALANCES),
            *(sums.c[name] for name in names),
        ).outerjoin(sums, sums.c.distributor_id == Distributor.id)
    )
    mismatches = []
    for distributor_id, *figures in rows:
        held, posted = figures[: len(names)], figures[len(names) :]
        for name, balance, ledger in zip(names, held, posted, strict=True):
            if int(balance) != int(ledger or 0):
                mismatches.append(Mismatch(distributor_id, name, int(balance), int(ledger or 0)))
    return mismatches
