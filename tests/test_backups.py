"""`flask backup` and `flask restore`: a backup restored into a fresh database gives back the same shop —
orders, ledger, settings, every row — and its ledger audit passes; a backup is consistent while the shop
writes; bad files and non-empty databases are refused and nothing changes; old backups are pruned by day
and by month; the job shows on the dashboard."""

import hashlib
import io
import json
import shutil
import sqlite3
import tarfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.backups import backup_name, backups_to_keep, prune
from app.distribution import ledger
from app.distribution.models import LedgerEntry, Withdrawal
from app.extensions import db
from app.jobs import JobRun, job_result
from app.orders.models import Order
from app.settings.models import ShopSettings
from app.settings.services import get_shop_settings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import base_config, scratch_postgres_database
from tests.test_distribution import bind, buy, complete, distributor, settings


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


def shop_with_history(session) -> None:
    """Paid and completed orders with commission, a paid withdrawal, and settings the merchant changed."""
    shop = get_shop_settings(session)
    shop.name, shop.shipping_flat_fen, shop.announcement = "老王的茶叶铺", 800, "新茶上市"
    session.add(shop)
    settings(session, withdrawal_min_fen=500)
    a = distributor(session)
    shopper = factories.UserFactory()
    bind(session, shopper, a)
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    for _ in range(2):
        complete(session, buy(session, shopper, product))
    buy(session, shopper, product, qty=2)  # paid, not shipped: its commission stays frozen
    set_clock(utcnow() + timedelta(days=8))
    staff = factories.UserFactory(role="staff")
    withdrawal = ledger.request_withdrawal(
        session, a, ledger.WithdrawalInput(amount_fen=600, method="wechat", real_name="王五", account="wx1")
    )
    ledger.approve_withdrawal(session, withdrawal, actor=staff)
    ledger.mark_withdrawal_paid(session, withdrawal, actor=staff, reference="WX-001")
    session.commit()
    set_clock(None)


def every_row(engine: sa.Engine) -> dict[str, list[tuple]]:
    """Each table's rows (job_runs aside: the backup job itself writes there)."""
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(sa.select(table))), key=repr)
            for table in db.metadata.sorted_tables
            if table.name != "job_runs"
        }


def only_backup(folder: Path) -> Path:
    backups = sorted(folder.glob("fenxiao-*.tar"))
    assert len(backups) == 1, backups
    return backups[0]


@pytest.fixture
def fresh_url(db_url, tmp_path):
    """An empty database of the same kind as the test's, dropped afterwards."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    with scratch_postgres_database() as url:
        yield url


def app_on(url: str, tmp_path: Path):
    return create_app(base_config(url, tmp_path / "copy"))


def invoke(app, *args):
    with app.app_context():
        try:
            return app.test_cli_runner().invoke(args=list(args))
        finally:
            db.session.remove()
            db.engine.dispose()


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- backup → restore


def test_a_restored_backup_is_the_same_shop_and_its_ledger_audit_passes(
    app, session, runner, fresh_url, tmp_path
):
    shop_with_history(session)
    picture = b"\xff\xd8 tea picture"
    (Path(app.config["UPLOAD_FOLDER"]) / "products").mkdir(parents=True)
    (Path(app.config["UPLOAD_FOLDER"]) / "products" / "tea.jpg").write_bytes(picture)

    result = runner.invoke(args=["backup"])
    assert result.exit_code == 0, result.output
    assert "kept=1 deleted=0" in result.output
    backup = only_backup(Path(app.config["BACKUP_DIR"]))
    assert backup.stat().st_mode & 0o077 == 0, "a backup is readable by other users"
    with tarfile.open(backup) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["dialect"] == db.engine.dialect.name
    assert manifest["media"]["files"] == [
        {"key": "products/tea.jpg", "size": len(picture), "sha256": hashlib.sha256(picture).hexdigest()}
    ]
    assert manifest["row_counts"]["orders"] == 3

    copy = app_on(fresh_url, tmp_path)
    result = invoke(copy, "restore", str(backup))
    assert result.exit_code == 0, result.output
    assert "orders 3" in result.output

    original, restored = (
        every_row(db.engine),
        every_row(sa.create_engine(fresh_url, poolclass=sa.pool.NullPool)),
    )
    for table in (Order.__tablename__, LedgerEntry.__tablename__, Withdrawal.__tablename__, "shop_settings"):
        assert original[table], f"the test shop has no {table}"
        assert restored[table] == original[table], table
    assert restored == original
    with copy.app_context():
        assert db.session.get(ShopSettings, get_shop_settings(db.session).id).name == "老王的茶叶铺"
        db.engine.dispose()

    audit = invoke(copy, "ledger", "audit")
    assert audit.exit_code == 0, audit.output
    assert "every balance matches its ledger" in audit.output
    with copy.app_context():  # the run that made the copy was still going in it: it ended with the copy
        run = db.session.get(JobRun, "backup")
        assert run.ok and run.finished_at == datetime.fromisoformat(manifest["created_at"])
        assert job_result(run) == "本库就是由这次备份恢复的"
        db.engine.dispose()


def test_restore_refuses_a_database_that_is_not_empty_and_changes_nothing(app, session, runner):
    shop_with_history(session)
    assert runner.invoke(args=["backup"]).exit_code == 0
    before = every_row(db.engine)

    result = runner.invoke(args=["restore", str(only_backup(Path(app.config["BACKUP_DIR"])))])

    assert result.exit_code != 0
    assert "is not empty" in result.output and "alembic_version" in result.output
    assert "Traceback" not in result.output
    assert every_row(db.engine) == before


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the restore replaces the whole file
def test_restore_refuses_a_sqlite_file_that_holds_anything(app, runner, fresh_url, tmp_path):
    assert runner.invoke(args=["backup"]).exit_code == 0
    other = sqlite3.connect(fresh_url.removeprefix("sqlite:///"))
    other.execute("CREATE TABLE notes (body TEXT)")
    other.execute("INSERT INTO notes VALUES ('the owner keeps this')")
    other.commit()
    other.close()
    result = invoke(app_on(fresh_url, tmp_path), "restore", str(only_backup(Path(app.config["BACKUP_DIR"]))))
    assert result.exit_code != 0 and "is not empty (it has notes)" in result.output
    kept = sqlite3.connect(fresh_url.removeprefix("sqlite:///")).execute("SELECT body FROM notes").fetchall()
    assert kept == [("the owner keeps this",)]


def test_restore_refuses_a_backup_of_the_other_kind_of_database(app, session, runner, fresh_url, tmp_path):
    assert runner.invoke(args=["backup"]).exit_code == 0
    other = {"sqlite": "postgresql", "postgresql": "sqlite"}[db.engine.dialect.name]
    forged = rewritten(only_backup(Path(app.config["BACKUP_DIR"])), tmp_path / "other.tar", dialect=other)

    result = invoke(app_on(fresh_url, tmp_path), "restore", str(forged))

    assert result.exit_code != 0
    assert (
        f"is a {other} backup but DATABASE_URL points to a {db.engine.dialect.name} database" in result.output
    )
    assert not table_names(fresh_url) & {"orders", "alembic_version"}


def rewritten(backup: Path, out: Path, dialect: str) -> Path:
    """The same backup with its manifest claiming the other dialect (and the copy named to match)."""
    member = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
    with tarfile.open(backup) as source, tarfile.open(out, "w") as target:
        manifest = json.load(source.extractfile("manifest.json"))
        data = source.extractfile(manifest["database_file"]).read()
        manifest.update(dialect=dialect, database_file=member[dialect])
        for name, content in (("manifest.json", json.dumps(manifest).encode()), (member[dialect], data)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            target.addfile(info, io.BytesIO(content))
    return out


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing", "does not exist"),
        ("garbage", "is not a Fenxiao backup or is damaged"),
        ("truncated", "is not a Fenxiao backup or is damaged"),
        ("no manifest", "is not a Fenxiao backup or is damaged"),
        ("altered copy", "does not match its checksum"),
    ],
)
def test_restore_refuses_a_bad_file_with_a_clear_message(sqlite_template, tmp_path, damage, message):
    shutil.copy(sqlite_template, tmp_path / "shop.sqlite3")
    source = app_on(f"sqlite:///{tmp_path / 'shop.sqlite3'}", tmp_path / "shop")
    assert invoke(source, "backup").exit_code == 0
    good = only_backup(Path(source.config["BACKUP_DIR"]))
    bad = tmp_path / "bad.tar"
    if damage == "garbage":
        bad.write_bytes(b"this is not a tar file at all\n" * 100)
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "no manifest":
        with tarfile.open(bad, "w") as tar:
            tar.add(good, arcname="database.sqlite3")
    elif damage == "altered copy":
        with tarfile.open(good) as source_tar, tarfile.open(bad, "w") as tar:
            for member in source_tar.getmembers():
                content = source_tar.extractfile(member).read()
                if member.name == "database.sqlite3":
                    content = content[:-1] + b"!"
                tar.addfile(member, io.BytesIO(content))
    target_url = f"sqlite:///{tmp_path / 'target.sqlite3'}"

    result = invoke(app_on(target_url, tmp_path), "restore", str(bad))

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert not table_names(target_url)


# ---------------------------------------------------------------- consistency while the shop writes


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # pg_dump's snapshot is PostgreSQL's own
def test_a_sqlite_backup_taken_while_another_connection_writes_is_consistent(app, runner):
    path = db.engine.url.database
    written, stop = [0], threading.Event()

    def writer():
        conn = sqlite3.connect(path, isolation_level=None, timeout=15)
        conn.execute("PRAGMA synchronous=OFF")  # speed; what it writes is read back only through the backup
        # Its commits stay in the WAL file: a copy of the database file alone would miss them.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        while not stop.is_set():
            n = written[0] + 1
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO job_runs (name, result, ok) VALUES (?, '', 1)", [(f"w{n}a",), (f"w{n}b",)]
            )
            conn.execute("COMMIT")
            written[0] = n
            time.sleep(0.001)
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    while written[0] < 50:
        time.sleep(0.001)
    committed_before = written[0]
    result = runner.invoke(args=["backup"])
    written_during = written[0] - committed_before
    while written[0] < committed_before + 50:
        time.sleep(0.001)
    stop.set()
    thread.join()
    assert result.exit_code == 0, result.output

    with tarfile.open(only_backup(Path(app.config["BACKUP_DIR"]))) as tar:
        copy = Path(app.config["BACKUP_DIR"]) / "copy.sqlite3"
        copy.write_bytes(tar.extractfile("database.sqlite3").read())
    rows = {
        name for (name,) in sqlite3.connect(copy).execute("SELECT name FROM job_runs WHERE name LIKE 'w%'")
    }
    pairs = {name[:-1] for name in rows}
    assert all(f"{pair}a" in rows and f"{pair}b" in rows for pair in pairs), "a half-written transaction"
    assert {f"w{n}" for n in range(1, committed_before + 1)} <= pairs, "a committed write is missing"
    assert written_during > 0, "the writer never wrote while the backup was taken"


# ---------------------------------------------------------------- PostgreSQL tools


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_backup_says_when_pg_dump_is_missing_or_older_than_the_server(app, runner, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    result = runner.invoke(args=["backup"])
    assert result.exit_code != 0
    assert "pg_dump was not found" in result.output

    old = bin_dir / "pg_dump"
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    result = runner.invoke(args=["backup"])
    assert result.exit_code != 0
    assert "pg_dump is version 9 but the server is PostgreSQL" in result.output
    assert not list(Path(app.config["BACKUP_DIR"]).glob("*fenxiao-*"))


# ---------------------------------------------------------------- retention


def names(*moments: str) -> list[str]:
    return [f"fenxiao-{moment}.tar" for moment in moments]


def test_retention_keeps_the_newest_of_each_recent_day_and_month():
    backups = names(
        "20250131-033000",  # last of January
        "20250115-033000",
        "20250201-033000",
        "20250227-033000",
        "20250228-033000",  # last of February
        "20250301-033000",
        "20250301-120000",  # two on 1 March: the later one counts
        "20250302-033000",
        "20250303-033000",
        "20241231-033000",  # December of the year before: outside 3 months
    )
    keep = backups_to_keep(backups + ["notes.txt", "fenxiao-latest.tar"], date(2025, 3, 3), 2, 3)
    assert keep == set(names("20250131-033000", "20250228-033000", "20250302-033000", "20250303-033000"))

    keep = backups_to_keep(backups, date(2025, 3, 3), 3, 1)
    assert keep == set(names("20250301-120000", "20250302-033000", "20250303-033000"))


def test_retention_never_deletes_the_newest_backup_nor_one_dated_later():
    backups = names("20250101-000000", "20250105-000000", "20250301-000000")
    assert backups_to_keep(backups, date(2025, 2, 1), 0, 0) == set(names("20250301-000000"))
    assert backups_to_keep(backups[:2], date(2025, 2, 1), 0, 0) == set(names("20250105-000000"))


def test_prune_deletes_only_our_backups_that_are_not_kept(tmp_path):
    for name in names("20250101-033000", "20250102-033000", "20250103-033000") + ["mine.tar", "fenxiao.db"]:
        (tmp_path / name).write_text("x")
    (tmp_path / ".fenxiao-20250103-040000.tar.partial").write_text("x")

    assert prune(tmp_path, date(2025, 1, 3), 2, 0) == (2, 1)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".fenxiao-20250103-040000.tar.partial",
        "fenxiao-20250102-033000.tar",
        "fenxiao-20250103-033000.tar",
        "fenxiao.db",
        "mine.tar",
    ]


def test_a_backup_clears_what_an_interrupted_one_left_and_nothing_else(app, runner):
    folder = Path(app.config["BACKUP_DIR"])
    (folder / ".backup-k1ll3d").mkdir(parents=True)
    (folder / ".backup-k1ll3d" / "fenxiao.sqlite3").write_bytes(b"x" * 1000)
    (folder / ".fenxiao-20250103-040000.tar.partial").write_bytes(b"x" * 1000)
    for other in (".backup-notes.txt", ".mine.partial", "mine.tar", ".hidden"):
        (folder / other).write_text("the operator's")

    result = runner.invoke(args=["backup"])

    assert result.exit_code == 0, result.output
    assert ".backup-k1ll3d" in result.output and ".fenxiao-20250103-040000.tar.partial" in result.output
    left = sorted(path.name for path in folder.iterdir())
    assert left == [".backup-notes.txt", ".hidden", ".mine.partial", only_backup(folder).name, "mine.tar"]


def test_backup_names_follow_the_shops_calendar():
    assert backup_name(datetime(2025, 1, 31, 19, 30, tzinfo=UTC)) == "fenxiao-20250201-033000.tar"


# ---------------------------------------------------------------- the job on the dashboard


def test_the_backup_job_is_recorded_and_shown_on_the_dashboard(app, runner, owner_client):
    page = owner_client.get("/admin/").get_data(as_text=True)
    assert "数据库还从来没有备份过" in page

    assert runner.invoke(args=["backup"]).exit_code == 0
    page = owner_client.get("/admin/").get_data(as_text=True)
    assert "flask backup" in page
    assert "已备份，保留 1 份" in page
    assert "上次成功备份" in page
    assert 'id="backup-warning"' not in page

    set_clock(utcnow() + timedelta(days=2, hours=1))
    page = owner_client.get("/admin/").get_data(as_text=True)
    assert "超过 2 天没有备份数据库" in page


def test_a_failed_backup_is_shown_as_failed_and_the_warning_stays(app, runner, owner_client, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the backup folder should be")
    app.config["BACKUP_DIR"] = str(blocked / "backups")

    assert runner.invoke(args=["backup"]).exit_code != 0

    page = owner_client.get("/admin/").get_data(as_text=True)
    assert "运行失败" in page
    assert "数据库还从来没有备份过" in page


def test_an_off_site_bucket_needs_pictures_on_object_storage(app, runner):
    app.config["BACKUP_S3_BUCKET"] = "fenxiao-backups"
    result = runner.invoke(args=["backup"])
    assert result.exit_code != 0
    assert "pictures are not on object storage" in result.output
