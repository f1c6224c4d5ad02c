"""Checkout with promotions against the same checkout without (issue 9: no more than 1.5× the cost).
In-process, one worker: an order of 5 lines placed (the view's work: the offers for the basket, then
place_order, which takes the coupon and the points) and paid through the sandbox notify, each in its own
"request". With promotions: a running 满减 campaign, a coupon held by the shopper, 500 points asked. SQLite
always; PostgreSQL on a database of its own when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server.
Also the SQL statements one such placing sends, with and without."""

import random
import statistics
import time
from datetime import timedelta

from flask import Flask
from sqlalchemy import insert, select

from app import orders
from app.accounts.models import User
from app.extensions import db
from app.marketing import campaigns, coupons, offers, points
from app.marketing.models import Coupon, CouponStatus
from app.payments import services as payments
from app.timeutil import utcnow
from bench import Result, benchmark
from bench.databases import databases, dispose, migrated_app
from bench.orders import _counting, _seed

LINES = 5
POINTS_ASKED = 500


@benchmark("promotions", f"orders of {LINES} lines with 满减 + coupon + points vs none: orders/s, statements")
def promotions(env) -> list[Result]:
    results = []
    for label, database in databases(env, "promotions"):
        with database as url:
            app = migrated_app(env, url)
            shoppers, sku_ids = _seed(app)
            coupon_ids = _promotions(app, shoppers, env.requests + env.warmup + 2)
            plain, offered = _interleaved(
                (f"checkout {LINES} lines ({label})", _maker(app, shoppers, sku_ids, None)),
                (f"… with promotions ({label})", _maker(app, shoppers, sku_ids, coupon_ids)),
                requests=env.requests,
                warmup=env.warmup,
            )
            results += [plain, offered]
            without = _statements(app, shoppers[0], sku_ids[:LINES], None, "plain")
            coupon_id = coupon_ids[shoppers[1]].pop()
            with_offers = _statements(app, shoppers[1], sku_ids[:LINES], coupon_id, "offers")
            print(
                f"promotions ({label}): statements per checkout of {LINES} lines (place + pay): "
                f"{without[0]} + {without[1]} without, {with_offers[0]} + {with_offers[1]} with 满减 + coupon + "
                f"points (×{sum(with_offers) / sum(without):.2f}); time per order ×"
                f"{offered.median_ms / plain.median_ms:.2f} (medians), orders/s {plain.per_second:.1f} → "
                f"{offered.per_second:.1f}"
            )
            dispose(app)
    return results


def _interleaved(*named_calls, requests: int, warmup: int) -> list[Result]:
    """Time several calls taking turns (a, b, a, b, …), so that the database growing and the machine's
    mood weigh on each alike."""
    for _ in range(warmup):
        for _name, call in named_calls:
            call()
    timings: list[list[float]] = [[] for _ in named_calls]
    for _ in range(requests):
        for index, (_name, call) in enumerate(named_calls):
            started = time.perf_counter()
            call()
            timings[index].append((time.perf_counter() - started) * 1000)
    results = []
    for (name, _call), times in zip(named_calls, timings, strict=True):
        times.sort()
        results.append(
            Result(
                name=name,
                requests=requests,
                median_ms=statistics.median(times),
                p95_ms=times[min(len(times) - 1, int(len(times) * 0.95))],
                per_second=1000 * len(times) / sum(times),
            )
        )
    return results


def _promotions(app: Flask, shoppers: list[int], per_shopper: int) -> dict[int, list[int]]:
    """A running 满减 campaign, points for every shopper, and enough unused coupons for every order."""
    with app.app_context():
        session = db.session
        now = utcnow()
        campaigns.save_full_reduction(
            session,
            None,
            {
                "name": "满100减10",
                "starts_at": now - timedelta(days=1),
                "ends_at": now + timedelta(days=30),
                "tiers": [
                    campaigns.TierDraft(100_00, reduce_fen=10_00),
                    campaigns.TierDraft(200_00, reduce_fen=25_00),
                ],
                "scope_kind": "all",
            },
        )
        template = coupons.save_template(
            session,
            None,
            {
                "name": "无门槛5元", "kind": "amount", "channel": "issued", "value_fen": 5_00, "threshold_fen": 0,
                "total_qty": 0, "per_user_limit": 20, "scope_kind": "all", "valid_days": 30,
            },
        )  # fmt: skip
        for user_id in shoppers:
            points.add_points(session, user_id, 10**7, "adjust", note="bench")
        # Held coupons straight into the table: claiming is not what is measured here.
        session.execute(
            insert(Coupon),
            [
                {"template_id": template.id, "user_id": user_id, "status": CouponStatus.UNUSED, "source": "issued",
                 "valid_from": now - timedelta(minutes=1), "valid_until": now + timedelta(days=30), "claimed_at": now}
                for user_id in shoppers
                for _ in range(per_shopper // len(shoppers) + 2)
            ],
        )  # fmt: skip
        session.commit()
        held: dict[int, list[int]] = {user_id: [] for user_id in shoppers}
        for coupon_id, user_id in session.execute(select(Coupon.id, Coupon.user_id)):
            held[user_id].append(coupon_id)
        db.session.remove()
    return held


def _maker(app: Flask, shoppers: list[int], sku_ids: list[int], coupon_ids: dict[int, list[int]] | None):
    rng = random.Random(11)
    numbers = iter(range(10**9))
    tag = "offers" if coupon_ids else "plain"

    def one_order():
        n = next(numbers)
        user_id = shoppers[n % len(shoppers)]
        items = {sku: rng.randint(1, 2) for sku in rng.sample(sku_ids, LINES)}
        coupon_id = coupon_ids[user_id].pop() if coupon_ids else None
        _place_and_pay(app, user_id, items, f"bench-{tag}-{n:010d}", coupon_id)

    return one_order


def _place(user_id: int, items: dict[int, int], key: str, coupon_id: int | None):
    user = db.session.get(User, user_id)
    address = orders.addresses.list_addresses(db.session, user_id)[0]
    chosen = (
        offers.for_basket(db.session, user_id, list(items), coupon_id=coupon_id, points_asked=POINTS_ASKED)
        if coupon_id
        else orders.checkout.NO_OFFERS
    )
    return orders.checkout.place_order(
        db.session, user=user, items=items, address_id=address.id, idempotency_key=key, offers=chosen
    )


def _place_and_pay(app: Flask, user_id: int, items: dict[int, int], key: str, coupon_id: int | None) -> None:
    with app.app_context():
        order = _place(user_id, items, key, coupon_id)
        payment = payments.start_payment(db.session, order, "sandbox", user=db.session.get(User, user_id))
        trade_no, amount = payment.out_trade_no, payment.amount_fen
        db.session.commit()
    with app.app_context():
        payments.confirm_payment(db.session, provider="sandbox", out_trade_no=trade_no, amount_fen=amount)
        db.session.commit()


def _statements(
    app: Flask, user_id: int, sku_ids: list[int], coupon_id: int | None, tag: str
) -> tuple[int, int]:
    """(placing, paying) statements of one checkout."""
    with app.app_context():
        with _counting(app) as placing:
            order = _place(user_id, dict.fromkeys(sku_ids, 1), f"bench-statements-{tag}", coupon_id)
        with _counting(app) as paying:
            payment = payments.start_payment(db.session, order, "sandbox", user=db.session.get(User, user_id))
            payments.confirm_payment(
                db.session,
                provider="sandbox",
                out_trade_no=payment.out_trade_no,
                amount_fen=payment.amount_fen,
            )
        db.session.commit()
    return len(placing), len(paying)
