"""Review of the after-sales types (issue 13 §1): the timeout job's stock, and races on PostgreSQL."""

from datetime import timedelta

from sqlalchemy import func, select

from app import orders
from app.extensions import db
from app.orders import aftersales_jobs
from app.orders.models import Order, OrderEvent, Refund, RefundRequestStatus
from app.settings.models import ShopSettings
from app.timeutil import set_clock
from tests import factories
from tests.conftest import run_together
from tests.test_aftersales import START, ask, clock, paid_order, shop, shopper, staff, stock_of, tee  # noqa: F401


def test_the_job_puts_units_never_shipped_back_into_stock(session, shopper, tee, shop):
    """仅退款 before shipping, left unanswered: the job approves it and the goods, still in the warehouse,
    go back into stock (the merchant's own approval offers the choice; the job has nobody to ask)."""
    order = paid_order(session, shopper, tee.skus[0], qty=2, ship=False)
    assert stock_of(session, tee.skus[0].id) == 3
    ask(session, order, shopper, "refund_only", qty=2, not_received=False)
    set_clock(START + timedelta(days=4))
    assert aftersales_jobs.run_timeouts(session)["auto_approved"] == 1
    assert stock_of(session, tee.skus[0].id) == 5


def test_the_job_keeps_units_lost_in_the_post_out_of_stock(session, shopper, staff, tee, shop):
    """仅退款 "not received" on a shipped order: the goods are not back, stock stays as it is."""
    order = paid_order(session, shopper, tee.skus[0], qty=2, staff=staff)
    ask(session, order, shopper, "refund_only", qty=1, not_received=True)
    set_clock(START + timedelta(days=4))
    assert aftersales_jobs.run_timeouts(session)["auto_approved"] == 1
    assert stock_of(session, tee.skus[0].id) == 3
