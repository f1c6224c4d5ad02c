"""Which events write which message, inside the event's own transaction (an event rolled back leaves no
message). The values each message can show are gathered here; the merchant's mapping picks among them."""

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.accounts.models import User
from app.distribution import signals as distribution_signals
from app.distribution.models import Distributor
from app.marketing import signals as marketing_signals
from app.marketing.models import BuyGroupMember
from app.notifications import kinds
from app.notifications.outbox import enqueue
from app.orders import signals as order_signals
from app.orders.models import Order, Refund, RefundRequestStatus

REFUND_STATUS = {
    "approved": _l("Approved, the money is on its way back"),
    "refunded": _l("Refunded"),
    "rejected": _l("Rejected"),
}
GROUP_STATUS = {"formed": _l("Group formed"), "failed": _l("Group did not form, refunding")}
COMMISSION_STATUS = _l("Frozen until the order is settled")
WITHDRAWAL_STATUS = _l("Paid out")


def _said(text) -> str:
    """Words in the shoppers' language (the shop's default), whoever's request raised the event."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        return str(text)


def _order_values(order: Order) -> dict:
    titles = [line.title for line in order.lines]
    product = titles[0] + (_said(_l(" and %(n)d more", n=len(titles) - 1)) if len(titles) > 1 else "")
    return {
        "order_no": order.number,
        "amount": kinds.money(order.total_fen),
        "product": product if titles else "",
    }


def _to_buyer(session, kind: str, order: Order, **values) -> None:
    enqueue(
        session, kind, order.user, {**_order_values(order), **values},
        url_path=f"/orders/{order.number}", reference=order.number,
    )  # fmt: skip


def _on_order_paid(order, *, session, **_):
    _to_buyer(session, "order_paid", order, status=_said(_l("Paid, waiting to ship")))


def _on_order_shipped(order, *, session, **_):
    _to_buyer(
        session, "order_shipped", order,
        status=_said(_l("Shipped")), carrier=order.carrier or "", tracking_no=order.tracking_no or "",
    )  # fmt: skip


def _refund_result(session, refund, state: str) -> None:
    _to_buyer(
        session, "refund_result", refund.order,
        amount=kinds.money(refund.amount_fen), status=_said(REFUND_STATUS[state]), reason=refund.reject_reason or "",
    )  # fmt: skip


def _on_refund_approved(refund, *, session, **_):
    """Said only while the money is on its way: a gateway that refunded at once (payments, on
    refund_approved, which is over by now) has already written "refunded", which says it all."""
    if session.scalar(select(Refund.status).where(Refund.id == refund.id)) == RefundRequestStatus.APPROVED:
        _refund_result(session, refund, "approved")


def _on_refund_completed(order, *, session, refund, **_):
    _refund_result(session, refund, "refunded")


def _on_refund_rejected(refund, *, session, **_):
    _refund_result(session, refund, "rejected")


def _group_result(session, group_id: int, state: str) -> None:
    orders = session.scalars(
        select(Order)
        .join(BuyGroupMember, BuyGroupMember.order_id == Order.id)
        .where(BuyGroupMember.group_id == group_id, BuyGroupMember.seat_taken_at.is_not(None))
        .order_by(Order.id)
    )
    for order in orders:
        _to_buyer(session, "group_result", order, status=_said(GROUP_STATUS[state]))


def _on_group_formed(group_id, *, session, **_):
    _group_result(session, group_id, "formed")


def _on_group_failed(group_id, *, session, **_):
    _group_result(session, group_id, "failed")


def _on_commissions_created(order, *, session, commissions, **_):
    values = _order_values(order)
    for commission in commissions:
        user = session.scalar(
            select(User)
            .join(Distributor, Distributor.user_id == User.id)
            .where(Distributor.id == commission.distributor_id)
        )
        enqueue(
            session, "commission_new", user,
            {**values, "amount": kinds.money(commission.original_fen), "status": _said(COMMISSION_STATUS)},
            url_path="/d/commissions", reference=order.number,
        )  # fmt: skip


def _on_withdrawal_paid(withdrawal, *, session, **_):
    user = session.get(Distributor, withdrawal.distributor_id).user
    enqueue(
        session, "withdrawal_paid", user,
        {"amount": kinds.money(withdrawal.amount_fen), "reference": withdrawal.reference or "",
         "status": _said(WITHDRAWAL_STATUS)},
        url_path=f"/d/withdrawals/{withdrawal.id}", reference=str(withdrawal.id),
    )  # fmt: skip


def connect() -> None:
    order_signals.order_paid.connect(_on_order_paid)
    order_signals.order_shipped.connect(_on_order_shipped)
    order_signals.refund_approval_saved.connect(_on_refund_approved)
    order_signals.refund_completed.connect(_on_refund_completed)
    order_signals.refund_rejected.connect(_on_refund_rejected)
    marketing_signals.group_formed.connect(_on_group_formed)
    marketing_signals.group_failed.connect(_on_group_failed)
    distribution_signals.commissions_created.connect(_on_commissions_created)
    distribution_signals.withdrawal_paid.connect(_on_withdrawal_paid)
