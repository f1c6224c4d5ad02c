"""After-sales: what a refund may be, requests, decisions and the money going back."""

import secrets
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.services import adjust_stock
from app.db_types import parse_id
from app.money import share_of_units
from app.numbers import parse_whole_number
from app.orders import aftersales, signals
from app.orders.access import require_buyer
from app.orders.events import OrderError, record_event, transition
from app.orders.models import (
    REFUNDABLE_STATUSES,
    WITHDRAWABLE_REQUEST_STATUSES,
    AfterSalesKind,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundLine,
    RefundRequestStatus,
    RefundStatus,
)
from app.timeutil import utcnow


def refundable_amount(line: OrderLine, qty: int) -> int:
    """What `qty` more units of a line are worth (money.share_of_units: the last units take what is left)."""
    if qty < 1 or qty > line.refundable_qty:
        raise OrderError(_l("You cannot ask for more units than you bought."), "items")
    return share_of_units(line.paid_fen, line.qty, line.refunded_qty, qty, line.refunded_fen)


def new_refund_number(order: Order) -> str:
    return f"{order.number}R{secrets.randbelow(10**6):06d}"


@dataclass
class RefundQuote:
    """What a refund request for these units would bring back: each line's amount, and the shipping fee
    when everything left goes back before the parcel has left."""

    lines: dict[OrderLine, tuple[int, int]]  # line -> (units, amount_fen)
    shipping_fen: int

    @property
    def amount_fen(self) -> int:
        return sum(amount for _units, amount in self.lines.values()) + self.shipping_fen


def refund_quote(order: Order, items: dict) -> RefundQuote:
    """{order line id: units} -> the amounts, without changing anything (the shop's live preview uses it
    too). Refuses unknown lines and more units than are left."""
    lines_by_id = {line.id: line for line in order.lines}
    wanted: dict[OrderLine, tuple[int, int]] = {}
    for line_id, qty in (items or {}).items():
        line = lines_by_id.get(parse_id(line_id))
        if line is None:
            raise OrderError(_l("Please choose what to refund."), "items")
        qty = parse_whole_number(qty, max_digits=6)
        qty = -1 if qty is None else qty
        if qty == 0:
            continue
        if qty < 0 or qty > line.refundable_qty:
            raise OrderError(_l("You cannot ask for more units than you bought."), "items")
        wanted[line] = (qty, refundable_amount(line, qty))
    everything_left = bool(wanted) and all(
        wanted.get(line, (0, 0))[0] == line.refundable_qty for line in order.lines
    )
    shipping = order.shipping_fen if everything_left and order.status == OrderStatus.PAID else 0
    return RefundQuote(lines=wanted, shipping_fen=shipping)


@dataclass
class RefundPreview:
    """The request form's live preview: what it would bring back, or why it cannot be asked for."""

    amount_fen: int
    shipping_fen: int
    exchange: bool
    error: str | None


def preview(order: Order, items: dict, kind: str | None) -> RefundPreview:
    """The live preview of a request of this type for these units (changes nothing): the amounts of
    refund_quote (nothing for an exchange), or the sentence request_refund would refuse them with."""
    exchange = kind == AfterSalesKind.EXCHANGE
    try:
        chosen = aftersales.parse_kind(kind)
        quote_ = refund_quote(order, items)
        if quote_.lines:
            aftersales.check_kind(order, chosen, not_received=None, line_count=len(quote_.lines))
    except OrderError as error:
        return RefundPreview(amount_fen=0, shipping_fen=0, exchange=exchange, error=str(error.message))
    return RefundPreview(
        amount_fen=0 if exchange else quote_.amount_fen,
        shipping_fen=0 if exchange else quote_.shipping_fen,
        exchange=exchange,
        error=None,
    )


def suggested_items(order: Order) -> dict[int, int]:
    """{line id: units} the request form starts on: every unit left of a single line, else none."""
    single = len(order.lines) == 1
    return {line.id: (line.refundable_qty if single else 0) for line in order.lines}


def request_refund(
    session: Session,
    order: Order,
    user: User,
    *,
    items: dict,
    reason: str,
    kind: str | None = None,
    not_received: bool | None = None,
    photos: list[str] | None = None,
) -> Refund:
    """A shopper asks for money back (仅退款, 退货退款) or another SKU (换货) for some units of some lines.
    One open request per order at a time: the order's refund status is the lock, so two requests at once
    cannot both pass. `photos` are keys already checked and stored (media.save_private_image)."""
    require_buyer(order, user)
    kind = aftersales.parse_kind(kind)
    aftersales.check_photo_count(len(photos or []))
    reason = " ".join((reason or "").split())
    if not reason:
        raise OrderError(_l("Please tell the shop why you want a refund."), "reason")
    if len(reason) > 200:
        raise OrderError(_l("The reason may have at most %(n)d characters.", n=200), "reason")
    if order.status not in REFUNDABLE_STATUSES:
        raise OrderError(_l("This order cannot be refunded now."))
    signals.refund_requesting.send(order, session=session)
    quote_ = refund_quote(order, items)
    if not quote_.lines:
        raise OrderError(_l("Please choose what to refund."), "items")
    aftersales.check_kind(order, kind, not_received=not_received, line_count=len(quote_.lines))
    exchange = kind == AfterSalesKind.EXCHANGE

    result = session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            Order.refund_status.in_([RefundStatus.NONE, RefundStatus.PARTIAL]),
            Order.status.in_([str(s) for s in REFUNDABLE_STATUSES]),
        )
        .values(refund_status=RefundStatus.REQUESTED, refund_status_before=Order.refund_status)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        session.refresh(order)
        raise OrderError(_l("This order already has an open after-sales request."))
    session.refresh(order)

    refund = Refund(
        order_id=order.id,
        status=RefundRequestStatus.REQUESTED,
        kind=str(kind),
        reason=reason,
        photos=list(photos or []) or None,
        created_at=utcnow(),
    )
    # An exchange sends goods, not money: its lines and amount are nothing.
    for line, (qty, amount) in quote_.lines.items():
        refund.lines.append(RefundLine(order_line_id=line.id, qty=qty, amount_fen=0 if exchange else amount))
    refund.shipping_fen = 0 if exchange else quote_.shipping_fen
    refund.amount_fen = 0 if exchange else quote_.amount_fen
    if refund.amount_fen > order.refundable_fen:
        raise OrderError(_l("The refund cannot be more than what was paid."))
    refund.number = new_refund_number(order)
    session.add(refund)
    session.flush()
    record_event(
        session,
        order,
        "refund_requested",
        actor=user,
        from_status=order.status,
        to_status=order.status,
        note=f"{refund.number} {aftersales.kind_label(kind)} {reason}",
    )
    return refund


def can_withdraw(refund: Refund) -> bool:
    """Until the goods are on their way back, the shopper may change their mind."""
    return refund.status in WITHDRAWABLE_REQUEST_STATUSES


def cancel_refund_request(session: Session, refund: Refund, user: User) -> None:
    order = refund.order
    require_buyer(order, user)
    if not transition(session, refund, WITHDRAWABLE_REQUEST_STATUSES, RefundRequestStatus.CANCELLED):
        raise OrderError(_l("This request can no longer be withdrawn."))
    reopen_after_refund(session, order)
    record_event(session, order, "refund_withdrawn", actor=user, note=refund.number)


def reopen_after_refund(session: Session, order: Order) -> None:
    session.execute(
        update(Order)
        .where(Order.id == order.id, Order.refund_status == RefundStatus.REQUESTED)
        .values(
            refund_status=func.coalesce(Order.refund_status_before, RefundStatus.NONE),
            refund_status_before=None,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(order)


def reject_refund(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    """The merchant says no to a request not yet approved."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise OrderError(_l("Please tell the buyer why the request is rejected."), "reject_reason")
    if not transition(
        session,
        refund,
        (RefundRequestStatus.REQUESTED,),
        RefundRequestStatus.REJECTED,
        reject_reason=reason[:200],
        decided_at=utcnow(),
        decided_by_id=actor.id,
    ):
        raise OrderError(_l("This request has already been handled."))
    reopen_after_refund(session, refund.order)
    record_event(session, refund.order, "refund_rejected", actor=actor, note=f"{refund.number} {reason}")
    signals.refund_rejected.send(refund, session=session)


def approve_refund(session: Session, refund: Refund, *, actor: User | None, restock: bool) -> None:
    """The merchant agrees. The money goes back through the order's payment (payments reacts to
    refund_approved: the gateway refunds, or for manual transfer the merchant pays it back by hand and then
    marks it refunded with complete_refund). A request with a return is approved by returns.approve_return."""
    if refund.kind != AfterSalesKind.REFUND_ONLY:
        raise OrderError(_l("This request needs the goods back first: approve the return."))
    if not transition(
        session,
        refund,
        (RefundRequestStatus.REQUESTED,),
        RefundRequestStatus.APPROVED,
        restock=bool(restock),
        decided_at=utcnow(),
        decided_by_id=actor.id if actor else None,
    ):
        raise OrderError(_l("This request has already been handled."))
    record_event(session, refund.order, "refund_approved", actor=actor, note=refund.number)
    announce_approval(session, refund, actor=actor)


def announce_approval(session: Session, refund: Refund, *, actor: User | None) -> None:
    """A refund has just been approved (here, or by orders.returns when the goods are back): payments sends
    the money (refund_approved), then the buyer is told (refund_approval_saved, once payments is done)."""
    signals.refund_approved.send(refund, session=session, actor=actor)
    signals.refund_approval_saved.send(refund, session=session)


def complete_refund(session: Session, refund: Refund, *, actor: User | None) -> bool:
    """The money is back with the buyer: apply it to the lines and the order, once."""
    if not transition(
        session, refund, (RefundRequestStatus.APPROVED,), RefundRequestStatus.REFUNDED, refunded_at=utcnow()
    ):
        return False
    order = refund.order
    for item in refund.lines:
        result = session.execute(
            update(OrderLine)
            .where(OrderLine.id == item.order_line_id, OrderLine.refunded_qty + item.qty <= OrderLine.qty)
            .values(
                refunded_qty=OrderLine.refunded_qty + item.qty,
                refunded_fen=OrderLine.refunded_fen + item.amount_fen,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise OrderError(_l("The refund cannot be more than what was paid."))
        if refund.restock and item.order_line.sku_id is not None:
            adjust_stock(session, item.order_line.sku_id, item.qty)
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.refunded_fen + refund.amount_fen <= Order.total_fen)
        .values(refunded_fen=Order.refunded_fen + refund.amount_fen, refund_status_before=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise OrderError(_l("The refund cannot be more than what was paid."))
    session.refresh(order)
    for line in order.lines:
        session.refresh(line)
    fully = all(line.refunded_qty == line.qty for line in order.lines)
    before = order.status
    order.refund_status = RefundStatus.FULL if fully else RefundStatus.PARTIAL
    if fully:
        order.status = OrderStatus.REFUNDED
    session.flush()
    record_event(
        session,
        order,
        "refunded",
        actor=actor,
        from_status=before,
        to_status=order.status,
        note=f"{refund.number} {refund.amount_fen}",
    )
    signals.refund_completed.send(order, session=session, refund=refund)
    return True
