"""Orders answer the accounts' questions (app/accounts/signals.py): what an account holds here."""

from sqlalchemy import exists, select

from app.accounts import signals as account_signals
from app.orders.models import CartItem, Order


def _holdings(user, *, session, **_) -> list[str]:
    held = []
    if session.scalar(select(exists().where(Order.user_id == user.id))):
        held.append("orders")
    if session.scalar(select(exists().where(CartItem.user_id == user.id))):
        held.append("cart")
    return held


def connect() -> None:
    account_signals.account_holdings.connect(_holdings)
