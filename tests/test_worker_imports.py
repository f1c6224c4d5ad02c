"""A production web worker loads only what serving the shop needs. The payment SDKs and the crypto under
them, Pillow, qrcode and Alembic cost some 35 MB per worker (issue: worker RSS ≤ 70 MB); they are loaded by
the requests and commands that use them. A top-level import of any of them anywhere in app/ fails this."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAZY = ["alembic", "flask_migrate", "alipay", "wechatpayv3", "cryptography", "requests", "PIL", "qrcode"]

PROBE = """
import json, sys
import wsgi
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _loaded(tmp_path, environment: str) -> set[str]:
    env = {
        **os.environ,
        "FENXIAO_ENV": environment,
        "SECRET_KEY": "test-worker-imports",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_production_worker_starts_without_the_heavy_libraries(tmp_path):
    loaded = _loaded(tmp_path, "production")
    assert "flask" in loaded and "sqlalchemy" in loaded  # the probe did import the app
    assert sorted(set(LAZY) & loaded) == []


def test_development_still_has_the_migration_commands(tmp_path):
    assert "flask_migrate" in _loaded(tmp_path, "development")
