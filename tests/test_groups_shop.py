"""拼团 in the shop, over HTTP, on SQLite and PostgreSQL: the checkout in group mode and its refusals (full,
failed, own group, tampered ids: a clear message, nothing written, no payment started), the group price
only when chosen, the product page's group mode and its kept copy following group changes, the group page
(masked members, nothing private), 我的拼团 (own groups only) and the group state on order pages."""

import time
from datetime import timedelta

from sqlalchemy import func, select, update

from app.marketing import groups
from app.marketing.models import BuyGroup, BuyGroupMember, BuyGroupStatus
from app.orders.models import Order
from app.payments.models import Payment
from app.timeutil import utcnow
from tests import factories
from tests.conftest import login
from tests.test_groups import (
    buy,
    group_of,
    make_group_buy,
    open_group,
    pay,
    people,
    real_clock,
    shop,
    sku,
    tee,
)
from tests.test_page_cache import visit
from tests.test_shop_orders import checkout_form

__all__ = ["real_clock", "shop", "sku", "tee"]  # fixtures shared with test_groups


def counts(session) -> tuple[int, int, int, int]:
    """(orders, payments, groups, members) as the database has them."""
    session.expire_all()
    return tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Order, Payment, BuyGroup, BuyGroupMember)
    )


def _join_fields(client, sku, group) -> dict:
    return checkout_form(client, f"?buy={sku.id}&qty=1&group={group.id}", payment_method="sandbox")


def test_the_group_price_is_charged_only_when_a_group_is_chosen(client, session, shop, sku):
    activity = make_group_buy(session, sku, price_fen=59_00)
    (shopper,) = people(1)
    login(client, shopper)
    alone = checkout_form(client, f"?buy={sku.id}&qty=1")
    assert alone["expected_total"] == "10000" and "group_buy" not in alone
    grouped = checkout_form(client, f"?buy={sku.id}&qty=1&group_buy={activity.id}")
    assert grouped["expected_total"] == "5900" and grouped["group_buy"] == str(activity.id)
    # A normal purchase that claims the group price is refused: the price is the list price.
    refused = client.post("/checkout", data=alone | {"expected_total": "5900", "payment_method": "sandbox"})
    assert refused.status_code == 422 and counts(session)[0] == 0
    response = client.post("/checkout", data=grouped | {"payment_method": "sandbox"})
    assert response.status_code in (302, 303)
    order = session.scalar(select(Order))
    assert order.total_fen == 59_00 and order.lines[0].activity_kind == "group"
    member = session.scalar(select(BuyGroupMember))
    assert member.is_leader and group_of(session, order).status == BuyGroupStatus.PENDING


def test_joining_by_the_share_link_takes_a_seat_and_fills_the_group(client, session, shop, sku):
    activity = make_group_buy(session, sku, size=2)
    leader, friend = people(2)
    order, group = open_group(session, leader, sku, activity)
    login(client, friend)
    page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    assert f"/checkout?buy={sku.id}&amp;qty=1&amp;group={group.id}" in page and "参团 ¥59.00" in page
    response = client.post("/checkout", data=_join_fields(client, sku, group))
    assert response.status_code in (302, 303)
    joined = session.scalar(select(Order).where(Order.user_id == friend.id))
    pay(session, joined)
    assert group_of(session, joined).status == BuyGroupStatus.FULL
    page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    assert "拼团成功" in page and "参团 ¥" not in page


def test_joining_a_group_that_cannot_take_you_is_refused_before_any_payment(client, session, shop, sku):
    activity = make_group_buy(session, sku, size=2)
    other = make_group_buy(session, factories.ProductFactory().skus[0], name="别的团")
    leader, friend, late = people(3)
    _order, group = open_group(session, leader, sku, activity)
    login(client, late)
    fields = _join_fields(client, sku, group)
    before = counts(session)
    for changes, words in (
        ({"group": "abc"}, "这个团不存在"),
        ({"group": "99999999999999999999"}, "这个团不存在"),
        ({"group": str(group.id + 1000)}, "这个团不存在"),
        ({"group": str(group.id), "buy": str(other.items[0].sku_id)}, "这个商品不在这个拼团活动里"),
        ({"group": "", "group_buy": "x1"}, "这个拼团活动不存在"),
        ({"qty": "2"}, "拼团订单每单只能买一件"),
    ):
        response = client.post("/checkout", data=fields | changes)
        assert response.status_code == 422, changes
        assert words in response.get_data(as_text=True), changes
        assert 'action="/checkout"' not in response.get_data(as_text=True)
    assert counts(session) == before

    # The group fills meanwhile: the checkout that was open says so, and no payment starts.
    friend_order = buy(session, friend, sku, group=group.id)
    pay(session, friend_order)
    before = counts(session)
    response = client.post("/checkout", data=fields)
    assert response.status_code == 422 and "这个团已经满员了" in response.get_data(as_text=True)
    assert client.get(f"/checkout?buy={sku.id}&qty=1&group={group.id}").status_code == 200
    assert "这个团已经满员了" in client.get(f"/checkout?buy={sku.id}&qty=1&group={group.id}").get_data(
        as_text=True
    )
    assert counts(session) == before


def test_a_failed_group_and_ones_own_group_are_refused_with_nothing_written(app, client, session, shop, sku):
    activity = make_group_buy(session, sku, size=3)
    leader, other = people(2)
    _order, group = open_group(session, leader, sku, activity)
    login(client, leader)
    response = client.get(f"/checkout?buy={sku.id}&qty=1&group={group.id}")
    assert "这是你自己的团" in response.get_data(as_text=True)
    fields = checkout_form(client, f"?buy={sku.id}&qty=1&group_buy={activity.id}") | {"group": str(group.id)}
    before = counts(session)
    response = client.post("/checkout", data=fields | {"group_buy": "", "payment_method": "sandbox"})
    assert response.status_code == 422 and "这是你自己的团" in response.get_data(as_text=True)
    assert counts(session) == before

    session.execute(update(BuyGroup).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    client = app.test_client()
    login(client, other)
    response = client.get(f"/checkout?buy={sku.id}&qty=1&group={group.id}")
    assert "这个团的拼团时间已过" in response.get_data(
        as_text=True
    ) and 'action="/checkout"' not in response.get_data(as_text=True)
    assert counts(session) == before


def test_the_group_page_shows_masked_members_and_nothing_private(app, client, session, shop, sku):
    activity = make_group_buy(session, sku, size=3)
    leader, friend = people(2)
    leader.nickname = "张三丰"
    session.commit()
    _order, group = open_group(session, leader, sku, activity)
    joined = buy(session, friend, sku, group=group.id)
    pay(session, joined)
    page = app.test_client().get(f"/groups/{group.id}").get_data(as_text=True)  # a stranger, not signed in
    assert "张**" in page and "张三丰" not in page
    assert "拼团中" in page and "还差 1 人" in page and "参团 ¥59.00" in page
    assert "¥59.00" in page and "¥100.00" in page and "3人团" in page
    for private in (leader.mobile, friend.mobile, joined.number, "收货", friend.nickname):
        assert private not in page, private
    assert app.test_client().get("/groups/999999").status_code == 404
    pending = buy(session, people(1)[0], sku, group_buy=activity.id)
    assert app.test_client().get(f"/groups/{group_of(session, pending).id}").status_code == 404

    login(client, friend)
    mine = client.get(f"/groups/{group.id}").get_data(as_text=True)
    assert "邀请好友" in mine and "参团 ¥" not in mine and f"/groups/{group.id}/poster.png" in mine
    poster = client.get(f"/groups/{group.id}/poster.png")
    assert poster.status_code == 200 and poster.mimetype == "image/png" and poster.data[:4] == b"\x89PNG"


def test_a_failed_group_page_says_so_and_offers_a_group_of_ones_own(app, session, shop, sku):
    activity = make_group_buy(session, sku, size=2)
    (leader,) = people(1)
    order, group = open_group(session, leader, sku, activity)
    session.execute(update(BuyGroup).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    page = app.test_client().get(f"/groups/{group.id}").get_data(as_text=True)
    assert "拼团失败，退款中" in page and "我也开一个团" in page and "参团 ¥" not in page
    from app.marketing import group_refunds

    group_refunds.settle(session)
    session.commit()
    page = app.test_client().get(f"/groups/{group.id}").get_data(as_text=True)
    assert "拼团失败，已退款" in page


def test_my_groups_lists_only_the_shoppers_own(app, client, session, shop, sku):
    activity = make_group_buy(session, sku, size=2)
    leader, friend, stranger = people(3)
    leader_order, group = open_group(session, leader, sku, activity)
    login(client, leader)
    page = client.get("/me/groups").get_data(as_text=True)
    assert "拼团中" in page and f"/groups/{group.id}" in page and "T恤" in page
    assert 'href="/me/groups"' in client.get("/me").get_data(as_text=True)
    client = app.test_client()
    login(client, stranger)
    page = client.get("/me/groups").get_data(as_text=True)
    assert f"/groups/{group.id}" not in page and "你还没有参加过拼团" in page
    assert friend is not None and leader_order is not None


def test_order_pages_say_waiting_for_the_group_and_link_to_it(client, session, shop, sku):
    activity = make_group_buy(session, sku, size=2)
    (leader,) = people(1)
    order, group = open_group(session, leader, sku, activity)
    login(client, leader)
    detail = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "待成团" in detail and f'href="/groups/{group.id}"' in detail
    assert "已加入拼团" in detail  # the timeline says the seat was taken
    listing = client.get("/orders").get_data(as_text=True)
    assert "待成团" in listing
    # While the group forms, no refund button (the service refuses it too): list, detail, and the page itself.
    refund_path = f"/orders/{order.number}/refund"
    assert refund_path not in detail and refund_path not in listing
    assert client.get(refund_path).status_code == 302
    session.execute(update(BuyGroup).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    from app.marketing import group_refunds

    group_refunds.settle(session)
    session.commit()
    detail = client.get(f"/orders/{order.number}").get_data(as_text=True)
    assert "未成团，已退款" in detail
    assert "待成团" not in client.get("/orders").get_data(as_text=True)


def test_the_product_page_offers_both_ways_and_its_kept_copy_follows_the_groups(app, session, shop, sku, tee):
    path = f"/p/{tee.id}"
    page = visit(app, path)[0]
    assert "发起拼团" not in page
    activity = make_group_buy(session, sku, size=2)
    page = visit(app, path)[0]
    assert "单独购买" in page and "发起拼团" in page and "¥59.00" in page and "2人团" in page
    assert f"/checkout?buy={sku.id}&amp;qty=1&amp;group_buy={activity.id}" in page
    assert f'href="/checkout?buy={sku.id}&amp;qty=1"' in page
    assert visit(app, path)[1] == 0  # kept
    leader, friend = people(2)
    leader.nickname = "李四"
    session.commit()
    _order, group = open_group(session, leader, sku, activity)
    page = visit(app, path)[0]
    assert "李**" in page and f"/groups/{group.id}" in page and "还差 1 人" in page
    assert visit(app, path)[1] == 0
    pay(session, buy(session, friend, sku, group=group.id))
    page = visit(app, path)[0]
    assert f"/groups/{group.id}" not in page  # full: no longer offered
    assert groups.stop_group_buy(session, activity.id)
    session.commit()
    assert "发起拼团" not in visit(app, path)[0]


def test_start_a_group_from_the_picker_goes_to_the_group_checkout(client, session, shop):
    product = factories.ProductFactory(
        title="袜子",
        options=[{"name": "颜色", "values": ["黑", "白"]}],
        skus=[
            {"price_fen": 20_00, "stock": 5, "spec_values": ["黑"]},
            {"price_fen": 20_00, "stock": 5, "spec_values": ["白"]},
        ],
    )
    black = product.skus[0]
    activity = make_group_buy(session, black, price_fen=12_00)
    (shopper,) = people(1)
    login(client, shopper)
    page = client.get(f"/p/{product.id}").get_data(as_text=True)
    assert 'name="buy_now" value="group"' in page and f'name="group_buy" value="{activity.id}"' in page
    from tests.conftest import csrf_token

    token = csrf_token(client, f"/p/{product.id}")
    data = {"sku_id": black.id, "qty": "3", "buy_now": "group", "group_buy": activity.id, "csrf_token": token}
    response = client.post("/cart/add", data=data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/checkout?buy={black.id}&qty=1&group_buy={activity.id}")


def test_a_kept_product_page_drops_an_open_group_when_its_time_is_up(app, session, shop, sku, tee):
    app.config["PAGE_CACHE_SECONDS"] = 3600  # so only the group's own end can end a kept page
    activity = make_group_buy(session, sku, size=2)
    (leader,) = people(1)
    _order, group = open_group(session, leader, sku, activity)
    session.execute(update(BuyGroup).values(expires_at=utcnow() + timedelta(seconds=2)))
    session.commit()
    path = f"/p/{tee.id}"
    assert f"/groups/{group.id}" in visit(app, path)[0]
    assert visit(app, path)[1] == 0  # kept until the group's end
    time.sleep(2.2)
    assert f"/groups/{group.id}" not in visit(app, path)[0]


def test_a_double_tap_on_a_group_checkout_makes_one_order_and_goes_to_pay_it(client, session, shop, sku):
    activity = make_group_buy(session, sku, size=2, per_user_limit=1)
    leader, friend = people(2)
    _order, group = open_group(session, leader, sku, activity)
    login(client, friend)
    fields = _join_fields(client, sku, group)
    first = client.post("/checkout", data=fields)
    second = client.post("/checkout", data=fields)
    assert first.status_code in (302, 303) and second.status_code in (302, 303)
    assert first.headers["Location"] == second.headers["Location"]
    assert counts(session)[0] == 2  # the leader's and one for the friend
