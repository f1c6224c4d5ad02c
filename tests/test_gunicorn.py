"""The shop as it runs in production: `gunicorn -w 2` in production mode, default settings, on SQLite and
PostgreSQL. Two workers are two processes, so what must hold across workers is tested here for real:
rate limits (one count for all workers) and forged WeChat Pay notifies (refused before the gateway is
asked anything — a local fake gateway counts every request it gets)."""

import base64
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

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
from tests.instances import browser, hosts, production_env

SECRET_KEY = "gunicorn-test-secret-key"
SECRETS_KEY = Fernet.generate_key().decode()


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

    gateways = {
        "WECHATPAY_GATEWAY": wechat.url,
        "WECHAT_API_BASE": wechat.url,
        "WECHAT_OPEN_BASE": wechat.url,
    }
    env = production_env(db_url, tmp_path, SECRET_KEY=SECRET_KEY, SECRETS_KEY=SECRETS_KEY)
    with hosts([env], [tmp_path / "gunicorn.log"], f"app:create_app({gateways!r})") as (base,):
        yield base


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
