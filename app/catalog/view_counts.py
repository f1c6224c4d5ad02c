"""Product views, unique visitors and add-to-cart per product per shop-local day, counted without a database
write per page view.

Each process adds to a counter in memory (a lock around a dict). The counts go to product_daily_stats
("views = views + n", an upsert that works on SQLite and PostgreSQL) when FLUSH_EVENTS events have come or
FLUSH_SECONDS have passed (a background thread does it, so no shopper waits for it; a worker that gets no
more requests flushes FLUSH_SECONDS after its last count) and at process exit (best effort: a killed worker
loses what it had not flushed — at most FLUSH_SECONDS of views). The `flask stats flush` job moves Redis's
counts; it runs in a process of its own and never reaches a web worker's memory.

Unique visitors: a visitor is a keyed 8-byte hash of the browser's visitor cookie, else of the logged-in
user, else of the IP and User-Agent (a first-time visitor gets no cookie: that would stop the page being
cached). In memory, a set of those hashes per product and day; the flush inserts them into
product_daily_visitors (product, day, hash; a duplicate from another worker or an earlier flush is skipped)
and adds the rows really inserted to product_daily_stats.visitors — exact, across workers, and one insert
per new visitor per product per day. When REDIS_URL is set, every worker counts in Redis instead (HINCRBY
per event and a HyperLogLog per product and day, ~1 % error, 12 KB at most each) and the flush moves the
counts to the database and sets visitors to the HyperLogLog's count."""

import atexit
import functools
import hashlib
import logging
import secrets
import threading
import time
from collections import defaultdict
from datetime import date, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import BigInteger, Date, Index, String, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.extensions import db
from app.timeutil import SHOP_TZ, utcnow

log = logging.getLogger(__name__)

VIEW, CART_ADD = "views", "cart_adds"
KINDS = (VIEW, CART_ADD)
REDIS_PREFIX = "fx:pstats"
REDIS_DAYS_KEPT = 3 * 86400
INSERT_BATCH = 1000  # rows per multi-row insert (SQLite allows 32,766 parameters)  # the HyperLogLogs outlive their day by long enough for a late flush


class ProductDailyStat(db.Model):
    """A product's views, unique visitors and add-to-cart on one day of the shop's calendar. No foreign key:
    a flush must not fail on a product deleted meanwhile (reports join the products that exist)."""

    __tablename__ = "product_daily_stats"
    __table_args__ = (
        Index(
            "ix_product_daily_stats_day",
            "day",
            postgresql_include=["product_id", "views", "visitors", "cart_adds"],
        ),
    )

    product_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    views: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    visitors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cart_adds: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class ProductDailyVisitor(db.Model):
    """Who has been counted as a visitor of a product on a day (a keyed hash, never the cookie or IP)."""

    __tablename__ = "product_daily_visitors"

    product_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    visitor_hash: Mapped[str] = mapped_column(String(16), primary_key=True)


def shop_day(moment: datetime | None = None) -> date:
    return (moment or utcnow()).astimezone(SHOP_TZ).date()


@functools.lru_cache(maxsize=4)
def _hash_key(secret: str) -> bytes:
    return hashlib.sha256(("product-visitors:" + secret).encode()).digest()


def visitor_hash(secret: str, identity: str) -> str:
    """8 bytes of a keyed BLAKE2b: cheap (about a microsecond) and not reversible to the cookie or IP."""
    return hashlib.blake2b(identity.encode(), digest_size=8, key=_hash_key(secret)).hexdigest()


class Counter:
    """The in-process counts: {(day, product_id, kind): n} and {(day, product_id): {visitor hash}}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[date, int, str], int] = defaultdict(int)
        self.visitors: dict[tuple[date, int], set[str]] = defaultdict(set)
        self.events = 0
        self.last_flush = time.monotonic()
        self.flushing = False  # a flush thread is running
        self.timer = False  # a flush thread waits FLUSH_SECONDS
        self.pruned: date | None = None  # the day old visitor hashes were last dropped

    def add(self, day: date, product_id: int, kind: str, visitor: str | None) -> int:
        """Count one event; the events since the last flush."""
        with self.lock:
            self.counts[(day, product_id, kind)] += 1
            if visitor is not None:
                self.visitors[(day, product_id)].add(visitor)
            self.events += 1
            return self.events

    def take(self) -> tuple[dict, dict]:
        """Everything counted so far, leaving the counter empty."""
        with self.lock:
            counts, visitors = self.counts, self.visitors
            self.counts, self.visitors = defaultdict(int), defaultdict(set)
            self.events = 0
            self.last_flush = time.monotonic()
            return counts, visitors

    def give_back(self, counts: dict, visitors: dict) -> None:
        """A flush that failed: its counts wait for the next one."""
        with self.lock:
            for key, n in counts.items():
                self.counts[key] += n
            for key, hashes in visitors.items():
                self.visitors[key] |= hashes
            self.events += sum(counts.values())


def _counter(app: Flask) -> Counter:
    return app.extensions["view_counts"]


def _insert(session: Session):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def add_counts(session: Session, counts: dict, visitors: dict) -> None:
    """Write counts ({(day, product_id, kind): n}) and visitor hashes ({(day, product_id): set}) into the
    tables, adding to what is there; the caller commits."""
    insert = _insert(session)
    rows: dict[tuple[date, int], dict[str, int]] = defaultdict(
        lambda: {kind: 0 for kind in (*KINDS, "visitors")}
    )
    for (day, product_id, kind), n in counts.items():
        rows[(day, product_id)][kind] += n
    # In key order, as the upsert below: two workers flushing the same visitor take the rows' locks in the
    # same order on PostgreSQL, and never wait on each other in a circle.
    for (day, product_id), hashes in sorted(visitors.items()):
        ordered = sorted(hashes)
        for start in range(0, len(ordered), INSERT_BATCH):
            statement = (
                insert(ProductDailyVisitor)
                .values(
                    [
                        {"product_id": product_id, "day": day, "visitor_hash": h}
                        for h in ordered[start : start + INSERT_BATCH]
                    ]
                )
                .on_conflict_do_nothing()
                .returning(
                    ProductDailyVisitor.visitor_hash
                )  # the ones new: rowcount is not told by every driver
            )
            rows[(day, product_id)]["visitors"] += len(session.execute(statement).all())
    _upsert(session, rows, absolute_visitors=False)


def _upsert(session: Session, rows: dict, *, absolute_visitors: bool) -> None:
    if not rows:
        return
    insert = _insert(session)
    statement = insert(ProductDailyStat).values(
        [
            {"product_id": product_id, "day": day, **figures}
            for (day, product_id), figures in sorted(rows.items())
        ]
    )
    table = ProductDailyStat.__table__
    visitors = (
        func.max(table.c.visitors, statement.excluded.visitors)
        if session.get_bind().dialect.name == "sqlite"
        else func.greatest(table.c.visitors, statement.excluded.visitors)
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["product_id", "day"],
            set_={
                "views": table.c.views + statement.excluded.views,
                "cart_adds": table.c.cart_adds + statement.excluded.cart_adds,
                "visitors": visitors if absolute_visitors else table.c.visitors + statement.excluded.visitors,
            },
        )
    )


# --- Redis ---------------------------------------------------------------------------------------------


def _redis(app: Flask):
    client = app.extensions.get("view_counts_redis")
    if client is None and app.config.get("REDIS_URL"):
        import redis

        client = app.extensions["view_counts_redis"] = redis.Redis.from_url(app.config["REDIS_URL"])
    return client


def _redis_add(client, day: date, product_id: int, kind: str, visitor: str | None) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.hincrby(f"{REDIS_PREFIX}:{day.isoformat()}", f"{product_id}:{kind}", 1)
    pipe.sadd(f"{REDIS_PREFIX}:days", day.isoformat())
    if visitor is not None:
        hll = f"{REDIS_PREFIX}:uv:{day.isoformat()}:{product_id}"
        pipe.pfadd(hll, visitor)
        pipe.expire(hll, REDIS_DAYS_KEPT)
        pipe.sadd(f"{REDIS_PREFIX}:uvdirty:{day.isoformat()}", product_id)
    pipe.execute()


def _redis_flush(client, session: Session) -> int:
    """Move Redis's counts into the database. A hash is renamed away first (atomic), so that events counted
    meanwhile go to a fresh one; if the database write fails its counts are added back."""
    from redis import (
        exceptions as redis_errors,
    )  # only with Redis: it loads cryptography (test_worker_imports)

    moved = 0
    for raw_day in client.smembers(f"{REDIS_PREFIX}:days"):
        day_text = raw_day.decode()
        day = date.fromisoformat(day_text)
        rows: dict = defaultdict(lambda: {"views": 0, "cart_adds": 0, "visitors": 0})
        # A name of this flush's own: two flushes at once (the job and a process exiting) never share one.
        parked = f"{REDIS_PREFIX}:{day_text}:flushing:{secrets.token_hex(8)}"
        counts = {}
        try:
            client.rename(f"{REDIS_PREFIX}:{day_text}", parked)
        except redis_errors.ResponseError:  # no such key: nothing counted since the last flush
            pass
        else:
            counts = client.hgetall(parked)
        for field, n in counts.items():
            product_id, kind = field.decode().split(":")
            rows[(day, int(product_id))][kind] += int(n)
            moved += int(n)
        dirty = f"{REDIS_PREFIX}:uvdirty:{day_text}"
        popped = client.spop(dirty, 10_000) or []
        for raw_product in popped:
            product_id = int(raw_product)
            rows[(day, product_id)]["visitors"] = client.pfcount(f"{REDIS_PREFIX}:uv:{day_text}:{product_id}")
        try:
            _upsert(session, rows, absolute_visitors=True)
            session.commit()
        except Exception:
            session.rollback()
            for field, n in counts.items():
                client.hincrby(f"{REDIS_PREFIX}:{day_text}", field.decode(), int(n))
            if popped:  # their visitors were not written either: the next flush counts them again
                client.sadd(dirty, *popped)
            raise
        finally:
            client.delete(parked)
        if day < shop_day() and not client.exists(f"{REDIS_PREFIX}:{day_text}"):
            client.srem(f"{REDIS_PREFIX}:days", day_text)
    return moved


# --- counting and flushing -----------------------------------------------------------------------------


def count(app: Flask, product_id: int, kind: str, identity: str | None, now: datetime | None = None) -> None:
    """One event (VIEW or CART_ADD) of a product by a visitor (`identity`: the cookie, user or IP+UA words;
    None: not counted as a visitor). Never raises: counting must not break the page."""
    try:
        day = shop_day(now)
        visitor = visitor_hash(app.config["SECRET_KEY"], identity) if identity else None
        client = _redis(app)
        if client is not None:
            _redis_add(client, day, product_id, kind, visitor)
            return
        events = _counter(app).add(day, product_id, kind, visitor)
        _maybe_flush_later(app, events)
    except Exception:
        log.warning("product view counts: an event was not counted", exc_info=True)


def _maybe_flush_later(app: Flask, events: int) -> None:
    """Flush in a thread of its own when FLUSH_EVENTS events have come or FLUSH_SECONDS have passed; else
    make sure one runs FLUSH_SECONDS from now, so that a worker which gets no more requests still writes what
    it counted (the `flask stats flush` job runs in a process of its own: it cannot reach a worker's)."""
    counter = _counter(app)
    every, seconds = app.config["VIEW_COUNTS_FLUSH_EVENTS"], app.config["VIEW_COUNTS_FLUSH_SECONDS"]
    due = (every and events >= every) or (seconds and time.monotonic() - counter.last_flush >= seconds)
    if due:
        with counter.lock:
            if counter.flushing:
                return
            counter.flushing = True
        _flush_thread(app, 0, "flushing")
    elif seconds:
        with counter.lock:
            if counter.timer:
                return
            counter.timer = True
        _flush_thread(app, seconds, "timer")


def _flush_thread(app: Flask, delay: float, flag: str) -> None:
    counter = _counter(app)

    def run():
        try:
            if counter.counts or counter.visitors:
                with app.app_context():
                    flush()
                    db.session.remove()
        except Exception:
            log.warning("product view counts: a flush failed; kept for the next one", exc_info=True)
        finally:
            setattr(counter, flag, False)

    thread = threading.Timer(delay, run)
    thread.name, thread.daemon = "view-counts-flush", True
    thread.start()


def _drop_old_visitors(session: Session, counter: Counter) -> date:
    """Once a day per process: the visitor hashes of days before yesterday have counted what they had to
    (yesterday's stay for a late flush of its last events). The day it was done, once committed."""
    today = shop_day()
    if counter.pruned != today:
        session.execute(
            delete(ProductDailyVisitor).where(ProductDailyVisitor.day < today - timedelta(days=1))
        )
    return today


def flush(session: Session | None = None) -> dict[str, int]:
    """Write this process's counts (and Redis's, when configured) to the database and commit."""
    session = session or db.session
    app = current_app._get_current_object()
    counter = _counter(app)
    counts, visitors = counter.take()
    if counts or visitors:
        try:
            add_counts(session, counts, visitors)
            pruned = _drop_old_visitors(session, counter)
            session.commit()
            counter.pruned = pruned
        except Exception:
            session.rollback()
            _counter(app).give_back(counts, visitors)
            raise
    moved = sum(counts.values())
    client = _redis(app)
    if client is not None:
        moved += _redis_flush(client, session)
    return {"counted": moved}


def product_figures(session: Session, product_id: int, day: date) -> ProductDailyStat | None:
    return session.scalar(
        select(ProductDailyStat).where(ProductDailyStat.product_id == product_id, ProductDailyStat.day == day)
    )


def init_app(app: Flask) -> None:
    # Tests flush by hand (no thread writing behind their back) unless they set these.
    app.config.setdefault("VIEW_COUNTS_FLUSH_EVENTS", 0 if app.testing else 1000)
    app.config.setdefault("VIEW_COUNTS_FLUSH_SECONDS", 0 if app.testing else 60)
    app.config.setdefault("REDIS_URL", None)
    counter = app.extensions["view_counts"] = Counter()
    if app.testing:
        return

    def at_exit():
        if not (counter.counts or counter.visitors):
            return
        try:
            with app.app_context():
                flush()
        except Exception:  # the database may be gone already: best effort
            log.warning("product view counts: not flushed at exit", exc_info=True)

    atexit.register(at_exit)
