"""Dividends on screen (DISTRIBUTION.md "Dividend pools"): the distributor's own list beside the
commission list (day, pool, sharers, share, cap) and nobody else's; the back office's report per day with
its date range, a day's payouts, both as CSV (BOM, formula-safe, the same numbers as the page); who may
see it. The days are written by `record_day` below, which books them exactly as the dividend job does (a
day, its payouts, a `dividend` ledger entry each, straight to available) so that `ledger.audit` stays
clean."""

import csv
import io
import re
from datetime import date

import pytest
from sqlalchemy import update

from app.distribution import ledger
from app.distribution.models import (
    Distributor,
    DividendDay,
    DividendPayout,
    EntryKind,
    LedgerEntry,
)
from tests import factories
from tests.conftest import login
from tests.test_distribution import distributor, settings

EVIL = "=cmd|' /C calc'!A0"


def record_day(
    session, day: date, turnover_fen: int, pools: list[dict], mode: str = "static", orders: int = 3
):
    """Book one dividend day. Each pool: key, name, ratio_bp, pool_fen, shares {distributor: fen}, and
    optionally capped [distributor]. A distributor's payout is the sum of their shares, with parts."""
    payouts: dict[int, dict] = {}
    stored = []
    for pool in pools:
        paid = sum(pool["shares"].values())
        capped = [d.id for d in pool.get("capped", [])]
        stored.append(
            {
                "key": pool["key"],
                "name": pool["name"],
                "ratio_bp": pool["ratio_bp"],
                "pool_fen": pool["pool_fen"],
                "sharers": len(pool["shares"]),
                "paid_fen": paid,
                "remainder_fen": pool["pool_fen"] - paid,
                "capped": capped,
            }
        )
        for person, amount in pool["shares"].items():
            entry = payouts.setdefault(person.id, {"amount": 0, "parts": [], "capped": False})
            entry["amount"] += amount
            entry["parts"].append({"key": pool["key"], "amount_fen": amount})
            entry["capped"] |= person.id in capped
    row = DividendDay(
        day=day,
        mode=mode,
        orders=orders,
        turnover_fen=turnover_fen,
        pools=stored,
        paid_fen=sum(p["amount"] for p in payouts.values()),
        sharers=len(payouts),
    )
    session.add(row)
    session.flush()
    for distributor_id, entry in payouts.items():
        payout = DividendPayout(
            dividend_day_id=row.id,
            day=day,
            distributor_id=distributor_id,
            amount_fen=entry["amount"],
            parts=entry["parts"],
            capped=entry["capped"],
        )
        session.add(payout)
        session.flush()
        session.add(
            LedgerEntry(
                distributor_id=distributor_id,
                kind=EntryKind.DIVIDEND,
                dividend_payout_id=payout.id,
                available_delta_fen=entry["amount"],
                note=day.isoformat(),
            )
        )
        session.execute(
            update(Distributor)
            .where(Distributor.id == distributor_id)
            .values(available_fen=Distributor.available_fen + entry["amount"])
        )
    session.commit()
    return row


@pytest.fixture
def people(session):
    settings(session, dividends_enabled=True)
    gold = distributor(session, factories.UserFactory(nickname="金姐"))
    other = distributor(session, factories.UserFactory(nickname="银哥"))
    evil = distributor(session, factories.UserFactory(nickname=EVIL))
    return gold, other, evil


@pytest.fixture
def two_days(session, people):
    gold, other, evil = people
    first = record_day(
        session,
        date(2026, 12, 1),
        100_000_000,  # ¥1,000,000
        [
            {
                "key": "grade:3",
                "name": "金牌",
                "ratio_bp": 500,
                "pool_fen": 5_000_000,  # ¥50,000 among 3: ¥16,666.66 each, 2 fen stay
                "shares": {gold: 1_666_666, other: 1_666_666, evil: 1_666_666},
            }
        ],
        orders=120,
    )
    second = record_day(
        session,
        date(2026, 12, 2),
        2_000_000,  # ¥20,000
        [
            {
                "key": "level:1",
                "name": "一级",
                "ratio_bp": 500,
                "pool_fen": 100_000,  # ¥1,000: 银哥 capped at ¥100, the others share the rest
                "shares": {gold: 45_000, other: 10_000, evil: 45_000},
                "capped": [other],
            },
            {
                "key": "level:2",
                "name": "二级",
                "ratio_bp": 200,
                "pool_fen": 40_001,
                "shares": {gold: 40_000},
            },
        ],
        mode="dynamic",
        orders=7,
    )
    assert ledger.audit(session) == []
    return first, second


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def get(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.get_data(as_text=True)[:500])
    return response.get_data(as_text=True)


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


# ---------------------------------------------------------------- the distributor's side


def test_the_center_lists_own_dividends_with_day_pool_sharers_and_share(client, people, two_days):
    gold, other, _evil = people
    login(client, gold.user)
    page = text_of(get(client, "/d/dividends"))
    assert "2026-12-01" in page and "2026-12-02" in page
    assert "金牌分红池 ¥50,000.00" in page
    assert "一级分红池 ¥1,000.00" in page and "二级分红池 ¥400.01" in page
    assert "3 人共分，你得 ¥16,666.66" in page
    assert "1 人共分，你得 ¥400.00" in page
    assert "¥850.00" in page  # 2 Dec: ¥450 + ¥400 in one entry
    assert "¥17,516.66" in page  # in total
    assert "dist-state_capped" not in get(client, "/d/dividends")  # a cap cut neither of her shares
    # The commission list has the 分红 tab, and the center shows the dividends beside commission.
    assert 'href="/d/dividends"' in get(client, "/d/commissions")
    center = text_of(get(client, "/d"))
    assert "本月分红" in center and "今日佣金" in center and "本月佣金" in center


def test_a_capped_share_says_so(client, people, two_days):
    _gold, other, _evil = people
    login(client, other.user)
    html = get(client, "/d/dividends")
    entries = html.split("<article ")[1:]
    assert len(entries) == 2 and "2026-12-02" in entries[0]  # newest first
    assert "封顶" in text_of(entries[0]) and "¥100.00" in entries[0]
    assert "dist-state_capped" not in entries[1]  # 1 Dec was not capped


def test_another_distributors_dividends_are_not_shown(app, client, session, people, two_days):
    gold, _other, _evil = people
    stranger = distributor(session, factories.UserFactory(nickname="路人"))
    login(client, stranger.user)
    page = text_of(get(client, "/d/dividends"))
    assert "2026-12-01" not in page and "金牌分红池" not in page
    assert "还没有分红" in page
    # A shopper who is not a distributor is sent to the page that says how to become one.
    shopper_client = app.test_client()
    login(shopper_client, factories.UserFactory())
    assert shopper_client.get("/d/dividends").status_code == 302


def test_the_center_leaves_dividends_out_while_they_are_off_and_none_was_paid(client, session):
    settings(session)
    person = distributor(session, factories.UserFactory())
    login(client, person.user)
    assert "本月分红" not in text_of(get(client, "/d"))
    assert "本店暂未开启分红" in text_of(get(client, "/d/dividends"))


def test_the_list_pages_on(client, session, people):
    gold, _other, _evil = people
    for n in range(1, 23):
        pool = {"key": "grade:3", "name": "金牌", "ratio_bp": 500, "pool_fen": 1000 + n, "shares": {gold: n}}
        record_day(session, date(2026, 11, n), 20_000 + n, [pool])
    login(client, gold.user)
    first = get(client, "/d/dividends")
    assert first.count('class="dist-entry dist-dividend"') == 20 and "2026-11-22" in first
    more = client.get("/d/dividends?page=2", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert (
        more.count('class="dist-entry dist-dividend"') == 2 and "2026-11-01" in more and "<html" not in more
    )


# ---------------------------------------------------------------- the back office's report


def test_the_report_shows_each_day(owner_client, people, two_days):
    gold, other, evil = people
    html = get(owner_client, "/admin/distribution/dividends")
    page = text_of(html)
    assert "2 天" in page
    first = text_of(html.split('id="day-2026-12-01"')[1].split("</tr>")[0])
    assert "120" in first and "¥1,000,000.00" in first and "金牌分红池" in first and "¥50,000.00" in first
    assert "¥49,999.98" in first and "¥0.02" in first
    second = html.split('id="day-2026-12-02"')[1].split("</tr>")[0]
    assert "¥20,000.00" in second and "一级分红池" in second and "二级分红池" in second
    assert "¥1,400.01" not in second  # the pools are shown one by one
    assert "¥0.01" in text_of(second)  # remainder: the level-2 pool's odd fen
    assert other.label in text_of(second) and evil.label not in text_of(second)  # capped out: 银哥 only
    assert 'href="/admin/distribution/dividends"' in get(owner_client, "/admin/distribution")  # the nav


def test_a_days_payouts(owner_client, people, two_days):
    gold, other, evil = people
    html = get(owner_client, "/admin/distribution/dividends/2026-12-02")
    page = text_of(html)
    assert "¥1,400.00" in page and "¥0.01" in page
    rows = html.split('id="payout-')[1:]
    assert len(rows) == 3
    assert gold.label in rows[0] and "¥850.00" in rows[0] and "封顶" not in text_of(rows[0])
    capped = next(row for row in rows if other.label in row)
    assert "¥100.00" in capped and "封顶" in text_of(capped)
    get(owner_client, "/admin/distribution/dividends/2026-12-03", 404)
    get(owner_client, "/admin/distribution/dividends/2026-13-40", 404)
    get(owner_client, "/admin/distribution/dividends/nonsense", 404)


def test_the_ledger_names_the_dividend_and_links_its_day(owner_client, session, people, two_days):
    html = get(owner_client, "/admin/distribution/ledger?kind=dividend")
    assert "分红" in text_of(html)
    payout = session.query(DividendPayout).filter_by(day=date(2026, 12, 2)).first()
    response = owner_client.get(f"/admin/distribution/dividends/payout/{payout.id}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/admin/distribution/dividends/2026-12-02#payout-{payout.id}"
    )


def test_the_csv_of_the_days_has_the_pages_numbers(owner_client, people, two_days):
    gold, other, evil = people
    rows = read_csv(owner_client.get("/admin/distribution/dividends.csv"))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["日期", "模式", "完成订单", "成交额"]
    by = [dict(zip(header, row, strict=True)) for row in body]
    assert len(by) == 3  # one row per day and pool
    first = next(row for row in by if row["日期"] == "2026-12-01")
    assert first["成交额"] == "1000000.00" and first["完成订单"] == "120"
    assert first["分红池"] == "金牌分红池" and first["池金额"] == "50000.00" and first["分得人数"] == "3"
    assert first["已发放"] == "49999.98" and first["零头（归店铺）"] == "0.02" and first["比例"] == "5%"
    level_one = next(row for row in by if row["分红池"] == "一级分红池")
    assert level_one["封顶人员"] == other.label
    # The pools' paid column adds up to what the page's header says was paid.
    paid = sum(int(row["已发放"].replace(".", "")) for row in by)
    assert paid == 4_999_998 + 140_000
    # A range keeps to its days.
    rows = read_csv(owner_client.get("/admin/distribution/dividends.csv?from=2026-12-02&to=2026-12-02"))
    assert {row[0] for row in rows[1:]} == {"2026-12-02"}


def test_the_csv_of_a_days_payouts_is_formula_safe(owner_client, people, two_days):
    gold, other, evil = people
    rows = read_csv(owner_client.get("/admin/distribution/dividends/2026-12-02.csv"))
    header, body = rows[0], rows[1:]
    by = {row[header.index("推广码")]: dict(zip(header, row, strict=True)) for row in body}
    assert len(by) == 3
    assert by[gold.code]["分红"] == "850.00" and by[gold.code]["是否封顶"] == "否"
    assert by[gold.code]["分红池"] == "一级分红池 ¥450.00; 二级分红池 ¥400.00"
    assert by[other.code]["分红"] == "100.00" and by[other.code]["是否封顶"] == "是"
    assert by[evil.code]["分销员"].startswith("'=")  # Excel shows it as text, never runs it
    assert sum(int(row["分红"].replace(".", "")) for row in by.values()) == 140_000
    # The days' export names the capped person safely too.
    settings_rows = read_csv(owner_client.get("/admin/distribution/dividends.csv"))
    assert not any(cell.startswith("=") for row in settings_rows for cell in row)


def test_a_capped_out_name_that_looks_like_a_formula_is_neutralised(owner_client, session, people):
    _gold, _other, evil = people
    record_day(
        session,
        date(2026, 12, 5),
        1_000_000,
        [
            {
                "key": "grade:3",
                "name": "=HYPERLINK()",
                "ratio_bp": 100,
                "pool_fen": 10_000,
                "shares": {},
                "capped": [evil],
            }
        ],
    )
    rows = read_csv(owner_client.get("/admin/distribution/dividends.csv"))
    header = rows[0]
    row = dict(zip(header, rows[1], strict=True))
    assert row["封顶人员"].startswith("'=") and row["分红池"] == "'=HYPERLINK()分红池"


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-02-30",
        "from=yesterday",
        "to=99999-01-01",
        "from=2026-12-05&to=2026-12-01",
        "from=1000-01-01",
    ],
)
def test_a_bad_date_range_gets_a_clear_message(owner_client, people, two_days, query):
    response = owner_client.get(f"/admin/distribution/dividends?{query}")
    assert response.status_code == 200
    page = text_of(response.get_data(as_text=True))
    assert "请按“年-月-日”输入日期" in page or "开始日期晚于结束日期" in page
    assert "显示全部日期" in page and "2026-12-01" in page
    assert owner_client.get(f"/admin/distribution/dividends.csv?{query}").status_code == 200


def test_the_range_filters_the_days(owner_client, people, two_days):
    page = text_of(get(owner_client, "/admin/distribution/dividends?from=2026-12-02"))
    assert "2026-12-02" in page and "2026-12-01" not in page and "1 天" in page
    page = text_of(get(owner_client, "/admin/distribution/dividends?from=2027-01-01"))
    assert "这段日期没有分红" in page


def test_the_empty_report_says_why_and_links_the_settings(owner_client, session):
    settings(session)
    page = get(owner_client, "/admin/distribution/dividends")
    assert "分红未开启" in text_of(page) and 'href="/admin/distribution/dividend-settings"' in page
    settings(session, dividends_enabled=True)
    page = get(owner_client, "/admin/distribution/dividends")
    assert "还没有发放分红" in text_of(page)


def test_who_may_see_the_report(app, client, session, people, two_days):
    login(client, factories.UserFactory())  # a customer
    for path in (
        "/admin/distribution/dividends",
        "/admin/distribution/dividends.csv",
        "/admin/distribution/dividends/2026-12-01",
        "/admin/distribution/dividends/2026-12-01.csv",
    ):
        assert client.get(path).status_code == 403, path
    assert app.test_client().get("/admin/distribution/dividends").status_code == 302  # signed out: log in
    staff = app.test_client()
    login(staff, factories.UserFactory(role="staff"), admin=True)
    page = get(staff, "/admin/distribution/dividends")
    assert "2026-12-01" in page
    assert 'href="/admin/distribution/dividend-settings"' not in page  # staff do not change the rules


# ---------------------------------------------------------------- with the real dividend job


def test_a_day_the_engine_paid_shows_on_both_sides(app, owner_client, session):
    """An order becomes final, `pay_day` shares 5 % of it in the 金牌 pool among three: each sees the pool,
    the three sharers and their share; the report and its CSV say the same, the odd fen stays."""
    from app.distribution.dividends import finalise_due, pay_day, rules_from, shop_today
    from app.distribution.models import DistributorGrade
    from tests.test_distribution import buy, complete

    settings(session, dividends_enabled=True, dividend_mode="static", freeze_days=0)
    gold = DistributorGrade(name="金牌", sort=3, dividend_ratio_bp=500)
    session.add(gold)
    session.commit()
    sharers = [distributor(session, factories.UserFactory(nickname=f"金{n}")) for n in range(3)]
    for person in sharers:
        person.grade_id = gold.id
    session.commit()
    product = factories.ProductFactory(title="茶", skus=[{"price_fen": 10_000, "stock": 10}])
    order = buy(session, factories.UserFactory(), product)
    complete(session, order)
    assert finalise_due(session) == 1
    day = shop_today()
    paid = pay_day(session, day, rules_from(session, settings(session)))
    session.commit()
    assert paid is not None and paid.turnover_fen == 10_000 - order.shipping_fen
    pool_fen = paid.turnover_fen * 500 // 10000
    share = pool_fen // 3
    assert ledger.audit(session) == []

    client = app.test_client()
    login(client, sharers[0].user)
    page = text_of(get(client, "/d/dividends"))
    assert day.isoformat() in page
    assert f"金牌分红池 ¥{pool_fen / 100:,.2f}" in page and f"3 人共分，你得 ¥{share / 100:,.2f}" in page

    report = text_of(get(owner_client, "/admin/distribution/dividends"))
    assert day.isoformat() in report and f"¥{3 * share / 100:,.2f}" in report
    rows = read_csv(owner_client.get(f"/admin/distribution/dividends/{day.isoformat()}.csv"))
    assert sorted(row[rows[0].index("推广码")] for row in rows[1:]) == sorted(d.code for d in sharers)
    assert {row[rows[0].index("分红")] for row in rows[1:]} == {f"{share // 100}.{share % 100:02d}"}
