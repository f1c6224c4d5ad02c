"""Migrations: `flask db upgrade` builds the whole schema on an empty SQLite file and an empty PostgreSQL
database, and `flask db check` then finds nothing the models have that the migrations lack."""

from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.extensions import db
from tests.conftest import base_config, scratch_postgres_database

MIGRATIONS = str(Path(__file__).parent.parent / "migrations")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    """The URL of a database with nothing in it: a new SQLite file, or a new PostgreSQL database with a
    unique name on the server of TEST_DATABASE_URL (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with scratch_postgres_database() as url:
        yield url


@pytest.fixture
def migration_app(empty_database, tmp_path):
    app = create_app(base_config(empty_database, tmp_path))
    yield app
    with app.app_context():
        db.engine.dispose()


def flask_db(app, *args):
    """Run `flask db <args>` the way a merchant would, through the app's CLI."""
    return app.test_cli_runner().invoke(args=["db", *args, "--directory", MIGRATIONS])


def table_names(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_builds_every_table_on_an_empty_database_and_check_finds_no_drift(migration_app):
    assert table_names(migration_app) == set()
    upgraded = flask_db(migration_app, "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert table_names(migration_app) == set(db.metadata.tables)

    checked = flask_db(migration_app, "check")
    assert checked.exit_code == 0, f"the models and the migrations differ:\n{checked.output}"


def test_check_notices_when_the_database_and_the_models_differ(migration_app):
    """The drift check above must be able to fail: a column the models do not know about is drift."""
    assert flask_db(migration_app, "upgrade").exit_code == 0
    with migration_app.app_context(), db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE users ADD COLUMN surprise INTEGER"))
    checked = flask_db(migration_app, "check")
    assert checked.exit_code != 0
    assert "New upgrade operations detected" in checked.output
    assert "surprise" in checked.output


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_downgrade_to_base_and_upgrade_again_on_sqlite(migration_app):
    assert flask_db(migration_app, "upgrade").exit_code == 0
    downgraded = flask_db(migration_app, "downgrade", "base")
    assert downgraded.exit_code == 0, downgraded.output
    assert table_names(migration_app) == set()
    again = flask_db(migration_app, "upgrade")
    assert again.exit_code == 0, again.output
    assert table_names(migration_app) == set(db.metadata.tables)
    assert flask_db(migration_app, "check").exit_code == 0
