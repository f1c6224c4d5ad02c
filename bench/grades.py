"""The grade check of `flask distribution settle` (grades.check_upgrades over every distributor):
BENCH_GRADE_DISTRIBUTORS distributors (default 10,000), each with one bound shopper, 100,000 completed
orders shared among distributors and shoppers, one release entry per order in the ledger, and two grades
with conditions that about half of them reach. Then one check (timed, with its commit: the bulk upgrade)
and a second one with nothing left to do (what cron pays every night). SQLite always; PostgreSQL on a
database of its own when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server."""

import os
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import String, cast, func, insert, literal, select

from app.accounts.models import User
from app.db_types import UTCDateTime
from app.distribution import grades
from app.distribution.models import Distributor, DistributorGradeLog, EntryKind, LedgerEntry
from app.extensions import db
from app.orders.models import Order
from app.timeutil import utcnow
from bench import Result, benchmark
from bench.databases import databases, dispose, migrated_app
from bench.settle import _numbers, insert_orders

DEFAULT_DISTRIBUTORS = 10_000
ORDERS = 100_000


@benchmark(
    "grades", "the settle job's grade check (check_upgrades) over BENCH_GRADE_DISTRIBUTORS distributors"
)
def grade_check(env) -> list[Result]:
    count = int(os.environ.get("BENCH_GRADE_DISTRIBUTORS", DEFAULT_DISTRIBUTORS))
    results = []
    for label, database in databases(env, "grades"):
        with database as url:
            app = migrated_app(env, url)
            with app.app_context():
                started = time.perf_counter()
                _seed(count)
                print(f"grades ({label}): {count:,} distributors, {ORDERS:,} orders written in "
                      f"{time.perf_counter() - started:.1f} s")  # fmt: skip
                upgraded, seconds = _timed(_check)
                logged = db.session.scalar(select(func.count()).select_from(DistributorGradeLog))
                assert upgraded == logged and 0 < upgraded < count, (upgraded, logged)
                results.append(
                    _result(f"grade check, {count // 1000}k distributors ({label})", seconds, count)
                )
                again, seconds_again = _timed(_check)
                assert again == 0
                results.append(_result(f"grade check, nothing to do ({label})", seconds_again, count))
                print(f"grades ({label}): {upgraded:,} upgraded in {seconds:.2f} s; "
                      f"again with nothing to do {seconds_again:.2f} s")  # fmt: skip
                db.session.remove()
            dispose(app)
    return results


def _timed(work):
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def _check() -> int:
    upgraded = grades.check_upgrades(db.session)
    db.session.commit()
    return upgraded


def _result(name: str, seconds: float, items: int) -> Result:
    return Result(name, 1, seconds * 1000, seconds * 1000, items / seconds if seconds else 0.0)


def _seed(count: int) -> None:
    session = db.session
    if session.get_bind().dialect.name == "postgresql":  # a bulk load into an empty database of our own
        session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    long_ago = sa.bindparam("long_ago", utcnow() - timedelta(days=90), type_=UTCDateTime())
    text = lambda prefix, n: literal(prefix) + cast(n, String)  # noqa: E731 - a tiny SQL helper

    # Distributor users 1 … count, then their shoppers count+1 … 2·count, shopper i bound to user i.
    seq = _numbers(2 * count)
    session.execute(
        insert(User).from_select(
            [
                "nickname",
                "role",
                "is_active",
                "auth_version",
                "created_at",
                "referrer_fixed",
                "referrer_id",
                "referrer_bound_at",
            ],
            select(
                text("u", seq.c.n),
                literal("customer"),
                literal(True),
                literal(1),
                long_ago,
                literal(False),
                sa.case((seq.c.n > count, seq.c.n - count), else_=sa.null()),
                sa.case((seq.c.n > count, long_ago), else_=sa.null()),
            ),
        )  # fmt: skip
    )
    session.execute(
        insert(Distributor).from_select(
            [
                "user_id",
                "code",
                "status",
                "source",
                "real_name",
                "frozen_fen",
                "available_fen",
                "withdrawn_fen",
                "created_at",
            ],
            select(
                User.id,
                text("c", User.id),
                literal("active"),
                literal("merchant"),
                literal(""),
                literal(0),
                literal(0),
                literal(0),
                long_ago,
            ).where(User.id <= count),
        )  # fmt: skip
    )
    # Orders by everyone, ¥10 to ¥209.99; each one's distributor (the buyer's referrer, or the buyer) gets
    # a tenth of it released.
    seq = _numbers(ORDERS)
    buyer = seq.c.n % (2 * count) + 1
    insert_orders(
        session,
        at=long_ago,
        number=text("g", seq.c.n),
        user_id=buyer,
        goods_fen=1000 + seq.c.n % 20000,
        total_fen=1000 + seq.c.n % 20000,
        idempotency_key=text("g", seq.c.n),
    )
    owner = sa.case((Order.user_id > count, Order.user_id - count), else_=Order.user_id)
    session.execute(
        insert(LedgerEntry).from_select(
            [
                "distributor_id",
                "kind",
                "frozen_delta_fen",
                "available_delta_fen",
                "withdrawn_delta_fen",
                "note",
                "created_at",
            ],
            select(
                Distributor.id,
                literal(EntryKind.RELEASE.value),
                -(Order.total_fen // 10),
                Order.total_fen // 10,
                literal(0),
                literal(""),
                long_ago,
            )
            .select_from(Order)
            .join(Distributor, Distributor.user_id == owner),
        )  # fmt: skip
    )
    session.commit()
    # Per distributor: about ¥100 commission, ¥1,000 own spend and ¥1,000 referrals' spend, spread wide.
    grades.save_grade(
        session,
        None,
        name="银牌",
        rates_bp=None,
        sort=1,
        upgrade=grades.ConditionsInput("any", min_commission_fen=12000, min_team_spend_fen=120000),
    )
    grades.save_grade(
        session,
        None,
        name="金牌",
        rates_bp=None,
        sort=2,
        upgrade=grades.ConditionsInput("all", min_commission_fen=15000, min_own_spend_fen=150000),
    )
    session.commit()
