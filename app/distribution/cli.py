"""`flask distribution settle` and `flask ledger audit`: the distribution jobs cron runs."""

import sys

import click
from flask.cli import AppGroup

from app.distribution import dividend_audit, dividends, grades, ledger
from app.extensions import db
from app.jobs import job_command, run_job_from_cron
from app.marketing import points

distribution_cli = AppGroup("distribution", help="Distribution jobs.")
ledger_cli = AppGroup("ledger", help="Ledger checks: commission, points and growth.")


def settle_work() -> dict:
    """The settle job's work, for `run_job`: cron, the back office's "settle now" and the demo share it."""
    released = ledger.release_due(db.session)
    db.session.commit()
    # Orders whose commission is now released become final: the dividend turnover of the day they do.
    finalised = dividends.finalise_due(db.session)
    db.session.commit()
    # Every distributor's figures at once: what the figure-change checks missed (a grade whose conditions
    # the merchant has just lowered, a binding that lapsed) is caught here.
    upgraded = grades.check_upgrades(db.session)
    db.session.commit()
    return {"released": released, "upgraded": upgraded, "finalised": finalised}


@job_command(distribution_cli, "settle")
def settle():
    """Release frozen commission whose order has been completed for the freeze days, then move every
    distributor up to the grade they have reached (idempotent)."""
    run_job_from_cron("distribution-settle", settle_work)


def dividends_work() -> dict:
    """The dividend job's work: every final day not yet paid, up to yesterday (nothing when dividends are
    off)."""
    return dividends.run_dividends(db.session)


@job_command(distribution_cli, "dividends")
def pay_dividends():
    """Pay the dividend pools of every day not yet computed, up to yesterday in shop time (idempotent per
    day and distributor; catches up missed days)."""
    run_job_from_cron("distribution-dividends", dividends_work)


@job_command(ledger_cli, "audit")
def audit():
    """Prove every distributor's balances, and every shopper's points and growth, equal the sums of their
    ledger entries, and every dividend payout, day and pool ties up with its entries; exit 1 on any
    mismatch."""
    found: list[str] = []

    def work() -> dict:
        found.extend(
            f"distributor {m.distributor_id}: {m.field} balance {m.balance} != ledger {m.ledger}"
            for m in ledger.audit(db.session)
        )
        found.extend(
            f"shopper {m.user_id}: {m.what} balance {m.balance} != ledger {m.ledger}"
            for m in points.audit(db.session)
        )
        found.extend(dividend_audit.audit(db.session))
        return {"mismatches": len(found)}

    if not run_job_from_cron("ledger-audit", work):
        return
    for line in found:
        click.echo(line, err=True)
    if found:
        sys.exit(1)
    click.echo("ledger audit: every balance matches its ledger")
