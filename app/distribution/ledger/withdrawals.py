"""Withdrawals: a distributor asks for available money (it leaves `available` at once), the merchant
approves and pays it with a transfer reference, or rejects it and the money goes back."""

import re
from dataclasses import dataclass
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.distribution import signals
from app.distribution.ledger.entries import LedgerError, post_entry
from app.distribution.ledger.release import release_due
from app.distribution.models import Distributor, EntryKind, Withdrawal, WithdrawalStatus
from app.distribution.services import get_settings
from app.money import format_fen
from app.orders.events import transition
from app.timeutil import utcnow

METHODS = ("wechat", "alipay", "bank")


@dataclass
class WithdrawalInput:
    amount_fen: int
    method: str
    real_name: str
    account: str
    bank_name: str = ""
    bank_branch: str = ""


def _check_account(data: WithdrawalInput, problems: list) -> dict:
    """The payee details to store; what is wrong with them is added to `problems` as (field, message)."""
    name = " ".join((data.real_name or "").split())
    account = (data.account or "").strip().replace(" ", "")
    if data.method not in METHODS:
        problems.append(("method", _l("Choose how you want to be paid.")))
        return {}
    if not name or len(name) > 20:
        problems.append(("real_name", _l("Please enter the account holder's real name.")))
    if data.method == "bank":
        if not re.fullmatch(r"[0-9]{12,19}", account):
            problems.append(("account", _l("A bank card number has 12 to 19 digits.")))
        bank = " ".join((data.bank_name or "").split())
        if not bank or len(bank) > 30:
            problems.append(("bank_name", _l("Please enter the bank's name.")))
        return {
            "name": name,
            "account": account,
            "bank": bank,
            "branch": " ".join((data.bank_branch or "").split())[:40],
        }
    if not account or len(account) > 50:
        field_msg = (
            _l("Please enter your WeChat ID or phone number.")
            if data.method == "wechat"
            else _l("Please enter your Alipay account (phone number or email).")
        )
        problems.append(("account", field_msg))
    return {"name": name, "account": account}


def request_withdrawal(session: Session, distributor: Distributor, data: WithdrawalInput) -> Withdrawal:
    """The amount leaves `available` at once. Refused while available is below zero, below the minimum,
    or above what is available — and two requests at once can never both take the same money."""
    settings = get_settings(session)
    problems: list = []
    amount = data.amount_fen
    if not isinstance(amount, int) or amount <= 0:
        problems.append(("amount_fen", _l("Please enter an amount.")))
    elif amount < settings.withdrawal_min_fen:
        minimum = format_fen(settings.withdrawal_min_fen)
        problems.append(("amount_fen", _l("The minimum withdrawal is %(min)s.", min=minimum)))
    account = _check_account(data, problems)
    if problems:  # every mistake in the form at once, not one per try
        (field, message), *more = problems
        raise LedgerError(message, field, more=more)
    if not distributor.is_active:
        raise LedgerError(_l("Your distributor account is disabled."))
    release_due(session, distributor_id=distributor.id)
    session.refresh(distributor)
    if distributor.available_fen < 0:
        raise LedgerError(
            _l(
                "Your available balance is below zero after a refund; withdrawals open again once it is positive."
            )
        )
    if amount > distributor.available_fen:
        raise LedgerError(_l("Not enough available balance."), "amount_fen")
    withdrawal = Withdrawal(
        distributor_id=distributor.id,
        amount_fen=amount,
        fee_fen=amount * settings.withdrawal_fee_bp // 10000,
        method=data.method,
        account=account,
        status=WithdrawalStatus.REQUESTED,
        created_at=utcnow(),
    )
    session.add(withdrawal)
    session.flush()
    try:
        post_entry(
            session,
            distributor.id,
            EntryKind.WITHDRAWAL_HOLD,
            available=-amount,
            withdrawal_id=withdrawal.id,
            require_available=amount,
        )
    except LedgerError as error:  # a request at the same moment took the money first: same answer
        raise LedgerError(error.message, "amount_fen") from None
    session.refresh(distributor)
    return withdrawal


class _Action(NamedTuple):
    starts_from: tuple[WithdrawalStatus, ...]
    leads_to: WithdrawalStatus
    too_late: str  # said when the withdrawal has moved on meanwhile
    entry: EntryKind | None = None  # the ledger entry it posts, moving the amount to `balance`
    balance: str = ""


_HANDLED = _l("This withdrawal has already been handled.")

# The merchant's actions: approve or reject a request, pay or reject an approved one. Paid money counts as
# withdrawn; rejected money goes back to available. withdrawal_actions offers the actions and _act checks
# them again, inside the UPDATE.
ACTIONS = {
    "approve": _Action((WithdrawalStatus.REQUESTED,), WithdrawalStatus.APPROVED, _HANDLED),
    "pay": _Action(
        (WithdrawalStatus.APPROVED,),
        WithdrawalStatus.PAID,
        _l("Only approved withdrawals can be marked as paid."),
        EntryKind.WITHDRAWAL_PAID,
        "withdrawn",
    ),
    "reject": _Action(
        (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED),
        WithdrawalStatus.REJECTED,
        _HANDLED,
        EntryKind.WITHDRAWAL_RETURNED,
        "available",
    ),
}


def withdrawal_actions(withdrawal: Withdrawal) -> set[str]:
    """What the merchant may do with a withdrawal now."""
    return {name for name, action in ACTIONS.items() if withdrawal.status in action.starts_from}


def _act(
    session: Session, withdrawal: Withdrawal, name: str, *, actor: User, note: str = "", **values
) -> None:
    """Apply one of the merchant's actions, only if the withdrawal is still where it starts from, and post
    its ledger entry."""
    action = ACTIONS[name]
    if not transition(session, withdrawal, action.starts_from, action.leads_to, **values):
        raise LedgerError(action.too_late)
    if action.entry is not None:
        post_entry(
            session,
            withdrawal.distributor_id,
            action.entry,
            **{action.balance: withdrawal.amount_fen},
            withdrawal_id=withdrawal.id,
            note=note,
            actor=actor,
        )


def approve_withdrawal(session: Session, withdrawal: Withdrawal, *, actor: User) -> None:
    _act(session, withdrawal, "approve", actor=actor, decided_at=utcnow(), decided_by_id=actor.id)


def mark_withdrawal_paid(session: Session, withdrawal: Withdrawal, *, actor: User, reference: str) -> None:
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise LedgerError(_l("Please enter the transfer reference (at most 64 characters)."), "reference")
    _act(session, withdrawal, "pay", actor=actor, note=reference, paid_at=utcnow(), reference=reference)
    signals.withdrawal_paid.send(withdrawal, session=session)


def reject_withdrawal(session: Session, withdrawal: Withdrawal, *, actor: User, reason: str) -> None:
    reason = " ".join((reason or "").split())
    if not reason:
        raise LedgerError(_l("Please give the distributor a reason."), "reason")
    _act(
        session,
        withdrawal,
        "reject",
        actor=actor,
        note=reason,
        reject_reason=reason[:200],
        decided_at=utcnow(),
        decided_by_id=actor.id,
    )
