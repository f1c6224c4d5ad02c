"""The forms of a 退货退款 / 换货 request's buttons, empty (the order page and the after-sales queue)."""

from sqlalchemy.orm import Session

from app.orders import exchanges
from app.orders.forms import (
    AdminApproveReturnForm,
    AdminReceiveReturnForm,
    AdminRefundInsteadForm,
    AdminRefuseReturnForm,
    AdminShipReplacementForm,
)
from app.orders.models import Refund, RefundRequestStatus


def aftersales_forms(session: Session, refund: Refund) -> dict:
    skus = (
        exchanges.replacement_choices(session, refund)
        if refund.status == RefundRequestStatus.RECEIVED
        else ()
    )
    return {
        "approve_return": AdminApproveReturnForm(refund_id=refund.id, formdata=None),
        "receive": AdminReceiveReturnForm(refund_id=refund.id, formdata=None),
        "refuse": AdminRefuseReturnForm(refund_id=refund.id, formdata=None),
        "ship_replacement": AdminShipReplacementForm(refund_id=refund.id, skus=skus, formdata=None),
        "refund_instead": AdminRefundInsteadForm(refund_id=refund.id, formdata=None),
    }
