"""退货退款 and 换货: the goods come back. The merchant approves (with a return address set), the shopper
sends the parcel (carrier and tracking number), the merchant confirms it arrived — then a 退货退款 refunds
through the gateway exactly as an approved 仅退款 does (refunds.complete_refund), and a 换货 waits for its
replacement (exchanges.py). The merchant may refuse the goods that came back. Every step is a conditional
update on the request's current status, so a retried or concurrent call applies once."""

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.services import adjust_stock
from app.orders import aftersales, signals
from app.orders.access import require_buyer
from app.orders.events import OrderError, record_event, transition
from app.orders.models import AfterSalesKind, Refund, RefundRequestStatus
from app.orders.refunds import announce_approval, reopen_after_refund
from app.settings.services import get_shop_settings
from app.timeutil import utcnow


def return_address(session: Session) -> dict | None:
    """The merchant's return address from settings: {contact, phone, address}, or None when not set."""
    settings = get_shop_settings(session)
    if not (settings.return_contact and settings.return_phone and settings.return_address):
        return None
    return {
        "contact": settings.return_contact,
        "phone": settings.return_phone,
        "address": settings.return_address,
    }


def approve_return(session: Session, refund: Refund, *, actor: User | None) -> None:
    """The merchant (or the reply timeout, actor None) agrees that the goods come back. Refused while the
    shop has no return address: the shopper would not know where to send them."""
    if refund.kind not in aftersales.KINDS_WITH_RETURN:
        raise OrderError(_l("This request has no return: approve the refund instead."))
    if return_address(session) is None:
        raise OrderError(
            _l(
                "Set the return address (Settings › After-sales) before approving a return: the buyer needs it."
            )
        )
    if not transition(
        session,
        refund,
        (RefundRequestStatus.REQUESTED,),
        RefundRequestStatus.AWAITING_RETURN,
        decided_at=utcnow(),
        decided_by_id=actor.id if actor else None,
    ):
        raise OrderError(_l("This request has already been handled."))
    record_event(session, refund.order, "return_approved", actor=actor, note=refund.number)


def ship_return(session: Session, refund: Refund, user: User, *, carrier_code: str, tracking_no: str) -> None:
    """The shopper has sent the goods back: which carrier and the tracking number."""
    require_buyer(refund.order, user)
    carrier, code, number = aftersales.clean_parcel(carrier_code, tracking_no)
    if not transition(
        session,
        refund,
        (RefundRequestStatus.AWAITING_RETURN,),
        RefundRequestStatus.RETURNING,
        return_carrier=carrier,
        return_carrier_code=code,
        return_tracking_no=number,
        return_shipped_at=utcnow(),
    ):
        raise OrderError(_l("This request is not waiting for a return parcel."))
    record_event(
        session, refund.order, "return_shipped", actor=user, note=f"{refund.number} {carrier} {number}"
    )


def confirm_return_received(session: Session, refund: Refund, *, actor: User, restock: bool) -> None:
    """The returned goods are in. 退货退款: the refund is approved and goes back through the gateway
    (payments reacts to refund_approved, as for 仅退款; restocking happens when the money is back). 换货: the
    request waits for the replacement (the returned units go back to stock now when asked)."""
    exchange = refund.kind == AfterSalesKind.EXCHANGE
    to_status = RefundRequestStatus.RECEIVED if exchange else RefundRequestStatus.APPROVED
    if not transition(
        session,
        refund,
        (RefundRequestStatus.RETURNING,),
        to_status,
        received_at=utcnow(),
        restock=bool(restock),
    ):
        raise OrderError(_l("This request has already been handled."))
    record_event(session, refund.order, "return_received", actor=actor, note=refund.number)
    if exchange:
        if restock:
            for item in refund.lines:
                if item.order_line.sku_id is not None:
                    adjust_stock(session, item.order_line.sku_id, item.qty)
        return
    announce_approval(session, refund, actor=actor)


def refuse_returned_goods(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    """The merchant refuses what came back (not the goods sold, damaged by the buyer…): the request is
    rejected with the reason and the order goes back to how it was."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise OrderError(_l("Please tell the buyer why the request is rejected."), "reject_reason")
    if not transition(
        session,
        refund,
        (RefundRequestStatus.RETURNING,),
        RefundRequestStatus.REJECTED,
        reject_reason=reason[:200],
        decided_by_id=actor.id,
    ):
        raise OrderError(_l("This request has already been handled."))
    reopen_after_refund(session, refund.order)
    record_event(session, refund.order, "return_refused", actor=actor, note=f"{refund.number} {reason}")
    signals.refund_rejected.send(refund, session=session)  # the shopper hears of it as of any rejection


def close_unreturned(session: Session, refund: Refund) -> bool:
    """The shopper never sent the goods back in time (the job): the request is closed, the order reopened."""
    if not transition(
        session,
        refund,
        (RefundRequestStatus.AWAITING_RETURN,),
        RefundRequestStatus.CLOSED,
        closed_at=utcnow(),
    ):
        return False
    reopen_after_refund(session, refund.order)
    record_event(session, refund.order, "aftersales_closed", note=refund.number)
    return True
