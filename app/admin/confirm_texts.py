"""What the back office asks before a button moves money: the amount and the person in one sentence, built
here with the money helpers and masked names; the templates put it in hx-confirm (escaped as any attribute)."""

from flask_babel import gettext as _

from app.accounts.models import User, mask_mobile
from app.admin import bp
from app.distribution.explain import mask_name
from app.distribution.models import Distributor, Withdrawal
from app.money import format_fen
from app.orders import exchanges
from app.orders.models import Order, Refund
from app.payments.models import Payment


def refund_confirm(refund: Refund) -> str:
    """Approving an after-sales request sends the money back (or promises to, by hand)."""
    return _(
        "Refund %(amount)s to %(person)s?",
        amount=format_fen(refund.amount_fen),
        person=mask_name(refund.order.ship_recipient),
    )


def refund_done_confirm(refund: Refund) -> str:
    """Marking a manual-transfer refund as done: the merchant says the money has gone back."""
    return _(
        "Mark %(amount)s to %(person)s as refunded? Only once you have sent the money back.",
        amount=format_fen(refund.amount_fen),
        person=mask_name(refund.order.ship_recipient),
    )


def refund_instead_confirm(refund: Refund) -> str:
    """An exchange that cannot be shipped: its units are refunded instead."""
    return _(
        "Refund %(amount)s to %(person)s instead of sending a replacement?",
        amount=format_fen(exchanges.refund_instead_amount(refund)),
        person=mask_name(refund.order.ship_recipient),
    )


def transfer_confirm(order: Order) -> str:
    """Confirming a manual transfer makes the order paid: its goods will be shipped."""
    return _(
        "Confirm that %(amount)s from %(person)s has arrived? The order is then ready to ship.",
        amount=format_fen(order.total_fen),
        person=mask_name(order.ship_recipient),
    )


def payment_returned_confirm(payment: Payment) -> str:
    """Settling money that came in for an order that could not take it: it has been sent back."""
    order = payment.order
    return _(
        "Mark %(amount)s paid for order %(number)s as returned to the buyer? Only once it has gone back.",
        amount=format_fen(payment.amount_fen),
        number=order.number,
    )


def _holder(withdrawal: Withdrawal) -> str:
    distributor = withdrawal.distributor
    name = (withdrawal.account or {}).get("name") or distributor.real_name or distributor.user.display_name
    return mask_name(str(name))


def withdrawal_confirm(withdrawal: Withdrawal, action: str) -> str:
    """Approving (the transfer is promised) or marking paid (the money has gone)."""
    if action == "pay":
        return _(
            "Mark %(net)s as paid to %(person)s? Only once the transfer has gone through.",
            net=format_fen(withdrawal.net_fen),
            person=_holder(withdrawal),
        )
    return _(
        "Approve the withdrawal of %(amount)s by %(person)s? You then transfer %(net)s.",
        amount=format_fen(withdrawal.amount_fen),
        net=format_fen(withdrawal.net_fen),
        person=_holder(withdrawal),
    )


def void_confirm(frozen_fen: int, holders: list[Distributor]) -> str:
    """Voiding takes an order's frozen commission from each distributor who holds some."""
    people = "、".join(dict.fromkeys(mask_name(d.real_name or d.user.display_name) for d in holders)) or "—"
    return _(
        "Void %(amount)s of frozen commission of %(people)s? This cannot be undone.",
        amount=format_fen(frozen_fen),
        people=people,
    )


def account_confirm(user: User, *, disable: bool) -> str:
    """Disabling an account stops its owner logging in and ordering; what they earned stays theirs."""
    person = mask_name(user.nickname) if user.nickname else mask_mobile(user.mobile)
    if disable:
        return _(
            "Disable the account of %(person)s? They can no longer log in or order and are logged out now; "
            "their orders, points, commission and balance are kept.",
            person=person,
        )
    return _("Enable the account of %(person)s again? They can log in and order.", person=person)


@bp.context_processor
def confirm_texts():
    return {
        "refund_confirm": refund_confirm,
        "refund_done_confirm": refund_done_confirm,
        "refund_instead_confirm": refund_instead_confirm,
        "transfer_confirm": transfer_confirm,
        "payment_returned_confirm": payment_returned_confirm,
        "withdrawal_confirm": withdrawal_confirm,
        "account_confirm": account_confirm,
    }
