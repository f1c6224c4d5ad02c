"""The back office's 拼团 pages as a merchant uses them, through the test client with CSRF on, on both
databases: an activity made with its first product, more products added at a group price, a product with
groups kept, stopping early; an activity's groups by state with members and orders; the refunds in
flight with the reason a refund was refused; 待成团 orders not offered for shipping; the settle job on the
dashboard. Refused input says why and changes nothing; staff without the marketing permission and
visitors are kept out."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.accounts.models import ROLE_PERMISSIONS, Permission, Role
from app.admin.orders import back_office_alerts
from app.marketing import group_refunds
from app.marketing.models import (
    BuyGroup,
    BuyGroupMember,
    BuyGroupStatus,
    GroupBuy,
    GroupBuyItem,
    GroupRefundState,
)
from app.orders.models import Order
from app.payments import services as payments
from app.timeutil import SHOP_TZ, set_clock, utcnow
from tests import factories, test_groups
from tests.conftest import csrf_token, login
from tests.htmlforms import form
from tests.test_groups import buy, group_of, make_group_buy, member_of, open_group, pay, people

LIST = "/admin/marketing/groups"


# The 拼团 tests' own shop (manual payment on, free shipping) and real clock after each test.
real_clock = test_groups.real_clock
shop = test_groups.shop


@pytest.fixture
def tee(app):
    return factories.ProductFactory(title="纯棉T恤", skus=[{"price_fen": 100_00, "stock": 20}])


def post(client, path, data, **headers):
    return client.post(path, data=data | {"csrf_token": csrf_token(client, LIST)}, headers=headers)


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def local(moment) -> str:
    return moment.astimezone(SHOP_TZ).strftime("%Y-%m-%dT%H:%M")


def activity_form(**changes) -> dict:
    now = utcnow()
    return {
        "name": "两人团",
        "starts_at": local(now - timedelta(hours=1)),
        "ends_at": local(now + timedelta(days=3)),
        "group_size": "2",
        "hours": "24",
        "per_user_limit": "",
    } | changes


def test_a_merchant_makes_a_group_buy_with_its_first_product_then_adds_and_reprices(
    owner_client, session, shop, tee
):
    cap = factories.ProductFactory(title="棒球帽", skus=[{"price_fen": 50_00, "stock": 8}])
    assert "还没有拼团活动" in owner_client.get(LIST).get_data(as_text=True)
    page = owner_client.get(LIST + "/new").get_data(as_text=True)
    new_form = form(page, LIST + "/new")
    assert "sku_q" in new_form.names and "sku_id" not in new_form.names  # chosen by a result's button
    assert "pays_commission" in new_form.names and "未开启时" in page  # the commission sentence
    assert f'hx-get="{LIST}/skus"' in page
    found = owner_client.get(LIST + "/skus", query_string={"sku_q": "T恤"}).get_data(as_text=True)
    sku = tee.skus[0]
    assert "纯棉T恤" in found and f'name="sku_id" value="{sku.id}"' in found

    # Save without a product: refused, nothing written.
    refused = post(owner_client, LIST + "/new", new_form.data(**activity_form()))
    assert refused.status_code == 422 and "至少添加一个商品" in refused.get_data(as_text=True)
    assert count(session, GroupBuy) == 0

    made = post(owner_client, LIST + "/new", new_form.data(**activity_form(), price="59", sku_id=str(sku.id)))
    assert made.status_code == 302, made.get_data(as_text=True)[:2000]
    saved = session.scalar(select(GroupBuy))
    assert (saved.name, saved.group_size, saved.hours, saved.per_user_limit) == ("两人团", 2, 24, None)
    assert (saved.allow_points, saved.pays_commission) == (False, False)  # off by default
    assert [(item.sku_id, item.price_fen) for item in saved.items] == [(sku.id, 59_00)]

    path = f"{LIST}/{saved.id}"
    page = owner_client.get(path).get_data(as_text=True)
    assert "两人团" in page and "¥100.00" in page and 'value="59.00"' in page
    add_row = form(page, path + "/items")
    found = owner_client.get(LIST + "/skus", query_string={"sku_q": "T恤", "activity": saved.id})
    assert "已添加" in found.get_data(as_text=True)
    assert owner_client.get(LIST + "/skus", query_string={"sku_q": "T", "activity": "x"}).status_code == 404

    cap_sku = cap.skus[0]
    assert (
        post(owner_client, path + "/items", add_row.data(price="39.90", sku_id=str(cap_sku.id))).status_code
        == 302
    )
    assert post(owner_client, path + "/items", {"sku_id": str(sku.id), "price": "55"}).status_code == 302
    session.expire_all()
    assert {(item.sku_id, item.price_fen) for item in session.get(GroupBuy, saved.id).items} == {
        (sku.id, 55_00),
        (cap_sku.id, 39_90),
    }
    for bad, words in (
        ({"price": "50.00"}, "低于"),
        ({"price": "abc"}, "金额"),
        ({"sku_id": ""}, "选择商品"),
        ({"sku_id": "99999999999"}, "不存在"),
    ):
        refused = post(owner_client, path + "/items", {"sku_id": str(cap_sku.id), "price": "30"} | bad)
        assert refused.status_code == 422, bad
        assert words in refused.get_data(as_text=True), bad
    session.expire_all()
    assert session.get(GroupBuy, saved.id).items[-1].price_fen == 39_90

    # The activity's own fields: switches on, a limit; its products stay.
    changed = post(
        owner_client,
        path,
        activity_form(name="两人拼", hours="12", per_user_limit="2", allow_points="y", pays_commission="y"),
    )
    assert changed.status_code == 302
    session.expire_all()
    kept = session.get(GroupBuy, saved.id)
    assert (kept.name, kept.hours, kept.per_user_limit, kept.allow_points, kept.pays_commission) == (
        "两人拼",
        12,
        2,
        True,
        True,
    )
    assert len(kept.items) == 2
    listing = owner_client.get(LIST).get_data(as_text=True)
    assert "两人拼" in listing and "进行中" in listing and "2 人" in listing and "12 小时" in listing


@pytest.mark.parametrize(
    "change, words",
    [
        ({"name": ""}, "名称"),
        ({"group_size": "1"}, "2 到 10 人"),
        ({"group_size": "11"}, "2 到 10 人"),
        ({"group_size": "x"}, "整数"),
        ({"hours": "0"}, "1 到 72 小时"),
        ({"hours": "73"}, "1 到 72 小时"),
        ({"per_user_limit": "0"}, "1 到 9999"),
        ({"starts_at": "2026-13-40T10:00"}, "日期"),
        ({"ends_at": "2020-01-01T00:00"}, "结束时间"),
        ({"price": "100"}, "低于"),
        ({"price": "-1"}, "不能为负"),
    ],
)
def test_refused_activity_forms_say_why_and_change_nothing(owner_client, session, shop, tee, change, words):
    sku = tee.skus[0]
    data = activity_form(price="59", sku_id=str(sku.id)) | change
    response = post(owner_client, LIST + "/new", data)
    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert count(session, GroupBuy) == 0


def test_a_product_with_groups_stays_and_stopping_early_ends_the_open_groups(
    owner_client, session, shop, tee
):
    sku = tee.skus[0]
    other = factories.ProductFactory(skus=[{"price_fen": 30_00, "stock": 5}]).skus[0]
    group_buy = make_group_buy(session, sku, size=3)
    path = f"{LIST}/{group_buy.id}"
    assert post(owner_client, path + "/items", {"sku_id": str(other.id), "price": "20"}).status_code == 302
    (leader,) = people(1)
    _order, group = open_group(session, leader, sku, group_buy)
    with_groups = session.scalar(select(GroupBuyItem).where(GroupBuyItem.sku_id == sku.id))
    without = session.scalar(select(GroupBuyItem).where(GroupBuyItem.sku_id == other.id))

    page = owner_client.get(path).get_data(as_text=True)
    assert "已有拼团订单" in page
    refused = post(owner_client, f"{path}/items/{with_groups.id}/remove", {})
    assert refused.status_code == 422 and "已有人开团" in refused.get_data(as_text=True)
    assert count(session, GroupBuyItem) == 2
    assert post(owner_client, f"{path}/items/{without.id}/remove", {}).status_code == 302
    assert count(session, GroupBuyItem) == 1
    last = post(owner_client, f"{path}/items/{with_groups.id}/remove", {})
    assert last.status_code == 422 and count(session, GroupBuyItem) == 1
    other_buy = make_group_buy(session, other, name="别的团", price_fen=20_00)
    wrong = post(owner_client, f"{LIST}/{other_buy.id}/items/{with_groups.id}/remove", {})
    assert wrong.status_code == 422 and "不在本活动" in wrong.get_data(as_text=True)

    listing = owner_client.get(LIST).get_data(as_text=True)
    assert "拼团中 1" in listing and "三人团" in listing
    assert "未成团的团立即结束" in listing  # the stop button's confirm says what happens to open groups
    stopped = post(owner_client, path + "/stop", {}, **{"HX-Request": "true"})
    assert stopped.status_code == 200 and stopped.headers["HX-Redirect"].endswith(LIST)
    session.expire_all()
    assert session.get(GroupBuy, group_buy.id).is_stopped
    assert session.get(BuyGroup, group.id).expires_at <= utcnow()
    assert post(owner_client, path + "/stop", {}).status_code == 302  # again: says so, nothing changes
    assert "已停止" in owner_client.get(LIST).get_data(as_text=True)
    refused = post(owner_client, path + "/items", {"sku_id": str(sku.id), "price": "50"})
    assert refused.status_code == 422 and "已停止" in refused.get_data(as_text=True)
    assert owner_client.get(f"{LIST}/99999").status_code == 404


def test_the_groups_page_shows_each_group_with_its_state_members_and_orders(
    client, owner_client, session, shop, tee
):
    sku = tee.skus[0]
    group_buy = make_group_buy(session, sku, size=2, hours=2)
    a, b, c, d = people(4)
    full_order, full = open_group(session, a, sku, group_buy)
    joined = buy(session, b, sku, group=full.id)
    pay(session, joined)
    failing_order, failing = open_group(session, c, sku, group_buy)
    set_clock(failing.expires_at + timedelta(minutes=1))
    group_refunds.settle(session)
    set_clock(None)
    open_order, still_open = open_group(session, d, sku, group_buy)

    path = f"{LIST}/{group_buy.id}/groups"
    page = owner_client.get(path).get_data(as_text=True)
    for words in ("已成团", "已失败", "拼团中", "2 / 2", "1 / 2", "团长", full_order.number, joined.number):
        assert words in page, words
    assert f'href="/admin/orders/{joined.number}"' in page
    assert a.mobile in page  # the owner sees the buyers' numbers, as on the order pages
    assert "退款：已退款" in page  # the failed group's leader, refunded by the sandbox
    open_row = page.split(f'data-group="{still_open.id}"')[1].split("</tr>")[0]
    assert "待成团" in open_row and "待发货" not in open_row  # paid, waiting for its group
    orders_page = owner_client.get("/admin/orders").get_data(as_text=True)
    refunded_row = orders_page.split(f'data-order="{failing_order.number}"')[1].split("</tr>")[0]
    assert "已退款" in refunded_row and "data-group-hold" not in refunded_row  # done: nothing held

    only_full = owner_client.get(path, query_string={"state": "full"}).get_data(as_text=True)
    assert f'data-group="{full.id}"' in only_full and f'data-group="{failing.id}"' not in only_full
    assert f'data-group="{still_open.id}"' not in only_full
    tampered = owner_client.get(path, query_string={"state": "pending'"}).get_data(as_text=True)
    assert f'data-group="{failing.id}"' in tampered  # an unknown state shows them all
    assert owner_client.get(f"{LIST}/99999/groups").status_code == 404


def test_staff_who_do_not_handle_orders_see_masked_mobiles_and_no_order_links(
    client, session, shop, tee, monkeypatch
):
    group_buy = make_group_buy(session, tee.skus[0], size=2)
    (leader,) = people(1)
    leader.nickname = ""
    session.commit()
    order, _group = open_group(session, leader, tee.skus[0], group_buy)
    login(client, factories.UserFactory(role="staff"), admin=True)
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.STAFF, ROLE_PERMISSIONS[Role.STAFF] - {Permission.ORDERS})
    page = client.get(f"{LIST}/{group_buy.id}/groups").get_data(as_text=True)
    assert leader.mobile not in page and f"{leader.mobile[:3]}****{leader.mobile[-4:]}" in page
    assert order.number in page and f'href="/admin/orders/{order.number}"' not in page


def test_refunds_in_flight_show_the_manual_transfer_to_pay_back_and_a_refusal_with_its_reason(
    owner_client, session, shop, tee, runner
):
    sku = tee.skus[0]
    group_buy = make_group_buy(session, sku, size=3, hours=2)
    manual_payer, asker, friend = people(3)
    owner = factories.UserFactory(role="owner")
    by_hand = buy(session, manual_payer, sku, group_buy=group_buy.id)
    payments.claim_manual_payment(session, by_hand, manual_payer)
    payments.confirm_manual_payment(session, session.get(Order, by_hand.id), actor=owner)
    session.commit()
    group = group_of(session, by_hand)
    held = buy(session, asker, sku, group=group.id)
    pay(session, held)
    session.commit()

    page = owner_client.get(LIST + "/refunds").get_data(as_text=True)
    assert "从未运行" in page and "没有等待中的拼团退款" in page
    set_clock(group.expires_at + timedelta(minutes=1))
    assert runner.invoke(args=["groups", "settle"]).exit_code == 0
    set_clock(None)
    # A gateway's refusal as the job records it (the fake WeChat Pay refusing is in test_groups_refunds):
    # the sandbox never refuses, so the record is written here.
    session.execute(
        update(BuyGroupMember)
        .where(BuyGroupMember.order_id == held.id)
        .values(
            refund_state=GroupRefundState.DUE,
            refund_error="SYSTEM_ERROR 系统超时，请稍后重试",
            refund_attempts=2,
        )
    )
    session.commit()

    page = owner_client.get(LIST + "/refunds").get_data(as_text=True)
    assert "上次运行" in page and "1 个团未成团" in page
    assert f'data-order="{by_hand.number}"' in page and f'data-order="{held.number}"' in page
    assert "线下转账：请手动把钱退给买家" in page  # the merchant pays back by hand
    refund_id = member_of(session, by_hand).refund_id
    assert f'href="/admin/orders/{by_hand.number}#refund-{refund_id}"' in page
    assert "SYSTEM_ERROR 系统超时，请稍后重试" in page  # the reason the refund could not go
    assert "¥59.00" in page
    listing = owner_client.get(LIST).get_data(as_text=True)
    assert '退款进度 <span class="badge text-bg-warning">2</span>' in listing


def test_an_order_waiting_for_its_group_shows_it_and_is_not_offered_for_shipping(
    owner_client, session, shop, tee
):
    sku = tee.skus[0]
    group_buy = make_group_buy(session, sku, size=2)
    leader, friend = people(2)
    order, group = open_group(session, leader, sku, group_buy)

    listing = owner_client.get("/admin/orders").get_data(as_text=True)
    row = listing.split(f'data-order="{order.number}"')[1].split("</tr>")[0]
    assert "待成团" in row and "发货</a>" not in row
    detail = owner_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert "待成团" in detail and f"/admin/orders/{order.number}/ship" not in detail
    assert "已在拼团中占位" in detail  # the timeline's label for group_seat_taken
    assert f"团 #{group.id} · 1/2" in detail
    template = owner_client.get("/admin/orders/bulk-ship/template.csv").get_data(as_text=True)
    assert order.number not in template
    # Nor is it counted among the orders to ship.
    assert back_office_alerts(session).to_ship == 0

    joined = buy(session, friend, sku, group=group.id)
    pay(session, joined)
    assert group_of(session, order).status == BuyGroupStatus.FULL
    assert back_office_alerts(session).to_ship == 2
    detail = owner_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert "待成团" not in detail and f"/admin/orders/{order.number}/ship" in detail
    row = owner_client.get("/admin/orders").get_data(as_text=True).split(f'data-order="{order.number}"')[1]
    assert "发货" in row.split("</tr>")[0]
    assert order.number in owner_client.get("/admin/orders/bulk-ship/template.csv").get_data(as_text=True)


def test_the_dashboard_lists_the_settle_job_with_its_last_run(owner_client, session, shop, runner):
    page = owner_client.get("/admin/").get_data(as_text=True)
    assert "结束到时未成团的拼团" in page
    assert runner.invoke(args=["groups", "settle"]).exit_code == 0
    page = owner_client.get("/admin/").get_data(as_text=True)
    block = page.split('data-job="groups-settle"')[1].split("</li>")[0]
    assert "拼团结算" in block and "刚刚运行正常" in block


def test_staff_without_the_marketing_permission_and_visitors_are_kept_out(
    client, session, shop, tee, monkeypatch
):
    group_buy = make_group_buy(session, tee.skus[0])
    paths = ("", "/new", f"/{group_buy.id}", f"/{group_buy.id}/groups", "/refunds", "/skus?sku_q=T")
    for path in paths:
        assert client.get(LIST + path).status_code in (302, 401), path
    login(client, factories.UserFactory(role="staff", nickname="店员"), admin=True)
    assert client.get(LIST).status_code == 200
    assert client.post(LIST + f"/{group_buy.id}/stop").status_code == 400  # no CSRF token
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.STAFF, ROLE_PERMISSIONS[Role.STAFF] - {Permission.MARKETING})
    for path in paths:
        assert client.get(LIST + path).status_code == 403, path
    token = csrf_token(client, "/admin/")
    for path in ("/new", f"/{group_buy.id}", f"/{group_buy.id}/stop", f"/{group_buy.id}/items"):
        assert client.post(LIST + path, data={"csrf_token": token} | activity_form()).status_code == 403, path
    session.expire_all()
    assert not session.get(GroupBuy, group_buy.id).is_stopped
    assert count(session, GroupBuy) == 1
