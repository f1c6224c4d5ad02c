"""Scheduled jobs (`flask orders expire`, …): idempotent, safe to start from cron on every host. A
database lock lets only one run of a job at a time; each run is recorded so the back office can show
when a job last ran and what it did."""

import logging
import zlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime
from app.extensions import db
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


def run_job(name: str, work: Callable[[], str]) -> str:
    """Run `work` (which commits as it goes and returns a one-line summary) under the job's lock."""
    engine = db.engine
    with engine.connect() as lock_conn:
        if engine.dialect.name == "postgresql":
            key = zlib.crc32(f"fenxiao-job:{name}".encode())
            if not lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
                raise JobAlreadyRunning(name)
        try:
            _record(name, started_at=utcnow(), finished_at=None)
            try:
                summary = work()
            except Exception as error:
                db.session.rollback()
                _record(name, finished_at=utcnow(), result=str(error)[:200], ok=False)
                raise
            _record(name, finished_at=utcnow(), result=summary[:200], ok=True)
            log.info("job %s: %s", name, summary)
            return summary
        finally:
            if engine.dialect.name == "postgresql":
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                lock_conn.commit()


def _record(name: str, **values) -> None:
    run = db.session.get(JobRun, name) or JobRun(name=name)
    for field, value in values.items():
        setattr(run, field, value)
    db.session.add(run)
    db.session.commit()


def last_runs() -> dict[str, JobRun]:
    return {run.name: run for run in db.session.scalars(db.select(JobRun))}
