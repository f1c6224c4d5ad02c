"""`flask orders …`: the order jobs cron runs."""

import click
from flask.cli import AppGroup

from app.extensions import db
from app.jobs import JobAlreadyRunning, run_job
from app.orders import transitions

orders_cli = AppGroup("orders", help="Order jobs: expire unpaid orders, complete received ones.")


def _run(name: str, work) -> None:
    try:
        click.echo(run_job(name, work))
    except JobAlreadyRunning:
        click.echo(f"{name} is already running elsewhere; nothing done.")


@orders_cli.command("expire")
def expire():
    """Cancel unpaid orders past their time limit and give their stock back (idempotent)."""
    _run("orders-expire", lambda: {"expired": transitions.expire_due_orders(db.session)})


@orders_cli.command("autocomplete")
def autocomplete():
    """Mark shipped orders as received once the shop's automatic-receipt days have passed."""
    _run("orders-autocomplete", lambda: {"completed": transitions.autocomplete_orders(db.session)})
