"""The distributor's API (/api/v1/distribution/…): joining, the centre with the H5 centre's figures, the
commission list, the team, share links and withdrawals — each list only the caller's, bad input answered
in Chinese, and two withdrawals of everything at once (PostgreSQL) take the money once."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.distribution import ledger, queries
from app.distribution import services as dist
from app.distribution.mini_program import Share, decode_scene
from app.distribution.models import (
    ApplicationStatus,
    Distributor,
    DistributorApplication,
    LedgerEntry,
    Withdrawal,
)
from app.extensions import db
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import login, run_together
from tests.test_api import API, api_login, assert_error, bearer
from tests.test_distribution import buy, complete, distributor, settings

D = f"{API}/distribution"
DISTRIBUTOR_ONLY = (
    ("get", "/centre"),
    ("get", "/commissions"),
    ("get", "/team"),
    ("get", "/share"),
    ("get", "/withdrawals"),
    ("post", "/withdrawals"),
    ("get", "/withdrawals/1"),
    ("get", "/share/poster"),
)


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture
def owner_user(app):
    return factories.UserFactory(role="owner", nickname="店主")


@pytest.fixture
def product(app):
    return factories.ProductFactory(title="云南小粒咖啡豆", skus=[{"price_fen": 10000, "stock": 500}])


@pytest.fixture
def tree(session):
    """A (distributor) ← B (distributor, bound to A) ← C (shopper 张三丰, bound to B)."""
    settings(session)
    a = distributor(session, factories.UserFactory(nickname="阿A"))
    b_user = factories.UserFactory(nickname="小B")
    dist.bind(session, b_user, a, source="/?ref=a")
    b = distributor(session, b_user)
    c = factories.UserFactory(nickname="张三丰", mobile="13812345678")
    dist.bind(session, c, b, source="/?ref=b")
    session.commit()
    return a, b, c


def token_of(client, user) -> dict:
    return bearer(api_login(client, user))


def get(client, path: str, headers: dict, status: int = 200, **params) -> dict:
    response = client.get(f"{D}{path}", headers=headers, query_string=params)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


# ---------------------------------------------------------------- joining


def test_a_member_applies_waits_and_becomes_a_distributor(client, session, owner_user):
    settings(session)  # apply mode by default
    member = factories.UserFactory(nickname="小美")
    auth = token_of(client, member)
    status = get(client, "/status", auth)
    assert status["state"] == "none" and status["distribution_open"] is True
    assert status["join"]["mode"] == "apply" and status["join"]["can_join"] is False
    assert status["form"]["mobile"] == member.mobile
    assert status["join"]["rates"][0] == {"level": 1, "rate_bp": 1000, "text": "10%"}
    assert status["join"]["withdrawal_min"] == {"fen": 1000, "display": "¥10.00"}
    for path in ("/centre", "/commissions"):
        assert_error(client.get(f"{D}{path}", headers=auth), 403, "not_distributor")

    response = client.post(
        f"{D}/apply",
        headers=auth,
        json={"real_name": "王小美", "mobile": member.mobile, "reason": "喜欢分享"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["state"] == "pending"
    assert response.get_json()["application"]["real_name"] == "王小美"
    again = client.post(f"{D}/apply", headers=auth, json={"real_name": "王小美", "mobile": member.mobile})
    error = assert_error(again, 409, "application_pending")
    assert "审核" in error["message"]
    assert session.scalar(select(func.count()).select_from(DistributorApplication)) == 1

    dist.approve_application(session, session.scalar(select(DistributorApplication)), actor=owner_user)
    session.commit()
    status = get(client, "/status", auth)
    assert status["state"] == "distributor" and status["code"]
    error = assert_error(
        client.post(f"{D}/apply", headers=auth, json={"real_name": "王小美", "mobile": member.mobile}),
        409,
        "already_distributor",
    )
    assert "已经是" in error["message"]
    assert get(client, "/centre", auth)["code"] == status["code"]


def test_a_rejected_application_shows_the_reason_and_may_be_sent_again(client, session, owner_user):
    settings(session)
    member = factories.UserFactory()
    auth = token_of(client, member)
    client.post(f"{D}/apply", headers=auth, json={"real_name": "李雷", "mobile": member.mobile})
    application = session.scalar(select(DistributorApplication))
    dist.reject_application(session, application, actor=owner_user, reason="请填写真实姓名")
    session.commit()
    status = get(client, "/status", auth)
    assert status["state"] == "rejected"
    assert status["application"]["reject_reason"] == "请填写真实姓名"
    assert status["form"]["real_name"] == "李雷"  # the form comes back filled in, as on H5
    response = client.post(f"{D}/apply", headers=auth, json={"real_name": "李雷雷", "mobile": member.mobile})
    assert response.status_code == 200 and response.get_json()["state"] == "pending"
    statuses = session.scalars(
        select(DistributorApplication.status).order_by(DistributorApplication.id)
    ).all()
    assert statuses == [ApplicationStatus.REJECTED, ApplicationStatus.PENDING]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"real_name": "", "mobile": "13800138000"}, "real_name", "真实姓名"),
        ({"real_name": "王" * 21, "mobile": "13800138000"}, "real_name", "真实姓名"),
        ({"real_name": "王小美", "mobile": "12345"}, "mobile", "手机号"),
        ({"real_name": "王小美", "mobile": "13800138000", "reason": "长" * 501}, "reason", "500"),
        ({"mobile": "13800138000"}, "real_name", "必填"),
        ({"real_name": 5, "mobile": "13800138000"}, "real_name", "文字"),
    ],
)
def test_a_bad_application_names_the_field_in_chinese(client, session, body, field, message):
    settings(session)
    auth = token_of(client, factories.UserFactory())
    error = assert_error(client.post(f"{D}/apply", headers=auth, json=body), 422, "invalid")
    assert message in error["fields"][field], error
    assert session.scalar(select(func.count()).select_from(DistributorApplication)) == 0


def test_join_in_everyone_mode_and_refused_in_apply_mode_or_when_closed(client, session):
    settings(session)
    member = factories.UserFactory()
    auth = token_of(client, member)
    assert_error(client.post(f"{D}/join", headers=auth), 409, "not_allowed")
    settings(session, enabled=False)
    assert get(client, "/status", auth)["distribution_open"] is False
    assert_error(client.post(f"{D}/join", headers=auth), 409, "distribution_closed")
    error = assert_error(
        client.post(f"{D}/apply", headers=auth, json={"real_name": "王", "mobile": member.mobile}),
        409,
        "distribution_closed",
    )
    assert "关闭" in error["message"]
    settings(session, enabled=True, mode="everyone")
    assert get(client, "/status", auth)["join"]["can_join"] is True
    assert_error(
        client.post(f"{D}/apply", headers=auth, json={"real_name": "王", "mobile": member.mobile}),
        409,
        "not_allowed",
    )
    response = client.post(f"{D}/join", headers=auth)
    assert response.status_code == 200 and response.get_json()["state"] == "distributor"
    assert client.post(f"{D}/join", headers=auth).status_code == 200  # already one: unchanged
    assert session.scalar(select(func.count()).select_from(Distributor)) == 1


def test_spend_mode_says_how_much_more(client, session):
    settings(session, mode="spend", spend_threshold_fen=20000)
    auth = token_of(client, factories.UserFactory())
    join = get(client, "/status", auth)["join"]
    assert join["spent"]["fen"] == 0 and join["spend_threshold"]["display"] == "¥200.00"
    assert "¥200.00" in join["why_not"]
    error = assert_error(client.post(f"{D}/join", headers=auth), 409, "not_allowed")
    assert "¥200.00" in error["message"]


def test_anonymous_and_non_distributors_are_refused(client, session, tree):
    a, b, c = tree
    for method, path in (*DISTRIBUTOR_ONLY, ("get", "/status"), ("post", "/apply"), ("post", "/join")):
        assert_error(getattr(client, method)(f"{D}{path}", json={} if method == "post" else None), 401)
    auth = token_of(client, c)
    body = {"amount_fen": 2000, "method": "wechat", "real_name": "张三", "account": "wx"}
    for method, path in DISTRIBUTOR_ONLY:
        response = getattr(client, method)(
            f"{D}{path}", headers=auth, json=body if method == "post" else None
        )
        error = assert_error(response, 403, "not_distributor")
        assert "分销员" in error["message"]


# ---------------------------------------------------------------- the centre


def h5_figures(client, user) -> dict:
    """The figures of the H5 centre, by their ids, as it shows them."""
    login(client, user)
    html = client.get("/d").get_data(as_text=True)
    return {
        key: re.search(rf'id="{key}">([^<]+)<', html).group(1)
        for key in ("available", "frozen", "withdrawing", "withdrawn", "today", "month")
    }


def test_the_centre_shows_the_same_figures_as_the_h5_centre(app, client, session, tree, product):
    a, b, c = tree
    settings(session, withdrawal_min_fen=1000)
    first = buy(session, c, product)  # ¥100: B ¥10 (level 1), A ¥5 (level 2)
    complete(session, first)
    set_clock(utcnow() + timedelta(days=8))
    buy(session, c, product, qty=2)  # today: B ¥20 more, frozen
    auth = token_of(client, b.user)
    centre = get(client, "/centre", auth)  # releases the first order's ¥10
    session.expire_all()
    ledger.request_withdrawal(
        session,
        session.get(Distributor, b.id),
        ledger.WithdrawalInput(amount_fen=1000, method="wechat", real_name="小B", account="wx_b"),
    )
    session.commit()
    centre = get(client, "/centre", auth)
    h5 = h5_figures(app.test_client(), b.user)
    balances, earnings = centre["balances"], centre["earnings"]
    assert balances["available"]["display"] == h5["available"] == "¥0.00"
    assert balances["frozen"]["display"] == h5["frozen"] == "¥20.00"
    assert balances["withdrawing"]["display"] == h5["withdrawing"] == "¥10.00"
    assert balances["withdrawn"]["display"] == h5["withdrawn"]
    assert earnings["today"]["display"] == h5["today"] == "¥20.00"
    assert earnings["month"]["display"] == h5["month"]
    assert balances["total_earned"]["fen"] == 3000
    # …and the services the H5 centre asks.
    session.expire_all()
    mine = session.get(Distributor, b.id)
    assert balances["frozen"]["fen"] == mine.frozen_fen
    assert earnings["month"]["fen"] == queries.earnings(session, b.id, utcnow()).month_fen
    assert centre["team"] == {"level_one": 1, "level_two": 0, "total": 1}
    assert centre["code"] == b.code and centre["shop_link"].endswith(f"/?ref={b.code}")
    assert centre["grade"]["name"] == "分销员" and centre["grade"]["rates"][0]["text"] == "10%"
    assert centre["notices"] == [] and centre["active"] is True
    # A sees its own figures, never B's.
    other = get(client, "/centre", token_of(client, a.user))
    assert other["code"] == a.code and other["team"] == {"level_one": 1, "level_two": 1, "total": 2}
    assert other["balances"]["available"]["fen"] == 500 and other["earnings"]["today"]["fen"] == 1000


def test_a_disabled_distributor_sees_why_and_loses_the_share_tools(client, session, tree):
    a, b, c = tree
    dist.set_distributor_active(session, b, False, reason="违规推广")
    session.commit()
    auth = token_of(client, b.user)
    centre = get(client, "/centre", auth)
    assert centre["active"] is False and "违规推广" in centre["notices"][0]
    assert get(client, "/status", auth)["state"] == "disabled"
    assert_error(client.get(f"{D}/share", headers=auth), 403, "distributor_disabled")
    assert_error(client.get(f"{D}/share/poster", headers=auth), 403, "distributor_disabled")


# ---------------------------------------------------------------- commissions


def test_commissions_mask_the_buyer_and_order_and_are_only_the_callers(client, session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    for who, level_label, fen in ((b, "一级", 1000), (a, "二级", 500)):
        page = get(client, "/commissions", token_of(client, who.user))
        assert page["next_cursor"] is None
        (row,) = page["items"]
        assert row["buyer"] == "张** / 138****5678"
        assert row["order_number"] == queries.mask_order_number(order.number) != order.number
        assert row["level_label"] == level_label and row["amount"] == {
            "fen": fen,
            "display": f"¥{fen // 100}.00",
        }
        assert row["state"] == "frozen" and row["state_label"] == "冻结中"
        assert "收货" in row["note"]
        body = str(page)
        assert "13812345678" not in body and "张三丰" not in body
    mine = {row["id"] for row in get(client, "/commissions", token_of(client, b.user))["items"]}
    theirs = {row["id"] for row in get(client, "/commissions", token_of(client, a.user))["items"]}
    assert mine and theirs and not mine & theirs


def test_commissions_filter_by_state_and_walk_with_the_cursor(client, session, tree, product):
    a, b, c = tree
    first = buy(session, c, product)
    for _ in range(queries.COMMISSIONS_PER_PAGE):
        buy(session, c, product)
    complete(session, first)
    set_clock(utcnow() + timedelta(days=8))
    auth = token_of(client, b.user)
    page = get(client, "/commissions", auth)
    assert len(page["items"]) == queries.COMMISSIONS_PER_PAGE and page["next_cursor"]
    rest = get(client, "/commissions", auth, cursor=page["next_cursor"])
    assert rest["next_cursor"] is None and len(rest["items"]) == 1
    ids = [row["id"] for row in page["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == queries.COMMISSIONS_PER_PAGE + 1
    released = get(client, "/commissions", auth, state="released")["items"]
    assert [row["state_label"] for row in released] == ["可提现"]
    assert len(get(client, "/commissions", auth, state="frozen")["items"]) == queries.COMMISSIONS_PER_PAGE
    assert get(client, "/commissions", auth, state="voided")["items"] == []
    for bad in ({"state": "paid"}, {"cursor": "abc"}, {"cursor": "-1"}, {"cursor": "9" * 13}):
        response = client.get(f"{D}/commissions", headers=auth, query_string=bad)
        assert_error(response, 422, "invalid")


# ---------------------------------------------------------------- team


def test_the_team_lists_both_levels_masked_and_only_the_callers(client, session, tree, product):
    a, b, c = tree
    buy(session, c, product)
    auth = token_of(client, a.user)
    one = get(client, "/team", auth)
    assert one["counts"] == {"level_one": 1, "level_two": 1, "total": 2}
    (member,) = one["items"]
    assert member["id"] == b.user_id and member["label"].startswith("小**") and member["via"] is None
    assert member["bound_until"] is None and member["lapsed"] is False
    (second,) = get(client, "/team", auth, level=2)["items"]
    assert second["label"] == "张** / 138****5678" and second["via"].startswith("小**")
    assert second["sales"] == {"fen": 10000, "display": "¥100.00"} and second["orders"] == 1
    b_team = get(client, "/team", token_of(client, b.user))
    assert [m["id"] for m in b_team["items"]] == [c.id]
    assert get(client, "/team", token_of(client, b.user), level=2)["items"] == []
    for bad in ({"level": 3}, {"level": "x"}, {"page": 0}):
        assert_error(client.get(f"{D}/team", headers=auth, query_string=bad), 422, "invalid")


# ---------------------------------------------------------------- share


@pytest.fixture
def app_config():
    return {"PUBLIC_URL": "https://shop.example.com"}


def scene_of(path: str, page: str) -> Share:
    parts = urlsplit(path)
    assert parts.path == page
    return decode_scene(parse_qs(parts.query)["scene"][0])


def test_share_info_carries_the_code_on_public_url(client, session, tree, product):
    a, b, c = tree
    auth = token_of(client, b.user)
    share = get(client, "/share", auth)
    assert decode_scene(share["scene"]) == Share(b.code, None) and share["product"] is None
    assert share["shop"]["link"] == f"https://shop.example.com/?ref={b.code}"
    assert scene_of(share["shop"]["path"], "pages/index/index") == Share(b.code, None)
    assert share["shop"]["poster_url"].startswith(f"https://shop.example.com{D}/share/poster?v=")
    one = get(client, "/share", auth, product=product.id)["product"]
    assert one["link"] == f"https://shop.example.com/p/{product.id}?ref={b.code}"
    # The share card opens the same page, with the same scene, as the 小程序码 for it.
    assert scene_of(one["path"], "pages/product/index") == Share(b.code, product.id)
    assert one["title"] == "云南小粒咖啡豆" and one["price_text"] == "¥100.00"
    assert "/share/poster?v=" in one["poster_url"] and f"product={product.id}" in one["poster_url"]
    assert get(client, "/centre", auth)["shop_link"] == share["shop"]["link"]
    product.is_on_shelf = False
    session.commit()
    assert_error(client.get(f"{D}/share", headers=auth, query_string={"product": product.id}), 404)
    assert_error(client.get(f"{D}/share", headers=auth, query_string={"product": 2**31 - 1}), 404)
    assert_error(client.get(f"{D}/share", headers=auth, query_string={"product": "x"}), 422)


def test_the_poster_is_the_distributors_own_png_with_an_etag(app, client, session, tree, product, tmp_path):
    app.instance_path = str(tmp_path / "instance")  # posters are cached there: this test's own folder
    a, b, c = tree
    auth = token_of(client, b.user)
    response = client.get(f"{D}/share/poster", headers=auth, query_string={"product": product.id})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "image/png" and response.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert "private" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    again = client.get(
        f"{D}/share/poster", headers={**auth, "If-None-Match": etag}, query_string={"product": product.id}
    )
    assert again.status_code == 304
    shop = client.get(f"{D}/share/poster", headers=auth)
    assert shop.status_code == 200 and shop.headers["ETag"] != etag
    assert_error(client.get(f"{D}/share/poster", headers=token_of(client, c)), 403, "not_distributor")
    assert_error(client.get(f"{D}/share/poster"), 401)
    missing = client.get(f"{D}/share/poster", headers=auth, query_string={"product": 2**31 - 1})
    assert_error(missing, 404)


# ---------------------------------------------------------------- withdrawals


@pytest.fixture
def earned(session, tree, product):
    """B has ¥30.00 available (three released orders); the minimum is ¥20.00 and the fee 1 %."""
    a, b, c = tree
    settings(session, withdrawal_min_fen=2000, withdrawal_fee_bp=100)
    orders = [buy(session, c, product) for _ in range(3)]
    for order in orders:
        complete(session, order)
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(session)
    session.commit()
    b.orders = orders
    return b


def withdraw(client, auth, **fields):
    body = {"amount_fen": 2500, "method": "wechat", "real_name": "小B", "account": "wxid_b"}
    body.update(fields)
    return client.post(
        f"{D}/withdrawals", headers=auth, json={k: v for k, v in body.items() if v is not None}
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount_fen": 0}, "amount_fen", "请输入金额"),
        ({"amount_fen": -1}, "amount_fen", "请输入金额"),
        ({"amount_fen": 3001}, "amount_fen", "余额不足"),
        ({"amount_fen": 1999}, "amount_fen", "最低提现"),
        ({"amount_fen": "abc"}, "amount_fen", "整数"),
        ({"amount_fen": 12.5}, "amount_fen", "整数"),
        ({"amount_fen": None}, "amount_fen", "必填"),
        ({"method": "bank", "account": "12ab", "bank_name": "工商银行"}, "account", "12 到 19"),
        ({"method": "bank", "account": "6222000011112222", "bank_name": ""}, "bank_name", "银行"),
        ({"method": "paypal"}, "method", "收款方式"),
        ({"real_name": ""}, "real_name", "姓名"),
        ({"account": ""}, "account", "微信号"),
    ],
)
def test_a_bad_withdrawal_names_the_field_and_changes_nothing(
    client, session, earned, fields, field, message
):
    entries_before = session.scalar(select(func.count()).select_from(LedgerEntry))
    error = assert_error(withdraw(client, token_of(client, earned.user), **fields), 422, "invalid")
    assert message in error["fields"][field], error
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Withdrawal)) == 0
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == entries_before
    assert session.get(Distributor, earned.id).available_fen == 3000


def test_every_mistake_is_named_at_once(client, earned):
    error = assert_error(
        withdraw(
            client, token_of(client, earned.user), amount_fen=5, method="bank", real_name="", account="1"
        ),
        422,
    )
    assert set(error["fields"]) == {"amount_fen", "real_name", "account", "bank_name"}


def test_a_withdrawal_is_taken_from_the_balance_and_listed_only_for_its_owner(client, session, tree, earned):
    a, b, c = tree
    auth = token_of(client, b.user)
    response = withdraw(client, auth, method="bank", account="6222 0000 1111 2222", bank_name="工商银行")
    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    assert made["amount"] == {"fen": 2500, "display": "¥25.00"}
    assert made["fee"]["fen"] == 25 and made["net"]["fen"] == 2475
    assert made["status"] == "requested" and made["status_label"] == "申请中"
    assert made["account"].endswith("**** 2222") and "6222000011112222" not in str(made)
    page = get(client, "/withdrawals", auth)
    assert [item["id"] for item in page["items"]] == [made["id"]]
    assert page["available"]["fen"] == 500 and page["withdrawing"]["fen"] == 2500
    assert page["minimum"]["fen"] == 2000 and page["fee_rate_bp"] == 100
    assert [m["value"] for m in page["methods"]] == ["wechat", "alipay", "bank"]
    assert page["next_page"] is None
    assert get(client, "/withdrawals", token_of(client, a.user))["items"] == []
    assert get(client, f"/withdrawals/{made['id']}", auth) == made
    assert_error(client.get(f"{D}/withdrawals/{made['id']}", headers=token_of(client, a.user)), 404)
    assert_error(client.get(f"{D}/withdrawals/{made['id'] + 1}", headers=auth), 404)
    assert get(client, "/centre", auth)["balances"]["withdrawing"]["fen"] == 2500
    error = assert_error(withdraw(client, auth, amount_fen=2000), 422)
    assert "余额不足" in error["fields"]["amount_fen"]
    assert ledger.audit(session) == []


def test_a_disabled_distributor_may_not_withdraw(client, session, earned):
    dist.set_distributor_active(session, earned, False, reason="违规")
    session.commit()
    error = assert_error(withdraw(client, token_of(client, earned.user)), 409, "withdrawal_refused")
    assert "停用" in error["message"]
    assert session.scalar(select(func.count()).select_from(Withdrawal)) == 0


def test_two_withdrawals_of_everything_at_once_take_the_money_once(pg_app):
    session = db.session
    settings(session)
    b = distributor(session, factories.UserFactory(nickname="小B"))
    c = factories.UserFactory()
    dist.bind(session, c, b, source="test")
    session.commit()
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 10}])
    for _ in range(3):
        complete(session, buy(session, c, product))
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(session)
    session.commit()
    session.expire_all()
    assert session.get(Distributor, b.id).available_fen == 3000
    auth = token_of(pg_app.test_client(), b.user)

    def request(i):
        response = withdraw(pg_app.test_client(), auth, amount_fen=3000, account=f"wx{i}")
        return response.status_code, response.get_json()

    results = run_together(pg_app, 2, request)
    assert sorted(status for status, _body in results) == [201, 422], results
    refused = next(body for status, body in results if status == 422)
    assert "余额不足" in refused["error"]["fields"]["amount_fen"]
    session.expire_all()
    assert session.get(Distributor, b.id).available_fen == 0
    assert session.scalar(select(func.count()).select_from(Withdrawal)) == 1
    assert ledger.audit(session) == []


# ---------------------------------------------------------------- the description


def test_every_distribution_endpoint_is_documented_with_its_statuses(client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    expected = {
        ("get", "/status"): {"200", "401"},
        ("post", "/apply"): {"200", "401", "409", "422"},
        ("post", "/join"): {"200", "401", "409"},
        ("get", "/centre"): {"200", "401", "403"},
        ("get", "/commissions"): {"200", "401", "403", "422"},
        ("get", "/team"): {"200", "401", "403", "422"},
        ("get", "/share"): {"200", "401", "403", "404", "422"},
        ("get", "/share/poster"): {"200", "304", "401", "403", "404", "422", "503"},
        ("get", "/withdrawals"): {"200", "401", "403", "422"},
        ("post", "/withdrawals"): {"201", "401", "403", "409", "422"},
        ("get", "/withdrawals/{withdrawal_id}"): {"200", "401", "403", "404"},
    }
    for (method, path), statuses in expected.items():
        operation = paths[f"{D}{path}"][method]
        assert statuses <= set(operation["responses"]), (path, operation["responses"].keys())
        assert operation["security"] == [{"bearer": []}]


def test_every_operation_as_a_distributor_with_money_keeps_to_the_description(app, session, earned, tmp_path):
    """Schemathesis over the distribution operations signed in as a distributor with money available (the
    shared fuzz test walks the whole API as one whose commission is still frozen): no 5xx, every answer as
    documented."""
    from tests.test_api_fuzz import fuzz

    app.instance_path = str(tmp_path / "instance")  # the posters it draws
    token = api_login(app.test_client(), earned.user)
    assert fuzz(app, bearer(token), only="/api/v1/distribution/") >= 11
    assert ledger.audit(session) == []
