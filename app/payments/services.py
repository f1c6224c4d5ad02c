"""Payment rules. `confirm_payment` is the single entry every provider's notify (or the merchant's
confirmation of a manual transfer) goes through: idempotent, amount-checked, moves the order to paid
exactly once. Money that arrives for an order that cannot take it any more is kept and flagged."""

from dataclasses import dataclass
from enum import StrEnum

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.orders import signals
from app.orders.access import require_buyer
from app.orders.events import OrderError, change_status, record_event
from app.orders.models import Order, OrderStatus, Refund, RefundRequestStatus
from app.orders.refunds import complete_refund
from app.orders.transitions import expire_if_due, mark_paid
from app.payments import get_provider
from app.payments.gateways import payment_settings
from app.payments.models import Payment, PaymentStatus
from app.timeutil import utcnow


class PaymentError(OrderError):
    """A notify or confirmation we refuse (unknown trade number, wrong amount, wrong provider)."""


class Outcome(StrEnum):
    PAID = "paid"  # this call moved the order to paid
    ALREADY = "already"  # seen before: nothing changed (duplicate notify)
    FLAGGED = "flagged"  # money arrived for an order that could not take it: kept, flagged for refund


@dataclass
class ConfirmResult:
    outcome: Outcome
    payment: Payment


def start_payment(
    session: Session, order: Order, provider: str, *, user: User, appid: str | None = None
) -> Payment:
    """Open (or reuse) a payment attempt for an unpaid order. WeChat Pay's attempts are opened for one
    AppID (`appid`: the mini-program's; the official account's by default, the H5 shop's): WeChat refuses
    the same out_trade_no for another one, so an attempt opened for one AppID is never reused for the
    other — a new attempt (a new out_trade_no) is opened instead."""
    require_buyer(order, user, PaymentError)
    expire_if_due(session, order)
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise PaymentError(_l("This order cannot be paid any more."))
    signals.payment_starting.send(order, session=session)
    wechat = provider == "wechat"
    appid = (appid or payment_settings(session).wechat_appid or None) if wechat else None
    for payment in order.payments:
        if (
            payment.provider == provider
            and payment.status == PaymentStatus.PENDING
            and payment.amount_fen == order.total_fen
            and payment.appid in (None, appid)
        ):
            payment.appid = appid  # an attempt from before AppIDs were kept is this one's from now on
            return payment
    attempt = (
        session.scalar(select(func.count()).select_from(Payment).where(Payment.order_id == order.id)) + 1
    )
    payment = Payment(
        order_id=order.id,
        provider=provider,
        out_trade_no=f"{order.number}P{attempt:02d}",
        amount_fen=order.total_fen,
        status=PaymentStatus.PENDING,
        appid=appid,
        created_at=utcnow(),
    )
    session.add(payment)
    session.flush()
    return payment


def confirm_payment(
    session: Session,
    *,
    provider: str,
    out_trade_no: str,
    amount_fen: int,
    gateway_trade_no: str | None = None,
    raw: dict | None = None,
    actor: User | None = None,
) -> ConfirmResult:
    payment = session.scalar(select(Payment).where(Payment.out_trade_no == str(out_trade_no)[:32]))
    if payment is None:
        raise PaymentError(_l("Unknown payment."))
    if payment.provider != provider:
        raise PaymentError(_l("The payment belongs to another provider."))
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen != payment.amount_fen:
        raise PaymentError(_l("The amount paid does not match the order."))

    now = utcnow()
    claimed = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.status != PaymentStatus.SUCCEEDED)
        .values(
            status=PaymentStatus.SUCCEEDED,
            paid_at=now,
            notified_at=now,
            gateway_trade_no=gateway_trade_no,
            raw_notify=raw,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(payment)
    if claimed != 1:
        return ConfirmResult(Outcome.ALREADY, payment)

    order = payment.order
    if mark_paid(session, order, method=provider, actor=actor, note=payment.out_trade_no):
        return ConfirmResult(Outcome.PAID, payment)

    payment.needs_refund = True
    payment.refund_note = str(_l("Paid after the order was cancelled or already paid"))
    record_event(
        session,
        order,
        "payment_flagged",
        actor=actor,
        machine="gateway",
        note=f"{payment.out_trade_no} {payment.amount_fen}",
    )
    session.flush()
    return ConfirmResult(Outcome.FLAGGED, payment)


def settle_from_gateway(session: Session, payment: Payment) -> bool:
    """Ask the payment's gateway whether it was paid (its notify may be late, or lost) and, when it says so,
    confirm it here exactly as the notify would. True when the gateway says paid. Raises the gateway's
    errors (GatewayError, GatewayNotConfigured) and PaymentError (an amount that does not match)."""
    from app.payments import alipay

    state = get_provider(payment.provider).query(session, payment)
    if payment.provider == "wechat":
        paid = state.get("trade_state") == "SUCCESS"
        amount = (state.get("amount") or {}).get("total")
        trade_no = state.get("transaction_id")
    else:
        paid = state.get("trade_status") in alipay.PAID_STATES
        amount = alipay.amount_fen(state.get("total_amount"))
        trade_no = state.get("trade_no")
    if paid:
        confirm_payment(
            session,
            provider=payment.provider,
            out_trade_no=payment.out_trade_no,
            amount_fen=amount,
            gateway_trade_no=trade_no,
            raw=state,
        )
    return paid


def paid_payment(order: Order) -> Payment | None:
    """The payment that paid this order (not one flagged as money to send back)."""
    return next(
        (p for p in order.payments if p.status == PaymentStatus.SUCCEEDED and not p.needs_refund), None
    )


def send_refund(session: Session, refund: Refund, *, actor: User | None) -> None:
    """An approved refund's money goes back the way it came: the gateway refunds (done at once, or later by
    its refund notify); the sandbox at once; for manual transfer the merchant pays by hand, then marks it."""
    payment = paid_payment(refund.order)
    if payment is None:
        return
    refund.payment_id = payment.id
    session.flush()
    if get_provider(payment.provider).refund(session, payment, refund):
        complete_refund(session, refund, actor=actor)


def flagged_payments(session: Session) -> list[Payment]:
    return list(session.scalars(select(Payment).where(Payment.needs_refund).order_by(Payment.id.desc())))


def settle_flagged_payment(session: Session, payment: Payment, *, actor: User, note: str) -> None:
    """The merchant sent a flagged payment back (by the gateway's console or by hand) and says so."""
    note = " ".join((note or "").split())
    if not note:
        raise PaymentError(_l("Please note how the money was returned."), "note")
    result = session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.needs_refund)
        .values(needs_refund=False, status=PaymentStatus.CLOSED, refund_note=note[:200])
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise PaymentError(_l("This payment has already been handled."))
    session.refresh(payment)
    record_event(
        session, payment.order, "flagged_payment_returned", actor=actor, note=f"{payment.out_trade_no} {note}"
    )


# ---------------------------------------------------------------- manual transfer


def claim_manual_payment(session: Session, order: Order, user: User) -> Payment:
    """The shopper taps "I have paid": the order waits for the merchant to check the money arrived.
    It no longer expires while it waits."""
    payment = start_payment(session, order, "manual", user=user)
    if not change_status(
        session,
        order,
        (OrderStatus.PENDING_PAYMENT,),
        OrderStatus.AWAITING_CONFIRMATION,
        "manual_payment_claimed",
        actor=user,
        payment_method="manual",
    ):
        raise PaymentError(_l("This order cannot be paid any more."))
    return payment


def staff_actions(order: Order) -> set[str]:
    """What the back office may do about the order's payment now (with orders.queries.staff_actions)."""
    if order.status == OrderStatus.AWAITING_CONFIRMATION:
        return {"confirm_transfer", "reject_transfer"}
    if order.status == OrderStatus.PENDING_PAYMENT and _manual_payment(order) is not None:
        return {"confirm_transfer"}  # the money came before the shopper tapped "I have paid"
    return set()


def refund_actions(refund: Refund) -> set[str]:
    """An approved refund that no gateway sends back (manual transfer, or nothing was paid through us):
    the merchant pays by hand and marks it refunded."""
    if refund.status != RefundRequestStatus.APPROVED:
        return set()
    payment = next((p for p in refund.order.payments if p.id == refund.payment_id), None)
    return {"complete"} if payment is None or payment.provider == "manual" else set()


def alert_counts() -> dict:
    """What the back office flags about payments (money that came for orders that could not take it), as
    scalar subqueries to run with orders.queries.alert_counts."""
    return {
        "flagged_payments": select(func.count())
        .select_from(Payment)
        .where(Payment.needs_refund)
        .scalar_subquery()
    }


def _manual_payment(order: Order) -> Payment | None:
    return next(
        (p for p in reversed(order.payments) if p.provider == "manual" and p.status == PaymentStatus.PENDING),
        None,
    )


def confirm_manual_payment(session: Session, order: Order, *, actor: User) -> ConfirmResult:
    """The merchant saw the transfer arrive."""
    payment = _manual_payment(order)
    if payment is None or order.status not in (
        OrderStatus.AWAITING_CONFIRMATION,
        OrderStatus.PENDING_PAYMENT,
    ):
        raise PaymentError(_l("There is no transfer waiting for confirmation on this order."))
    return confirm_payment(
        session,
        provider="manual",
        out_trade_no=payment.out_trade_no,
        amount_fen=payment.amount_fen,
        actor=actor,
    )


def reject_manual_payment(
    session: Session, order: Order, *, actor: User, reason: str, expire_minutes: int
) -> None:
    """The money did not arrive (or not in full): the order goes back to unpaid with a fresh time limit."""
    from datetime import timedelta

    reason = " ".join((reason or "").split())
    if not reason:
        raise PaymentError(_l("Please tell the buyer what is wrong with the transfer."), "reason")
    payment = _manual_payment(order)
    if payment is None or not change_status(
        session,
        order,
        (OrderStatus.AWAITING_CONFIRMATION,),
        OrderStatus.PENDING_PAYMENT,
        "manual_payment_rejected",
        actor=actor,
        note=reason[:200],
        expires_at=utcnow() + timedelta(minutes=expire_minutes),
    ):
        raise PaymentError(_l("There is no transfer waiting for confirmation on this order."))
    payment.status = PaymentStatus.FAILED
