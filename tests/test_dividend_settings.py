"""Dividend settings (DISTRIBUTION.md "Dividend pools", "Compliance"): what the service refuses and saves,
the 30 % share-out limit held from both sides (dividends, and commission rates, a grade's vector, a product's
override while dividends are on), the page, its live example of one day, CSRF and permissions."""

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.catalog.models import Product
from app.distribution import grades as grading
from app.distribution.dividend_settings import DividendSettingsInput, save_dividend_settings
from app.distribution.models import DistributionSettings, DistributorGrade
from app.distribution.services import DistributionError
from app.orders.models import Order
from app.timeutil import local_midnight_utc, set_clock
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_admin_distribution import HTMX, RULES, valid_rules
from tests.test_distribution import buy, complete, distributor, settings

PAGE = "/admin/distribution/dividend-settings"
EXAMPLE = "/admin/distribution/dividend-settings/example"
# 17:30 UTC on 1 March is 01:30 on 2 March in the shop's time zone: "today" is the 2nd there.
NOW = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    set_clock(NOW)
    yield
    set_clock(None)


@pytest.fixture
def shop(session):
    """Rules at 10 % + 5 % on two levels, and two grades (银牌, 金牌) without their own rates."""
    settings(session, levels=2, rates_bp=[1000, 500])
    silver = grading.save_grade(session, None, name="银牌", rates_bp=None, sort=1)
    gold = grading.save_grade(session, None, name="金牌", rates_bp=None, sort=2)
    session.commit()
    return silver, gold


def data(**changes) -> DividendSettingsInput:
    values = {
        "enabled": True,
        "mode": "static",
        "acknowledged": True,
        "grade_ratios_bp": {},
        "level_ratios_bp": [],
        "cap_day_fen": None,
        "cap_month_fen": None,
        "cap_quarter_fen": None,
        "cap_year_fen": None,
    }
    values.update(changes)
    return DividendSettingsInput(**values)


def stored(session):
    session.expire_all()
    row = session.get(DistributionSettings, 1)
    ratios = dict(session.execute(select(DistributorGrade.name, DistributorGrade.dividend_ratio_bp)).all())
    return (
        row.dividends_enabled,
        row.dividend_mode,
        row.dividend_level_ratios_bp,
        ratios,
        row.dividend_cap_day_fen,
        row.dividend_cap_month_fen,
        row.dividend_cap_quarter_fen,
        row.dividend_cap_year_fen,
        row.dividends_start_on,
    )


def refused(session, owner, payload) -> str:
    before = stored(session)
    with pytest.raises(DistributionError) as caught:
        save_dividend_settings(session, payload, owner)
    session.rollback()
    assert stored(session) == before
    return str(caught.value.message)


# ---------------------------------------------------------------- the service


def test_turning_dividends_on_saves_them_and_pays_from_today_in_shop_time(session, shop, owner):
    silver, gold = shop
    save_dividend_settings(
        session,
        data(grade_ratios_bp={silver.id: 300, gold.id: 500}, cap_day_fen=50000, cap_year_fen=1000000),
        owner,
    )
    session.commit()
    assert stored(session) == (True, "static", [], {"银牌": 300, "金牌": 500}, 50000, None, None, 1000000,
                               date(2026, 3, 2))  # fmt: skip
    row = session.get(DistributionSettings, 1)
    assert row.dividends_acknowledged_at == NOW

    # Saved again the next day while on: the start day stays (the days between are paid).
    set_clock(NOW + timedelta(days=1))
    save_dividend_settings(session, data(grade_ratios_bp={silver.id: 400, gold.id: 500}), owner)
    session.commit()
    assert stored(session)[8] == date(2026, 3, 2)
    assert session.get(DistributionSettings, 1).dividends_acknowledged_at == NOW

    # Off, then on again later: a new start day (the days while off are never paid), a new acknowledgement.
    save_dividend_settings(session, data(enabled=False, acknowledged=False), owner)
    session.commit()
    assert session.get(DistributionSettings, 1).dividends_acknowledged_at is None
    set_clock(NOW + timedelta(days=5))
    save_dividend_settings(session, data(), owner)
    session.commit()
    assert stored(session)[8] == date(2026, 3, 7)
    assert session.get(DistributionSettings, 1).dividends_acknowledged_at == NOW + timedelta(days=5)


def test_dynamic_dividends_save_a_ratio_per_level(session, shop, owner):
    save_dividend_settings(session, data(mode="dynamic", level_ratios_bp=[500, 200]), owner)
    session.commit()
    assert stored(session)[:4] == (True, "dynamic", [500, 200, 0], {"银牌": 0, "金牌": 0})


def test_turning_dividends_on_needs_the_acknowledgement(session, shop, owner):
    silver, _gold = shop
    message = refused(session, owner, data(acknowledged=False, grade_ratios_bp={silver.id: 300}))
    assert "明确确认" in message
    # Off, nothing to acknowledge: the ratios can be prepared.
    save_dividend_settings(
        session, data(enabled=False, acknowledged=False, grade_ratios_bp={silver.id: 300}), owner
    )
    session.commit()
    assert stored(session)[0] is False and stored(session)[3]["银牌"] == 300 and stored(session)[8] is None


@pytest.mark.parametrize(
    ("mode", "ratios", "shop_rates", "message"),
    [
        ("static", {"银牌": 1000, "金牌": 600}, [1000, 500], "共 31%"),
        ("dynamic", [1000, 600], [1000, 500], "共 31%"),
        ("static", {"金牌": 1600}, [2000, 500], "共 41%"),
    ],
    ids=["static-grades-sum", "dynamic-levels-sum", "one-grade"],
)
def test_commission_and_dividends_over_30_percent_in_total_are_refused(
    session, shop, owner, mode, ratios, shop_rates, message
):
    settings(session, rates_bp=shop_rates)
    names = {grade.name: grade.id for grade in shop}
    payload = (
        data(grade_ratios_bp={names[name]: bp for name, bp in ratios.items()})
        if mode == "static"
        else data(mode="dynamic", level_ratios_bp=ratios)
    )
    text = refused(session, owner, payload)
    assert message in text and "店铺统一比例" in text and "30%" in text


def test_the_largest_commission_vector_counts_a_grade_or_a_product_override(session, shop, owner):
    silver, gold = shop
    grading.save_grade(session, silver, name="银牌", rates_bp=[1800, 600], sort=1)
    session.commit()
    text = refused(session, owner, data(grade_ratios_bp={gold.id: 700}))
    assert "等级“银牌”" in text and "共 31%" in text

    grading.save_grade(session, silver, name="银牌", rates_bp=None, sort=1)
    product = factories.ProductFactory(title="金刚菩提", skus=[{"price_fen": 10000, "stock": 5}])
    product.commission_rates_bp = [2500]
    session.commit()
    text = refused(session, owner, data(grade_ratios_bp={gold.id: 600}))
    assert "商品“金刚菩提”" in text and "共 31%" in text
    # A product that pays no commission does not count.
    product.commission_opt_out = True
    session.commit()
    save_dividend_settings(session, data(grade_ratios_bp={gold.id: 600}), owner)


def test_static_and_dynamic_at_once_are_refused(session, shop, owner):
    silver, _gold = shop
    text = refused(
        session, owner, data(mode="dynamic", level_ratios_bp=[500], grade_ratios_bp={silver.id: 100})
    )
    assert "动态分红按层级分" in text
    text = refused(
        session, owner, data(mode="static", level_ratios_bp=[500], grade_ratios_bp={silver.id: 100})
    )
    assert "静态分红按等级分" in text
    # A grade keeps its ratio when the page does not send it: switching to dynamic still needs it at 0.
    save_dividend_settings(session, data(grade_ratios_bp={silver.id: 100}), owner)
    session.commit()
    assert "动态分红按层级分" in refused(session, owner, data(mode="dynamic", level_ratios_bp=[500]))
    assert "请选择静态分红或动态分红" in refused(session, owner, data(mode="both"))


@pytest.mark.parametrize("bad", [-1, 10001, "5", 2.5, True])
def test_a_ratio_below_0_or_above_100_percent_is_refused(session, shop, owner, bad):
    silver, _gold = shop
    assert "0% 到 100%" in refused(session, owner, data(grade_ratios_bp={silver.id: bad}))
    assert "0% 到 100%" in refused(session, owner, data(mode="dynamic", level_ratios_bp=[bad]))


def test_level_ratios_never_reach_deeper_than_commission(session, shop, owner):
    text = refused(session, owner, data(mode="dynamic", level_ratios_bp=[300, 200, 100]))
    assert "不能超过佣金层级（当前 2 级）" in text
    assert "最多 3 级" in refused(session, owner, data(mode="dynamic", level_ratios_bp=[100, 0, 0, 100]))
    settings(session, levels=1, rates_bp=[1000])
    assert "当前 1 级" in refused(session, owner, data(mode="dynamic", level_ratios_bp=[300, 200]))


@pytest.mark.parametrize("bad", [-1, 0, 10**13, "100"])
def test_a_cap_must_be_an_amount_above_zero_or_empty(session, shop, owner, bad):
    silver, _gold = shop
    for period in ("day", "month", "quarter", "year"):
        text = refused(session, owner, data(grade_ratios_bp={silver.id: 100}, **{f"cap_{period}_fen": bad}))
        assert "封顶金额须大于" in text


def test_a_deleted_grade_and_nothing_to_share_are_refused(session, shop, owner):
    assert "已被删除" in refused(session, owner, data(grade_ratios_bp={99999: 100}))
    assert "至少设置一个" in refused(session, owner, data())


# ---------------------------------------------------------------- the limit from the commission side


@pytest.fixture
def dividends_on(session, shop, owner):
    """Static dividends on: 金牌 10 % of the turnover, so commission may be at most 20 %."""
    _silver, gold = shop
    save_dividend_settings(session, data(grade_ratios_bp={gold.id: 1000}), owner)
    session.commit()
    return shop


def test_raising_the_shop_rates_past_30_percent_with_dividends_is_refused(
    owner_client, session, dividends_on
):
    page = csrf_token(owner_client, RULES)
    response = owner_client.post(RULES, data={**valid_rules(rate_1="15", rate_2="6"), "csrf_token": page})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "分红已开启，占营业额 10%，因此佣金最多 20%" in html and "共分出 31%" in html
    session.expire_all()
    assert session.get(DistributionSettings, 1).rates_bp == [1000, 500]
    ok = owner_client.post(RULES, data={**valid_rules(rate_1="15", rate_2="5"), "csrf_token": page})
    assert ok.status_code == 302
    # The rules page's live example says so as the merchant types.
    example = owner_client.post(
        RULES + "/example", data={**valid_rules(rate_1="15", rate_2="6"), "csrf_token": page}, headers=HTMX
    )
    assert "分红已开启，占营业额 10%：佣金比例合计最多 20%" in example.get_data(as_text=True)


def test_dividends_off_leave_commission_the_whole_30_percent(owner_client, session, shop, owner):
    _silver, gold = shop
    save_dividend_settings(
        session, data(enabled=False, acknowledged=False, grade_ratios_bp={gold.id: 1000}), owner
    )
    session.commit()
    page = csrf_token(owner_client, RULES)
    response = owner_client.post(RULES, data={**valid_rules(rate_1="20", rate_2="10"), "csrf_token": page})
    assert response.status_code == 302
    # …and turning dividends on now is refused, naming the commission that leaves no room.
    assert "共 40%" in refused(session, owner, data(grade_ratios_bp={gold.id: 1000}))


def test_lowering_commission_levels_under_the_dynamic_dividend_levels_is_refused(
    owner_client, session, shop, owner
):
    save_dividend_settings(session, data(mode="dynamic", level_ratios_bp=[300, 200]), owner)
    session.commit()
    page = csrf_token(owner_client, RULES)
    response = owner_client.post(RULES, data={**valid_rules(levels="1"), "csrf_token": page})
    assert response.status_code == 422
    assert "动态分红发给第 2 级上级" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(DistributionSettings, 1).levels == 2


def test_a_grade_vector_past_30_percent_with_dividends_is_refused(owner_client, session, dividends_on):
    silver, gold = dividends_on
    path = f"/admin/distribution/grades/{silver.id}"
    form = {
        "name": "银牌",
        "own_rates": "y",
        "rate_1": "18",
        "rate_2": "3",
        "sort": "1",
        "upgrade_mode": "all",
    }
    response = owner_client.post(path, data={**form, "csrf_token": csrf_token(owner_client, path)})
    assert response.status_code == 422
    assert "等级“银牌”（21%）加上分红共分出 31%" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(DistributorGrade, silver.id).rates_bp is None
    # Its own dividend ratio counts with the others' (10 % + 11 % + the shop's 15 %).
    form = {"name": "银牌", "sort": "1", "upgrade_mode": "all", "dividend_ratio_bp": "16"}
    response = owner_client.post(path, data={**form, "csrf_token": csrf_token(owner_client, path)})
    assert response.status_code == 422 and "共分出 41%" in response.get_data(as_text=True)
    form["dividend_ratio_bp"] = "5"
    response = owner_client.post(path, data={**form, "csrf_token": csrf_token(owner_client, path)})
    assert response.status_code == 302
    session.expire_all()
    assert session.get(DistributorGrade, silver.id).dividend_ratio_bp == 500
    assert session.get(DistributorGrade, gold.id).dividend_ratio_bp == 1000


def test_a_grade_ratio_is_refused_in_dynamic_mode(owner_client, session, shop, owner):
    silver, _gold = shop
    save_dividend_settings(session, data(mode="dynamic", level_ratios_bp=[300]), owner)
    session.commit()
    path = f"/admin/distribution/grades/{silver.id}"
    form = {"name": "银牌", "sort": "1", "upgrade_mode": "all", "dividend_ratio_bp": "3"}
    response = owner_client.post(path, data={**form, "csrf_token": csrf_token(owner_client, path)})
    assert response.status_code == 422 and "等级的分红比例须为 0" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(DistributorGrade, silver.id).dividend_ratio_bp == 0


def test_a_product_override_past_30_percent_with_dividends_is_refused(owner_client, session, dividends_on):
    from tests.test_admin_catalog import product_form

    def post(**commission):
        page = csrf_token(owner_client, "/admin/products/new")
        form = product_form(page, **{f"commission-{key}": value for key, value in commission.items()})
        return owner_client.post("/admin/products/new", data=form, headers=HTMX)

    response = post(mode="own", rate_1="18", rate_2="3")
    assert response.status_code == 422
    assert "本商品的佣金比例（21%）加上分红共分出 31%" in response.get_data(as_text=True)
    assert session.scalars(select(Product)).first() is None
    assert post(mode="own", rate_1="15", rate_2="5").status_code == 200
    session.expire_all()
    assert session.scalars(select(Product.commission_rates_bp)).one() == [1500, 500]


# ---------------------------------------------------------------- the page


def page_form(**changes) -> dict:
    form = {
        "dividends_enabled": "y",
        "dividend_mode": "static",
        "acknowledged": "y",
        "level_1": "",
        "level_2": "",
        "cap_day_fen": "",
        "cap_month_fen": "",
        "cap_quarter_fen": "",
        "cap_year_fen": "",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def test_the_owner_saves_the_page_and_sees_it_again(owner_client, session, shop):
    silver, gold = shop
    page = owner_client.get(PAGE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "分红存在法律风险" in html and "静态分红（按等级）" in html and "分红池如何分配" in html
    assert 'id="dividend-example"' in html and "分红设置" in html
    response = owner_client.post(
        PAGE,
        data={
            **page_form(**{f"grade_{silver.id}": "3", f"grade_{gold.id}": "5.5", "cap_month_fen": "800.50"}),
            "csrf_token": csrf_token(owner_client, PAGE),
        },
    )
    assert response.status_code == 302
    assert stored(session)[:6] == (True, "static", [], {"银牌": 300, "金牌": 550}, None, 80050)
    html = owner_client.get(PAGE).get_data(as_text=True)
    assert 'value="5.5"' in html and 'value="800.50"' in html and "自 2026-03-02 起计算" in html


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"acknowledged": None}, "开启分红需要你明确确认"),
        ({"grade": "-3"}, "不能为负数"),
        ({"grade": "150"}, "不能超过 100%"),
        ({"grade": "abc"}, "请输入百分比"),
        ({"grade": "31"}, "共 46%"),
        ({"cap_day_fen": "-5"}, "金额不能为负数"),
        ({"cap_year_fen": "0"}, "金额必须大于 0"),
        ({"cap_year_fen": "1e9"}, "请输入金额"),
        ({"dividend_mode": "dynamic", "level_1": "3"}, "动态分红按层级分"),
        ({"dividend_mode": "sometimes"}, "Not a valid choice"),
        ({"dividend_mode": None}, "请选择静态分红或动态分红"),
        ({"grade": "", "level_1": "2"}, "静态分红按等级分"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_bad_input_is_shown_on_the_page_and_changes_nothing(owner_client, session, shop, changes, message):
    silver, _gold = shop
    changes = dict(changes)
    grade_value = changes.pop("grade", "5")
    before = stored(session)
    response = owner_client.post(
        PAGE,
        data={
            **page_form(**{f"grade_{silver.id}": grade_value, **changes}),
            "csrf_token": csrf_token(owner_client, PAGE),
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "未保存任何修改" in html
    if message != "Not a valid choice":
        assert message in html, html[
            html.find("invalid-feedback") - 400 : html.find("invalid-feedback") + 400
        ]
    assert stored(session) == before


def test_the_live_example_works_a_day_with_the_ratios_typed(owner_client, session, shop):
    silver, gold = shop
    set_clock(NOW - timedelta(days=10))  # the sharers of a day are the distributors who existed by its end
    members = [distributor(session) for _ in range(3)]
    for member, grade in zip(members, (gold, gold, silver), strict=True):
        member.grade_id = grade.id
    session.commit()
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    # Two orders of ¥100 (+ shipping, which never counts) became final yesterday in shop time, one earlier.
    yesterday = date(2026, 3, 1)
    finals = [
        local_midnight_utc(yesterday) + timedelta(hours=9),
        local_midnight_utc(yesterday) + timedelta(hours=22),
    ]
    finals.append(local_midnight_utc(yesterday - timedelta(days=3)))
    for final_at in finals:
        order = buy(session, factories.UserFactory(), product)
        complete(session, order)
        session.execute(update(Order).where(Order.id == order.id).values(final_at=final_at))
    session.commit()
    set_clock(NOW)

    def example(**changes):
        form = page_form(**{f"grade_{silver.id}": "", f"grade_{gold.id}": "", **changes})
        response = owner_client.post(
            EXAMPLE, data={**form, "csrf_token": csrf_token(owner_client, PAGE)}, headers=HTMX
        )
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert 'id="dividend-example"' in html and "<html" not in html
        return html

    html = example(**{f"grade_{gold.id}": "5"})
    assert "2026-03-01 共有 2 笔订单结算，营业额 ¥200.00" in html
    # 金牌: 5 % of ¥200 = ¥10.00 between two = ¥5.00 each.
    assert "金牌" in html and "¥10.00" in html and "¥5.00" in html
    html = example(**{f"grade_{gold.id}": "5", f"grade_{silver.id}": "3.33"})
    # 银牌: 3.33 % of ¥200 = ¥6.66 for one.
    assert "¥6.66" in html and "分红 8.33% + 最高佣金 15%" in html
    # A cap of ¥4 a day: each 金牌 gets ¥4.00, ¥2.00 of the pool stays with the shop.
    html = example(**{f"grade_{gold.id}": "5", "cap_day_fen": "4"})
    assert "¥4.00" in html and "2 人因封顶未分得或少分" in html and "¥2.00 归商家" in html
    over = example(**{f"grade_{gold.id}": "16"})
    assert "分红 16% + 最高佣金 15%（店铺统一比例）= 31%" in over and "bg-danger" in over
    assert "请输入百分比" in example(**{f"grade_{gold.id}": "5x"})
    assert "动态分红按层级分" in example(dividend_mode="dynamic", **{f"grade_{gold.id}": "5"})
    # Nothing is saved by the example.
    assert stored(session)[0] is False and stored(session)[3] == {"银牌": 0, "金牌": 0}


def test_the_page_is_the_owners_and_needs_the_csrf_token(client, session, shop):
    silver, _gold = shop
    form = page_form(**{f"grade_{silver.id}": "5"})
    staff = factories.UserFactory(role="staff", nickname="店员")
    login(client, staff, admin=True)
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/admin/distribution")
    assert client.post(PAGE, data={**form, "csrf_token": token}).status_code == 403
    assert client.post(EXAMPLE, data={**form, "csrf_token": token}, headers=HTMX).status_code == 403
    assert "分红设置" not in client.get("/admin/distribution").get_data(as_text=True)

    shopper_client = client.application.test_client()
    login(shopper_client, factories.UserFactory())
    assert shopper_client.get(PAGE).status_code == 403

    owner_client = client.application.test_client()
    login(owner_client, factories.UserFactory(role="owner"), admin=True)
    assert owner_client.post(PAGE, data=form).status_code == 400
    assert owner_client.post(EXAMPLE, data=form, headers=HTMX).status_code in (400, 422)
    assert stored(session)[0] is False
    assert 'href="/admin/distribution/dividend-settings"' in owner_client.get("/admin/distribution").get_data(
        as_text=True
    )


def test_the_grade_form_shows_and_saves_the_dividend_ratio(owner_client, session, shop):
    silver, _gold = shop
    path = f"/admin/distribution/grades/{silver.id}"
    assert "分红比例（静态分红）" in owner_client.get(path).get_data(as_text=True)
    form = {"name": "银牌", "sort": "1", "upgrade_mode": "all", "dividend_ratio_bp": "2.5"}
    assert (
        owner_client.post(path, data={**form, "csrf_token": csrf_token(owner_client, path)}).status_code
        == 302
    )
    session.expire_all()
    assert session.get(DistributorGrade, silver.id).dividend_ratio_bp == 250
    listing = owner_client.get("/admin/distribution/grades").get_data(as_text=True)
    assert "分红比例" in listing and "2.5%" in listing
    form["dividend_ratio_bp"] = "-1"
    assert (
        owner_client.post(path, data={**form, "csrf_token": csrf_token(owner_client, path)}).status_code
        == 422
    )
    session.expire_all()
    assert session.get(DistributorGrade, silver.id).dividend_ratio_bp == 250


def test_turning_dividends_on_and_raising_a_grade_at_once_never_pass_30_percent_together(pg_app):
    from app.extensions import db
    from tests.conftest import run_together

    session = db.session
    settings(session, levels=2, rates_bp=[1000, 500])
    silver = grading.save_grade(session, None, name="银牌", rates_bp=None, sort=1)
    gold = grading.save_grade(session, None, name="金牌", rates_bp=None, sort=2)
    owner = factories.UserFactory(role="owner")
    session.commit()
    ids = (silver.id, gold.id, owner.id)

    def work(i):
        if i == 0:  # 10 % in dividends: fine with the 15 % commission there is now
            actor = db.session.get(type(owner), ids[2])
            saved = save_dividend_settings(db.session, data(grade_ratios_bp={ids[1]: 1000}), actor)
        else:  # 21 % for 银牌: fine while dividends are off
            grade = db.session.get(DistributorGrade, ids[0])
            saved = grading.save_grade(db.session, grade, name="银牌", rates_bp=[1800, 300], sort=1)
        time.sleep(0.5)  # both have checked before either commits, unless the check waits for the other
        return saved

    results = run_together(pg_app, 2, work)
    refusals = [r for r in results if isinstance(r, DistributionError)]
    assert len(refusals) == 1, results
    session.expire_all()
    row = session.get(DistributionSettings, 1)
    grade = session.get(DistributorGrade, ids[0])
    assert row.dividends_enabled != (grade.rates_bp == [1800, 300])
