"""Two hosts on one PostgreSQL and one Redis, as README's "More than one server" sets them up: each its own
production `gunicorn -w 2`, the same SECRET_KEY, SECRETS_KEY and DATABASE_URL. A session made on one is good
on the other, the login limit counts on both together, a change made in the back office on one shows on the
very next page the other serves, and every scheduled job started by both at the same second does its work
once."""

import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import requests
from cryptography.fernet import Fernet
from sqlalchemy import delete, func, select, update

from app import create_app, orders
from app.accounts.models import User
from app.catalog.models import Sku
from app.distribution.models import Commission, CommissionStatus, EntryKind, LedgerEntry
from app.extensions import db
from app.jobs import JOBS, JobRun
from app.marketing import points
from app.marketing.models import PointsEntry, PointsKind
from app.orders.models import Order, OrderEvent, OrderStatus
from app.page_cache import HIT_HEADER
from app.ratelimit import RateLimitCounter
from app.timeutil import utcnow
from tests import factories
from tests.conftest import _truncate_all, base_config, skip_or_fail
from tests.htmlforms import form
from tests.instances import CSRF_RE, ROOT, browser, hosts, production_env
from tests.test_distribution import bind, buy, complete, distributor, settings

pytestmark = pytest.mark.postgres_only

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
SECRET_KEY = "scale-out-test-secret-key"
SECRETS_KEY = Fernet.generate_key().decode()
LOGIN_LIMIT = 6
JOB_SECONDS = 10


@dataclass
class Shop:
    db_url: str
    folder: Path
    setup: object  # the test's own app on the same database, to arrange and to read
    owner_mobile: str
    shopper_mobile: str
    product_id: int
    sku_id: int


@pytest.fixture(scope="module")
def redis_db():
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as error:
        skip_or_fail(f"Redis at {REDIS_URL} is not reachable: {error}")
    yield client
    client.close()


@pytest.fixture(scope="module")
def shop(pg_database, tmp_path_factory) -> Shop:
    _truncate_all(pg_database)
    folder = tmp_path_factory.mktemp("scale-out")
    setup = create_app(base_config(pg_database, folder))
    with setup.app_context():
        factories.bind(db.session)
        owner = factories.UserFactory(role="owner")
        shopper = factories.UserFactory()
        product = factories.ProductFactory(title="青瓷茶杯", skus=[{"price_fen": 99_00, "stock": 7}])
        db.session.commit()
        ids = Shop(pg_database, folder, setup, owner.mobile, shopper.mobile, product.id, product.skus[0].id)
        db.session.remove()
    yield ids
    with setup.app_context():
        db.engine.dispose()


def host_env(shop: Shop, **settings: str) -> dict[str, str]:
    """What README tells every host to set alike."""
    return production_env(
        shop.db_url, shop.folder, SECRET_KEY=SECRET_KEY, SECRETS_KEY=SECRETS_KEY, **settings
    )


@contextmanager
def two_hosts(shop: Shop, name: str, **settings: str):
    env = host_env(shop, **settings)
    logs = [shop.folder / f"{name}-a.log", shop.folder / f"{name}-b.log"]
    with hosts([env, env], logs) as bases:
        yield bases


@pytest.fixture(scope="module")
def pair(shop, redis_db):
    """Hosts A and B, the login limit counted in Redis."""
    with two_hosts(
        shop, "redis", RATELIMIT_STORAGE_URI=REDIS_URL, LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT} per minute"
    ) as bases:
        yield bases


def log_in(visitor: requests.Session, base: str, mobile: str, path: str = "/login") -> requests.Response:
    token = CSRF_RE.search(visitor.get(base + path, timeout=10).text)[1]
    form_data = {"mobile": mobile, "password": factories.DEFAULT_PASSWORD, "csrf_token": token}
    response = visitor.post(base + path, data=form_data, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:500]
    return response


def logged_in(base: str, cookies) -> bool:
    """Whether these cookies open the orders page on this host (a visitor without a login is sent to it)."""
    response = requests.get(base + "/orders", cookies=cookies, allow_redirects=False, timeout=10)
    return response.status_code == 200


# ---------------------------------------------------------------- sessions


def test_a_login_on_one_host_is_a_login_on_the_other(pair, shop):
    a, b = pair
    visitor = requests.Session()
    log_in(visitor, a, shop.shopper_mobile)
    assert {"fenxiao_session", "fenxiao_remember"} <= set(visitor.cookies.keys())
    copied = visitor.cookies.copy()

    cart = visitor.get(b + "/cart", allow_redirects=False, timeout=10)
    assert cart.status_code == 200 and "/login" not in cart.headers.get("Location", "")
    assert logged_in(b, visitor.cookies) and logged_in(a, visitor.cookies)

    token = CSRF_RE.search(visitor.get(b + "/me", timeout=10).text)[1]
    assert visitor.post(b + "/logout", data={"csrf_token": token}, timeout=10).status_code == 200
    # Logging out clears this browser's session and remember cookies: it is logged out on both hosts.
    assert "fenxiao_remember" not in visitor.cookies
    assert not logged_in(a, visitor.cookies) and not logged_in(b, visitor.cookies)
    # The session is the signed cookie itself, as on one host: a copy taken before the logout still opens
    # the account on every host until it expires or the password changes (README says so).
    assert logged_in(a, copied) and logged_in(b, copied)
    with shop.setup.app_context():
        db.session.scalars(select(User).where(User.mobile == shop.shopper_mobile)).one().set_password(
            "new-pass-123"
        )
        db.session.commit()
        db.session.remove()
    assert not logged_in(a, copied) and not logged_in(b, copied)


# ---------------------------------------------------------------- caches


def anonymous_pages(base: str, path: str, count: int = 8) -> list[requests.Response]:
    """`count` first-time visitors at once, so that both workers of the host answer."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda _n: requests.get(base + path, timeout=10), range(count)))


def warm(bases: list[str], paths: list[str]) -> None:
    """Every worker of every host keeps the pages; a host that did not serve one from memory fails."""
    for base in bases:
        for path in paths:
            anonymous_pages(base, path)
            served = anonymous_pages(base, path)
            assert all(r.status_code == 200 for r in served)
            assert any(r.headers.get(HIT_HEADER) == "hit" for r in served), (base, path)


def every_page_shows(base: str, path: str, text: str) -> None:
    shown = [text in response.text for response in anonymous_pages(base, path)]
    assert all(shown), f"{path} on {base}: {shown.count(False)} of {len(shown)} pages lack {text!r}"


def back_office(base: str, shop: Shop) -> requests.Session:
    owner = requests.Session()
    log_in(owner, base, shop.owner_mobile, "/admin/login")
    return owner


def submit(owner: requests.Session, base: str, path: str, action: str | None, **changes) -> None:
    """Open the page at `path` and send its form (posting to `action`, None: to the page itself) back with
    `changes`, as the merchant's browser does."""
    data = form(owner.get(base + path, timeout=10).text, action).data(**changes)
    response = owner.post(base + path, data=data, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[:2000]


def test_a_change_made_on_one_host_shows_on_the_next_page_of_the_other(pair, shop):
    a, b = pair
    product_page = f"/p/{shop.product_id}"
    pages = ["/", product_page]
    owner = back_office(a, shop)

    warm(pair, pages)
    edit = f"/admin/products/{shop.product_id}/edit"
    submit(owner, a, edit, edit, **{"sku-0-price": "88.00"})
    every_page_shows(b, product_page, "¥88.00")

    warm(pair, pages)
    headers = {"HX-Request": "true", "X-CSRFToken": CSRF_RE.search(owner.get(a + "/admin/products").text)[1]}
    stock = {f"stock-{shop.sku_id}": "3", f"seen-{shop.sku_id}": "7"}
    assert owner.post(f"{a}/admin/products/{shop.product_id}/stock", data=stock, headers=headers).ok
    every_page_shows(b, product_page, "库存 3 件")

    warm(pair, pages)
    now = utcnow() + timedelta(hours=8)  # the form is in Beijing time
    discount = {
        "name": "周末特惠",
        "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "per_user_limit": "5",
        "sku_ids": [str(shop.sku_id)],
        f"item-{shop.sku_id}-price": "66.00",
    }
    token = CSRF_RE.search(owner.get(a + "/admin/marketing/discounts/new").text)[1]
    response = owner.post(
        a + "/admin/marketing/discounts/new", data=discount | {"csrf_token": token}, allow_redirects=False
    )
    assert response.status_code == 302, response.text[:2000]
    every_page_shows(b, product_page, "¥66.00")

    warm(pair, pages)
    submit(owner, a, "/admin/settings", None, name="两台主机小店")
    for path in pages:
        every_page_shows(b, path, "两台主机小店")


# ---------------------------------------------------------------- rate limits


def failed_logins(bases: list[str], mobile: str, count: int) -> list[int]:
    """`count` wrong passwords from several visitors, spread over every host."""
    visitors = [(base, *browser(base, "/login")) for base in bases for _ in range(2)]

    def send(n: int) -> int:
        base, visitor, token = visitors[n % len(visitors)]
        form_data = {"mobile": mobile, "password": "wrong-pass1", "csrf_token": token}
        return visitor.post(base + "/login", data=form_data, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(send, range(count)))


@pytest.mark.parametrize("storage", ["redis", "database"])
def test_the_login_limit_counts_on_both_hosts_together(pair, shop, redis_db, storage):
    redis_db.flushdb()
    with shop.setup.app_context():
        db.session.execute(delete(RateLimitCounter))
        db.session.commit()
        db.session.remove()
    if storage == "redis":
        statuses = failed_logins(pair, "13700000009", 2 * LOGIN_LIMIT)
    else:
        with two_hosts(shop, "database", LOGIN_RATE_LIMIT=f"{LOGIN_LIMIT} per minute") as bases:
            statuses = failed_logins(bases, "13700000009", 2 * LOGIN_LIMIT)
    assert sorted(statuses) == [200] * LOGIN_LIMIT + [429] * LOGIN_LIMIT, statuses


# ---------------------------------------------------------------- jobs


@dataclass
class DueWork:
    expiring: list[int]  # unpaid orders past their time
    receiving: list[int]  # shipped orders past the automatic-receipt days
    commissions: list[int]  # frozen commissions past their freeze days
    points_holders: list[int]  # shoppers whose earned points are past their expiry
    sku_id: int
    stock: int  # its stock once every unpaid order has given its own back


def prepare_due_work(shop: Shop) -> DueWork:
    """Work for every job, due now: timestamps moved back instead of waiting."""
    with shop.setup.app_context():
        session = db.session
        factories.bind(session)
        settings(session)
        product = factories.ProductFactory(skus=[{"price_fen": 100_00, "stock": 100}])
        sku_id = product.skus[0].id
        referrer = distributor(session)
        expiring = []
        for _ in range(10):
            buyer = factories.UserFactory()
            order = orders.checkout.place_order(
                session,
                user=buyer,
                items={sku_id: 2},
                address_id=factories.AddressFactory(user=buyer).id,
                idempotency_key=f"scale-out-unpaid-{buyer.id:06d}",
            )
            expiring.append(order.id)
        session.commit()
        session.execute(
            update(Order).where(Order.id.in_(expiring)).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        for _ in range(4):
            buyer = factories.UserFactory()
            bind(session, buyer, referrer)
            complete(session, buy(session, buyer, product))
        session.execute(update(Commission).values(release_after=utcnow() - timedelta(days=1)))
        receiving = [buy(session, factories.UserFactory(), product) for _ in range(3)]
        staff = factories.UserFactory(role="staff")
        for order in receiving:
            orders.transitions.ship_order(
                session, order, actor=staff, carrier="顺丰", tracking_no="SF100200300"
            )
        session.execute(
            update(Order)
            .where(Order.id.in_([o.id for o in receiving]))
            .values(shipped_at=utcnow() - timedelta(days=30))
        )
        holders = [factories.UserFactory().id for _ in range(5)]
        for user_id in holders:
            points.add_points(session, user_id, 500, "earn", expires_at=utcnow() - timedelta(days=1))
        session.commit()
        frozen = session.scalars(select(Commission.id).where(Commission.status == CommissionStatus.FROZEN))
        receiving_ids = [order.id for order in receiving]
        due = DueWork(
            expiring, receiving_ids, list(frozen), holders, sku_id, session.get(Sku, sku_id).stock + 20
        )
        db.session.remove()
    assert len(due.commissions) >= 4
    return due


def test_every_job_started_by_both_hosts_at_once_does_its_work_once(shop):
    due = prepare_due_work(shop)
    start = time.time() + 3  # both processes have loaded the app by then
    loops = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.job_loop", str(start), str(JOB_SECONDS)],
            cwd=ROOT,
            env=host_env(shop),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _host in "ab"
    ]
    outputs = [loop.communicate(timeout=JOB_SECONDS + 60)[0] for loop in loops]
    lines = [line for output in outputs for line in output.splitlines()]
    ran = Counter(line.split(" exit=")[0] for line in lines if " exit=" in line)
    assert set(ran) == {" ".join(words) for words in JOBS.values()}, outputs
    assert all(" exit=0: " in line for line in lines if " exit=" in line), outputs
    assert not any("Traceback" in output for output in outputs), outputs
    # Both hosts really ran the jobs at the same time: the lock turned one of them away.
    assert any("already running elsewhere" in line for line in lines), outputs

    with shop.setup.app_context():
        session = db.session
        assert set(session.scalars(select(JobRun.name))) == set(JOBS)
        assert all(session.scalars(select(JobRun.ok)))

        def events(order_ids, action):
            return Counter(
                session.scalars(
                    select(OrderEvent.order_id).where(
                        OrderEvent.order_id.in_(order_ids), OrderEvent.action == action
                    )
                )
            )

        assert events(due.expiring, "cancelled") == Counter(due.expiring)
        assert set(session.scalars(select(Order.status).where(Order.id.in_(due.expiring)))) == {
            OrderStatus.CANCELLED
        }
        assert session.get(Sku, due.sku_id).stock == due.stock
        assert events(due.receiving, "auto_completed") == Counter(due.receiving)
        releases = session.scalars(
            select(LedgerEntry.commission_id).where(LedgerEntry.kind == EntryKind.RELEASE)
        ).all()
        assert Counter(releases) == Counter(due.commissions)
        expiries = session.scalars(
            select(PointsEntry.user_id).where(PointsEntry.kind == PointsKind.EXPIRE)
        ).all()
        assert Counter(expiries) == Counter(due.points_holders)
        still_frozen = select(func.count()).where(Commission.status == CommissionStatus.FROZEN)
        assert session.scalar(still_frozen) == 0
        db.session.remove()

    audit = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "ledger", "audit"],
        cwd=ROOT,
        env=host_env(shop),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "every balance matches its ledger" in audit.stdout
