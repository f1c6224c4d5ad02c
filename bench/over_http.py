"""`make bench-http` (`python -m bench.over_http`): the shop over HTTP, as a phone reaches it.

Fenxiao runs under gunicorn (sync workers, production settings: FENXIAO_ENV=production) on a SQLite file
and, when a PostgreSQL server is reachable, on a database of its own there, each filled with the same
catalog (10,000 products by default). A bare Flask "hello world" runs beside them under the same gunicorn.
`wrk` loads each page in turn, the servers interleaved, for several rounds; every page is reported with its
req/s (median of the rounds), latency p50/p99, errors, the largest worker's RSS, and its ratio to hello
world measured in the same rounds. Checkout + sandbox pay is measured as orders/s by shoppers' threads
going through the real pages (checkout page, place the order, the sandbox cashier's "pay"); the sandbox
gateway never exists in production, so that one server runs with FENXIAO_ENV=development, which changes
nothing else on the request path (see app/config.py: the variable only gates secrets and the sandbox).

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL names the server, else postgresql://postgres@127.0.0.1
is tried; the benchmark creates a database of its own there and drops it afterwards."""

import argparse
import contextlib
import io
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import memory
from bench.servers import Browser, Server, apt_install, form_fields, server_env

PASSWORD = "bench1234"
SHOPPERS = 8  # shoppers placing orders in the checkout measurement, one thread each
GOALS = {("product", "SQLite"): 0.40, ("product", "PostgreSQL"): 0.25, ("home", "SQLite"): 0.30}
RSS_GOAL_MB = 70


# --- what is measured ----------------------------------------------------------------------------------


@dataclass
class Shop:
    """One Fenxiao database with its two servers and what the pages need: ids, a share code, a cart."""

    label: str
    database_url: str
    product_ids: list[int] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)
    buy_sku_ids: list[int] = field(default_factory=list)
    ref_code: str = ""
    cart_cookie: str = ""
    server: "Server | None" = None
    checkout_server: "Server | None" = None


PAGES: list[tuple[str, Callable[[Shop], list[str]]]] = [
    ("home", lambda shop: ["/"]),
    ("category list", lambda shop: [f"/c/{cid}" for cid in shop.category_ids]),
    ("product", lambda shop: [f"/p/{pid}" for pid in shop.product_ids]),
    ("product ?ref= (records a visit)", lambda shop: [f"/p/{pid}?ref={shop.ref_code}" for pid in shop.product_ids]),
    ("search", lambda shop: ["/search?" + urllib.parse.urlencode({"q": q}) for q in ("T恤", "长绒棉", "00042")]),
    ("cart (logged in)", lambda shop: ["/cart"]),
]  # fmt: skip


@dataclass
class Run:
    page: str
    backend: str
    round: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float
    unit: str = "req/s"


# --- databases -----------------------------------------------------------------------------------------


@contextmanager
def _databases(folder: Path) -> Iterator[list[Shop]]:
    from bench.databases import postgres_database, postgres_server

    shops = [Shop("SQLite", f"sqlite:///{folder / 'shop.sqlite3'}")]
    server = postgres_server()
    with ExitStack() as stack:
        if server:
            shops.append(Shop("PostgreSQL", stack.enter_context(postgres_database(server, "http"))))
        else:
            print("PostgreSQL: no server reachable (set BENCH_DATABASE_URL); measuring SQLite only")
        yield shops


def _seed(shop: Shop, folder: Path, products: int) -> None:
    """Migrate and fill the shop: the catalog of `make bench`, plus a distributor whose code the share
    links carry, shoppers with an address, and SKUs with plenty of stock for the orders."""
    from flask_migrate import upgrade
    from sqlalchemy import select, update

    from app import create_app, orders
    from app.accounts import services as accounts
    from app.accounts.models import Role
    from app.catalog.models import Category, Product, Sku
    from app.distribution import services as dist
    from app.extensions import db
    from app.settings.services import update_order_settings
    from bench.env import MIGRATIONS, seed_catalog

    started = time.perf_counter()
    app = create_app(
        {
            "TESTING": True,  # quiet logging while seeding
            "SECRET_KEY": "bench-http-secret-key",
            "SQLALCHEMY_DATABASE_URI": shop.database_url,
            "UPLOAD_FOLDER": str(folder / "uploads"),
        }
    )
    with app.app_context():
        session = db.session
        with contextlib.redirect_stderr(io.StringIO()):  # Alembic's INFO lines
            upgrade(directory=str(MIGRATIONS))
        accounts.register_user(session, mobile="13800000000", password=PASSWORD, role=Role.OWNER)
        seed_catalog(session, products)
        update_order_settings(
            session, shipping_flat_fen=800, free_shipping_over_fen=9900, order_expire_minutes=30,
            autocomplete_days=10, manual_payment_text="", manual_payment_enabled=False,
        )  # fmt: skip
        sharer = accounts.register_user(session, mobile="13600000001", password=PASSWORD, nickname="分享者")
        session.flush()
        shop.ref_code = dist.make_distributor(session, sharer, source="merchant").code
        for n in range(SHOPPERS):
            user = accounts.register_user(session, mobile=f"137{n:08d}", password=PASSWORD)
            session.flush()
            orders.addresses.save_address(
                session, user.id, None, recipient="张三", mobile="13812345678", province="广东省",
                city="深圳市", district="南山区", detail=f"科技园路 {n + 1} 号",
            )  # fmt: skip
        on_shelf = select(Product.id).where(Product.is_on_shelf).order_by(Product.id)
        ids = list(session.scalars(on_shelf))
        shop.product_ids = ids[:: max(1, len(ids) // 200)][:200]
        shop.category_ids = list(session.scalars(select(Category.id).where(Category.parent_id.isnot(None))))
        buy = select(Sku.id).where(Sku.product_id.in_(shop.product_ids[:50])).order_by(Sku.id)
        shop.buy_sku_ids = list(session.scalars(buy))
        session.execute(update(Sku).where(Sku.id.in_(shop.buy_sku_ids)).values(stock=10**8))
        session.commit()
        session.remove()
        db.engine.dispose()
    print(f"{shop.label}: {products:,} products seeded in {time.perf_counter() - started:.1f} s")


# --- a browser-like client -----------------------------------------------------------------------------


def _fill_cart(shop: Shop) -> None:
    browser = Browser(shop.server.url)
    browser.log_in("13700000000", PASSWORD)
    _url, page = browser.get(f"/p/{shop.product_ids[0]}")
    for sku_id in shop.buy_sku_ids[:3]:
        browser.post("/cart/add", {"sku_id": sku_id, "qty": 1}, page)
    _url, cart = browser.get("/cart")
    if "cart" not in cart:
        raise RuntimeError("the cart page did not render")
    shop.cart_cookie = browser.cookie_header()


# --- load ----------------------------------------------------------------------------------------------


def _wrk(wrk: str, base: str, paths: list[str], *, seconds: int, cookie: str, folder: Path) -> dict:
    script = folder / "paths.lua"
    quoted = ", ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in paths)
    script.write_text(
        f"local paths = {{{quoted}}}\nlocal i = 0\n"
        'request = function()\n  i = i % #paths + 1\n  return wrk.format("GET", paths[i])\nend\n'
    )
    command = [wrk, "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script)]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command + [base], capture_output=True, text=True, check=True).stdout
    return _parse_wrk(output)


def _parse_wrk(output: str) -> dict:
    def latency(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = 0
    if found := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        errors += int(found.group(1))
    if found := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        errors += sum(int(n) for n in found.groups())
    per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"per_second": per_second, "p50_ms": latency("50"), "p99_ms": latency("99"), "errors": errors}


def _orders(shop: Shop, seconds: int) -> dict:
    """Shoppers in threads, each placing and paying orders through the pages until time is up."""
    base = shop.checkout_server.url
    browsers = []
    for n in range(SHOPPERS):
        browser = Browser(base)
        browser.log_in(f"137{n:08d}", PASSWORD)
        browsers.append(browser)
    timings: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def shopper(n: int, browser: Browser) -> None:
        k = n
        while time.monotonic() < deadline:
            sku = shop.buy_sku_ids[k % len(shop.buy_sku_ids)]
            k += SHOPPERS
            started = time.perf_counter()
            try:
                _url, page = browser.get(f"/checkout?buy={sku}&qty=1")
                fields = {
                    **form_fields(page, "/checkout"),
                    "payment_method": "sandbox",
                    "buy": sku,
                    "qty": 1,
                }
                cashier_url, cashier = browser.post("/checkout", fields, page)
                cashier_path = urllib.parse.urlparse(cashier_url).path
                result_url, _page = browser.post(cashier_path, {"action": "pay"}, cashier)
                if "/result" not in result_url:
                    raise RuntimeError(f"paying ended on {result_url}")
            except Exception as error:  # noqa: BLE001 - counted and reported, the run goes on
                errors.append(str(error)[:200])
                continue
            timings.append((time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=shopper, args=(n, b)) for n, b in enumerate(browsers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if errors:
        print(f"  checkout errors ({len(errors)}), first: {errors[0]}")
    timings.sort()
    return {
        "per_second": len(timings) / elapsed,
        "p50_ms": statistics.median(timings) if timings else 0.0,
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))] if timings else 0.0,
        "errors": len(errors),
    }


# --- report --------------------------------------------------------------------------------------------


def _report(runs: list[Run], args, machine: str) -> int:
    hello = statistics.median(r.per_second for r in runs if r.page == "hello world")
    print()
    print(
        f"make bench-http: {machine}; gunicorn {args.workers} sync workers per server; wrk -t2 -c16 "
        f"{args.seconds} s per page; {args.rounds} interleaved rounds; {args.products:,} products; "
        f"req/s is the median of the rounds"
    )
    print(
        f"{'page':<34} {'backend':<11} {'req/s':>8} {'rounds':<22} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6} {'RSS MB':>7} {'× hello':>8}  goal"
    )
    failed = False
    order = list(dict.fromkeys((r.page, r.backend) for r in runs))
    for page, backend in order:
        mine = [r for r in runs if r.page == page and r.backend == backend]
        median = statistics.median(r.per_second for r in mine)
        ratio = median / hello if hello else 0.0
        goal = GOALS.get((page, backend))
        verdict = "—" if goal is None else f"≥ {goal:.2f} {'ok' if ratio >= goal else 'MISSED'}"
        failed |= goal is not None and ratio < goal
        rounds = " ".join(f"{r.per_second:.0f}" for r in mine)
        unit = mine[0].unit
        print(
            f"{page + ('' if unit == 'req/s' else f' ({unit})'):<34} {backend:<11} {median:>8.1f} {rounds:<22} "
            f"{statistics.median(r.p50_ms for r in mine):>7.1f} {statistics.median(r.p99_ms for r in mine):>7.1f} "
            f"{sum(r.errors for r in mine):>6} {max(r.rss_mb for r in mine):>7.1f} "
            f"{'' if unit != 'req/s' else f'{ratio:.3f}':>8}  {verdict}"
        )  # fmt: skip
    biggest = max((r.rss_mb for r in runs if r.backend != "Flask"), default=0.0)
    rss_ok = biggest <= RSS_GOAL_MB
    print(
        f"largest Fenxiao worker RSS: {biggest:.1f} MB (goal ≤ {RSS_GOAL_MB} MB: {'ok' if rss_ok else 'MISSED'})"
    )
    return 0 if not failed and rss_ok else 1


# --- main ----------------------------------------------------------------------------------------------


def _ensure_wrk() -> str:
    if not shutil.which("wrk"):
        apt_install(["wrk"], "make bench-http")
    return shutil.which("wrk")


def main(argv=None) -> int:
    from bench.machine import describe

    parser = argparse.ArgumentParser(prog="python -m bench.over_http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000, help="products per shop (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds of load per page and round")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server (default 2)")
    args = parser.parse_args(argv)
    wrk = _ensure_wrk()
    machine = describe()
    print(f"bench-http on {machine}")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="fenxiao-bench-http-") as name, ExitStack() as servers:
        folder = Path(name)
        shops = servers.enter_context(_databases(folder))
        for shop in shops:
            _seed(shop, folder, args.products)
        hello = Server("Flask", "bench.hello:app", {}, workers=args.workers, folder=folder)
        servers.callback(hello.stop)
        for shop in shops:
            shop.server = Server(
                shop.label, "wsgi:app", server_env(shop.database_url, folder, "production"), workers=args.workers,
                folder=folder,
            )  # fmt: skip
            servers.callback(shop.server.stop)
            shop.checkout_server = Server(
                f"{shop.label} checkout", "wsgi:app", server_env(shop.database_url, folder, "development"),
                workers=args.workers, folder=folder,
            )  # fmt: skip
            servers.callback(shop.checkout_server.stop)
            _fill_cart(shop)

        def record(page: str, backend: str, round_: int, server: Server, result: dict, unit="req/s"):
            rss = max(server.worker_rss_mb(), default=0.0)
            runs.append(Run(page, backend, round_, rss_mb=rss, unit=unit, **result))
            print(
                f"round {round_} {page:<34} {backend:<11} {result['per_second']:8.1f} {unit}  "
                f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  errors {result['errors']}  "
                f"RSS {rss:.1f} MB",
                flush=True,
            )

        for round_ in range(1, args.rounds + 1):
            result = _wrk(wrk, hello.url, ["/"], seconds=args.seconds, cookie="", folder=folder)
            record("hello world", "Flask", round_, hello, result)
            for page, paths in PAGES:
                for shop in shops:
                    cookie = shop.cart_cookie if page.startswith("cart") else ""
                    result = _wrk(
                        wrk, shop.server.url, paths(shop), seconds=args.seconds, cookie=cookie, folder=folder
                    )
                    record(page, shop.label, round_, shop.server, result)
            for shop in shops:
                result = _orders(shop, args.seconds)
                record("checkout + sandbox pay", shop.label, round_, shop.checkout_server, result, "orders/s")
        status = _report(runs, args, machine)
        print()
        memory.report(
            {
                shop.label: memory.steps(
                    server_env(shop.database_url, folder, "production"),
                    [paths(shop)[0] for page, paths in PAGES if not page.startswith("cart")],
                )
                for shop in shops
            }
        )
        return status


if __name__ == "__main__":
    sys.exit(main())
