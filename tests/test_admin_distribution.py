"""The merchant's side of distribution in the back office: rules, distributors, applications, the ledger and
its jobs, withdrawals, held orders and the explanation of every commission — through the test client, with
CSRF on, on both databases."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from app import orders
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import (
    Commission,
    CommissionExplanation,
    CommissionStatus,
    DistributionSettings,
    Distributor,
    DistributorApplication,
    DistributorGrade,
    EntryKind,
    LedgerEntry,
    Withdrawal,
    WithdrawalStatus,
)
from app.extensions import db
from app.jobs import JobRun
from app.payments import services as payments
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_distribution import balances, bind, buy, complete, distributor, settings

HTMX = {"HX-Request": "true"}
RULES = "/admin/distribution/settings"


def token(client, path="/admin/distribution") -> str:
    return csrf_token(client, path)


def htmx_post(client, path, data=None, page="/admin/distribution"):
    return client.post(path, data={**(data or {}), "csrf_token": token(client, page)}, headers=HTMX)


def valid_rules(**changes) -> dict:
    rules = {
        "enabled": "y",
        "mode": "apply",
        "spend_threshold_fen": "100.00",
        "levels": "2",
        "rate_1": "10",
        "rate_2": "5",
        "rate_3": "",
        "binding_mode": "first",
        "binding_days": "0",
        "freeze_days": "7",
        "withdrawal_min_fen": "10.00",
        "withdrawal_fee_bp": "0",
    }
    rules.update(changes)
    return {key: value for key, value in rules.items() if value is not None}


def toast(response) -> str:
    return json.loads(response.headers["HX-Trigger"])["toast"]["message"]


def stored_rules(session):
    session.expire_all()
    row = session.get(DistributionSettings, 1)
    return (row.levels, row.rates_bp, row.freeze_days, row.withdrawal_min_fen, row.binding_days)


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture
def tree(session):
    """A (distributor) ← B (distributor, bound to A) ← C (shopper, bound to B)."""
    settings(session)
    a = distributor(session)
    b_user = factories.UserFactory()
    bind(session, b_user, a)
    b = distributor(session, b_user)
    c = factories.UserFactory()
    bind(session, c, b)
    return a, b, c


@pytest.fixture
def product(app):
    return factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])


@pytest.fixture
def staff_client(client):
    login(client, factories.UserFactory(role="staff", nickname="店员"), admin=True)
    return client


# ---------------------------------------------------------------- rules


def test_the_owner_saves_the_rules_and_sees_them_again(owner_client, session):
    response = owner_client.post(
        RULES,
        data={
            **valid_rules(
                levels="3",
                rate_1="12.5",
                rate_2="6",
                rate_3="1",
                three_levels_acknowledged="y",
                binding_mode="last",
                binding_days="30",
                freeze_days="15",
                withdrawal_min_fen="50",
                withdrawal_fee_bp="0.6",
            ),
            "csrf_token": token(owner_client, RULES),
        },
    )
    assert response.status_code == 302
    assert stored_rules(session) == (3, [1250, 600, 100], 15, 5000, 30)
    row = session.get(DistributionSettings, 1)
    assert row.binding_mode == "last" and row.withdrawal_fee_bp == 60
    assert row.three_levels_acknowledged_at is not None
    page = owner_client.get(RULES).get_data(as_text=True)
    assert 'value="12.5"' in page and 'value="50.00"' in page and 'value="0.6"' in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"levels": "3", "rate_3": "1"}, "明确确认已知晓相关法律风险"),
        ({"rate_1": "21", "rate_2": "10"}, "合计超过 30%"),
        ({"rate_2": "abc"}, "请输入百分比"),
        ({"freeze_days": "181"}, "冻结天数须为 0 到 180 天"),
        ({"withdrawal_min_fen": "-5"}, "金额不能为负数"),
        ({"freeze_days": "seven"}, "freeze"),
    ],
    ids=[
        "3-levels-without-acknowledgement",
        "31-percent",
        "abc-rate",
        "freeze-181",
        "negative-minimum",
        "freeze-text",
    ],
)
def test_each_refused_rule_is_shown_next_to_its_field_and_nothing_changes(
    owner_client, session, changes, message
):
    settings(session)
    before = stored_rules(session)
    response = owner_client.post(
        RULES, data={**valid_rules(**changes), "csrf_token": token(owner_client, RULES)}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "未保存任何修改" in html
    if message != "freeze":
        assert message in html
    assert 'class="invalid-feedback d-block"' in html
    assert stored_rules(session) == before


def test_fields_the_chosen_rules_do_not_use_never_block_saving(owner_client, session):
    settings(session, spend_threshold_fen=20000)
    response = owner_client.post(
        RULES,
        data={
            **valid_rules(rate_3="oops", spend_threshold_fen="lots"),
            "csrf_token": token(owner_client, RULES),
        },
    )
    assert response.status_code == 302
    assert stored_rules(session)[1] == [1000, 500]
    assert session.get(DistributionSettings, 1).spend_threshold_fen == 20000


def test_the_live_example_says_what_each_level_gets_and_saves_nothing(owner_client, session):
    settings(session)
    example = "/admin/distribution/settings/example"
    response = htmx_post(owner_client, example, valid_rules(rate_1="10", rate_2="5"), page=RULES)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "买家实付 ¥100.00：上级得 ¥10.00，上上级得 ¥5.00。" in html
    assert 'id="settings-example"' in html and "<html" not in html

    three = htmx_post(
        owner_client, example, valid_rules(levels="3", rate_1="12", rate_2="6", rate_3="2"), page=RULES
    )
    assert "上级得 ¥12.00，上上级得 ¥6.00，第三级得 ¥2.00" in three.get_data(as_text=True)
    too_much = htmx_post(owner_client, example, valid_rules(rate_1="25", rate_2="10"), page=RULES)
    assert "合计超过 30%" in too_much.get_data(as_text=True)
    typo = htmx_post(owner_client, example, valid_rules(rate_1="1o"), page=RULES)
    assert "请输入百分比" in typo.get_data(as_text=True)
    fee = htmx_post(owner_client, example, valid_rules(withdrawal_fee_bp="1.5"), page=RULES)
    assert "手续费 ¥1.50" in fee.get_data(as_text=True)
    assert stored_rules(session)[1] == [1000, 500]


def test_staff_work_the_queues_but_only_the_owner_changes_the_rules(staff_client, session):
    settings(session)
    for path in (
        "/admin/distribution",
        "/admin/distribution/applications",
        "/admin/distribution/ledger",
        "/admin/distribution/withdrawals",
        "/admin/distribution/bindings",
        "/admin/distribution/fraud",
        "/admin/distribution/overview",
        "/admin/distribution/grades",
    ):
        assert staff_client.get(path).status_code == 200, path
    assert staff_client.get(RULES).status_code == 403
    assert staff_client.get("/admin/distribution/grades/new").status_code == 403
    csrf = token(staff_client)
    assert staff_client.post(RULES, data={**valid_rules(rate_1="20"), "csrf_token": csrf}).status_code == 403
    assert staff_client.post("/admin/distribution/jobs/settle", data={"csrf_token": csrf}).status_code == 403
    assert stored_rules(session)[1] == [1000, 500]
    assert "分销规则" not in staff_client.get("/admin/distribution").get_data(as_text=True)


def test_a_customer_gets_no_access(client):
    login(client, factories.UserFactory())
    for path in ("/admin/distribution", RULES, "/admin/distribution/ledger.csv"):
        response = client.get(path)
        assert response.status_code == 403, path


def test_a_post_without_the_csrf_token_is_refused(owner_client, session):
    settings(session)
    user = factories.UserFactory()
    application = dist.apply(session, user, real_name="李四", mobile="13811112222", reason="")
    session.commit()
    response = owner_client.post(f"/admin/distribution/applications/{application.id}/approve", headers=HTMX)
    assert response.status_code in (400, 422)
    assert owner_client.post(RULES, data=valid_rules(rate_1="20")).status_code == 400
    session.expire_all()
    assert session.get(DistributorApplication, application.id).status == "pending"
    assert dist.distributor_of(session, user.id) is None
    assert stored_rules(session)[1] == [1000, 500]


def test_unknown_and_absurd_ids_are_not_found(owner_client):
    for path in (
        "/admin/distribution/distributors/99999999999",
        "/admin/distribution/distributors/12345",
        "/admin/distribution/orders/99999999999/commission",
        "/admin/distribution/grades/99999999999",
    ):
        assert owner_client.get(path).status_code == 404, path
    assert htmx_post(owner_client, "/admin/distribution/withdrawals/99999999999/approve").status_code == 404


# ---------------------------------------------------------------- applications, distributors, grades


def test_the_merchant_approves_and_rejects_applications(owner_client, session):
    settings(session)
    first, second = factories.UserFactory(), factories.UserFactory()
    a1 = dist.apply(session, first, real_name="王小明", mobile="13811112222", reason="社区团长")
    a2 = dist.apply(session, second, real_name="赵小红", mobile="13811113333", reason="")
    session.commit()
    queue = owner_client.get("/admin/distribution/applications").get_data(as_text=True)
    assert "王小明" in queue and "社区团长" in queue

    approved = htmx_post(owner_client, f"/admin/distribution/applications/{a1.id}/approve")
    assert approved.status_code == 200
    assert "已通过" in approved.get_data(as_text=True) and "王小明" in toast(approved)
    assert dist.distributor_of(session, first.id).real_name == "王小明"

    again = htmx_post(owner_client, f"/admin/distribution/applications/{a1.id}/approve")
    assert again.status_code == 422 and "已处理" in toast(again)

    no_reason = htmx_post(
        owner_client, f"/admin/distribution/applications/{a2.id}/reject", {"reject_reason": " "}
    )
    assert no_reason.status_code == 422 and "请填写给申请人的原因" in no_reason.get_data(as_text=True)
    rejected = htmx_post(
        owner_client, f"/admin/distribution/applications/{a2.id}/reject", {"reject_reason": "暂不招募"}
    )
    assert rejected.status_code == 200 and "暂不招募" in rejected.get_data(as_text=True)
    session.expire_all()
    assert session.get(DistributorApplication, a2.id).status == "rejected"
    assert dist.distributor_of(session, second.id) is None


def test_a_disabled_distributor_stops_earning_on_the_next_order(owner_client, session, tree, product):
    a, b, c = tree
    buy(session, c, product)
    assert balances(session, b) == (1000, 0, 0)
    response = htmx_post(
        owner_client, f"/admin/distribution/distributors/{b.id}/active", {"active": "0", "reason": "刷单嫌疑"}
    )
    assert response.status_code == 200 and "已停用" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(Distributor, b.id).disabled_reason == "刷单嫌疑"

    order = buy(session, c, product)
    assert balances(session, b) == (1000, 0, 0)  # nothing new for B …
    assert balances(session, a) == (1000, 0, 0)  # … and A still earns level 2: levels do not shift
    panel = owner_client.get(f"/admin/distribution/orders/{order.id}/commission", headers=HTMX)
    assert "已停用（不得佣金，层级不上移）" in panel.get_data(as_text=True)

    htmx_post(owner_client, f"/admin/distribution/distributors/{b.id}/active", {"active": "1"})
    buy(session, c, product)
    assert balances(session, b) == (2000, 0, 0)


def test_a_grade_with_its_own_rates_changes_what_the_next_order_pays(owner_client, session, tree, product):
    a, b, c = tree
    response = owner_client.post(
        "/admin/distribution/grades/new",
        data={
            "name": "金牌",
            "own_rates": "y",
            "rate_1": "20",
            "rate_2": "",
            "rate_3": "",
            "sort": "1",
            "csrf_token": token(owner_client, "/admin/distribution/grades/new"),
        },
    )
    assert response.status_code == 302
    gold = session.scalar(select(DistributorGrade).where(DistributorGrade.name == "金牌"))
    assert gold.rates_bp == [2000]
    refused = owner_client.post(
        "/admin/distribution/grades/new",
        data={
            "name": "钻石",
            "own_rates": "y",
            "rate_1": "25",
            "rate_2": "10",
            "csrf_token": token(owner_client, "/admin/distribution/grades/new"),
        },
    )
    assert refused.status_code == 422 and "合计超过 30%" in refused.get_data(as_text=True)

    changed = htmx_post(
        owner_client,
        f"/admin/distribution/distributors/{b.id}/grade",
        {"grade_id": str(gold.id), "reason": "带货能力强"},
    )
    assert changed.status_code == 200
    bogus = htmx_post(
        owner_client,
        f"/admin/distribution/distributors/{b.id}/grade",
        {"grade_id": "999999", "reason": "试试"},
    )
    assert bogus.status_code == 422
    buy(session, c, product)
    assert balances(session, b) == (2000, 0, 0)
    assert balances(session, a) == (500, 0, 0)
    listing = owner_client.get(f"/admin/distribution?grade={gold.id}").get_data(as_text=True)
    assert b.code in listing and a.code not in listing


# ---------------------------------------------------------------- withdrawals


def released_tree(session, tree, product, orders_count=2):
    a, b, c = tree
    for _ in range(orders_count):
        complete(session, buy(session, c, product))
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(session)
    session.commit()
    return a, b, c


def request(session, d, amount, method="bank"):
    account = {
        "bank": dict(account="6222 0212 3456 7890", bank_name="工商银行", bank_branch="深圳南山支行"),
        "wechat": dict(account="wxid_abc"),
    }[method]
    withdrawal = ledger.request_withdrawal(
        session, d, ledger.WithdrawalInput(amount_fen=amount, method=method, real_name="李四", **account)
    )
    session.commit()
    return withdrawal


def test_withdrawals_are_approved_paid_or_rejected_with_the_ledger_in_step(
    owner_client, session, tree, product
):
    a, b, c = released_tree(session, tree, product)
    settings(session, withdrawal_fee_bp=100, withdrawal_min_fen=500)
    w1 = request(session, b, 1500)
    w2 = request(session, b, 500, "wechat")
    assert balances(session, b) == (0, 0, 0)
    queue = owner_client.get("/admin/distribution/withdrawals").get_data(as_text=True)
    assert "6222021234567890" in queue and "工商银行" in queue and "wxid_abc" in queue

    assert htmx_post(owner_client, f"/admin/distribution/withdrawals/{w1.id}/approve").status_code == 200
    early = htmx_post(owner_client, f"/admin/distribution/withdrawals/{w2.id}/pay", {"reference": "X1"})
    assert early.status_code == 422  # only approved withdrawals can be paid
    blank = htmx_post(owner_client, f"/admin/distribution/withdrawals/{w1.id}/pay", {"reference": ""})
    assert blank.status_code == 422 and "请填写打款流水号" in blank.get_data(as_text=True)
    paid = htmx_post(owner_client, f"/admin/distribution/withdrawals/{w1.id}/pay", {"reference": "BANK-001"})
    assert paid.status_code == 200 and "BANK-001" in paid.get_data(as_text=True)
    rejected = htmx_post(
        owner_client, f"/admin/distribution/withdrawals/{w2.id}/reject", {"reason": "账号有误"}
    )
    assert rejected.status_code == 200

    session.expire_all()
    assert session.get(Withdrawal, w1.id).status == WithdrawalStatus.PAID
    assert session.get(Withdrawal, w2.id).reject_reason == "账号有误"
    assert balances(session, b) == (0, 500, 1500)
    kinds = session.scalars(
        select(LedgerEntry.kind).where(LedgerEntry.withdrawal_id.is_not(None)).order_by(LedgerEntry.id)
    ).all()
    assert kinds == [
        EntryKind.WITHDRAWAL_HOLD,
        EntryKind.WITHDRAWAL_HOLD,
        EntryKind.WITHDRAWAL_PAID,
        EntryKind.WITHDRAWAL_RETURNED,
    ]
    assert ledger.audit(session) == []
    paid_tab = owner_client.get("/admin/distribution/withdrawals?tab=paid").get_data(as_text=True)
    assert "BANK-001" in paid_tab and "已打款" in paid_tab


def test_the_bank_batch_csv_lists_approved_bank_card_withdrawals(owner_client, session, tree, product):
    a, b, c = released_tree(session, tree, product)
    settings(session, withdrawal_fee_bp=100, withdrawal_min_fen=500)
    bank = request(session, b, 1500)
    wechat = request(session, b, 500, "wechat")
    staff = factories.UserFactory(role="staff")
    ledger.approve_withdrawal(session, bank, actor=staff)
    ledger.approve_withdrawal(session, wechat, actor=staff)
    session.commit()
    response = owner_client.get("/admin/distribution/withdrawals/bank.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    header, *rows = body.lstrip("\ufeff").strip().splitlines()
    assert header == "提现编号,收款人,银行卡号,开户银行,开户支行,金额,手续费,实际转账金额,转账流水号"
    assert rows == [f"{bank.id},李四,6222021234567890\t,工商银行,深圳南山支行,15.00,0.15,14.85,"]


def test_the_ledger_csv_has_a_bom_and_chinese_headers(owner_client, session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    response = owner_client.get(f"/admin/distribution/ledger.csv?order={order.number}")
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff流水号,时间,分销员,推广码,手机号,类型")
    lines = body.strip().splitlines()[1:]
    assert len(lines) == 2
    assert all(order.number in line and "佣金入账（冻结）" in line for line in lines)
    assert any(",10.00," in line for line in lines) and any(",5.00," in line for line in lines)


def test_the_ledger_filters_by_distributor_order_kind_and_date(owner_client, session, tree, product):
    a, b, c = tree
    first = buy(session, c, product)
    second = buy(session, c, product)
    page = owner_client.get(f"/admin/distribution/ledger?order={first.number}").get_data(as_text=True)
    assert first.number in page and second.number not in page
    mine = owner_client.get(
        f"/admin/distribution/ledger?distributor_id={a.id}", headers={**HTMX, "HX-Target": "results"}
    )
    html = mine.get_data(as_text=True)
    assert "<html" not in html and "共 2 条" in html
    assert "共 4 条" in owner_client.get("/admin/distribution/ledger?kind=frozen_credit").get_data(
        as_text=True
    )
    assert "共 0 条" not in owner_client.get(
        "/admin/distribution/ledger?from=2000-01-01&to=2999-01-01"
    ).get_data(as_text=True)
    empty = owner_client.get("/admin/distribution/ledger?from=2001-01-01&to=2001-01-02").get_data(
        as_text=True
    )
    assert "没有符合条件的流水" in empty
    for junk in ("?from=2024-13-45", "?distributor_id=99999999999", "?kind=<script>", "?page=abc"):
        assert owner_client.get("/admin/distribution/ledger" + junk).status_code == 200


def test_run_settle_and_audit_now_like_cron(owner_client, session, tree, product):
    a, b, c = tree
    complete(session, buy(session, c, product))
    set_clock(utcnow() + timedelta(days=8))
    response = owner_client.post("/admin/distribution/jobs/settle", data={"csrf_token": token(owner_client)})
    assert response.status_code == 302
    assert balances(session, b) == (0, 1000, 0)
    assert session.get(JobRun, "distribution-settle").result == "released=2 upgraded=0 finalised=1"
    owner_client.post("/admin/distribution/jobs/audit", data={"csrf_token": token(owner_client)})
    session.expire_all()
    assert session.get(JobRun, "ledger-audit").result == "mismatches=0"
    page = owner_client.get("/admin/distribution/ledger").get_data(as_text=True)
    assert "释放 2 笔佣金" in page and "对账通过" in page
    assert (
        owner_client.post(
            "/admin/distribution/jobs/nope", data={"csrf_token": token(owner_client)}
        ).status_code
        == 404
    )


# ---------------------------------------------------------------- explanation, flags


def test_the_explanation_panel_shows_the_chain_rates_and_reasons(owner_client, session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    panel = owner_client.get(f"/admin/distribution/orders/{order.id}/commission", headers=HTMX)
    html = panel.get_data(as_text=True)
    assert panel.status_code == 200 and "<html" not in html
    assert b.user.nickname in html and a.user.nickname in html
    assert "第 1 级" in html and "10% · 店铺统一比例" in html and "¥100.00 × 10%" in html
    assert "¥10.00" in html and "¥5.00" in html

    lonely = factories.UserFactory()
    nobody = buy(session, lonely, product)
    page = owner_client.get(f"/admin/distribution/orders/{nobody.id}/commission").get_data(as_text=True)
    assert "买家付款时没有绑定任何分销员" in page and "<html" in page


def flagged_order(session, tree, product, n):
    """C ships to an address that B (C's upline) also has: a fraud flag holds the commission."""
    a, b, c = tree
    factories.AddressFactory(user=b.user, detail=f"幸福路 9{n} 号")
    address = factories.AddressFactory(user=c, detail=f"幸福路 9{n} 号")
    order = orders.checkout.place_order(
        session,
        user=c,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key=f"flagged-order-{n:06d}",
    )
    payment = payments.start_payment(session, order, "sandbox", user=c)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    session.commit()
    return order


def test_held_orders_are_cleared_or_voided(owner_client, session, tree, product):
    a, b, c = tree
    cleared, voided = flagged_order(session, tree, product, 1), flagged_order(session, tree, product, 2)
    held = owner_client.get("/admin/distribution/fraud").get_data(as_text=True)
    assert cleared.number in held and voided.number in held and "收货地址" in held
    panel = owner_client.get(f"/admin/distribution/orders/{cleared.id}/commission", headers=HTMX).get_data(
        as_text=True
    )
    assert "风险待审" in panel and "解除标记" in panel

    response = htmx_post(owner_client, f"/admin/distribution/orders/{cleared.id}/clear-flags")
    assert response.status_code == 200 and "风险待审" not in response.get_data(as_text=True)
    no_reason = htmx_post(
        owner_client, f"/admin/distribution/orders/{voided.id}/void", {"reason": "", "back": "fraud"}
    )
    assert no_reason.status_code == 400
    gone = htmx_post(
        owner_client, f"/admin/distribution/orders/{voided.id}/void", {"reason": "自买自卖", "back": "fraud"}
    )
    assert gone.status_code == 200 and gone.get_data(as_text=True) == ""

    session.expire_all()
    assert not any(
        c.held for c in session.scalars(select(Commission).where(Commission.order_id == cleared.id))
    )
    statuses = session.scalars(select(Commission.status).where(Commission.order_id == voided.id)).all()
    assert statuses == [CommissionStatus.VOIDED, CommissionStatus.VOIDED]
    assert session.scalar(
        select(CommissionExplanation.flags_cleared_at).where(CommissionExplanation.order_id == cleared.id)
    )
    assert balances(session, b) == (1000, 0, 0)
    after = owner_client.get("/admin/distribution/fraud").get_data(as_text=True)
    assert cleared.number not in after and voided.number not in after
    again = htmx_post(owner_client, f"/admin/distribution/orders/{voided.id}/void", {"reason": "再来"})
    assert again.status_code == 422
    assert ledger.audit(session) == []


# ---------------------------------------------------------------- lists


def test_the_distributor_list_shows_team_sales_and_balances_and_filters(owner_client, session, tree, product):
    a, b, c = tree
    buy(session, c, product, qty=2)
    html = owner_client.get("/admin/distribution").get_data(as_text=True)
    assert a.code in html and b.code in html and "¥200.00" in html
    by_mobile = owner_client.get(f"/admin/distribution?q={b.user.mobile}").get_data(as_text=True)
    assert b.code in by_mobile and a.code not in by_mobile
    dist.set_distributor_active(session, a, False, reason="x")
    session.commit()
    disabled = owner_client.get("/admin/distribution?status=disabled").get_data(as_text=True)
    assert a.code in disabled and b.code not in disabled
    detail = owner_client.get(f"/admin/distribution/distributors/{b.id}").get_data(as_text=True)
    assert c.nickname in detail and "¥20.00" in detail and "首次绑定" in detail
    bindings = owner_client.get(f"/admin/distribution/bindings?distributor={b.code}").get_data(as_text=True)
    assert c.nickname in bindings and "首次绑定" in bindings


def test_the_distributor_list_issues_the_same_number_of_queries_for_3_and_15_rows(
    app, owner_client, session, product
):
    settings(session)

    def grow(n):
        for _ in range(n):
            d = distributor(session)
            for _ in range(2):
                member = factories.UserFactory()
                bind(session, member, d)
            buy(session, member, product)

    def statements():
        seen = []

        def record(conn, cursor, statement, *args):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            response = owner_client.get("/admin/distribution")
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        assert response.status_code == 200
        return len(seen), response.get_data(as_text=True).count("/admin/distribution/distributors/")

    grow(3)
    few = statements()
    grow(12)
    many = statements()
    assert few[1] == 3 and many[1] == 15
    assert many[0] == few[0]


def test_the_overview_shows_this_months_commission_and_the_queues(owner_client, session, tree, product):
    a, b, c = tree
    buy(session, c, product)
    dist.apply(session, factories.UserFactory(), real_name="申请人", mobile="13811114444", reason="")
    session.commit()
    html = owner_client.get("/admin/distribution/overview").get_data(as_text=True)
    assert "¥15.00" in html  # 10 + 5 written this month
    assert b.user.nickname in html and "<svg" in html
    menu = owner_client.get("/admin/").get_data(as_text=True)
    assert 'title="待审核申请">1<' in menu


def test_the_order_page_loads_the_commission_panel(owner_client, session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    page = owner_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert f'hx-get="/admin/distribution/orders/{order.id}/commission"' in page


def test_the_product_form_sets_own_rates_or_no_commission(owner_client, session):
    from app.catalog.models import Product
    from tests.test_admin_catalog import product_form

    def post(path, **commission):
        data = product_form(csrf_token(owner_client, "/admin/products/new"))
        data.update({f"commission-{key}": value for key, value in commission.items()})
        return owner_client.post(path, data=data, headers=HTMX)

    def saved(response):
        return response.status_code == 200 and "HX-Redirect" in response.headers

    def stored():
        session.expire_all()
        row = session.scalars(select(Product)).one()
        return row.commission_rates_bp, row.commission_opt_out

    assert saved(post("/admin/products/new", mode="own", rate_1="20", rate_2="5"))
    assert stored() == ([2000, 500], False)
    product_id = session.scalars(select(Product.id)).one()
    edit = f"/admin/products/{product_id}/edit"
    page = owner_client.get(edit).get_data(as_text=True)
    assert 'value="own" checked' in page and 'value="20"' in page

    too_much = post(edit, mode="own", rate_1="25", rate_2="10")
    assert too_much.status_code == 422 and "合计超过 30%" in too_much.get_data(as_text=True)
    assert post(edit, mode="own", rate_1="abc").status_code == 422
    assert post(edit, mode="own").status_code == 422
    assert post(edit, mode="sometimes").status_code == 422
    assert stored() == ([2000, 500], False)

    assert saved(post(edit, mode="none", rate_1="20"))
    assert stored() == (None, True)
    assert saved(post(edit, mode="shop"))
    assert stored() == (None, False)


def test_a_distributor_is_named_by_real_name_with_the_shop_nickname_beside_it(app):
    from app.distribution.models import Distributor

    user = factories.UserFactory(nickname="阿梅")
    assert Distributor(user=user, real_name="梅雪").label == "梅雪（阿梅）"
    assert Distributor(user=user, real_name="阿梅").label == "阿梅"
    assert Distributor(user=user, real_name="").label == "阿梅"
