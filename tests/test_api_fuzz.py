"""Schemathesis drives every operation of the API's own OpenAPI description against the app (in-process,
WSGI), anonymous and signed in with a bearer token: no 5xx, and every answer matches the description
(status documented, body of its schema). Few examples per operation, so CI stays fast.

The operations are walked by hand (Hypothesis over each operation's strategy) rather than through
schemathesis.pytest.from_fixture, whose lazy loader does not run on this project's pytest."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests import factories
from tests.test_api import api_login, bearer

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
FUZZ_SETTINGS = settings(
    max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@pytest.fixture
def catalogue(session):
    category = factories.CategoryFactory(name="茶叶")
    factories.CategoryFactory(name="绿茶", parent=category)
    for price in (1200, 3300, 500):
        factories.ProductFactory(
            category=category,
            options=[{"name": "规格", "values": ["小", "大"]}],
            skus=[
                {"price_fen": price, "spec_values": ["小"], "stock": 3},
                {"price_fen": price + 100, "spec_values": ["大"], "stock": 0},
            ],
        )
    session.commit()


def fuzz(app, headers: dict, skip: tuple = ()) -> int:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in skip:
            continue

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
        operations += 1
    return operations


@pytest.mark.usefixtures("catalogue")
def test_every_operation_anonymous(app):
    assert fuzz(app, {}) == 7


@pytest.mark.usefixtures("catalogue")
def test_every_operation_as_a_shopper(app, session):
    shopper = factories.UserFactory(mobile="13800002222")
    session.commit()
    token = api_login(app.test_client(), shopper)
    # Not the logout, which would end the token the other operations are walked with.
    assert fuzz(app, bearer(token), skip=("/api/v1/auth/logout",)) == 6
