"""The delivery timeline a shopper sees on the order page, fetched from a fake 快递100 (it checks the form
post and the signature as 快递100 does), on a 375 px and a 320 px WeChat phone and on a 1366 px desktop:
newest step first, the carrier and number, nothing sticking out of the screen or the column."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app import orders
from app.accounts.models import User
from app.extensions import db
from app.payments import services as payments
from app.settings.services import update_tracking_settings
from app.timeutil import utcnow
from tests import factories
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.helpers import SHOPPER_MOBILE, layout_problems, log_in, seed_shop
from tests.fakes.kuaidi100 import CUSTOMER, KEY, FakeKuaidi100

pytestmark = pytest.mark.browser

SF_NO = "SF1234567890"


@pytest.fixture
def kd100():
    fake = FakeKuaidi100()
    yield fake
    fake.stop()


def beijing(moment) -> str:
    return (moment + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def shipped_order(data) -> str:
    session = db.session
    shopper = session.scalar(select(User).where(User.mobile == SHOPPER_MOBILE))
    address = factories.AddressFactory(user=shopper, recipient="王小明", mobile="13812345678")
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={data["shirt"].skus[0].id: 1},
        address_id=address.id,
        idempotency_key="tracking-browser",
    )
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    owner = factories.UserFactory(role="owner")
    orders.transitions.ship_order(
        session, order, actor=owner, carrier="顺丰速运", carrier_code="shunfeng", tracking_no=SF_NO
    )
    session.commit()
    return order.number


def test_the_shopper_sees_where_the_parcel_is_on_phones_and_on_a_desktop(
    start_live_server, open_context, shot, kd100
):
    live_server = start_live_server({"KUAIDI100_URL": kd100.url})
    data = seed_shop()
    update_tracking_settings(db.session, customer=CUSTOMER, key=KEY)
    db.session.commit()
    number = shipped_order(data)
    now = utcnow()
    kd100.parcel(
        "shunfeng",
        SF_NO,
        state="5",
        phone="13812345678",
        lines=[
            (
                beijing(now - timedelta(hours=20)),
                "【深圳市】顺丰速运 已收取快件，寄件网点【深圳南山科技园营业点】",
                "揽收",
            ),
            (beijing(now - timedelta(hours=9)), "快件已发车，下一站【杭州西湖中转场】", "在途"),
            (beijing(now - timedelta(hours=2)), "【杭州市】快件已到达【杭州文三路营业点】", "在途"),
            (
                beijing(now - timedelta(minutes=30)),
                "【杭州市】快件交给李师傅（13900001111），正在派送途中，请保持电话畅通",
                "派件",
            ),
        ],
    )

    for name, options in [
        ("375", PHONE),
        ("320", {**PHONE, "viewport": {"width": 320, "height": 640}}),
        ("1366", {**DESKTOP, "viewport": {"width": 1366, "height": 800}}),
    ]:
        context, _errors = open_context(options)
        page = context.new_page()
        log_in(page, live_server.url)
        page.goto(live_server(f"/orders/{number}"))
        timeline = page.locator("#tracking")
        expect(timeline.locator("#tracking-lines")).to_contain_text("正在派送途中")
        text = timeline.inner_text()
        # Newest first: the courier on the way, then the branch, then the lorry, then the pick-up.
        assert (
            text.index("正在派送途中")
            < text.index("杭州文三路营业点")
            < text.index("下一站")
            < text.index("已收取快件")
        )
        expect(page.locator("#tracking-no")).to_have_text(SF_NO)
        timeline.scroll_into_view_if_needed()
        shot(page, f"tracking-{name}", full_page=True)
        if name != "1366":
            assert layout_problems(page) == [], name
        else:
            column = page.locator("main.page").bounding_box()
            box = timeline.bounding_box()
            assert (
                box["x"] >= column["x"] - 1 and box["x"] + box["width"] <= column["x"] + column["width"] + 1
            )

    # One query to 快递100 served all three pages: the trace is cached.
    assert len(kd100.queries) == 1
