"""`flask backup` and `flask restore FILE`: one consistent copy of the shop's database per file, with a
manifest that lists the uploaded pictures (not the pictures themselves), and the rule for which old copies
to keep. tarfile, hashlib, sqlite3 and subprocess are imported by the functions that use them: the web
worker loads this module only to tell the dashboard when the last good backup was made."""

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect, text, update
from sqlalchemy.engine import Connection, make_url

from app import storage
from app.extensions import db
from app.jobs import JobRun
from app.storage import LocalStorage, S3Storage, Storage, StorageError
from app.timeutil import SHOP_TZ, utcnow

FORMAT_VERSION = 1
JOB_NAME = "backup"  # `flask backup`, declared in app/cli.py
MANIFEST = "manifest.json"
DATABASE_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
# fenxiao-20250131-033000.tar: the shop's local time, so that a "day" is the merchant's day.
NAME_RE = re.compile(r"^fenxiao-(\d{8}-\d{6})\.tar$")
NAME_TIME_FORMAT = "%Y%m%d-%H%M%S"
OVERDUE_AFTER = timedelta(days=2)

Echo = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why and what to do, for the operator."""


# ---------------------------------------------------------------- names and retention


def backup_name(moment: datetime) -> str:
    return f"fenxiao-{moment.astimezone(SHOP_TZ).strftime(NAME_TIME_FORMAT)}.tar"


def backup_time(name: str) -> datetime | None:
    """When a backup of ours was made (shop time, naive), from its name; None for any other file."""
    match = NAME_RE.match(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), NAME_TIME_FORMAT)
    except ValueError:
        return None


def backups_to_keep(names: Iterable[str], today: date, keep_daily: int, keep_monthly: int) -> set[str]:
    """The newest backup of each of the last `keep_daily` days and of each of the last `keep_monthly`
    months, counting today and this month; the newest of all and any dated after today are kept too, whatever
    the settings. Names not ours are neither kept nor deleted by the caller."""
    times = {name: moment for name in names if (moment := backup_time(name)) is not None}
    days = {today - timedelta(days=n) for n in range(keep_daily)}
    months = set()
    year, month = today.year, today.month
    for _ in range(keep_monthly):
        months.add((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    newest: dict[tuple, str] = {}
    for name, moment in sorted(times.items(), key=lambda item: item[1]):
        if moment.date() in days:
            newest[("day", moment.date())] = name
        if (moment.year, moment.month) in months:
            newest[("month", moment.year, moment.month)] = name
    later = {name for name, moment in times.items() if moment.date() > today}
    return set(newest.values()) | later | {max(times, key=times.get)} if times else set()


def prune(folder: Path, today: date, keep_daily: int, keep_monthly: int) -> tuple[int, int]:
    """Delete our backups that `backups_to_keep` does not keep; returns (kept, deleted)."""
    ours = [path.name for path in folder.iterdir() if backup_time(path.name)]
    keep = backups_to_keep(ours, today, keep_daily, keep_monthly)
    for name in set(ours) - keep:
        (folder / name).unlink()
    return len(keep & set(ours)), len(set(ours) - keep)


def last_good_backup(run: JobRun | None, folder: Path) -> datetime | None:
    """When the last good backup was made (UTC): the last successful run of the job, or the newest of our
    files in the folder when the job's last run failed (on a host that keeps them)."""
    found = [run.finished_at] if run and run.ok and run.finished_at else []
    with contextlib.suppress(OSError):
        found += [
            moment.replace(tzinfo=SHOP_TZ).astimezone(UTC)
            for path in folder.iterdir()
            if (moment := backup_time(path.name))
        ]
    return max(found, default=None)


def backup_overdue(last_good: datetime | None) -> bool:
    return last_good is None or utcnow() - last_good > OVERDUE_AFTER


# ---------------------------------------------------------------- backup


def backup_work(echo: Echo) -> dict[str, int]:
    """The `backup` job's work, for `run_job`: one new backup, sent off-site when configured, then the old
    ones pruned."""
    config = current_app.config
    folder = Path(config["BACKUP_DIR"])
    if removed := clear_leftovers(folder):
        echo(f"removed what an interrupted backup left behind: {', '.join(removed)}")
    path = make_backup(folder, storage.current())
    echo(f"backup written: {path} ({path.stat().st_size} bytes)")
    today = utcnow().astimezone(SHOP_TZ).date()
    # Pruned first: a bucket that keeps refusing must not also fill this disk with daily copies.
    kept, deleted = prune(folder, today, config["BACKUP_KEEP_DAILY"], config["BACKUP_KEEP_MONTHLY"])
    if config.get("BACKUP_S3_BUCKET"):
        echo(f"sent to {_send_offsite(path, config['BACKUP_S3_BUCKET'])}")
    return {"kept": kept, "deleted": deleted}


def clear_leftovers(folder: Path) -> list[str]:
    """Delete what a killed run left in `folder` — its work folder (.backup-*) and its half-written file
    (.fenxiao-<time>.tar.partial) — and return their names. Run under the job's lock: no other run is
    writing them."""
    import shutil

    removed = []
    with contextlib.suppress(FileNotFoundError):
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".backup-") and path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.name.endswith(".partial") and backup_time(
                path.name.removeprefix(".").removesuffix(".partial")
            ):
                path.unlink()
            else:
                continue
            removed.append(path.name)
    return removed


def make_backup(folder: Path, pictures: Storage) -> Path:
    """Write fenxiao-<time>.tar into `folder`: the database copy and its manifest. It is written under a
    hidden temporary name and renamed only once complete, so a half-written file never looks like a
    backup."""
    import tarfile
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    dialect = db.engine.dialect.name
    if dialect not in DATABASE_MEMBER:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {dialect}.")
    created = utcnow()
    final = folder / backup_name(created)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".backup-") as work:
        copy = Path(work) / DATABASE_MEMBER[dialect]
        if dialect == "sqlite":
            revision, counts = _copy_sqlite(_sqlite_path(), copy)
        else:
            revision, counts = _dump_postgresql(copy)
        manifest = {
            "format": FORMAT_VERSION,
            "created_at": created.isoformat(),
            "dialect": dialect,
            "alembic_revision": revision,
            "database_file": copy.name,
            "database_bytes": copy.stat().st_size,
            "database_sha256": _sha256(copy),
            "row_counts": counts,
            "media": _media(pictures),
        }
        (Path(work) / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1))
        partial = folder / f".{final.name}.partial"
        # Shoppers' phone numbers and addresses are in it: for the shop's own user only.
        partial.touch(mode=0o600)
        with tarfile.open(partial, "w") as tar:
            tar.add(Path(work) / MANIFEST, arcname=MANIFEST)
            tar.add(copy, arcname=copy.name)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, final)
    return final


def _send_offsite(path: Path, bucket: str) -> str:
    """Copy a finished backup to backups/<name> in `bucket` (BACKUP_S3_BUCKET): a private bucket beside the
    pictures' public one, reached with the same MEDIA_S3_* endpoint and keys. Says where it went."""
    pictures = storage.current()
    if not isinstance(pictures, S3Storage):
        raise BackupError(
            f"{path.name} was written, but BACKUP_S3_BUCKET is set while pictures are not on object storage: "
            "the backup bucket is reached with the MEDIA_S3_* endpoint and keys. Set those (README: Images on "
            "object storage) or unset BACKUP_S3_BUCKET."
        )
    private = pictures.in_bucket(bucket)
    try:
        private.put_file(f"backups/{path.name}", path, "application/x-tar")
    except StorageError as error:
        raise BackupError(f"{path.name} was written to BACKUP_DIR but not sent off-site: {error}") from None
    return private.describe()


def _sqlite_path() -> Path:
    database = db.engine.url.database
    if not database or database == ":memory:":
        raise BackupError("The database is in memory: there is no file to back up or restore into.")
    return Path(database)


def _copy_sqlite(source: Path, copy: Path) -> tuple[str | None, dict[str, int]]:
    """SQLite's online backup API: a consistent copy even while the shop writes (it reads the WAL too).
    The copy leaves WAL mode so that it is one self-contained file; its counts are read from the copy."""
    import sqlite3

    live, target = sqlite3.connect(source), sqlite3.connect(copy)
    try:
        live.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        live.close()
        target.close()
    return _revision_and_counts_of_sqlite_file(copy)


def _revision_and_counts_of_sqlite_file(path: Path) -> tuple[str | None, dict[str, int]]:
    from sqlalchemy import create_engine, pool

    engine = create_engine(f"sqlite:///{path}", poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return _alembic_revision(conn), _row_counts(conn)
    finally:
        engine.dispose()


def _dump_postgresql(copy: Path) -> tuple[str | None, dict[str, int]]:
    """pg_dump's custom format, taken in a snapshot this connection exported, so that the counts in the
    manifest describe exactly what the dump holds."""
    import subprocess

    pg_dump = _pg_tool("pg_dump")
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            server_major = int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
            _check_pg_version(pg_dump, server_major)
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            revision, counts = _alembic_revision(conn), _row_counts(conn)
            done = subprocess.run(
                [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={copy}"],
                env=_pg_env(),
                capture_output=True,
                text=True,
            )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
    return revision, counts


def _pg_tool(name: str) -> str:
    import shutil

    found = shutil.which(name)
    if not found:
        raise BackupError(
            f"{name} was not found. Install the PostgreSQL client tools of the server's version "
            f"(for example: apt install postgresql-client) and try again."
        )
    return found


def _check_pg_version(tool: str, server_major: int) -> None:
    import subprocess

    version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", version)
    if match and int(match.group(1)) < server_major:
        raise BackupError(
            f"{tool} is version {match.group(1)} but the server is PostgreSQL {server_major}: an older "
            f"{Path(tool).name} cannot dump a newer server. Install postgresql-client-{server_major}."
        )


# Connection settings DATABASE_URL may carry as ?key=value, and the variable libpq reads each from.
_LIBPQ_QUERY = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


def _pg_env() -> dict[str, str]:
    """Where pg_dump and pg_restore connect, from the configured URL — the password in the environment,
    never on the command line where `ps` would show it."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    env = dict(os.environ)
    settings = {
        "PGHOST": url.host or url.query.get("host"),
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    } | {name: url.query.get(key) for key, name in _LIBPQ_QUERY.items()}
    env.update({key: str(value) for key, value in settings.items() if value})
    return env


def _alembic_revision(conn: Connection) -> str | None:
    if "alembic_version" not in inspect(conn).get_table_names():
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _row_counts(conn: Connection) -> dict[str, int]:
    present = set(inspect(conn).get_table_names())
    return {
        table.name: conn.execute(text(f'SELECT count(*) FROM "{table.name}"')).scalar()
        for table in db.metadata.sorted_tables
        if table.name in present
    }


def _media(pictures: Storage) -> dict:
    """Where the uploaded pictures are and each one's key — with size and sha256 from a folder, to check a
    copy against; a bucket's own versioning keeps its files."""
    if isinstance(pictures, LocalStorage):
        return {"folder": str(pictures.folder), "included": False, "files": _media_list(pictures.folder)}
    try:
        keys = [{"key": key} for key in pictures.list_keys()]
    except StorageError as error:  # the database copy is the point: it is made without the list
        return {"bucket": pictures.describe(), "included": False, "files": [], "error": str(error)}
    return {
        "bucket": pictures.describe(),
        "included": False,
        "files": keys,
    }


def _media_list(folder: Path) -> list[dict]:
    """Every uploaded file: its key under UPLOAD_FOLDER, size and sha256, to check a media copy against."""
    if not folder.is_dir():
        return []
    return [
        {"key": path.relative_to(folder).as_posix(), "size": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]


def _sha256(path: Path) -> str:
    import hashlib

    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


# ---------------------------------------------------------------- restore


def restore(backup: Path, echo: Echo) -> dict:
    """Restore `backup` into the configured database, which must be empty, then check the copy's revision
    and row counts against the manifest. Every refusal happens before anything is written."""
    import tempfile

    dialect = db.engine.dialect.name
    if not backup.is_file():
        raise BackupError(f"{backup} does not exist or is not a file.")
    target = _sqlite_path() if dialect == "sqlite" else None
    work_dir = target.parent if target else None
    if work_dir:
        work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix=".restore-") as work:
        manifest, copy = _unpack(backup, Path(work))
        if manifest["dialect"] != dialect:
            raise BackupError(
                f"{backup.name} is a {manifest['dialect']} backup but DATABASE_URL points to a {dialect} "
                f"database: a backup can only be restored into the same kind of database."
            )
        _refuse_unless_empty()
        db.engine.dispose()
        if target:
            for leftover in (Path(f"{target}-wal"), Path(f"{target}-shm")):
                leftover.unlink(missing_ok=True)
            os.replace(copy, target)
        else:
            _pg_restore(copy)
    _verify(manifest, echo)
    _end_the_copied_run(datetime.fromisoformat(manifest["created_at"]))
    return manifest


def _end_the_copied_run(created_at: datetime) -> None:
    """The copy was taken while its own backup run was going, so in the copy that run never ends and the
    dashboard would say "running since …" until the next backup. It ended with this copy."""
    unfinished = (JobRun.name == JOB_NAME) & JobRun.finished_at.is_(None)
    db.session.execute(
        update(JobRun).where(unfinished).values(finished_at=created_at, ok=True, result="restored=1")
    )
    db.session.commit()


def _unpack(backup: Path, work: Path) -> tuple[dict, Path]:
    """The manifest and the database copy, checked against the manifest's checksum."""
    import shutil
    import tarfile

    damaged = f"{backup.name} is not a Fenxiao backup or is damaged"
    try:
        with tarfile.open(backup, "r:") as tar:
            manifest = json.load(tar.extractfile(tar.getmember(MANIFEST)))
            if manifest.get("format") != FORMAT_VERSION or manifest.get("dialect") not in DATABASE_MEMBER:
                raise BackupError(f"{damaged}: its manifest is not one this version of Fenxiao reads.")
            member = DATABASE_MEMBER[manifest["dialect"]]
            copy = work / member
            with tar.extractfile(tar.getmember(member)) as source, open(copy, "wb") as out:
                shutil.copyfileobj(source, out)
    except (tarfile.TarError, KeyError, ValueError, TypeError, AttributeError) as error:
        raise BackupError(f"{damaged} ({error or type(error).__name__}). Nothing was changed.") from None
    if _sha256(copy) != manifest.get("database_sha256"):
        raise BackupError(f"{damaged}: the database copy does not match its checksum. Nothing was changed.")
    return manifest, copy


def _refuse_unless_empty() -> None:
    """PostgreSQL: none of our tables (the new database may hold the server's own). SQLite: no table at all,
    since the restore puts the copy in place of the whole file."""
    ours = set(db.metadata.tables) | {"alembic_version"}
    with db.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    present = sorted(tables if db.engine.dialect.name == "sqlite" else ours & tables)
    if present:
        shown = ", ".join(present[:6]) + (f" and {len(present) - 6} more" if len(present) > 6 else "")
        raise BackupError(
            f"The database {db.engine.url.render_as_string(hide_password=True)} is not empty (it has {shown}). "
            "Restore only into an empty database: create a new one, or drop and recreate this one. "
            "Nothing was changed."
        )


def _pg_restore(copy: Path) -> None:
    """pg_restore into the empty database, in one transaction: a failure leaves it empty."""
    import subprocess

    pg_restore = _pg_tool("pg_restore")
    env = _pg_env()
    done = subprocess.run(
        [
            pg_restore,
            "--no-owner",
            "--no-privileges",  # the grants of roles the new server may not have
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={env['PGDATABASE']}",
            str(copy),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {done.stderr.strip()}")


def _verify(manifest: dict, echo: Echo) -> None:
    with db.engine.connect() as conn:
        revision, counts = _alembic_revision(conn), _row_counts(conn)
    expected = manifest["row_counts"]
    wrong = [
        f"{table} {counts.get(table)} (expected {n})"
        for table, n in expected.items()
        if counts.get(table) != n
    ]
    if revision != manifest["alembic_revision"]:
        wrong.insert(0, f"alembic revision {revision} (expected {manifest['alembic_revision']})")
    if wrong:
        raise BackupError("The restored database does not match the backup's manifest: " + "; ".join(wrong))
    echo(f"alembic revision: {revision} (as in the backup)")
    echo("rows (as in the backup): " + ", ".join(f"{table} {n}" for table, n in expected.items() if n))
