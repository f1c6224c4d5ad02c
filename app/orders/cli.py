"""`flask orders …`: the order jobs cron runs."""

from flask.cli import AppGroup

from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.orders import aftersales_jobs, tracking, transitions

orders_cli = AppGroup("orders", help="Order jobs: expire unpaid orders, complete received ones.")


@job_command(orders_cli, "expire")
def expire():
    """Cancel unpaid orders past their time limit and give their stock back (idempotent)."""
    run_job_from_cron("orders-expire", lambda: {"expired": transitions.expire_due_orders(db.session)})


@job_command(orders_cli, "autocomplete")
def autocomplete():
    """Mark shipped orders as received once the shop's automatic-receipt days have passed."""
    run_job_from_cron(
        "orders-autocomplete", lambda: {"completed": transitions.autocomplete_orders(db.session)}
    )


@job_command(orders_cli, "track")
def track():
    """Ask 快递100 where shipped parcels are (with the shop's key; each order at most every few hours)."""
    run_job_from_cron("orders-track", lambda: tracking.track_shipped_orders(db.session))


@job_command(orders_cli, "aftersales")
def aftersales():
    """After-sales timeouts: approve requests the shop left unanswered, close returns never sent back."""
    run_job_from_cron("orders-aftersales", lambda: aftersales_jobs.run_timeouts(db.session))
