"""`flask distribution settle` and `flask ledger audit`: the distribution jobs cron runs."""

import sys

import click
from flask.cli import AppGroup

from app.distribution import ledger
from app.extensions import db
from app.jobs import run_job, run_job_from_cron
from app.marketing import points

distribution_cli = AppGroup("distribution", help="Distribution jobs.")
ledger_cli = AppGroup("ledger", help="Ledger checks: commission, points and growth.")


def settle_work() -> dict:
    """The settle job's work, for `run_job`: cron, the back office's "settle now" and the demo share it."""
    released = ledger.release_due(db.session)
    db.session.commit()
    return {"released": released}


@distribution_cli.command("settle")
def settle():
    """Release frozen commission whose order has been completed for the freeze days (idempotent)."""
    run_job_from_cron("distribution-settle", settle_work)


@ledger_cli.command("audit")
def audit():
    """Prove every distributor's balances, and every shopper's points and growth, equal the sums of their
    ledger entries; exit 1 on any mismatch."""
    mismatches = ledger.audit(db.session)
    for m in mismatches:
        click.echo(
            f"distributor {m.distributor_id}: {m.field} balance {m.balance} != ledger {m.ledger}", err=True
        )
    member_mismatches = points.audit(db.session)
    for m in member_mismatches:
        click.echo(f"shopper {m.user_id}: {m.what} balance {m.balance} != ledger {m.ledger}", err=True)
    mismatches = [*mismatches, *member_mismatches]
    run_job("ledger-audit", lambda: {"mismatches": len(mismatches)})
    if mismatches:
        sys.exit(1)
    click.echo("ledger audit: every balance matches its ledger")
