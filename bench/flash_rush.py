"""A 秒杀 flash rush over HTTP (issue 10), as production runs it: `gunicorn -w 2` (sync workers,
FENXIAO_ENV=production) on PostgreSQL, BUYERS buyers each a logged-in browser of their own holding the
checkout form of the flash item, all POSTing /checkout at the same moment from a thread each. First for
UNITS flash units: orders placed (exactly UNITS, in the database too), orders/s over the burst's wall time,
latency p50/p99, errors (5xx, no answer) and what everyone was answered. Then the same rush for a flash
item with stock 0: every buyer must be told 已抢光 (422). That is the answer most of a rush's buyers get,
so it must come cheap: at least GOAL_RATIO times the order rate.

The rush itself (the shop, the flash item, the buyers' browsers, the burst) is shared with
tests/test_flash_rush.py, which holds the numbers to account. PostgreSQL: BENCH_DATABASE_URL or
TEST_DATABASE_URL names the server, else postgresql://postgres@127.0.0.1 is tried; the benchmark creates
a database of its own there and drops it afterwards."""

import re
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import requests
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from app.accounts.models import User
from app.catalog.models import Product, Sku
from app.catalog.services import spec_key
from app.extensions import db
from app.marketing import flash
from app.marketing.models import FlashItem
from app.orders.models import Address, Order, OrderLine
from app.settings.services import update_order_settings
from app.timeutil import SHOP_TZ, utcnow
from bench import Result, benchmark
from bench.databases import dispose, migrated_app, postgres_database, postgres_server
from bench.machine import describe
from bench.servers import Server, form_fields, server_env

BUYERS = 200
UNITS = 100
SKU_STOCK = 300  # more than the flash units: the flash stock, not the SKU's, is what runs out
GOAL_RATIO = 5
ROUNDS = 3  # a rush is over in seconds: one burst says little on a machine doing anything else
WORKERS = 2
LOGIN_THREADS = 8  # logging the buyers in and fetching their forms, before anything is timed
PASSWORD = "rush-pass-123"
PRICE_FEN, FLASH_PRICE_FEN = 99_00, 9_90
SOLD_OUT = "已抢光"
CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


# --- the rush, shared with tests/test_flash_rush.py ----------------------------------------------------


def open_shop(session: Session, buyers: int, password: str) -> list[str]:
    """Manual transfer as the payment (no gateway in the way) and free shipping, and `buyers` shoppers with
    an address each. Their password hash is a cheap one: logging hundreds in is not what is measured.
    Commits; returns the buyers' mobiles."""
    update_order_settings(
        session, shipping_flat_fen=0, free_shipping_over_fen=None, order_expire_minutes=30,
        autocomplete_days=10, manual_payment_text="转账到店主", manual_payment_enabled=True,
    )  # fmt: skip
    hashed = generate_password_hash(password, method="pbkdf2:sha256:1")
    mobiles = [f"137{n:08d}" for n in range(buyers)]
    users = [
        User(mobile=m, nickname=f"抢购{n}", role="customer", password_hash=hashed)
        for n, m in enumerate(mobiles)
    ]
    session.add_all(users)
    session.flush()
    session.add_all(
        Address(
            user_id=u.id,
            recipient="张三",
            mobile="13812345678",
            province="广东省",
            city="深圳市",
            district="南山区",
            detail="科技园路 1 号",
            is_default=True,
        )  # fmt: skip
        for u in users
    )
    session.commit()
    return mobiles


def flash_item(session: Session, *, flash_stock: int, sku_stock: int, per_user_limit: int | None = 1):
    """One product whose only SKU (99.00, `sku_stock` in stock) is in a 秒杀 session of its own, on from
    midnight today until midnight tomorrow (shop time, so a run near midnight still finds it on), at 9.90
    for `flash_stock` units. Commits; returns (flash item id, SKU id)."""
    sku = Sku(
        spec_values=[],
        spec_key=spec_key([]),
        price_fen=PRICE_FEN,
        stock=sku_stock,
        position=0,
        is_active=True,
    )
    session.add(Product(title="秒杀好物", is_on_shelf=True, options=[], skus=[sku]))
    session.flush()
    today = utcnow().astimezone(SHOP_TZ).date()
    found = flash.save_session(
        session,
        None,
        {
            "name": "整点秒杀",
            "start_minute": 0,
            "duration_minutes": 24 * 60,
            "repeat": "dates",
            "dates": [today, today + timedelta(days=1)],
        },
    )
    draft = flash.ItemDraft(
        sku.id, price_fen=FLASH_PRICE_FEN, stock=flash_stock, per_user_limit=per_user_limit
    )
    item = flash.save_item(session, found, draft)
    session.commit()
    return item.id, sku.id


def counts(session: Session, item_id: int, sku_id: int) -> tuple[int, int, int, int]:
    """(orders holding the flash item, flash stock, flash sold, SKU stock), as the database has them."""
    orders = session.scalar(
        select(func.count(func.distinct(Order.id)))
        .join(OrderLine)
        .where(OrderLine.activity_kind == flash.KIND, OrderLine.activity_id == item_id)
    )
    item = session.get(FlashItem, item_id)
    return orders, item.stock, item.sold, session.get(Sku, sku_id).stock


def log_in(base: str, mobile: str, password: str) -> requests.Session:
    """A browser of its own, logged in."""
    visitor = requests.Session()
    token = CSRF_RE.search(visitor.get(base + "/login", timeout=30).text)[1]
    login = visitor.post(
        base + "/login",
        data={"mobile": mobile, "password": password, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if login.status_code != 302:
        raise RuntimeError(f"{mobile} could not log in ({login.status_code})")
    return visitor


def checkout_form(base: str, visitor: requests.Session, item: tuple[int, int]) -> dict[str, str]:
    """The fields of the checkout form of the flash item (its id, its SKU's), as the browser would send them."""
    item_id, sku_id = item
    page = visitor.get(f"{base}/checkout?buy={sku_id}&qty=1&flash={item_id}", timeout=30)
    if page.status_code != 200:
        raise RuntimeError(f"a checkout page answered {page.status_code}")
    return form_fields(page.text, "/checkout")


@dataclass
class Answer:
    """What one POST /checkout of a rush got: its status (None when no answer came) and when."""

    status: int | None
    location: str
    text: str
    error: str
    started: float
    ended: float

    @property
    def ordered(self) -> bool:  # sent on to pay by manual transfer: an order was placed
        return self.status == 302 and "/manual" in self.location

    @property
    def sold_out(self) -> bool:
        return self.status == 422 and SOLD_OUT in self.text

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500

    @property
    def ms(self) -> float:
        return (self.ended - self.started) * 1000

    def kind(self) -> str:
        if self.ordered:
            return "302 → pay (order placed)"
        if self.sold_out:
            return f"422 {SOLD_OUT}"
        if self.status is None:
            return f"no answer: {self.error}"
        if self.location:
            return f"{self.status} → {self.location}"
        shown = re.search(r'class="form-error"[^>]*>([^<]+)<', self.text)  # what the page told the buyer
        return f"{self.status} {shown[1] if shown else ' '.join(self.text.split())[:60]}"


def fire(base: str, shots: list[tuple[requests.Session, dict]]) -> list[Answer]:
    """Every checkout POSTed at the same moment, each from a thread of its own (a barrier releases them
    together); what each got and when."""
    barrier = threading.Barrier(len(shots))

    def post(shot) -> Answer:
        visitor, fields = shot
        barrier.wait(60)
        started = time.perf_counter()
        try:
            got = visitor.post(base + "/checkout", data=fields, allow_redirects=False, timeout=120)
        except requests.RequestException as error:
            return Answer(
                None, "", "", f"{type(error).__name__}: {error}"[:200], started, time.perf_counter()
            )
        return Answer(
            got.status_code, got.headers.get("Location", ""), got.text, "", started, time.perf_counter()
        )

    with ThreadPoolExecutor(len(shots)) as pool:
        return list(pool.map(post, shots))


# --- the benchmark -------------------------------------------------------------------------------------


@dataclass
class Burst:
    answers: list[Answer]
    database: tuple[int, int, int, int]  # counts() after the burst

    @property
    def seconds(self) -> float:
        return max(a.ended for a in self.answers) - min(a.started for a in self.answers)

    @property
    def orders(self) -> int:
        return sum(a.ordered for a in self.answers)


@dataclass
class Round:
    units: Burst  # UNITS flash units for BUYERS buyers
    none: Burst  # the same, at flash stock 0

    @property
    def order_rate(self) -> float:
        return self.units.orders / self.units.seconds

    @property
    def answer_rate(self) -> float:
        return len(self.none.answers) / self.none.seconds

    @property
    def ratio(self) -> float:
        return self.answer_rate / self.order_rate if self.order_rate else 0.0


@benchmark(
    "flash",
    f"秒杀 rush over HTTP on PostgreSQL: {BUYERS} buyers for {UNITS} units, then for none ({ROUNDS} rounds)",
)
def flash_rush(env) -> list[Result]:
    server = postgres_server()
    if server is None:
        print("flash rush: NOT RUN, it needs PostgreSQL (set BENCH_DATABASE_URL)")
        return []
    with postgres_database(server, "rush", prefix="fenxiao_benchflash") as url:
        app = migrated_app(env, url)
        with app.app_context():
            mobiles = open_shop(db.session, BUYERS, PASSWORD)
            pairs = [
                [flash_item(db.session, flash_stock=UNITS, sku_stock=SKU_STOCK) for _item in range(2)]
                for _round in range(ROUNDS)
            ]
            db.session.remove()
        shop = Server(
            "flash rush",
            "wsgi:app",
            server_env(url, env.folder, "production"),
            workers=WORKERS,
            folder=env.folder,
        )
        try:
            with ThreadPoolExecutor(LOGIN_THREADS) as pool:
                browsers = list(pool.map(lambda mobile: log_in(shop.url, mobile, PASSWORD), mobiles))
                rounds = [
                    Round(
                        _burst(app, shop.url, pool, browsers, units, UNITS),
                        _burst(app, shop.url, pool, browsers, none, 0),
                    )
                    for units, none in pairs
                ]
        finally:
            shop.stop()
            dispose(app)
    return _report(rounds)


def _burst(
    app, base: str, pool: ThreadPoolExecutor, browsers: list[requests.Session], item, left: int
) -> Burst:
    """Every buyer fetches the item's checkout form (untimed) while it has stock, the flash stock is set to
    `left` (0: it sold out while they looked at the form), then all submit it at once."""
    forms = list(pool.map(lambda visitor: checkout_form(base, visitor, item), browsers))
    with app.app_context():
        db.session.execute(update(FlashItem).where(FlashItem.id == item[0]).values(stock=left))
        db.session.commit()
        db.session.remove()
    shots = list(zip(browsers, forms, strict=True))
    answers = fire(base, shots)
    with app.app_context():
        found = counts(db.session, *item)
        db.session.remove()
    return Burst(answers, found)


def _percentile(timings: list[float], share: float) -> float:
    timings = sorted(timings)
    return timings[min(len(timings) - 1, int(len(timings) * share))]


def _spread(answers: list[Answer]) -> str:
    return ", ".join(f"{n} × {kind}" for kind, n in Counter(a.kind() for a in answers).most_common())


def _report(rounds: list[Round]) -> list[Result]:
    units_right = all(
        r.units.orders == UNITS
        and all(a.ordered or a.sold_out for a in r.units.answers)
        and r.units.database == (UNITS, 0, UNITS, SKU_STOCK - UNITS)
        for r in rounds
    )
    none_right = all(
        all(a.sold_out for a in r.none.answers) and r.none.database == (0, 0, 0, SKU_STOCK) for r in rounds
    )
    print(
        f"flash rush (PostgreSQL, HTTP): gunicorn -w {WORKERS} sync workers, FENXIAO_ENV=production, "
        f"LOGIN_RATE_LIMIT raised to 1000 per minute (the {BUYERS} buyers log in from one address); manual "
        f"transfer as the payment; the buyers log in and fetch the checkout form before the clock starts "
        f"({LOGIN_THREADS} threads); then {BUYERS} client threads, one per buyer, POST /checkout together "
        f"behind a barrier, on the same machine as the server; {ROUNDS} rounds, each a new pair of flash items "
        f"for the same buyers; rates are the median of the rounds, latencies over all rounds' POSTs; on "
        f"{describe()}"
    )
    for n, r in enumerate(rounds, 1):
        print(
            f"  round {n}: {UNITS} units: {len(r.units.answers)} POSTs in {r.units.seconds:.2f} s, "
            f"{r.units.orders} orders = {r.order_rate:.1f} orders/s; stock 0: {len(r.none.answers)} POSTs in "
            f"{r.none.seconds:.2f} s = {r.answer_rate:.1f} answers/s; ratio {r.ratio:.2f}×"
        )
    order_rate = statistics.median(r.order_rate for r in rounds)
    answer_rate = statistics.median(r.answer_rate for r in rounds)
    ratio = statistics.median(r.ratio for r in rounds)
    summaries = []
    for label, bursts, rate in (
        (f"{UNITS} units", [r.units for r in rounds], f"{order_rate:.1f} orders/s"),
        ("stock 0", [r.none for r in rounds], f"{answer_rate:.1f} answers/s"),
    ):
        answers = [a for burst in bursts for a in burst.answers]
        timings = [a.ms for a in answers]
        summaries.append(timings)
        print(
            f"  {label:<9} {rate}; p50 {_percentile(timings, 0.5):.0f} ms, p99 {_percentile(timings, 0.99):.0f} "
            f"ms; errors (5xx, no answer) {sum(a.failed for a in answers)}; answers: {_spread(answers)}; "
            f"database (orders, flash stock, sold, SKU stock): {', '.join(str(b.database) for b in bursts)}"
        )
    verdict = "ok" if ratio >= GOAL_RATIO else "MISSED"
    print(
        f"  goal: 已抢光 answered at ≥ {GOAL_RATIO}× the order rate: {ratio:.2f}× (median of the rounds' "
        f"ratios) {verdict}"
    )
    if not units_right:
        print(
            f"  WRONG: each {UNITS}-unit rush must place exactly {UNITS} orders and tell the rest {SOLD_OUT}"
        )
    if not none_right:
        print(f"  WRONG: each stock-0 rush must tell every buyer {SOLD_OUT} and place nothing")
    return [
        _result(
            f"flash rush, {UNITS} units: orders/s (HTTP)", summaries[0], order_rate,
            f"{UNITS} orders, no error: {'ok' if units_right else 'WRONG'}", not units_right,
        ),
        _result(
            "flash rush, stock 0: 已抢光/s (HTTP)", summaries[1], answer_rate,
            f"≥ {GOAL_RATIO}× orders/s: {ratio:.2f}× {verdict}" + ("" if none_right else ", answers WRONG"),
            ratio < GOAL_RATIO or not none_right,
        ),
    ]  # fmt: skip


def _result(name: str, timings: list[float], rate: float, goal: str, missed: bool) -> Result:
    return Result(
        name=name,
        requests=len(timings),
        median_ms=statistics.median(timings),
        p95_ms=_percentile(timings, 0.95),
        per_second=rate,
        goal=goal,
        goal_missed=missed,
    )
