"""`flask stats flush`: move the product view counts into the database (app/catalog/view_counts.py)."""

from flask.cli import AppGroup

from app.catalog import view_counts
from app.jobs import job_command, run_job_from_cron

stats_cli = AppGroup("stats", help="Product view and add-to-cart counts.")


@job_command(stats_cli, "flush")
def flush():
    """Write the counted product views, visitors and add-to-cart to the database (every few minutes)."""
    run_job_from_cron("stats-flush", view_counts.flush)
