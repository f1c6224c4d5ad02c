"""拼团 refunds and the `flask groups settle` job: groups whose time is up fail (once), and every paid order
of a failed group — and every order paid after its group had no place left — is refunded in full through
its gateway's real refund path, until it goes.

Through the existing after-sales machinery, not a second one: each order gets one `Refund` (all its units,
and the shipping fee when nothing has been shipped), written already approved by the shop's rule and sent
with payments.send_refund, so the sandbox refunds at once, WeChat Pay and Alipay through their refund APIs
(WeChat's refund notify completes it), and a manual transfer waits as "to be returned" for the merchant to
pay back by hand and mark refunded, exactly as an approved after-sales refund does. The refund_approved
signal is not sent: its receiver would let a gateway's refusal undo the approval, where here the refusal
must be kept (`refund_error`, `refund_attempts`) and tried again.

Idempotent: the refund's number is derived from the order (`<order number>RG`), so a retry — after a
refusal, a crash, or a payment transaction rolled back after the gateway was called — asks the gateway
with the same out_refund_no / out_request_no, which refunds once. A push first claims its member row by a
conditional UPDATE (state due, attempts unchanged), so two pushes at once (two settle runs, or a settle and
a payment) never send the same refund twice."""

import logging
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.marketing import signals
from app.marketing.models import BuyGroup, BuyGroupMember, BuyGroupStatus, GroupRefundState
from app.orders.events import OrderError, record_event
from app.orders.models import (
    PAID_STATUSES,
    Order,
    OrderStatus,
    Refund,
    RefundLine,
    RefundRequestStatus,
    RefundStatus,
)
from app.orders.refunds import complete_refund, refund_quote
from app.orders.transitions import cancel_order
from app.payments.gateways import GatewayNotConfigured
from app.payments.services import paid_payment, send_refund
from app.payments.wechatpay import GatewayError
from app.timeutil import utcnow

log = logging.getLogger(__name__)

REFUSALS = (GatewayError, GatewayNotConfigured, OrderError, OSError)


def refund_number(order: Order) -> str:
    """The one refund number of a group order: the gateway refunds a number once, so a retry is safe."""
    return f"{order.number}RG"


def _refund_for(session: Session, member: BuyGroupMember) -> Refund:
    """The member's refund, written once: the whole order, approved by the shop's rule. The order's
    after-sales lock is taken as a shopper's request takes it (OrderError when one is open: the merchant
    handles it first, and the next settle tries again)."""
    if member.refund_id is not None:
        return session.get(Refund, member.refund_id)
    order = session.get(Order, member.order_id)
    number = refund_number(order)
    refund = session.scalar(select(Refund).where(Refund.number == number))
    if refund is not None:
        member.refund_id = refund.id
        return refund
    locked = session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            Order.refund_status.in_([RefundStatus.NONE, RefundStatus.PARTIAL]),
            Order.status.in_([str(s) for s in PAID_STATUSES]),
        )
        .values(refund_status=RefundStatus.REQUESTED, refund_status_before=Order.refund_status)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(order)
    if not locked:
        raise OrderError(_l("This order has an open after-sales request. Handle it first."))
    quote = refund_quote(order, {line.id: line.refundable_qty for line in order.lines if line.refundable_qty})
    now = utcnow()
    refund = Refund(
        order_id=order.id,
        number=number,
        status=RefundRequestStatus.APPROVED,
        reason=str(_l("Group buy did not form")),
        amount_fen=min(quote.amount_fen, order.refundable_fen),
        shipping_fen=quote.shipping_fen,
        restock=True,
        created_at=now,
        decided_at=now,
        lines=[
            RefundLine(order_line_id=line.id, qty=qty, amount_fen=amount)
            for line, (qty, amount) in quote.lines.items()
        ],
    )
    session.add(refund)
    session.flush()
    member.refund_id = refund.id
    record_event(session, order, "refund_approved", note=f"{refund.number} {refund.reason}")
    return refund


def push_refund(session: Session, member_id: int) -> str:
    """Send a due refund: "sent" when it went (refunded at once, or handed to the gateway's notify or the
    merchant's hand), "error" when refused (kept, tried again next run), "skipped" when another push has
    it or it is no longer due. The caller commits."""
    seen = session.scalar(select(BuyGroupMember.refund_attempts).where(BuyGroupMember.id == member_id))
    claimed = session.execute(
        update(BuyGroupMember)
        .where(
            BuyGroupMember.id == member_id,
            BuyGroupMember.refund_state == GroupRefundState.DUE,
            BuyGroupMember.refund_attempts == seen,
        )
        .values(refund_attempts=BuyGroupMember.refund_attempts + 1, refund_tried_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return "skipped"
    member = session.get(BuyGroupMember, member_id)
    session.refresh(member)
    order = session.get(Order, member.order_id)
    if member.refund_id is None and order.refundable_fen <= 0:  # given back already (by after-sales, say)
        member.refund_state, member.refund_error = GroupRefundState.DONE, ""
        session.flush()
        return "sent"
    try:
        refund = _refund_for(session, member)
        if refund.payment_id is None and (paid := paid_payment(order)) is not None:
            # Kept outside the savepoint below: a refusal must not leave a gateway refund looking like one
            # for the merchant to pay back by hand (the back office offers "mark refunded" without a payment).
            refund.payment_id = paid.id
            session.flush()
        with session.begin_nested():
            if refund.order.total_fen == 0:
                complete_refund(session, refund, actor=None)  # nothing was paid through a gateway
            else:
                send_refund(session, refund, actor=None)
    except REFUSALS as error:
        member.refund_error = str(getattr(error, "message", error))[:200]
        log.warning("group refund of order %s refused: %s", member.order_id, member.refund_error)
        session.flush()
        return "error"
    session.refresh(refund)
    member.refund_error = ""
    member.refund_state = (
        GroupRefundState.DONE if refund.status == RefundRequestStatus.REFUNDED else GroupRefundState.SENT
    )
    session.flush()
    return "sent"


def after_refund_completed(session: Session, refund: Refund) -> None:
    """refund_completed (a gateway's notify, or the merchant marking a transfer paid back): done."""
    session.execute(
        update(BuyGroupMember)
        .where(BuyGroupMember.refund_id == refund.id)
        .values(refund_state=GroupRefundState.DONE, refund_error="")
        .execution_options(synchronize_session=False)
    )


def fail_due_groups(session: Session, now: datetime | None = None) -> int:
    """Open groups whose time is up fail, each once (a conditional UPDATE: a seat taken meanwhile needs the
    time not to be up, so the two never both win); their paid orders become due for refund and their
    unpaid ones are cancelled (no seat is left for them to pay for). Each group in its own transaction."""
    now = now or utcnow()
    ids = list(
        session.scalars(
            select(BuyGroup.id)
            .where(BuyGroup.status == BuyGroupStatus.OPEN, BuyGroup.expires_at <= now)
            .order_by(BuyGroup.id)
        )
    )
    session.commit()
    failed = 0
    for group_id in ids:
        if session.execute(
            update(BuyGroup)
            .where(
                BuyGroup.id == group_id, BuyGroup.status == BuyGroupStatus.OPEN, BuyGroup.expires_at <= now
            )
            .values(status=BuyGroupStatus.FAILED, failed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount:
            failed += 1
            session.execute(
                update(BuyGroupMember)
                .where(
                    BuyGroupMember.group_id == group_id,
                    BuyGroupMember.seat_taken_at.is_not(None),
                    BuyGroupMember.refund_state == GroupRefundState.NONE,
                )
                .values(refund_state=GroupRefundState.DUE)
                .execution_options(synchronize_session=False)
            )
            cancel_unpaid(session, group_id, str(_l("Group buy did not form")))
            signals.group_failed.send(group_id, session=session)
        session.commit()
    return failed


def cancel_unpaid(session: Session, group_id: int, reason: str) -> None:
    """The group's unpaid orders are cancelled: it failed, or it is full and no seat is left for them to pay
    for (so no one is charged for a place that is gone)."""
    unpaid = session.scalars(
        select(Order)
        .join(BuyGroupMember, BuyGroupMember.order_id == Order.id)
        .where(BuyGroupMember.group_id == group_id, Order.status == OrderStatus.PENDING_PAYMENT)
    ).all()
    for order in unpaid:
        cancel_order(session, order, actor=None, reason=reason)


def push_due_refunds(session: Session) -> tuple[int, int]:
    """Push every due refund, each in its own transaction: (sent, refused)."""
    ids = list(
        session.scalars(
            select(BuyGroupMember.id)
            .where(BuyGroupMember.refund_state == GroupRefundState.DUE)
            .order_by(BuyGroupMember.id)
        )
    )
    session.commit()
    sent = refused = 0
    for member_id in ids:
        outcome = push_refund(session, member_id)
        session.commit()
        sent += outcome == "sent"
        refused += outcome == "error"
    return sent, refused


def settle(session: Session, now: datetime | None = None) -> dict:
    """`flask groups settle`: fail the groups whose time is up, then push every refund due."""
    failed = fail_due_groups(session, now)
    sent, refused = push_due_refunds(session)
    return {"failed_groups": failed, "group_refunds": sent, "refunds_refused": refused}


def refunds_in_flight(session: Session) -> list[BuyGroupMember]:
    """Group refunds not yet done (due, or sent and waiting), oldest first, with the last refusal: for the
    back office."""
    return list(
        session.scalars(
            select(BuyGroupMember)
            .where(BuyGroupMember.refund_state.in_([GroupRefundState.DUE, GroupRefundState.SENT]))
            .order_by(BuyGroupMember.id)
        )
    )
