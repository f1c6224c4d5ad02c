"""The back office's 秒杀 pages as a merchant uses them, through the test client with CSRF on, on both
databases: a session made, its products added with flash price, stock and limits, the live sold counts,
stopping it early; refused input says why and changes nothing; staff without the marketing permission and
visitors are kept out."""

from sqlalchemy import func, select

from app.accounts.models import ROLE_PERMISSIONS, Permission, Role
from app.marketing.models import FlashItem, FlashSession, FlashSlot
from app.timeutil import SHOP_TZ, utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.htmlforms import form


def post(client, path, data, **headers):
    return client.post(
        path, data=data | {"csrf_token": csrf_token(client, "/admin/marketing/flash")}, headers=headers
    )


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def session_form(**changes) -> dict:
    today = utcnow().astimezone(SHOP_TZ).date()
    return {
        "name": "十点秒杀",
        "start_time": "10:00",
        "duration_minutes": "120",
        "repeat": "daily",
        "first_date": today.isoformat(),
        "last_date": today.isoformat(),
        "pay_minutes": "5",
    } | changes


def test_a_merchant_makes_a_session_adds_products_sees_sold_counts_and_stops_it(owner_client, session):
    product = factories.ProductFactory(title="坚果", skus=[{"price_fen": 59_90, "stock": 30}])
    assert owner_client.get("/admin/marketing/flash").status_code == 200
    assert owner_client.get("/admin/marketing/flash/new").status_code == 200
    made = post(owner_client, "/admin/marketing/flash/new", session_form())
    assert made.status_code == 302
    found = session.scalar(select(FlashSession))
    assert (found.start_minute, found.duration_minutes, found.pay_minutes) == (600, 120, 5)
    assert count(session, FlashSlot) == 1

    path = f"/admin/marketing/flash/{found.id}"
    sku = product.skus[0]
    item = {
        "sku_id": str(sku.id),
        "price": "29.90",
        "stock": "10",
        "per_user_limit": "1",
        "per_order_limit": "",
    }
    assert post(owner_client, path + "/items", item).status_code == 302
    saved = session.scalar(select(FlashItem))
    assert (saved.price_fen, saved.stock, saved.sold, saved.per_user_limit, saved.per_order_limit) == (
        29_90,
        10,
        0,
        1,
        None,
    )
    for bad, words in (
        ({"stock": "31"}, "不能超过该规格的库存"),
        ({"price": "59.90"}, "低于"),
        ({"price": "-1"}, "不能为负"),
        ({"price": "abc"}, "金额"),
        ({"stock": "x"}, "整数"),
        ({"sku_id": "99999999999"}, "不存在"),
    ):
        refused = post(owner_client, path + "/items", item | bad)
        assert refused.status_code == 422, bad
        assert words in refused.get_data(as_text=True), bad
    session.expire_all()
    assert (session.get(FlashItem, saved.id).price_fen, session.get(FlashItem, saved.id).stock) == (29_90, 10)

    session.execute(FlashItem.__table__.update().values(stock=7, sold=3))
    session.commit()
    page = owner_client.get("/admin/marketing/flash").get_data(as_text=True)
    assert "3 / 10" in page and "十点秒杀" in page
    # A stock change is applied as a difference: 7 left, the merchant types 12 → 12 left, 3 sold stays.
    assert post(owner_client, path + "/items", item | {"stock": "12"}).status_code == 302
    session.expire_all()
    assert (session.get(FlashItem, saved.id).stock, session.get(FlashItem, saved.id).sold) == (12, 3)
    # The row as the page showed it (12 left); 2 are bought meanwhile; the merchant saves a new price only.
    page = owner_client.get(path).get_data(as_text=True)
    assert f'form="flash-item-{saved.id}" type="hidden" name="stock_seen" value="12"' in page
    row = item | {"stock": "12", "stock_seen": "12"}
    session.execute(FlashItem.__table__.update().values(stock=10, sold=5))
    session.commit()
    assert post(owner_client, path + "/items", row | {"price": "28.80"}).status_code == 302
    session.expire_all()
    kept = session.get(FlashItem, saved.id)
    assert (kept.price_fen, kept.stock, kept.sold) == (28_80, 10, 5)  # the 2 bought are not given back
    assert post(owner_client, path + "/items", row | {"stock": "15"}).status_code == 302  # 3 more than seen
    session.expire_all()
    assert session.get(FlashItem, saved.id).stock == 13
    refused = post(owner_client, f"{path}/items/{saved.id}/remove", {})
    assert refused.status_code == 422 and "改为 0" in refused.get_data(as_text=True)  # sold: kept
    assert count(session, FlashItem) == 1
    other = post(owner_client, "/admin/marketing/flash/new", session_form(name="晚场"))
    other_path = other.headers["Location"].split("?")[0]
    wrong = post(owner_client, f"{other_path}/items/{saved.id}/remove", {})  # another session's product
    assert wrong.status_code == 422 and "不在本场次" in wrong.get_data(as_text=True)
    assert count(session, FlashItem) == 1

    stopped = post(owner_client, path + "/stop", {}, **{"HX-Request": "true"})
    assert stopped.status_code == 200 and stopped.headers["HX-Redirect"].endswith("/admin/marketing/flash")
    session.expire_all()
    assert session.get(FlashSession, found.id).is_stopped
    assert post(owner_client, path + "/stop", {}).status_code == 302  # again: says so, nothing changes


def test_the_add_row_finds_skus_by_name_and_adds_the_one_pressed(owner_client, session):
    """The merchant types part of a product name, sees its SKUs with list price and stock, fills in the flash
    price and stock and presses "Add" next to one: that SKU's id is what is sent, no id is typed."""
    nuts = factories.ProductFactory(
        title="每日坚果礼盒",
        options=[{"name": "规格", "values": ["小盒", "大盒"]}],
        skus=[
            {"price_fen": 59_90, "stock": 30, "spec_values": ["小盒"]},
            {"price_fen": 99_00, "stock": 12, "spec_values": ["大盒"]},
        ],
    )
    small, big = nuts.skus
    assert post(owner_client, "/admin/marketing/flash/new", session_form()).status_code == 302
    path = f"/admin/marketing/flash/{session.scalar(select(FlashSession.id))}"
    page = owner_client.get(path).get_data(as_text=True)
    add_row = form(page, path + "/items")
    assert "sku_q" in add_row.names and "sku_id" not in add_row.names  # no id to type
    assert f'hx-get="{path}/skus"' in page

    found = owner_client.get(path + "/skus", query_string={"sku_q": "坚果"}).get_data(as_text=True)
    assert "每日坚果礼盒" in found and "大盒" in found
    assert "¥99.00" in found and "规格库存 12" in found
    assert f'name="sku_id" value="{big.id}"' in found and f'name="sku_id" value="{small.id}"' in found

    # What the browser sends on pressing "Add" next to 大盒: the row as filled in, and the button's sku_id.
    pressed = add_row.data(price="79.00", stock="5", sku_q="坚果", sku_id=str(big.id))
    assert post(owner_client, path + "/items", pressed).status_code == 302
    item = session.scalar(select(FlashItem))
    assert (item.sku_id, item.price_fen, item.stock, item.per_user_limit) == (big.id, 79_00, 5, 1)

    found = owner_client.get(path + "/skus", query_string={"sku_q": "坚果"}).get_data(as_text=True)
    assert f'value="{big.id}"' not in found and "已添加" in found  # already in the session
    assert f'name="sku_id" value="{small.id}"' in found

    # Refused: the reason, the search and what was typed stay; the session's own fields are as saved.
    refused = post(owner_client, path + "/items", pressed | {"price": "60.00", "sku_id": str(small.id)})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "低于" in text and 'value="60.00"' in text and f'value="{small.id}"' in text
    assert 'value="十点秒杀"' in text
    assert count(session, FlashItem) == 1
    assert owner_client.get("/admin/marketing/flash/99999/skus?sku_q=坚果").status_code == 404


def test_refused_session_forms_say_why_and_change_nothing(owner_client, session):
    for bad, words in (
        ({"name": ""}, "名称"),
        ({"start_time": "25:00"}, "开始时间"),
        ({"duration_minutes": "0"}, "1 分钟到 24 小时"),
        ({"first_date": "2026-13-40"}, "日期"),
        ({"last_date": "2020-01-01"}, "结束日期不能早于开始日期"),
        ({"repeat": "dates", "dates": ""}, "至少选择一个日期"),
        ({"pay_minutes": "99"}, "支付时限"),
        ({"first_date": "0001-01-01"}, "日期"),
        ({"last_date": "9999-12-31"}, "日期"),
        ({"repeat": "dates", "dates": "9999-12-31", "start_time": "23:00"}, "日期"),
    ):
        response = post(owner_client, "/admin/marketing/flash/new", session_form(**bad))
        assert response.status_code == 422, bad
        assert words in response.get_data(as_text=True), bad
    assert count(session, FlashSession) == 0
    assert (
        post(
            owner_client,
            "/admin/marketing/flash/new",
            session_form(repeat="dates", dates="2026-12-12, 2026-12-24"),
        ).status_code
        == 302
    )
    assert count(session, FlashSlot) == 2


def test_staff_without_the_marketing_permission_and_visitors_are_kept_out(client, session, monkeypatch):
    assert client.get("/admin/marketing/flash").status_code in (302, 401)
    login(client, factories.UserFactory(role="staff", nickname="店员"), admin=True)
    assert client.get("/admin/marketing/flash").status_code == 200
    assert client.post("/admin/marketing/flash/new", data=session_form()).status_code == 400  # no CSRF token
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.STAFF, ROLE_PERMISSIONS[Role.STAFF] - {Permission.MARKETING})
    assert client.get("/admin/marketing/flash").status_code == 403
    assert post(client, "/admin/marketing/flash/new", session_form()).status_code == 403
    assert client.get("/admin/marketing/flash/1/skus?sku_q=a").status_code == 403
    assert count(session, FlashSession) == 0
