"""`flask seed-demo`: the demo shop a new user sees after `make run` — its catalog, and five weeks of
orders and distribution in every state, made through the services — and that seeding twice is harmless."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from PIL import Image
from sqlalchemy import func, select

from app import demo, demo_history, orders
from app.accounts.models import User
from app.admin.orders import staff_actions
from app.catalog.models import Category, Product
from app.demo import DEMO_OWNER_MOBILE, DEMO_PASSWORD, DEMO_STAFF_MOBILE, SHOP_NAME
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import (
    BindingLog,
    Commission,
    CommissionExplanation,
    DistributorApplication,
    DistributorGrade,
    DistributorGradeLog,
    DividendDay,
    EntryKind,
    LedgerEntry,
    Visit,
    Withdrawal,
)
from app.extensions import db
from app.jobs import JobRun
from app.marketing import flash_display, groups
from app.marketing.models import BuyGroup, BuyGroupStatus, GroupBuy, GroupRefundState
from app.media import THUMBNAIL_SIZES, thumbnail_key
from app.orders.models import Order, OrderEvent, OrderStatus, RefundStatus
from app.payments.models import Payment
from app.settings.services import get_shop_settings
from app.timeutil import SHOP_TZ, utcnow
from tests import factories
from tests.conftest import login


def database_snapshot(session) -> dict[str, list[tuple]]:
    """Every row of every table, so that "nothing changed" means exactly that."""
    session.expire_all()
    snapshot = {}
    for table in db.metadata.sorted_tables:
        rows = session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        snapshot[table.name] = [tuple(row) for row in rows]
    return snapshot


def stored_files(app) -> set[str]:
    folder = Path(app.config["UPLOAD_FOLDER"])
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def assert_stored_with_thumbnails(app, key: str) -> None:
    folder = Path(app.config["UPLOAD_FOLDER"])
    with Image.open(folder / key) as image:
        assert image.format in ("JPEG", "PNG")
    for size in THUMBNAIL_SIZES:
        with Image.open(folder / thumbnail_key(key, size)) as thumb:
            assert max(thumb.size) <= size


def test_demo_shop_is_believable_and_seeding_again_only_fills_gaps(app, runner, session, client):
    result = runner.invoke(args=["seed-demo", "--url", "http://shop.example.cn/"])
    assert result.exit_code == 0, result.output
    assert "http://shop.example.cn/admin/login" in result.output
    assert DEMO_OWNER_MOBILE in result.output and DEMO_PASSWORD in result.output

    settings = get_shop_settings(session)
    assert settings.name == SHOP_NAME
    assert settings.announcement and settings.service_phone
    assert_stored_with_thumbnails(app, settings.logo_key)
    assert_stored_with_thumbnails(app, settings.service_wechat_qr_key)

    categories = session.scalars(select(Category)).all()
    top = [c for c in categories if c.parent_id is None]
    assert len(top) >= 6
    assert sum(1 for c in top if c.children) >= 2
    for category in categories:
        assert_stored_with_thumbnails(app, category.icon_key)

    products = session.scalars(select(Product)).all()
    assert len(products) >= 30
    assert len({p.title for p in products}) == len(products)
    for product in products:
        assert 2 <= len(product.images) <= 4, product.title
        assert product.category_id is not None
        assert "\n" in product.description, product.title
        assert product.active_skus and all(sku.price_fen > 0 for sku in product.active_skus)
    for image in products[0].images:
        assert_stored_with_thumbnails(app, image.image_key)
    # Distinct pictures per product, not one picture reused everywhere.
    assert len({p.main_image_key for p in products}) == len(products)

    assert sum(1 for p in products if len(p.options) == 2) >= 5  # 颜色 × 尺码 and the like
    assert any(sku.original_price_fen for p in products for sku in p.skus)
    sold_out_skus = [sku for p in products if not p.is_sold_out for sku in p.active_skus if sku.stock == 0]
    assert len(sold_out_skus) >= 3
    assert [p.title for p in products if p.is_sold_out and p.is_on_shelf] == ["宁夏硒砂瓜"]
    assert [p.title for p in products if not p.is_on_shelf] == ["秋冬护手霜礼盒"]
    assert sum(1 for p in products if p.sales_count) >= 25

    roles = dict(session.execute(select(User.mobile, User.role)).all())
    assert roles[DEMO_OWNER_MOBILE] == "owner"
    assert roles[DEMO_STAFF_MOBILE] == "staff"
    assert list(roles.values()).count("customer") >= 2

    assert "Demo history:" in result.output and "ledger audit clean" in result.output
    assert f"{demo_history.DISTRIBUTOR_LOGIN.mobile}  password {DEMO_PASSWORD}" in result.output
    assert "http://shop.example.cn/d " in result.output
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5), "the seed left the clock set"
    running = [run for run in flash_display.today_runs(session) if run.state == "running"]
    assert running and sum(item.sold for item in running[0].items) > 0, "a 秒杀 on now with units sold"
    assert_group_buys(session)
    assert_orders_in_every_state(session)
    assert_commission_in_every_state(session)
    audit = runner.invoke(args=["ledger", "audit"])
    assert audit.exit_code == 0, audit.output

    before, files_before = database_snapshot(session), stored_files(app)
    again = runner.invoke(args=["seed-demo", "--url", "http://shop.example.cn/"])
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.output
    assert database_snapshot(session) == before
    assert stored_files(app) == files_before

    # A merchant who deleted a demo product and edited another gets the first back, the edit kept.
    session.delete(session.scalar(select(Product).where(Product.title == "烟台红富士苹果")))
    tee = session.scalar(select(Product).where(Product.title == "新疆长绒棉纯色圆领T恤"))
    tee.subtitle = "店主改过的副标题"
    get_shop_settings(session).name = "我的小店"
    session.commit()
    refill = runner.invoke(args=["seed-demo"])
    assert refill.exit_code == 0, refill.output
    assert "added 0 categories and 1 products" in refill.output
    session.expire_all()
    assert session.scalar(select(Product).where(Product.title == "烟台红富士苹果")) is not None
    assert session.scalar(select(Product.subtitle).where(Product.title == tee.title)) == "店主改过的副标题"
    assert get_shop_settings(session).name == "我的小店"

    home = client.get("/")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "我的小店" in page and "烟台红富士苹果" in page and "秋冬护手霜礼盒" not in page
    owner = session.scalar(select(User).where(User.mobile == DEMO_OWNER_MOBILE))
    login(client, owner, DEMO_PASSWORD, admin=True)
    assert client.get("/admin/").status_code == 200
    for page in ("/admin/orders", "/admin/distribution", "/admin/distribution/overview"):
        assert client.get(page).status_code == 200, page
    group_buy_id = session.scalar(select(GroupBuy.id))
    groups_page = client.get(f"/admin/marketing/groups/{group_buy_id}/groups").get_data(as_text=True)
    assert "拼团中" in groups_page and "已成团" in groups_page and "已失败" in groups_page
    assert "运行正常" in client.get("/admin/marketing/groups/refunds").get_data(as_text=True)
    distributor = session.scalar(select(User).where(User.mobile == demo_history.DISTRIBUTOR_LOGIN.mobile))
    phone = app.test_client()
    login(phone, distributor, DEMO_PASSWORD)
    center = phone.get("/d")
    assert center.status_code == 200
    assert demo_history.DISTRIBUTOR_LOGIN.nickname in center.get_data(as_text=True)


def assert_orders_in_every_state(session):
    """Issue 3: the demo includes orders in several states, each reached through the order rules."""
    now = utcnow()
    all_orders = session.scalars(select(Order)).all()
    statuses = Counter(order.status for order in all_orders)
    for status in OrderStatus:
        assert statuses[status] >= 1, status
    assert statuses[OrderStatus.PENDING_PAYMENT] >= 2
    refund_states = Counter(order.refund_status for order in all_orders)
    assert refund_states[RefundStatus.PARTIAL] >= 2 and refund_states[RefundStatus.FULL] >= 1
    assert refund_states[RefundStatus.REQUESTED] >= 1  # an open after-sales request
    assert all(now - timedelta(days=31) <= order.created_at <= now for order in all_orders)
    unpaid = [order for order in all_orders if order.status == OrderStatus.PENDING_PAYMENT]
    assert any(now < order.expires_at <= now + timedelta(minutes=10) for order in unpaid), "about to expire"
    for order in all_orders:
        if order.status == OrderStatus.SHIPPED:
            assert order.carrier and order.tracking_no
        if order.status == OrderStatus.CANCELLED:
            assert order.cancel_reason
    assert len({order.user_id for order in all_orders}) >= 6
    assert session.scalar(select(func.count()).select_from(Payment).where(Payment.needs_refund)) == 1
    flagged = session.scalar(select(Payment).where(Payment.needs_refund))
    assert flagged.order.status == OrderStatus.CANCELLED and flagged.provider == "sandbox"
    assert {p.provider for p in session.scalars(select(Payment))} == {"sandbox", "manual"}
    settings = get_shop_settings(session)
    assert settings.manual_payment_enabled and "账号" in settings.manual_payment_text
    # Real timelines: every order starts with "placed", and its events are in time order.
    for order in all_orders:
        events = session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
        events = list(events)
        assert events[0].action == "placed" and events[0].created_at == order.created_at
        assert [e.created_at for e in events] == sorted(e.created_at for e in events), order.number
    actions = set(session.scalars(select(OrderEvent.action)))
    assert {"shipped", "completed", "auto_completed", "refund_rejected", "refunded", "payment_flagged",
            "manual_payment_claimed", "cancelled"} <= actions  # fmt: skip


def assert_group_buys(session):
    """Issue 10: a running 拼团 with a group one place from full, a full group whose orders can be shipped,
    and a failed group refunded through the sandbox by a real run of flask groups settle."""
    (group_buy,) = session.scalars(select(GroupBuy)).all()
    assert groups.status_of(group_buy) == "running" and not group_buy.pays_commission
    found = {group.status: group for group in session.scalars(select(BuyGroup))}
    assert set(found) == {BuyGroupStatus.OPEN, BuyGroupStatus.FULL, BuyGroupStatus.FAILED}
    assert found[BuyGroupStatus.OPEN].seats_taken == found[BuyGroupStatus.OPEN].size - 1
    full_orders = [member.order for member in found[BuyGroupStatus.FULL].members]
    assert len(full_orders) == found[BuyGroupStatus.FULL].size
    assert all(order.status == OrderStatus.PAID for order in full_orders)
    assert all("ship" in staff_actions(order) for order in full_orders)  # its orders are shippable
    waiting = [member.order for member in found[BuyGroupStatus.OPEN].members]
    assert all("ship" not in staff_actions(order) for order in waiting)  # 待成团
    failed = found[BuyGroupStatus.FAILED].members
    assert len(failed) >= 2
    for member in failed:
        assert member.refund_state == GroupRefundState.DONE and member.order.status == OrderStatus.REFUNDED
        assert member.order.refunded_fen == member.order.total_fen
    assert session.get(JobRun, "groups-settle").result == "failed_groups=1 group_refunds=2 refunds_refused=0"


def assert_commission_in_every_state(session):
    """Issue 4: a small distributor tree with commission in every state, withdrawals in every state."""
    settings = dist.get_settings(session)
    assert (settings.levels, list(settings.rates_bp), settings.freeze_days) == (2, [1000, 500], 7)
    gold = session.scalar(select(DistributorGrade).where(DistributorGrade.name == "金牌"))
    assert gold is not None and gold.rates_bp
    distributors = session.scalars(select(dist.Distributor)).all()
    assert 3 <= len(distributors) <= 5
    assert any(d.grade_id == gold.id for d in distributors)
    # Grades with conditions, and a grade log with a change by hand and upgrades reached by themselves.
    assert session.scalar(select(func.count()).where(DistributorGrade.min_commission_fen.is_not(None)))
    kinds = Counter(session.scalars(select(DistributorGradeLog.kind)))
    assert kinds["manual"] >= 1 and kinds["automatic"] >= 2, kinds
    # A tree at least three deep: A ← B ← C, and shoppers bound below.
    depth = max(len(dist.ancestor_ids(session, d.user_id)) for d in distributors)
    assert depth >= 2
    assert session.scalar(select(func.count()).select_from(BindingLog)) >= 8

    commissions = session.scalars(select(Commission)).all()
    states = Counter(c.status for c in commissions)
    assert states["frozen"] and states["released"] and states["voided"]
    assert all(c.void_reason for c in commissions if c.status == "voided")
    assert any(c.held and c.status == "frozen" for c in commissions)
    flags = session.scalars(select(CommissionExplanation.flags)).all()
    assert any(any(flag["kind"] == "same_address" for flag in f) for f in flags)
    kinds = set(session.scalars(select(LedgerEntry.kind)))
    assert set(EntryKind) <= kinds  # frozen credit, release, reversal, claw-back, void, withdrawals

    withdrawals = session.scalars(select(Withdrawal)).all()
    assert {w.status for w in withdrawals} == {"requested", "approved", "paid", "rejected"}
    assert all(w.reference for w in withdrawals if w.status == "paid")
    assert all(w.reject_reason for w in withdrawals if w.status == "rejected")
    applications = Counter(a.status for a in session.scalars(select(DistributorApplication)))
    assert applications["pending"] == 1 and applications["rejected"] == 1 and applications["approved"] >= 1
    assert session.scalar(select(func.count()).select_from(Visit)) >= 20
    assert not ledger.audit(session)
    jobs = {run.name: run for run in session.scalars(select(JobRun))}
    assert jobs["distribution-settle"].ok and jobs["ledger-audit"].result == "mismatches=0"
    # Two weeks of static dividends, paid night after night from the orders that became final each day.
    assert jobs["distribution-dividends"].ok and jobs["distribution-dividends"].result.startswith("days=0")
    settings = dist.get_settings(session)
    assert (
        settings.dividends_enabled
        and settings.dividend_mode == "static"
        and settings.dividends_acknowledged_at
    )
    largest = max(sum(g.rates_bp or settings.rates_bp) for g in session.scalars(select(DistributorGrade)))
    ratios = sum(session.scalars(select(DistributorGrade.dividend_ratio_bp)))
    assert ratios > 0 and largest + ratios <= 3000
    days = session.scalars(select(DividendDay).order_by(DividendDay.day)).all()
    assert len(days) == 14 and days[-1].day == utcnow().astimezone(SHOP_TZ).date() - timedelta(days=1)
    assert len({d.turnover_fen for d in days if d.orders}) >= 3 and sum(d.paid_fen for d in days) > 0
    final_days = {o.final_at.astimezone(SHOP_TZ).date() for o in session.scalars(select(Order)) if o.final_at}
    assert len(final_days) >= 5


def test_demo_history_is_never_added_to_a_shop_that_has_orders(app, session):
    shopper = factories.UserFactory()
    product = factories.ProductFactory()
    orders.checkout.place_order(
        session,
        user=shopper,
        items={product.skus[0].id: 1},
        address_id=factories.AddressFactory(user=shopper).id,
        idempotency_key="a-real-order-000001",
    )
    session.commit()
    before = database_snapshot(session)
    said = []
    assert demo._seed_history(session, utcnow(), said.append) is None
    assert database_snapshot(session) == before
    assert said == []


def test_demo_history_needs_the_demo_catalog_and_leaves_nothing_half_done(app, session):
    factories.UserFactory(mobile=DEMO_OWNER_MOBILE, role="owner")
    before = database_snapshot(session)
    said = []
    assert demo._seed_history(session, utcnow(), said.append) is None
    assert "not added" in said[0] and "missing" in said[0]
    assert database_snapshot(session) == before
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_seed_demo_if_empty_leaves_a_real_shop_alone(runner, session):
    factories.ProductFactory(title="店主自己的商品")
    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    session.expire_all()
    assert [p.title for p in session.scalars(select(Product))] == ["店主自己的商品"]
    assert session.scalar(select(User).where(User.mobile == DEMO_OWNER_MOBILE)) is None
