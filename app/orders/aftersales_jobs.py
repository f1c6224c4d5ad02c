"""`flask orders aftersales`: the after-sales timeouts. A request the shop leaves unanswered for the settings'
reply days is approved (仅退款: the money goes back through the gateway; 退货退款 / 换货: the return is
approved, once the shop has a return address); a return the shopper does not send within the return days
is closed. Each request is handled in its own transaction through the same guarded services the people use,
so a run that overlaps a click, or a second run, changes nothing twice."""

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.orders import refunds, returns
from app.orders.models import AfterSalesKind, OrderStatus, Refund, RefundRequestStatus
from app.settings.services import get_shop_settings
from app.timeutil import utcnow

log = logging.getLogger(__name__)


def run_timeouts(session: Session) -> dict[str, int]:
    settings = get_shop_settings(session)
    now = utcnow()
    counts = {"auto_approved": 0, "returns_closed": 0, "auto_approve_failed": 0}
    reply_before = now - timedelta(days=settings.aftersales_reply_days or 3)
    silent = session.scalars(
        select(Refund.id).where(
            Refund.status == RefundRequestStatus.REQUESTED, Refund.created_at <= reply_before
        )
    ).all()
    for refund_id in silent:
        refund = session.get(Refund, refund_id)
        try:
            if refund.kind == AfterSalesKind.REFUND_ONLY:
                # Not shipped: the units are still on the shelf. Shipped ("not received"): they are not back.
                unshipped = refund.order.status == OrderStatus.PAID
                refunds.approve_refund(session, refund, actor=None, restock=unshipped)
            else:
                returns.approve_return(session, refund, actor=None)
            session.commit()
            counts["auto_approved"] += 1
        except UserError as error:  # no return address yet, a gateway refusing: next run tries again
            session.rollback()
            log.warning("after-sales %s not approved automatically: %s", refund_id, error)
            counts["auto_approve_failed"] += 1
    return_before = now - timedelta(days=settings.aftersales_return_days or 7)
    unreturned = session.scalars(
        select(Refund.id).where(
            Refund.status == RefundRequestStatus.AWAITING_RETURN, Refund.decided_at <= return_before
        )
    ).all()
    for refund_id in unreturned:
        if returns.close_unreturned(session, session.get(Refund, refund_id)):
            counts["returns_closed"] += 1
        session.commit()
    return counts
