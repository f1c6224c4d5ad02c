"""The API's coupons, points, member level, 秒杀 and 拼团 (app/api/marketing.py, app/api/activities.py), on
SQLite and PostgreSQL: the same answers as the services the H5 pages call (and the words those pages show),
the claim's limits and refusals, another shopper's coupons and points never shown, bad input → 4xx, and on
PostgreSQL two shoppers claiming the last coupon at once."""

import html
from datetime import timedelta

import schemathesis
from flask import current_app
from hypothesis import given
from sqlalchemy import select, update

from app.extensions import db
from app.marketing import coupons, flash_display, group_display, members, points
from app.marketing.models import (
    BuyGroupMember,
    Coupon,
    CouponStatus,
    CouponTemplate,
    MarketingSettings,
    MemberLevel,
)
from app.timeutil import SHOP_TZ, utcnow
from tests import factories
from tests.conftest import login, run_together
from tests.test_api import API, api_login, assert_error, bearer
from tests.test_api_fuzz import CHECKS, FUZZ_SETTINGS
from tests.test_flash import flash_session
from tests.test_groups import buy, make_group_buy, open_group, people, real_clock, shop, sku, tee

__all__ = ["real_clock", "shop", "sku", "tee"]  # fixtures shared with test_groups


def template(session, **changes) -> CouponTemplate:
    data = {
        "name": "满100减20",
        "kind": "amount",
        "channel": "centre",
        "value_fen": 20_00,
        "threshold_fen": 100_00,
        "total_qty": 10,
        "per_user_limit": 1,
        "scope_kind": "all",
        "valid_days": 7,
    } | changes
    found = coupons.save_template(session, None, data)
    session.commit()
    return found


def page_text(path: str, user=None) -> str:
    """An H5 page as a browser of its own gets it (signed in as `user`), unescaped."""
    client = current_app.test_client()
    if user is not None:
        login(client, user)
    response = client.get(path)
    assert response.status_code == 200, path
    return html.unescape(response.get_data(as_text=True))


# --- coupons ---------------------------------------------------------------------------------------------


def test_the_coupon_centre_lists_what_the_h5_centre_lists_for_guests_and_shoppers(client, session, shop):
    now = utcnow()
    amount = template(session)
    rate = template(
        session,
        name="全场85折",
        kind="discount",
        discount_bp=8500,
        max_discount_fen=30_00,
        threshold_fen=0,
        total_qty=0,
        valid_days=None,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=30),
    )
    gone = template(session, name="已抢光", total_qty=1)
    session.execute(update(CouponTemplate).where(CouponTemplate.id == gone.id).values(claimed_qty=1))
    stopped = template(session, name="停发")
    stopped.is_stopped = True
    template(session, name="新人券", channel="newcomer")
    template(
        session, name="过期", claim_ends_at=now - timedelta(hours=1), claim_starts_at=now - timedelta(days=2)
    )
    session.commit()

    guest = client.get(f"{API}/coupons/centre").get_json()["items"]
    expected = coupons.centre(session, None)
    assert [item["template_id"] for item in guest] == [entry.template.id for entry in expected]
    assert {item["template_id"] for item in guest} == {amount.id, rate.id, gone.id}
    by_id = {item["template_id"]: item for item in guest}
    assert by_id[amount.id]["held"] is None and by_id[amount.id]["can_claim"] is None
    assert by_id[amount.id]["state"] == "claimable" and by_id[amount.id]["reason"] == "请先登录。"
    assert by_id[amount.id]["value"] == {"fen": 20_00, "display": "¥20.00"}
    assert by_id[amount.id]["threshold"]["fen"] == 100_00 and by_id[amount.id]["remaining"] == 10
    assert by_id[rate.id]["discount_text"] == "8.5折" and by_id[rate.id]["value"] is None
    assert by_id[rate.id]["max_discount"]["fen"] == 30_00 and by_id[rate.id]["remaining"] is None
    assert by_id[rate.id]["valid_until"] == rate.valid_until.isoformat()
    assert by_id[gone.id]["state"] == "gone" and by_id[gone.id]["remaining"] == 0
    assert "抢光" in by_id[gone.id]["reason"] or "领完" in by_id[gone.id]["reason"]
    # The words of each ticket are the H5 centre's.
    shown = page_text("/coupons")
    for item in guest:
        for words in (item["name"], item["description"], item["threshold_text"], item["validity_text"]):
            assert words in shown, words

    shopper = factories.UserFactory()
    token = api_login(client, shopper)
    coupons.claim(session, shopper.id, amount.id)
    session.commit()
    mine = {
        i["template_id"]: i
        for i in client.get(f"{API}/coupons/centre", headers=bearer(token)).get_json()["items"]
    }
    states = {entry.template.id: (entry.state, entry.held) for entry in coupons.centre(session, shopper.id)}
    assert {tid: (item["state"], item["held"]) for tid, item in mine.items()} == states
    assert mine[amount.id]["state"] == "held" and mine[amount.id]["can_claim"] is False
    assert mine[amount.id]["reason"] and mine[amount.id]["remaining"] == 9
    assert mine[rate.id]["can_claim"] is True and mine[rate.id]["reason"] is None
    assert mine[gone.id]["can_claim"] is False


def test_claiming_follows_the_h5_limits_and_refuses_clearly(client, session, shop):
    now = utcnow()
    shopper = factories.UserFactory()
    token = api_login(client, shopper)
    twice = template(session, per_user_limit=2, total_qty=3)
    url = f"{API}/coupons/{twice.id}/claim"
    assert_error(client.post(url), 401, "unauthorized")

    first = client.post(url, headers=bearer(token))
    assert first.status_code == 201, first.get_data(as_text=True)
    body = first.get_json()
    assert body["status"] == "usable" and body["template_id"] == twice.id and body["source"] == "centre"
    assert client.post(url, headers=bearer(token)).status_code == 201
    error = assert_error(client.post(url, headers=bearer(token)), 409, "coupon_refused")
    assert "已" in error["message"]
    session.expire_all()
    assert session.get(CouponTemplate, twice.id).claimed_qty == 2

    stopped = template(session, name="停发")
    stopped.is_stopped = True
    later = template(session, name="未开始", claim_starts_at=now + timedelta(days=1))
    over = template(
        session, name="已结束", claim_starts_at=now - timedelta(days=2), claim_ends_at=now - timedelta(days=1)
    )
    expired = template(
        session,
        name="过期",
        valid_days=None,
        valid_from=now - timedelta(days=9),
        valid_until=now + timedelta(days=1),
    )
    session.execute(
        update(CouponTemplate)
        .where(CouponTemplate.id == expired.id)
        .values(valid_until=now - timedelta(hours=1))
    )
    gone = template(session, name="抢光", total_qty=1)
    session.execute(update(CouponTemplate).where(CouponTemplate.id == gone.id).values(claimed_qty=1))
    session.commit()
    for refused in (stopped, later, over, expired, gone):
        assert_error(
            client.post(f"{API}/coupons/{refused.id}/claim", headers=bearer(token)), 409, "coupon_refused"
        )
    newcomer = template(session, name="新人券", channel="newcomer")
    for unknown in (newcomer.id, 999_999, 2**31 - 1):
        assert_error(
            client.post(f"{API}/coupons/{unknown}/claim", headers=bearer(token)), 404, "coupon_not_found"
        )
    assert client.post(f"{API}/coupons/abc/claim", headers=bearer(token)).status_code == 404
    session.expire_all()
    assert session.query(Coupon).filter_by(user_id=shopper.id).count() == 2


def test_my_coupons_by_status_as_the_h5_tabs_and_never_another_shoppers(client, session, shop):
    now = utcnow()
    shopper, other = factories.UserFactory(), factories.UserFactory()
    found = template(session, per_user_limit=5, total_qty=0)
    held = [coupons.claim(session, shopper.id, found.id) for _ in range(3)]
    theirs = coupons.claim(session, other.id, found.id)
    held[1].status, held[1].used_at = CouponStatus.USED, now
    held[2].valid_until = now - timedelta(hours=1)
    session.commit()
    token = api_login(client, shopper)

    for status in ("usable", "used", "expired"):
        answer = client.get(f"{API}/me/coupons?status={status}", headers=bearer(token)).get_json()
        assert answer["status"] == status
        assert [c["id"] for c in answer["items"]] == [c.id for c in coupons.mine(session, shopper.id, status)]
        assert len(answer["items"]) == 1 and theirs.id not in [c["id"] for c in answer["items"]]
        assert all(c["status"] == status for c in answer["items"])
    default = client.get(f"{API}/me/coupons", headers=bearer(token)).get_json()
    assert [c["id"] for c in default["items"]] == [held[0].id]
    assert default["items"][0]["source_text"] and default["items"][0]["description"] == coupons.describe(
        found
    )
    used = client.get(f"{API}/me/coupons?status=used", headers=bearer(token)).get_json()["items"][0]
    assert used["used_at"] is not None
    # The H5 tab shows the same coupons (its dates).
    assert held[0].valid_until.astimezone(SHOP_TZ).strftime("%Y-%m-%d") in page_text("/me/coupons", shopper)

    for bad in ("all", "USABLE", ""):
        error = assert_error(
            client.get(f"{API}/me/coupons?status={bad}", headers=bearer(token)), 422, "invalid"
        )
        assert set(error["fields"]) == {"status"}
    assert_error(client.get(f"{API}/me/coupons"), 401)


# --- points and level ---------------------------------------------------------------------------------------


def test_my_points_pages_the_ledger_newest_first_with_the_h5_rules(client, session, shop):
    shopper, other = factories.UserFactory(), factories.UserFactory()
    for amount in (100, 250, -50, 30, 5):
        points.add_points(session, shopper.id, amount, "adjust", note=f"调整{amount}")
    points.add_points(session, other.id, 999, "adjust", note="别人的")
    session.commit()
    token = api_login(client, shopper)

    first = client.get(f"{API}/me/points?limit=2", headers=bearer(token)).get_json()
    assert first["balance"] == 335 == points.balance(session, shopper.id)
    settings = members.marketing_settings(session)
    assert first["rules_text"] == points.rules_words(settings) and "积分" in first["rules_text"]
    assert [e["amount"] for e in first["entries"]] == [5, 30]
    assert first["entries"][0]["kind_text"] and first["entries"][0]["note"] == "调整5"
    seen = [e["id"] for e in first["entries"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"{API}/me/points?limit=2&cursor={cursor}", headers=bearer(token)).get_json()
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next_cursor"]
    assert seen == [entry.id for entry in points.history(session, shopper.id, limit=100)]
    assert len(seen) == 5  # never the other shopper's
    # The H5 points page shows the same rules and balance.
    shown = page_text("/me/points", shopper)
    assert first["rules_text"] in " ".join(shown.split()) and ">335<" in shown

    for bad in ("cursor=abc", "cursor=-1", "cursor=0", "limit=0", "limit=101", "limit=x"):
        assert_error(client.get(f"{API}/me/points?{bad}", headers=bearer(token)), 422, "invalid")
    assert_error(client.get(f"{API}/me/points"), 401)


def test_the_rules_text_follows_the_shops_settings(client, session, shop):
    settings = session.get(MarketingSettings, 1)
    settings.earn_per_yuan, settings.fen_per_point, settings.points_expiry_months = 2, 2, 0
    session.commit()
    token = api_login(client, factories.UserFactory())
    answer = client.get(f"{API}/me/points", headers=bearer(token)).get_json()
    assert (
        "2 积分" in answer["rules_text"]
        and "¥2.00" in answer["rules_text"]
        and "过期" not in answer["rules_text"]
    )
    assert answer["entries"] == [] and answer["next_cursor"] is None and answer["balance"] == 0


def test_my_level_is_the_h5_member_pages(client, session, shop):
    silver = MemberLevel(name="白银", growth_threshold=100, discount_bp=9500)
    gold = MemberLevel(name="黄金", growth_threshold=500, discount_bp=9000, free_shipping=True)
    session.add_all([silver, gold])
    session.commit()
    shopper = factories.UserFactory()
    token = api_login(client, shopper)

    below = client.get(f"{API}/me/level", headers=bearer(token)).get_json()
    assert below["level"] is None and below["next_level"]["name"] == "白银"
    assert f'level-card__name">{below["level_name"]}<' in page_text("/me/level", shopper)
    assert below["needed"] == 100 and below["percent"] == 0

    members.add_growth(session, shopper.id, 300, "adjust")
    session.commit()
    answer = client.get(f"{API}/me/level", headers=bearer(token)).get_json()
    progress = members.progress(session, shopper.id)
    assert (answer["growth"], answer["needed"], answer["percent"]) == (
        progress.growth,
        progress.needed,
        progress.percent,
    )
    assert answer["level"]["name"] == "白银" and answer["level"]["discount_text"] == "9.5折"
    assert answer["level"]["perks"] == members.perks(silver)
    assert answer["next_level"]["name"] == "黄金" and answer["next_level"]["free_shipping"] is True
    assert [level["name"] for level in answer["levels"]] == ["白银", "黄金"]
    shown = page_text("/me/level", shopper)
    for words in (answer["needed_text"], answer["growth_rule_text"], *answer["level"]["perks"]):
        assert words in shown, words

    members.add_growth(session, shopper.id, 500, "adjust")
    session.commit()
    top = client.get(f"{API}/me/level", headers=bearer(token)).get_json()
    assert top["level"]["name"] == "黄金" and top["next_level"] is None and top["needed"] == 0
    assert top["needed_text"] is None and top["percent"] == 100
    assert_error(client.get(f"{API}/me/level"), 401)


# --- 秒杀 -------------------------------------------------------------------------------------------------


def test_flash_sessions_are_the_h5_flash_pages_runs(client, session, shop, sku):
    item = flash_session(session, sku, price_fen=10_00, stock=5)
    flash_session(session, factories.ProductFactory().skus[0], day=2, name="后天秒杀")  # not today
    answer = client.get(f"{API}/flash/sessions").get_json()
    runs = flash_display.today_runs(session)
    assert (
        [run["session_id"] for run in answer["runs"]] == [run.session_id for run in runs] == [item.session_id]
    )
    run = answer["runs"][0]
    assert run["state"] == "running" and run["state_text"] and answer["chosen"] == 0
    assert run["countdown_to"] == run["ends_at"]
    (shown,) = run["items"]
    assert (
        shown["flash_item_id"] == item.id
        and shown["sku_id"] == sku.id
        and shown["product_id"] == sku.product_id
    )
    assert shown["price"] == {"fen": 10_00, "display": "¥10.00"} and shown["list_price"]["fen"] == 100_00
    assert (shown["stock"], shown["sold_out"], shown["can_buy"]) == (5, False, True)
    assert "+00:00" in run["starts_at"] and "+00:00" in answer["server_now"]
    # The H5 秒杀 page shows the same item at the same price.
    assert "¥10.00" in page_text("/flash")

    one = client.get(f"{API}/flash/sessions/{item.session_id}").get_json()
    assert one["name"] == "今日秒杀" and one["runs"] == answer["runs"]
    for unknown in (item.session_id + 1, 999_999):  # another day's session, none at all
        assert_error(client.get(f"{API}/flash/sessions/{unknown}"), 404, "flash_not_found")
    assert client.get(f"{API}/flash/sessions/x").status_code == 404

    session.execute(update(type(item)).where(type(item).id == item.id).values(stock=0, sold=5))
    session.commit()
    gone = client.get(f"{API}/flash/sessions").get_json()["runs"][0]["items"][0]
    assert (gone["stock"], gone["sold_out"], gone["can_buy"], gone["sold_pct"]) == (0, True, False, 100)


# --- 拼团 -------------------------------------------------------------------------------------------------


def test_group_buys_list_the_running_activities_with_their_products(client, session, shop, sku, tee):
    activity = make_group_buy(session, sku, price_fen=59_00, size=3)
    now = utcnow()
    make_group_buy(
        session,
        factories.ProductFactory().skus[0],
        name="未开始",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=3),
    )
    answer = client.get(f"{API}/groups").get_json()["items"]
    assert [found["group_buy_id"] for found in answer] == [activity.id]
    (product,) = answer[0]["products"]
    assert product["product_id"] == tee.id and product["sku_ids"] == [sku.id]
    assert product["group_price"]["fen"] == 59_00 and product["list_price"]["fen"] == 100_00
    assert answer[0]["size"] == 3 and answer[0]["ends_at"] == activity.ends_at.isoformat()
    tee.is_on_shelf = False
    session.commit()
    assert client.get(f"{API}/groups").get_json()["items"] == []


def test_a_group_shows_masked_members_and_who_can_join(client, session, shop, sku, tee):
    activity = make_group_buy(session, sku, size=3)
    leader, friend, stranger = people(3)
    leader.nickname = "张三丰"
    session.commit()
    order, group = open_group(session, leader, sku, activity)

    guest = client.get(f"{API}/groups/{group.id}").get_json()
    view = group_display.group_view(session, group.id, None)
    assert guest["state"] == view.state == "open" and guest["state_text"]
    assert guest["needed"] == view.places_left == 2 and guest["size"] == 3
    assert guest["members"] == [{"name": "张**", "avatar_url": None, "is_leader": True}]
    assert guest["can_join"] is True and guest["viewer_is_member"] is False and guest["viewer_order"] is None
    assert guest["sku_id"] == sku.id and guest["group_buy_id"] == activity.id
    assert guest["price"]["fen"] == 59_00 and guest["ends_at"] == group.expires_at.isoformat()
    assert leader.mobile not in str(guest) and order.number not in str(guest)

    own = client.get(f"{API}/groups/{group.id}", headers=bearer(api_login(client, leader))).get_json()
    assert own["can_join"] is False and own["can_invite"] is True and own["viewer_order"] == order.number
    other = client.get(f"{API}/groups/{group.id}", headers=bearer(api_login(client, stranger))).get_json()
    assert other["can_join"] is True and other["viewer_order"] is None

    # Its product's page lists it to join.
    listed = client.get(f"{API}/products/{tee.id}/groups").get_json()
    assert listed["group_buy_id"] == activity.id and listed["size"] == 3
    assert listed["skus"] == [{"sku_id": sku.id, "group_price": {"fen": 59_00, "display": "¥59.00"}}]
    assert listed["groups"] == [
        {"group_id": group.id, "leader": "张**", "needed": 2, "ends_at": group.expires_at.isoformat()}
    ]
    assert [g.group_id for g in group_display.open_groups(session, activity.id)] == [group.id]

    # A group whose leader has not paid is nobody's to see; unknown ids are 404.
    pending = buy(session, friend, sku, group_buy=activity.id)
    pending_group = session.scalar(
        select(BuyGroupMember.group_id).where(BuyGroupMember.order_id == pending.id)
    )
    for unknown in (pending_group, 999_999):
        assert_error(client.get(f"{API}/groups/{unknown}"), 404, "group_not_found")
    assert client.get(f"{API}/products/{tee.id}/groups").get_json()["groups"][0]["group_id"] == group.id


def test_a_products_groups_refuse_bad_input_and_say_when_there_is_none(client, session, shop, sku, tee):
    plain = factories.ProductFactory()
    empty = client.get(f"{API}/products/{plain.id}/groups").get_json()
    assert empty == {
        "group_buy_id": None,
        "name": None,
        "size": None,
        "low_price": None,
        "skus": [],
        "groups": [],
    }
    assert_error(client.get(f"{API}/products/999999/groups"), 404, "not_found")
    for bad in ("limit=0", "limit=21", "limit=x"):
        assert_error(client.get(f"{API}/products/{plain.id}/groups?{bad}"), 422, "invalid")
    # A product in a flash sale on now shows its flash mode, not its 拼团 (as the product page).
    other = factories.ProductFactory(
        skus=[
            {"price_fen": 50_00, "stock": 5, "spec_values": ["红"]},
            {"price_fen": 60_00, "stock": 5, "spec_values": ["蓝"]},
        ]
    )
    make_group_buy(session, other.skus[0], price_fen=30_00)
    assert client.get(f"{API}/products/{other.id}/groups").get_json()["group_buy_id"] is not None
    flash_session(session, other.skus[1])
    assert client.get(f"{API}/products/{other.id}/groups").get_json()["group_buy_id"] is None


# --- the description --------------------------------------------------------------------------------------


def test_every_marketing_endpoint_is_described_with_its_statuses(client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    expected = {
        ("get", "/api/v1/coupons/centre"): {"200"},
        ("post", "/api/v1/coupons/{template_id}/claim"): {"201", "401", "404", "409", "429"},
        ("get", "/api/v1/me/coupons"): {"200", "401", "422"},
        ("get", "/api/v1/me/points"): {"200", "401", "422"},
        ("get", "/api/v1/me/level"): {"200", "401"},
        ("get", "/api/v1/flash/sessions"): {"200"},
        ("get", "/api/v1/flash/sessions/{session_id}"): {"200", "404"},
        ("get", "/api/v1/groups"): {"200"},
        ("get", "/api/v1/groups/{group_id}"): {"200", "404"},
        ("get", "/api/v1/products/{product_id}/groups"): {"200", "404", "422"},
    }
    docs = client.get(f"{API}/docs").get_data(as_text=True)
    for (method, path), statuses in expected.items():
        assert path in docs, path
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), path
        assert bool(operation.get("security")) == path.startswith(("/api/v1/me", "/api/v1/coupons/{")), path


# --- races (PostgreSQL) --------------------------------------------------------------------------------------


def test_two_shoppers_claiming_the_last_coupon_at_once_one_gets_it(pg_app):
    found = template(db.session, total_qty=1)
    users = [factories.UserFactory(), factories.UserFactory()]
    client = pg_app.test_client()
    tokens = [api_login(client, user) for user in users]
    template_id = found.id

    def claim(i):
        return client.post(f"{API}/coupons/{template_id}/claim", headers=bearer(tokens[i])).status_code

    results = run_together(pg_app, 2, claim)
    assert sorted(results) == [201, 409], results
    db.session.expire_all()
    assert db.session.get(CouponTemplate, template_id).claimed_qty == 1
    assert db.session.query(Coupon).filter_by(template_id=template_id).count() == 1


# --- fuzzed with marketing data present ------------------------------------------------------------------------

MARKETING_PATHS = (
    "/api/v1/coupons",
    "/api/v1/me/coupons",
    "/api/v1/me/points",
    "/api/v1/me/level",
    "/api/v1/flash",
    "/api/v1/groups",
    "/api/v1/products/{product_id}/groups",
)


def test_the_marketing_operations_hold_to_their_description_under_fuzzing(app, session, shop, sku, tee):
    """Schemathesis over this module's operations (as tests/test_api_fuzz.py does for all of them), with
    coupons, a flash sale, a 拼团 with an open group, points and levels in the database: no 5xx, every
    status documented, every body of its schema."""
    template(session)
    flash_session(session, factories.ProductFactory().skus[0])
    activity = make_group_buy(session, sku)
    leader, shopper = people(2)
    open_group(session, leader, sku, activity)
    session.add(MemberLevel(name="白银", growth_threshold=10, discount_bp=9500))
    points.add_points(session, shopper.id, 120, "adjust")
    session.commit()
    headers = bearer(api_login(app.test_client(), shopper))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    walked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(MARKETING_PATHS):
            continue

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case):
            case.call_and_validate(headers={}, checks=CHECKS)  # a guest
            case.call_and_validate(headers=headers, checks=CHECKS)  # a shopper

        run()
        walked += 1
    assert walked == 10
