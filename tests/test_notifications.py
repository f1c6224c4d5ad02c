"""WeChat 公众号 template messages through the outbox: the fake WeChat checks every request's token and body
format; events write rows in their own transaction (a rolled-back one writes none) only for bound users,
configured types and notifications on; a page never calls WeChat; a message refused twice is sent on the
third run of `flask notifications send` and never twice; two runs at once on PostgreSQL send each row once;
the settings form refuses bad input with messages."""

import json
import re
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.jobs import JobRun
from app.notifications import kinds, sender
from app.notifications.models import Notification, NotificationStatus
from app.notifications.outbox import enqueue, get_notification_settings, save_notification_settings
from app.orders import refunds
from app.payments import services as payments
from app.payments.settings import save_payment_settings
from app.timeutil import set_clock, utcnow
from tests import factories
from tests.conftest import _truncate_all, base_config, csrf_token, login, run_together
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat
from tests.test_admin_orders import pay, place

OPENID = "oShopperOpenid0000000000001"


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def fresh_fake(wechat):
    wechat.template_messages.clear()
    wechat.template_refusals.clear()
    wechat.failing_template_sends = 0
    wechat.unsubscribed.clear()
    wechat.revoked_tokens.clear()
    yield
    set_clock(None)


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url, "PUBLIC_URL": "http://shop.test"}


def template_id(name: str) -> str:
    return f"TPL-{name}-0123456789abcdef"


def settings_data(enabled=True, off=(), **overrides) -> dict:
    data = {"enabled": enabled}
    for name, kind in kinds.KINDS.items():
        data |= {
            f"{name}_on": name not in off,
            f"{name}_template_id": template_id(name),
            f"{name}_mapping": kinds.default_mapping(kind),
        }
    return data | overrides


def configure(session, wechat, **kwargs) -> None:
    save_payment_settings(session, merchant_settings(wechat))
    session.commit()
    save_notification_settings(session, settings_data(**kwargs))
    session.commit()


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13712340000", nickname="小林", wechat_openid=OPENID)


@pytest.fixture
def address(shopper):
    return factories.AddressFactory(user=shopper, recipient="林小雨", mobile="18612345678")


@pytest.fixture
def tee(app):
    return factories.ProductFactory(title="纯棉T恤", skus=[{"price_fen": 5900, "stock": 50}])


def paid(session, shopper, address, tee):
    return pay(session, place(session, shopper, address, {tee.skus[0].id: 1}), shopper)


def rows(session, **where) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(select(Notification).filter_by(**where).order_by(Notification.id)))


# ---------------------------------------------------------------- the fake and the format


def test_a_paid_order_sends_one_template_message_in_wechats_format(session, wechat, shopper, address, tee):
    configure(session, wechat)
    order = paid(session, shopper, address, tee)
    (row,) = rows(session)
    assert (row.kind, row.status, row.openid, row.reference) == (
        "order_paid",
        "pending",
        OPENID,
        order.number,
    )
    assert wechat.template_messages == []  # written, not sent

    assert sender.send_due(session) == {"notified": 1, "notify_retries": 0, "notify_failed": 0}
    (message,) = wechat.template_messages
    assert message["touser"] == OPENID
    assert message["template_id"] == template_id("order_paid")
    assert message["url"] == f"http://shop.test/orders/{order.number}"
    assert message["data"]["keyword1"] == {"value": order.number}
    assert message["data"]["keyword2"] == {"value": "纯棉T恤"}
    assert message["data"]["keyword3"] == {"value": "¥59.00"}
    assert message["data"]["first"]["value"] == "我们已收到您的付款。"
    (row,) = rows(session)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, "")
    assert row.msgid and row.sent_at is not None


def test_the_fake_refuses_a_bad_token_and_a_badly_formed_body(wechat):
    url = wechat.url + "/cgi-bin/message/template/send"
    good = {"touser": OPENID, "template_id": template_id("x"), "data": {"keyword1": {"value": "1"}}}
    headers = {"Content-Type": "application/json"}
    assert requests.post(url, params={"access_token": "stolen"}, json=good).json()["errcode"] == 40001
    token = requests.get(
        wechat.url + "/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": "wx8888888888888888", "secret": "app-secret-for-tests-0123456789ab"},
    ).json()["access_token"]  # fmt: skip
    for bad in (
        {**good, "touser": ""},
        {**good, "template_id": "no spaces allowed here"},
        {**good, "data": {"keyword1": "just text"}},
        {**good, "data": {"thing1": {"value": "一二三四五六七八九十一二三四五六七八九十一"}}},
        {**good, "url": "javascript:alert(1)"},
        {**good, "topcolour": "#FF0000"},
    ):
        answer = requests.post(
            url, params={"access_token": token}, data=json.dumps(bad), headers=headers
        ).json()
        assert answer["errcode"] == 47001, bad
    answer = requests.post(url, params={"access_token": token}, data=json.dumps(good), headers=headers).json()
    assert answer["errcode"] == 0 and answer["msgid"]


def test_a_thing_keyword_is_cut_to_wechats_twenty_characters(session, wechat, shopper, address, tee):
    mapping = "thing1={product}{product}{product}{product}{product}{product}\ncharacter_string2={order_no}"
    configure(session, wechat, order_paid_mapping=mapping)
    paid(session, shopper, address, tee)
    sender.send_due(session)
    (message,) = wechat.template_messages
    assert len(message["data"]["thing1"]["value"]) == 20 and message["data"]["thing1"]["value"].endswith("…")


# ---------------------------------------------------------------- retries


def test_a_message_refused_twice_is_sent_on_the_third_run_and_never_twice(
    session, wechat, shopper, address, tee, runner
):
    configure(session, wechat)
    paid(session, shopper, address, tee)
    wechat.failing_template_sends = 2
    start = utcnow()

    assert "notify_retries=1" in runner.invoke(args=["notifications", "send"]).output
    (row,) = rows(session)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "errcode -1" in row.last_error and row.next_attempt_at == row.claimed_at + timedelta(minutes=1)
    runner.invoke(args=["notifications", "send"])  # not due yet: nothing tried
    assert rows(session)[0].attempts == 1 and wechat.template_refusals == [-1]

    set_clock(start + timedelta(minutes=2))
    runner.invoke(args=["notifications", "send"])
    (row,) = rows(session)
    assert (row.status, row.attempts) == ("pending", 2) and wechat.template_refusals == [-1, -1]
    assert row.next_attempt_at == start + timedelta(minutes=2 + 5)

    set_clock(start + timedelta(minutes=8))
    runner.invoke(args=["notifications", "send"])
    (row,) = rows(session)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")
    assert len(wechat.template_messages) == 1

    for minutes in (9, 60, 600):
        set_clock(start + timedelta(minutes=minutes))
        runner.invoke(args=["notifications", "send"])
    assert len(wechat.template_messages) == 1
    run = session.get(JobRun, "notifications-send")
    assert run.ok and run.result == "notified=0 notify_retries=0 notify_failed=0"


def test_after_the_last_attempt_a_message_is_failed_and_left_alone(session, wechat, shopper, address, tee):
    configure(session, wechat)
    paid(session, shopper, address, tee)
    wechat.failing_template_sends = 99
    moment = utcnow()
    for _attempt in range(sender.MAX_ATTEMPTS + 2):
        sender.send_due(session, moment)
        moment += timedelta(hours=3)
    (row,) = rows(session)
    assert (row.status, row.attempts) == ("failed", sender.MAX_ATTEMPTS)
    assert len(wechat.template_refusals) == sender.MAX_ATTEMPTS


def test_an_invalid_token_is_replaced_once_and_the_message_sent(session, wechat, shopper, address, tee):
    configure(session, wechat)
    paid(session, shopper, address, tee)
    paid(session, shopper, address, tee)
    sender.send_due(session)
    assert len(wechat.template_messages) == 2
    calls = wechat.token_calls
    wechat.revoked_tokens.add(f"token-{calls}")  # another server fetched a new one, say
    paid(session, shopper, address, tee)
    assert sender.send_due(session)["notified"] == 1
    assert wechat.token_calls == calls + 1 and wechat.template_refusals == [40001]
    assert len(wechat.template_messages) == 3


def test_a_user_who_unfollowed_is_given_up_on_without_retrying(session, wechat, shopper, address, tee):
    configure(session, wechat)
    paid(session, shopper, address, tee)
    wechat.unsubscribed.add(OPENID)
    assert sender.send_due(session)["notify_failed"] == 1
    sender.send_due(session, utcnow() + timedelta(days=1))
    (row,) = rows(session)
    assert (row.status, row.attempts) == ("gave_up", 1) and "43004" in row.last_error
    assert wechat.template_refusals == [43004]


def test_a_row_left_sending_by_a_dead_run_is_never_sent_again(session, wechat, shopper, address, tee):
    configure(session, wechat)
    paid(session, shopper, address, tee)
    (row,) = rows(session)
    row.status, row.claimed_at, row.attempts = NotificationStatus.SENDING, utcnow(), 1
    session.commit()
    sender.send_due(session, utcnow() + timedelta(minutes=1))
    assert rows(session)[0].status == "sending"
    sender.send_due(session, utcnow() + sender.STALE_AFTER + timedelta(minutes=1))
    assert rows(session)[0].status == "failed" and wechat.template_messages == []


# ---------------------------------------------------------------- which events write rows


def test_no_row_without_openid_without_template_or_with_notifications_off(
    session, wechat, shopper, address, tee
):
    stranger = factories.UserFactory(mobile="13712340001")
    configure(session, wechat, off=("order_paid",))
    paid(session, shopper, address, tee)  # order_paid has no template switched on
    assert rows(session) == []
    configure(session, wechat)
    paid(session, stranger, factories.AddressFactory(user=stranger), tee)  # no openid
    assert rows(session) == []
    configure(session, wechat, enabled=False)
    paid(session, shopper, address, tee)
    assert rows(session) == []
    configure(session, wechat)
    paid(session, shopper, address, tee)
    assert len(rows(session)) == 1


def test_an_event_in_a_rolled_back_transaction_leaves_no_row(session, wechat, shopper, address, tee):
    configure(session, wechat)
    order = place(session, shopper, address, {tee.skus[0].id: 1})
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    session.commit()
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    assert session.scalar(select(func.count()).select_from(Notification)) == 1  # written in the transaction
    session.rollback()
    assert rows(session) == []


def test_shipping_from_the_back_office_writes_the_outbox_and_never_calls_wechat(
    session, wechat, shopper, address, tee, client
):
    configure(session, wechat)
    order = paid(session, shopper, address, tee)
    staff = factories.UserFactory(role="staff", nickname="店员")
    login(client, staff, admin=True)
    calls = wechat.token_calls
    response = client.post(
        f"/admin/orders/{order.number}/ship",
        data={
            "ship-carrier_choice": "shunfeng",
            "ship-tracking_no": "SF1234567890",
            "csrf_token": csrf_token(client, "/admin/orders"),
        },
    )
    assert response.status_code == 302
    shipped = rows(session, kind="order_shipped")
    assert [row.status for row in shipped] == ["pending"]
    assert shipped[0].data["keyword2"] == {"value": "顺丰速运"}
    assert shipped[0].data["keyword3"] == {"value": "SF1234567890"}
    assert wechat.template_messages == [] and wechat.template_refusals == [] and wechat.token_calls == calls


def test_a_rejected_refund_tells_the_buyer_why(session, wechat, shopper, address, tee):
    configure(session, wechat)
    order = paid(session, shopper, address, tee)
    staff = factories.UserFactory(role="staff")
    refund = refunds.request_refund(session, order, shopper, items={order.lines[0].id: 1}, reason="不想要了")
    session.commit()
    refunds.reject_refund(session, refund, actor=staff, reason="已经发出")
    session.commit()
    (row,) = rows(session, kind="refund_result")
    assert row.data["keyword2"] == {"value": "已拒绝"}
    configure(session, wechat, refund_result_mapping="keyword1={order_no}\nkeyword2={status}：{reason}")
    refund = refunds.request_refund(
        session, order, shopper, items={order.lines[0].id: 1}, reason="还是不想要"
    )
    session.commit()
    refunds.reject_refund(session, refund, actor=staff, reason="超过期限")
    session.commit()
    assert rows(session, kind="refund_result")[-1].data["keyword2"] == {"value": "已拒绝：超过期限"}


# ---------------------------------------------------------------- two runs at once (PostgreSQL)


@pytest.fixture
def pg_notify_app(pg_database, tmp_path, wechat):
    _truncate_all(pg_database)
    app = create_app(base_config(pg_database, tmp_path) | {"WECHAT_API_BASE": wechat.url})
    with app.app_context():
        factories.bind(db.session)
        yield app
        db.session.remove()
        db.engine.dispose()


def test_two_runs_at_once_send_each_row_once_on_postgresql(pg_notify_app, wechat):
    session = db.session
    configure(session, wechat)
    people = [factories.UserFactory(wechat_openid=f"oConcurrent{i:016d}") for i in range(12)]
    for person in people:
        for reference in ("a", "b"):
            enqueue(
                session,
                "withdrawal_paid",
                person,
                {"amount": "¥1.00", "reference": reference},
                reference=reference,
            )
    session.commit()
    results = run_together(pg_notify_app, 2, lambda i: sender.send_due(db.session))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["notified"] for r in results) == 24
    sent = [(m["touser"], m["data"]["keyword2"]["value"]) for m in wechat.template_messages]
    assert len(sent) == 24 and len(set(sent)) == 24  # each row once: no (person, reference) twice
    statuses = session.execute(sa.text("SELECT status, count(*) FROM notifications GROUP BY status")).all()
    assert statuses == [("sent", 24)]
    assert sorted(m["touser"] for m in wechat.template_messages) == sorted(
        p.wechat_openid for p in people for _ in "ab"
    )


# ---------------------------------------------------------------- the settings page


def test_the_settings_page_saves_and_refuses_bad_input_with_messages(session, wechat, owner_client):
    save_payment_settings(session, merchant_settings(wechat))
    session.commit()
    page = owner_client.get("/admin/settings/notifications")
    assert page.status_code == 200 and "keyword1={order_no}" in page.get_data(as_text=True)
    token = csrf_token(owner_client, "/admin/settings/notifications")

    def post(**overrides):
        data = {key: value for key, value in settings_data(**overrides).items() if value is not False}
        return owner_client.post("/admin/settings/notifications", data={**data, "csrf_token": token})

    response = post(order_paid_template_id="")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "请填写模板 ID，或关闭这条消息。" in html
    response = post(order_shipped_mapping="keyword1 {order_no}\nkeyword2={price}\nkeyword2=x")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "第 1 行" in html and "{price}" in html and "keyword2" in html
    response = post(withdrawal_paid_template_id="bad id!")
    assert response.status_code == 422
    assert get_notification_settings(session).enabled is False  # nothing saved

    assert post().status_code == 302
    session.expire_all()
    settings = get_notification_settings(session)
    assert settings.enabled and settings.templates["order_paid"]["template_id"] == template_id("order_paid")


def test_notifications_cannot_be_switched_on_before_the_official_account_is_set(session, owner_client):
    token = csrf_token(owner_client, "/admin/settings/notifications")
    data = {key: value for key, value in settings_data().items() if value is not False}
    response = owner_client.post("/admin/settings/notifications", data={**data, "csrf_token": token})
    assert response.status_code == 422 and "AppSecret" in response.get_data(as_text=True)


def test_the_test_message_goes_to_the_owners_own_wechat_through_the_outbox(
    session, wechat, owner, owner_client
):
    configure(session, wechat, enabled=False)
    token = csrf_token(owner_client, "/admin/settings/notifications")
    response = owner_client.post(
        "/admin/settings/notifications/test", data={"test_kind": "nope", "csrf_token": token}
    )
    assert response.status_code == 302 and rows(session) == []
    page = owner_client.get("/admin/settings/notifications").get_data(as_text=True)
    assert "请选择消息类型。" in page
    response = owner_client.post(
        "/admin/settings/notifications/test", data={"test_kind": "order_paid", "csrf_token": token}
    )
    assert response.status_code == 422 and "没有绑定微信" in response.get_data(as_text=True)
    owner.wechat_openid = "oOwnerOpenid00000000000001"
    session.commit()
    response = owner_client.post(
        "/admin/settings/notifications/test", data={"test_kind": "order_paid", "csrf_token": token}
    )
    assert response.status_code == 302
    (row,) = rows(session)
    assert row.user_id == owner.id and row.reference == "test" and wechat.template_messages == []
    sender.send_due(session)
    assert wechat.template_messages[0]["touser"] == "oOwnerOpenid00000000000001"
    listing = owner_client.get("/admin/settings/notifications?status=sent").get_data(as_text=True)
    assert re.search(r"已发送", listing)


def test_a_shopper_cannot_open_the_notification_settings(session, client, shopper):
    login(client, shopper)
    assert client.get("/admin/settings/notifications").status_code in (302, 403)


def test_the_dashboard_watches_the_send_job_once_notifications_are_on(session, wechat, owner_client):
    assert 'data-job="notifications-send"' not in owner_client.get("/admin/").get_data(as_text=True)
    configure(session, wechat)
    page = owner_client.get("/admin/").get_data(as_text=True)
    assert 'data-job="notifications-send"' in page and "发送微信消息" in page
    assert "* * * * *  flask notifications send" in page


def test_a_run_stops_early_when_wechat_refuses_everything_and_the_rest_wait(session, wechat):
    configure(session, wechat)
    people = [factories.UserFactory(wechat_openid=f"oBreaker{i:019d}") for i in range(8)]
    for person in people:
        enqueue(session, "withdrawal_paid", person, {"amount": "¥1.00"})
    session.commit()
    wechat.failing_template_sends = 99
    assert sender.send_due(session)["notify_retries"] == sender.GIVE_UP_RUN_AFTER
    assert [row.attempts for row in rows(session)] == [1] * 5 + [0] * 3
