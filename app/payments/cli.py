"""`flask payments reconcile`: ask the gateways about payments whose notify never came, and close at the
gateway what can no longer be paid here."""

import logging
from datetime import timedelta

from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.orders.models import OrderStatus
from app.orders.transitions import expire_due_orders
from app.payments import get_provider, wechat_certificates
from app.payments.gateways import GatewayNotConfigured
from app.payments.models import Payment, PaymentStatus
from app.payments.services import PaymentError, settle_from_gateway
from app.payments.wechatpay import GatewayError
from app.timeutil import utcnow

payments_cli = AppGroup("payments", help="Payment jobs.")
log = logging.getLogger(__name__)
QUIET_PERIOD = timedelta(minutes=2)  # give the notify a chance first


def reconcile(session) -> dict:
    expire_due_orders(session)
    wechat_certificates.refresh_certificates(session)  # at most once an hour
    counts = {"paid": 0, "closed": 0, "waiting": 0, "errors": 0}
    due = session.scalars(
        select(Payment)
        .where(
            Payment.provider.in_(["wechat", "alipay"]),
            Payment.status == PaymentStatus.PENDING,
            Payment.created_at <= utcnow() - QUIET_PERIOD,
        )
        .order_by(Payment.id)
    ).all()
    for payment in due:
        try:
            counts[_reconcile_one(session, payment)] += 1
            session.commit()
        except (GatewayError, GatewayNotConfigured, PaymentError, OSError) as error:
            session.rollback()
            counts["errors"] += 1
            log.warning("reconcile %s: %s", payment.out_trade_no, error)
    return counts


def _reconcile_one(session, payment: Payment) -> str:
    if settle_from_gateway(session, payment):
        return "paid"
    if payment.order.status != OrderStatus.PENDING_PAYMENT:
        # The order is gone here: make sure it cannot be paid there.
        get_provider(payment.provider).close(session, payment)
        payment.status = PaymentStatus.CLOSED
        return "closed"
    return "waiting"


@job_command(payments_cli, "reconcile")
def reconcile_command():
    """Recover lost notifies by asking the gateways; close expired orders at the gateway."""
    run_job_from_cron("payments-reconcile", lambda: reconcile(db.session))
