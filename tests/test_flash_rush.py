"""A 秒杀 rush over HTTP, as production runs it: `gunicorn -w 2` on PostgreSQL, every buyer a logged-in browser
of their own, all submitting at once. The numbers hold: exactly as many orders as flash units, neither the
flash stock nor the SKU stock below zero, no 5xx, and everyone else told 已抢光; one shopper firing many
checkouts at once with a limit of one gets one order."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.fernet import Fernet

from app import create_app, orders
from app.accounts.models import User
from app.catalog.models import Sku
from app.extensions import db
from app.marketing import flash, offers
from app.marketing.errors import MarketingError
from app.marketing.models import FlashItem
from app.timeutil import SHOP_TZ, utcnow
from bench import flash_rush
from bench.flash_rush import SOLD_OUT, checkout_form, fire, log_in
from tests import factories
from tests.conftest import _truncate_all, base_config
from tests.instances import hosts, production_env

pytestmark = pytest.mark.postgres_only

SECRET_KEY = "flash-rush-test-secret-key"
SECRETS_KEY = Fernet.generate_key().decode()
PASSWORD = "rush-pass-123"


class Rush:
    """The rush `make bench` times (bench/flash_rush.py), on the test's database."""

    def __init__(self, db_url, folder):
        self.setup = create_app(
            base_config(db_url, folder) | {"SECRET_KEY": SECRET_KEY, "SECRETS_KEY": SECRETS_KEY}
        )
        self.db_url, self.folder = db_url, folder

    def arrange(self, *, buyers: int, flash_stock: int, sku_stock: int, per_user_limit: int | None):
        """The shop (manual transfer as the payment), one product whose SKU is in a session on now, and
        `buyers` shoppers with an address each."""
        with self.setup.app_context():
            mobiles = flash_rush.open_shop(db.session, buyers, PASSWORD)
            self.item = flash_rush.flash_item(
                db.session, flash_stock=flash_stock, sku_stock=sku_stock, per_user_limit=per_user_limit
            )
            db.session.remove()
        return mobiles

    def counts(self):
        """(orders holding the flash item, flash stock, flash sold, SKU stock)."""
        with self.setup.app_context():
            result = flash_rush.counts(db.session, *self.item)
            db.session.remove()
            return result

    def close(self):
        with self.setup.app_context():
            db.engine.dispose()


@pytest.fixture
def rush(pg_database, tmp_path):
    _truncate_all(pg_database)
    found = Rush(pg_database, tmp_path)
    yield found
    found.close()


@pytest.fixture
def server(rush, tmp_path):
    def start():
        env = production_env(
            rush.db_url,
            tmp_path,
            SECRET_KEY=SECRET_KEY,
            SECRETS_KEY=SECRETS_KEY,
            LOGIN_RATE_LIMIT="100000 per minute",
        )
        return hosts([env], [tmp_path / "gunicorn.log"])

    return start


def logged_in_checkout(base: str, mobile: str, rush: Rush):
    """A browser of its own, logged in, holding the checkout form of the flash item at its flash price."""
    visitor = log_in(base, mobile, PASSWORD)
    fields = checkout_form(base, visitor, rush.item)
    assert fields["expected_total"] == "990" and fields["payment_method"] == "manual", fields
    return visitor, fields


def test_200_buyers_for_10_flash_units_make_exactly_10_orders_and_the_rest_are_told_sold_out(rush, server):
    mobiles = rush.arrange(buyers=200, flash_stock=10, sku_stock=30, per_user_limit=1)
    with server() as (base,), ThreadPoolExecutor(8) as pool:
        shots = list(pool.map(lambda m: logged_in_checkout(base, m, rush), mobiles))
        answers = fire(base, shots)

    statuses = [a.status or a.error for a in answers]  # no status: no answer came, the error says why
    assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
    won = [a for a in answers if a.status == 302 and "/manual" in a.location]
    missed = [a for a in answers if a not in won]
    assert len(won) == 10, statuses
    assert all(a.status == 422 and SOLD_OUT in a.text for a in missed), {a.status for a in missed}
    assert rush.counts() == (10, 0, 10, 20)


def test_one_buyer_firing_20_checkouts_at_once_with_a_limit_of_one_gets_one_order(rush, server):
    (mobile,) = rush.arrange(buyers=1, flash_stock=10, sku_stock=30, per_user_limit=1)
    with server() as (base,):
        visitor, fields = logged_in_checkout(base, mobile, rush)
        # 20 submits from 20 tabs: each its own idempotency key, so only the flash rules can hold them.
        shots = [(visitor, fields | {"idempotency_key": f"rush-tab-{n:02d}-{'x' * 12}"}) for n in range(20)]
        answers = fire(base, shots)

    statuses = [a.status or a.error for a in answers]
    assert all(isinstance(s, int) and s < 500 for s in statuses), statuses
    assert sum(1 for a in answers if a.status == 302 and "/manual" in a.location) == 1, statuses
    assert rush.counts() == (1, 9, 1, 29)


# ---------------------------------------------------------------- the guards themselves, without the web's pre-check


def test_twenty_placements_at_once_by_one_shopper_with_a_limit_of_one_make_one_order(pg_app):
    """Over HTTP a sync worker serves one request at a time and the checkout's read-only pre-check turns most
    repeats away; here 20 threads place at once, straight through the service, so only the checks made
    under the shopper's lock inside the order's transaction can hold them."""
    from tests.conftest import run_together
    from tests.test_orders import key

    shopper = factories.UserFactory()
    address_id = factories.AddressFactory(user=shopper).id
    product = factories.ProductFactory(skus=[{"price_fen": 99_00, "stock": 30}])
    today = utcnow().astimezone(SHOP_TZ).date()
    found = flash.save_session(
        db.session,
        None,
        {"name": "场", "start_minute": 0, "duration_minutes": 24 * 60, "repeat": "dates", "dates": [today]},
    )
    sku_id = product.skus[0].id
    item_id = flash.save_item(db.session, found, flash.ItemDraft(sku_id, price_fen=9_90, stock=10)).id
    db.session.commit()
    user_id = shopper.id

    def place(i):
        user = db.session.get(User, user_id)
        chosen = offers.for_basket(db.session, user_id, [sku_id])
        return orders.checkout.place_order(
            db.session,
            user=user,
            items={sku_id: 1},
            address_id=address_id,
            idempotency_key=key(i),
            offers=chosen,
        ).id

    results = run_together(pg_app, 20, place)
    placed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, MarketingError)]
    assert (len(placed), len(refused)) == (1, 19), [
        r for r in results if not isinstance(r, int | MarketingError)
    ]
    db.session.expire_all()
    item = db.session.get(FlashItem, item_id)
    assert (item.stock, item.sold, db.session.get(Sku, sku_id).stock) == (9, 1, 29)
