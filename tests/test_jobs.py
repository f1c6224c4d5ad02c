"""Scheduled jobs (app/jobs.py): one run of a job at a time, on SQLite as on PostgreSQL, and only the jobs
declared with job_command run at all (so the scale-out test, which runs every declared one, misses none)."""

import pytest

from app.jobs import JOBS, run_job


def test_a_job_started_while_it_runs_does_nothing(app, runner):
    said = []

    def work():
        said.append(runner.invoke(args=["orders", "expire"]).output)  # cron starts it again meanwhile
        return {"expired": 0}

    run_job("orders-expire", work)
    assert said == ["orders-expire is already running elsewhere; nothing done.\n"]
    assert runner.invoke(args=["orders", "expire"]).output == "expired=0\n"  # let go once it finished


def test_every_declared_job_is_a_command(app):
    for words in JOBS.values():
        command = app.cli
        for word in words:
            command = command.get_command(None, word)
        assert command is not None, words


def test_an_undeclared_job_is_refused(app):
    with pytest.raises(KeyError, match="job_command"):
        run_job("orders-archive", lambda: {})


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_lock_of_a_running_job_waits_outside_any_transaction(app):
    """A server's idle_in_transaction_session_timeout must not close the lock's connection mid-run."""
    from sqlalchemy import text

    from app.extensions import db

    def work():
        with db.engine.connect() as conn:
            states = conn.execute(
                text(
                    "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted"
                )
            ).scalars()
            seen.extend(states)
        return {}

    seen = []
    run_job("orders-expire", work)
    assert seen == ["idle"]
