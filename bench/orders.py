"""Checkout throughput, in-process, one worker: orders placed and paid per second — place_order in one
"request", then start_payment + confirm_payment (the sandbox notify) in another, each committed — for a
shopper bound to a distributor, so payment also writes commission. SQLite always; PostgreSQL on a database
of its own when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server. Also the SQL statements one
place_order sends for carts of 1, 5 and 20 lines (issue 3: it must not grow with the cart), and those of
the payment that follows."""

import random
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event, insert, select

from app import orders
from app.accounts import services as accounts
from app.accounts.models import User
from app.catalog.models import Product, ProductImage, Sku
from app.catalog.services import spec_key
from app.distribution import services as dist
from app.extensions import db
from app.payments import services as payments
from app.settings.services import update_order_settings
from bench import Result, benchmark, measure
from bench.databases import databases, dispose, migrated_app

PRODUCTS = 200
SHOPPERS = 50
LINES_PER_ORDER = 3
CART_SIZES = (1, 5, 20)


@benchmark(
    "checkout", f"orders of {LINES_PER_ORDER} lines placed and paid per second; statements per checkout"
)
def checkout(env) -> list[Result]:
    results = []
    for label, database in databases(env, "orders"):
        with database as url:
            app = migrated_app(env, url)
            shoppers, sku_ids = _seed(app)
            results.append(
                measure(
                    f"checkout + pay ({label})",
                    _order_maker(app, shoppers, sku_ids),
                    requests=env.requests,
                    warmup=env.warmup,
                )
            )
            counts = [_statements(app, shoppers[0], sku_ids[:size], size) for size in CART_SIZES]
            sizes = " / ".join(str(size) for size in CART_SIZES)
            print(
                f"checkout ({label}): SQL statements for carts of {sizes} lines: "
                f"place_order {' / '.join(str(placed) for placed, _paid in counts)}; "
                f"start_payment + confirm_payment {' / '.join(str(paid) for _placed, paid in counts)}"
            )
            dispose(app)
    return results


def _seed(app: Flask) -> tuple[list[int], list[int]]:
    """A catalog with plenty of stock, a shipping rule, and shoppers bound to B (B's upline is A)."""
    with app.app_context():
        session = db.session
        update_order_settings(
            session, shipping_flat_fen=800, free_shipping_over_fen=9900, order_expire_minutes=30,
            autocomplete_days=10, manual_payment_text="", manual_payment_enabled=False,
        )  # fmt: skip
        session.add(dist.get_settings(session))
        session.execute(
            insert(Product),
            [{"title": f"压测商品 {n:03d}", "is_on_shelf": True, "options": []} for n in range(PRODUCTS)],
        )
        product_ids = list(session.scalars(select(Product.id).order_by(Product.id)))
        session.execute(
            insert(Sku),
            [
                {"product_id": pid, "spec_values": [], "spec_key": spec_key([]), "price_fen": 990 + 37 * n,
                 "stock": 10**8, "position": 0, "is_active": True}
                for n, pid in enumerate(product_ids)
            ],
        )  # fmt: skip
        session.execute(
            insert(ProductImage),
            [{"product_id": pid, "image_key": "00/bench.jpg", "position": 0} for pid in product_ids],
        )
        password = "bench1234"
        a = accounts.register_user(session, mobile="13600000001", password=password, nickname="A")
        b = accounts.register_user(session, mobile="13600000002", password=password, nickname="B")
        session.flush()
        top = dist.make_distributor(session, a, source="merchant")
        dist.bind(session, b, top, source="/")
        below = dist.make_distributor(session, b, source="merchant")
        shoppers = []
        for n in range(SHOPPERS):
            user = accounts.register_user(session, mobile=f"137{n:08d}", password=password)
            session.flush()
            dist.bind(session, user, below, source="/")
            orders.addresses.save_address(
                session, user.id, None, recipient="张三", mobile="13812345678", province="广东省",
                city="深圳市", district="南山区", detail=f"科技园路 {n + 1} 号",
            )  # fmt: skip
            shoppers.append(user.id)
        session.commit()
        sku_ids = list(session.scalars(select(Sku.id).order_by(Sku.id)))
        session.remove()
    return shoppers, sku_ids


def _order_maker(app: Flask, shoppers: list[int], sku_ids: list[int]):
    """One call = one order: a few random products, the shoppers in turn."""
    rng = random.Random(7)
    numbers = iter(range(10**9))

    def one_order():
        n = next(numbers)
        items = {sku: rng.randint(1, 2) for sku in rng.sample(sku_ids, LINES_PER_ORDER)}
        _place_and_pay(app, shoppers[n % len(shoppers)], items, f"bench-checkout-{n:010d}")

    return one_order


def _place_and_pay(app: Flask, user_id: int, items: dict[int, int], key: str) -> None:
    """The shopper's checkout request, then the gateway's notify request."""
    with app.app_context():
        user = db.session.get(User, user_id)
        address = orders.addresses.list_addresses(db.session, user_id)[0]
        order = orders.checkout.place_order(
            db.session, user=user, items=items, address_id=address.id, idempotency_key=key
        )
        payment = payments.start_payment(db.session, order, "sandbox", user=user)
        trade_no, amount = payment.out_trade_no, payment.amount_fen
        db.session.commit()
    with app.app_context():
        payments.confirm_payment(db.session, provider="sandbox", out_trade_no=trade_no, amount_fen=amount)
        db.session.commit()


@contextmanager
def _counting(app: Flask):
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _statements(app: Flask, user_id: int, sku_ids: list[int], size: int) -> tuple[int, int]:
    """(place_order, start_payment + confirm_payment) statements for one order of `size` lines."""
    with app.app_context():
        user = db.session.get(User, user_id)
        address_id = orders.addresses.list_addresses(db.session, user_id)[0].id
        with _counting(app) as placing:
            order = orders.checkout.place_order(
                db.session, user=user, items=dict.fromkeys(sku_ids, 1), address_id=address_id,
                idempotency_key=f"bench-statements-{size:04d}",
            )  # fmt: skip
        with _counting(app) as paying:
            payment = payments.start_payment(db.session, order, "sandbox", user=user)
            payments.confirm_payment(
                db.session,
                provider="sandbox",
                out_trade_no=payment.out_trade_no,
                amount_fen=payment.amount_fen,
            )
        db.session.commit()
    return len(placing), len(paying)
