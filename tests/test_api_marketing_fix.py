"""Review of the API's marketing piece (app/api/marketing.py, app/api/activities.py), on SQLite and
PostgreSQL: the API takes its words from the marketing package (never from the H5 blueprint), the 拼团 list
agrees with a product's own 拼团 answer, the points cursor holds when entries arrive between pages, and the
claim's rate limit answers in the API's shape."""

import ast
from pathlib import Path

from app.marketing import coupons, flash_display, group_display, points
from tests import factories
from tests.test_api import API, api_login, assert_error, bearer
from tests.test_api_marketing import template
from tests.test_flash import flash_session
from tests.test_groups import make_group_buy, open_group, people, real_clock, shop, sku, tee

__all__ = ["real_clock", "shop", "sku", "tee"]  # fixtures shared with test_groups

API_DIR = Path(__file__).resolve().parent.parent / "app" / "api"


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_marketing_api_takes_no_words_from_the_h5_blueprint():
    """Words both sides show (coupon sources, 秒杀 and 拼团 states, a ticket's rule and validity lines) live
    in the marketing package; the API, a view layer beside the H5 one, does not import the H5 views."""
    for name in ("marketing.py", "activities.py", "schemas_marketing.py"):
        shop_imports = sorted(
            m for m in imported_modules(API_DIR / name) if m.split(".")[:2] == ["app", "shop"]
        )
        assert not shop_imports, f"app/api/{name} imports {shop_imports}"


def test_the_words_are_the_marketing_packages(client, session, shop, sku, tee):
    found = template(session, per_user_limit=2)
    shopper = factories.UserFactory()
    token = api_login(client, shopper)
    centre = client.get(f"{API}/coupons/centre", headers=bearer(token)).get_json()["items"][0]
    assert centre["threshold_text"] == coupons.threshold_words(found) == "满 ¥100.00 可用"
    assert centre["validity_text"] == coupons.validity_words(found) == "领取后 7 天内有效"
    claimed = client.post(f"{API}/coupons/{found.id}/claim", headers=bearer(token)).get_json()
    assert claimed["source_text"] == str(coupons.CHANNEL_WORDS["centre"]) == "领券中心"

    flash_session(session, factories.ProductFactory().skus[0])
    run = client.get(f"{API}/flash/sessions").get_json()["runs"][0]
    assert run["state_text"] == str(flash_display.STATE_WORDS["running"])

    activity = make_group_buy(session, sku, size=3)
    (leader,) = people(1)
    _order, group = open_group(session, leader, sku, activity)
    shown = client.get(f"{API}/groups/{group.id}").get_json()
    assert shown["state_text"] == str(group_display.STATE_WORDS["open"]) == "拼团中"


def test_the_group_buy_list_leaves_out_a_product_in_a_flash_sale_now(client, session, shop, sku, tee):
    """A product with one SKU in a 拼团 and another in a 秒杀 on now is in flash mode (its page, and
    /products/{id}/groups, show no 拼团): the list of 拼团 must not offer it either."""
    both = factories.ProductFactory(
        skus=[
            {"price_fen": 50_00, "stock": 5, "spec_values": ["红"]},
            {"price_fen": 60_00, "stock": 5, "spec_values": ["蓝"]},
        ]
    )
    activity = make_group_buy(session, both.skus[0], price_fen=30_00)
    make_group_buy(session, sku, price_fen=59_00, name="另一个团")
    listed = client.get(f"{API}/groups").get_json()["items"]
    assert {p["product_id"] for found in listed for p in found["products"]} == {both.id, tee.id}

    flash_session(session, both.skus[1])
    assert client.get(f"{API}/products/{both.id}/groups").get_json()["group_buy_id"] is None
    listed = client.get(f"{API}/groups").get_json()["items"]
    assert {p["product_id"] for found in listed for p in found["products"]} == {tee.id}
    assert activity.id not in [found["group_buy_id"] for found in listed]  # it has no product left to show
    for found in listed:
        for product in found["products"]:
            mode = client.get(f"{API}/products/{product['product_id']}/groups").get_json()
            assert mode["group_buy_id"] == found["group_buy_id"]


def test_the_points_cursor_holds_when_entries_arrive_between_pages(client, session, shop):
    shopper = factories.UserFactory()
    for amount in range(1, 6):
        points.add_points(session, shopper.id, amount, "adjust", note=f"第{amount}")
    session.commit()
    token = api_login(client, shopper)
    first = client.get(f"{API}/me/points?limit=2", headers=bearer(token)).get_json()
    assert [e["amount"] for e in first["entries"]] == [5, 4]

    # Two new entries (an order completed, the shop adjusted) before the next page is asked for.
    points.add_points(session, shopper.id, 100, "adjust", note="新的")
    points.add_points(session, shopper.id, -3, "adjust", note="新的")
    session.commit()
    seen = [e["amount"] for e in first["entries"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"{API}/me/points?limit=2&cursor={cursor}", headers=bearer(token)).get_json()
        seen += [e["amount"] for e in page["entries"]]
        cursor = page["next_cursor"]
        assert page["balance"] == 112  # the balance is today's, the pages go on where they were
    assert seen == [5, 4, 3, 2, 1]  # none twice, none missed, none of the new ones
    fresh = client.get(f"{API}/me/points?limit=2", headers=bearer(token)).get_json()
    assert [e["amount"] for e in fresh["entries"]] == [-3, 100]

    # Another shopper's entry id as a cursor shows only the caller's own older entries.
    other = factories.UserFactory()
    points.add_points(session, other.id, 7, "adjust", note="别人的")
    session.commit()
    theirs = points.history(session, other.id, limit=1)[0]
    page = client.get(f"{API}/me/points?limit=100&cursor={theirs.id}", headers=bearer(token)).get_json()
    assert "别人的" not in str(page) and len(page["entries"]) == 7


def test_claiming_too_fast_answers_429_in_the_api_shape(app, client, session, shop):
    found = template(session, per_user_limit=1, total_qty=0)
    token = api_login(client, factories.UserFactory())
    url = f"{API}/coupons/{found.id}/claim"
    statuses = [client.post(url, headers=bearer(token)).status_code for _ in range(30)]
    assert statuses[0] == 201 and set(statuses[1:]) == {409}
    error = assert_error(client.post(url, headers=bearer(token)), 429, "rate_limited")
    assert "分钟" in error["message"]
