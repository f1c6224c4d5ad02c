"""Product views, visitors and add-to-cart counted in memory and flushed (app/catalog/view_counts.py)."""

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from app.catalog import view_counts
from app.catalog.view_counts import ProductDailyStat, ProductDailyVisitor
from app.page_cache import HIT_HEADER
from tests.conftest import csrf_token, login
from tests.factories import ProductFactory, UserFactory


def _stats(session, product_id, day):
    session.expire_all()
    return session.scalar(
        select(ProductDailyStat).where(ProductDailyStat.product_id == product_id, ProductDailyStat.day == day)
    )


def test_views_from_many_threads_flush_to_exactly_n(app, session):
    threads, per_thread = 8, 250
    at = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

    def view(n):
        for i in range(per_thread):
            view_counts.count(app, 7, view_counts.VIEW, f"c:visitor{n}-{i % 10}", now=at)

    workers = [threading.Thread(target=view, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert view_counts.flush(session) == {"counted": threads * per_thread}
    stats = _stats(session, 7, date(2026, 12, 7))
    assert (stats.views, stats.visitors, stats.cart_adds) == (threads * per_thread, threads * 10, 0)
    # A second flush adds to what is there; a visitor already counted that day is not counted again.
    view_counts.count(app, 7, view_counts.VIEW, "c:visitor0-0", now=at)
    view_counts.count(app, 7, view_counts.CART_ADD, "c:new-one", now=at)
    assert view_counts.flush(session) == {"counted": 2}
    stats = _stats(session, 7, date(2026, 12, 7))
    assert (stats.views, stats.visitors, stats.cart_adds) == (threads * per_thread + 1, threads * 10 + 1, 1)
    assert view_counts.flush(session) == {"counted": 0}


def test_the_day_is_the_shops_local_day(app, session):
    # 2026-12-07 15:59 UTC is 23:59 in Shanghai; 16:01 UTC is 00:01 the next day there.
    view_counts.count(app, 3, view_counts.VIEW, "c:a", now=datetime(2026, 12, 7, 15, 59, tzinfo=UTC))
    view_counts.count(app, 3, view_counts.VIEW, "c:a", now=datetime(2026, 12, 7, 16, 1, tzinfo=UTC))
    view_counts.flush(session)
    assert _stats(session, 3, date(2026, 12, 7)).views == 1
    assert _stats(session, 3, date(2026, 12, 8)).views == 1
    assert session.scalar(select(func.count()).select_from(ProductDailyVisitor)) == 2


def test_a_failed_flush_keeps_the_counts(app, session, monkeypatch):
    view_counts.count(app, 5, view_counts.VIEW, "c:x")

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(view_counts, "add_counts", broken)
    with pytest.raises(RuntimeError):
        view_counts.flush(session)
    monkeypatch.undo()
    assert view_counts.flush(session) == {"counted": 1}


def test_every_n_events_a_background_flush_runs(app, session):
    app.config["VIEW_COUNTS_FLUSH_EVENTS"] = 5
    for i in range(5):
        view_counts.count(app, 9, view_counts.VIEW, f"c:v{i}")
    for thread in threading.enumerate():
        if thread.name == "view-counts-flush":
            thread.join(10)
    stats = _stats(session, 9, view_counts.shop_day())
    assert stats is not None and stats.views == 5 and stats.visitors == 5


def test_the_product_page_and_the_cart_count_without_writing(app, client, session):
    product = ProductFactory()
    sku_id = product.skus[0].id
    for _ in range(3):
        assert client.get(f"/p/{product.id}").status_code == 200
    # Served from the page cache (no Flask view): counted all the same.
    assert client.get(f"/p/{product.id}").headers.get(HIT_HEADER) == "hit"
    assert _stats(session, product.id, view_counts.shop_day()) is None  # nothing written per view
    shopper = UserFactory()
    login(client, shopper)
    client.get(f"/p/{product.id}")
    response = client.post(
        "/cart/add", data={"sku_id": sku_id, "qty": 1, "csrf_token": csrf_token(client, f"/p/{product.id}")}
    )
    assert response.status_code == 302
    view_counts.flush(session)
    stats = _stats(session, product.id, view_counts.shop_day())
    # 4 anonymous views (one visitor: same IP and browser) + 2 logged in (the page csrf_token read too)
    assert stats.views == 6
    assert stats.visitors == 2
    assert stats.cart_adds == 1


def test_flush_job(app, runner, session):
    view_counts.count(app, 11, view_counts.VIEW, "c:job")
    result = runner.invoke(args=["stats", "flush"])
    assert result.exit_code == 0, result.output
    assert _stats(session, 11, view_counts.shop_day()).views == 1


@pytest.fixture
def redis_url(tmp_path):
    """A redis-server of the test's own on a free port."""
    import shutil
    import socket
    import subprocess
    import time

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(5)


def test_with_redis_the_counts_go_through_redis(app, session, redis_url):
    app.config["REDIS_URL"] = redis_url
    at = datetime(2026, 12, 7, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    for i in range(30):
        view_counts.count(app, 4, view_counts.VIEW, f"c:r{i % 6}", now=at)
    view_counts.count(app, 4, view_counts.CART_ADD, "c:r0", now=at)
    assert not app.extensions["view_counts"].counts  # nothing kept in the process
    assert view_counts.flush(session) == {"counted": 31}
    stats = _stats(session, 4, date(2026, 12, 7))
    assert (stats.views, stats.visitors, stats.cart_adds) == (30, 6, 1)
    view_counts.count(app, 4, view_counts.VIEW, "c:r0", now=at)
    assert view_counts.flush(session) == {"counted": 1}
    stats = _stats(session, 4, date(2026, 12, 7))
    assert (stats.views, stats.visitors) == (31, 6)


def test_a_head_request_is_not_a_view(app, client, session):
    """A HEAD (an uptime check, a link checker) gets the headers, not the page: nobody viewed anything."""
    product = ProductFactory()
    assert client.head(f"/p/{product.id}").status_code == 200
    view_counts.flush(session)
    assert _stats(session, product.id, view_counts.shop_day()) is None


def test_with_redis_a_failed_flush_keeps_the_visitors(app, session, redis_url, monkeypatch):
    """The flush takes the products whose visitors changed off Redis's list before it writes; when the write
    fails they must go back on it, or the visitors stay at 0 until someone new comes."""
    app.config["REDIS_URL"] = redis_url
    at = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    for i in range(3):
        view_counts.count(app, 6, view_counts.VIEW, f"c:f{i}", now=at)

    def broken(*args, **kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(view_counts, "_upsert", broken)
    with pytest.raises(RuntimeError):
        view_counts.flush(session)
    monkeypatch.undo()
    assert view_counts.flush(session) == {"counted": 3}
    stats = _stats(session, 6, date(2026, 12, 7))
    assert (stats.views, stats.visitors) == (3, 3)


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
        "(compatible; Bytespider; spider-feedback@bytedance.com)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    ],
)
def test_a_crawler_is_not_a_visitor(app, client, session, agent):
    """A search engine fetching the page (first from Flask, then from the page cache) counts no view and
    no visitor: it would swell views and visitors and sink view→buy conversion."""
    product = ProductFactory()
    for _ in range(2):
        assert client.get(f"/p/{product.id}", headers={"User-Agent": agent}).status_code == 200
    assert client.get(f"/p/{product.id}", headers={"User-Agent": agent}).headers.get(HIT_HEADER) == "hit"
    # A phone whose maker's name holds the letters "bot" is a person.
    phone = "Mozilla/5.0 (Linux; Android 9; CUBOT_X19) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
    client.get(f"/p/{product.id}", headers={"User-Agent": phone})
    view_counts.flush(session)
    stats = _stats(session, product.id, view_counts.shop_day())
    assert (stats.views, stats.visitors) == (1, 1)


def test_a_quiet_worker_flushes_on_its_own(app, session):
    """A worker that counted a few views and then gets no more requests writes them within FLUSH_SECONDS
    all the same (the `flask stats flush` job runs in a process of its own and cannot reach them)."""
    import time

    app.config["VIEW_COUNTS_FLUSH_SECONDS"] = 0.3
    view_counts.count(app, 13, view_counts.VIEW, "c:quiet")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _stats(session, 13, view_counts.shop_day()) is None:
        time.sleep(0.1)
    assert _stats(session, 13, view_counts.shop_day()).views == 1


def test_visitor_hashes_of_past_days_are_dropped(app, session):
    """product_daily_visitors is only there to count a visitor once per product and day (and a late flush of
    yesterday's): older rows are dropped, or the table grows by every visitor of every day for ever."""
    from datetime import timedelta

    today = view_counts.shop_day()
    for day in (today - timedelta(days=3), today - timedelta(days=1), today):
        session.add(ProductDailyVisitor(product_id=21, day=day, visitor_hash="a" * 16))
    session.commit()
    view_counts.count(app, 21, view_counts.VIEW, "c:someone")
    view_counts.flush(session)
    session.expire_all()
    days = session.scalars(select(ProductDailyVisitor.day).where(ProductDailyVisitor.product_id == 21))
    assert sorted(set(days)) == [today - timedelta(days=1), today]
