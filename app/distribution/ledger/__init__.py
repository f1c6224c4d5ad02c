"""Commission money: created frozen when an order is paid, reduced by refunds, released in bulk (or lazily)
once the order has been completed for the freeze days, voided by the merchant, withdrawn.

The ledger is append-only. Every entry and the matching change to a distributor's balances are made
together by `entries.post_entry`, whose balance change is one conditional UPDATE — so balances equal the
sums of the ledger (`audit` proves it), and two withdrawals at once can never take more than is available.

By subject: `entries` (posting, the audit), `commissions` (written at payment, adjusted by refunds, voided,
held by fraud flags), `release` (frozen → available), `withdrawals`. What the rest of the app calls is
named here.
"""

from app.distribution.ledger.commissions import (
    adjust_for_refund,
    clear_flags,
    create_commission_for_order,
    void_order_commission,
)
from app.distribution.ledger.entries import LedgerError, audit, commission_net
from app.distribution.ledger.release import release_due, start_freeze
from app.distribution.ledger.withdrawals import (
    WithdrawalInput,
    approve_withdrawal,
    mark_withdrawal_paid,
    reject_withdrawal,
    request_withdrawal,
    withdrawal_actions,
)

__all__ = [
    "LedgerError",
    "WithdrawalInput",
    "adjust_for_refund",
    "approve_withdrawal",
    "audit",
    "clear_flags",
    "commission_net",
    "create_commission_for_order",
    "mark_withdrawal_paid",
    "reject_withdrawal",
    "release_due",
    "request_withdrawal",
    "start_freeze",
    "void_order_commission",
    "withdrawal_actions",
]
