"""Distribution reacts to order events, inside the order's own transaction."""

from sqlalchemy import exists, select, union

from app.accounts import signals as account_signals
from app.accounts.models import User
from app.distribution import grades, ledger
from app.distribution.models import Commission, Distributor, DistributorApplication
from app.orders import signals


def _on_order_paid(order, *, session, **_):
    ledger.create_commission_for_order(session, order)


def _on_order_completed(order, *, session, **_):
    ledger.start_freeze(session, order)
    grades.check_upgrades(session, grades.people_of_order(order))  # own and team spend count from now


def _on_refund_completed(order, *, session, **_):
    ledger.adjust_for_refund(session, order)
    # The rules check grades on a refund too. A refund only lowers figures, so it never moves anyone down.
    receivers = select(Commission.distributor_id).where(Commission.order_id == order.id)
    grades.check_upgrades(session, union(grades.people_of_order(order), receivers))


def _holdings(user, *, session, **_) -> list[str]:
    """A distributor's standing (with its commission and team), an application, or members bound to it."""
    standing = (
        exists().where(Distributor.user_id == user.id)
        | exists().where(DistributorApplication.user_id == user.id)
        | exists().where(User.referrer_id == user.id)
    )
    return ["distribution"] if session.scalar(select(standing)) else []


def connect() -> None:
    account_signals.account_holdings.connect(_holdings)
    signals.order_paid.connect(_on_order_paid)
    signals.order_completed.connect(_on_order_completed)
    signals.refund_completed.connect(_on_refund_completed)
