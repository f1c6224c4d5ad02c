"""A 秒杀 rush over HTTP, as production runs it: `gunicorn -w 2` on PostgreSQL, every buyer a logged-in browser
of their own, all submitting at once. The numbers hold: exactly as many orders as flash units, neither the
flash stock nor the SKU stock below zero, no 5xx, and everyone else told 已抢光; one shopper firing many
checkouts at once with a limit of one gets one order."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.fernet import Fernet
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from app import create_app, orders
from app.accounts.models import User
from app.catalog.models import Sku
from app.extensions import db
from app.marketing import flash, offers
from app.marketing.errors import MarketingError
from app.marketing.models import FlashItem
from app.orders.models import Address, Order, OrderLine
from app.settings.models import ShopSettings
from app.timeutil import SHOP_TZ, utcnow
from tests import factories
from tests.conftest import _truncate_all, base_config
from tests.htmlforms import form
from tests.instances import CSRF_RE, hosts, production_env

pytestmark = pytest.mark.postgres_only

SECRET_KEY = "flash-rush-test-secret-key"
SECRETS_KEY = Fernet.generate_key().decode()
PASSWORD = "rush-pass-123"
SOLD_OUT = "已抢光"


class Rush:
    def __init__(self, db_url, folder):
        self.setup = create_app(
            base_config(db_url, folder) | {"SECRET_KEY": SECRET_KEY, "SECRETS_KEY": SECRETS_KEY}
        )
        self.db_url, self.folder = db_url, folder

    def arrange(self, *, buyers: int, flash_stock: int, sku_stock: int, per_user_limit: int | None):
        """The shop (manual transfer as the payment), one product whose SKU is in a session on now, and
        `buyers` shoppers with an address each (a cheap password hash: logging 200 in is not what is tested)."""
        with self.setup.app_context():
            factories.bind(db.session)
            db.session.add(
                ShopSettings(
                    id=1, name="秒杀店", manual_payment_enabled=True, manual_payment_text="转账到店主"
                )
            )
            product = factories.ProductFactory(
                title="秒杀好物", skus=[{"price_fen": 99_00, "stock": sku_stock}]
            )
            today = utcnow().astimezone(SHOP_TZ).date()
            found = flash.save_session(
                db.session,
                None,
                {
                    "name": "整点秒杀",
                    "start_minute": 0,
                    "duration_minutes": 24 * 60,
                    "repeat": "dates",
                    "dates": [today],
                },
            )
            item = flash.save_item(
                db.session,
                found,
                flash.ItemDraft(
                    product.skus[0].id, price_fen=9_90, stock=flash_stock, per_user_limit=per_user_limit
                ),
            )
            hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1")
            mobiles = [f"137{n:08d}" for n in range(buyers)]
            users = [
                User(mobile=m, nickname=f"抢购{n}", role="customer", password_hash=hashed)
                for n, m in enumerate(mobiles)
            ]
            db.session.add_all(users)
            db.session.flush()
            db.session.add_all(
                Address(
                    user_id=u.id,
                    recipient="张三",
                    mobile="13812345678",
                    province="广东省",
                    city="深圳市",
                    district="南山区",
                    detail="科技园路 1 号",
                    is_default=True,
                )
                for u in users
            )
            db.session.commit()
            self.item_id, self.sku_id = item.id, product.skus[0].id
            db.session.remove()
        return mobiles

    def counts(self):
        """(orders holding the flash item, flash stock, flash sold, SKU stock)."""
        with self.setup.app_context():
            orders = db.session.scalar(
                select(func.count(func.distinct(Order.id)))
                .join(OrderLine)
                .where(OrderLine.activity_kind == "flash", OrderLine.activity_id == self.item_id)
            )
            item = db.session.get(FlashItem, self.item_id)
            result = (orders, item.stock, item.sold, db.session.get(Sku, self.sku_id).stock)
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


def logged_in_checkout(base: str, mobile: str, rush: Rush) -> tuple[requests.Session, dict]:
    """A browser of its own, logged in, holding the checkout form of the flash item."""
    visitor = requests.Session()
    token = CSRF_RE.search(visitor.get(base + "/login", timeout=30).text)[1]
    login = visitor.post(
        base + "/login",
        data={"mobile": mobile, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert login.status_code == 302, login.text[:300]
    page = visitor.get(f"{base}/checkout?buy={rush.sku_id}&qty=1&flash={rush.item_id}", timeout=30)
    assert page.status_code == 200, page.text[:300]
    fields = dict(form(page.text, "/checkout").fields)
    assert fields["expected_total"] == "990" and fields["payment_method"] == "manual"
    return visitor, fields


def fire(base: str, shots: list[tuple[requests.Session, dict]]) -> list[requests.Response]:
    """Every checkout POSTed at the same moment (a barrier releases them together)."""
    barrier = threading.Barrier(len(shots))

    def post(shot):
        visitor, fields = shot
        barrier.wait(60)
        return visitor.post(base + "/checkout", data=fields, allow_redirects=False, timeout=120)

    with ThreadPoolExecutor(len(shots)) as pool:
        return list(pool.map(post, shots))


def test_200_buyers_for_10_flash_units_make_exactly_10_orders_and_the_rest_are_told_sold_out(rush, server):
    mobiles = rush.arrange(buyers=200, flash_stock=10, sku_stock=30, per_user_limit=1)
    with server() as (base,), ThreadPoolExecutor(8) as pool:
        shots = list(pool.map(lambda m: logged_in_checkout(base, m, rush), mobiles))
        answers = fire(base, shots)

    statuses = [a.status_code for a in answers]
    assert not [s for s in statuses if s >= 500], statuses
    won = [a for a in answers if a.status_code == 302 and "/manual" in a.headers["Location"]]
    missed = [a for a in answers if a not in won]
    assert len(won) == 10, statuses
    assert all(a.status_code == 422 and SOLD_OUT in a.text for a in missed), {a.status_code for a in missed}
    assert rush.counts() == (10, 0, 10, 20)


def test_one_buyer_firing_20_checkouts_at_once_with_a_limit_of_one_gets_one_order(rush, server):
    (mobile,) = rush.arrange(buyers=1, flash_stock=10, sku_stock=30, per_user_limit=1)
    with server() as (base,):
        visitor, fields = logged_in_checkout(base, mobile, rush)
        # 20 submits from 20 tabs: each its own idempotency key, so only the flash rules can hold them.
        shots = [(visitor, fields | {"idempotency_key": f"rush-tab-{n:02d}-{'x' * 12}"}) for n in range(20)]
        answers = fire(base, shots)

    statuses = [a.status_code for a in answers]
    assert not [s for s in statuses if s >= 500], statuses
    assert sum(1 for a in answers if a.status_code == 302 and "/manual" in a.headers["Location"]) == 1, (
        statuses
    )
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
