"""A production web worker loads only what serving the shop needs. The payment SDKs and the crypto under
them, Pillow, qrcode, boto3 and Alembic cost some 35 MB per worker (issue: worker RSS ≤ 70 MB); they are
loaded by the requests and commands that use them. A top-level import of any of them anywhere in app/ fails
this; so does a page that asks the picture bucket anything while rendering."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAZY = [
    "alembic",
    "flask_migrate",
    "alipay",
    "wechatpayv3",
    "cryptography",
    "requests",
    "PIL",
    "qrcode",
    "boto3",
    "botocore",
    "s3transfer",
]

PROBE = """
import json, sys
import wsgi
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""

# A shop page with a product picture, its pictures in a bucket: rendering it builds URLs and asks nothing
# (the endpoint is a closed port, so a request to it would fail the page).
RENDER_PROBE = """
import json, sys
import wsgi
from app.extensions import db
from tests import factories
with wsgi.app.app_context():
    db.create_all()
    factories.bind(db.session)
    product = factories.ProductFactory(title="probe")
    factories.ProductImageFactory(product_id=product.id)
    product_id = product.id
client = wsgi.app.test_client()
for path in ("/", f"/p/{product_id}"):
    page = client.get(path)
    assert page.status_code == 200 and "https://img.example.com/00/" in page.get_data(as_text=True), path
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
S3_ENV = {
    "MEDIA_S3_BUCKET": "fenxiao",
    "MEDIA_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    "MEDIA_S3_ACCESS_KEY_ID": "probe",
    "MEDIA_S3_SECRET_ACCESS_KEY": "probe",
    "MEDIA_PUBLIC_URL": "https://img.example.com",
}


def _loaded(tmp_path, environment: str, probe: str = PROBE, **extra_env: str) -> set[str]:
    env = {
        **os.environ,
        "FENXIAO_ENV": environment,
        "SECRET_KEY": "test-worker-imports",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        **extra_env,
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_production_worker_starts_without_the_heavy_libraries(tmp_path):
    loaded = _loaded(tmp_path, "production")
    assert "flask" in loaded and "sqlalchemy" in loaded  # the probe did import the app
    assert sorted(set(LAZY) & loaded) == []


def test_pages_with_pictures_in_a_bucket_load_no_s3_client(tmp_path):
    loaded = _loaded(tmp_path, "production", RENDER_PROBE, **S3_ENV)
    assert "jinja2" in loaded  # the probe did render
    assert sorted(set(LAZY) & loaded) == []


def test_development_still_has_the_migration_commands(tmp_path):
    assert "flask_migrate" in _loaded(tmp_path, "development")
