"""Databases for benchmarks that write: a SQLite file in the run's temporary folder and, when
BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a PostgreSQL server, a database of the benchmark's own on
that server — created for the run and dropped after it, so nobody else's data is touched."""

import contextlib
import io
import os
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from app.config import normalise_database_url
from app.extensions import db
from bench.env import MIGRATIONS


def databases(env, name: str) -> list[tuple[str, AbstractContextManager[str]]]:
    """(label, context manager giving a fresh empty database URL): SQLite always, PostgreSQL if configured."""
    found = [("SQLite", _sqlite(env, name))]
    server = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if server:
        found.append(("PostgreSQL", postgres_database(server, name)))
    return found


def postgres_server() -> str | None:
    """The PostgreSQL server a benchmark that needs one uses: BENCH_DATABASE_URL or TEST_DATABASE_URL, else
    the local one (postgres@127.0.0.1); None when it does not answer."""
    url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    try:
        engine = sa.create_engine(normalise_database_url(url), connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return None
    return url


@contextmanager
def _sqlite(env, name: str) -> Iterator[str]:
    path = env.folder / f"{name}.sqlite3"
    path.unlink(missing_ok=True)
    yield f"sqlite:///{path}"
    path.unlink(missing_ok=True)


@contextmanager
def postgres_database(server_url: str, name: str, prefix: str = "fenxiao_bench") -> Iterator[str]:
    server = sa.engine.make_url(normalise_database_url(server_url))
    database = f"{prefix}_{name}_{secrets.token_hex(4)}"
    admin = sa.create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
    try:
        yield server.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def migrated_app(env, url: str) -> Flask:
    """The app on `url`, migrated like production. Each caller pushes its own app contexts."""
    app = create_app(
        {
            "TESTING": True,  # quiet logging
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "UPLOAD_FOLDER": str(env.folder / "uploads"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
            upgrade(directory=MIGRATIONS)
        db.session.remove()
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()
