"""`flask points expire`: the marketing job cron runs (daily is enough)."""

import click
from flask.cli import AppGroup

from app.extensions import db
from app.jobs import JobAlreadyRunning, run_job
from app.marketing import points

points_cli = AppGroup("points", help="Points jobs.")


def expire_work() -> dict:
    """Write off points past their expiry, oldest first (idempotent: a second run finds nothing)."""
    return {"expired_points": points.expire_due(db.session)}


@points_cli.command("expire")
def expire():
    """Expire points earned more than the set months ago that were not used (idempotent)."""
    try:
        click.echo(run_job("points-expire", expire_work))
    except JobAlreadyRunning:
        click.echo("points-expire is already running elsewhere; nothing done.")
