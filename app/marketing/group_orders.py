"""What a 拼团 means for the life of its orders (MARKETING.md, 拼团): no shipping before the group is full,
no payment for a place that is gone, no after-sales while the group forms or while it refunds the order —
the receivers of the orders' and payments' signals, and the same rules for a page of orders at once."""

from collections.abc import Iterable

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.marketing.groups import member_of_order
from app.marketing.models import BuyGroup, BuyGroupMember, BuyGroupStatus, GroupRefundState
from app.orders.events import OrderError
from app.orders.models import Order
from app.timeutil import utcnow


def refuse_unformed_shipping(session: Session, order: Order) -> None:
    """On order_shipping: an order of a group that is not full is not shipped (OrderError, so the bulk
    shipping report shows the reason beside the row)."""
    member = member_of_order(session, order.id)
    if member is None:
        return
    status = session.scalar(select(BuyGroup.status).where(BuyGroup.id == member.group_id))
    if status == BuyGroupStatus.FULL and member.seat_taken_at is not None:
        return
    if status == BuyGroupStatus.FAILED or member.refund_state != GroupRefundState.NONE:
        # a failed group, or a payer who found no place left: either way the order goes back
        raise OrderError(
            _l("This group-buy order is being refunded (its group did not form). Do not ship it.")
        )
    raise OrderError(_l("This order waits for its group to fill (待成团). Ship it once the group is full."))


def refuse_payment_without_place(session: Session, order: Order) -> None:
    """On payment_starting: a member's order whose group is full, failed or past its time is not paid (it
    would only be refunded); the shopper is told so. (One already at the cashier when the last place goes
    is refunded at once by take_seat.) A leader's order opens its group, so it is always payable."""
    member = member_of_order(session, order.id)
    if member is None or member.is_leader:
        return
    group = session.get(BuyGroup, member.group_id)
    if group.status == BuyGroupStatus.OPEN and group.seats_taken < group.size and group.expires_at > utcnow():
        return
    raise OrderError(
        _l("This group is full or over: it can no longer be paid. Open a group of your own instead.")
    )


def refuse_refund_while_forming(session: Session, order: Order) -> None:
    """On refund_requesting: while its group is forming, an order's seat counts towards the group, so it
    cannot be asked back (the group would fill with someone who has their money back); a failed group, or a
    payer who found no place, is refunded by `flask groups settle` already. Once the group is full, the
    order has the usual after-sales."""
    member = member_of_order(session, order.id)
    if member is None:
        return
    if member.refund_state != GroupRefundState.NONE:
        raise OrderError(
            _l("This group-buy order is being refunded in full already (its group did not form).")
        )
    status = session.scalar(select(BuyGroup.status).where(BuyGroup.id == member.group_id))
    if status != BuyGroupStatus.FULL:
        raise OrderError(
            _l(
                "The group is still forming (拼团中): after-sales open once it is full, and if it does not "
                "fill in time every order is refunded automatically."
            )
        )


def no_after_sales(session: Session, order_ids: Iterable[int]) -> set[int]:
    """The orders among these that may not ask for a refund (refuse_refund_while_forming's rule, for the
    buttons of a page of orders at once): their group is not full, or it is refunding them already."""
    ids = sorted(set(order_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(BuyGroupMember.order_id)
            .join(BuyGroup, BuyGroup.id == BuyGroupMember.group_id)
            .where(
                BuyGroupMember.order_id.in_(ids),
                or_(
                    BuyGroup.status != BuyGroupStatus.FULL,
                    BuyGroupMember.refund_state != GroupRefundState.NONE,
                ),
            )
        )
    )


def waiting_for_group(session: Session, order_ids: Iterable[int]) -> set[int]:
    """The orders among these that wait for their group to fill (待成团): paid, group not full yet."""
    ids = sorted(set(order_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(BuyGroupMember.order_id)
            .join(BuyGroup, BuyGroup.id == BuyGroupMember.group_id)
            .where(
                BuyGroupMember.order_id.in_(ids),
                BuyGroupMember.refund_state == GroupRefundState.NONE,
                BuyGroup.status.in_([BuyGroupStatus.PENDING, BuyGroupStatus.OPEN]),
            )
        )
    )
