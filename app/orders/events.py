"""The audit trail of an order and the guarded status change every transition goes through, of orders,
refunds and withdrawals alike (a conditional UPDATE ... WHERE status IN (allowed), so a retried or
concurrent call applies at most once)."""

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.errors import UserError
from app.orders.models import Order, OrderEvent
from app.timeutil import utcnow


class OrderError(UserError):
    """A refusal about a cart, an order or a refund."""


def record_event(
    session: Session,
    order: Order,
    action: str,
    *,
    actor: User | None = None,
    machine: str = "system",
    from_status: str | None = None,
    to_status: str | None = None,
    note: str = "",
) -> OrderEvent:
    """Write an event of the order's audit trail. The actor is a shopper or staff; without one, `machine`
    says what acted: the system (a job, a lazy expiry) or a payment gateway ("gateway")."""
    event = OrderEvent(
        order_id=order.id,
        actor_id=actor.id if actor else None,
        actor_kind=machine if actor is None else "staff" if actor.is_back_office else "shopper",
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note[:500],
        created_at=utcnow(),
    )
    session.add(event)
    return event


def transition(session: Session, row, allowed: tuple, to_status: str, *, where: tuple = (), **values) -> bool:
    """Move `row` (an order, a refund, a withdrawal: any model with `id` and `status`) to `to_status` only if
    it is still in one of `allowed` (and `where`'s conditions still hold); True when this call did it. The
    row is refreshed either way."""
    model = type(row)
    result = session.execute(
        update(model)
        .where(model.id == row.id, model.status.in_([str(s) for s in allowed]), *where)
        .values(status=str(to_status), **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return result.rowcount == 1


def change_status(
    session: Session,
    order: Order,
    allowed: tuple,
    to_status: str,
    action: str,
    *,
    actor: User | None,
    machine: str = "system",
    note: str = "",
    where: tuple = (),
    **values,
) -> bool:
    """transition() the order and, when this call moved it, record `action` from the status it was in (the
    one allowed, when there is one: the UPDATE guarantees it, whatever the loaded object says)."""
    before = allowed[0] if len(allowed) == 1 else order.status
    if not transition(session, order, allowed, to_status, where=where, **values):
        return False
    record_event(
        session,
        order,
        action,
        actor=actor,
        machine=machine,
        from_status=before,
        to_status=to_status,
        note=note,
    )
    return True
