"""The distributor center with a long history: one distributor with 100,000 commissions (about 200,000
ledger entries, 100,000 orders from 2,000 bound shoppers, visits over the last 30 days), then the center
page (which releases what is due before showing balances) and the first page of the commission list,
rendered through the test client. Budget: 20 ms median each (issue 4). SQLite always; PostgreSQL too when
BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a database this benchmark may empty."""

import contextlib
import io
import os
import random
import re
import time
from datetime import timedelta

import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import insert, select

from app import create_app
from app.accounts import services as accounts
from app.accounts.models import User
from app.catalog.models import Product, Sku
from app.catalog.services import spec_key
from app.config import normalise_database_url
from app.distribution import services as dist
from app.distribution.models import Commission, Distributor, EntryKind, LedgerEntry, Visit
from app.extensions import db
from app.orders.models import Order, OrderLine
from app.timeutil import utcnow
from bench import Result, benchmark, measure
from bench.env import MIGRATIONS

BUDGET_MS = 20
COMMISSIONS = 100_000
SHOPPERS = 2_000
PRODUCTS = 50
CHUNK = 10_000
MOBILE, PASSWORD = "13900000000", "bench1234"


@benchmark("distributor-center", f"distributor center and commission list, {COMMISSIONS:,} commissions")
def distributor_center(env) -> list[Result]:
    results = []
    for label, url in _databases(env):
        app = _app(env, url)
        started = time.perf_counter()
        with app.app_context():
            with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
                upgrade(directory=MIGRATIONS)
            _seed(COMMISSIONS)
            db.session.remove()
        print(f"distributor center ({label}): seeded in {time.perf_counter() - started:.1f} s")
        client = _logged_in(app)
        options = {"requests": env.requests, "warmup": env.warmup, "budget_ms": BUDGET_MS}
        results += [
            measure(f"distributor center /d ({label})", _get(client, "/d"), **options),
            measure(f"commission list ({label})", _get(client, "/d/commissions"), **options),
        ]
        with app.app_context():
            db.engine.dispose()
    return results


def _databases(env):
    yield "SQLite", f"sqlite:///{env.folder / 'distribution-center.sqlite3'}"
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if url:
        url = normalise_database_url(url)
        engine = sa.create_engine(url)
        with engine.begin() as conn:  # a database for tests and benchmarks only: start empty
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
        yield "PostgreSQL", url


def _app(env, url: str):
    return create_app(
        {
            "TESTING": True,  # quiet logging; CSRF stays on
            "SECRET_KEY": "bench",
            "SQLALCHEMY_DATABASE_URI": url,
            "UPLOAD_FOLDER": str(env.folder / "uploads"),
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )


def _logged_in(app):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post("/login", data={"mobile": MOBILE, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, "benchmark distributor could not log in"
    return client


def _get(client, url: str):
    def call():
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")

    return call


def _chunks(rows: list[dict]):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def _seed(count: int) -> None:
    """Bulk inserts shaped like the services' rows: orders paid over about two years, one line each, a
    level-1 commission on every order, frozen credits for all and releases for the ones past the freeze
    days; balances equal to the ledger (so `flask ledger audit` would pass)."""
    rng = random.Random(4)
    session = db.session
    now = utcnow()
    settings = dist.get_settings(session)
    session.add(settings)
    user = accounts.register_user(session, mobile=MOBILE, password=PASSWORD, nickname="压测分销员")
    upline = accounts.register_user(session, mobile="13900000001", password=PASSWORD, nickname="上级")
    session.flush()
    user.referrer_id = upline.id
    dist.make_distributor(session, upline, source="merchant")
    distributor = dist.make_distributor(session, user, source="merchant")
    session.commit()

    session.execute(
        insert(Product.__table__),
        [
            {"title": f"压测商品 {n:02d} 云南小粒咖啡豆", "is_on_shelf": True, "options": []}
            for n in range(PRODUCTS)
        ],
    )
    products = list(session.execute(select(Product.id, Product.title)))
    session.execute(
        insert(Sku.__table__),
        [
            {
                "product_id": pid,
                "spec_values": [],
                "spec_key": spec_key([]),
                "price_fen": 990 + 100 * n,
                "stock": 1000,
                "position": 0,
                "is_active": True,
            }
            for n, (pid, _title) in enumerate(products)
        ],
    )
    skus = dict(session.execute(select(Sku.product_id, Sku.id)).all())
    session.execute(
        insert(User.__table__),
        [
            {
                "mobile": f"137{n:08d}",
                "nickname": f"顾客{n}",
                "role": "customer",
                "referrer_id": user.id,
                "referrer_bound_at": now - timedelta(days=800),
                "auth_version": 1,
                "is_active": True,
            }
            for n in range(SHOPPERS)
        ],
    )
    shoppers = list(session.scalars(select(User.id).where(User.referrer_id == user.id)))

    freeze = timedelta(days=settings.freeze_days)
    orders, lines = [], []
    for i in range(count):
        created = now - timedelta(minutes=10 * (count - i))  # about two years, newest last
        completed = created + timedelta(days=3) if created + timedelta(days=3) <= now else None
        pid, title = products[i % PRODUCTS]
        qty = 1 + i % 3
        unit = 990 + 100 * (i % PRODUCTS)
        orders.append(
            {
                "number": f"B{i:015d}",
                "user_id": shoppers[i % SHOPPERS],
                "idempotency_key": f"bench-{i:012d}",
                "status": "completed" if completed else "paid",
                "refund_status": "none",
                "goods_fen": unit * qty,
                "discount_fen": 0,
                "shipping_fen": 0,
                "total_fen": unit * qty,
                "refunded_fen": 0,
                "ship_recipient": "收件人",
                "ship_mobile": "13800000000",
                "ship_region": "广东省 深圳市 南山区",
                "ship_detail": "科技园路 1 号",
                "created_at": created,
                "expires_at": created + timedelta(minutes=30),
                "paid_at": created,
                "completed_at": completed,
            }
        )
        lines.append((pid, title, unit, qty))
    for chunk in _chunks(orders):
        session.execute(insert(Order.__table__), chunk)
    order_ids = list(session.scalars(select(Order.id).order_by(Order.id)))
    order_lines = [
        {
            "order_id": oid,
            "product_id": pid,
            "sku_id": skus[pid],
            "title": title,
            "unit_fen": unit,
            "qty": qty,
            "subtotal_fen": unit * qty,
            "discount_fen": 0,
            "paid_fen": unit * qty,
        }
        for oid, (pid, title, unit, qty) in zip(order_ids, lines, strict=True)
    ]
    for chunk in _chunks(order_lines):
        session.execute(insert(OrderLine.__table__), chunk)

    commissions = []
    for oid, order, (_pid, _title, unit, qty) in zip(order_ids, orders, lines, strict=True):
        released = order["completed_at"] is not None and order["completed_at"] + freeze <= now
        commissions.append(
            {
                "order_id": oid,
                "distributor_id": distributor.id,
                "level": 1,
                "status": "released" if released else "frozen",
                "original_fen": unit * qty * 1000 // 10000,
                "held": False,
                "created_at": order["paid_at"],
                "released_at": order["completed_at"] + freeze if released else None,
                "release_batch": "bench" if released else None,
                "release_after": order["completed_at"] + freeze if order["completed_at"] else None,
            }
        )
    for chunk in _chunks(commissions):
        session.execute(insert(Commission.__table__), chunk)
    rows = session.execute(
        select(
            Commission.id,
            Commission.original_fen,
            Commission.status,
            Commission.created_at,
            Commission.released_at,
        )
        .where(Commission.distributor_id == distributor.id)
        .order_by(Commission.id)
    ).all()
    entries, frozen, available = [], 0, 0
    for cid, amount, status, created, released_at in rows:
        entries.append(
            {
                "distributor_id": distributor.id,
                "kind": EntryKind.FROZEN_CREDIT.value,
                "commission_id": cid,
                "frozen_delta_fen": amount,
                "available_delta_fen": 0,
                "withdrawn_delta_fen": 0,
                "batch": None,
                "note": "",
                "created_at": created,
            }
        )
        if status == "released":
            entries.append(
                {
                    "distributor_id": distributor.id,
                    "kind": EntryKind.RELEASE.value,
                    "commission_id": cid,
                    "frozen_delta_fen": -amount,
                    "available_delta_fen": amount,
                    "withdrawn_delta_fen": 0,
                    "batch": "bench",
                    "note": "",
                    "created_at": released_at,
                }
            )
            available += amount
        else:
            frozen += amount
    entries.sort(key=lambda entry: entry["created_at"])
    for chunk in _chunks(entries):
        session.execute(insert(LedgerEntry.__table__), chunk)
    session.execute(
        sa.update(Distributor)
        .where(Distributor.id == distributor.id)
        .values(frozen_fen=frozen, available_fen=available)
    )

    visits = []
    for day in range(30):
        date = (now - timedelta(days=day)).date()
        for n in range(100):
            pid = products[rng.randrange(PRODUCTS)][0]
            visits.append(
                {
                    "distributor_id": distributor.id,
                    "visitor_key": f"v{day:02d}{n:04d}",
                    "path": f"/p/{pid}",
                    "product_id": pid,
                    "ip_hash": "0" * 64,
                    "in_wechat": n % 3 != 0,
                    "day": date,
                    "created_at": now - timedelta(days=day),
                }
            )
    session.execute(insert(Visit.__table__), visits)
    session.commit()
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does soon after a bulk load in production; without it the planner guesses.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
