"""The shop as it runs in production: `gunicorn -w 2` in production mode, default settings, on SQLite and
PostgreSQL. Two workers are two processes, so what must hold across workers is tested here for real:
rate limits (one count for all workers) and forged WeChat Pay notifies (refused before the gateway is
asked anything — a local fake gateway counts every request it gets)."""

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from app import create_app
from app.extensions import db
from app.payments.settings import save_payment_settings
from tests import factories
from tests.conftest import base_config
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
SECRET_KEY = "gunicorn-test-secret-key"
SECRETS_KEY = Fernet.generate_key().decode()
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def shop(db_url, tmp_path, wechat):
    """A production gunicorn with two workers on the test database, WeChat Pay on (the fake gateway)."""
    setup = create_app(base_config(db_url, tmp_path) | {"SECRETS_KEY": SECRETS_KEY, "SECRET_KEY": SECRET_KEY})
    with setup.app_context():
        factories.bind(db.session)
        factories.UserFactory(mobile="13800138000")
        save_payment_settings(db.session, merchant_settings(wechat, h5=False))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()

    port = free_port()
    gateways = {
        "WECHATPAY_GATEWAY": wechat.url,
        "WECHAT_API_BASE": wechat.url,
        "WECHAT_OPEN_BASE": wechat.url,
    }
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("FENXIAO_", "RATELIMIT_"))
    } | {
        "FENXIAO_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "SECRETS_KEY": SECRETS_KEY,
        "DATABASE_URL": db_url,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
    }
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(GUNICORN), "-w", "2", "-b", f"127.0.0.1:{port}", f"app:create_app({gateways!r})"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if requests.get(base + "/", timeout=10).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or still warming up
                pass
            if process.poll() is not None:
                pytest.fail("gunicorn stopped:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
            time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not answer:\n" + (tmp_path / "gunicorn.log").read_text()[-3000:])
        yield base
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def browser(base: str, path: str) -> tuple[requests.Session, str]:
    """A new visitor with the CSRF token of the page at `path`."""
    visitor = requests.Session()
    token = CSRF_RE.search(visitor.get(base + path, timeout=10).text)[1]
    return visitor, token


def post_many(base: str, path: str, form: dict, count: int, visitors: int = 4) -> list[int]:
    """`count` POSTs from several visitors at once (so that both workers serve them)."""
    sessions = [browser(base, path) for _ in range(visitors)]

    def send(n: int) -> int:
        visitor, token = sessions[n % visitors]
        return visitor.post(base + path, data=form | {"csrf_token": token}, timeout=30).status_code

    with ThreadPoolExecutor(visitors) as pool:
        return list(pool.map(send, range(count)))


def test_the_login_limit_holds_across_two_workers(shop):
    statuses = post_many(shop, "/login", {"mobile": "13800138000", "password": "wrong-pass1"}, 20)
    assert sorted(statuses) == [200] * 10 + [429] * 10, statuses


def test_the_registration_limit_holds_across_two_workers(shop):
    statuses = post_many(shop, "/register", {"mobile": "1380013", "password": "x"}, 24)
    assert statuses.count(429) == 4, statuses


def test_forged_wechat_notifies_never_reach_the_gateway(shop, wechat):
    before = len(wechat.requests)

    def forge(_n):
        body = b'{"id":"x","event_type":"TRANSACTION.SUCCESS","resource":{}}'
        headers = {
            "Content-Type": "application/json",
            "Wechatpay-Serial": secrets.token_hex(20).upper(),
            "Wechatpay-Signature": base64.b64encode(secrets.token_bytes(256)).decode(),
            "Wechatpay-Timestamp": str(int(time.time())),
            "Wechatpay-Nonce": secrets.token_hex(16),
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }
        return requests.post(shop + "/pay/notify/wechat", data=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(forge, range(8)))
    assert statuses == [401] * 8
    assert wechat.requests[before:] == []
    assert requests.get(shop + "/", timeout=10).status_code == 200
