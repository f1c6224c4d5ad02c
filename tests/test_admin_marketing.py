"""The back office's 营销 pages as a merchant uses them: member levels, points settings, 限时折扣, 满减/满折 and
coupons with issuing, and the product form's two marketing switches — through the test client with CSRF on,
on both databases. A refused form says why next to the field and changes nothing."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.models import ROLE_PERMISSIONS, Permission, Role
from app.catalog.models import Product
from app.marketing import campaigns, members
from app.marketing.forms import local_input_value
from app.marketing.models import (
    Coupon,
    CouponTemplate,
    FullReductionCampaign,
    MarketingSettings,
    MemberAccount,
    MemberLevel,
    TimedDiscount,
)
from app.timeutil import utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.htmlforms import forms

HTMX = {"HX-Request": "true"}
LIST_PAGES = [
    "/admin/marketing/levels",
    "/admin/marketing/points",
    "/admin/marketing/discounts",
    "/admin/marketing/reductions",
    "/admin/marketing/coupons",
]
FORM_PAGES = [
    "/admin/marketing/levels/new",
    "/admin/marketing/discounts/new",
    "/admin/marketing/reductions/new",
    "/admin/marketing/coupons/new",
]
# 2030-06-01 10:00 in Beijing is 02:00 UTC.
JUNE_START, JUNE_END = "2030-06-01T10:00", "2030-06-08T10:00"


def post(client, path, data, **kwargs):
    return client.post(
        path, data={**data, "csrf_token": csrf_token(client, "/admin/marketing/levels")}, **kwargs
    )


def count(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def page(client, path) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def refused(response, expect: str) -> None:
    """A 422 that names the problem: "field:NAME" marks that input invalid; other text must appear (the
    services' messages, in Chinese)."""
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    if expect.startswith("field:"):
        tag = re.search(rf'<(?:input|select|textarea)[^>]*name="{re.escape(expect[6:])}"[^>]*>', html)
        assert tag and "is-invalid" in tag[0], (expect, tag)
    else:
        assert expect in html, expect
    assert "invalid-feedback" in html or "alert-danger" in html


def toast(response) -> str:
    return json.loads(response.headers["HX-Trigger"])["toast"]["message"]


@pytest.fixture
def staff_client(client):
    login(client, factories.UserFactory(role="staff", nickname="店员"), admin=True)
    return client


@pytest.fixture
def shirt(app):
    """A product with two SKUs: 红 ¥100.00 and 蓝 ¥80.00."""
    return factories.ProductFactory(
        title="纯棉T恤",
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[{"price_fen": 10000, "spec_values": ["红"]}, {"price_fen": 8000, "spec_values": ["蓝"]}],
    )


def member(session, growth: int) -> int:
    user = factories.UserFactory()
    session.add(MemberAccount(user_id=user.id, growth=growth, points=0))
    session.commit()
    return user.id


# ---------------------------------------------------------------- who may open the pages


def test_every_marketing_page_renders_for_the_owner(owner_client):
    for path in LIST_PAGES + FORM_PAGES:
        assert owner_client.get(path).status_code == 200, path
    assert owner_client.get("/admin/marketing").headers["Location"].endswith("/admin/marketing/levels")


def test_a_new_campaign_suggests_a_week_from_the_next_hour(owner_client):
    start = (utcnow() + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    for path in ("/admin/marketing/discounts/new", "/admin/marketing/reductions/new"):
        html = page(owner_client, path)
        assert f'value="{local_input_value(start)}"' in html
        assert f'value="{local_input_value(start + timedelta(days=7))}"' in html


def test_the_menu_shows_marketing_and_its_pages(owner_client):
    html = page(owner_client, "/admin/marketing/coupons")
    for path in LIST_PAGES:
        assert f'href="{path}"' in html


def test_staff_have_the_marketing_permission(staff_client):
    for path in LIST_PAGES:
        assert staff_client.get(path).status_code == 200, path


def test_staff_without_the_marketing_permission_are_refused(staff_client, session, monkeypatch):
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.STAFF, ROLE_PERMISSIONS[Role.STAFF] - {Permission.MARKETING})
    for path in LIST_PAGES + FORM_PAGES:
        assert staff_client.get(path).status_code == 403, path
    response = post(staff_client, "/admin/marketing/levels/new", {"name": "金卡", "growth_threshold": "100"})
    assert response.status_code == 403
    assert count(session, MemberLevel) == 0
    assert "/admin/marketing" not in page(staff_client, "/admin/products")


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for path in LIST_PAGES + FORM_PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/admin/login" in response.headers["Location"]


def test_every_marketing_view_requires_the_marketing_permission(app):
    views = [
        (rule.endpoint, app.view_functions[rule.endpoint])
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.marketing")
    ]
    assert len(views) >= 20
    for endpoint, view in views:
        assert getattr(view, "required_permission", None) == Permission.MARKETING, endpoint


# ---------------------------------------------------------------- member levels


def level_form(**changes) -> dict:
    data = {"name": "金卡", "growth_threshold": "1000", "discount": "9.5", "points_multiplier": "1.5"}
    return {**data, **changes}


def test_merchant_creates_a_level_and_members_who_reached_it_move_up(owner_client, session):
    rich, poor = member(session, 1500), member(session, 10)
    response = post(owner_client, "/admin/marketing/levels/new", level_form(free_shipping="y"))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]

    level = session.scalars(select(MemberLevel)).one()
    assert (level.name, level.growth_threshold, level.discount_bp, level.points_multiplier_bp) == (
        "金卡",
        1000,
        9500,
        15000,
    )
    assert level.free_shipping
    assert session.get(MemberAccount, rich).level_id == level.id
    assert session.get(MemberAccount, poor).level_id is None
    html = page(owner_client, "/admin/marketing/levels")
    assert "金卡" in html and "9.5" in html and "×1.5" in html


def test_editing_a_level_moves_members_and_deleting_it_drops_them(owner_client, session):
    someone = member(session, 500)
    post(owner_client, "/admin/marketing/levels/new", level_form())
    level = session.scalars(select(MemberLevel)).one()
    assert session.get(MemberAccount, someone).level_id is None

    edited = post(
        owner_client, f"/admin/marketing/levels/{level.id}/edit", level_form(growth_threshold="400")
    )
    assert edited.status_code == 302
    assert session.get(MemberAccount, someone).level_id == level.id
    assert '<td class="text-end">1</td>' in page(owner_client, "/admin/marketing/levels")

    deleted = post(owner_client, f"/admin/marketing/levels/{level.id}/delete", {}, headers=HTMX)
    assert deleted.status_code == 200
    assert "金卡" in toast(deleted)
    assert count(session, MemberLevel) == 0
    assert session.get(MemberAccount, someone).level_id is None


@pytest.mark.parametrize(
    "changes, expect",
    [
        ({"discount": "0"}, "0.1 折"),
        ({"discount": "11"}, "field:discount"),
        ({"discount": "九五"}, "field:discount"),
        ({"points_multiplier": "20"}, "field:points_multiplier"),
        ({"growth_threshold": "-5"}, "field:growth_threshold"),
        ({"name": ""}, "field:name"),
    ],
)
def test_a_bad_level_is_refused_with_a_message_and_nothing_saved(owner_client, session, changes, expect):
    refused(post(owner_client, "/admin/marketing/levels/new", level_form(**changes)), expect)
    assert count(session, MemberLevel) == 0


def test_two_levels_cannot_start_at_the_same_growth(owner_client, session):
    post(owner_client, "/admin/marketing/levels/new", level_form())
    response = post(owner_client, "/admin/marketing/levels/new", level_form(name="银卡"))
    assert response.status_code == 422
    assert count(session, MemberLevel) == 1


# ---------------------------------------------------------------- points settings


def points_form(**changes) -> dict:
    data = {
        "points_enabled": "y",
        "earn_per_yuan": "2",
        "fen_per_point": "1",
        "points_max_bp": "30",
        "max_points_per_order": "",
        "points_expiry_months": "0",
        "growth_per_order": "5",
    }
    return {**data, **changes}


def test_merchant_saves_the_points_settings(owner_client, session):
    assert "100" in page(owner_client, "/admin/marketing/points")  # 100 points = ¥1.00
    response = post(owner_client, "/admin/marketing/points", points_form(max_points_per_order="500"))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    session.expire_all()
    saved = members.marketing_settings(session)
    assert (saved.earn_per_yuan, saved.points_max_bp, saved.max_points_per_order) == (2, 3000, 500)
    assert (saved.points_expiry_months, saved.growth_per_order, saved.points_enabled) == (0, 5, True)

    post(owner_client, "/admin/marketing/points", points_form(points_enabled=None))
    session.expire_all()
    assert members.marketing_settings(session).points_enabled is False


@pytest.mark.parametrize(
    "changes",
    [{"points_max_bp": "120"}, {"points_max_bp": "0"}, {"fen_per_point": "0"}, {"earn_per_yuan": "-1"},
     {"points_expiry_months": "1_0"}, {"max_points_per_order": "0"}],
)  # fmt: skip
def test_bad_points_settings_are_refused_and_nothing_changes(owner_client, session, changes):
    refused(
        post(owner_client, "/admin/marketing/points", points_form(**changes)), f"field:{next(iter(changes))}"
    )
    assert count(session, MarketingSettings) == 0


# ---------------------------------------------------------------- 限时折扣


def discount_form(shirt, **changes) -> dict:
    red, blue = shirt.skus
    data = {
        "name": "周末特惠",
        "starts_at": JUNE_START,
        "ends_at": JUNE_END,
        "per_user_limit": "2",
        "sku_ids": [str(red.id), str(blue.id)],
        f"item-{red.id}-price": "79.90",
        f"item-{blue.id}-discount": "8.5",
    }
    return {**data, **changes}


def test_merchant_creates_a_timed_discount_in_beijing_time(owner_client, session, shirt):
    response = post(owner_client, "/admin/marketing/discounts/new", discount_form(shirt))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    discount = session.scalars(select(TimedDiscount)).one()
    assert discount.starts_at == datetime(2030, 6, 1, 2, 0, tzinfo=UTC)
    assert discount.per_user_limit == 2 and not discount.allow_points and not discount.pays_commission
    assert [(i.price_fen, i.discount_bp) for i in discount.items] == [(7990, None), (None, 8500)]
    html = page(owner_client, "/admin/marketing/discounts")
    assert "周末特惠" in html and "2030-06-01 10:00" in html


def test_the_discount_form_adds_and_removes_skus_without_saving(owner_client, session, shirt):
    red, blue = shirt.skus
    found = owner_client.get("/admin/marketing/skus?sku_q=纯棉").get_data(as_text=True)
    assert f'value="add-sku-{red.id}"' in found and "¥100.00" in found

    data = {
        "name": "周末特惠",
        "sku_ids": [str(red.id)],
        f"item-{red.id}-price": "88",
        "refresh": f"add-sku-{blue.id}",
    }
    response = post(owner_client, "/admin/marketing/discounts/new", data, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'name="item-{blue.id}-price"' in html and 'value="88"' in html

    data["refresh"] = f"remove-sku-{red.id}"
    html = post(owner_client, "/admin/marketing/discounts/new", data, headers=HTMX).get_data(as_text=True)
    assert f'name="item-{red.id}-price"' not in html
    assert count(session, TimedDiscount) == 0


def test_editing_a_discount_that_keeps_its_skus_saves(owner_client, session, shirt):
    post(owner_client, "/admin/marketing/discounts/new", discount_form(shirt))
    discount = session.scalars(select(TimedDiscount)).one()
    red, blue = shirt.skus
    data = discount_form(shirt, **{f"item-{red.id}-price": "", f"item-{red.id}-discount": "9"})
    response = post(owner_client, f"/admin/marketing/discounts/{discount.id}/edit", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    assert [(i.sku_id, i.price_fen, i.discount_bp) for i in discount.items] == [
        (red.id, None, 9000), (blue.id, None, 8500)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "changes, expect",
    [
        ({"ends_at": "2030-05-01T10:00"}, "field:ends_at"),
        ({"starts_at": "2030-13-01T10:00"}, "field:starts_at"),
        ({"ITEM_BLUE-discount": "0"}, "0.1 折"),
        ({"ITEM_BLUE-discount": "10"}, "0.1 折"),
        ({"ITEM_RED-price": "100.00"}, "活动价必须低于原价"),
        ({"ITEM_RED-discount": "9"}, "field:ITEM_RED-price"),
        ({"sku_ids": []}, "请至少添加一个商品"),
        ({"per_user_limit": "0"}, "field:per_user_limit"),
    ],
)
def test_a_bad_timed_discount_is_refused_and_nothing_saved(owner_client, session, shirt, changes, expect):
    red, blue = shirt.skus

    def named(text):
        return text.replace("ITEM_RED", f"item-{red.id}").replace("ITEM_BLUE", f"item-{blue.id}")

    changes = {named(key): value for key, value in changes.items()}
    refused(
        post(owner_client, "/admin/marketing/discounts/new", discount_form(shirt, **changes)), named(expect)
    )
    assert count(session, TimedDiscount) == 0


def test_a_sku_cannot_be_in_two_overlapping_discounts(owner_client, session, shirt):
    red, _blue = shirt.skus
    post(owner_client, "/admin/marketing/discounts/new", discount_form(shirt))
    overlapping = {
        "name": "另一个",
        "starts_at": "2030-06-05T10:00",
        "ends_at": "2030-06-20T10:00",
        "sku_ids": [str(red.id)],
        f"item-{red.id}-discount": "9",
    }
    response = post(owner_client, "/admin/marketing/discounts/new", overlapping)
    assert response.status_code == 422
    assert "周末特惠" in response.get_data(as_text=True)
    assert count(session, TimedDiscount) == 1

    later = {**overlapping, "starts_at": JUNE_END, "ends_at": "2030-06-20T10:00"}
    assert post(owner_client, "/admin/marketing/discounts/new", later).status_code == 302


def test_stopping_a_running_discount_ends_it_at_once(owner_client, session, shirt):
    now = utcnow()
    data = discount_form(shirt, starts_at=local_input_value(now - timedelta(hours=1)))
    post(owner_client, "/admin/marketing/discounts/new", data)
    discount = session.scalars(select(TimedDiscount)).one()
    assert campaigns.status_of(discount) == "running"
    assert campaigns.activities_for_skus(session, [shirt.skus[0].id])

    response = post(owner_client, f"/admin/marketing/discounts/{discount.id}/stop", {}, headers=HTMX)
    assert response.status_code == 200 and "周末特惠" in toast(response)
    session.expire_all()
    assert campaigns.status_of(discount) == "stopped"
    assert campaigns.activities_for_skus(session, [shirt.skus[0].id]) == {}
    assert f"/admin/marketing/discounts/{discount.id}/stop" not in response.get_data(as_text=True)


# ---------------------------------------------------------------- 满减 / 满折


def reduction_form(**changes) -> dict:
    data = {
        "name": "满99减10",
        "starts_at": JUNE_START,
        "ends_at": JUNE_END,
        "tier-0-threshold": "99",
        "tier-0-reduce": "10",
        "tier-1-threshold": "199",
        "tier-1-reduce": "30",
        "tier-2-threshold": "",
        "scope_kind": "all",
    }
    return {**data, **changes}


def test_merchant_creates_a_full_reduction_campaign(owner_client, session):
    response = post(owner_client, "/admin/marketing/reductions/new", reduction_form())
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    campaign = session.scalars(select(FullReductionCampaign)).one()
    assert campaign.tiers == [
        {"threshold_fen": 9900, "reduce_fen": 1000},
        {"threshold_fen": 19900, "reduce_fen": 3000},
    ]
    assert campaign.scope_kind == "all" and campaign.max_reduce_fen is None
    html = page(owner_client, "/admin/marketing/reductions")
    assert "满99减10" in html and "¥30.00" in html


def test_a_discount_tier_campaign_for_chosen_products(owner_client, session, shirt):
    data = reduction_form(
        **{"tier-0-reduce": "", "tier-0-discount": "9.5", "tier-1-reduce": "", "tier-1-discount": "9"}
    )
    data.update(scope_kind="products", scope_product_ids=[str(shirt.id)], include_activity="y")
    assert post(owner_client, "/admin/marketing/reductions/new", data).status_code == 302
    campaign = session.scalars(select(FullReductionCampaign)).one()
    assert [tier["discount_bp"] for tier in campaign.tiers] == [9500, 9000]
    assert (campaign.scope_kind, campaign.scope_ids, campaign.include_activity) == (
        "products",
        [shirt.id],
        True,
    )
    assert "纯棉T恤" in page(owner_client, f"/admin/marketing/reductions/{campaign.id}/edit")


def test_the_scope_chooser_finds_and_adds_products(owner_client, shirt):
    found = owner_client.get("/admin/marketing/products?product_q=T恤").get_data(as_text=True)
    assert f'value="add-product-{shirt.id}"' in found
    data = reduction_form(scope_kind="products", refresh=f"add-product-{shirt.id}")
    html = post(owner_client, "/admin/marketing/reductions/new", data, headers=HTMX).get_data(as_text=True)
    assert f'name="scope_product_ids" value="{shirt.id}"' in html and "纯棉T恤" in html


@pytest.mark.parametrize(
    "changes, expect",
    [
        ({"tier-1-threshold": "50"}, "档位须按顺序"),
        ({"tier-0-reduce": "", "tier-0-discount": "0"}, "0.1 折"),
        ({"tier-0-reduce": "", "tier-0-discount": "10"}, "0.1 折"),
        ({"tier-0-reduce": "120"}, "减免金额须大于 ¥0 且不超过门槛"),
        ({"tier-0-threshold": "12,30"}, "逗号"),
        (
            {"tier-0-threshold": "", "tier-0-reduce": "", "tier-1-threshold": "", "tier-1-reduce": ""},
            "请至少添加一档",
        ),
        ({"ends_at": JUNE_START}, "field:ends_at"),
        ({"scope_kind": "categories"}, "请至少选择一个商品或分类"),
        ({"repeat": "y", "max_reduce_fen": "-3"}, "field:max_reduce_fen"),
    ],
)
def test_a_bad_full_reduction_is_refused_and_nothing_saved(owner_client, session, changes, expect):
    refused(post(owner_client, "/admin/marketing/reductions/new", reduction_form(**changes)), expect)
    assert count(session, FullReductionCampaign) == 0


def test_two_full_reduction_campaigns_cannot_overlap(owner_client, session):
    post(owner_client, "/admin/marketing/reductions/new", reduction_form())
    response = post(
        owner_client,
        "/admin/marketing/reductions/new",
        reduction_form(name="第二个", starts_at="2030-06-07T10:00"),
    )
    assert response.status_code == 422
    assert "满99减10" in response.get_data(as_text=True)
    assert count(session, FullReductionCampaign) == 1

    first = session.scalars(select(FullReductionCampaign)).one()
    post(owner_client, f"/admin/marketing/reductions/{first.id}/stop", {})
    second = post(owner_client, "/admin/marketing/reductions/new", reduction_form(name="第二个"))
    assert second.status_code == 302  # a stopped campaign no longer blocks the dates


# ---------------------------------------------------------------- coupons


def coupon_form(**changes) -> dict:
    data = {
        "name": "满100减20",
        "kind": "amount",
        "value_fen": "20",
        "threshold_fen": "100",
        "total_qty": "100",
        "per_user_limit": "1",
        "validity": "days",
        "valid_days": "7",
        "channel": "centre",
        "scope_kind": "all",
    }
    return {**data, **changes}


def test_merchant_creates_an_amount_coupon_and_sees_it_listed(owner_client, session):
    response = post(owner_client, "/admin/marketing/coupons/new", coupon_form())
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    template = session.scalars(select(CouponTemplate)).one()
    assert (template.kind, template.value_fen, template.threshold_fen, template.total_qty) == (
        "amount",
        2000,
        10000,
        100,
    )
    assert (template.valid_days, template.valid_from, template.channel) == (7, None, "centre")
    html = page(owner_client, "/admin/marketing/coupons")
    assert "满100减20" in html and "0 / 100" in html


def test_merchant_creates_a_discount_coupon_with_fixed_dates(owner_client, session):
    data = coupon_form(
        kind="discount", value_fen="", discount_bp="8.5", max_discount_fen="30", threshold_fen="",
        validity="fixed", valid_from=JUNE_START, valid_until=JUNE_END, valid_days="", total_qty="0",
        channel="issued",
    )  # fmt: skip
    assert post(owner_client, "/admin/marketing/coupons/new", data).status_code == 302
    template = session.scalars(select(CouponTemplate)).one()
    assert (template.discount_bp, template.max_discount_fen, template.threshold_fen) == (8500, 3000, 0)
    assert (template.valid_days, template.valid_until) == (None, datetime(2030, 6, 8, 2, 0, tzinfo=UTC))
    assert "0 / " in page(owner_client, "/admin/marketing/coupons")


def test_choosing_the_discount_kind_shows_its_fields_without_saving(owner_client, session):
    html = post(
        owner_client,
        "/admin/marketing/coupons/new",
        coupon_form(kind="discount", refresh="kind"),
        headers=HTMX,
    )
    text = html.get_data(as_text=True)
    assert 'name="discount_bp"' in text and 'type="hidden" name="value_fen" value="20"' in text
    assert count(session, CouponTemplate) == 0


@pytest.mark.parametrize(
    "changes, expect",
    [
        ({"value_fen": "120"}, "减免金额不能大于使用门槛"),
        ({"total_qty": "-1"}, "数量不能为负数"),
        ({"per_user_limit": "50"}, "每人限领 1 到 20 张"),
        ({"kind": "discount", "discount_bp": "10"}, "0.1 折"),
        ({"kind": "discount", "discount_bp": ""}, "field:discount_bp"),
        ({"validity": "fixed", "valid_from": JUNE_END, "valid_until": JUNE_START}, "field:valid_until"),
        ({"valid_days": ""}, "field:valid_days"),
        ({"channel": "robots"}, "field:channel"),
        ({"scope_kind": "products"}, "请至少选择一个商品或分类"),
        ({"name": "长" * 31}, "field:name"),
    ],
)
def test_a_bad_coupon_is_refused_and_nothing_saved(owner_client, session, changes, expect):
    refused(post(owner_client, "/admin/marketing/coupons/new", coupon_form(**changes)), expect)
    assert count(session, CouponTemplate) == 0


def test_stopping_a_coupon_ends_claims(owner_client, session):
    post(owner_client, "/admin/marketing/coupons/new", coupon_form())
    template = session.scalars(select(CouponTemplate)).one()
    response = post(owner_client, f"/admin/marketing/coupons/{template.id}/stop", {}, headers=HTMX)
    assert response.status_code == 200
    session.expire_all()
    assert template.is_stopped


def test_issuing_a_coupon_to_a_level_gives_one_to_each_member(owner_client, session):
    post(owner_client, "/admin/marketing/levels/new", level_form(growth_threshold="100"))
    level = session.scalars(select(MemberLevel)).one()
    at_level = [member(session, 150) for _ in range(3)]
    member(session, 20)
    members.recompute_levels(session)
    session.commit()
    post(owner_client, "/admin/marketing/coupons/new", coupon_form(channel="issued"))
    template = session.scalars(select(CouponTemplate)).one()
    assert f"/admin/marketing/coupons/{template.id}/issue" in page(owner_client, "/admin/marketing/coupons")

    response = post(
        owner_client,
        f"/admin/marketing/coupons/{template.id}/issue",
        {"audience": "level", "level_id": str(level.id)},
    )
    assert response.status_code == 302
    session.expire_all()
    assert sorted(session.scalars(select(Coupon.user_id))) == sorted(at_level)
    assert "3" in page(owner_client, f"/admin/marketing/coupons/{template.id}/issue")

    again = post(
        owner_client,
        f"/admin/marketing/coupons/{template.id}/issue",
        {"audience": "level", "level_id": str(level.id)},
    )
    assert again.status_code == 302
    assert count(session, Coupon) == 3  # each may hold one: all skipped the second time


def test_issuing_by_mobile_numbers_reports_unknown_ones(owner_client, session):
    post(owner_client, "/admin/marketing/coupons/new", coupon_form(channel="issued"))
    template = session.scalars(select(CouponTemplate)).one()
    customer = factories.UserFactory()
    data = {"audience": "mobiles", "mobiles": f"{customer.mobile}\n13012345678"}
    response = post(
        owner_client, f"/admin/marketing/coupons/{template.id}/issue", data, follow_redirects=True
    )
    assert "13012345678" in response.get_data(as_text=True)
    assert list(session.scalars(select(Coupon.user_id))) == [customer.id]

    bad = post(
        owner_client,
        f"/admin/marketing/coupons/{template.id}/issue",
        {"audience": "mobiles", "mobiles": "12345"},
    )
    assert bad.status_code == 422 and "12345" in bad.get_data(as_text=True)


def test_only_issued_coupons_can_be_issued(owner_client, session):
    post(owner_client, "/admin/marketing/coupons/new", coupon_form())
    template = session.scalars(select(CouponTemplate)).one()
    customer = factories.UserFactory()
    response = post(
        owner_client,
        f"/admin/marketing/coupons/{template.id}/issue",
        {"audience": "mobiles", "mobiles": customer.mobile},
    )
    assert response.status_code == 422
    assert count(session, Coupon) == 0


# ---------------------------------------------------------------- the product form's switches


def test_the_product_form_switches_member_prices_and_points(owner_client, session, shirt):
    path = f"/admin/products/{shirt.id}/edit"
    html = page(owner_client, path)
    form = next(f for f in forms(html) if f.action == path)
    assert ("marketing-member_discount", "y") in form.fields and (
        "marketing-takes_points",
        "y",
    ) in form.fields

    data = form.data()
    del data["marketing-member_discount"]
    assert owner_client.post(path, data=data).status_code == 302
    session.expire_all()
    product = session.get(Product, shirt.id)
    assert (product.member_discount, product.takes_points) == (False, True)

    older_page = {k: v for k, v in form.data().items() if not k.startswith("marketing-")}
    assert owner_client.post(path, data=older_page).status_code == 302
    session.expire_all()
    assert session.get(Product, shirt.id).member_discount is False  # left as it was


# ---------------------------------------------------------------- hostile input


HOSTILE = ["9" * 40, "12,30", "１２．３０", "-1", "长" * 500, "2030-02-30T10:00", "0001-01-01T00:00", "nan"]


def test_hostile_values_in_every_marketing_form_never_give_a_500(owner_client, session, shirt):
    post(owner_client, "/admin/marketing/levels/new", level_form())
    post(owner_client, "/admin/marketing/discounts/new", discount_form(shirt))
    post(owner_client, "/admin/marketing/reductions/new", reduction_form())
    post(owner_client, "/admin/marketing/coupons/new", coupon_form(channel="issued"))
    ids = {
        "level": session.scalars(select(MemberLevel.id)).one(),
        "discount": session.scalars(select(TimedDiscount.id)).one(),
        "reduction": session.scalars(select(FullReductionCampaign.id)).one(),
        "coupon": session.scalars(select(CouponTemplate.id)).one(),
    }
    paths = FORM_PAGES + [
        "/admin/marketing/points",
        f"/admin/marketing/levels/{ids['level']}/edit",
        f"/admin/marketing/discounts/{ids['discount']}/edit",
        f"/admin/marketing/reductions/{ids['reduction']}/edit",
        f"/admin/marketing/coupons/{ids['coupon']}/edit",
        f"/admin/marketing/coupons/{ids['coupon']}/issue",
    ]
    for path in paths:
        html = page(owner_client, path)
        form = next(f for f in forms(html) if f.action == path)
        names = sorted(set(form.names) - {"csrf_token", "refresh"})
        for payload in HOSTILE:
            for headers in ({}, HTMX):
                data = {**form.data(), **dict.fromkeys(names, payload)}
                response = owner_client.post(path, data=data, headers=headers)
                assert response.status_code in (200, 302, 422), (path, payload, response.status_code)
            if "refresh" not in form.names:  # the offer forms refresh (search, add, remove, show fields)
                continue
            for refresh in ("search", "add-sku-" + payload, "remove-product-1", payload):
                response = owner_client.post(path, data={**form.data(), "refresh": refresh}, headers=HTMX)
                assert response.status_code == 200, (path, refresh)
    for path in ("/admin/marketing/skus", "/admin/marketing/products"):
        for payload in HOSTILE:
            assert (
                owner_client.get(path, query_string={"sku_q": payload, "product_q": payload}).status_code
                == 200
            )
