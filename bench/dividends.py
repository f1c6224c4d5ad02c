"""`flask distribution dividends` (dividends.run_dividends) on a big day: BENCH_DIVIDEND_DISTRIBUTORS
distributors (default 10,000; a tenth gold, four tenths silver) and BENCH_DIVIDEND_ORDERS orders (default
100,000) that became final yesterday, each with two levels of commission, one in a hundred partly
refunded, plus as many final the day before; month caps, with earlier payouts that leave some gold members
little room (so the water-filling runs). Timed: the day before yesterday paid in dynamic mode (pay_day), then
the job in static mode (it stamps the orders due now and pays yesterday; the static pools read the grade of
the day from a grade log with a change today for one in twenty): the goal, under 5 s, applies to both; then
the job again with nothing to do; the ledger audit must pass. SQLite always; PostgreSQL on a database of its own
when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server."""

import os
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import String, case, cast, func, insert, literal, select

from app.accounts.models import User
from app.db_types import UTCDateTime
from app.distribution import dividend_audit, dividends, ledger
from app.distribution import services as dist
from app.distribution.models import (
    Commission,
    Distributor,
    DistributorGrade,
    DistributorGradeLog,
    DividendDay,
    DividendPayout,
    EntryKind,
    LedgerEntry,
)
from app.extensions import db
from app.orders.models import Order, Refund
from app.timeutil import utcnow
from bench import Result, benchmark
from bench.databases import databases, dispose, migrated_app
from bench.settle import _numbers, insert_orders

DEFAULT_DISTRIBUTORS = 10_000
DEFAULT_ORDERS = 100_000
GOAL_S = 5.0
MONTH_CAP_FEN = 2_000_000  # ¥20,000 a month
NEAR_CAP_EVERY = 20  # one distributor in twenty has had ¥19,990 already this month


@benchmark("dividends", "the dividend job for a day of BENCH_DIVIDEND_ORDERS final orders (goal < 5 s)")
def dividend_job(env) -> list[Result]:
    count = int(os.environ.get("BENCH_DIVIDEND_DISTRIBUTORS", DEFAULT_DISTRIBUTORS))
    orders = int(os.environ.get("BENCH_DIVIDEND_ORDERS", DEFAULT_ORDERS))
    results = []
    for label, database in databases(env, "dividends"):
        with database as url:
            app = migrated_app(env, url)
            with app.app_context():
                now = utcnow()
                today = dividends.shop_today(now)
                started = time.perf_counter()
                _seed(count, orders, today)
                print(f"dividends ({label}): {count:,} distributors, {2 * orders:,} final orders over two days "
                      f"written in {time.perf_counter() - started:.1f} s")  # fmt: skip
                rules = dividends.rules_from(db.session, dist.get_settings(db.session))
                dynamic = dividends.DividendRules(
                    enabled=True,
                    mode="dynamic",
                    grade_ratios_bp={},
                    level_ratios_bp=(300, 100, 0),
                    cap_month_fen=rules.cap_month_fen,
                    start_on=rules.start_on,
                )
                row, seconds = _timed(_pay, today - timedelta(days=2), dynamic, now)
                results.append(
                    _goal(f"dividend day, dynamic, {_k(orders)} orders ({label})", seconds, orders)
                )
                print(f"dividends ({label}): dynamic day paid {row.sharers:,} sharers "
                      f"¥{row.paid_fen / 100:,.2f} in {seconds:.2f} s (goal < {GOAL_S:g} s)")  # fmt: skip
                counts, seconds = _timed(_job, now)
                assert counts["days"] == 1 and counts["sharers"] > 0, counts
                results.append(
                    _goal(
                        f"dividend job, {_k(orders)} orders, {_k(count)} distributors ({label})",
                        seconds,
                        orders,
                    )
                )
                capped = db.session.scalar(
                    select(func.count()).select_from(DividendPayout).where(DividendPayout.capped)
                )
                print(
                    f"dividends ({label}): static job {counts} in {seconds:.2f} s (goal < {GOAL_S:g} s; "
                    f"{capped:,} payouts cut by a cap)"
                )
                again, seconds = _timed(_job, now)
                assert again["days"] == 0, again
                results.append(_result(f"dividend job, nothing to do ({label})", seconds, 1))
                mismatches = ledger.audit(db.session)
                assert not mismatches, mismatches[:3]
                found = dividend_audit.audit(db.session)
                assert not found, found[:3]
                db.session.remove()
            dispose(app)
    return results


def _pay(day, rules, now):
    row = dividends.pay_day(db.session, day, rules, now=now)
    db.session.commit()
    return row


def _job(now):
    return dividends.run_dividends(db.session, now=now)


def _timed(work, *args):
    started = time.perf_counter()
    value = work(*args)
    return value, time.perf_counter() - started


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 else str(n)


def _goal(name: str, seconds: float, items: int) -> Result:
    """A timed step the < GOAL_S goal applies to (the dynamic day and the static job alike)."""
    missed = seconds > GOAL_S
    goal = f"< {GOAL_S:g} s: {seconds:.2f} s {'MISSED' if missed else 'ok'}"
    return Result(
        name,
        1,
        seconds * 1000,
        seconds * 1000,
        items / seconds if seconds else 0.0,
        goal=goal,
        goal_missed=missed,
    )


def _result(name: str, seconds: float, items: int) -> Result:
    return Result(name, 1, seconds * 1000, seconds * 1000, items / seconds if seconds else 0.0)


def _seed(count: int, orders: int, today) -> None:
    session = db.session
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # a bulk load into an empty database of our own
        session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    long_ago = sa.bindparam("long_ago", utcnow() - timedelta(days=90), type_=UTCDateTime())
    text = lambda prefix, n: literal(prefix) + cast(n, String)  # noqa: E731 - a tiny SQL helper

    gold = DistributorGrade(name="金牌", sort=2, dividend_ratio_bp=200)
    silver = DistributorGrade(name="银牌", sort=1, dividend_ratio_bp=100)
    session.add_all([gold, silver])
    session.flush()
    settings = dist.get_settings(session)
    settings.dividends_enabled = True
    settings.dividend_mode = "static"
    settings.dividends_start_on = today - timedelta(days=3)
    settings.dividend_cap_month_fen = MONTH_CAP_FEN
    settings.dividends_acknowledged_at = utcnow()
    session.add(settings)
    session.flush()

    seq = _numbers(2 * count)
    session.execute(
        insert(User).from_select(
            ["nickname", "role", "is_active", "auth_version", "created_at", "referrer_fixed"],
            select(
                text("u", seq.c.n), literal("customer"), literal(True), literal(1), long_ago, literal(False)
            ),
        )
    )
    session.execute(
        insert(Distributor).from_select(
            [
                "user_id",
                "code",
                "status",
                "source",
                "real_name",
                "grade_id",
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
                case((User.id % 10 == 0, gold.id), (User.id % 10 < 5, silver.id), else_=sa.null()),
                literal(0),
                literal(0),
                literal(0),
                long_ago,
            ).where(User.id <= count),
        )  # fmt: skip
    )
    first_distributor = session.scalar(select(func.min(Distributor.id)))
    # The grade log the static pools read the grade of the day from: every graded distributor got theirs
    # long ago, and one in twenty changed grade again today (after the days paid: the earlier one counts).
    log_columns = ["distributor_id", "from_grade_id", "to_grade_id", "kind", "reason", "commission_fen",
                   "own_spend_fen", "team_spend_fen", "created_at"]  # fmt: skip
    session.execute(
        insert(DistributorGradeLog).from_select(
            log_columns,
            select(
                Distributor.id,
                sa.null(),
                Distributor.grade_id,
                literal("automatic"),
                literal(""),
                literal(0),
                literal(0),
                literal(0),
                long_ago,
            ).where(Distributor.grade_id.is_not(None)),
        )  # fmt: skip
    )
    session.execute(
        insert(DistributorGradeLog).from_select(
            log_columns,
            select(
                Distributor.id,
                Distributor.grade_id,
                literal(gold.id),
                literal("manual"),
                literal(""),
                literal(0),
                literal(0),
                literal(0),
                sa.bindparam("today_moment", utcnow(), type_=UTCDateTime()),
            ).where(Distributor.id % 20 == 1),
        )  # fmt: skip
    )

    # Two days of final orders (the day before yesterday, yesterday), spread over each day, plus a few
    # received long ago and not yet stamped final (the job stamps them today).
    for offset, prefix in ((2, "a"), (1, "b"), (0, "c")):
        day = today - timedelta(days=offset)
        number = orders if offset else max(orders // 50, 1)
        start, _end = dividends.day_bounds(day)
        moments = [
            sa.bindparam(f"final_{prefix}{i}", start + timedelta(hours=3 * i + 1), type_=UTCDateTime())
            for i in range(8)
        ]
        seq = _numbers(number)
        final_at = case(*((seq.c.n % 8 == i, moments[i]) for i in range(1, 8)), else_=moments[0])
        insert_orders(
            session,
            at=long_ago,
            number=text(prefix, seq.c.n),
            user_id=seq.c.n % (2 * count) + 1,
            refund_status=case((seq.c.n % 100 == 0, literal("partial")), else_=literal("none")),
            goods_fen=1000 + seq.c.n % 20000,
            shipping_fen=literal(800),
            total_fen=1800 + seq.c.n % 20000,
            refunded_fen=case((seq.c.n % 100 == 0, 500), else_=0),
            idempotency_key=text(prefix, seq.c.n),
            final_at=final_at if offset else sa.null(),
        )
    session.execute(
        insert(Refund).from_select(
            [
                "order_id",
                "number",
                "status",
                "reason",
                "amount_fen",
                "shipping_fen",
                "restock",
                "created_at",
                "refunded_at",
            ],
            select(
                Order.id,
                text("r", Order.id),
                literal("refunded"),
                literal("不合适"),
                literal(500),
                literal(0),
                literal(False),
                long_ago,
                long_ago,
            ).where(Order.refund_status == "partial"),
        )  # fmt: skip
    )
    levels = select(literal(1).label("level")).union_all(select(literal(2))).subquery()
    session.execute(
        insert(Commission).from_select(
            [
                "order_id",
                "distributor_id",
                "level",
                "status",
                "original_fen",
                "held",
                "created_at",
                "released_at",
            ],
            select(
                Order.id,
                first_distributor + (Order.id * 7 + levels.c.level * 13) % count,
                levels.c.level,
                literal("released"),
                Order.total_fen // 10,
                literal(False),
                long_ago,
                long_ago,
            )
            .select_from(Order)
            .join(levels, sa.true()),
        )  # fmt: skip
    )

    # What the month's caps have already seen: a computed day three days ago paying one distributor in
    # twenty almost all of its month, each with its ledger entry and balance.
    earlier = today - timedelta(days=3)
    if earlier.month != today.month:
        earlier = today.replace(day=1)  # keep it in the month (the job then starts on the day after)
    paid_day = DividendDay(
        day=earlier, mode="static", orders=0, turnover_fen=0, pools=[], paid_fen=0, sharers=0
    )
    session.add(paid_day)
    session.flush()
    session.execute(
        insert(DividendPayout).from_select(
            ["dividend_day_id", "day", "distributor_id", "amount_fen", "parts", "capped", "created_at"],
            select(
                literal(paid_day.id),
                sa.bindparam("earlier", earlier, type_=sa.Date()),
                Distributor.id,
                literal(MONTH_CAP_FEN - 1000),
                literal([], DividendPayout.parts.type),
                literal(False),
                long_ago,
            ).where(Distributor.id % NEAR_CAP_EVERY == 0),
        )  # fmt: skip
    )
    session.execute(
        insert(LedgerEntry).from_select(
            [
                "distributor_id",
                "kind",
                "dividend_payout_id",
                "frozen_delta_fen",
                "available_delta_fen",
                "withdrawn_delta_fen",
                "note",
                "created_at",
            ],
            select(
                DividendPayout.distributor_id,
                literal(EntryKind.DIVIDEND.value),
                DividendPayout.id,
                literal(0),
                DividendPayout.amount_fen,
                literal(0),
                literal(""),
                long_ago,
            ),
        )  # fmt: skip
    )
    paid = select(DividendPayout.distributor_id, DividendPayout.amount_fen).subquery()
    session.execute(
        sa.update(Distributor)
        .where(Distributor.id == paid.c.distributor_id)
        .values(available_fen=paid.c.amount_fen)
    )
    paid_day.paid_fen, paid_day.sharers = session.execute(
        select(func.sum(DividendPayout.amount_fen), func.count()).where(
            DividendPayout.dividend_day_id == paid_day.id
        )
    ).one()
    settings.dividends_start_on = earlier
    session.commit()
    if postgres:
        session.execute(sa.text("ANALYZE"))
        session.commit()
