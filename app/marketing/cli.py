"""`flask points expire`: the marketing job cron runs (daily is enough)."""

from flask.cli import AppGroup

from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.marketing import points

points_cli = AppGroup("points", help="Points jobs.")


def expire_work() -> dict:
    """Write off points past their expiry, oldest first (idempotent: a second run finds nothing)."""
    return {"expired_points": points.expire_due(db.session)}


@job_command(points_cli, "expire")
def expire():
    """Expire points earned more than the set months ago that were not used (idempotent)."""
    run_job_from_cron("points-expire", expire_work)
