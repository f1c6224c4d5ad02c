"""The README's PostgreSQL backup and restore steps, run as written (with the test server, a scratch
database and a temporary dump in place of the shop's): the data comes back, and so do database-level
settings such as random_page_cost, which a plain pg_restore into a new database would lose."""

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import PG_URL, skip_or_fail

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_block_after(heading: str) -> list[str]:
    """The lines of the first ```bash block after `heading`, joined where they continue."""
    text = README.read_text()
    block = text[text.index(heading) :].split("```bash\n", 1)[1].split("```", 1)[0]
    return block.replace("\\\n", " ").splitlines()


def as_test_commands(lines: list[str], database: str, dump: Path, user: str) -> list[str]:
    commands = []
    for line in lines:
        if not line.startswith(("pg_dump", "pg_restore", "sudo -u postgres")):
            continue  # systemctl, rsync, flask: not about the database's contents
        line = line.replace("sudo -u postgres ", "").replace("sudo -u fenxiao ", "")
        line = re.sub(r"/backup/fenxiao-(\$\(date \+%F\)|[0-9-]+)\.dump", str(dump), line)
        line = re.sub(r"-h 127\.0\.0\.1 ", "", line)
        line = line.replace("-U fenxiao", f"-U {user}").replace("--owner fenxiao", f"--owner {user}")
        commands.append(re.sub(r"\bfenxiao\b", database, line))
    return commands


@pytest.fixture
def server_env():
    if not PG_URL:
        skip_or_fail("the restore test needs TEST_DATABASE_URL (PostgreSQL)")
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        skip_or_fail("the restore test needs pg_dump and pg_restore (postgresql-client)")
    url = urlsplit(PG_URL.replace("+psycopg", ""))
    env = os.environ | {
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGUSER": unquote(url.username or "postgres"),
    }
    if url.password:
        env["PGPASSWORD"] = unquote(url.password)
    return env


def run(command: str, env: dict) -> str:
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{command}\n{done.stderr}"
    return done.stdout


def test_the_readme_restore_keeps_data_and_database_settings(server_env, tmp_path):
    database, user = f"fenxiao_restore_{uuid.uuid4().hex[:8]}", server_env["PGUSER"]
    dump = tmp_path / "shop.dump"
    tune = as_test_commands(readme_block_after("数据库在 SSD 上时"), database, dump, user)
    steps = as_test_commands(readme_block_after("### 备份与恢复"), database, dump, user)
    backup = [s for s in steps if s.startswith("pg_dump")]
    restore = [s for s in steps if not s.startswith("pg_dump")]
    assert tune and backup and len(restore) >= 2, steps
    run(f"createdb {database}", server_env)
    try:
        for command in tune:
            run(command, server_env)
        run(
            f"psql -d {database} -qc \"CREATE TABLE orders (number text); INSERT INTO orders VALUES ('FX1')\"",
            server_env,
        )
        for command in backup + restore:
            run(command, server_env)
        assert run(f"psql -d {database} -qAtc 'SHOW random_page_cost'", server_env).strip() == "1.1"
        assert run(f"psql -d {database} -qAtc 'SELECT number FROM orders'", server_env).strip() == "FX1"
    finally:
        run(f"dropdb --if-exists {database}", server_env)
