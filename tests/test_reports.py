"""The reports (数据) against a fixture computed by hand: orders, refunds, product counts and share-link visits
either side of local midnight in Asia/Shanghai (an order at 23:59 and one at 00:01), their CSVs read back
with Python's csv module, formula-safe text, and wrong date ranges."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from app.catalog.view_counts import ProductDailyStat
from app.distribution import admin_overview
from app.distribution.models import BindingLog, Commission, Distributor, Visit
from app.marketing import campaigns, coupons
from app.marketing.models import Coupon, MemberAccount, MemberLevel
from app.orders.models import Order, OrderLine, OrderStatus, Refund, RefundRequestStatus
from app.reports import customers, funnel, products, promotions, sales
from app.reports.ranges import DateRange, parse_range, rate_bp
from app.timeutil import SHOP_TZ, set_clock
from tests import factories
from tests.conftest import login

NOW = datetime(2026, 3, 11, 12, 0, tzinfo=SHOP_TZ)
RANGE = DateRange(date(2026, 3, 9), date(2026, 3, 10))
ARGS = "from=2026-03-09&to=2026-03-10"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SHOP_TZ).astimezone(UTC)


@pytest.fixture(autouse=True)
def clock():
    set_clock(NOW.astimezone(UTC))
    yield
    set_clock(None)


_numbers = iter(range(1, 10**6))


def order(session, user, paid_at, *lines, refunded=None) -> Order:
    """lines: (product, qty, paid_fen, refunded_fen)."""
    n = next(_numbers)
    total = sum(line[2] for line in lines)
    placed = Order(
        number=f"R{n:012d}",
        user_id=user.id,
        status=OrderStatus.PAID if paid_at else OrderStatus.PENDING_PAYMENT,
        goods_fen=total,
        total_fen=total,
        refunded_fen=sum(line[3] for line in lines),
        idempotency_key=f"reports-{n}",
        ship_recipient="林小雨",
        ship_mobile="18612345678",
        ship_region="上海市 浦东新区",
        ship_detail="世纪大道 1 号",
        created_at=paid_at or local(10, 9),
        expires_at=(paid_at or local(10, 9)) + timedelta(minutes=30),
        paid_at=paid_at,
    )
    for product, qty, paid_fen, refunded_fen in lines:
        placed.lines.append(
            OrderLine(
                product_id=product.id,
                title=product.title,
                unit_fen=paid_fen // qty,
                qty=qty,
                subtotal_fen=paid_fen,
                paid_fen=paid_fen,
                refunded_fen=refunded_fen,
            )
        )
    session.add(placed)
    session.flush()
    return placed


def refund(session, of: Order, amount_fen: int, refunded_at: datetime):
    session.add(
        Refund(
            order_id=of.id,
            number=f"RF{next(_numbers):012d}",
            reason="不想要了",
            amount_fen=amount_fen,
            status=RefundRequestStatus.REFUNDED,
            refunded_at=refunded_at,
        )
    )


def commission(session, of: Order, distributor, level: int, fen: int):
    session.add(
        Commission(
            order_id=of.id,
            distributor_id=distributor.id,
            level=level,
            original_fen=fen,
            created_at=of.paid_at,
        )
    )


def visit(session, distributor, key: str, at: datetime, product=None, user=None):
    session.add(
        Visit(
            distributor_id=distributor.id,
            visitor_key=key,
            user_id=user.id if user else None,
            path=f"/p/{product.id}" if product else "/",
            product_id=product.id if product else None,
            ip_hash="x",
            day=at.date(),
            created_at=at,
        )
    )


@pytest.fixture
def shop(app, session):
    """Orders paid (local time): A 9 Mar 23:59 u1 P1×2 ¥100 (¥10 refunded on 11 Mar), B 10 Mar 00:01 u2
    P2×1 ¥50 (¥20 refunded on 10 Mar 10:00), C 10 Mar 12:00 u1 P1×1 ¥10 + P3×2 ¥20; outside the range:
    D 8 Mar 23:59 u3 ¥40 and E 11 Mar 00:01 u3 ¥70; one unpaid order. Commission: A d1 L1 ¥10, B d2 L1 ¥5
    and d1 L2 ¥2. Visits: d1 — v1 (u1) on 9 Mar 23:00 and 10 Mar 08:00, v2 10 Mar, v3 (u3) 10 Mar, v9 8 Mar;
    d2 — v4 (u2) and v5 on 10 Mar, v6 on 11 Mar 00:01. Product counts: P1 9 Mar 10/4/2, 10 Mar 5/3/1,
    8 Mar 100; P2 10 Mar 4/2/1."""
    u1 = factories.UserFactory(nickname="老顾客", created_at=local(1, 8))
    u2 = factories.UserFactory(nickname="小王", created_at=local(9, 23, 59))
    u3 = factories.UserFactory(nickname="小李", created_at=local(10, 0, 1))
    p1 = factories.ProductFactory(title="保温杯")
    p2 = factories.ProductFactory(title="=SUM(A1)")
    p3 = factories.ProductFactory(title="-茶叶")
    d1 = Distributor(user_id=factories.UserFactory(nickname="阿梅").id, code="D1CODE", real_name="+梅雪")
    d2 = Distributor(user_id=factories.UserFactory(nickname="老张").id, code="D2CODE", real_name="@张")
    session.add_all([d1, d2])
    session.flush()
    a = order(session, u1, local(9, 23, 59), (p1, 2, 100_00, 10_00))
    b = order(session, u2, local(10, 0, 1), (p2, 1, 50_00, 20_00))
    order(session, u1, local(10, 12), (p1, 1, 10_00, 0), (p3, 2, 20_00, 0))
    order(session, u3, local(8, 23, 59), (p1, 1, 40_00, 0))
    order(session, u3, local(11, 0, 1), (p2, 1, 70_00, 0))
    order(session, u3, None, (p1, 1, 99_00, 0))
    order(session, u1, local(1, 10), (p3, 1, 5_00, 0))  # u1 bought before the range: returning
    gold = MemberLevel(name="金卡", growth_threshold=1000)
    session.add(gold)
    session.flush()
    session.add(MemberAccount(user_id=u1.id, level_id=gold.id, growth=1000))
    # Promotions: B's line was in a timed discount (¥60 → ¥50); C took ¥3 off with a coupon and ¥2 by
    # full reduction; the order of the 8th used the same coupon (outside the range).
    timed = factories.running_discount(
        session, campaigns.ItemDraft(sku_id=p2.skus[0].id, price_fen=50_00), name="春季限时"
    )
    b.lines[0].activity_kind, b.lines[0].activity_id, b.lines[0].list_unit_fen = "timed", timed.id, 60_00
    c = session.scalars(select(Order).where(Order.paid_at == local(10, 12))).one()
    c.coupon_fen, c.full_reduction_fen = 3_00, 2_00
    template = coupons.save_template(
        session,
        None,
        {
            "name": "=HYPERLINK(1)",
            "kind": "amount",
            "channel": "centre",
            "value_fen": 3_00,
            "threshold_fen": 0,
            "total_qty": 0,
            "per_user_limit": 1,
            "scope_kind": "all",
            "valid_days": 7,
        },
    )
    session.flush()
    d = session.scalars(select(Order).where(Order.paid_at == local(8, 23, 59))).one()
    for used in (c, d):
        session.add(
            Coupon(
                template_id=template.id,
                user_id=used.user_id,
                status="used",
                source="centre",
                valid_from=local(1, 0),
                valid_until=local(20, 0),
                order_id=used.id,
                used_at=used.paid_at,
            )
        )
    refund(session, a, 10_00, local(11, 0, 30))
    refund(session, b, 20_00, local(10, 10))
    commission(session, a, d1, 1, 10_00)
    commission(session, b, d2, 1, 5_00)
    commission(session, b, d1, 2, 2_00)
    visit(session, d1, "v1", local(9, 23), p1, u1)
    visit(session, d1, "v1", local(10, 8), p1, u1)
    visit(session, d1, "v2", local(10, 10), p1)
    visit(session, d1, "v3", local(10, 11), p1, u3)
    visit(session, d1, "v9", local(8, 23, 59), p1, u1)
    visit(session, d2, "v4", local(10, 0, 30), p2, u2)
    visit(session, d2, "v5", local(10, 9), p2)
    visit(session, d2, "v6", local(11, 0, 1), p2)
    session.add_all(
        [
            BindingLog(user_id=u1.id, new_parent_id=d1.user_id, reason="first_bind", created_at=local(9, 23)),
            BindingLog(user_id=u3.id, new_parent_id=d1.user_id, reason="first_bind", created_at=local(8, 12)),
            ProductDailyStat(product_id=p1.id, day=date(2026, 3, 9), views=10, visitors=4, cart_adds=2),
            ProductDailyStat(product_id=p1.id, day=date(2026, 3, 10), views=5, visitors=3, cart_adds=1),
            ProductDailyStat(product_id=p1.id, day=date(2026, 3, 8), views=100, visitors=50, cart_adds=9),
            ProductDailyStat(product_id=p2.id, day=date(2026, 3, 10), views=4, visitors=2, cart_adds=1),
        ]
    )
    session.commit()
    return {"p1": p1, "p2": p2, "p3": p3, "d1": d1, "d2": d2, "timed": timed, "coupon": template}


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_rates_are_integer_basis_points_rounded_half_up():
    assert rate_bp(1, 7) == 1429
    assert rate_bp(10_00, 110_00) == 909
    assert rate_bp(1, 3) == 3333
    assert rate_bp(2, 3) == 6667
    assert rate_bp(5, 0) is None


def test_sales_by_day(shop, session):
    report = sales.sales_by_day(session, RANGE)
    assert [
        (d.day.day, d.orders, d.paid_fen, d.customers, d.refunds, d.refunded_fen) for d in report.days
    ] == [
        (9, 1, 100_00, 1, 0, 0),  # A at 23:59 local is the 9th
        (10, 2, 80_00, 2, 1, 20_00),  # B at 00:01 local is the 10th; B's refund that morning
    ]
    t = report.total
    assert (t.orders, t.paid_fen, t.customers, t.refunded_fen, t.net_fen) == (3, 180_00, 2, 20_00, 160_00)


def test_sales_csv_round_trips(shop, owner_client):
    rows = read_csv(owner_client.get(f"/admin/reports/sales.csv?{ARGS}"))
    assert len(rows[0]) == 8
    assert rows[1:] == [
        ["2026-03-09", "1", "100.00", "1", "100.00", "0", "0.00", "100.00"],
        ["2026-03-10", "2", "80.00", "2", "40.00", "1", "20.00", "60.00"],
    ]


def test_products(shop, session):
    report = products.products_report(session, RANGE)
    got = [
        (
            r.title,
            r.views,
            r.visitors,
            r.cart_adds,
            r.orders,
            r.units,
            r.paid_fen,
            r.refund_rate_bp,
            r.conversion_bp,
        )
        for r in report.rows
    ]
    assert got == [
        ("保温杯", 15, 7, 3, 2, 3, 110_00, 909, 1429),
        ("=SUM(A1)", 4, 2, 1, 1, 1, 50_00, 4000, 5000),
        ("-茶叶", 0, 0, 0, 1, 2, 20_00, 0, None),
    ]
    assert [n for _d, n in report.views_by_day] == [10, 9]
    assert [r.title for r in products.products_report(session, RANGE, q="茶").rows] == ["-茶叶"]
    assert [r.title for r in products.products_report(session, RANGE, sort="views").rows][0] == "保温杯"
    assert [r.title for r in products.products_report(session, RANGE, sort="conversion").rows][
        0
    ] == "=SUM(A1)"


def test_products_page_and_csv(shop, owner_client):
    page = owner_client.get(f"/admin/reports/products?{ARGS}").get_data(as_text=True)
    assert 'id="product-' in page and "90.9%" not in page and "9.09%" in page and "14.29%" in page
    rows = read_csv(owner_client.get(f"/admin/reports/products.csv?{ARGS}"))
    assert rows[1:] == [
        ["1", str(shop["p1"].id), "保温杯", "15", "7", "3", "2", "3", "110.00", "9.09%", "14.29%"],
        ["2", str(shop["p2"].id), "'=SUM(A1)", "4", "2", "1", "1", "1", "50.00", "40%", "50%"],
        ["3", str(shop["p3"].id), "'-茶叶", "0", "0", "0", "1", "2", "20.00", "0%", "—"],
    ]


def test_funnel_per_distributor(shop, session):
    report = funnel.by_distributor(session, RANGE)
    got = [
        (
            r.key,
            r.visits,
            r.visitors,
            r.bound,
            r.ordering_visitors,
            r.orders,
            r.paid_fen,
            r.commission_fen,
            r.conversion_bp,
        )
        for r in report.rows
    ]
    d1, d2 = shop["d1"].id, shop["d2"].id
    assert got == [
        (d1, 4, 3, 1, 1, 1, 100_00, 12_00, 3333),
        (d2, 2, 2, 0, 1, 1, 50_00, 5_00, 5000),
    ]
    t = report.total
    assert (t.visits, t.visitors, t.ordering_visitors, t.conversion_bp) == (6, 5, 2, 4000)
    assert [n for _d, n in report.visits_by_day] == [1, 5]  # v1 on the 9th; v1 v2 v3 v4 v5 on the 10th
    assert [r.key for r in funnel.by_distributor(session, RANGE, q="d2code").rows] == [d2]


def test_funnel_per_product(shop, session):
    report = funnel.by_product(session, RANGE)
    got = [
        (
            r.label,
            r.visits,
            r.visitors,
            r.ordering_visitors,
            r.orders,
            r.paid_fen,
            r.commission_fen,
            r.conversion_bp,
        )
        for r in report.rows
    ]
    assert got == [
        ("保温杯", 4, 3, 1, 1, 100_00, 10_00, 3333),
        ("=SUM(A1)", 2, 2, 1, 1, 50_00, 7_00, 5000),
    ]


def test_funnel_csv_is_formula_safe(shop, owner_client):
    rows = read_csv(owner_client.get(f"/admin/reports/funnel.csv?{ARGS}"))
    assert [row[1][:1] for row in rows[1:]] == ["'", "'"]  # +梅雪（阿梅）, @张（老张）
    assert rows[1][2:] == ["4", "3", "1", "1", "1", "100.00", "12.00", "33.33%"]
    rows = read_csv(owner_client.get(f"/admin/reports/funnel.csv?{ARGS}&by=product"))
    assert rows[2][1:] == ["'=SUM(A1)", "2", "2", "", "1", "1", "50.00", "7.00", "50%"]
    for row in rows[1:]:
        for cell in row:
            assert cell[:1] not in ("=", "+", "@") and not (cell.startswith("-") and not cell[1:2].isdigit())


def test_the_overview_conversion_is_ordering_visitors_over_visitors(app, session):
    """One visitor ordered twice through a share: the overview said 200 % (orders ÷ visitors)."""
    buyer = factories.UserFactory()
    product = factories.ProductFactory()
    d1 = Distributor(user_id=factories.UserFactory().id, code="OVCODE")
    session.add(d1)
    session.flush()
    for hour in (10, 11):
        placed = order(session, buyer, local(11, hour), (product, 1, 10_00, 0))
        commission(session, placed, d1, 1, 1_00)
    visit(session, d1, "only-one", local(11, 9), product, buyer)
    visit(session, d1, "another", local(11, 9))
    session.commit()
    shares = admin_overview.shares(session, date(2026, 3, 1), local(1, 0))
    assert (shares.visitors, shares.orders, shares.ordering_visitors) == (2, 2, 1)
    assert shares.conversion_bp == 5000


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=2026-13-01&to=2026-03-10", "YYYY-MM-DD"),
        ("from=2026-03-10&to=2026-03-01", "start date is after"),
        ("from=2024-01-01&to=2026-03-10", "366"),
        ("from=abc", "YYYY-MM-DD"),
        ("to=" + "9" * 400, "YYYY-MM-DD"),
        ("from=0001-01-01", "YYYY-MM-DD"),
    ],
)
def test_bad_date_ranges_say_so_and_show_the_last_30_days(app, owner_client, query, message):
    for path in (
        "sales",
        "products",
        "funnel",
        "funnel?by=product&",
        "products?sort=bogus&",
        "customers",
        "promotions",
    ):
        joiner = "" if path.endswith("&") else "?"
        response = owner_client.get(f"/admin/reports/{path}{joiner}{query}")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert 'id="date-problem"' in page
    with app.test_request_context():
        period, problem = parse_range(
            *[dict(p.split("=", 1) for p in query.split("&")).get(k) for k in ("from", "to")]
        )
    assert problem and period == DateRange(date(2026, 2, 10), date(2026, 3, 11))
    assert owner_client.get(f"/admin/reports/sales.csv?{query}").status_code == 200


def test_a_range_with_no_problem_has_no_message(shop, owner_client):
    for path in ("sales", "products", "funnel", "funnel?by=product", "customers", "promotions"):
        page = owner_client.get(f"/admin/reports/{path}").get_data(as_text=True)
        assert 'id="date-problem"' not in page and "<svg" in page


def test_only_back_office_users_with_reports_see_them(shop, client):
    assert client.get("/admin/reports/sales").status_code == 302  # to the login
    login(client, factories.UserFactory())
    for path in (
        "sales",
        "sales.csv",
        "products",
        "products.csv",
        "funnel",
        "funnel.csv",
        "customers",
        "customers.csv",
        "promotions",
        "promotions.csv",
    ):
        assert client.get(f"/admin/reports/{path}").status_code == 403


def test_customers(shop, session):
    report = customers.customers_report(session, RANGE, "无等级")
    got = [
        (r.label, r.customers, r.new, r.returning, r.repeat, r.orders, r.paid_fen, r.repeat_rate_bp)
        for r in report.levels
    ]
    assert got == [("金卡", 1, 0, 1, 1, 2, 130_00, 10000), ("无等级", 1, 1, 0, 0, 1, 50_00, 0)]
    t = report.total
    assert (t.customers, t.new, t.returning, t.repeat, t.repeat_rate_bp) == (2, 1, 1, 1, 5000)
    # u2 registered at 23:59 on the 9th, u3 at 00:01 on the 10th (local)
    assert (report.registered, [n for _d, n in report.registered_by_day]) == (2, [1, 1])


def test_customers_csv(shop, owner_client):
    rows = read_csv(owner_client.get(f"/admin/reports/customers.csv?{ARGS}"))
    assert rows[1:] == [
        ["金卡", "1", "0", "1", "1", "100%", "2", "130.00"],
        ["无等级", "1", "1", "0", "0", "0%", "1", "50.00"],
        ["合计", "2", "1", "1", "1", "50%", "3", "180.00"],
    ]


def test_promotions(shop, session):
    report = promotions.promotions_report(session, RANGE, "满减")
    got = [(r.kind, r.label, r.orders, r.discount_fen) for r in report.rows]
    assert got == [
        ("timed", "春季限时", 1, 10_00),
        ("coupon", "=HYPERLINK(1)", 1, 3_00),  # the order of the 8th is outside the range
        ("full_reduction", "满减", 1, 2_00),
    ]
    assert [n for _d, n in report.discount_by_day] == [0, 5_00]


def test_promotions_csv_is_formula_safe(shop, owner_client):
    rows = read_csv(owner_client.get(f"/admin/reports/promotions.csv?{ARGS}"))
    assert rows[1:] == [
        ["限时折扣", "春季限时", "1", "10.00"],
        ["优惠券", "'=HYPERLINK(1)", "1", "3.00"],
        ["满减", "满减", "1", "2.00"],
    ]


def test_the_overview_conversion_rounds_as_the_funnel_does(app, session):
    """2 of 3 visitors ordered: 66.67 % on the funnel report (half up), so on the overview too (not 66.66 %)."""
    product = factories.ProductFactory()
    d1 = Distributor(user_id=factories.UserFactory().id, code="OVROUND")
    session.add(d1)
    session.flush()
    for name in ("one", "two"):
        buyer = factories.UserFactory()
        placed = order(session, buyer, local(11, 10), (product, 1, 10_00, 0))
        commission(session, placed, d1, 1, 1_00)
        visit(session, d1, f"round-{name}", local(11, 9), product, buyer)
    visit(session, d1, "round-three", local(11, 9))
    session.commit()
    shares = admin_overview.shares(session, date(2026, 3, 1), local(1, 0))
    report = funnel.by_distributor(session, DateRange(date(2026, 3, 1), date(2026, 3, 11)))
    assert report.total.conversion_bp == 6667
    assert shares.conversion_bp == report.total.conversion_bp


def test_a_flash_session_counts_an_order_once(app, session):
    """One order bought two items of the same flash-sale session: the session has 1 order, not 2."""
    from app.marketing.models import FlashItem, FlashSession

    p1, p2 = factories.ProductFactory(), factories.ProductFactory()
    run = FlashSession(name="午间秒杀", start_minute=720, duration_minutes=60)
    session.add(run)
    session.flush()
    items = [FlashItem(session_id=run.id, sku_id=p.skus[0].id, price_fen=5_00, stock=10) for p in (p1, p2)]
    session.add_all(items)
    session.flush()
    placed = order(session, factories.UserFactory(), local(10, 12, 5), (p1, 1, 5_00, 0), (p2, 1, 5_00, 0))
    for line, item in zip(placed.lines, items, strict=True):
        line.activity_kind, line.activity_id, line.list_unit_fen = "flash", item.id, 8_00
    session.commit()
    report = promotions.promotions_report(session, RANGE)
    assert [(r.kind, r.label, r.orders, r.discount_fen) for r in report.rows] == [
        ("flash", "午间秒杀", 1, 6_00)
    ]


def test_the_pages_say_on_which_day_a_refund_counts(shop, owner_client):
    """Sales by day puts a refund on the day the money went back; the products' refund rate puts it on the
    order's day. Each page says which (the two would otherwise seem to disagree)."""
    sales_page = owner_client.get(f"/admin/reports/sales?{ARGS}").get_data(as_text=True)
    assert "退款计入钱退回的当天" in sales_page
    products_page = owner_client.get(f"/admin/reports/products?{ARGS}").get_data(as_text=True)
    assert "至今已退款的比例" in products_page
