"""Manual transfer: the shopper pays the merchant's QR code or bank account, taps "I have paid", and the
merchant confirms receipt in the back office. What many small merchants really use."""

from flask import url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.orders.models import Order, Refund
from app.payments.base import PaymentProvider, PaymentStart
from app.payments.models import Payment
from app.settings.services import get_shop_settings


class ManualProvider(PaymentProvider):
    name = "manual"
    label = _l("Transfer to the shop")

    def is_enabled(self, app, session: Session) -> bool:
        settings = get_shop_settings(session)
        return bool(
            settings.manual_payment_enabled
            and (settings.manual_payment_text or settings.manual_payment_qr_key)
        )

    def start(self, session: Session, order: Order, payment: Payment) -> PaymentStart:
        return PaymentStart(redirect_url=url_for("shop.manual_payment", number=order.number))

    def refund(self, session: Session, payment: Payment, refund: Refund) -> bool:
        return False  # the merchant pays it back by hand, then marks the refund as paid
