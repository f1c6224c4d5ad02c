"""A commission's life before it is released: written frozen when an order is paid (with the explanation
of every share and the fraud flags that hold it), reduced when part of the order is refunded, voided by the
merchant, or let go when the merchant clears the flags."""

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.models import Product
from app.distribution import engine, signals
from app.distribution.ledger.entries import LedgerError, commission_net, post_entry
from app.distribution.models import (
    Commission,
    CommissionExplanation,
    CommissionStatus,
    Device,
    Distributor,
    DistributorGrade,
    EntryKind,
)
from app.distribution.services import (
    binding_active,
    distributor_of,
    engine_settings,
    fix_binding_after_first_payment,
    get_settings,
    make_distributor,
    paid_spend_fen,
)
from app.orders.models import Address, Order, OrderStatus
from app.timeutil import utcnow

MANY_ORDERS_FROM_ONE_IP = 5
MANY_ORDERS_WINDOW = timedelta(hours=1)


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
        # A line at an activity price (限时折扣, …) pays commission only when its activity says so.
        activity_off = not line.pays_commission
        lines.append(
            engine.Line(
                base_fen=line.paid_fen,
                qty=line.qty,
                rates_bp=rates,
                commission=not (opted_out or activity_off),
            )
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
                "activity_no_commission": activity_off,
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
        post_entry(
            session,
            distributor_id,
            EntryKind.FROZEN_CREDIT,
            frozen=amount,
            commission_id=commission.id,
            note=order.number,
        )
        commissions.append(commission)
    if commissions:
        signals.commissions_created.send(order, session=session, commissions=commissions)
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
        if commission.status == CommissionStatus.FROZEN:
            kind, balance, held = EntryKind.REVERSAL, "frozen", frozen
        elif commission.status == CommissionStatus.RELEASED:
            kind, balance, held = EntryKind.CLAWBACK, "available", available
        else:
            continue
        if held > target:
            post_entry(
                session,
                commission.distributor_id,
                kind,
                **{balance: target - held},
                commission_id=commission.id,
                note=order.number,
            )


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
            post_entry(
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
