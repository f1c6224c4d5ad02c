"""The reports (数据) in a real browser at 1366×800 and on a 375×812 phone: the chart, the table (which
scrolls inside its box on the phone, never the page), the range form; screenshots in test-artifacts/."""

from datetime import date, timedelta

from playwright.sync_api import expect

from app.accounts import services as accounts
from app.accounts.models import Role
from app.catalog.view_counts import ProductDailyStat
from app.distribution.models import Commission, Distributor
from app.extensions import db
from app.timeutil import set_clock
from tests import factories
from tests.test_reports import NOW, local, order, visit

OWNER_MOBILE, OWNER_PASSWORD = "13800000000", "owner1234"


def _seed():
    session = db.session
    accounts.create_admin(session, mobile=OWNER_MOBILE, password=OWNER_PASSWORD, role=Role.OWNER)
    buyers = [factories.UserFactory(nickname=f"顾客{n}") for n in range(6)]
    items = [
        factories.ProductFactory(title=t)
        for t in ("保温杯 500ml", "手冲咖啡壶", "真丝围巾", "有机红茶 100g", "蓝牙耳机")
    ]
    sharers = [
        Distributor(user_id=factories.UserFactory(nickname=n).id, code=f"CODE{i}", real_name=r)
        for i, (n, r) in enumerate((("阿梅", "梅雪"), ("老张", "张伟"), ("小林", "")))
    ]
    session.add_all(sharers)
    session.flush()
    for day in range(10, 40):  # 10 Feb – 11 Mar
        month, dom = (2, day) if day <= 28 else (3, day - 28)
        for n in range(day % 4 + 1):
            buyer, item = buyers[(day + n) % 6], items[(day * 3 + n) % 5]
            moment = local(dom, 9 + n * 3).replace(month=month) if month == 2 else local(dom, 9 + n * 3)
            placed = order(
                session, buyer, moment, (item, 1 + n % 2, (59_00 + day * 137 + n * 990) * (1 + n % 2), 0)
            )
            if n % 2 == 0:
                session.add(
                    Commission(
                        order_id=placed.id,
                        distributor_id=sharers[n % 3].id,
                        level=1,
                        original_fen=placed.total_fen // 10,
                        created_at=moment,
                    )
                )
            visit(
                session,
                sharers[(day + n) % 3],
                f"v{day}-{n}",
                moment.replace(hour=max(moment.hour - 1, 0)),
                item,
                buyer,
            )
            visit(session, sharers[(day + n + 1) % 3], f"a{day}-{n}", moment, item)
    for d in range(1, 31):
        for i, item in enumerate(items):
            session.add(
                ProductDailyStat(
                    product_id=item.id,
                    day=date(2026, 2, 9) + timedelta(days=d),
                    views=20 + (d * 7 + i * 13) % 40,
                    visitors=10 + (d + i) % 15,
                    cart_adds=(d + i) % 6,
                )
            )
    session.commit()


def _page_fits(page) -> bool:
    """Nothing makes the page itself scroll sideways (a wide table scrolls inside its own box)."""
    page.wait_for_load_state("load")
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _log_in(page, live_server):
    page.goto(live_server("/admin/login"))
    page.fill("input[name=mobile]", OWNER_MOBILE)
    page.fill("input[name=password]", OWNER_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url("**/admin/")


def test_two_reports_on_a_desktop_and_a_phone(
    live_server, desktop, desktop_errors, phone, phone_errors, shot
):
    desktop_errors.allow(r"status of 404 .*/favicon\.ico\]$")
    phone_errors.allow(r"status of 404 .*/favicon\.ico\]$")
    set_clock(NOW)
    try:
        _seed()
        desktop.set_viewport_size({"width": 1366, "height": 800})
        _log_in(desktop, live_server)
        desktop.get_by_role("link", name="数据").first.click()
        expect(desktop.locator("#sales-days")).to_be_visible()
        expect(desktop.locator("svg.line-chart-wide polyline.line")).to_be_visible()
        shot(desktop, "sales-1366", full_page=True)
        desktop.get_by_role("link", name="分销漏斗").click()
        expect(desktop.locator("#report-funnel")).to_be_visible()
        expect(desktop.locator("#funnel-conversion")).to_contain_text("%")
        shot(desktop, "funnel-1366", full_page=True)
        desktop.select_option("select[name=by]", "product")
        desktop.get_by_role("button", name="查看").click()
        expect(desktop.locator("#report-funnel th").first).to_have_text("商品")
        desktop.fill("input[name=from]", "2026-03-10")
        desktop.fill("input[name=to]", "2026-03-01")
        desktop.get_by_role("button", name="查看").click()
        expect(desktop.locator("#date-problem")).to_contain_text("开始日期")

        _log_in(phone, live_server)
        phone.goto(live_server("/admin/reports/products"))
        expect(phone.locator("#report-products")).to_be_visible()
        expect(phone.locator("svg.line-chart-narrow polyline.line")).to_be_visible()
        assert _page_fits(phone)
        shot(phone, "products-375", full_page=True)
        phone.goto(live_server("/admin/reports/sales"))
        expect(phone.locator("#sales-days")).to_be_visible()
        assert _page_fits(phone)
        shot(phone, "sales-375", full_page=True)
    finally:
        set_clock(None)
