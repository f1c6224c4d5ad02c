"""The dashboard's figures over today / yesterday / 7 / 30 days in the shop's time zone, each against the period
before it, the sales line's points, and the scheduled jobs said in plain words. The fixture is computed by
hand: orders, refunds, shoppers and distributors either side of local midnights and of "now"."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.admin.dashboard_chart import line_chart, nice_top
from app.distribution.models import Commission, Distributor
from app.distribution.stats import distribution_figures
from app.jobs import JOBS, JobRun, how_long, job_health
from app.orders import stats
from app.orders.models import Order, OrderStatus, Refund, RefundRequestStatus
from app.timeutil import SHOP_TZ, set_clock
from tests import factories
from tests.conftest import login

# 10:20 on 10 March in Shanghai (02:20 UTC).
NOW = datetime(2026, 3, 10, 10, 20, tzinfo=SHOP_TZ)


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHOP_TZ).astimezone(UTC)


@pytest.fixture(autouse=True)
def clock():
    set_clock(NOW.astimezone(UTC))
    yield
    set_clock(None)


_numbers = iter(range(1, 10**6))


def order(session, user, total_fen: int, paid_at: datetime | None) -> Order:
    n = next(_numbers)
    placed = Order(
        number=f"D{n:012d}",
        user_id=user.id,
        status=OrderStatus.PAID if paid_at else OrderStatus.PENDING_PAYMENT,
        goods_fen=total_fen,
        total_fen=total_fen,
        idempotency_key=f"dashboard-{n}",
        ship_recipient="林小雨",
        ship_mobile="18612345678",
        ship_region="上海市 浦东新区",
        ship_detail="世纪大道 1 号",
        created_at=paid_at or local(10, 9),
        expires_at=(paid_at or local(10, 9)) + timedelta(minutes=30),
        paid_at=paid_at,
    )
    session.add(placed)
    session.flush()
    return placed


def refund(
    session, of: Order, amount_fen: int, refunded_at: datetime | None, status=RefundRequestStatus.REFUNDED
):
    session.add(
        Refund(
            order_id=of.id,
            number=f"R{next(_numbers):012d}",
            reason="不想要了",
            amount_fen=amount_fen,
            status=status,
            refunded_at=refunded_at,
        )
    )


@pytest.fixture
def shop_days(app, session):
    """Paid orders: A 00:30 today ¥100.00 (u1), D 09:59 today ¥29.90 (u1), B 23:30 yesterday ¥50.00 (u2),
    C 09:00 yesterday ¥30.00 (u1), H 00:10 on 4 March ¥40.00 (u3), F 12:00 on 3 March ¥10.00 (after "now" a
    week ago: in no period), G 08:00 on 3 March ¥20.00 (the week before); one unpaid order today."""
    u1 = factories.UserFactory(nickname="老顾客", created_at=local(1, 12, month=2))
    u2 = factories.UserFactory(nickname="昨晚注册", created_at=local(9, 23, 45))
    u3 = factories.UserFactory(nickname="今早注册", created_at=local(10, 0, 15))
    factories.UserFactory(role="staff", created_at=local(10, 1))  # staff are not shoppers
    a = order(session, u1, 100_00, local(10, 0, 30))
    order(session, u1, 29_90, local(10, 9, 59))
    b = order(session, u2, 50_00, local(9, 23, 30))
    c = order(session, u1, 30_00, local(9, 9))
    order(session, u3, 40_00, local(4, 0, 10))
    order(session, u3, 10_00, local(3, 12))
    order(session, u3, 20_00, local(3, 8))
    order(session, u2, 99_00, None)
    refund(session, a, 15_00, local(10, 0, 5))
    refund(session, b, 7_00, local(9, 23, 55))
    refund(session, c, 10_00, local(9, 8))
    refund(session, a, 5_00, None, RefundRequestStatus.APPROVED)  # not paid back yet
    d1 = Distributor(user_id=u1.id, code="D1", created_at=local(10, 1))
    d2 = Distributor(user_id=u2.id, code="D2", created_at=local(9, 9, 30))
    session.add_all([d1, d2])
    session.flush()
    session.add(
        Commission(order_id=a.id, distributor_id=d1.id, level=1, original_fen=5_00, created_at=local(10, 2))
    )
    session.add(
        Commission(
            order_id=b.id, distributor_id=d2.id, level=1, original_fen=3_00, created_at=local(9, 23, 40)
        )
    )
    session.commit()


def figures(session, key: str) -> dict:
    period = stats.period_for(key)
    found = stats.order_figures(session, period) + distribution_figures(session, period)
    return {f.key: (f.current, f.previous, f.change.label) for f in found}


def test_today_runs_from_local_midnight_to_now_against_yesterday_until_the_same_time(session, shop_days):
    assert figures(session, "today") == {
        "paid": (129_90, 30_00, "↑333%"),  # A + D against C (B at 23:30 is after 10:00 yesterday)
        "orders": (2, 1, "↑100%"),
        "customers": (1, 1, "持平"),
        "average": (64_95, 30_00, "↑116.5%"),
        "refunds": (15_00, 10_00, "↑50%"),
        "new_customers": (1, 0, "—"),
        "new_distributors": (1, 1, "持平"),
        "commission": (5_00, 0, "—"),
    }


def test_yesterday_is_the_whole_local_day_against_the_day_before(session, shop_days):
    assert figures(session, "yesterday") == {
        "paid": (80_00, 0, "—"),  # B at 23:30 and C at 09:00, not A at 00:30 today
        "orders": (2, 0, "—"),
        "customers": (2, 0, "—"),
        "average": (40_00, 0, "—"),
        "refunds": (17_00, 0, "—"),
        "new_customers": (1, 0, "—"),
        "new_distributors": (1, 0, "—"),
        "commission": (3_00, 0, "—"),
    }


def test_seven_days_include_today_and_compare_with_the_seven_before(session, shop_days):
    found = figures(session, "7d")
    assert found["paid"] == (249_90, 20_00, "↑1149.5%")  # H, C, B, A, D against G (F is after "now")
    assert found["orders"][:2] == (5, 1) and found["customers"][:2] == (3, 1)
    assert found["average"][:2] == (49_98, 20_00)
    period = stats.period_for("7d")
    assert period.current.start == local(4, 0) and period.previous.start == local(25, 0, month=2)
    assert period.previous.end == local(3, 10, 20)


def test_the_change_is_rounded_to_a_tenth_of_a_per_cent():
    assert stats.change(1125, 1000).label == "↑12.5%"
    assert stats.change(875, 1000).label == "↓12.5%"
    assert stats.change(1000, 3000).label == "↓66.7%"
    # A move too small to show as a tenth of a per cent is flat, not "↑0%".
    assert stats.change(10001, 10000).direction == "flat" and stats.change(10005, 10000).label == "↑0.1%"
    assert (stats.change(5, 5).direction, stats.change(5, 0).label, stats.change(0, 0).label) == (
        "flat",
        "—",
        "—",
    )


def test_the_chart_has_a_point_per_hour_today_and_per_day_for_longer(session, shop_days):
    today = stats.sales_by_bucket(session, stats.period_for("today"))
    assert len(today) == 11  # 00:00 … 10:00: the hours to come are not drawn
    assert today[0] == ("00:00", 100_00) and today[9] == ("09:00", 29_90) and today[10] == ("10:00", 0)
    assert sum(fen for _label, fen in today) == 129_90
    yesterday = dict(stats.sales_by_bucket(session, stats.period_for("yesterday")))
    assert len(yesterday) == 24 and yesterday["09:00"] == 30_00 and yesterday["23:00"] == 50_00
    week = stats.sales_by_bucket(session, stats.period_for("7d"))
    assert [label for label, _fen in week] == ["03-04", "03-05", "03-06", "03-07", "03-08", "03-09", "03-10"]
    assert [fen for _label, fen in week] == [40_00, 0, 0, 0, 0, 80_00, 129_90]
    month = stats.sales_by_bucket(session, stats.period_for("30d"))
    assert len(month) == 30 and month[0][0] == "02-09" and sum(fen for _l, fen in month) == 279_90


@pytest.mark.parametrize("hour, minute", [(0, 20), (1, 0)])
def test_just_after_midnight_today_has_one_or_two_hours_and_the_page_answers(
    client, session, shop_days, hour, minute
):
    """Found in review: before 01:00 today has one hour, and the chart's CASE had no WHEN (a 500)."""
    set_clock(local(10, hour, minute))
    today = stats.sales_by_bucket(session, stats.period_for("today"))
    assert [label for label, _fen in today] == ["00:00"]  # up to 01:00:00 itself
    assert today[0][1] == (100_00 if hour else 0)  # the order paid at 00:30: not yet at 00:20
    assert owner(client).get("/admin/").status_code == 200


def test_the_chart_geometry_scales_to_a_round_top_line():
    assert (nice_top(0), nice_top(100), nice_top(129_90), nice_top(250_01)) == (100, 100, 200_00, 500_00)
    chart = line_chart([("00:00", 100_00), ("01:00", 150_00)], 24)
    first, second = chart["points"]
    assert (first.y, second.y) == (12 + 180 * 0.5, 12 + 180 * 0.25)  # on a chart whose top line is ¥200
    assert second.x - first.x == pytest.approx((640 - 64 - 12) / 23, abs=0.1)
    assert [label for _y, label in chart["grid"]] == ["¥0", "¥100", "¥200"]


def owner(client):
    user = factories.UserFactory(role="owner", created_at=local(1, 0, month=1))
    login(client, user, admin=True)
    return client


def test_the_dashboard_shows_the_period_its_changes_and_the_chart(client, session, shop_days):
    page = owner(client).get("/admin/").get_data(as_text=True)
    figures_html = page.split('id="figures"')[1].split("</section>")[0]
    assert re.search(r'data-figure="paid".*?¥129\.90.*?↑333%', figures_html, re.S)
    assert re.search(r'data-figure="new_customers".*?>1<.*?—', figures_html, re.S)
    assert "与昨天同一时段相比" in figures_html and "每小时支付金额" in figures_html
    wide, narrow = figures_html.split("line-chart-wide")[1], figures_html.split("line-chart-narrow")[1]
    assert wide.split("</svg>")[0].count("<circle") == 11 and "<title>00:00 ¥100.00</title>" in wide
    assert narrow.split("</svg>")[0].count("<polyline") == 1  # a phone's drawing: the line without dots
    assert "待发货" in page  # the to-do cards stay

    week = client.get("/admin/?period=7d").get_data(as_text=True)
    assert 'aria-current="page">近 7 天' in week and "¥249.90" in week and "03-04" in week


def test_the_period_switch_swaps_only_the_figures_over_htmx(client, session, shop_days):
    owner(client)
    part = client.get("/admin/?period=yesterday", headers={"HX-Request": "true", "HX-Target": "figures"})
    html = part.get_data(as_text=True)
    assert part.status_code == 200 and html.lstrip().startswith('<section id="figures"')
    assert "¥80.00" in html and "<html" not in html and "定时任务" not in html


@pytest.mark.parametrize("period", ["", "week", "<script>", "7d'--", "x" * 5000])
def test_a_bad_period_shows_today(client, session, shop_days, period):
    response = owner(client).get("/admin/", query_string={"period": period})
    assert response.status_code == 200
    assert 'aria-current="page">今天' in response.get_data(as_text=True)


# ---------------------------------------------------------------- jobs in plain words


EVERY_5 = timedelta(minutes=5)


def run(**values) -> JobRun:
    return JobRun(
        name="orders-expire", **{"started_at": None, "finished_at": None, "ok": True, "result": ""} | values
    )


def test_job_health_in_plain_words(app):
    now = NOW.astimezone(UTC)
    with app.test_request_context("/admin/"):
        assert job_health(None, EVERY_5).state == "never"
        assert job_health(None, EVERY_5).sentence == "从未运行，请把下面的命令加入定时任务"
        ok = job_health(
            run(
                started_at=now - timedelta(minutes=2),
                finished_at=now - timedelta(minutes=2),
                result="expired=2",
            ),
            EVERY_5,
        )
        assert (ok.state, ok.sentence, ok.detail) == ("ok", "2 分钟前运行正常", "取消超时未付款订单 2 单")
        late = job_health(
            run(started_at=now - timedelta(hours=3), finished_at=now - timedelta(hours=3)), EVERY_5
        )
        assert (late.state, late.sentence) == ("overdue", "已经 3 小时没有运行，请检查定时任务")
        failed = job_health(
            run(
                started_at=now - timedelta(minutes=6),
                finished_at=now - timedelta(minutes=5),
                ok=False,
                result="database is locked",
            ),
            EVERY_5,
        )
        assert (failed.state, failed.sentence, failed.detail) == (
            "failed",
            "5 分钟前运行失败",
            "database is locked",
        )
        running = job_health(run(started_at=now - timedelta(minutes=1)), EVERY_5)
        assert running.state == "running"
        stuck = job_health(run(started_at=now - timedelta(hours=1)), EVERY_5)
        assert stuck.state == "stuck" and "可能卡住" in stuck.sentence
        # A daily job is late two hours after its next run was due (found in review: it said so at noon).
        daily = timedelta(days=1)

        def daily_state(hours: int) -> str:
            ran = now - timedelta(hours=hours)
            return job_health(run(started_at=ran, finished_at=ran), daily).state

        assert (daily_state(25), daily_state(27)) == ("ok", "overdue")
        # A run that has not finished for more than an hour is hung, whatever its interval.
        assert job_health(run(started_at=now - timedelta(minutes=50)), daily).state == "running"
        assert job_health(run(started_at=now - timedelta(hours=20)), daily).state == "stuck"
        assert how_long(timedelta(days=3, hours=2)) == "3 天" and how_long(timedelta(seconds=5)) == "1 分钟"


def test_the_dashboard_says_how_each_job_is_doing(client, session):
    now = NOW.astimezone(UTC)
    session.add_all(
        [
            JobRun(
                name="orders-expire",
                started_at=now - timedelta(minutes=2),
                finished_at=now - timedelta(minutes=2),
                result="expired=1",
                ok=True,
            ),
            JobRun(
                name="orders-autocomplete",
                started_at=now - timedelta(hours=3),
                finished_at=now - timedelta(hours=3),
                result="completed=0",
                ok=True,
            ),
            JobRun(
                name="groups-settle",
                started_at=now - timedelta(minutes=3),
                finished_at=now - timedelta(minutes=3),
                result="boom <b>",
                ok=False,
            ),
        ]
    )
    session.commit()
    page = owner(client).get("/admin/").get_data(as_text=True)

    def line(job: str) -> str:
        html = page.split(f'data-job="{job}"')[1].split("</li>")[0]
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))

    assert "自动取消未付款订单：2 分钟前运行正常" in line("orders-expire")
    assert "取消超时未付款订单 1 单" in line("orders-expire")
    assert "已经 3 小时没有运行，请检查定时任务" in line("orders-autocomplete")
    assert "3 分钟前运行失败" in line("groups-settle") and "错误信息：boom &lt;b&gt;" in line("groups-settle")
    assert "从未运行" in line("points-expire")
    assert "*/5 * * * * flask orders expire" in line("orders-expire")
    assert re.search(r'data-job="orders-expire".*?<details.*?flask orders expire.*?</details>', page, re.S)
    assert "flask payments reconcile" not in page  # no real gateway takes money


def test_jobs_that_only_matter_once_switched_on_are_listed_then(client, session, monkeypatch):
    """The dividend job once dividends are on, the tracking job once a 快递100 key is set; a job this build
    does not declare never."""
    from app.distribution.services import get_settings
    from app.settings.services import get_shop_settings

    owner(client)
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-job="distribution-dividends"' not in page and 'data-job="orders-track"' not in page
    rules, shop = get_settings(session), get_shop_settings(session)
    rules.dividends_enabled = True
    shop.kuaidi100_customer, shop.kuaidi100_key_sealed = "CUSTOMER", "sealed"
    session.add_all([rules, shop])
    session.commit()
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-job="distribution-dividends"' in page and "计算分红" in page
    assert "35 0 * * *  flask distribution dividends" in page
    assert 'data-job="orders-track"' in page and "查询物流（快递100）" in page
    monkeypatch.delitem(JOBS, "distribution-dividends")
    assert 'data-job="distribution-dividends"' not in client.get("/admin/").get_data(as_text=True)


def test_the_period_switch_is_refused_to_those_who_may_not_see_the_figures(client, session, monkeypatch):
    """Found in review: the figures block rendered alone without its figures was a 500."""
    from app.accounts.models import ROLE_PERMISSIONS, Permission, Role

    monkeypatch.setitem(ROLE_PERMISSIONS, Role.STAFF, frozenset({Permission.ORDERS}))
    login(client, factories.UserFactory(role="staff"), admin=True)
    assert client.get("/admin/?period=7d").status_code == 200  # the page, without figures
    fragment = client.get("/admin/?period=7d", headers={"HX-Request": "true", "HX-Target": "figures"})
    assert fragment.status_code == 403


def test_the_view_counts_job_is_watched_only_with_redis(app, client, session):
    """Without Redis each web worker writes its own counts (the job's process has none of them): a missing
    `flask stats flush` in cron must not be reported as a problem then."""
    owner(client)
    assert 'data-job="stats-flush"' not in client.get("/admin/").get_data(as_text=True)
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    page = client.get("/admin/").get_data(as_text=True)
    assert 'data-job="stats-flush"' in page and "flask stats flush" in page
