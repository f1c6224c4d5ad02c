"""Fixtures: a fresh real database per test (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
the app, its test client, factories and log-in helpers. CSRF stays on."""

import os
import re
import shutil
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade

from app import create_app
from app.config import normalise_database_url
from app.extensions import db
from app.timeutil import set_clock
from bench.databases import postgres_database
from tests import factories

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"]


def skip_or_fail(reason: str):
    """Locally a missing PostgreSQL or Chromium skips; under CI=true it fails the run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: this must not be skipped)", pytrace=False)
    pytest.skip(reason)


def base_config(db_url: str, tmp_path: Path) -> dict:
    return {
        "TESTING": True,
        "FENXIAO_ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": db_url,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "SERVER_NAME": None,
        # Production hashes with scrypt; tests make hundreds of users and only need a real hash.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }


def migrate_database(db_url: str, tmp_path: Path) -> None:
    app = create_app(base_config(db_url, tmp_path))
    with app.app_context():
        upgrade(directory=str(Path(__file__).parent.parent / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite file; every test gets its own copy."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    migrate_database(f"sqlite:///{path}", folder)
    return path


@pytest.fixture(scope="session")
def pg_database(tmp_path_factory) -> str:
    """The PostgreSQL test database, emptied and migrated once per run."""
    if not PG_URL:
        skip_or_fail("PostgreSQL tests need TEST_DATABASE_URL")
    url = normalise_database_url(PG_URL)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
    except sa.exc.OperationalError as error:
        skip_or_fail(f"PostgreSQL at TEST_DATABASE_URL is not reachable: {error.orig}")
    finally:
        engine.dispose()
    migrate_database(url, tmp_path_factory.mktemp("pg-migrate"))
    return url


_pg_engines: dict[str, sa.Engine] = {}


def _truncate_all(url: str) -> None:
    """Empty every table and restart the id sequences. DELETE with foreign-key triggers paused is several
    times faster than TRUNCATE … CASCADE on small tables, which matters over hundreds of tests."""
    engine = _pg_engines.get(url) or _pg_engines.setdefault(
        url, sa.create_engine(url, poolclass=sa.pool.NullPool)
    )
    with engine.begin() as conn:
        tables = (
            conn.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for table in tables:
            conn.execute(sa.text(f'DELETE FROM "{table}"'))
        conn.execute(
            sa.text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'S' AND n.nspname = 'public'"
            )
        )


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_all(url)
    return url


@contextmanager
def scratch_postgres_database():
    """The URL of a new, empty PostgreSQL database on the server of TEST_DATABASE_URL, named after the test
    database (so that parallel runs on one server keep apart), dropped afterwards."""
    if not PG_URL:
        skip_or_fail("PostgreSQL tests need TEST_DATABASE_URL")
    test_database = sa.make_url(normalise_database_url(PG_URL)).database
    with ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database(PG_URL, "scratch", prefix=test_database))
        except sa.exc.OperationalError as error:
            skip_or_fail(f"PostgreSQL at TEST_DATABASE_URL is not reachable: {error.orig}")
        yield url


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production: its own `g`, its own db session.
    The test's own session (the `session` fixture) is another one, so re-read what a request changed."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app_config() -> dict:
    """Settings a test module adds to base_config for its `app`: override this fixture in the module."""
    return {}


@pytest.fixture
def app(db_url, tmp_path, app_config):
    app = create_app({**base_config(db_url, tmp_path), **app_config})
    app.instance_path = str(
        tmp_path / "instance"
    )  # posters and 小程序码 are cached there: not in the checkout
    app.test_client_class = IsolatedClient
    with app.app_context():
        factories.bind(db.session)
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    return db.session


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_token(client, path: str = "/login") -> str:
    """The token a real page would carry (every page puts it in <body hx-headers>) — or, on a page a visitor
    without a session gets without one (app/lazy_csrf.py), the one shop.js would fetch."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    if match is None and '"X-CSRFToken": ""' in html:
        return client.get("/csrf-token").get_json()["token"]
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client, user, password: str = factories.DEFAULT_PASSWORD, *, admin: bool = False):
    path = "/admin/login" if admin else "/login"
    response = client.post(
        path, data={"mobile": user.mobile, "password": password, "csrf_token": csrf_token(client, path)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response


@pytest.fixture
def owner(app):
    return factories.UserFactory(role="owner", nickname="店主")


@pytest.fixture
def owner_client(client, owner):
    login(client, owner, admin=True)
    return client


@pytest.fixture
def pg_app(pg_database, tmp_path):
    """An app on PostgreSQL only, for races that need real row locks and real concurrency."""
    _truncate_all(pg_database)
    app = create_app(base_config(pg_database, tmp_path))
    with app.app_context():
        factories.bind(db.session)
        yield app
        db.session.remove()
        db.engine.dispose()
    set_clock(None)


def run_together(app, count: int, work):
    """Run work(i) in `count` threads released together by a barrier, each with its own app context,
    session and transaction (committed on success). Returns each thread's result or exception."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def runner(i):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = work(i)
                db.session.commit()
            except Exception as error:  # noqa: BLE001 - the test inspects what each thread met
                db.session.rollback()
                results[i] = error
            finally:
                db.session.remove()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


@contextmanager
def counting_statements(engine=None):
    """Every statement sent to the database (an executemany counts once: it is one round of work), on
    `engine` or the current app's."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = engine or db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
