"""`flask distribution settle` (ledger.release_due) on a big ledger: BENCH_LEDGER_ENTRIES entries (default
1,000,000) written set-based (INSERT … SELECT over a number series), shaped like a shop's history — most
commissions long released (a frozen credit and a release each), 2 % frozen and due now (a few held by a
fraud flag or waiting for an open after-sales request), 2 % frozen and not due yet. Then one release run
(timed, with its commit), a second run with nothing left to release (what cron pays every night), and
`flask ledger audit` over the whole ledger. SQLite always; PostgreSQL on a database of its own when
BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server."""

import os
import time
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import String, case, cast, func, insert, literal, select

from app.accounts.models import User
from app.db_types import UTCDateTime
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import Commission, Distributor, EntryKind, LedgerEntry
from app.extensions import db
from app.orders.models import Order
from app.timeutil import utcnow
from bench import Result, benchmark
from bench.databases import databases, dispose, migrated_app

DEFAULT_ENTRIES = 1_000_000
DISTRIBUTORS = 1_000
BUYERS = 10_000
HELD_EVERY = 100  # one due order in a hundred has a fraud flag
REQUESTED_EVERY = 50  # one in fifty has an open after-sales request


@benchmark("settle", "distribution settle (release_due) and ledger audit over BENCH_LEDGER_ENTRIES entries")
def settle(env) -> list[Result]:
    entries = int(os.environ.get("BENCH_LEDGER_ENTRIES", DEFAULT_ENTRIES))
    results = []
    for label, database in databases(env, "settle"):
        with database as url:
            app = migrated_app(env, url)
            with app.app_context():
                shape, seconds = _timed(lambda: _seed(entries))
                print(
                    f"settle ({label}): {shape.entries:,} ledger entries, {shape.commissions:,} commissions "
                    f"on {shape.orders:,} orders written in {seconds:.1f} s"
                )
                released, seconds = _timed(lambda: _release())
                assert released == shape.releasable, (released, shape.releasable)
                results.append(
                    _result(f"settle, {_short(shape.entries)} ledger ({label})", seconds, released)
                )
                again, seconds = _timed(lambda: _release())
                assert again == 0
                results.append(_result(f"settle, nothing due ({label})", seconds, 1))
                mismatches, seconds = _timed(lambda: ledger.audit(db.session))
                assert not mismatches, mismatches[:3]
                total = shape.entries + released
                results.append(_result(f"ledger audit, {_short(total)} ({label})", seconds, total))
                release, nothing, audit = results[-3:]
                print(
                    f"settle ({label}): released {released:,} commissions in {release.median_ms / 1000:.2f} s "
                    f"over a ledger of {shape.entries:,} entries ({release.per_second:,.0f} commissions/s, "
                    f"{shape.entries / release.median_ms * 1000:,.0f} ledger entries/s); with nothing due "
                    f"{nothing.median_ms:.0f} ms; audit of {total:,} entries {audit.median_ms / 1000:.2f} s"
                )
                db.session.remove()
            dispose(app)
    return results


def _timed(work):
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def _short(count: int) -> str:
    return f"{count / 1e6:.1f}M" if count >= 10**6 else f"{count / 1e3:.0f}k"


def _result(name: str, seconds: float, items: int) -> Result:
    """One timed run: "median" and "p95" are its time, "per second" the items it handled per second."""
    return Result(name, 1, seconds * 1000, seconds * 1000, items / seconds if seconds else 0.0)


def _release() -> int:
    released = ledger.release_due(db.session)
    db.session.commit()
    return released


class Shape:
    """How many rows of each kind; orders come in three ranges: long done, due now, not due yet."""

    def __init__(self, entries: int):
        self.due_orders = max(entries // 100, 1)
        self.pending_orders = max(entries // 100, 1)
        self.history_orders = max((entries - 2 * self.due_orders - 2 * self.pending_orders) // 4, 0)
        self.orders = self.history_orders + self.due_orders + self.pending_orders
        self.commissions = 2 * self.orders  # two levels on every order
        self.entries = 4 * self.history_orders + 2 * self.due_orders + 2 * self.pending_orders
        due = range(1, self.due_orders + 1)
        self.releasable = 2 * sum(1 for n in due if n % HELD_EVERY and n % REQUESTED_EVERY)


def _numbers(count: int):
    """1 … count as a table (a recursive CTE: the same SQL on SQLite and PostgreSQL)."""
    seq = select(literal(1).label("n")).cte("seq", recursive=True)
    return seq.union_all(select(seq.c.n + 1).where(seq.c.n < count))


def insert_orders(session, *, at, **values) -> None:
    """Made-up orders in one INSERT … SELECT over a `_numbers` sequence: `values` gives the columns that vary
    (SQL expressions of the sequence: number, buyer, amounts, …); the rest are a received order's, with one
    address and every moment `at` unless given."""
    columns = {
        "status": literal("completed"),
        "refund_status": literal("none"),
        "discount_fen": literal(0),
        "shipping_fen": literal(0),
        "refunded_fen": literal(0),
        "buyer_note": literal(""),
        "ship_recipient": literal("张三"),
        "ship_mobile": literal("13812345678"),
        "ship_region": literal("广东省 深圳市 南山区"),
        "ship_detail": literal("科技园路 1 号"),
        "created_at": at,
        "expires_at": at,
        "paid_at": at,
        "shipped_at": at,
        "completed_at": at,
        "staff_note": literal(""),
    } | values
    session.execute(insert(Order).from_select(list(columns), select(*columns.values())))


def _seed(entries: int) -> Shape:
    shape = Shape(entries)
    session = db.session
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # a bulk load into an empty database of our own: skip the per-row foreign-key triggers
        session.execute(sa.text("SET LOCAL session_replication_role = replica"))
    now = utcnow()
    settings = dist.get_settings(session)
    session.add(settings)
    long_ago, due_at, recent = (
        sa.bindparam(name, now - timedelta(days=days), type_=UTCDateTime())
        for name, days in (("long_ago", 90), ("due_at", settings.freeze_days + 3), ("recent", 2))
    )
    text = lambda prefix, n: literal(prefix) + cast(n, String)  # noqa: E731 - a tiny SQL helper

    def add_users(prefix: str, count: int) -> int:
        seq = _numbers(count)
        session.execute(
            insert(User).from_select(
                ["nickname", "role", "is_active", "auth_version", "created_at", "referrer_fixed"],
                select(
                    text(prefix, seq.c.n),
                    literal("customer"),
                    literal(True),
                    literal(1),
                    long_ago,
                    literal(False),
                ),
            )  # fmt: skip
        )
        first = session.scalar(select(func.min(User.id)).where(User.nickname.like(f"{prefix}%")))
        assert (
            session.scalar(select(func.max(User.id)).where(User.nickname.like(f"{prefix}%")))
            == first + count - 1
        )
        return first

    first_sharer = add_users("分销员", DISTRIBUTORS)
    first_buyer = add_users("买家", BUYERS)
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
            )
            .where(User.id.between(first_sharer, first_sharer + DISTRIBUTORS - 1))
            .order_by(User.id),
        )  # fmt: skip
    )
    first_distributor = session.scalar(select(func.min(Distributor.id)))

    # Orders: long completed (commission released), completed past the freeze days (due now; some held
    # or with an open refund request), and recent (completed two days ago, or still on the way).
    ranges = {}
    for kind, count, completed in (
        ("history", shape.history_orders, long_ago),
        ("due", shape.due_orders, due_at),
        ("pending", shape.pending_orders, recent),
    ):
        if not count:
            continue
        seq = _numbers(count)
        first = session.scalar(select(func.coalesce(func.max(Order.id), 0))) + 1
        requested = seq.c.n % REQUESTED_EVERY == 0 if kind == "due" else sa.false()
        on_the_way = seq.c.n % 2 == 0 if kind == "pending" else sa.false()
        insert_orders(
            session,
            at=completed,
            number=text(kind[0], seq.c.n),
            user_id=first_buyer + seq.c.n % BUYERS,
            status=case((on_the_way, literal("shipped")), else_=literal("completed")),
            refund_status=case((requested, literal("requested")), else_=literal("none")),
            goods_fen=1000 + seq.c.n % 20000,
            total_fen=1000 + seq.c.n % 20000,
            idempotency_key=text(kind, seq.c.n),
            completed_at=case((on_the_way, sa.null()), else_=completed),
        )
        ranges[kind] = (first, first + count - 1)

    # Two commissions per order (levels 1 and 2), then their ledger entries. A received order's commission
    # is due at completion + the freeze days (what the app writes when the order is completed).
    release_after = {
        kind: sa.bindparam(
            f"release_after_{kind}", moment + timedelta(days=settings.freeze_days), type_=UTCDateTime()
        )
        for kind, moment in (
            ("history", now - timedelta(days=90)),
            ("due", now - timedelta(days=settings.freeze_days + 3)),
            ("pending", now - timedelta(days=2)),
        )
    }
    levels = select(literal(1).label("level")).union_all(select(literal(2))).subquery()
    for kind, (low, high) in ranges.items():
        released = kind == "history"
        held = (Order.id - low + 1) % HELD_EVERY == 0 if kind == "due" else sa.false()
        rate_bp = case((levels.c.level == 1, 1000), else_=500)
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
                    "release_batch",
                    "release_after",
                ],
                select(
                    Order.id,
                    first_distributor + (Order.id * 7 + levels.c.level * 13) % DISTRIBUTORS,
                    levels.c.level,
                    literal("released" if released else "frozen"),
                    Order.total_fen * rate_bp // 10000,
                    held,
                    long_ago,
                    long_ago if released else sa.null(),
                    text("hist", Order.id // 5000) if released else sa.null(),
                    case((Order.completed_at.is_(None), sa.null()), else_=release_after[kind]),
                )
                .select_from(Order)
                .join(levels, sa.true())
                .where(Order.id.between(low, high)),
            )  # fmt: skip
        )
    session.execute(
        insert(LedgerEntry).from_select(
            [
                "distributor_id",
                "kind",
                "commission_id",
                "frozen_delta_fen",
                "available_delta_fen",
                "withdrawn_delta_fen",
                "note",
                "created_at",
            ],
            select(
                Commission.distributor_id,
                literal(EntryKind.FROZEN_CREDIT.value),
                Commission.id,
                Commission.original_fen,
                literal(0),
                literal(0),
                literal(""),
                long_ago,
            ),
        )  # fmt: skip
    )
    session.execute(
        insert(LedgerEntry).from_select(
            [
                "distributor_id",
                "kind",
                "commission_id",
                "frozen_delta_fen",
                "available_delta_fen",
                "withdrawn_delta_fen",
                "batch",
                "note",
                "created_at",
            ],
            select(
                Commission.distributor_id,
                literal(EntryKind.RELEASE.value),
                Commission.id,
                -Commission.original_fen,
                Commission.original_fen,
                literal(0),
                Commission.release_batch,
                literal(""),
                long_ago,
            ).where(Commission.status == "released"),
        )  # fmt: skip
    )
    sums = (
        select(
            LedgerEntry.distributor_id,
            func.sum(LedgerEntry.frozen_delta_fen).label("frozen"),
            func.sum(LedgerEntry.available_delta_fen).label("available"),
        )
        .group_by(LedgerEntry.distributor_id)
        .subquery()
    )
    session.execute(
        sa.update(Distributor)
        .where(Distributor.id == sums.c.distributor_id)
        .values(frozen_fen=sums.c.frozen, available_fen=sums.c.available)
    )
    session.commit()
    if postgres:
        session.execute(sa.text("ANALYZE"))  # what autovacuum does after a load this size
        session.commit()
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == shape.entries
    return shape
