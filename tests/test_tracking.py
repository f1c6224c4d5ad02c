"""Delivery tracking against a fake 快递100 (a real local HTTP server checking the request format and the
signature): the job fetches and caches the trace, the order pages show it (or the carrier's own page without
a key, or when 快递100 refuses), a page refreshes a copy older than half an hour only, and a parcel signed for
starts the automatic receipt from its signing time."""

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app import orders
from app.orders import tracking
from app.orders.models import Order, OrderEvent, OrderStatus, OrderTracking
from app.payments import services as payments
from app.settings.models import ShopSettings
from app.settings.services import update_tracking_settings
from app.timeutil import set_clock
from tests import factories
from tests.conftest import csrf_token, login
from tests.fakes.kuaidi100 import CUSTOMER, KEY, FakeKuaidi100

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
SF_NO = "SF1234567890"
SF_LINK = f"https://www.sf-express.com/chn/sc/waybill/waybill-detail/{SF_NO}"


@pytest.fixture(scope="module")
def kd100():
    fake = FakeKuaidi100()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def clean(kd100):
    kd100.reset()
    yield
    set_clock(None)


@pytest.fixture
def app_config(kd100):
    return {"KUAIDI100_URL": kd100.url}


@pytest.fixture
def shopper(app):
    return factories.UserFactory(nickname="小林")


@pytest.fixture
def shopper_client(client, shopper):
    login(client, shopper)
    return client


def with_key(session, key: str = KEY) -> None:
    update_tracking_settings(session, customer=CUSTOMER, key=key)
    session.commit()


def shipped_order(
    session, shopper, *, code: str | None = "shunfeng", carrier: str = "顺丰速运", number=SF_NO
):
    set_clock(T0 - timedelta(hours=1))
    product = factories.ProductFactory(skus=[{"price_fen": 3900, "stock": 10}])
    address = factories.AddressFactory(user=shopper)
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key=f"track-{time.time_ns()}",
    )
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    set_clock(T0)
    staff = factories.UserFactory(role="staff")
    orders.transitions.ship_order(
        session, order, actor=staff, carrier=carrier, carrier_code=code, tracking_no=number
    )
    session.commit()
    return order


def beijing(moment: datetime) -> str:
    return (moment + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")


def in_transit(kd100, number=SF_NO, phone="13812345678"):
    kd100.parcel(
        "shunfeng",
        number,
        state="0",
        phone=phone,
        lines=[
            (beijing(T0 + timedelta(hours=1)), "【深圳市】顺丰速运 已收取快件", "揽收"),
            (beijing(T0 + timedelta(hours=6)), "快件已发车，下一站【杭州中转场】", "在途"),
        ],
    )


def row_of(session, order_id) -> OrderTracking | None:
    session.expire_all()
    return session.get(OrderTracking, order_id)


def page(client, order) -> str:
    response = client.get(f"/orders/{order.number}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def track(runner) -> str:
    result = runner.invoke(args=["orders", "track"])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_the_job_fetches_signs_and_caches_and_the_page_shows_the_timeline(
    session, runner, shopper, shopper_client, kd100
):
    with_key(session)
    order = shipped_order(session, shopper)
    in_transit(kd100)
    set_clock(T0 + timedelta(hours=7))
    assert track(runner) == "tracked=1 signed=0 tracking_errors=0"
    # The request as 快递100 wants it: the code, the number, the recipient's mobile (顺丰 needs it), resultv2.
    assert kd100.queries == [{"com": "shunfeng", "num": SF_NO, "resultv2": "1", "phone": "13812345678"}]
    assert kd100.refused == []
    row = row_of(session, order.id)
    assert (row.state, row.signed, row.error) == ("0", False, None)
    assert row.fetched_at == T0 + timedelta(hours=7)
    assert [line["context"] for line in row.data] == [
        "快件已发车，下一站【杭州中转场】",
        "【深圳市】顺丰速运 已收取快件",
    ]

    html = page(shopper_client, order)
    lines = re.findall(r'<p class="timeline__text">([^<]*)</p>', html.split('id="tracking-lines"')[1])
    assert lines[:2] == ["快件已发车，下一站【杭州中转场】", "【深圳市】顺丰速运 已收取快件"]  # newest first
    assert 'id="tracking-state">在途<' in html
    assert "hx-get" not in html.split('id="tracking"')[1].split(">")[0]  # a fresh copy: nothing to ask
    assert SF_LINK not in html

    # Within the job's interval nothing is asked again; after it, the order is asked again.
    set_clock(T0 + timedelta(hours=9))
    assert track(runner) == "tracked=0 signed=0 tracking_errors=0"
    set_clock(T0 + timedelta(hours=11, minutes=1))
    assert track(runner) == "tracked=1 signed=0 tracking_errors=0"
    assert len(kd100.queries) == 2


def test_a_wrong_key_is_recorded_and_the_page_still_links_to_the_carrier(
    session, runner, shopper, shopper_client, kd100, owner_client_factory
):
    with_key(session, key="WrongKey9999")
    order = shipped_order(session, shopper)
    in_transit(kd100)
    set_clock(T0 + timedelta(hours=7))
    assert track(runner) == "tracked=1 signed=0 tracking_errors=1"
    assert kd100.refused == ["503"]  # the fake checked the signature and refused it
    row = row_of(session, order.id)
    assert row.fetched_at is None and "503" in row.error and row.data is None
    html = page(shopper_client, order)
    assert f'href="{SF_LINK}"' in html and 'id="tracking-lines"' not in html
    admin = owner_client_factory().get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert SF_LINK in admin and "快递100" in admin


@pytest.fixture
def owner_client_factory(app):
    def make():
        client = app.test_client()
        login(client, factories.UserFactory(role="owner"), admin=True)
        return client

    return make


def test_a_signed_order_is_received_automatically_counting_from_its_signing(session, runner, shopper, kd100):
    with_key(session)
    signed = shipped_order(session, shopper)
    unsigned = shipped_order(session, shopper, number="SF5555666677")
    signed_moment = T0 + timedelta(days=2, hours=3)
    kd100.parcel(
        "shunfeng",
        SF_NO,
        state="3",
        ischeck="1",
        phone="13812345678",
        lines=[
            (beijing(T0 + timedelta(hours=1)), "已收取快件", "揽收"),
            (beijing(T0 + timedelta(days=2)), "快件交给李师傅，正在派送途中", "派件"),
            (beijing(signed_moment), "您的快件已签收，签收人：本人", "签收"),
        ],
    )
    set_clock(T0 + timedelta(days=3))
    assert track(runner) == "tracked=2 signed=1 tracking_errors=1"  # the other number is unknown (500)
    session.expire_all()
    assert session.get(Order, signed.id).signed_at == signed_moment
    assert session.get(Order, unsigned.id).signed_at is None
    assert session.get(OrderTracking, signed.id).signed is True

    # Signed orders are asked no more; the signing is written once in the order's events.
    set_clock(T0 + timedelta(days=5))
    assert track(runner) == "tracked=1 signed=0 tracking_errors=1"
    events = session.scalars(select(OrderEvent).where(OrderEvent.action == "signed_for")).all()
    assert [event.order_id for event in events] == [signed.id]

    # 10 days (the default) after shipping: the unsigned order is received, the signed one waits for 10 days
    # after its signing.
    set_clock(T0 + timedelta(days=10, hours=1))
    assert orders.transitions.autocomplete_orders(session) == 1
    session.expire_all()
    assert session.get(Order, unsigned.id).status == OrderStatus.COMPLETED
    assert session.get(Order, signed.id).status == OrderStatus.SHIPPED
    set_clock(signed_moment + timedelta(days=10) - timedelta(minutes=1))
    assert orders.transitions.autocomplete_orders(session) == 0
    set_clock(signed_moment + timedelta(days=10, minutes=1))
    assert orders.transitions.autocomplete_orders(session) == 1
    session.expire_all()
    assert session.get(Order, signed.id).status == OrderStatus.COMPLETED


def test_a_shopper_cannot_see_another_shoppers_tracking(session, client, shopper, kd100):
    with_key(session)
    order = shipped_order(session, shopper)
    in_transit(kd100)
    login(client, factories.UserFactory())
    set_clock(T0 + timedelta(hours=7))
    assert client.get(f"/orders/{order.number}/tracking").status_code == 404
    assert client.get(f"/orders/{order.number}").status_code == 404
    assert client.get("/orders/NOSUCHORDER/tracking").status_code == 404
    assert kd100.queries == []  # nothing was asked for them
    assert row_of(session, order.id) is None


def test_the_page_asks_again_only_for_a_copy_older_than_half_an_hour(
    session, runner, shopper, shopper_client, kd100
):
    with_key(session)
    order = shipped_order(session, shopper)
    in_transit(kd100)
    set_clock(T0 + timedelta(hours=7))
    track(runner)
    assert len(kd100.queries) == 1

    set_clock(T0 + timedelta(hours=7, minutes=20))
    assert 'hx-trigger="load"' not in page(shopper_client, order)
    assert shopper_client.get(f"/orders/{order.number}/tracking").status_code == 200
    assert len(kd100.queries) == 1  # 20 minutes old: kept

    kd100.parcels[("shunfeng", SF_NO)]["data"].append(
        (beijing(T0 + timedelta(hours=7)), "快件到达【杭州中转场】", "在途")
    )
    set_clock(T0 + timedelta(hours=7, minutes=31))
    html = page(shopper_client, order)
    assert f'hx-get="/orders/{order.number}/tracking" hx-trigger="load"' in html
    assert len(kd100.queries) == 1  # the page itself never waits for 快递100
    fragment = shopper_client.get(f"/orders/{order.number}/tracking").get_data(as_text=True)
    assert len(kd100.queries) == 2
    assert "快件到达【杭州中转场】" in fragment and "hx-get" not in fragment
    shopper_client.get(f"/orders/{order.number}/tracking")
    assert len(kd100.queries) == 2  # just asked: not again


def test_a_slow_kuaidi100_leaves_the_cached_copy_with_its_age(
    session, runner, shopper, shopper_client, kd100, monkeypatch
):
    with_key(session)
    order = shipped_order(session, shopper)
    in_transit(kd100)
    set_clock(T0 + timedelta(hours=7))
    track(runner)
    monkeypatch.setattr(tracking, "PAGE_TIMEOUT", 0.5)
    kd100.delay = 1.5
    set_clock(T0 + timedelta(hours=9))
    started = time.monotonic()
    fragment = shopper_client.get(f"/orders/{order.number}/tracking").get_data(as_text=True)
    assert time.monotonic() - started < 1.4
    assert "快件已发车" in fragment  # the copy it had
    assert "tracking__age_failed" in fragment and "2小时前" in fragment
    assert "timeout" in row_of(session, order.id).error


def test_without_a_key_the_pages_link_to_the_carriers_own_page(
    session, runner, shopper, shopper_client, kd100
):
    sf = shipped_order(session, shopper)
    # An order shipped before codes were kept: its carrier is found by its name.
    old = shipped_order(session, shopper, code=None, carrier="中通快递", number="ZT778899001122")
    session.execute(update(Order).where(Order.id == old.id).values(carrier_code=None))
    typed = shipped_order(session, shopper, code=None, carrier="火星快递", number="HX12345678")
    session.commit()
    set_clock(T0 + timedelta(hours=7))
    assert track(runner) == "tracked=0"
    assert kd100.queries == []

    html = page(shopper_client, sf)
    assert f'href="{SF_LINK}"' in html and 'hx-trigger="load"' not in html
    assert "顺丰速运" in html
    assert 'href="https://www.zto.com/"' in page(shopper_client, old)
    html = page(shopper_client, typed)
    assert "火星快递" in html and "HX12345678" in html and 'id="tracking-link"' not in html


def test_a_known_carrier_typed_by_name_is_tracked_with_its_code(session, runner, shopper, kd100):
    with_key(session)
    order = shipped_order(session, shopper, code=None, carrier=" 中通 ", number="ZT778899001122")
    assert order.carrier_code == "zhongtong"
    kd100.parcel("zhongtong", "ZT778899001122", state="5", lines=[(beijing(T0), "派件中", "派件")])
    set_clock(T0 + timedelta(hours=7))
    assert track(runner) == "tracked=1 signed=0 tracking_errors=0"
    assert kd100.queries[0]["com"] == "zhongtong"
    with pytest.raises(orders.events.OrderError):
        orders.transitions.ship_order(
            session, order, actor=order.user, carrier="x", carrier_code="martian", tracking_no="AB123456"
        )


def test_the_back_office_keeps_the_key_sealed_and_refuses_bad_input(session, client, app):
    login(client, factories.UserFactory(role="owner"), admin=True)
    assert client.get("/admin/settings/tracking").status_code == 200

    def post(**fields):
        data = {"csrf_token": csrf_token(client, "/admin/settings/tracking")} | fields
        return client.post("/admin/settings/tracking", data=data)

    for fields, message in (
        ({"kuaidi100_customer": "not valid!", "kuaidi100_key": KEY}, "客户编码"),
        ({"kuaidi100_customer": "", "kuaidi100_key": KEY}, "客户编码"),
        ({"kuaidi100_customer": CUSTOMER, "kuaidi100_key": ""}, "key"),
    ):
        response = post(**fields)
        assert response.status_code == 422 and message in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(ShopSettings, 1) is None or not session.get(ShopSettings, 1).kuaidi100_customer

    assert post(kuaidi100_customer=CUSTOMER, kuaidi100_key=KEY).status_code == 302
    session.expire_all()
    stored = session.get(ShopSettings, 1)
    assert stored.kuaidi100_customer == CUSTOMER and KEY not in (stored.kuaidi100_key_sealed or "")
    html = client.get("/admin/settings/tracking").get_data(as_text=True)
    assert KEY not in html and "••••" + KEY[-4:] in html
    # An empty key keeps the stored one; "remove" forgets both.
    assert post(kuaidi100_customer=CUSTOMER, kuaidi100_key="").status_code == 302
    session.expire_all()
    assert session.get(ShopSettings, 1).kuaidi100_key_sealed
    assert post(remove="y").status_code == 302
    session.expire_all()
    assert session.get(ShopSettings, 1).kuaidi100_key_sealed is None
    assert session.get(ShopSettings, 1).kuaidi100_customer == ""


def test_the_back_office_card_refreshes_like_the_shop_and_a_removed_key_goes_back_to_the_link(
    session, runner, shopper, shopper_client, kd100, owner_client_factory
):
    with_key(session)
    order = shipped_order(session, shopper)
    in_transit(kd100)
    set_clock(T0 + timedelta(hours=7))
    assert shopper_client.get(f"/admin/orders/{order.number}/tracking").status_code in (302, 403)
    assert kd100.queries == []  # a shopper cannot make the back office ask
    owner = owner_client_factory()
    html = owner.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert f'hx-get="/admin/orders/{order.number}/tracking" hx-trigger="load"' in html and kd100.queries == []
    card = owner.get(f"/admin/orders/{order.number}/tracking").get_data(as_text=True)
    assert "快件已发车，下一站【杭州中转场】" in card and "hx-get" not in card
    assert len(kd100.queries) == 1
    assert "快件已发车" in page(shopper_client, order)

    update_tracking_settings(session, customer="", key="", remove=True)
    session.commit()
    html = page(shopper_client, order)
    assert "快件已发车" not in html and f'href="{SF_LINK}"' in html


# ---------------------------------------------------------------- after review


@pytest.mark.parametrize(
    ("state", "ischeck", "action"),
    [("4", "1", "parcel_returned"), ("6", "0", "parcel_returned"), ("14", "0", "parcel_returned"),
     ("2", "0", "parcel_problem")],
)  # fmt: skip
def test_a_returned_refused_or_stuck_parcel_is_not_received_automatically(
    session, runner, shopper, shopper_client, kd100, owner_client_factory, state, ischeck, action
):
    with_key(session)
    order = shipped_order(session, shopper)
    other = shipped_order(session, shopper, number="SF5555666677")  # unknown to 快递100: received as before
    kd100.parcel(
        "shunfeng", SF_NO, state=state, ischeck=ischeck, phone="13812345678",
        lines=[(beijing(T0 + timedelta(hours=1)), "已收取快件", "揽收"),
               (beijing(T0 + timedelta(days=2)), "收件人拒收，快件退回中", "退回")],
    )  # fmt: skip
    set_clock(T0 + timedelta(days=3))
    track(runner)
    set_clock(T0 + timedelta(days=4))
    track(runner)  # the same state again: one event only
    events = session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)).all()
    assert [event.action for event in events].count(action) == 1
    assert [event.action for event in events if event.action.startswith("parcel_")] == [action]

    set_clock(T0 + timedelta(days=10, hours=1))
    assert orders.transitions.autocomplete_orders(session) == 1
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.SHIPPED  # not received: it never arrived
    assert session.get(Order, other.id).status == OrderStatus.COMPLETED

    # Staff see it flagged, on the dashboard and on the order; the shopper sees the event.
    owner = owner_client_factory()
    dashboard = owner.get("/admin/").get_data(as_text=True)
    assert 'id="parcels-held"' in dashboard and "1 个已发货包裹" in dashboard
    admin = owner.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert 'id="parcel-held"' in admin and "不会自动确认收货" in admin
    label = {"parcel_returned": "快递公司称包裹正在退回", "parcel_problem": "快递公司报告配送异常"}[action]
    assert label in page(shopper_client, order)

    # Once the carrier has it moving to the buyer again, the usual rule applies.
    in_transit(kd100)
    set_clock(T0 + timedelta(days=11))
    track(runner)
    assert orders.transitions.autocomplete_orders(session) == 1
    session.expire_all()
    assert session.get(Order, order.id).status == OrderStatus.COMPLETED
    assert 'id="parcels-held"' not in owner.get("/admin/").get_data(as_text=True)


def test_a_key_another_secrets_key_sealed_counts_as_no_key(
    session, app, runner, shopper, shopper_client, kd100, owner_client_factory
):
    from cryptography.fernet import Fernet

    with_key(session)
    order = shipped_order(session, shopper)
    in_transit(kd100)
    set_clock(T0 + timedelta(hours=7))
    app.config["SECRETS_KEY"] = Fernet.generate_key().decode()
    html = page(shopper_client, order)
    assert f'href="{SF_LINK}"' in html and 'hx-trigger="load"' not in html
    assert shopper_client.get(f"/orders/{order.number}/tracking").status_code == 200
    owner = owner_client_factory()
    assert SF_LINK in owner.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert owner.get("/admin/").status_code == 200
    assert track(runner) == "tracked=0 key_unreadable=1"
    assert kd100.queries == []


@pytest.mark.parametrize("number", ["SF123", "SF" + "1" * 31, "SF" + "1" * 38])
def test_numbers_kuaidi100_does_not_take_get_the_carriers_link(
    session, runner, shopper, shopper_client, kd100, number
):
    with_key(session)
    order = shipped_order(session, shopper, number=number)
    set_clock(T0 + timedelta(hours=7))
    assert track(runner) == "tracked=0 signed=0 tracking_errors=0"
    assert kd100.queries == [] and row_of(session, order.id) is None
    html = page(shopper_client, order)
    assert 'id="tracking-link"' in html and 'hx-trigger="load"' not in html
    assert number in html
    # 6 and 32 characters are asked.
    for edge in ("SF1234", "SF" + "2" * 30):
        edge_order = shipped_order(session, shopper, number=edge)
        set_clock(T0 + timedelta(hours=7))
        orders.tracking.refresh_for_page(session, edge_order)
    assert [query["num"] for query in kd100.queries] == ["SF1234", "SF" + "2" * 30]


def test_the_back_office_says_why_a_query_failed(
    session, runner, shopper, kd100, owner_client_factory, monkeypatch
):
    with_key(session)
    fresh = shipped_order(session, shopper)  # 快递100 has nothing on it yet (500)
    set_clock(T0 + timedelta(hours=7))
    track(runner)
    owner = owner_client_factory()
    html = owner.get(f"/admin/orders/{fresh.number}").get_data(as_text=True)
    assert 'id="tracking-error"' in html and "暂无此包裹的消息" in html and "检查" not in html

    slow = shipped_order(session, shopper, number="SF5555666677")
    monkeypatch.setattr(tracking, "PAGE_TIMEOUT", 0.3)
    kd100.delay = 0.8
    set_clock(T0 + timedelta(hours=8))
    owner.get(f"/admin/orders/{slow.number}/tracking")
    html = owner.get(f"/admin/orders/{slow.number}").get_data(as_text=True)
    assert "快递100 未及时应答" in html and "检查" not in html

    kd100.delay = 0
    with_key(session, key="WrongKey9999")
    wrong = shipped_order(session, shopper, number="SF7777888899")
    set_clock(T0 + timedelta(hours=9))
    track(runner)
    html = owner.get(f"/admin/orders/{wrong.number}").get_data(as_text=True)
    assert "快递100 拒绝了密钥" in html


def test_deppon_express_and_deppon_logistics_have_their_own_codes():
    from app.orders.carriers import carrier_for_name

    assert carrier_for_name("德邦快递").code == "debangkuaidi"
    assert carrier_for_name("德邦").code == "debangkuaidi"
    assert carrier_for_name("德邦物流").code == "debangwuliu"


def _trickle_server(seconds: int) -> str:
    """A server that sends headers and the start of a body at once, then one byte a second."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve():
        conn, _addr = listener.accept()
        conn.recv(65536)
        body = b'{"message":"ok","status":"200","state":"0","ischeck":"0","data":[]}' + b" " * seconds
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        conn.sendall(body[:60])
        try:
            for i in range(60, len(body)):
                time.sleep(1)
                conn.sendall(body[i : i + 1])
        except OSError:
            pass  # the client gave up, as it should
        conn.close()
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/poll/query.do"


def test_a_trickling_answer_is_cut_at_the_overall_deadline(app):
    from app.orders import kuaidi100

    app.config["KUAIDI100_URL"] = _trickle_server(12)
    started = time.monotonic()
    with pytest.raises(kuaidi100.Kuaidi100Error) as failure:
        kuaidi100.query(CUSTOMER, KEY, "shunfeng", SF_NO, timeout=tracking.PAGE_TIMEOUT)
    assert failure.value.code == "timeout"
    assert time.monotonic() - started < tracking.PAGE_TIMEOUT + 1.2  # at most one more byte's wait


def test_after_kuaidi100_fails_to_answer_pages_wait_and_the_job_stops(
    session, runner, shopper, shopper_client, kd100, monkeypatch
):
    with_key(session)
    first = shipped_order(session, shopper)
    second = shipped_order(session, shopper, number="SF5555666677")
    in_transit(kd100)
    in_transit(kd100, number="SF5555666677")
    monkeypatch.setattr(tracking, "PAGE_TIMEOUT", 0.3)
    kd100.delay = 0.8
    set_clock(T0 + timedelta(hours=7))
    shopper_client.get(f"/orders/{first.number}/tracking")
    assert "timeout" in row_of(session, first.id).error
    kd100.delay = 0
    set_clock(T0 + timedelta(hours=7, minutes=2))  # within the pause: the other order's page does not ask
    shopper_client.get(f"/orders/{second.number}/tracking")
    assert row_of(session, second.id) is None
    set_clock(T0 + timedelta(hours=7, minutes=4))  # after it: it does
    assert "快件已发车" in shopper_client.get(f"/orders/{second.number}/tracking").get_data(as_text=True)
    assert row_of(session, second.id).error is None

    # The job gives up after JOB_GIVES_UP_AFTER failures to reach 快递100 in a row (the next run goes on).
    more = [shipped_order(session, shopper, number=f"SF90000000{i:02d}") for i in range(6)]
    monkeypatch.setattr(tracking, "JOB_TIMEOUT", 0.3)
    kd100.delay = 0.8
    set_clock(T0 + timedelta(hours=12))
    output = runner.invoke(args=["orders", "track"]).output  # (the fake's broken pipes are printed too)
    assert "tracked=5 signed=0 tracking_errors=5 tracking_stopped=1" in output.splitlines()
    assert row_of(session, more[-1].id) is None


def test_the_dashboard_lists_the_tracking_job_once_there_is_a_key(session, owner_client_factory):
    owner = owner_client_factory()
    assert "快递100" not in owner.get("/admin/").get_data(as_text=True)
    with_key(session)
    assert "flask orders track" in owner.get("/admin/").get_data(as_text=True)


@pytest.fixture
def pg_kd_app(pg_app, kd100):
    pg_app.config["KUAIDI100_URL"] = kd100.url
    return pg_app


def test_no_transaction_stays_open_while_kuaidi100_answers(pg_kd_app, kd100):
    import threading

    from sqlalchemy import text

    from app.extensions import db

    buyer = factories.UserFactory()
    db.session.commit()
    with_key(db.session)
    order = shipped_order(db.session, buyer)
    in_transit(kd100)
    kd100.delay = 1.5  # (under the 2 s a read may wait)
    set_clock(T0 + timedelta(hours=7))
    order_id = order.id
    db.session.commit()

    def work():
        with pg_kd_app.app_context():
            tracking.refresh(
                db.session, db.session.get(Order, order_id), min_age=tracking.PAGE_REFRESH_AFTER, timeout=5
            )
            db.session.remove()

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.7)
    assert kd100.busy == 1  # 快递100 is answering now
    with db.engine.connect() as conn:
        states = (
            conn.execute(
                text(
                    "select state from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
                )
            )
            .scalars()
            .all()
        )
    thread.join()
    assert "idle in transaction" not in states
    assert row_of(db.session, order_id).state == "0"


def test_two_pages_and_the_job_at_once_ask_once(pg_kd_app, kd100):
    from app.extensions import db
    from tests.conftest import run_together

    buyer = factories.UserFactory()
    db.session.commit()
    with_key(db.session)
    order = shipped_order(db.session, buyer)
    in_transit(kd100)
    kd100.delay = 1.0
    set_clock(T0 + timedelta(hours=7))
    order_id = order.id

    def work(i):
        if i == 0:
            return tracking.track_shipped_orders(db.session)
        order = db.session.get(Order, order_id)
        return tracking.refresh(db.session, order, min_age=tracking.PAGE_REFRESH_AFTER, timeout=5)

    results = run_together(pg_kd_app, 4, work)
    assert not any(isinstance(result, Exception) for result in results), results
    assert len(kd100.queries) == 1
    assert row_of(db.session, order_id).state == "0"
