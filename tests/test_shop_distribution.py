"""The distributor's side of the shop through the test client (CSRF on, both databases): joining in each
mode, the center's balances, the commission list and its explanations with the buyer masked, the team,
visits, share links, QR codes and posters, and withdrawals — and that nobody sees anyone else's."""

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import orders
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import (
    ApplicationStatus,
    Distributor,
    DistributorApplication,
    LedgerEntry,
    Visit,
    Withdrawal,
)
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_distribution import buy, complete, distributor, settings

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50"


@pytest.fixture(autouse=True)
def real_clock():
    yield
    set_clock(None)


@pytest.fixture(autouse=True)
def own_posters(app, tmp_path):
    """Posters are cached under instance/posters: each test draws into its own folder."""
    app.instance_path = str(tmp_path / "instance")


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


def page(client, path: str, status: int = 200, **kwargs) -> str:
    response = client.get(path, **kwargs)
    assert response.status_code == status, (path, response.status_code, response.get_data(as_text=True)[:400])
    return response.get_data(as_text=True)


def text_of(html: str) -> str:
    """The words a person sees (tags dropped, whitespace squeezed)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def post(client, path: str, data: dict, token_from: str = "/d"):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, token_from)})


# ---------------------------------------------------------------- joining


def test_an_application_is_pending_until_approved_then_the_center_opens(client, session, owner_user):
    settings(session)  # apply mode by default
    member = factories.UserFactory(nickname="小美")
    login(client, member)
    html = page(client, "/d")
    assert 'action="/d/apply"' in html
    assert "免费" in text_of(html)

    response = post(
        client, "/d/apply", {"real_name": "王小美", "mobile": member.mobile, "reason": "喜欢分享"}
    )
    assert response.status_code == 302
    html = text_of(page(client, "/d"))
    assert "审核中" in html
    assert 'action="/d/apply"' not in page(client, "/d")  # no second application while one waits
    # A second post is refused by the service, not stored twice.
    response = post(client, "/d/apply", {"real_name": "王小美", "mobile": member.mobile, "reason": ""})
    assert response.status_code == 422
    assert session.scalar(select(func.count()).select_from(DistributorApplication)) == 1

    application = session.scalar(select(DistributorApplication))
    dist.approve_application(session, application, actor=owner_user)
    session.commit()
    html = text_of(page(client, "/d"))
    assert "分销中心" in html and "可提现" in html and "推广码" in html
    assert page(client, "/d/commissions", 200)


def test_a_rejected_application_shows_the_reason_and_may_be_sent_again(client, session, owner_user):
    settings(session)
    member = factories.UserFactory()
    login(client, member)
    post(client, "/d/apply", {"real_name": "李雷", "mobile": member.mobile, "reason": ""})
    application = session.scalar(select(DistributorApplication))
    dist.reject_application(session, application, actor=owner_user, reason="请填写真实姓名")
    session.commit()
    html = page(client, "/d")
    assert "已驳回：请填写真实姓名" in text_of(html)
    assert 'value="李雷"' in html  # the form comes back filled in
    assert post(client, "/d/apply", {"real_name": "李雷雷", "mobile": member.mobile}).status_code == 302
    statuses = session.scalars(
        select(DistributorApplication.status).order_by(DistributorApplication.id)
    ).all()
    assert statuses == [ApplicationStatus.REJECTED, ApplicationStatus.PENDING]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"real_name": "", "mobile": "13800001111"}, "真实姓名"),
        ({"real_name": "一" * 21, "mobile": "13800001111"}, "真实姓名"),
        ({"real_name": "王五", "mobile": "12345"}, "手机号"),
        ({"real_name": "王五", "mobile": "13800001111", "reason": "长" * 501}, "500"),
    ],
)
def test_a_bad_application_is_refused_with_a_message(client, session, data, message):
    settings(session)
    login(client, factories.UserFactory())
    response = post(client, "/d/apply", data)
    assert response.status_code == 422
    assert message in text_of(response.get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(DistributorApplication)) == 0


def test_in_everyone_mode_one_tap_makes_a_distributor(client, session):
    settings(session, mode="everyone")
    member = factories.UserFactory()
    login(client, member)
    html = page(client, "/d")
    assert 'action="/d/join"' in html and 'action="/d/apply"' not in html
    assert post(client, "/d/join", {}).status_code == 302
    assert dist.distributor_of(session, member.id).source == "everyone"
    assert "推广码" in text_of(page(client, "/d"))


def test_in_spend_mode_the_page_shows_how_much_more_then_lets_the_member_join(client, session, product):
    settings(session, mode="spend", spend_threshold_fen=25000)
    member = factories.UserFactory()
    buy(session, member, product)  # ¥100 paid
    login(client, member)
    html = text_of(page(client, "/d"))
    assert "再消费 ¥150.00" in html
    assert "<progress" in page(client, "/d")
    # Joining before the threshold is refused by the service.
    post(client, "/d/join", {})
    assert dist.distributor_of(session, member.id) is None
    settings(session, spend_threshold_fen=10000)
    assert 'action="/d/join"' in page(client, "/d")
    post(client, "/d/join", {})
    assert dist.distributor_of(session, member.id).source == "spend"


def test_closed_distribution_says_so_and_offers_nothing(client, session):
    settings(session, enabled=False)
    login(client, factories.UserFactory())
    html = page(client, "/d")
    assert "本店暂不接受新的分销员" in text_of(html)
    assert 'action="/d/apply"' not in html and 'action="/d/join"' not in html


def test_a_shopper_who_is_not_a_distributor_gets_the_join_page_not_data(client, session, tree):
    a, b, c = tree
    login(client, c)
    for path in ("/d/commissions", "/d/team", "/d/visits", "/d/share", "/d/withdraw", "/d/withdrawals"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/d"), path
    assert client.get("/d/commissions", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/d"
    for path in (f"/d/share/{b.code}/poster.png", f"/d/share/{b.code}/qr.png"):
        assert client.get(path).status_code == 404, path
    html = text_of(page(client, "/d"))
    assert "成为分销员" in html and "推广码" not in html


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/d")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# ---------------------------------------------------------------- the center and the commission list


def test_the_center_shows_frozen_then_available_after_completion_and_freeze_days(
    client, session, tree, product
):
    a, b, c = tree
    order = buy(session, c, product)  # ¥100: B ¥10 (level 1), A ¥5 (level 2)
    login(client, b.user)
    html = page(client, "/d")
    assert re.search(r'id="frozen">¥10\.00<', html)
    assert re.search(r'id="available">¥0\.00<', html)
    assert re.search(r'id="today">¥10\.00<', html) and re.search(r'id="month">¥10\.00<', html)
    complete(session, order)
    set_clock(utcnow() + timedelta(days=6))
    assert re.search(r'id="frozen">¥10\.00<', page(client, "/d"))  # not yet
    set_clock(utcnow() + timedelta(days=2))
    html = page(client, "/d")  # showing the balance releases what is due
    assert re.search(r'id="frozen">¥0\.00<', html)
    assert re.search(r'id="available">¥10\.00<', html)
    assert ledger.audit(session) == []


def test_today_and_this_month_follow_the_shops_calendar_not_utc(client, session, tree, product):
    a, b, c = tree
    set_clock(datetime(2026, 3, 31, 17, 30, tzinfo=UTC))  # 1 April, 01:30 in Shanghai
    buy(session, c, product)
    login(client, b.user)
    html = page(client, "/d")
    assert re.search(r'id="today">¥10\.00<', html) and re.search(r'id="month">¥10\.00<', html)
    set_clock(datetime(2026, 4, 1, 16, 30, tzinfo=UTC))  # 2 April, 00:30 in Shanghai
    html = page(client, "/d")
    assert re.search(r'id="today">¥0\.00<', html) and re.search(r'id="month">¥10\.00<', html)
    set_clock(datetime(2026, 4, 30, 16, 30, tzinfo=UTC))  # 1 May, 00:30 in Shanghai
    assert re.search(r'id="month">¥0\.00<', page(client, "/d"))


def test_the_commission_list_masks_the_buyer_and_never_shows_address_or_phone(client, session, tree, product):
    a, b, c = tree
    factories.AddressFactory(user=c, recipient="张三丰", mobile="13812345678", detail="科技园路 8 号")
    order = buy(session, c, product)
    for who, level_word in ((b, "一级"), (a, "二级")):
        client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
        login(client, who.user)
        for path in ("/d/commissions", f"/d/orders/{order.number}"):
            html = page(client, path)
            seen = text_of(html)
            assert "张** / 138****5678" in seen, path
            assert "13812345678" not in html and "张三丰" not in html, path
            assert "科技园路" not in html and "幸福路" not in html, path
            assert order.ship_mobile not in html
        assert level_word in text_of(page(client, "/d/commissions"))
        assert order.number not in text_of(page(client, "/d/commissions"))  # partly masked
    detail = text_of(page(client, f"/d/orders/{order.number}"))
    assert "¥100.00 × 5%" in detail  # A's own line, not B's


def test_the_commission_list_pages_with_load_more(client, session, tree, product):
    a, b, c = tree
    numbers = [buy(session, c, product).number for _ in range(23)]
    login(client, b.user)
    first = page(client, "/d/commissions")
    assert first.count('class="dist-entry"') == 20
    match = re.search(r'hx-get="(/d/commissions\?before=\d+)"', first)
    assert match
    more = page(client, match.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert more.count('class="dist-entry"') == 3 and "<html" not in more
    assert "那是全部" in more or "list-end" in more
    shown = re.findall(r"/d/orders/(\d+)", first + more)
    assert sorted(shown) == sorted(numbers)


def test_a_void_shows_its_reason_and_state(client, session, tree, product, owner_user):
    a, b, c = tree
    order = buy(session, c, product)
    ledger.void_order_commission(session, order, actor=owner_user, reason="疑似刷单")
    session.commit()
    login(client, b.user)
    html = text_of(page(client, "/d/commissions?state=voided"))
    assert "已作废" in html and "疑似刷单" in html
    assert "疑似刷单" in text_of(page(client, f"/d/orders/{order.number}"))
    assert "dist-entry" not in page(client, "/d/commissions?state=frozen")


def test_a_team_members_order_that_earned_nothing_says_why(client, session, product):
    settings(session, binding_days=30)
    a = distributor(session)
    member = factories.UserFactory(nickname="老周")
    dist.bind(session, member, a, source="t")
    session.commit()
    set_clock(utcnow() + timedelta(days=31))
    order = buy(session, member, product)
    login(client, a.user)
    html = text_of(page(client, f"/d/team/{member.id}"))
    assert "为什么" in html or "无佣金" in html
    detail = text_of(page(client, f"/d/orders/{order.number}"))
    assert "没有给你佣金" in detail or "未获得" in detail
    assert "失效" in detail or "过期" in detail


def test_nobody_sees_another_distributors_explanation_poster_or_withdrawal(client, session, tree, product):
    a, b, c = tree
    order = buy(session, c, product)
    stranger = distributor(session)
    complete(session, order)
    set_clock(utcnow() + timedelta(days=8))
    ledger.release_due(session)
    withdrawal = ledger.request_withdrawal(
        session, b, ledger.WithdrawalInput(amount_fen=1000, method="wechat", real_name="小B", account="wx_b")
    )
    session.commit()
    login(client, stranger.user)
    assert client.get(f"/d/orders/{order.number}").status_code == 404
    assert client.get(f"/d/withdrawals/{withdrawal.id}").status_code == 404
    assert client.get(f"/d/share/{b.code}/poster.png").status_code == 404
    assert client.get(f"/d/share/{b.code}/qr.png").status_code == 404
    assert client.get(f"/d/share/{b.code}/poster/{product.id}.png").status_code == 404
    assert client.get(f"/d/team/{c.id}").status_code == 404
    assert client.get("/d/orders/nonexistent").status_code == 404
    assert client.get("/d/withdrawals/99999999999").status_code == 404


# ---------------------------------------------------------------- team and visits


def test_the_team_lists_both_levels_masked_with_sales_and_bound_until(client, session, tree, product):
    a, b, c = tree
    buy(session, c, product)
    login(client, a.user)
    level_one = text_of(page(client, "/d/team"))
    assert "小** / 139" in level_one and "永久" in level_one
    assert "一级（1）" in level_one and "二级（1）" in level_one
    level_two = text_of(page(client, "/d/team?level=2"))
    assert "张** / 138****5678" in level_two and "¥100.00" in level_two
    assert "张三丰" not in level_two and "13812345678" not in page(client, "/d/team?level=2")
    settings(session, binding_days=30)
    shopper = factories.UserFactory(nickname="赵六")
    dist.bind(session, shopper, a, source="t")
    session.commit()
    assert "绑定至" in text_of(page(client, "/d/team"))


def test_visits_and_conversion_per_product(client, session, tree, product):
    a, b, c = tree
    other = factories.ProductFactory(title="手冲壶")
    visitor = client.application.test_client()
    visitor.get(f"/p/{product.id}?ref={b.code}", headers={"User-Agent": WECHAT_UA})
    visitor.get(f"/p/{other.id}?ref={b.code}")
    visitor.get(f"/?ref={b.code}")
    visitor.get(f"/p/{product.id}?ref={b.code}")  # the same visitor, page and day: counted once
    buy(session, c, product)
    login(client, b.user)
    html = page(client, "/d/visits")
    assert re.search(r'id="visits-total">3<', html)
    assert re.search(r'id="visits-wechat">1<', html)
    assert re.search(r'id="visits-orders">1<', html)
    seen = text_of(html)
    assert "云南小粒咖啡豆 1 1 100%" in seen
    assert "手冲壶 1 0 0%" in seen
    assert session.scalar(select(func.count()).select_from(Visit)) == 3


# ---------------------------------------------------------------- share tools and posters


def test_share_links_carry_my_code_and_the_picker_searches(client, session, tree, product):
    a, b, c = tree
    factories.ProductFactory(title="手冲壶")
    login(client, b.user)
    html = page(client, "/d/share")
    assert f"http://localhost/?ref={b.code}" in html
    assert "手冲壶" in html and "云南小粒咖啡豆" in html
    found = page(client, "/d/share?q=咖啡", headers={"HX-Request": "true", "HX-Target": "share-products"})
    assert "云南小粒咖啡豆" in found and "手冲壶" not in found and "<html" not in found
    detail = page(client, f"/d/share/p/{product.id}")
    assert f"http://localhost/p/{product.id}?ref={b.code}" in detail
    assert f"/d/share/{b.code}/poster/{product.id}.png?v=" in detail
    assert client.get("/d/share/p/99999999999").status_code == 404


def test_the_poster_is_a_png_served_from_cache_with_an_etag(client, session, tree, product, app):
    a, b, c = tree
    login(client, b.user)
    url = re.search(
        r'src="(/d/share/[^"]+/poster/\d+\.png\?v=\w+)"', page(client, f"/d/share/p/{product.id}")
    )
    url = url.group(1)
    first = client.get(url)
    assert first.status_code == 200 and first.mimetype == "image/png"
    assert "private" in first.headers["Cache-Control"] and first.headers["ETag"]
    with Image.open(io.BytesIO(first.data)) as image:
        assert image.format == "PNG" and image.size == (750, 1200)
    mine = list((Path(app.instance_path) / "posters" / str(b.id)).glob(f"product-{product.id}-*.png"))
    assert len(mine) == 1
    written = mine[0].stat().st_mtime_ns
    second = client.get(url)
    assert second.data == first.data
    assert mine[0].stat().st_mtime_ns == written  # served from the cache, not drawn again
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    qr = client.get(f"/d/share/{b.code}/qr/{product.id}.png")
    assert qr.mimetype == "image/png" and qr.headers["ETag"]
    revalidated = client.get(
        f"/d/share/{b.code}/qr/{product.id}.png", headers={"If-None-Match": qr.headers["ETag"]}
    )
    assert revalidated.status_code == 304 and revalidated.headers["ETag"] == qr.headers["ETag"]
    with Image.open(io.BytesIO(qr.data)) as image:
        assert image.format == "PNG"
    shop_poster = client.get(f"/d/share/{b.code}/poster.png")
    assert shop_poster.mimetype == "image/png"


def test_the_product_poster_changes_when_the_title_changes(client, session, tree, product):
    a, b, c = tree
    login(client, b.user)

    def poster():
        html = page(client, f"/d/share/p/{product.id}")
        url = re.search(r'src="(/d/share/[^"]+/poster/\d+\.png\?v=\w+)"', html).group(1)
        return url, client.get(url).data

    url_before, before = poster()
    product.title = "云南小粒咖啡豆 新产季"
    session.commit()
    url_after, after = poster()
    assert url_after != url_before and after != before


def test_a_disabled_distributor_keeps_the_ledger_but_loses_the_share_tools(client, session, tree, product):
    a, b, c = tree
    buy(session, c, product)
    dist.set_distributor_active(session, b, False, reason="违规推广")
    session.commit()
    login(client, b.user)
    html = text_of(page(client, "/d"))
    assert "违规推广" in html and "¥10.00" in html
    assert client.get("/d/share").status_code == 302
    assert client.get(f"/d/share/{b.code}/poster.png").status_code == 404


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


def withdraw(client, **fields):
    data = {"amount_fen": "25", "method": "wechat", "real_name": "小B", "account": "wxid_b"}
    data.update(fields)
    return post(client, "/d/withdraw", data, token_from="/d/withdraw")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"amount_fen": "abc"}, "请输入金额"),
        ({"amount_fen": "0"}, "大于 0"),
        ({"amount_fen": "-1"}, "不能为负"),
        ({"amount_fen": "12.345"}, "两位小数"),
        ({"amount_fen": ""}, "请输入金额"),
        ({"amount_fen": "30.01"}, "余额不足"),
        ({"amount_fen": "19.99"}, "最低提现"),
        ({"method": "bank", "account": "12ab", "bank_name": "工商银行"}, "12 到 19"),
        ({"method": "bank", "account": "6222000011112222", "bank_name": ""}, "银行"),
        ({"method": "paypal"}, "收款方式"),
        ({"real_name": ""}, "姓名"),
        ({"account": ""}, "微信号"),
    ],
)
def test_a_bad_withdrawal_gives_a_message_and_changes_nothing(client, session, earned, fields, message):
    login(client, earned.user)
    entries_before = session.scalar(select(func.count()).select_from(LedgerEntry))
    response = withdraw(client, **fields)
    assert response.status_code == 422
    assert message in text_of(response.get_data(as_text=True)), text_of(response.get_data(as_text=True))[:600]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Withdrawal)) == 0
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == entries_before
    assert session.get(Distributor, earned.id).available_fen == 3000


def test_every_mistake_in_the_withdrawal_form_is_shown_at_once(client, session, earned):
    login(client, earned.user)
    response = withdraw(client, amount_fen="5", method="bank", real_name="", account="12ab", bank_name="")
    assert response.status_code == 422
    page = text_of(response.get_data(as_text=True))
    for message in ("最低提现", "真实姓名", "12 到 19", "开户银行"):
        assert message in page, message
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Withdrawal)) == 0


def test_a_withdrawal_goes_from_requested_to_paid_and_another_is_rejected(
    client, session, earned, owner_user
):
    login(client, earned.user)
    form = page(client, "/d/withdraw")
    assert "至少提现 ¥20.00" in text_of(form) and "1%" in text_of(form)
    response = withdraw(
        client, amount_fen="20", method="bank", account="6222 0000 1111 2222", bank_name="工商银行"
    )
    assert response.status_code == 302
    first = session.scalar(select(Withdrawal))
    detail = text_of(page(client, response.headers["Location"]))
    assert "申请中" in detail and "¥19.80" in detail and "6222000011112222" not in detail and "2222" in detail
    assert re.search(r'id="available">¥10\.00<', page(client, "/d"))
    assert re.search(r'id="withdrawing">¥20\.00<', page(client, "/d"))

    ledger.approve_withdrawal(session, first, actor=owner_user)
    session.commit()
    assert "已通过" in text_of(page(client, "/d/withdrawals"))
    ledger.mark_withdrawal_paid(session, first, actor=owner_user, reference="WX-20261201-7")
    session.commit()
    listing = text_of(page(client, "/d/withdrawals"))
    assert "已打款" in listing and "WX-20261201-7" in listing
    assert re.search(r'id="withdrawn">¥20\.00<', page(client, "/d"))

    # ¥10 is left, below the ¥20 minimum: lower it to see a rejection.
    settings(session, withdrawal_min_fen=500)
    assert withdraw(client, amount_fen="10").status_code == 302
    second = session.scalar(select(Withdrawal).order_by(Withdrawal.id.desc()))
    ledger.reject_withdrawal(session, second, actor=owner_user, reason="微信号不存在")
    session.commit()
    listing = text_of(page(client, "/d/withdrawals"))
    assert "已驳回" in listing and "微信号不存在" in listing
    assert re.search(r'id="available">¥10\.00<', page(client, "/d"))
    assert ledger.audit(session) == []


def test_a_negative_balance_refuses_withdrawals_with_a_clear_message(client, session, earned, owner_user):
    b = earned
    ledger.request_withdrawal(
        session, b, ledger.WithdrawalInput(amount_fen=3000, method="wechat", real_name="小B", account="wx_b")
    )
    order = b.orders[0]
    refund = orders.refunds.request_refund(
        session, order, order.user, items={order.lines[0].id: 1}, reason="坏了"
    )
    orders.refunds.approve_refund(session, refund, actor=owner_user, restock=False)
    session.commit()
    session.expire_all()
    assert session.get(Distributor, b.id).available_fen == -1000  # clawed back after release
    settings(session, withdrawal_min_fen=100)
    login(client, b.user)
    response = withdraw(client, amount_fen="20")
    assert response.status_code == 422
    assert "余额为负" in text_of(response.get_data(as_text=True))
    assert "余额为负" in text_of(page(client, "/d"))


# ---------------------------------------------------------------- the entries on the me and product pages


def test_the_me_page_leads_to_the_center_or_to_joining(client, session, tree):
    a, b, c = tree
    login(client, c)
    html = page(client, "/me")
    assert 'href="/d"' in html and "成为分销员" in html and "分销中心" not in text_of(html)
    settings(session, enabled=False)
    assert 'href="/d"' not in page(client, "/me")
    settings(session, enabled=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, b.user)
    html = page(client, "/me")
    assert 'href="/d"' in html and "分销中心" in text_of(html)


def test_only_a_distributor_sees_the_quiet_share_entry_on_a_product(client, session, tree, product):
    a, b, c = tree
    opted_out = factories.ProductFactory(commission_opt_out=True)
    assert 'id="share-and-earn"' not in page(client, f"/p/{product.id}")  # anonymous
    login(client, c)
    assert 'id="share-and-earn"' not in page(client, f"/p/{product.id}")  # a shopper
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, b.user)
    html = page(client, f"/p/{product.id}")
    assert f'href="/d/share/p/{product.id}" id="share-and-earn"' in html and "分享赚佣金" in html
    assert 'id="share-and-earn"' not in page(client, f"/p/{opted_out.id}")  # it pays nothing
