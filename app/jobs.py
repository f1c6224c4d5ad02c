"""Scheduled jobs (`flask orders expire`, …): idempotent, safe to start from cron on every host at once. A
lock lets only one run of a job at a time — on PostgreSQL an advisory lock, which every host shares; on
SQLite (one host by definition) a lock on a file beside the database. Each run is recorded so the back office
can show when a job last ran and what it did."""

import contextlib
import fcntl
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import String, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime
from app.extensions import db
from app.money import format_fen
from app.timeutil import utcnow

log = logging.getLogger(__name__)


class JobRun(db.Model):
    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(String(200), default="")
    ok: Mapped[bool] = mapped_column(default=True)


class JobAlreadyRunning(RuntimeError):
    pass


Counts = Mapping[str, int]

# Every scheduled job: its name (its lock and its record) → the words of its `flask` command, filled by
# job_command. Cron may start any of them on every host; tests/test_scale_out.py runs them all on two hosts at
# once.
JOBS: dict[str, tuple[str, ...]] = {}


def job_command(group: click.Group, command: str, *, app_group: bool = False):
    """Declare `flask <group> <command>` a scheduled job named "<group>-<command>" (with app_group, the app's
    own app.cli: `flask <command>`, named "<command>"); the command runs its work through run_job_from_cron
    under that name (run_job refuses a name not declared here)."""
    words = (command,) if app_group else (group.name, command)
    JOBS["-".join(words)] = words
    return group.command(command)


def run_job(name: str, work: Callable[[], Counts]) -> str:
    """Run `work` (which commits as it goes and returns what it did as counts, e.g. {"expired": 3}) under
    the job's lock. The counts are stored as "expired=3" so the back office can say them in the reader's
    language (`describe_counts`); the returned line is the same text, for cron's log."""
    if name not in JOBS:
        raise KeyError(f"{name!r} is not a scheduled job: declare its command with app.jobs.job_command")
    with _job_lock(name):
        _record(name, started_at=utcnow(), finished_at=None)
        try:
            summary = " ".join(f"{key}={int(value)}" for key, value in work().items())
        except Exception as error:
            db.session.rollback()
            _record(name, finished_at=utcnow(), result=str(error)[:200], ok=False)
            raise
        _record(name, finished_at=utcnow(), result=summary[:200], ok=True)
        log.info("job %s: %s", name, summary)
        return summary


@contextmanager
def _job_lock(name: str) -> Iterator[None]:
    """Held by one run of the job at a time, or JobAlreadyRunning. Both kinds are let go when their holder
    dies (its connection or its file closes), so a killed run never blocks the next one."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(f"fenxiao-job:{name}".encode())
        with engine.connect() as lock_conn:
            held = lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            # A session's lock outlives its transaction: end that at once, so the connection does not sit
            # idle in a transaction for the whole job (a server's idle_in_transaction_session_timeout
            # would close it and let the lock go mid-run).
            lock_conn.commit()
            if not held:
                raise JobAlreadyRunning(name)
            try:
                yield
            finally:
                with contextlib.suppress(DBAPIError):  # a connection gone has let the lock go already
                    lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    lock_conn.commit()
        return
    # SQLite: only processes on this host can open the file, so a lock on a file beside it is enough.
    database = engine.url.database
    if not database or database == ":memory:":
        yield  # a database only this process sees
        return
    with open(f"{database}.{name}.lock", "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobAlreadyRunning(name) from None
        yield


def run_job_from_cron(name: str, work: Callable[[], Counts]) -> bool:
    """A job's `flask …` command: run it and print what it did; a run already going on elsewhere is said, and
    is not an error (cron simply starts it again next time). Whether it ran."""
    try:
        click.echo(run_job(name, work))
    except JobAlreadyRunning:
        click.echo(f"{name} is already running elsewhere; nothing done.")
        return False
    return True


def _record(name: str, **values) -> None:
    run = db.session.get(JobRun, name) or JobRun(name=name)
    for field, value in values.items():
        setattr(run, field, value)
    db.session.add(run)
    db.session.commit()


def last_runs() -> dict[str, JobRun]:
    return {run.name: run for run in db.session.scalars(db.select(JobRun))}


# What each count in a stored result means, in the reader's language.
_COUNT_PHRASES: dict[str, Callable[[int], str]] = {
    "counted": lambda n: ngettext(
        "%(num)d product view or add-to-cart saved", "%(num)d product views and add-to-carts saved", n
    ),
    "expired": lambda n: ngettext("%(num)d unpaid order cancelled", "%(num)d unpaid orders cancelled", n),
    "completed": lambda n: ngettext(
        "%(num)d order received automatically", "%(num)d orders received automatically", n
    ),
    "released": lambda n: ngettext("%(num)d commission released", "%(num)d commissions released", n),
    "upgraded": lambda n: ngettext("%(num)d distributor upgraded", "%(num)d distributors upgraded", n),
    "finalised": lambda n: ngettext("%(num)d order became final", "%(num)d orders became final", n),
    "days": lambda n: ngettext("%(num)d dividend day paid", "%(num)d dividend days paid", n),
    "sharers": lambda n: ngettext("%(num)d dividend share", "%(num)d dividend shares", n),
    "paid_fen": lambda n: _("%(amount)s paid in dividends", amount=format_fen(n)),
    "expired_points": lambda n: ngettext(
        "points expired for %(num)d shopper", "points expired for %(num)d shoppers", n
    ),
    "mismatches": lambda n: ngettext("%(num)d balance mismatch", "%(num)d balance mismatches", n),
    "paid": lambda n: ngettext("%(num)d lost payment recovered", "%(num)d lost payments recovered", n),
    "closed": lambda n: ngettext(
        "%(num)d payment closed at the gateway", "%(num)d payments closed at the gateway", n
    ),
    "waiting": lambda n: ngettext("%(num)d payment still waiting", "%(num)d payments still waiting", n),
    "errors": lambda n: ngettext("%(num)d gateway error", "%(num)d gateway errors", n),
    "failed_groups": lambda n: ngettext(
        "%(num)d group buy did not form", "%(num)d group buys did not form", n
    ),
    "group_refunds": lambda n: ngettext("%(num)d group-buy refund sent", "%(num)d group-buy refunds sent", n),
    "refunds_refused": lambda n: ngettext(
        "%(num)d refund refused by the gateway, tried again next run",
        "%(num)d refunds refused by the gateway, tried again next run",
        n,
    ),
    "kept": lambda n: ngettext("backup made, %(num)d kept", "backup made, %(num)d kept", n),
    "restored": lambda n: ngettext(
        "this database was restored from the copy it made",
        "this database was restored from the copy it made",
        n,
    ),
    "deleted": lambda n: ngettext("%(num)d old backup deleted", "%(num)d old backups deleted", n),
    "auto_approved": lambda n: ngettext(
        "%(num)d after-sales request approved automatically",
        "%(num)d after-sales requests approved automatically",
        n,
    ),
    "auto_approve_failed": lambda n: ngettext(
        "%(num)d after-sales request could not be approved, tried again next run",
        "%(num)d after-sales requests could not be approved, tried again next run",
        n,
    ),
    "returns_closed": lambda n: ngettext(
        "%(num)d return never sent back, request closed",
        "%(num)d returns never sent back, requests closed",
        n,
    ),
    "tracked": lambda n: ngettext("%(num)d parcel tracked", "%(num)d parcels tracked", n),
    "signed": lambda n: ngettext("%(num)d parcel signed for", "%(num)d parcels signed for", n),
    "tracking_errors": lambda n: ngettext(
        "%(num)d tracking query failed", "%(num)d tracking queries failed", n
    ),
    "tracking_stopped": lambda n: _("stopped early: 快递100 is not answering, the next run tries again"),
    "notified": lambda n: ngettext("%(num)d WeChat message sent", "%(num)d WeChat messages sent", n),
    "notify_retries": lambda n: ngettext(
        "%(num)d WeChat message to try again later", "%(num)d WeChat messages to try again later", n
    ),
    "notify_failed": lambda n: ngettext(
        "%(num)d WeChat message given up", "%(num)d WeChat messages given up", n
    ),
    "key_unreadable": lambda n: _(
        "the 快递100 key cannot be opened (SECRETS_KEY changed?): enter it again in Settings › Delivery tracking"
    ),
}
_ALWAYS_SAID = {"mismatches"}  # "0 mismatches" is the audit's good news, not nothing


def job_result(run: JobRun) -> str:
    """A run's stored result as a phrase for people; a failed run's result is the error text."""
    return describe_counts(run.result) if run.ok else run.result


def describe_counts(result: str) -> str:
    """ "released=2 mismatches=0" → "2 commissions released, 0 balance mismatches" in the reader's language;
    anything not written by `run_job` is shown as it is."""
    phrases = []
    for token in result.split():
        key, _sep, value = token.partition("=")
        if key not in _COUNT_PHRASES or not value.isdecimal():
            return result
        if int(value) or key in _ALWAYS_SAID:
            phrases.append(_COUNT_PHRASES[key](int(value)))
    return str(_l(", ")).join(phrases) or str(_l("nothing to do"))


@dataclass(frozen=True)
class JobHealth:
    """How a job is doing, said plainly: state is never / running / stuck / ok / overdue / failed."""

    state: str
    sentence: str
    detail: str = ""  # what the last run did, or its error


def overdue_after(every: timedelta) -> timedelta:
    """How long past its last run a job that should run `every` so often is late: half an interval more
    (at least ten minutes, at most two hours), so a slow run or a minute's cron drift is not an alarm, and a
    missed nightly run is said the next morning, not at noon."""
    return every + min(max(every / 2, timedelta(minutes=10)), timedelta(hours=2))


STUCK_AFTER = timedelta(hours=1)  # no job of ours runs this long: one that has is hung, whatever its interval


def job_health(run: JobRun | None, every: timedelta, now: datetime | None = None) -> JobHealth:
    """The line the dashboard shows for a job expected to run `every` so often, given its last run."""
    now = now or utcnow()
    if run is None or run.started_at is None:
        return JobHealth("never", _("Has never run: add the command below to cron"))
    if run.finished_at is None:
        ago = how_long(now - run.started_at)
        if now - run.started_at > min(overdue_after(every), STUCK_AFTER):
            return JobHealth("stuck", _("Started %(ago)s ago and has not finished: it may be stuck", ago=ago))
        return JobHealth("running", _("Running now (started %(ago)s ago)", ago=ago))
    ago = how_long(now - run.finished_at)
    if not run.ok:
        return JobHealth("failed", _("The last run, %(ago)s ago, failed", ago=ago), run.result)
    if now - run.finished_at > overdue_after(every):
        return JobHealth(
            "overdue",
            _("Has not run for %(ago)s: please check the scheduled jobs (cron)", ago=ago),
            job_result(run),
        )
    if now - run.finished_at < timedelta(minutes=1):
        return JobHealth("ok", _("Ran fine just now"), job_result(run))
    return JobHealth("ok", _("Ran fine %(ago)s ago", ago=ago), job_result(run))


def how_long(delta: timedelta) -> str:
    """A stretch of time as people say it: minutes under an hour, hours under two days, then days."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return ngettext("%(num)d minute", "%(num)d minutes", max(minutes, 1))
    if minutes < 48 * 60:
        return ngettext("%(num)d hour", "%(num)d hours", minutes // 60)
    return ngettext("%(num)d day", "%(num)d days", minutes // (24 * 60))
