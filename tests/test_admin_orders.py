"""Orders in the back office as the merchant and staff use them: the order list and its filters, the
order page and its actions, bulk shipping from CSV, the after-sales queue, money to send back, the CSV
export, the order settings and the dashboard."""

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from app import orders
from app.admin.orders import back_office_alerts, staff_actions
from app.catalog.models import Sku
from app.extensions import db
from app.jobs import JobRun
from app.orders.models import Order, OrderEvent, OrderStatus, Refund, RefundStatus
from app.payments import services as payments
from app.payments.models import Payment
from app.settings.models import ShopSettings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import csrf_token


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


def back_office_login(client, user) -> None:
    response = client.post(
        "/admin/login",
        data={
            "mobile": user.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture
def staff(app):
    return factories.UserFactory(role="staff", nickname="店员小王")


@pytest.fixture
def staff_client(client, staff):
    back_office_login(client, staff)
    return client


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13712340000", nickname="小林")


@pytest.fixture
def address(shopper):
    return factories.AddressFactory(user=shopper, recipient="林小雨", mobile="18612345678")


@pytest.fixture
def tee(app):
    return factories.ProductFactory(
        title="纯棉T恤",
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"spec_values": ["红"], "price_fen": 5900, "stock": 50},
            {"spec_values": ["蓝"], "price_fen": 6900, "stock": 50},
        ],
    )


_keys = iter(range(1, 10**6))


def place(session, shopper, address, items) -> Order:
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items=items,
        address_id=address.id,
        idempotency_key=f"admin-orders-test-key-{next(_keys):06d}",
    )
    session.commit()
    return order


def pay(session, order, shopper) -> Order:
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    return order


def paid_order(session, shopper, address, tee, qty=2) -> Order:
    return pay(session, place(session, shopper, address, {tee.skus[0].id: qty}), shopper)


def enable_manual_payment(session):
    session.add(
        ShopSettings(id=1, name="店", manual_payment_enabled=True, manual_payment_text="工商银行 6222…")
    )
    session.commit()


def manual_order(session, shopper, address, tee) -> Order:
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    payments.claim_manual_payment(session, order, shopper)
    session.commit()
    return order


def fresh(session, model, ident):
    session.expire_all()
    return session.get(model, ident)


def htmx(client, target: str = "order-main") -> dict:
    return {"HX-Request": "true", "HX-Target": target, "X-CSRFToken": csrf_token(client, "/admin/orders")}


def post(client, path, data=None, **kwargs):
    return client.post(
        path, data={**(data or {}), "csrf_token": csrf_token(client, "/admin/orders")}, **kwargs
    )


def toast(response) -> dict:
    return json.loads(response.headers["HX-Trigger"])["toast"]


def text(response) -> str:
    return response.get_data(as_text=True)


# ---------------------------------------------------------------- the list


def test_the_list_tabs_filter_by_state_and_count_each_tab(staff_client, session, shopper, address, tee):
    unpaid = place(session, shopper, address, {tee.skus[0].id: 1})
    to_ship = paid_order(session, shopper, address, tee)
    shipped = paid_order(session, shopper, address, tee)
    orders.transitions.ship_order(
        session, shipped, actor=shopper, carrier="顺丰速运", tracking_no="SF1234567890"
    )
    session.commit()
    asking = paid_order(session, shopper, address, tee)
    orders.refunds.request_refund(session, asking, shopper, items={asking.lines[0].id: 1}, reason="不想要了")
    session.commit()

    page = text(staff_client.get("/admin/orders"))
    for order in (unpaid, to_ship, shipped, asking):
        assert order.number in page
    paid_tab = text(staff_client.get("/admin/orders?tab=paid"))
    assert to_ship.number in paid_tab and asking.number in paid_tab
    assert unpaid.number not in paid_tab and shipped.number not in paid_tab
    after_sales = text(staff_client.get("/admin/orders?tab=after_sales"))
    assert asking.number in after_sales and to_ship.number not in after_sales

    counts = orders.queries.admin_order_tab_counts(session, orders.queries.OrderFilters())
    assert counts["all"] == 4
    assert (counts["pending_payment"], counts["paid"], counts["shipped"], counts["after_sales"]) == (
        1,
        2,
        1,
        1,
    )
    assert counts["completed"] == counts["cancelled"] == counts["refunded"] == 0
    # An unknown tab is "all", never an error.
    assert staff_client.get("/admin/orders?tab=nonsense&page=abc").status_code == 200


def test_the_keyword_finds_order_number_buyer_mobile_recipient_name_and_phone(
    staff_client, session, shopper, address, tee
):
    mine = place(session, shopper, address, {tee.skus[0].id: 1})
    other_buyer = factories.UserFactory(mobile="13598765432")
    other_address = factories.AddressFactory(user=other_buyer, recipient="王大锤", mobile="15000001111")
    theirs = place(session, other_buyer, other_address, {tee.skus[1].id: 1})

    def found(q):
        page = text(staff_client.get("/admin/orders", query_string={"q": q}))
        return {number for number in (mine.number, theirs.number) if number in page}

    assert found(mine.number) == {mine.number}
    assert found(mine.number[-6:]) == {mine.number}
    assert found("13712340000") == {mine.number}  # the buyer's account mobile
    assert found("98765") == {theirs.number}
    assert found("大锤") == {theirs.number}  # the recipient's name
    assert found("18612345678") == {mine.number}  # the recipient's phone
    assert found("%") == set()  # LIKE wildcards are matched literally
    assert found("不存在的人") == set()


def test_the_date_range_uses_the_shops_local_calendar(staff_client, session, shopper, address, tee):
    # 23:30 in Shanghai on 1 January is still 1 January there, but 15:30 UTC.
    set_clock(datetime(2026, 1, 1, 15, 30, tzinfo=UTC))
    late_evening = place(session, shopper, address, {tee.skus[0].id: 1})
    set_clock(datetime(2026, 1, 1, 16, 30, tzinfo=UTC))  # 00:30 on 2 January in Shanghai
    after_midnight = place(session, shopper, address, {tee.skus[0].id: 1})
    set_clock(None)

    def found(**dates):
        page = text(staff_client.get("/admin/orders", query_string=dates))
        return {o.number for o in (late_evening, after_midnight) if o.number in page}

    assert found(**{"from": "2026-01-01", "to": "2026-01-01"}) == {late_evening.number}
    assert found(**{"from": "2026-01-02"}) == {after_midnight.number}
    assert found(to="2026-01-01") == {late_evening.number}
    assert found(**{"from": "2026-01-02", "to": "2026-01-01"}) == {late_evening.number, after_midnight.number}
    assert found(**{"from": "not-a-date", "to": "2026-13-45"}) == {late_evening.number, after_midnight.number}


def test_the_list_answers_htmx_with_just_the_results(staff_client, session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    response = staff_client.get(
        "/admin/orders?tab=pending_payment", headers={"HX-Request": "true", "HX-Target": "results"}
    )
    html = text(response)
    assert response.status_code == 200
    assert order.number in html
    assert "<html" not in html and 'id="order-filters"' not in html
    assert "HX-Request" in response.headers.get("Vary", "")


def test_the_list_page_query_count_does_not_grow_with_the_orders_shown(
    staff_client, session, shopper, address, tee
):
    def add_orders(n):
        for _ in range(n):
            place(session, shopper, address, {tee.skus[0].id: 1, tee.skus[1].id: 2})

    def queries(headers=None) -> tuple[int, int]:
        statements = []

        def record(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = staff_client.get("/admin/orders", headers=headers or {})
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(statements), text(response).count("data-order=")

    fragment = {"HX-Request": "true", "HX-Target": "results"}
    add_orders(5)
    few, few_fragment = queries(), queries(fragment)
    add_orders(15)
    many, many_fragment = queries(), queries(fragment)
    assert few[1] == few_fragment[1] == 5
    assert many[1] == many_fragment[1] == 20
    assert few[0] == many[0] <= 9
    assert few_fragment[0] == many_fragment[0] <= 8


# ---------------------------------------------------------------- the order page


def test_the_order_page_shows_lines_amounts_payment_address_and_timeline(
    staff_client, session, shopper, address, tee
):
    order = paid_order(session, shopper, address, tee)
    payment = order.payments[0]
    html = text(staff_client.get(f"/admin/orders/{order.number}"))
    assert "纯棉T恤" in html and "红" in html
    assert "¥118.00" in html  # 2 × ¥59.00
    assert payment.out_trade_no in html
    assert "林小雨" in html and "科技园路 1 号" in html and "18612345678" in html
    # The timeline, newest first, with who did it and the change of state.
    timeline = html[html.index("order-timeline") :]
    assert timeline.index("支付成功") < timeline.index("订单已提交")
    assert "待付款 → 待发货" in timeline
    assert "小林" in timeline


def test_an_unknown_order_is_a_404(staff_client):
    assert staff_client.get("/admin/orders/9999999999999999").status_code == 404
    assert staff_client.get("/admin/orders/" + "1" * 200).status_code == 404


def test_an_unpaid_order_past_its_time_is_cancelled_when_the_merchant_opens_it(
    staff_client, session, shopper, address, tee
):
    order = place(session, shopper, address, {tee.skus[0].id: 3})
    set_clock(utcnow() + timedelta(minutes=31))
    assert staff_client.get(f"/admin/orders/{order.number}").status_code == 200
    assert fresh(session, Order, order.id).status == OrderStatus.CANCELLED
    assert fresh(session, Sku, tee.skus[0].id).stock == 50


def test_shipping_through_the_form(staff_client, session, shopper, address, tee, staff):
    order = paid_order(session, shopper, address, tee)
    response = post(
        staff_client,
        f"/admin/orders/{order.number}/ship",
        {"ship-carrier_choice": "shunfeng", "ship-tracking_no": " SF 1234 5678 90 "},
    )
    assert response.status_code == 302
    order = fresh(session, Order, order.id)
    assert (order.status, order.carrier, order.carrier_code, order.tracking_no) == (
        OrderStatus.SHIPPED,
        "顺丰速运",
        "shunfeng",
        "SF1234567890",
    )
    event_row = session.scalars(select(OrderEvent).where(OrderEvent.action == "shipped")).one()
    assert event_row.actor_id == staff.id and event_row.actor_kind == "staff"
    assert "已发货" in text(staff_client.get(response.headers["Location"]))


def test_shipping_with_a_carrier_typed_in_over_htmx_swaps_the_order_area(
    staff_client, session, shopper, address, tee
):
    order = paid_order(session, shopper, address, tee)
    response = staff_client.post(
        f"/admin/orders/{order.number}/ship",
        data={
            "ship-carrier_choice": "other",
            "ship-carrier_other": "德邦快递",
            "ship-tracking_no": "DPK123456789",
        },
        headers=htmx(staff_client),
    )
    assert response.status_code == 200
    assert 'id="order-main"' in text(response) and "<html" not in text(response)
    assert toast(response)["level"] == "success"
    assert fresh(session, Order, order.id).carrier == "德邦快递"
    assert fresh(session, Order, order.id).carrier_code == "debangkuaidi"  # a known name finds its code


@pytest.mark.parametrize(
    ("data", "field_error"),
    [
        ({"ship-carrier_choice": "", "ship-tracking_no": "SF1234567890"}, "ship-carrier_choice"),
        (
            {"ship-carrier_choice": "other", "ship-carrier_other": "", "ship-tracking_no": "SF1234567890"},
            "ship-carrier_other",
        ),
        ({"ship-carrier_choice": "shunfeng", "ship-tracking_no": "运单号？"}, "ship-tracking_no"),
        ({"ship-carrier_choice": "火星快递", "ship-tracking_no": "SF1234567890"}, "ship-carrier_choice"),
    ],
)
def test_bad_shipping_input_is_refused_next_to_the_field(
    staff_client, session, shopper, address, tee, data, field_error
):
    order = paid_order(session, shopper, address, tee)
    response = staff_client.post(f"/admin/orders/{order.number}/ship", data=data, headers=htmx(staff_client))
    assert response.status_code == 422
    assert toast(response)["level"] == "error"
    assert re.search(
        rf'name="{field_error}"[^>]*class="[^"]*is-invalid|class="[^"]*is-invalid[^"]*"[^>]*name="{field_error}"',
        text(response),
    )
    assert fresh(session, Order, order.id).status == OrderStatus.PAID


def test_shipping_an_unpaid_order_is_refused_with_a_message(staff_client, session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    data = {"ship-carrier_choice": "shunfeng", "ship-tracking_no": "SF1234567890"}
    response = staff_client.post(f"/admin/orders/{order.number}/ship", data=data, headers=htmx(staff_client))
    assert response.status_code == 422
    assert toast(response) == {"level": "error", "message": "只有已付款且未发货的订单才能发货。"}
    # Without htmx: back to the order page with the same message.
    response = post(staff_client, f"/admin/orders/{order.number}/ship", data, follow_redirects=True)
    assert response.status_code == 200
    assert "只有已付款且未发货的订单才能发货。" in text(response)
    assert fresh(session, Order, order.id).status == OrderStatus.PENDING_PAYMENT


def test_confirming_a_manual_transfer_marks_the_order_paid(
    staff_client, session, shopper, address, tee, staff
):
    enable_manual_payment(session)
    order = manual_order(session, shopper, address, tee)
    assert "确认收款" in text(staff_client.get(f"/admin/orders/{order.number}"))
    response = staff_client.post(f"/admin/orders/{order.number}/confirm-transfer", headers=htmx(staff_client))
    assert response.status_code == 200
    order = fresh(session, Order, order.id)
    assert order.status == OrderStatus.PAID and order.payment_method == "manual"
    paid_event = session.scalars(select(OrderEvent).where(OrderEvent.action == "paid")).one()
    assert paid_event.actor_id == staff.id
    # Confirming again changes nothing and says why.
    again = staff_client.post(f"/admin/orders/{order.number}/confirm-transfer", headers=htmx(staff_client))
    assert again.status_code == 422 and toast(again)["level"] == "error"
    assert session.scalars(select(OrderEvent).where(OrderEvent.action == "paid")).all() == [paid_event]


def test_rejecting_a_manual_transfer_needs_a_reason_and_returns_the_order_to_unpaid(
    staff_client, session, shopper, address, tee
):
    enable_manual_payment(session)
    order = manual_order(session, shopper, address, tee)
    empty = staff_client.post(
        f"/admin/orders/{order.number}/reject-transfer",
        data={"reject_transfer-reason": "  "},
        headers=htmx(staff_client),
    )
    assert empty.status_code == 422
    assert fresh(session, Order, order.id).status == OrderStatus.AWAITING_CONFIRMATION
    response = staff_client.post(
        f"/admin/orders/{order.number}/reject-transfer",
        data={"reject_transfer-reason": "没有收到这笔转账"},
        headers=htmx(staff_client),
    )
    assert response.status_code == 200
    order = fresh(session, Order, order.id)
    assert order.status == OrderStatus.PENDING_PAYMENT
    assert order.expires_at > utcnow() + timedelta(minutes=25)
    assert "没有收到这笔转账" in text(response)


def test_staff_cancel_an_unpaid_order_and_its_stock_comes_back(staff_client, session, shopper, address, tee):
    order = place(session, shopper, address, {tee.skus[0].id: 4})
    assert fresh(session, Sku, tee.skus[0].id).stock == 46
    response = staff_client.post(
        f"/admin/orders/{order.number}/cancel",
        data={"cancel-reason": "买家要求取消"},
        headers=htmx(staff_client),
    )
    assert response.status_code == 200
    order = fresh(session, Order, order.id)
    assert (order.status, order.cancel_reason) == (OrderStatus.CANCELLED, "买家要求取消")
    assert fresh(session, Sku, tee.skus[0].id).stock == 50
    again = staff_client.post(f"/admin/orders/{order.number}/cancel", data={}, headers=htmx(staff_client))
    assert again.status_code == 422
    assert fresh(session, Sku, tee.skus[0].id).stock == 50


def test_a_paid_order_cannot_be_cancelled_by_staff(staff_client, session, shopper, address, tee):
    order = paid_order(session, shopper, address, tee)
    response = staff_client.post(f"/admin/orders/{order.number}/cancel", data={}, headers=htmx(staff_client))
    assert response.status_code == 422
    assert fresh(session, Order, order.id).status == OrderStatus.PAID


def test_a_staff_note_is_added_to_the_trail_and_never_replaces_one(
    staff_client, session, shopper, address, tee
):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    for note in ("买家来电：周末再发", "已改期"):
        response = staff_client.post(
            f"/admin/orders/{order.number}/note", data={"note-note": note}, headers=htmx(staff_client)
        )
        assert response.status_code == 200
    assert "买家来电：周末再发" in text(response) and "已改期" in text(response)
    notes = session.scalars(select(OrderEvent.note).where(OrderEvent.action == "staff_note")).all()
    assert notes == ["买家来电：周末再发", "已改期"]
    empty = staff_client.post(
        f"/admin/orders/{order.number}/note", data={"note-note": " "}, headers=htmx(staff_client)
    )
    too_long = staff_client.post(
        f"/admin/orders/{order.number}/note", data={"note-note": "长" * 501}, headers=htmx(staff_client)
    )
    assert empty.status_code == too_long.status_code == 422
    assert session.scalar(select(OrderEvent.id).where(OrderEvent.action == "staff_note").offset(2)) is None


# ---------------------------------------------------------------- refunds


def ask_refund(session, order, shopper, qty=1, reason="尺码不合适") -> Refund:
    refund = orders.refunds.request_refund(
        session, order, shopper, items={order.lines[0].id: qty}, reason=reason
    )
    session.commit()
    return refund


@pytest.mark.parametrize("restock", [True, False])
def test_approving_a_refund_pays_it_back_and_restocks_only_when_asked(
    staff_client, session, shopper, address, tee, restock
):
    order = paid_order(session, shopper, address, tee, qty=3)
    orders.transitions.ship_order(
        session, order, actor=shopper, carrier="顺丰速运", tracking_no="SF1234567890"
    )
    session.commit()
    refund = ask_refund(session, order, shopper)
    data = {f"approve{refund.id}-restock": "y"} if restock else {}
    response = staff_client.post(
        f"/admin/refunds/{refund.id}/approve", data=data, headers=htmx(staff_client, f"refund-{refund.id}")
    )
    assert response.status_code == 200
    assert f'id="refund-{refund.id}"' in text(response) and 'id="order-main"' not in text(response)
    refund = fresh(session, Refund, refund.id)
    order = fresh(session, Order, order.id)
    assert refund.status == "refunded"  # the sandbox gives the money back at once
    assert (order.refunded_fen, order.refund_status) == (5900, RefundStatus.PARTIAL)
    assert fresh(session, Sku, tee.skus[0].id).stock == (48 if restock else 47)


def test_rejecting_a_refund_needs_a_reason(staff_client, session, shopper, address, tee):
    order = paid_order(session, shopper, address, tee)
    refund = ask_refund(session, order, shopper)
    empty = staff_client.post(
        f"/admin/refunds/{refund.id}/reject",
        data={f"reject{refund.id}-reject_reason": ""},
        headers=htmx(staff_client),
    )
    assert empty.status_code == 422
    assert fresh(session, Refund, refund.id).status == "requested"
    response = staff_client.post(
        f"/admin/refunds/{refund.id}/reject",
        data={f"reject{refund.id}-reject_reason": "商品已拆封"},
        headers=htmx(staff_client),
    )
    assert response.status_code == 200
    assert 'id="order-main"' in text(response)
    refund = fresh(session, Refund, refund.id)
    assert (refund.status, refund.reject_reason) == ("rejected", "商品已拆封")
    assert fresh(session, Order, order.id).refund_status == RefundStatus.NONE
    twice = staff_client.post(
        f"/admin/refunds/{refund.id}/approve", data={}, headers=htmx(staff_client, f"refund-{refund.id}")
    )
    assert twice.status_code == 422
    assert toast(twice)["level"] == "error"


def test_a_manual_transfer_refund_stays_approved_until_the_merchant_marks_it_paid_back(
    staff_client, session, shopper, address, tee
):
    enable_manual_payment(session)
    order = manual_order(session, shopper, address, tee)
    payments.confirm_manual_payment(session, order, actor=shopper)
    session.commit()
    refund = ask_refund(session, order, shopper)
    response = post(staff_client, f"/admin/refunds/{refund.id}/approve", {})
    assert response.status_code == 302
    assert fresh(session, Refund, refund.id).status == "approved"
    order = fresh(session, Order, order.id)
    assert (order.refunded_fen, order.refund_status) == (0, RefundStatus.REQUESTED)
    assert "标记为已退款" in text(staff_client.get("/admin/refunds"))

    response = staff_client.post(
        f"/admin/refunds/{refund.id}/complete", headers=htmx(staff_client, f"refund-{refund.id}")
    )
    assert response.status_code == 200
    assert fresh(session, Refund, refund.id).status == "refunded"
    order = fresh(session, Order, order.id)
    assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, order.total_fen)
    again = staff_client.post(
        f"/admin/refunds/{refund.id}/complete", headers=htmx(staff_client, f"refund-{refund.id}")
    )
    assert again.status_code == 422
    assert fresh(session, Order, order.id).refunded_fen == order.total_fen


def test_the_refund_queue_lists_open_requests_oldest_first(
    staff_client, session, shopper, address, tee, staff
):
    first = paid_order(session, shopper, address, tee)
    older = ask_refund(session, first, shopper, reason="第一个申请")
    second = paid_order(session, shopper, address, tee)
    newer = ask_refund(session, second, shopper, reason="第二个申请")
    third = paid_order(session, shopper, address, tee)
    handled = ask_refund(session, third, shopper, reason="已处理的申请")
    orders.refunds.reject_refund(session, handled, actor=staff, reason="不符合")
    session.commit()
    html = text(staff_client.get("/admin/refunds"))
    assert html.index("第一个申请") < html.index("第二个申请")
    assert "已处理的申请" not in html
    assert first.number in html and "小林" in html
    everything = text(staff_client.get("/admin/refunds?show=all"))
    assert everything.index("第二个申请") < everything.index("已处理的申请")
    assert older.number in html and newer.number in html


# ---------------------------------------------------------------- money to send back


def flagged_payment(session, shopper, address, tee) -> Payment:
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    session.commit()
    orders.transitions.cancel_order(session, order, actor=None, reason="Not paid in time")
    session.commit()
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    return payment


def test_money_to_send_back_is_flagged_in_the_menu_and_can_be_marked_returned(
    staff_client, session, shopper, address, tee
):
    payment = flagged_payment(session, shopper, address, tee)
    dashboard = text(staff_client.get("/admin/"))
    assert "待退回款项" in dashboard and "1 笔" in dashboard
    page = text(staff_client.get("/admin/payments"))
    assert payment.out_trade_no in page

    empty = staff_client.post(
        f"/admin/payments/{payment.id}/settle",
        data={f"settle{payment.id}-note": ""},
        headers=htmx(staff_client, f"payment-{payment.id}"),
    )
    assert empty.status_code == 422
    assert fresh(session, Payment, payment.id).needs_refund
    response = staff_client.post(
        f"/admin/payments/{payment.id}/settle",
        data={f"settle{payment.id}-note": "已在微信支付后台原路退回"},
        headers=htmx(staff_client, f"payment-{payment.id}"),
    )
    assert response.status_code == 200
    payment = fresh(session, Payment, payment.id)
    assert not payment.needs_refund and payment.refund_note == "已在微信支付后台原路退回"
    assert "flagged_payment_returned" in [e.action for e in payment.order.events]
    assert payment.out_trade_no not in text(staff_client.get("/admin/payments"))


def test_one_payment_to_send_back_is_one_payment_in_english(staff_client, session, shopper, address, tee):
    flagged_payment(session, shopper, address, tee)
    dashboard = text(staff_client.get("/admin/?lang=en"))
    assert (
        "1 payment arrived for an order that could not take it. Send the money back to the buyer."
        in dashboard
    )
    assert "1 payments" not in dashboard
    assert "有 1 笔款项付给了已取消或已付款的订单" in text(staff_client.get("/admin/?lang=zh"))


# ---------------------------------------------------------------- bulk shipping


def upload(client, content: bytes, filename="发货.csv", **headers):
    return client.post(
        "/admin/orders/bulk-ship",
        data={"file": (io.BytesIO(content), filename), "csrf_token": csrf_token(client, "/admin/orders")},
        content_type="multipart/form-data",
        headers=headers,
    )


def test_bulk_ship_ships_the_good_rows_and_reports_the_bad_ones(staff_client, session, shopper, address, tee):
    good = paid_order(session, shopper, address, tee)
    also_good = paid_order(session, shopper, address, tee)
    unpaid = place(session, shopper, address, {tee.skus[0].id: 1})
    content = (
        "订单号,快递公司,快递单号,备注\n"
        f"{good.number},顺丰速运,SF1000000001,\n"
        f"{unpaid.number},中通快递,ZT2000000002,\n"
        "9999999999999999,圆通速递,YT3000000003,\n"
        f"{also_good.number}\t,韵达快递,YD4000000004\t,来自导出\n"
        f"{good.number},顺丰速运,SF1000000009,\n"
        ",,,\n"
        f"{also_good.number},,,\n"
    ).encode()
    response = upload(staff_client, content)
    assert response.status_code == 200
    html = text(response)
    assert "2 单发货成功" in html and "4 单失败" in html
    assert "只有已付款且未发货的订单才能发货。" in html  # the unpaid one
    assert "没有这个订单号" in html and "在文件中出现了多次" in html
    assert fresh(session, Order, good.id).tracking_no == "SF1000000001"
    assert fresh(session, Order, also_good.id).carrier == "韵达快递"
    assert fresh(session, Order, unpaid.id).status == OrderStatus.PENDING_PAYMENT

    report = re.search(r'name="report" value="([^"]+)"', html).group(1).replace("&#34;", '"')
    download = post(staff_client, "/admin/orders/bulk-ship/report.csv", {"report": report})
    assert download.status_code == 200 and download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["行号", "订单号", "快递公司", "快递单号", "结果", "失败原因"]
    assert [row[4] for row in rows[1:]] == ["成功", "失败", "失败", "成功", "失败", "失败"]
    assert post(staff_client, "/admin/orders/bulk-ship/report.csv", {"report": "not json"}).status_code == 400


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
def test_bulk_ship_reads_gbk_and_utf8_with_or_without_bom(
    staff_client, session, shopper, address, tee, encoding
):
    order = paid_order(session, shopper, address, tee)
    content = f"订单号,快递公司,快递单号\r\n{order.number},极兔速递,JT5000000005\r\n".encode(encoding)
    response = upload(staff_client, content, **{"HX-Request": "true", "HX-Target": "bulk-result"})
    assert response.status_code == 200
    assert "<html" not in text(response)
    assert fresh(session, Order, order.id).carrier == "极兔速递"


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00binary excel", "orders.xlsx", "不是 CSV 文件"),
        (b"PK\x03\x04\x14\x00\x06\x00binary excel", "orders.csv", "不是 CSV 文件"),
        (b"", "orders.csv", "文件是空的"),
        (b"\xef\xbb\xbf\r\n\r\n", "orders.csv", "文件是空的"),
        ("订单号,物流\n123,顺丰".encode(), "orders.csv", "缺少：快递公司、快递单号"),
        ("订单号,快递公司,快递单号\n".encode(), "orders.csv", "没有订单"),
        (b"x" * (2 * 1024 * 1024 + 1), "orders.csv", "2 MB"),
        (("订单号,快递公司,快递单号\n" + "1,顺丰,SF123456\n" * 5001).encode(), "orders.csv", "5000"),
    ],
)
def test_bulk_ship_refuses_bad_files_with_a_clear_message(staff_client, session, content, filename, message):
    response = upload(staff_client, content, filename)
    assert response.status_code == 422
    assert message in text(response)
    htmx_response = upload(
        staff_client, content, filename, **{"HX-Request": "true", "HX-Target": "bulk-result"}
    )
    assert htmx_response.status_code == 422
    assert message in toast(htmx_response)["message"]


def test_bulk_ship_drops_control_characters_anywhere_in_the_file(
    staff_client, session, shopper, address, tee
):
    order = paid_order(session, shopper, address, tee)
    padding = "".join(f"9{n:015d},顺丰,SF{n:08d}\n" for n in range(300))  # past the first 4 KB
    content = (
        f"订单号,快递公司,快递单号\n{padding}{order.number},极兔\x00速递\x1b,JT5000\x00000005\n".encode()
    )
    response = upload(staff_client, content)
    assert response.status_code == 200
    shipped = fresh(session, Order, order.id)
    assert (shipped.carrier, shipped.tracking_no) == ("极兔速递", "JT5000000005")


def test_bulk_ship_without_a_file_says_so(staff_client):
    response = staff_client.post(
        "/admin/orders/bulk-ship", data={"csrf_token": csrf_token(staff_client, "/admin/orders")}
    )
    assert response.status_code == 422
    assert "请选择 CSV 文件" in text(response)


def test_the_to_ship_template_lists_orders_waiting_to_ship(staff_client, session, shopper, address, tee):
    waiting = paid_order(session, shopper, address, tee)
    unpaid = place(session, shopper, address, {tee.skus[0].id: 1})
    body = staff_client.get("/admin/orders/bulk-ship/template.csv").get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["订单号", "快递公司", "快递单号"]
    numbers = [row[0].strip() for row in rows[1:]]
    assert numbers == [waiting.number] and unpaid.number not in numbers


# ---------------------------------------------------------------- export


def test_the_csv_export_has_a_bom_chinese_headers_and_one_row_per_line(
    staff_client, session, shopper, address, tee
):
    two_lines = place(session, shopper, address, {tee.skus[0].id: 2, tee.skus[1].id: 1})
    pay(session, two_lines, shopper)
    orders.transitions.ship_order(
        session, two_lines, actor=shopper, carrier="顺丰速运", tracking_no="SF1234567890"
    )
    session.commit()
    other = place(session, shopper, address, {tee.skus[0].id: 1})
    response = staff_client.get("/admin/orders/export.csv?tab=shipped")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:5] == ["订单号", "下单时间", "付款时间", "发货时间", "订单状态"]
    for column in (
        "收货人",
        "收货电话",
        "收货地址",
        "商品",
        "规格",
        "数量",
        "单价",
        "商品实付",
        "运费",
        "订单实付",
        "订单已退款",
        "快递公司",
        "快递单号",
    ):
        assert column in header
    assert len(rows) == 3  # the header and the two lines of the shipped order
    assert {row[0].strip() for row in rows[1:]} == {two_lines.number}
    assert other.number not in body.decode("utf-8-sig")
    first = dict(zip(header, rows[1], strict=True))
    assert (first["订单状态"], first["规格"], first["数量"], first["单价"], first["商品实付"]) == (
        "已发货",
        "红",
        "2",
        "59.00",
        "118.00",
    )
    assert first["订单实付"] == "187.00" and first["快递单号"].strip() == "SF1234567890"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", first["下单时间"])


def test_the_export_neutralises_spreadsheet_formulas(staff_client, session, shopper, tee):
    sneaky = factories.AddressFactory(user=shopper, recipient="=HYPERLINK(1)")
    place(session, shopper, sneaky, {tee.skus[0].id: 1})
    rows = list(
        csv.reader(io.StringIO(staff_client.get("/admin/orders/export.csv").get_data().decode("utf-8-sig")))
    )
    recipient = rows[0].index("收货人")
    assert rows[1][recipient] == "'=HYPERLINK(1)"


# ---------------------------------------------------------------- settings


def settings_form(client, **overrides) -> dict:
    data = {
        "csrf_token": csrf_token(client, "/admin/settings"),
        "name": "禾木生活馆",
        "service_phone": "0755-1234567",
        "announcement": "",
        "low_stock_threshold": "10",
        "shipping_flat_fen": "8.00",
        "free_shipping_over_fen": "99",
        "order_expire_minutes": "45",
        "autocomplete_days": "7",
        "manual_payment_enabled": "y",
        "manual_payment_text": "工商银行 6222 0000 1111 2222 张三",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_the_order_settings_are_saved(owner_client, session):
    response = owner_client.post("/admin/settings", data=settings_form(owner_client))
    assert response.status_code == 302
    settings = fresh(session, ShopSettings, 1)
    assert (settings.shipping_flat_fen, settings.free_shipping_over_fen) == (800, 9900)
    assert (settings.order_expire_minutes, settings.autocomplete_days) == (45, 7)
    assert settings.manual_payment_enabled and settings.manual_payment_text.startswith("工商银行")
    page = text(owner_client.get("/admin/settings"))
    assert 'value="8.00"' in page and 'value="99.00"' in page
    # The threshold is optional: empty means none.
    owner_client.post("/admin/settings", data=settings_form(owner_client, free_shipping_over_fen=""))
    assert fresh(session, ShopSettings, 1).free_shipping_over_fen is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("shipping_flat_fen", "8.005", "两位小数"),
        ("shipping_flat_fen", "-1", "不能为负"),
        ("shipping_flat_fen", "abc", "12.30"),
        ("shipping_flat_fen", "", "请输入金额"),
        ("free_shipping_over_fen", "0", "大于 0"),
        ("free_shipping_over_fen", "99999999999", "金额过大"),
        ("order_expire_minutes", "4", "5 到 1440"),
        ("order_expire_minutes", "1441", "5 到 1440"),
        ("order_expire_minutes", "abc", "5 到 1440"),
        ("autocomplete_days", "0", "1 到 30"),
        ("autocomplete_days", "31", "1 到 30"),
        ("manual_payment_text", "", "收款码"),
        ("manual_payment_text", "长" * 501, "500"),
    ],
)
def test_bad_order_settings_change_nothing(owner_client, session, field, value, message):
    session.add(
        ShopSettings(
            id=1, name="旧店名", shipping_flat_fen=500, order_expire_minutes=30, autocomplete_days=10
        )
    )
    session.commit()
    response = owner_client.post("/admin/settings", data=settings_form(owner_client, **{field: value}))
    assert response.status_code == 200
    assert message in text(response)
    settings = fresh(session, ShopSettings, 1)
    assert (settings.name, settings.shipping_flat_fen, settings.order_expire_minutes) == ("旧店名", 500, 30)
    assert (settings.autocomplete_days, settings.manual_payment_enabled) == (10, False)


def test_the_shop_has_a_user_agreement_and_privacy_policy_the_merchant_can_replace(
    owner_client, app, session
):
    owner_client.post("/admin/settings", data=settings_form(owner_client))
    shopper = app.test_client()
    register = text(shopper.get("/register"))
    assert '《<a href="/terms" target="_blank">用户协议</a>》' in register and 'href="/privacy"' in register
    terms, privacy = text(shopper.get("/terms")), text(shopper.get("/privacy"))
    assert "欢迎光临禾木生活馆" in terms and "0755-1234567" in terms
    assert "我们收集什么" in privacy and "openid" in privacy and "0755-1234567" in privacy

    own = "第一条 本店只在深圳发货。\r\n\r\n第二条 <b>生鲜</b>不退换。"  # as a browser sends a textarea
    response = owner_client.post("/admin/settings", data=settings_form(owner_client, terms_text=own))
    assert response.status_code == 302
    terms = text(shopper.get("/terms"))
    assert "<p>第一条 本店只在深圳发货。</p>" in terms and "&lt;b&gt;生鲜&lt;/b&gt;" in terms
    assert "欢迎光临" not in terms and "我们收集什么" in text(
        shopper.get("/privacy")
    )  # the other stays built in

    too_long = owner_client.post(
        "/admin/settings", data=settings_form(owner_client, privacy_text="长" * 20001)
    )
    assert too_long.status_code == 200 and "20000" in text(too_long)
    assert fresh(session, ShopSettings, 1).privacy_text == ""


def test_staff_cannot_change_the_settings(staff_client, session):
    assert staff_client.get("/admin/settings").status_code == 403


# ---------------------------------------------------------------- dashboard


def test_the_dashboard_shows_what_needs_doing_today_and_the_jobs(
    staff_client, runner, session, shopper, address, tee
):
    paid_order(session, shopper, address, tee)  # ¥118.00 paid today
    place(session, shopper, address, {tee.skus[0].id: 1})  # unpaid: not in today's sales
    yesterday = place(session, shopper, address, {tee.skus[1].id: 1})
    set_clock(utcnow() - timedelta(days=1))
    yesterday.paid_at = utcnow()
    yesterday.status = OrderStatus.PAID
    forgotten = place(session, shopper, address, {tee.skus[1].id: 1})  # unpaid since yesterday
    set_clock(None)
    session.commit()
    result = runner.invoke(args=["orders", "expire"])
    assert result.exit_code == 0 and "expired=1" in result.output, result.output
    assert session.get(JobRun, "orders-expire").result == "expired=1"
    session.expire_all()
    assert session.get(Order, forgotten.id).status == OrderStatus.CANCELLED
    html = text(staff_client.get("/admin/"))
    assert "待发货" in html and "支付金额" in html and "¥118.00" in html
    assert "取消超时未付款订单 1 单" in html  # what the job did, said in the reader's language
    assert "从未运行" in html  # orders-autocomplete
    assert "payments reconcile" not in html  # no real gateway takes money: nothing to reconcile
    paid, paid_orders = orders.stats.order_figures(session, orders.stats.period_for("today"))[:2]
    assert (paid_orders.current, paid.current) == (1, 11800)  # yesterday's order and the unpaid ones not
    alerts = back_office_alerts(session)
    assert (alerts.to_ship, alerts.awaiting_confirmation, alerts.open_refunds, alerts.flagged_payments) == (
        2,
        0,
        0,
        0,
    )


# ---------------------------------------------------------------- who may do it


ORDER_PAGES = [
    "/admin/orders",
    "/admin/refunds",
    "/admin/payments",
    "/admin/orders/bulk-ship",
    "/admin/orders/export.csv",
]


def test_staff_can_use_the_order_pages_and_a_customer_cannot(client, session, staff, shopper, address, tee):
    order = paid_order(session, shopper, address, tee)
    refund = ask_refund(session, order, shopper)
    back_office_login(client, staff)
    for path in [*ORDER_PAGES, f"/admin/orders/{order.number}"]:
        assert client.get(path).status_code == 200, path

    customer = factories.UserFactory()
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/orders")})
    login_response = client.post(
        "/login",
        data={
            "mobile": customer.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert login_response.status_code == 302
    for path in [*ORDER_PAGES, f"/admin/orders/{order.number}"]:
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/")
    for path in (f"/admin/orders/{order.number}/cancel", f"/admin/refunds/{refund.id}/approve"):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert fresh(session, Refund, refund.id).status == "requested"


def test_a_post_without_the_csrf_token_is_refused(staff_client, session, shopper, address, tee):
    order = paid_order(session, shopper, address, tee)
    refund = ask_refund(session, order, shopper)
    response = staff_client.post(
        f"/admin/orders/{order.number}/ship",
        data={"ship-carrier_choice": "顺丰速运", "ship-tracking_no": "SF1234567890"},
    )
    assert response.status_code == 400
    assert staff_client.post(f"/admin/refunds/{refund.id}/approve", data={}).status_code == 400
    assert (
        staff_client.post(
            f"/admin/refunds/{refund.id}/reject", data={}, headers={"HX-Request": "true"}
        ).status_code
        == 400
    )
    order = fresh(session, Order, order.id)
    assert order.status == OrderStatus.PAID and fresh(session, Refund, refund.id).status == "requested"


# ---------------------------------------------------------------- the rules behind the pages


def test_ship_orders_in_bulk_keeps_each_row_apart(session, shopper, address, tee, staff):
    good = paid_order(session, shopper, address, tee)
    results = orders.queries.ship_orders_in_bulk(
        session,
        [(good.number, "顺丰速运", "bad tracking!"), (good.number, "顺丰速运", "SF1234567890"), ("", "", "")],
        actor=staff,
    )
    session.commit()
    assert [(r.row, r.ok) for r in results] == [(2, False), (3, False), (4, False)]
    assert "快递单号" in results[0].message
    assert "多次" in results[1].message  # which of the two numbers is right? Neither is guessed.
    assert "缺少订单号" in results[2].message
    assert fresh(session, Order, good.id).status == OrderStatus.PAID


def test_staff_actions_follow_the_order_state(session, shopper, address, tee):
    enable_manual_payment(session)
    unpaid = place(session, shopper, address, {tee.skus[0].id: 1})
    assert staff_actions(unpaid) == {"cancel"}
    waiting = manual_order(session, shopper, address, tee)
    assert staff_actions(waiting) == {"cancel", "confirm_transfer", "reject_transfer"}
    paid = paid_order(session, shopper, address, tee)
    assert staff_actions(paid) == {"ship"}
    ask_refund(session, paid, shopper)
    session.refresh(paid)
    assert staff_actions(paid) == set()


def test_add_staff_note_refuses_empty_and_long_notes(session, shopper, address, tee, staff):
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    for bad in ("", "   \n ", "x" * 501):
        with pytest.raises(orders.events.OrderError):
            orders.queries.add_staff_note(session, order, actor=staff, note=bad)
    note = orders.queries.add_staff_note(session, order, actor=staff, note="  第一行 \n\n  第二行  ")
    assert note.note == "第一行\n\n第二行"


def test_a_job_result_is_said_in_words_and_a_failure_shows_its_error(app):
    from app.jobs import describe_counts, job_result

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert describe_counts("released=2 mismatches=0") == "释放 2 笔佣金，0 处余额不一致"
        assert describe_counts("paid=0 closed=0 waiting=0 errors=0") == "无需处理"
        # A group refund the gateway refused is not a payment query that went wrong.
        assert (
            describe_counts("failed_groups=0 group_refunds=1 refunds_refused=2")
            == "发出 1 笔拼团退款，2 笔退款被支付渠道拒绝，下次运行重试"
        )
        assert describe_counts("an old free-text summary") == "an old free-text summary"
        assert (
            job_result(JobRun(name="orders-expire", result="database is locked", ok=False))
            == "database is locked"
        )


def test_the_menu_alone_shows_fresh_badges_and_keeps_the_page_highlighted(
    staff_client, staff, session, shopper, address, tee
):
    order = paid_order(session, shopper, address, tee)
    menu = staff_client.get("/admin/_nav?active=admin.orders_detail")
    html = text(menu)
    assert menu.status_code == 200 and html.lstrip().startswith('<ul class="nav')  # the menu, not a page
    link = re.search(r'<a class="nav-link ([^"]*)" href="/admin/orders">(.*?)</a>', html, re.S)
    assert "active" in link.group(1) and 'title="待发货">1<' in link.group(2)
    orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰速运", tracking_no="SF1234567890")
    session.commit()
    link = re.search(
        r'<a class="nav-link ([^"]*)" href="/admin/orders">(.*?)</a>',
        text(staff_client.get("/admin/_nav")),
        re.S,
    )
    assert "active" not in link.group(1) and "badge" not in link.group(2)


def test_with_a_real_gateway_on_the_dashboard_watches_reconcile_too(staff_client, session):
    from app.payments.gateways import payment_settings

    settings = payment_settings(session)
    settings.alipay_enabled = True
    session.add(settings)
    session.add(
        JobRun(
            name="payments-reconcile",
            started_at=utcnow(),
            finished_at=utcnow(),
            result="paid=2 closed=0 waiting=1 errors=0",
        )
    )
    session.commit()
    html = text(staff_client.get("/admin/"))
    assert "flask payments reconcile" in html and "补记 2 笔已付款，1 笔仍在等待付款" in html
