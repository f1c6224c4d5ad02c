"""Commission money: created frozen when an order is paid, reduced by refunds, released in bulk (or lazily)
once the order has been completed for the freeze days, voided by the merchant, withdrawn.

The ledger is append-only. Every entry and the matching change to a distributor's balances are made
together by `_post`, whose balance change is one conditional UPDATE — so balances equal the sums of the
ledger (`audit` proves it), and two withdrawals at once can never take more than is available.
"""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.models import Product
from app.distribution import engine
from app.distribution.models import (
    Commission,
    CommissionExplanation,
    CommissionStatus,
    Device,
    Distributor,
    DistributorGrade,
    EntryKind,
    LedgerEntry,
    Withdrawal,
    WithdrawalStatus,
)
from app.distribution.services import (
    DistributionError,
    binding_active,
    distributor_of,
    engine_settings,
    fix_binding_after_first_payment,
    get_settings,
    make_distributor,
    paid_spend_fen,
)
from app.money import format_fen
from app.orders.models import Address, Order, OrderStatus, RefundStatus
from app.timeutil import utcnow

MANY_ORDERS_FROM_ONE_IP = 5
MANY_ORDERS_WINDOW = timedelta(hours=1)


class LedgerError(DistributionError):
    pass


# ---------------------------------------------------------------- posting


def _post(
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
    query = update(Distributor).where(Distributor.id == distributor_id)
    if require_available is not None:
        query = query.where(Distributor.available_fen >= require_available)
    if frozen < 0:
        query = query.where(Distributor.frozen_fen + frozen >= 0)
    result = session.execute(
        query.values(
            frozen_fen=Distributor.frozen_fen + frozen,
            available_fen=Distributor.available_fen + available,
            withdrawn_fen=Distributor.withdrawn_fen + withdrawn,
        ).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LedgerError(_l("Not enough available balance."))
    entry = LedgerEntry(
        distributor_id=distributor_id,
        kind=kind,
        commission_id=commission_id,
        withdrawal_id=withdrawal_id,
        frozen_delta_fen=frozen,
        available_delta_fen=available,
        withdrawn_delta_fen=withdrawn,
        note=note[:200],
        created_at=utcnow(),
        created_by_id=actor.id if actor else None,
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


# ---------------------------------------------------------------- creating commission


def _person(session: Session, user: User, now: datetime, grades: dict) -> tuple[engine.Person, dict]:
    distributor = distributor_of(session, user.id)
    grade = grades.get(distributor.grade_id) if distributor and distributor.grade_id else None
    person = engine.Person(
        id=distributor.id if distributor else f"user:{user.id}",
        active=bool(distributor and distributor.is_active),
        is_distributor=bool(distributor and distributor.is_active),
        grade_rates_bp=tuple(grade.rates_bp) if grade and grade.rates_bp is not None else None,
    )
    info = {
        "user_id": user.id,
        "distributor_id": distributor.id if distributor else None,
        "name": user.display_name,
        "active": person.active,
        "grade": grade.name if grade else None,
        "grade_rates_bp": list(grade.rates_bp) if grade and grade.rates_bp is not None else None,
        "bound_at": user.referrer_bound_at.isoformat() if user.referrer_bound_at else None,
        "bound_until": user.referrer_until.isoformat() if user.referrer_until else None,
    }
    return person, info


def _uplines(session: Session, buyer: User, levels: int, now: datetime, grades: dict):
    """The buyer's uplines as they stand now (payment time), nearest first, and why the chain stops."""
    people, infos, stop = [], [], None
    current, seen = buyer, {buyer.id}
    while len(people) < levels + 1:
        if current.referrer_id is None:
            stop = {"after": len(people), "why": "no_binding"}
            break
        if not binding_active(current, now):
            stop = {
                "after": len(people),
                "why": "binding_lapsed",
                "until": current.referrer_until.isoformat(),
            }
            break
        if current.referrer_id in seen:
            stop = {"after": len(people), "why": "cycle"}
            break
        parent = session.get(User, current.referrer_id)
        person, info = _person(session, parent, now, grades)
        people.append(person)
        infos.append(info)
        seen.add(parent.id)
        current = parent
    return people, infos, stop


def create_commission_for_order(session: Session, order: Order) -> list[Commission]:
    """Called once when an order is confirmed paid. Writes the explanation and the frozen credits."""
    settings = get_settings(session)
    now = utcnow()
    explanation = CommissionExplanation(order_id=order.id, data={}, flags=[], created_at=now)
    try:
        with session.begin_nested():
            session.add(explanation)
    except IntegrityError:
        return []  # already created for this order
    if settings.mode == "spend":
        _promote_by_spend(session, order.user)
    if settings.binding_mode == "last":
        fix_binding_after_first_payment(session, order.user_id)
    if not settings.enabled:
        explanation.data = {"enabled": False}
        return []

    grades = {g.id: g for g in session.scalars(select(DistributorGrade))}
    buyer = order.user
    buyer_person, buyer_info = _person(session, buyer, now, grades)
    uplines, upline_infos, stop = _uplines(session, buyer, settings.levels, now, grades)
    config = engine_settings(settings)
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.id.in_([line.product_id for line in order.lines]))
        )
    }
    lines, line_infos = [], []
    for line in order.lines:
        product = products.get(line.product_id)
        rates = (
            tuple(product.commission_rates_bp)
            if product and product.commission_rates_bp is not None
            else None
        )
        opted_out = bool(product and product.commission_opt_out)
        lines.append(
            engine.Line(base_fen=line.paid_fen, qty=line.qty, rates_bp=rates, commission=not opted_out)
        )
        line_infos.append(
            {
                "line_id": line.id,
                "title": line.title,
                "spec": line.spec_text,
                "qty": line.qty,
                "subtotal_fen": line.subtotal_fen,
                "discount_fen": line.discount_fen,
                "base_fen": line.paid_fen,
                "product_rates_bp": list(rates) if rates is not None else None,
                "opted_out": opted_out,
            }
        )
    result = engine.compute(config, buyer_person, uplines, lines)
    chain_infos = ([buyer_info] if result.chain and result.chain[0] is buyer_person else []) + upline_infos
    explanation.data = {
        "enabled": True,
        "settings": {
            "levels": settings.levels,
            "rates_bp": list(settings.rates_bp),
            "self_purchase": settings.self_purchase,
        },
        "buyer": buyer_info,
        "chain": chain_infos[: settings.levels],
        "stop": stop,
        "lines": line_infos,
        "shares": [
            {
                "line": s.line,
                "level": s.level,
                "distributor_id": s.to if isinstance(s.to, int) else None,
                "base_fen": s.base_fen,
                "rate_source": s.rate_source,
                "rate_bp": s.rate_bp,
                "granted_bp": s.granted_bp,
                "amount_fen": s.amount_fen,
                "reason": s.reason,
            }
            for s in result.shares
        ],
    }
    flags = fraud_flags(session, order, [p for p in result.chain if isinstance(p.id, int) and p.active])
    explanation.flags = flags
    commissions = []
    for (distributor_id, level), amount in sorted(result.totals().items(), key=lambda item: item[0][1]):
        if not isinstance(distributor_id, int) or amount <= 0:
            continue
        commission = Commission(
            order_id=order.id,
            distributor_id=distributor_id,
            level=level,
            status=CommissionStatus.FROZEN,
            original_fen=amount,
            held=bool(flags),
            created_at=now,
        )
        session.add(commission)
        session.flush()
        _post(
            session,
            distributor_id,
            EntryKind.FROZEN_CREDIT,
            frozen=amount,
            commission_id=commission.id,
            note=order.number,
        )
        commissions.append(commission)
    return commissions


def _promote_by_spend(session: Session, user: User) -> None:
    settings = get_settings(session)
    if settings.enabled and paid_spend_fen(session, user.id) >= settings.spend_threshold_fen:
        make_distributor(session, user, source="spend")


def fraud_flags(session: Session, order: Order, beneficiaries: list[engine.Person]) -> list[dict]:
    """Signs that a buyer and an upline may be the same person, or that orders are being farmed."""
    flags = []
    for person in beneficiaries:
        distributor = session.get(Distributor, person.id)
        upline = distributor.user
        if upline.id == order.user_id:
            continue  # self-purchase is a setting, not fraud
        if upline.mobile and upline.mobile == order.ship_mobile:
            flags.append({"kind": "same_mobile", "distributor_id": distributor.id})
        shipped_to = _normalise_address(f"{order.ship_region} {order.ship_detail}")
        upline_addresses = session.scalars(select(Address).where(Address.user_id == upline.id))
        if any(_normalise_address(a.full_text) == shipped_to for a in upline_addresses):
            flags.append({"kind": "same_address", "distributor_id": distributor.id})
        buyer_devices = select(Device.device_hash).where(Device.user_id == order.user_id)
        shared_device = session.scalar(
            select(func.count())
            .select_from(Device)
            .where(Device.user_id == upline.id, Device.device_hash.in_(buyer_devices))
        )
        if shared_device or (
            order.device_hash
            and session.scalar(
                select(Device.id).where(Device.user_id == upline.id, Device.device_hash == order.device_hash)
            )
        ):
            flags.append({"kind": "same_device", "distributor_id": distributor.id})
    if order.client_ip_hash and beneficiaries:
        # Orders farmed for one distributor: many from one address within the hour, by shoppers bound to
        # the same referrer (or the same shopper). Strangers behind one carrier NAT are not counted together.
        buyer_referrer = select(User.referrer_id).where(User.id == order.user_id).scalar_subquery()
        recent = session.scalar(
            select(func.count())
            .select_from(Order)
            .join(User, User.id == Order.user_id)
            .where(
                Order.client_ip_hash == order.client_ip_hash,
                Order.created_at >= order.created_at - MANY_ORDERS_WINDOW,
                Order.status != OrderStatus.CANCELLED,
                (User.id == order.user_id) | (User.referrer_id == buyer_referrer),
            )
        )
        if recent >= MANY_ORDERS_FROM_ONE_IP:
            flags.append({"kind": "many_orders_one_ip", "count": int(recent)})
    return flags


def _normalise_address(text: str) -> str:
    return "".join(text.split()).lower()


# ---------------------------------------------------------------- refunds


def adjust_for_refund(session: Session, order: Order) -> None:
    """After a refund, recompute each commission on what is left of the order (with the rates and chain
    recorded at payment time) and write the difference: a reversal while frozen, a claw-back once released."""
    explanation = session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    if explanation is None or not explanation.data.get("enabled"):
        return
    data = explanation.data
    remaining = {line.id: line.paid_fen - line.refunded_fen for line in order.lines}
    amounts: dict[tuple[int, int], int] = {}
    for share in data["shares"]:
        if share["distributor_id"] is None or share["granted_bp"] == 0:
            continue
        line_id = data["lines"][share["line"]]["line_id"]
        key = (share["distributor_id"], share["level"])
        amounts[key] = amounts.get(key, 0) + max(remaining[line_id], 0) * share["granted_bp"] // 10000
    commissions = session.scalars(
        select(Commission).where(
            Commission.order_id == order.id, Commission.status != CommissionStatus.VOIDED
        )
    )
    for commission in commissions:
        frozen, available = commission_net(session, commission.id)
        target = amounts.get((commission.distributor_id, commission.level), 0)
        if commission.status == CommissionStatus.FROZEN and frozen > target:
            _post(
                session,
                commission.distributor_id,
                EntryKind.REVERSAL,
                frozen=target - frozen,
                commission_id=commission.id,
                note=order.number,
            )
        elif commission.status == CommissionStatus.RELEASED and available > target:
            _post(
                session,
                commission.distributor_id,
                EntryKind.CLAWBACK,
                available=target - available,
                commission_id=commission.id,
                note=order.number,
            )


# ---------------------------------------------------------------- release


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
    return released


# ---------------------------------------------------------------- the merchant's hand


def void_order_commission(session: Session, order: Order, *, actor: User, reason: str) -> int:
    """Void an order's commission before release (suspicious order): reversal entries the distributor sees."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise LedgerError(_l("Please give a reason: the distributor will see it."), "reason")
    count = 0
    for commission in session.scalars(select(Commission).where(Commission.order_id == order.id)):
        result = session.execute(
            update(Commission)
            .where(Commission.id == commission.id, Commission.status == CommissionStatus.FROZEN)
            .values(status=CommissionStatus.VOIDED, voided_at=utcnow(), void_reason=reason[:200])
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue
        frozen, _available = commission_net(session, commission.id)
        if frozen:
            _post(
                session,
                commission.distributor_id,
                EntryKind.VOID,
                frozen=-frozen,
                commission_id=commission.id,
                note=f"{order.number} {reason}",
                actor=actor,
            )
        count += 1
    if not count:
        raise LedgerError(_l("There is no frozen commission on this order to void."))
    return count


def clear_flags(session: Session, order: Order, *, actor: User) -> None:
    """The merchant looked at a flagged order and found it fine: its commission follows the normal path."""
    explanation = session.scalar(
        select(CommissionExplanation).where(CommissionExplanation.order_id == order.id)
    )
    if explanation is None or not explanation.flags:
        raise LedgerError(_l("This order has no fraud flag."))
    explanation.flags_cleared_at = utcnow()
    session.execute(
        update(Commission)
        .where(Commission.order_id == order.id)
        .values(held=False)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- withdrawals

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
    _post(
        session,
        distributor.id,
        EntryKind.WITHDRAWAL_HOLD,
        available=-amount,
        withdrawal_id=withdrawal.id,
        require_available=amount,
    )
    session.refresh(distributor)
    return withdrawal


def _withdrawal_transition(
    session: Session, withdrawal: Withdrawal, allowed: tuple, to: str, **values
) -> bool:
    result = session.execute(
        update(Withdrawal)
        .where(Withdrawal.id == withdrawal.id, Withdrawal.status.in_([str(s) for s in allowed]))
        .values(status=str(to), **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(withdrawal)
    return result.rowcount == 1


def withdrawal_actions(withdrawal: Withdrawal) -> set[str]:
    """What the merchant may do with a withdrawal now: approve or reject a request, pay or reject an
    approved one (the transitions check again)."""
    if withdrawal.status == WithdrawalStatus.REQUESTED:
        return {"approve", "reject"}
    if withdrawal.status == WithdrawalStatus.APPROVED:
        return {"pay", "reject"}
    return set()


def approve_withdrawal(session: Session, withdrawal: Withdrawal, *, actor: User) -> None:
    if not _withdrawal_transition(
        session,
        withdrawal,
        (WithdrawalStatus.REQUESTED,),
        WithdrawalStatus.APPROVED,
        decided_at=utcnow(),
        decided_by_id=actor.id,
    ):
        raise LedgerError(_l("This withdrawal has already been handled."))


def mark_withdrawal_paid(session: Session, withdrawal: Withdrawal, *, actor: User, reference: str) -> None:
    reference = (reference or "").strip()
    if not reference or len(reference) > 64:
        raise LedgerError(_l("Please enter the transfer reference (at most 64 characters)."), "reference")
    if not _withdrawal_transition(
        session,
        withdrawal,
        (WithdrawalStatus.APPROVED,),
        WithdrawalStatus.PAID,
        paid_at=utcnow(),
        reference=reference,
    ):
        raise LedgerError(_l("Only approved withdrawals can be marked as paid."))
    _post(
        session,
        withdrawal.distributor_id,
        EntryKind.WITHDRAWAL_PAID,
        withdrawn=withdrawal.amount_fen,
        withdrawal_id=withdrawal.id,
        note=reference,
        actor=actor,
    )


def reject_withdrawal(session: Session, withdrawal: Withdrawal, *, actor: User, reason: str) -> None:
    reason = " ".join((reason or "").split())
    if not reason:
        raise LedgerError(_l("Please give the distributor a reason."), "reason")
    if not _withdrawal_transition(
        session,
        withdrawal,
        (WithdrawalStatus.REQUESTED, WithdrawalStatus.APPROVED),
        WithdrawalStatus.REJECTED,
        reject_reason=reason[:200],
        decided_at=utcnow(),
        decided_by_id=actor.id,
    ):
        raise LedgerError(_l("This withdrawal has already been handled."))
    _post(
        session,
        withdrawal.distributor_id,
        EntryKind.WITHDRAWAL_RETURNED,
        available=withdrawal.amount_fen,
        withdrawal_id=withdrawal.id,
        note=reason,
        actor=actor,
    )


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
            LedgerEntry.distributor_id,
            func.sum(LedgerEntry.frozen_delta_fen).label("frozen"),
            func.sum(LedgerEntry.available_delta_fen).label("available"),
            func.sum(LedgerEntry.withdrawn_delta_fen).label("withdrawn"),
        )
        .group_by(LedgerEntry.distributor_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Distributor.id,
            Distributor.frozen_fen,
            Distributor.available_fen,
            Distributor.withdrawn_fen,
            sums.c.frozen,
            sums.c.available,
            sums.c.withdrawn,
        ).outerjoin(sums, sums.c.distributor_id == Distributor.id)
    )
    mismatches = []
    for row in rows:
        for field, balance, ledger in (
            ("frozen", row[1], row[4]),
            ("available", row[2], row[5]),
            ("withdrawn", row[3], row[6]),
        ):
            if int(balance) != int(ledger or 0):
                mismatches.append(Mismatch(row[0], field, int(balance), int(ledger or 0)))
    return mismatches
