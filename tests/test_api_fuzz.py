"""Schemathesis drives every operation of the API's own OpenAPI description against the app (in-process,
WSGI): anonymous, signed in as a shopper who has an address, orders and coupons, and signed in as a
distributor with a team and commission. No 5xx, and every answer matches the description (a documented
status, a body of its schema). Few examples per operation, so CI stays fast. An operation added to the API
is walked without touching this file: the counts below come from the description itself.

The operations are walked by hand (Hypothesis over each operation's strategy) rather than through
schemathesis.pytest.from_fixture, whose lazy loader does not run on this project's pytest."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from app import orders
from app.distribution import services as dist
from app.payments.settings import save_payment_settings
from tests import factories
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat
from tests.test_api import api_login, bearer
from tests.test_distribution import bind, buy

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
FUZZ_SETTINGS = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
# Operations that end the token the others are walked with (its own tests cover each).
ENDS_THE_TOKEN = ("/api/v1/auth/logout",)
# The API has at least this many operations; fewer means the description lost some.
AT_LEAST = 7


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    """WeChat (the mini-program's login, 小程序码, WeChat Pay) is the fake: set up, as a shop using the API is."""
    return {"WECHAT_API_BASE": wechat.url, "WECHATPAY_GATEWAY": wechat.url, "PUBLIC_URL": "http://shop.test"}


@pytest.fixture
def catalogue(session, wechat):
    save_payment_settings(session, merchant_settings(wechat, mini_program=True))
    category = factories.CategoryFactory(name="茶叶")
    factories.CategoryFactory(name="绿茶", parent=category)
    products = []
    for price in (1200, 3300, 500):
        products.append(
            factories.ProductFactory(
                category=category,
                options=[{"name": "规格", "values": ["小", "大"]}],
                skus=[
                    {"price_fen": price, "spec_values": ["小"], "stock": 30},
                    {"price_fen": price + 100, "spec_values": ["大"], "stock": 0},
                ],
            )
        )
    session.commit()
    return products


@pytest.fixture
def people(session, catalogue):
    """A distributor with a buyer below them, and that buyer's paid and unpaid orders and address."""
    distributor_user = factories.UserFactory(mobile="13800003333")
    distributor = dist.make_distributor(session, distributor_user, source="merchant")
    session.commit()
    shopper = factories.UserFactory(mobile="13800002222")
    session.commit()
    bind(session, shopper, distributor)
    buy(session, shopper, catalogue[0], qty=2)  # paid: commission for the distributor
    address = factories.AddressFactory(user=shopper, recipient="林小雨", mobile="18612345678")
    session.commit()

    orders.checkout.place_order(  # left unpaid
        session,
        user=shopper,
        items={catalogue[1].skus[0].id: 1},
        address_id=address.id,
        idempotency_key="fuzz-unpaid-order-000001",
    )
    session.commit()
    return shopper, distributor_user


def operations(app) -> list:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(app, headers: dict, skip: tuple = (), only: str = "/api/v1/") -> int:
    """Walk the operations whose path starts with `only`, but those in `skip`: how many were walked."""
    walked = 0
    for operation in operations(app):
        if operation.path in skip or not operation.path.startswith(only):
            continue

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
        walked += 1
    return walked


def test_every_operation_anonymous(app, people):
    total = len(operations(app))
    assert total >= AT_LEAST
    assert fuzz(app, {}) == total


def test_every_operation_as_a_shopper(app, people):
    shopper, _distributor = people
    token = api_login(app.test_client(), shopper)
    assert fuzz(app, bearer(token), skip=ENDS_THE_TOKEN) == len(operations(app)) - len(ENDS_THE_TOKEN)


def test_every_operation_as_a_distributor(app, people):
    _shopper, distributor = people
    token = api_login(app.test_client(), distributor)
    assert fuzz(app, bearer(token), skip=ENDS_THE_TOKEN) == len(operations(app)) - len(ENDS_THE_TOKEN)
