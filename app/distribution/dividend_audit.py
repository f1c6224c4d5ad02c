"""`flask ledger audit`'s dividend checks: the report and the distributor's list read the payout rows, the
balances the ledger — so every payout must have exactly one `dividend` ledger entry of its amount, every
dividend entry a payout, every day's paid_fen the sum of its payouts, and every pool's paid plus remainder
its pool. Grouped queries; the pools (JSON) of all days are read in one."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.distribution.models import DividendDay, DividendPayout, EntryKind, LedgerEntry


def audit(session: Session) -> list[str]:
    """Every dividend figure that does not tie up, as a line for the audit's output (empty: all tie up)."""
    found: list[str] = []
    entries = (
        select(
            LedgerEntry.dividend_payout_id.label("payout_id"),
            func.count(LedgerEntry.id).label("n"),
            func.sum(LedgerEntry.available_delta_fen).label("fen"),
        )
        .where(LedgerEntry.kind == EntryKind.DIVIDEND, LedgerEntry.dividend_payout_id.is_not(None))
        .group_by(LedgerEntry.dividend_payout_id)
        .subquery()
    )
    rows = session.execute(
        select(DividendPayout.id, DividendPayout.amount_fen, entries.c.n, entries.c.fen)
        .outerjoin(entries, entries.c.payout_id == DividendPayout.id)
        .where((entries.c.n.is_(None)) | (entries.c.n != 1) | (entries.c.fen != DividendPayout.amount_fen))
    )
    found.extend(
        f"dividend payout {payout_id}: {amount} fen, but {n or 0} ledger entries of {fen or 0} fen"
        for payout_id, amount, n, fen in rows
    )
    orphans = session.execute(
        select(LedgerEntry.id)
        .outerjoin(DividendPayout, DividendPayout.id == LedgerEntry.dividend_payout_id)
        .where(LedgerEntry.kind == EntryKind.DIVIDEND, DividendPayout.id.is_(None))
    ).scalars()
    found.extend(f"dividend ledger entry {entry_id}: no payout" for entry_id in orphans)
    paid = (
        select(
            DividendPayout.dividend_day_id.label("day_id"), func.sum(DividendPayout.amount_fen).label("fen")
        )
        .group_by(DividendPayout.dividend_day_id)
        .subquery()
    )
    total = func.coalesce(paid.c.fen, 0)
    rows = session.execute(
        select(DividendDay.day, DividendDay.paid_fen, total)
        .outerjoin(paid, paid.c.day_id == DividendDay.id)
        .where(DividendDay.paid_fen != total)
    )
    found.extend(
        f"dividend day {day}: paid {fen} fen, but its payouts add up to {sum_}" for day, fen, sum_ in rows
    )
    for day, pools in session.execute(select(DividendDay.day, DividendDay.pools).order_by(DividendDay.day)):
        for pool in pools or []:
            if int(pool.get("paid_fen", 0)) + int(pool.get("remainder_fen", 0)) != int(
                pool.get("pool_fen", 0)
            ):
                found.append(
                    f"dividend day {day}, pool {pool.get('key')}: paid {pool.get('paid_fen')} + remainder "
                    f"{pool.get('remainder_fen')} != pool {pool.get('pool_fen')}"
                )
    return found
