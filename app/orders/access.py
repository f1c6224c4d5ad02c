"""Who may see which order."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.orders.events import OrderError
from app.orders.models import (
    Order,
)
from app.orders.transitions import expire_if_due


def user_order(session: Session, user_id: int, number: str) -> Order:
    """The one place that decides whether a shopper may see an order: only their own."""
    order = session.scalar(
        select(Order).where(Order.number == str(number)[:20]).options(selectinload(Order.lines))
    )
    if order is None or order.user_id != user_id:
        raise OrderError(_l("This order does not exist."))
    expire_if_due(session, order)
    return order
