"""`flask points expire` (daily is enough) and `flask groups settle` (every few minutes): the marketing jobs
cron runs."""

from flask.cli import AppGroup

from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.marketing import group_refunds, points

points_cli = AppGroup("points", help="Points jobs.")
groups_cli = AppGroup("groups", help="拼团 (group buy) jobs.")


def expire_work() -> dict:
    """Write off points past their expiry, oldest first (idempotent: a second run finds nothing)."""
    return {"expired_points": points.expire_due(db.session)}


@job_command(points_cli, "expire")
def expire():
    """Expire points earned more than the set months ago that were not used (idempotent)."""
    run_job_from_cron("points-expire", expire_work)


@job_command(groups_cli, "settle")
def settle():
    """Fail the 拼团 groups whose time is up and refund their paid orders (and orders paid after their group
    had no place left) through their gateways; a refused refund is tried again on the next run (idempotent)."""
    run_job_from_cron("groups-settle", lambda: group_refunds.settle(db.session))
