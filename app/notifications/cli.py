"""`flask notifications send`: the outbox job cron runs every minute."""

from flask.cli import AppGroup

from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.notifications import sender

notifications_cli = AppGroup("notifications", help="WeChat template messages: send the outbox.")


@job_command(notifications_cli, "send")
def send():
    """Send due template messages (each once; failed ones again after 1, 5, 30 minutes, 2 hours)."""
    run_job_from_cron("notifications-send", lambda: sender.send_due(db.session))
