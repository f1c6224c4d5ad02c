"""The interface every payment provider implements."""

from dataclasses import dataclass

from flask import Flask
from sqlalchemy.orm import Session

from app.orders.models import Order, Refund
from app.payments.models import Payment


@dataclass
class PaymentStart:
    """How to send the shopper on: a URL to go to, or a page of ours to render (template + context)."""

    redirect_url: str | None = None
    template: str | None = None
    context: dict | None = None


class PaymentProvider:
    name: str = ""
    label = ""
    # Where it can be offered: inside WeChat's browser, outside it, or both.
    inside_wechat: bool = True
    outside_wechat: bool = True

    def is_enabled(self, app: Flask, session: Session) -> bool:
        raise NotImplementedError

    def start(self, session: Session, order: Order, payment: Payment) -> PaymentStart:
        raise NotImplementedError

    def refund(self, session: Session, payment: Payment, refund: Refund) -> bool:
        """Send the money back. True when it is back now; False when it completes later
        (a refund notify, or the merchant marks a manual refund as paid)."""
        raise NotImplementedError

    def offered(self, app: Flask, session: Session, *, in_wechat: bool) -> bool:
        return self.is_enabled(app, session) and (self.inside_wechat if in_wechat else self.outside_wechat)
