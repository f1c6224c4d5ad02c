"""秒杀 flash sales (MARKETING.md, "秒杀") on SQLite and PostgreSQL: the flash price through price_basket, the
flash stock and the SKU stock taken with the order and given back once when it expires or is cancelled,
the limits, the unpaid order a shopper is sent to pay, refusals that change nothing, and kept pages that
follow a session's start, end and changes. The rush over HTTP is in test_flash_rush.py."""

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import orders
from app.catalog.models import Sku
from app.marketing import campaigns, flash, flash_display, offers
from app.marketing.errors import MarketingError
from app.marketing.models import FlashItem, FlashSession, FlashSlot, MarketingSettings, MemberLevel
from app.orders.events import OrderError
from app.orders.models import Order, OrderStatus
from app.settings.models import ShopSettings
from app.timeutil import SHOP_TZ, set_clock, utcnow
from tests import factories
from tests.conftest import login
from tests.test_orders import key
from tests.test_page_cache import visit
from tests.test_shop_orders import checkout_form


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture
def shop(session):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=0, order_expire_minutes=30))
    session.add(MarketingSettings(id=1))
    session.commit()


@pytest.fixture
def shopper(app):
    return factories.UserFactory()


@pytest.fixture
def address(shopper):
    return factories.AddressFactory(user=shopper)


@pytest.fixture
def tee(app):
    return factories.ProductFactory(title="T恤", skus=[{"price_fen": 100_00, "stock": 20}])


def today(offset_days: int = 0):
    return utcnow().astimezone(SHOP_TZ).date() + timedelta(days=offset_days)


def flash_session(session, sku, *, price_fen=10_00, stock=5, day=0, name="今日秒杀", **limits) -> FlashItem:
    """A session running all day on the shop's date `day` days from today (0: it is on now), one SKU in it."""
    found = flash.save_session(
        session,
        None,
        {
            "name": name,
            "start_minute": 0,
            "duration_minutes": 24 * 60,
            "repeat": "dates",
            "dates": [today(day)],
        },
    )
    item = flash.save_item(
        session,
        found,
        flash.ItemDraft(sku.id, price_fen=price_fen, stock=stock, **({"per_user_limit": 1} | limits)),
    )
    session.commit()
    return item


def place(session, shopper, address, items, n=1):
    chosen = offers.for_basket(session, shopper.id, list(items))
    order = orders.checkout.place_order(
        session, user=shopper, items=items, address_id=address.id, idempotency_key=key(n), offers=chosen
    )
    session.commit()
    return order


def stocks(session, item: FlashItem) -> tuple[int, int, int]:
    """(flash stock, flash sold, SKU stock) as the database has them now."""
    session.expire_all()
    found = session.get(FlashItem, item.id)
    return found.stock, found.sold, session.get(Sku, found.sku_id).stock


def order_count(session) -> int:
    return session.scalar(select(func.count()).select_from(Order))


def test_a_flash_line_is_priced_by_price_basket_at_the_flash_price_with_no_member_price_on_top(
    session, shop, shopper, address, tee
):
    session.add(MemberLevel(name="金卡", growth_threshold=0, discount_bp=9000))
    session.commit()
    sku = tee.skus[0]
    item = flash_session(session, sku, price_fen=39_00)
    found = offers.for_basket(session, shopper.id, [sku.id])
    assert found.activities[sku.id].kind == "flash" and found.activities[sku.id].unit_fen == 39_00

    order = place(session, shopper, address, {sku.id: 1})
    line = order.lines[0]
    assert (line.unit_fen, line.list_unit_fen, line.activity_kind, line.activity_id) == (
        39_00,
        100_00,
        "flash",
        item.id,
    )
    assert (line.pays_commission, line.earns_points) == (
        False,
        False,
    )  # off by default, like the timed discount
    assert order.total_fen == 39_00
    assert stocks(session, item) == (4, 1, 19)


def test_a_sku_is_in_one_activity_at_a_time_whichever_comes_first(session, shop, tee):
    shirt, other = tee.skus[0], factories.ProductFactory(skus=[{"price_fen": 50_00, "stock": 9}]).skus[0]
    factories.running_discount(session, campaigns.ItemDraft(shirt.id, price_fen=80_00), name="周末折扣")
    session.commit()
    with pytest.raises(MarketingError, match="已参加“周末折扣”"):
        flash_session(session, shirt)  # a 秒杀 run today, while the 限时折扣 runs
    session.rollback()

    flash_session(session, other, name="早场")
    with pytest.raises(MarketingError, match="已参加“早场”"):
        factories.running_discount(session, campaigns.ItemDraft(other.id, price_fen=40_00))
    session.rollback()
    with pytest.raises(MarketingError, match="已参加“早场”"):
        flash_session(session, other, name="同一天另一场")  # another flash session at the same time
    session.rollback()
    assert flash_session(session, other, name="明天", day=1).sku_id == other.id  # another day is fine

    # a session of tomorrow holding the shirt, moved onto today while the 限时折扣 runs
    later = flash_session(session, shirt, name="改期", day=1)
    moved = session.get(FlashSession, later.session_id)
    data = {
        "name": "改期",
        "start_minute": 0,
        "duration_minutes": 24 * 60,
        "repeat": "dates",
        "dates": [today()],
    }
    with pytest.raises(MarketingError, match="已参加“周末折扣”"):
        flash.save_session(session, moved, data)
    session.rollback()
    assert [slot.starts_at.astimezone(SHOP_TZ).date() for slot in moved.slots] == [today(1)]


def test_a_sold_out_or_ended_flash_item_prices_nothing(session, shop, tee):
    sku = tee.skus[0]
    item = flash_session(session, sku, stock=1)
    assert flash.activities_for_skus(session, [sku.id])
    session.get(FlashItem, item.id).stock = 0
    session.commit()
    assert flash.activities_for_skus(session, [sku.id]) == {}
    ended = flash_session(session, factories.ProductFactory().skus[0], day=-1, name="昨天")
    assert flash.activities_for_skus(session, [ended.sku_id]) == {}


def test_an_unpaid_flash_order_expires_after_its_short_window_and_gives_both_stocks_back_once(
    session, runner, shop, shopper, address, tee
):
    item = flash_session(session, tee.skus[0], stock=5)
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    assert order.expires_at == order.created_at + timedelta(minutes=flash.DEFAULT_PAY_MINUTES)
    assert stocks(session, item) == (4, 1, 19)

    set_clock(utcnow() + timedelta(minutes=4))
    assert orders.transitions.expire_due_orders(session) == 0
    set_clock(utcnow() + timedelta(minutes=2))
    result = runner.invoke(args=["orders", "expire"])  # the same job as every order's, no new cron line
    assert result.exit_code == 0, result.output
    assert stocks(session, item) == (5, 0, 20)
    assert runner.invoke(args=["orders", "expire"]).exit_code == 0
    assert orders.transitions.expire_due_orders(session) == 0
    assert stocks(session, item) == (5, 0, 20)
    assert session.get(Order, order.id).status == OrderStatus.CANCELLED


def test_a_cancelled_flash_order_gives_both_stocks_back_once(session, shop, shopper, address, tee):
    item = flash_session(session, tee.skus[0], stock=5, per_user_limit=2)
    order = place(session, shopper, address, {tee.skus[0].id: 2})
    assert stocks(session, item) == (3, 2, 18)
    orders.transitions.shopper_cancel(session, order, shopper)
    session.commit()
    assert stocks(session, item) == (5, 0, 20)
    assert not orders.transitions.cancel_order(
        session, session.get(Order, order.id), actor=None, reason="again"
    )
    session.commit()
    assert stocks(session, item) == (5, 0, 20)


def test_limits_per_order_and_per_customer_and_the_unpaid_order_refuse_and_change_nothing(
    session, shop, shopper, address, tee
):
    from tests.test_orders import pay_with_sandbox

    sku = tee.skus[0]
    item = flash_session(session, sku, stock=5, per_user_limit=2, per_order_limit=1)
    with pytest.raises(MarketingError, match="每单最多购买 1 件"):
        place(session, shopper, address, {sku.id: 2})
    session.rollback()
    assert stocks(session, item) == (5, 0, 20) and order_count(session) == 0

    first = place(session, shopper, address, {sku.id: 1})
    with pytest.raises(flash.UnpaidFlashOrder) as refused:
        place(session, shopper, address, {sku.id: 1}, n=2)
    session.rollback()
    assert refused.value.order_number == first.number
    assert stocks(session, item) == (4, 1, 19) and order_count(session) == 1

    pay_with_sandbox(session, first, shopper)
    second = place(session, shopper, address, {sku.id: 1}, n=3)  # the first is paid: 2 held = the limit
    pay_with_sandbox(session, second, shopper)
    with pytest.raises(MarketingError, match="每人限购 2 件"):
        place(session, shopper, address, {sku.id: 1}, n=4)
    session.rollback()
    assert stocks(session, item) == (3, 2, 18) and order_count(session) == 2


def test_flash_stock_is_carved_out_of_the_sku_stock(session, shop, tee):
    found = flash.save_session(
        session,
        None,
        {
            "name": "场次",
            "start_minute": 600,
            "duration_minutes": 60,
            "repeat": "daily",
            "first_date": today(),
            "last_date": today(2),
        },
    )
    assert len(found.slots) == 3
    with pytest.raises(MarketingError, match="不能超过该规格的库存"):
        flash.save_item(session, found, flash.ItemDraft(tee.skus[0].id, price_fen=10_00, stock=21))
    with pytest.raises(MarketingError, match="低于"):
        flash.save_item(session, found, flash.ItemDraft(tee.skus[0].id, price_fen=100_00, stock=1))
    for bad in (
        {"start_minute": 1440},
        {"duration_minutes": 0},
        {"first_date": today(2), "last_date": today()},
        {"last_date": today(200)},
        {"name": ""},
        {"pay_minutes": 61},
    ):
        data = {
            "name": "x",
            "start_minute": 0,
            "duration_minutes": 60,
            "first_date": today(),
            "last_date": today(),
        }
        with pytest.raises(MarketingError):
            flash.save_session(session, None, data | bad)
    session.rollback()


def test_checkout_refuses_a_flash_order_outside_its_session_or_tampered_and_changes_nothing(
    client, session, shop, shopper, address, tee
):
    sku = tee.skus[0]
    item = flash_session(session, sku, stock=5)
    other = flash_session(session, factories.ProductFactory().skus[0], stock=5, name="别的")
    later = flash_session(session, factories.ProductFactory().skus[0], day=1, name="明天")
    over = flash_session(session, factories.ProductFactory().skus[0], day=-1, name="昨天")
    login(client, shopper)
    page = client.get(f"/checkout?buy={sku.id}&qty=1&flash={item.id}").get_data(as_text=True)
    assert "请在 5 分钟内完成支付" in page  # the flash payment window, not the shop's 30 minutes
    fields = checkout_form(client, f"?buy={sku.id}&qty=1&flash={item.id}")
    assert fields["flash"] == str(item.id) and fields["expected_total"] == "1000"
    for changes, words in (
        ({"flash": str(other.id)}, "该秒杀商品不存在"),
        ({"flash": "abc"}, "该秒杀商品不存在"),
        ({"flash": "99999999999999999999"}, "该秒杀商品不存在"),
        ({"flash": str(later.id), "buy": str(later.sku_id)}, "秒杀还没开始"),
        ({"flash": str(over.id), "buy": str(over.sku_id)}, "本场秒杀已结束"),
        ({"expected_total": "1"}, "价格"),
        ({"qty": "-1"}, ""),
    ):
        response = client.post("/checkout", data=fields | changes)
        assert response.status_code == 422, (changes, response.status_code)
        assert words in response.get_data(as_text=True), changes
    assert order_count(session) == 0
    assert stocks(session, item) == (5, 0, 20)


def test_a_sold_out_flash_item_answers_snapped_up(client, session, shop, shopper, address, tee):
    item = flash_session(session, tee.skus[0], stock=1)
    login(client, shopper)
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=1&flash={item.id}")
    session.execute(FlashItem.__table__.update().values(stock=0))
    session.commit()
    response = client.post("/checkout", data=fields)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    # The short page that leads on, not the checkout rebuilt around an item gone at its flash price.
    assert "已抢光" in page and 'href="/flash"' in page and f'href="/p/{tee.id}"' in page
    assert 'action="/checkout"' not in page
    assert order_count(session) == 0 and stocks(session, item) == (0, 0, 20)
    again = client.get(f"/checkout?buy={tee.skus[0].id}&qty=1&flash={item.id}")
    assert again.status_code == 200 and "已抢光" in again.get_data(as_text=True)
    assert 'action="/checkout"' not in again.get_data(as_text=True)


def test_the_last_unit_going_between_pricing_and_the_check_says_snapped_up_not_price_changed(
    session, shop, shopper, tee
):
    """In a rush the offers can be read just after the last unit went (no flash price found) while the
    flash item was read with stock a moment before: the buyer is told 已抢光, not "价格已变化" (seen in CI)."""
    sku = tee.skus[0]
    item = flash_session(session, sku, stock=1)
    priced = offers.for_basket(session, shopper.id, [sku.id]).activities
    flash.check_buy(session, shopper.id, item.id, {sku.id: 1}, priced)
    with pytest.raises(MarketingError, match="已抢光"):
        flash.check_buy(session, shopper.id, item.id, {sku.id: 1}, {})


def test_a_mismatched_flash_link_with_an_unpaid_order_sends_the_shopper_to_pay(
    client, session, shop, shopper, address, tee
):
    """Found in review: ?buy= naming another SKU than the flash item's, the item sold out and the shopper
    holding an unpaid order for it, was a 500."""
    item = flash_session(session, tee.skus[0], stock=1)
    other = factories.ProductFactory(skus=[{"price_fen": 50_00, "stock": 5}])
    login(client, shopper)
    fields = checkout_form(client, f"?buy={tee.skus[0].id}&qty=1&flash={item.id}", payment_method="sandbox")
    assert client.post("/checkout", data=fields).status_code in (302, 303)
    number = session.scalar(select(Order.number))
    answer = client.get(f"/checkout?buy={other.skus[0].id}&qty=1&flash={item.id}")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/orders/{number}")


def test_a_shopper_with_an_unpaid_flash_order_is_sent_to_pay_it(client, session, shop, shopper, address, tee):
    sku = tee.skus[0]
    item = flash_session(session, sku, stock=5, per_user_limit=3)
    login(client, shopper)
    fields = checkout_form(client, f"?buy={sku.id}&qty=1&flash={item.id}", payment_method="sandbox")
    assert client.post("/checkout", data=fields).status_code in (302, 303)
    number = session.scalar(select(Order.number))

    again = client.get(f"/checkout?buy={sku.id}&qty=1&flash={item.id}")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/orders/{number}")
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "你有一笔该秒杀商品的待付款订单，请先完成支付。" in page
    second = client.post("/checkout", data=fields | {"idempotency_key": "another-key-0000000001"})
    assert second.status_code == 302 and second.headers["Location"].endswith(f"/orders/{number}")
    assert order_count(session) == 1 and stocks(session, item) == (4, 1, 19)
    session.execute(FlashItem.__table__.update().values(stock=0))  # the rest sold meanwhile
    session.commit()
    third = client.post("/checkout", data=fields | {"idempotency_key": "another-key-0000000002"})
    assert third.status_code == 302 and third.headers["Location"].endswith(f"/orders/{number}")


def test_a_flash_item_change_shows_on_the_next_kept_page(app, session, tee):
    path = f"/p/{tee.id}"
    assert "¥12.00" not in visit(app, path)[0]
    item = flash_session(session, tee.skus[0], price_fen=12_00)
    assert "¥12.00" in visit(app, path)[0]
    assert visit(app, path)[1] == 0
    session.get(FlashItem, item.id).price_fen = 11_00
    session.commit()
    assert "¥11.00" in visit(app, path)[0]
    assert flash.stop_session(session, item.session_id)
    session.commit()
    assert "¥11.00" not in visit(app, path)[0]


def test_a_kept_page_follows_a_flash_runs_start_and_end(app, session, tee):
    app.config["PAGE_CACHE_SECONDS"] = 3600  # so only the run's own moments can end a kept page
    path = f"/p/{tee.id}"
    found = FlashSession(name="整点", start_minute=0, duration_minutes=1, dates=[])
    session.add(found)
    session.flush()
    start = utcnow() + timedelta(seconds=3)
    session.add(FlashSlot(session_id=found.id, starts_at=start, ends_at=start + timedelta(seconds=2)))
    session.add(FlashItem(session_id=found.id, sku_id=tee.skus[0].id, price_fen=40_00, stock=3, sold=0))
    session.commit()
    assert "¥40.00" not in visit(app, path)[0]
    assert visit(app, path)[1] == 0  # kept until the start
    assert utcnow() < start, "the machine was too slow to see the page before the start"
    time.sleep(max(0.0, (start - utcnow()).total_seconds()) + 0.1)
    assert "¥40.00" in visit(app, path)[0]
    time.sleep(2)
    assert "¥40.00" not in visit(app, path)[0]


def test_an_order_error_for_a_short_sku_on_a_flash_line_says_snapped_up(session, shop, shopper, address, tee):
    item = flash_session(session, tee.skus[0], stock=5)
    session.get(Sku, tee.skus[0].id).stock = 0
    session.commit()
    with pytest.raises(OrderError, match="已抢光"):
        place(session, shopper, address, {tee.skus[0].id: 1})
    session.rollback()
    assert stocks(session, item) == (5, 0, 0)


def test_the_flash_page_shows_todays_runs_as_tabs_with_progress_and_snapped_up(app, client, session, tee):
    assert "/flash" not in visit(app, "/")[0]  # no link to an empty 秒杀 page
    mug = factories.ProductFactory(title="马克杯", skus=[{"price_fen": 50_00, "stock": 5}])
    item = flash_session(session, tee.skus[0], price_fen=19_90, stock=4)
    gone = flash_session(session, mug.skus[0], price_fen=9_90, stock=1, name="杯子场")
    session.get(FlashItem, gone.id).stock, session.get(FlashItem, gone.id).sold = 0, 1
    session.commit()
    assert 'href="/flash"' in visit(app, "/")[0]

    page = visit(app, "/flash")[0]
    assert page.count('class="flash-tab ') == 2 and "进行中" in page
    assert "¥19.90" in page and "<del" in page and "¥100.00" in page
    assert f"/checkout?buy={tee.skus[0].id}&amp;qty=1&amp;flash={item.id}" in page
    assert 'data-countdown-end="' in page and 'data-server-now="' in page
    other = visit(app, "/flash?run=1")[0]
    assert "已抢光" in other and "已抢 100%" in other and "/checkout?buy" not in other
    assert visit(app, "/flash?run=1")[1] == 0  # kept for the next first-time visitor …
    session.execute(FlashItem.__table__.update().where(FlashItem.id == gone.id).values(stock=1, sold=0))
    session.commit()
    assert "已抢光" not in visit(app, "/flash?run=1")[0]  # … until a flash item changes

    product = visit(app, f"/p/{tee.id}")[0]
    assert "秒杀 · 今日秒杀" in product and "¥19.90 马上抢" in product and "已抢 0%" in product
    sold_out = visit(app, f"/p/{mug.id}")[0]
    assert "¥9.90 马上抢" in sold_out
    session.execute(FlashItem.__table__.update().where(FlashItem.id == gone.id).values(stock=0, sold=1))
    session.commit()
    sold_out = visit(app, f"/p/{mug.id}")[0]
    assert "已抢光" in sold_out and "马上抢" not in sold_out
    assert "加入购物车" in sold_out  # the product can still be bought at its usual price


def test_the_flash_page_tabs_say_what_is_over_and_what_is_coming(app, session, tee):
    noon = datetime.combine(today(), datetime.min.time().replace(hour=12), tzinfo=SHOP_TZ)
    set_clock(noon.astimezone(UTC))  # room before and after this hour, whenever the test runs
    now_local = noon
    for hours, name in ((-2, "早场"), (2, "晚场")):
        found = flash.save_session(
            session,
            None,
            {
                "name": name,
                "start_minute": (now_local.hour + hours) * 60,
                "duration_minutes": 60,
                "repeat": "dates",
                "dates": [now_local.date()],
            },
        )
        flash.save_item(session, found, flash.ItemDraft(tee.skus[0].id, price_fen=10_00, stock=2))
    session.commit()
    page = visit(app, "/flash")[0]
    assert "已结束" in page and "即将开始" in page and "距开始" in page  # the upcoming one is chosen
    assert "/checkout?buy" not in page


def test_an_unpaid_flash_order_past_its_window_no_longer_holds_the_shopper_back(
    session, shop, shopper, address, tee
):
    sku = tee.skus[0]
    flash_session(session, sku, per_user_limit=None)
    first = place(session, shopper, address, {sku.id: 1})
    with pytest.raises(flash.UnpaidFlashOrder):
        place(session, shopper, address, {sku.id: 1}, n=2)
    session.rollback()
    set_clock(utcnow() + timedelta(minutes=flash.DEFAULT_PAY_MINUTES + 1))  # before the expiry job's run
    assert flash.unpaid_order_for(session, shopper.id, [sku.id]) is None
    assert place(session, shopper, address, {sku.id: 1}, n=3).number != first.number


def test_the_shop_shows_no_more_flash_units_than_the_sku_has_left(session, shop, tee):
    sku = tee.skus[0]
    flash_session(session, sku, stock=5)
    session.get(Sku, sku.id).stock = 2  # ordinary sales since the flash stock was set
    session.commit()
    [(_run, shown)] = flash_display.for_product(session, tee.id)
    assert (shown.stock, shown.sold_out, shown.can_buy) == (2, False, True)
    session.get(Sku, sku.id).stock = 0
    session.commit()
    [(_run, shown)] = flash_display.for_product(session, tee.id)
    assert (shown.stock, shown.sold_out, shown.can_buy) == (0, True, False)


def test_a_product_with_several_skus_keeps_the_picker_and_prices_the_flash_one_there(app, session, shop, tee):
    boxes = factories.ProductFactory(
        title="坚果礼盒",
        options=[{"name": "规格", "values": ["小盒", "大盒"]}],
        skus=[
            {"price_fen": 60_00, "stock": 9, "spec_values": ["小盒"]},
            {"price_fen": 90_00, "stock": 9, "spec_values": ["大盒"]},
        ],
    )
    small, big = boxes.skus
    flash_session(session, big, price_fen=45_00)
    page = visit(app, f"/p/{boxes.id}")[0]
    assert "秒杀 · 今日秒杀" in page and "已抢 0%" in page
    assert "马上抢" not in page and "data-buy-form" in page  # the usual bar, which follows the picker
    picker = json.loads(re.search(r"<script type=\"application/json\" data-sku-json>(.*?)</script>", page)[1])
    prices = {sku["id"]: sku["price"] for sku in picker["skus"]}
    assert prices == {small.id: "¥60.00", big.id: "¥45.00"}  # the flash SKU at its flash price in the picker


def test_a_daily_session_between_two_runs_says_so_and_when_the_next_starts():
    """The back office's badge: not "未开始" once a run is over and another is to come (seen on the demo)."""
    day = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    runs = [
        FlashSlot(starts_at=day + timedelta(days=n), ends_at=day + timedelta(days=n, hours=1)) for n in (0, 1)
    ]
    found = FlashSession(name="早场", is_stopped=False, slots=runs)
    at = {"before": day - timedelta(hours=1), "during": day, "between": day + timedelta(hours=2)}
    assert [flash.session_status(found, now) for now in at.values()] == ["upcoming", "running", "between"]
    assert flash.next_start(found, at["between"]) == day + timedelta(days=1)
    assert flash.session_status(found, day + timedelta(days=2)) == "ended"
    assert flash.next_start(found, day + timedelta(days=2)) is None
    found.is_stopped = True
    assert (flash.session_status(found, day), flash.next_start(found, day)) == ("stopped", None)
