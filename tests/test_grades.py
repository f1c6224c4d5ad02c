"""Distributor grades that upgrade themselves (DISTRIBUTION.md, "Grades and automatic upgrade"): each
condition, all-of and any-of, the highest grade wins, never down, a change by hand that sticks until a
condition of a higher grade becomes true after it, the settle job in bulk, two checks at once, the back
office's refusals and permissions, and a distributor seeing only their own grade."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import orders
from app.distribution import grades, ledger
from app.distribution.models import Distributor, DistributorGrade, DistributorGradeLog
from app.extensions import db
from app.orders.models import Order
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import counting_statements, login, run_together
from tests.test_admin_distribution import htmx_post, token
from tests.test_distribution import bind, buy, complete, distributor, settings


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture
def product(app):
    return factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 1000}])  # ¥100, no shipping


def grade(session, name, sort, mode="all", rates=None, **conditions):
    saved = grades.save_grade(
        session,
        None,
        name=name,
        rates_bp=rates,
        sort=sort,
        upgrade=grades.ConditionsInput(mode, **conditions),
    )
    session.commit()
    return saved


def grade_of(session, d) -> str | None:
    session.expire_all()
    fresh = session.get(Distributor, d.id)
    return fresh.grade.name if fresh.grade else None


def logs(session, d=None) -> list[tuple]:
    query = select(DistributorGradeLog).order_by(DistributorGradeLog.id)
    if d is not None:
        query = query.where(DistributorGradeLog.distributor_id == d.id)
    return [(log.from_name, log.to_name, log.kind) for log in session.scalars(query)]


def referral(session, d):
    """A shopper bound to `d` (level 1)."""
    shopper = factories.UserFactory()
    bind(session, shopper, d)
    return shopper


def completed_order(session, buyer, product, qty=1):
    order = buy(session, buyer, product, qty=qty)
    complete(session, order)
    return order


def release_everything(session):
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(session)
    session.commit()


def refund_all(session, order):
    staff = factories.UserFactory(role="staff")
    refund = orders.refunds.request_refund(
        session, order, order.user, items={line.id: line.qty for line in order.lines}, reason="不要了"
    )
    orders.refunds.approve_refund(session, refund, actor=staff, restock=False)
    session.commit()


# ---------------------------------------------------------------- each condition


def test_own_spend_counts_once_the_order_is_completed(session, product):
    settings(session)
    grade(session, "银牌", 1, min_own_spend_fen=20000)
    d = distributor(session)
    completed_order(session, d.user, product)  # ¥100: not yet
    assert grade_of(session, d) is None
    order = buy(session, d.user, product)  # paid, not received: does not count yet
    assert grade_of(session, d) is None
    complete(session, order)  # received: ¥200
    assert grade_of(session, d) == "银牌"
    log = session.scalars(select(DistributorGradeLog)).one()
    assert (log.kind, log.from_name, log.to_name, log.own_spend_fen) == ("automatic", None, "银牌", 20000)


def test_direct_referrals_spend_counts_level_one_only(session, product):
    settings(session)
    grade(session, "银牌", 1, min_team_spend_fen=20000)
    a = distributor(session)
    b = distributor(session, referral(session, a))  # a ← b
    level_two = referral(session, b)  # a ← b ← level_two: not a's direct referral
    completed_order(session, level_two, product, qty=2)
    assert grade_of(session, a) is None
    assert grade_of(session, b) == "银牌"
    completed_order(session, b.user, product, qty=2)  # b is a's direct referral
    assert grade_of(session, a) == "银牌"
    assert session.scalar(select(DistributorGradeLog.team_spend_fen).where(
        DistributorGradeLog.distributor_id == a.id
    )) == 20000  # fmt: skip


def test_commission_counts_when_released(session, product):
    settings(session)
    grade(session, "银牌", 1, min_commission_fen=2000)
    d = distributor(session)
    shopper = referral(session, d)
    completed_order(session, shopper, product, qty=2)  # ¥20 commission, frozen
    assert grade_of(session, d) is None
    release_everything(session)
    assert grade_of(session, d) == "银牌"
    assert session.scalar(select(DistributorGradeLog.commission_fen)) == 2000


def test_a_grade_without_conditions_is_never_given_automatically(session, product):
    settings(session)
    grade(session, "金牌", 2)
    d = distributor(session)
    completed_order(session, d.user, product, qty=5)
    assert grades.check_upgrades(session) == 0
    assert grade_of(session, d) is None


# ---------------------------------------------------------------- all of, any of, the highest


@pytest.mark.parametrize("mode, upgraded", [("all", False), ("any", True)])
def test_all_of_needs_every_condition_any_of_needs_one(session, product, mode, upgraded):
    settings(session)
    grade(session, "银牌", 1, mode, min_own_spend_fen=10000, min_team_spend_fen=10000)
    d = distributor(session)
    completed_order(session, d.user, product)  # own spend met, referrals' spend not
    assert (grade_of(session, d) == "银牌") is upgraded
    completed_order(session, referral(session, d), product)  # now both
    assert grade_of(session, d) == "银牌"


def test_the_highest_grade_that_holds_wins_in_one_step(session, product):
    settings(session)
    grade(session, "铜牌", 1, min_own_spend_fen=10000)
    grade(session, "银牌", 2, min_own_spend_fen=30000)
    grade(session, "金牌", 3, min_own_spend_fen=30000, min_commission_fen=100)  # commission not met
    d = distributor(session)
    completed_order(session, d.user, product, qty=3)
    assert grade_of(session, d) == "银牌"
    assert logs(session, d) == [(None, "银牌", "automatic")]  # straight there, not through 铜牌


# ---------------------------------------------------------------- never down


def test_a_refund_that_lowers_a_figure_does_not_downgrade(session, product):
    settings(session)
    grade(session, "银牌", 1, min_own_spend_fen=20000)
    d = distributor(session)
    order = completed_order(session, d.user, product, qty=2)
    assert grade_of(session, d) == "银牌"
    refund_all(session, order)
    assert grades.figures_of(session, d).own_spend == 0
    assert grades.check_upgrades(session) == 0
    assert grade_of(session, d) == "银牌"
    assert logs(session, d) == [(None, "银牌", "automatic")]


def test_conditions_raised_later_do_not_downgrade(session, product):
    settings(session)
    silver = grade(session, "银牌", 1, min_own_spend_fen=10000)
    d = distributor(session)
    completed_order(session, d.user, product)
    grades.save_grade(
        session,
        silver,
        name="银牌",
        rates_bp=None,
        sort=1,
        upgrade=grades.ConditionsInput(min_own_spend_fen=99900),
    )
    session.commit()
    assert grades.check_upgrades(session) == 0
    assert grade_of(session, d) == "银牌"


# ---------------------------------------------------------------- by hand


def test_a_manual_downgrade_sticks_until_a_condition_becomes_true_after_it(session, product):
    """ "Met again" means: a condition of the higher grade that did not hold when the merchant changed the
    grade holds now. What already held then (and still holds, or grows) does not undo the decision."""
    settings(session)
    owner = factories.UserFactory(role="owner")
    grade(session, "银牌", 1, "any", min_own_spend_fen=20000, min_team_spend_fen=20000)
    d = distributor(session)
    completed_order(session, d.user, product, qty=2)  # own spend ¥200: 银牌
    assert grade_of(session, d) == "银牌"

    grades.change_grade_by_hand(session, d, None, reason="刷单嫌疑，降级观察", actor=owner)
    session.commit()
    completed_order(session, d.user, product)  # own spend grows, but that condition held at the change
    assert grades.check_upgrades(session) == 0
    assert grade_of(session, d) is None

    shopper = referral(session, d)
    completed_order(session, shopper, product)  # referrals' spend ¥100: not yet
    assert grade_of(session, d) is None
    completed_order(session, shopper, product)  # ¥200: a condition that became true after the change
    assert grade_of(session, d) == "银牌"
    assert logs(session, d) == [
        (None, "银牌", "automatic"),
        ("银牌", None, "manual"),
        (None, "银牌", "automatic"),
    ]
    manual = session.scalars(select(DistributorGradeLog).where(DistributorGradeLog.kind == "manual")).one()
    assert (manual.reason, manual.actor_id, manual.own_spend_fen) == ("刷单嫌疑，降级观察", owner.id, 20000)


def test_an_all_of_grade_that_fully_held_at_the_manual_change_stays_by_hand(session, product):
    settings(session)
    owner = factories.UserFactory(role="owner")
    grade(session, "银牌", 1, "all", min_own_spend_fen=10000)
    d = distributor(session)
    completed_order(session, d.user, product)
    grades.change_grade_by_hand(session, d, None, reason="暂停", actor=owner)
    session.commit()
    completed_order(session, d.user, product, qty=5)
    assert grades.check_upgrades(session) == 0
    assert grade_of(session, d) is None
    # Their page says nothing is reachable by themselves rather than counting down to a wall.
    assert grades.progress(session, d, settings(session)).next_grade is None


def test_an_upgrade_after_a_manual_downgrade_does_not_open_the_way_back_to_the_removed_grade(
    session, product
):
    """Found in review: the pin was the latest log line, so an automatic upgrade to 银牌 (a new achievement for
    it) lifted it, and the next check gave back 金牌 on the figures the merchant had already judged."""
    settings(session)
    owner = factories.UserFactory(role="owner")
    grade(session, "银牌", 1, mode="any", min_own_spend_fen=20000, min_team_spend_fen=10000)
    grade(session, "金牌", 2, min_own_spend_fen=20000)
    d = distributor(session)
    completed_order(session, d.user, product, qty=2)  # own spend ¥200: 金牌
    assert grade_of(session, d) == "金牌"
    grades.change_grade_by_hand(session, d, None, reason="刷单嫌疑，降级观察", actor=owner)
    session.commit()
    completed_order(session, referral(session, d), product, qty=1)  # new: team spend → 银牌 only
    assert grade_of(session, d) == "银牌"
    grades.check_upgrades(session)  # the settle job's pass
    session.commit()
    assert grade_of(session, d) == "银牌", logs(session, d)


def test_a_manual_change_needs_a_reason_and_a_real_other_grade(session):
    settings(session)
    owner = factories.UserFactory(role="owner")
    silver = grade(session, "银牌", 1)
    d = distributor(session)
    with pytest.raises(grades.DistributionError, match="原因"):
        grades.change_grade_by_hand(session, d, silver.id, reason="  ", actor=owner)
    with pytest.raises(grades.DistributionError, match="不存在"):
        grades.change_grade_by_hand(session, d, 999999, reason="试试", actor=owner)
    with pytest.raises(grades.DistributionError, match="已经是"):
        grades.change_grade_by_hand(session, d, None, reason="试试", actor=owner)
    session.rollback()
    assert grade_of(session, d) is None and logs(session) == []


# ---------------------------------------------------------------- where the checks run


def test_a_figure_change_checks_only_the_people_it_concerns(session, product):
    settings(session)
    silver = grade(session, "银牌", 1, min_own_spend_fen=50000)
    bystander = distributor(session)
    completed_order(session, bystander.user, product)  # ¥100: not enough then
    # The merchant lowers the bar: saving a grade checks no one.
    grades.save_grade(
        session,
        silver,
        name="银牌",
        rates_bp=None,
        sort=1,
        upgrade=grades.ConditionsInput(min_own_spend_fen=10000),
    )
    session.commit()
    assert grade_of(session, bystander) is None
    d = distributor(session)
    completed_order(session, d.user, product)  # d's completion checks d (and their referrer), no one else
    assert grade_of(session, d) == "银牌"
    assert grade_of(session, bystander) is None
    assert grades.check_upgrades(session) == 1  # the settle job catches the bystander
    assert grade_of(session, bystander) == "银牌"


def test_settle_upgrades_in_bulk_without_a_query_per_distributor(app, session, product, runner):
    settings(session)
    few = [distributor(session) for _ in range(2)]
    many = [distributor(session) for _ in range(30)]
    for d in few + many:
        completed_order(session, d.user, product)
    # Conditions set only now: nobody has been checked against them yet.
    grade(session, "铜牌", 0, min_own_spend_fen=5000)
    grade(session, "银牌", 1, min_own_spend_fen=20000)

    few_ids = [d.id for d in few]
    with counting_statements() as small:
        assert grades.check_upgrades(session, few_ids) == 2
    session.rollback()
    with counting_statements() as big:
        result = runner.invoke(args=["distribution", "settle"])
    assert result.exit_code == 0, result.output
    # 32 distributors moved with as many statements as 2 (plus the job's bookkeeping): none per distributor.
    assert len(big) < len(small) + 10 < len(many), (len(small), big)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(DistributorGradeLog)) == 32
    assert {grade_of(session, d) for d in few + many} == {"铜牌"}
    assert runner.invoke(args=["distribution", "settle"]).exit_code == 0
    assert session.scalar(select(func.count()).select_from(DistributorGradeLog)) == 32  # once


# ---------------------------------------------------------------- two checks at once (PostgreSQL)


def test_two_upgrade_checks_at_once_log_once(pg_app):
    with pg_app.app_context():
        session = db.session
        settings(session)
        grade(session, "银牌", 1, min_own_spend_fen=10000)
        product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
        d = distributor(session)
        order = buy(session, d.user, product)
        staff = factories.UserFactory(role="staff")
        orders.transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF100200300")
        session.commit()
        # Completed behind the receivers' back, so that only the two racing checks can see it.
        session.execute(
            db.update(Order).where(Order.id == order.id).values(status="completed", completed_at=utcnow())
        )
        session.commit()
        distributor_id = d.id

    results = run_together(pg_app, 2, lambda i: grades.check_upgrades(db.session, [distributor_id]))
    assert sorted(results) == [0, 1], results
    with pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DistributorGradeLog)) == 1


# ---------------------------------------------------------------- the back office


def grade_form(client, **changes):
    data = {
        "name": "银牌",
        "sort": "1",
        "upgrade_mode": "all",
        "min_commission_fen": "",
        "min_own_spend_fen": "",
        "min_team_spend_fen": "",
        "csrf_token": token(client, "/admin/distribution/grades/new"),
        **changes,
    }
    return client.post("/admin/distribution/grades/new", data=data)


def test_the_grade_form_saves_conditions_in_yuan(owner_client, session):
    response = grade_form(
        owner_client, upgrade_mode="any", min_commission_fen="500", min_team_spend_fen="1200.50"
    )
    assert response.status_code == 302
    silver = session.scalar(select(DistributorGrade))
    assert (
        silver.upgrade_mode,
        silver.min_commission_fen,
        silver.min_own_spend_fen,
        silver.min_team_spend_fen,
    ) == (
        "any",
        50000,
        None,
        120050,
    )
    page = owner_client.get("/admin/distribution/grades").get_data(as_text=True)
    assert "满足任一：累计佣金 ≥ ¥500.00，直推消费 ≥ ¥1,200.50" in page
    assert "禁止传销条例" in page and "入门费" in page
    form = owner_client.get(f"/admin/distribution/grades/{silver.id}").get_data(as_text=True)
    assert 'value="1200.50"' in form and "禁止传销条例" in form


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"min_own_spend_fen": "-100"}, "金额不能为负数"),
        ({"min_own_spend_fen": "0"}, "金额必须大于 0"),
        ({"min_team_spend_fen": "12,00"}, "请不要用逗号"),
        ({"upgrade_mode": "most"}, "请选择需要满足全部条件还是任意一项"),
    ],
)
def test_the_grade_form_refuses_bad_conditions_and_changes_nothing(owner_client, session, changes, message):
    response = grade_form(owner_client, min_commission_fen="100", **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(DistributorGrade)) == 0


def test_the_service_refuses_zero_and_negative_conditions(session):
    for bad in (0, -1):
        with pytest.raises(grades.DistributionError):
            grades.save_grade(
                session,
                None,
                name="银牌",
                rates_bp=None,
                upgrade=grades.ConditionsInput(min_commission_fen=bad),
            )
    with pytest.raises(grades.DistributionError, match="全部条件还是任意一项"):
        grades.save_grade(session, None, name="银牌", rates_bp=None, upgrade=grades.ConditionsInput("most"))
    session.rollback()
    assert session.scalar(select(func.count()).select_from(DistributorGrade)) == 0


def test_changing_a_grade_by_hand_in_the_back_office(owner_client, session, owner):
    settings(session)
    silver = grade(session, "银牌", 1)
    d = distributor(session)
    path = f"/admin/distribution/distributors/{d.id}/grade"
    page = f"/admin/distribution/distributors/{d.id}"
    refused = htmx_post(owner_client, path, {"grade_id": str(silver.id), "reason": ""}, page=page)
    assert refused.status_code == 422 and "请填写原因" in refused.get_data(as_text=True)
    assert grade_of(session, d) is None and logs(session) == []
    changed = htmx_post(
        owner_client, path, {"grade_id": str(silver.id), "reason": "线下活动表现突出"}, page=page
    )
    assert changed.status_code == 200
    assert grade_of(session, d) == "银牌"
    shown = owner_client.get(page).get_data(as_text=True)
    assert "线下活动表现突出" in shown and "手动调整" in shown and "店主" in shown


def test_only_the_back_office_changes_grades_and_only_the_owner_edits_them(client, session):
    settings(session)
    silver = grade(session, "银牌", 1)
    d = distributor(session)
    customer = factories.UserFactory()
    login(client, customer)
    client.post(
        f"/admin/distribution/distributors/{d.id}/grade",
        data={"grade_id": str(silver.id), "reason": "自己升", "csrf_token": token(client, "/")},
    )
    assert grade_of(session, d) is None
    client.post("/logout", data={"csrf_token": token(client, "/")})

    staff = factories.UserFactory(role="staff")
    login(client, staff, admin=True)
    response = client.post(
        f"/admin/distribution/grades/{silver.id}",
        data={"name": "银牌", "min_commission_fen": "1", "csrf_token": token(client)},
    )
    assert response.status_code == 403
    assert session.get(DistributorGrade, silver.id).min_commission_fen is None
    assert logs(session) == []


# ---------------------------------------------------------------- the distributor's side


def test_the_centre_shows_the_grade_progress_and_own_log_only(client, session, product):
    settings(session)
    owner = factories.UserFactory(role="owner")
    grade(session, "银牌", 1, "all", rates=[1200, 600], min_commission_fen=1000, min_team_spend_fen=50000)
    gold = grade(session, "金牌", 2, "any", min_own_spend_fen=100000, min_team_spend_fen=500000)
    d = distributor(session)
    other = distributor(session)
    grades.change_grade_by_hand(session, other, gold.id, reason="别人的秘密原因", actor=owner)
    session.commit()
    completed_order(session, referral(session, d), product, qty=3)  # referrals' spend ¥300, commission frozen

    login(client, d.user)
    page = client.get("/d").get_data(as_text=True)
    assert "我的等级" in page and "佣金比例：10% / 5%" in page
    assert "升级银牌还需：" in page
    assert "再赚 ¥10.00 佣金" in page and "再推广 ¥200.00" in page
    assert "别人的秘密原因" not in page

    release_everything(session)  # ¥30 released: 银牌's commission condition holds, referrals' spend not yet
    completed_order(session, referral(session, d), product, qty=2)  # ¥500: 银牌
    page = client.get("/d").get_data(as_text=True)
    assert "佣金比例：12% / 6%" in page
    # 金牌 is any-of: the closest condition only (referrals' spend ¥500 of ¥5,000 beats own spend ¥0 of ¥1,000).
    assert "再推广 ¥4,500.00 升级金牌" in page and "再消费" not in page
    assert "达到升级条件" in page and "别人的秘密原因" not in page


def test_the_centre_says_so_at_the_highest_grade_and_not_below_it(client, session, product):
    settings(session)
    owner = factories.UserFactory(role="owner")
    grade(session, "银牌", 1, min_own_spend_fen=10000)
    gold = grade(session, "金牌", 2)  # by hand only
    d = distributor(session)
    login(client, d.user)
    assert "最高等级" not in client.get("/d").get_data(as_text=True)
    grades.change_grade_by_hand(session, d, gold.id, reason="元老", actor=owner)
    session.commit()
    page = client.get("/d").get_data(as_text=True)
    assert "您已是本店最高等级" in page and "升级" not in page.split("我的等级")[1].split("</section>")[0]


def test_deleting_a_grade_keeps_its_names_in_the_log(owner_client, session, product):
    settings(session)
    silver = grade(session, "银牌", 1, min_own_spend_fen=10000)
    d = distributor(session)
    completed_order(session, d.user, product)
    assert grade_of(session, d) == "银牌"
    response = owner_client.post(
        f"/admin/distribution/grades/{silver.id}/delete", data={"csrf_token": token(owner_client)}
    )
    assert response.status_code == 302
    assert grade_of(session, d) is None
    first, deleted = session.scalars(select(DistributorGradeLog).order_by(DistributorGradeLog.id)).all()
    assert (first.to_grade_id, first.to_name) == (None, "银牌")
    # The distributor's log says why the grade went, and by whom.
    assert (deleted.from_name, deleted.to_name, deleted.kind) == ("银牌", None, "grade_deleted")
    assert deleted.reason == "店铺已取消等级“银牌”。" and deleted.actor_id is not None


def test_deleting_a_grade_gives_a_lower_one_they_have_reached_and_pins_nothing(client, session, product):
    settings(session)
    owner = factories.UserFactory(role="owner")
    grade(session, "铜牌", 1, min_own_spend_fen=5000)
    silver = grade(session, "银牌", 2, min_own_spend_fen=10000)
    d = distributor(session)
    completed_order(session, d.user, product)  # ¥100: 银牌
    assert grade_of(session, d) == "银牌"
    assert grades.delete_grade(session, silver, actor=owner) == 1
    session.commit()
    assert grade_of(session, d) == "铜牌"
    assert logs(session, d) == [
        (None, "银牌", "automatic"),
        ("银牌", None, "grade_deleted"),
        (None, "铜牌", "automatic"),
    ]
    login(client, d.user)
    assert "店铺已取消等级“银牌”" in client.get("/d").get_data(as_text=True)
