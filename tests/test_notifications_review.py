"""Review fixes for the notifications outbox: a message is neither lost nor sent twice when the AppSecret
cannot be opened, and one refund says one result whatever order the receivers run in."""

from datetime import timedelta

import pytest
from blinker import ANY
from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import select

from app.notifications import sender
from app.notifications.models import Notification
from app.orders import refunds
from app.orders import signals as order_signals
from app.timeutil import utcnow
from tests import factories
from tests import test_distribution as dist
from tests.test_admin_orders import pay, place
from tests.test_notifications import address as address  # noqa: F401 - fixtures, shared
from tests.test_notifications import app_config as app_config  # noqa: F401
from tests.test_notifications import configure, paid
from tests.test_notifications import fresh_fake as fresh_fake  # noqa: F401
from tests.test_notifications import shopper as shopper  # noqa: F401
from tests.test_notifications import tee as tee  # noqa: F401
from tests.test_notifications import wechat as wechat  # noqa: F401


def rows(session, **where) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(select(Notification).filter_by(**where).order_by(Notification.id)))


def test_an_app_secret_that_cannot_be_opened_keeps_the_message_for_later(
    session, wechat, shopper, address, tee
):
    """SECRETS_KEY changed: the access token cannot be fetched. The run must not crash with the row left
    "sending" (marked failed, never sent, after STALE_AFTER): it is tried again once the key is back."""
    configure(session, wechat)
    paid(session, shopper, address, tee)
    good_key = current_app.config.get("SECRETS_KEY")
    current_app.config["SECRETS_KEY"] = Fernet.generate_key()
    try:
        counts = sender.send_due(session)
    finally:
        current_app.config["SECRETS_KEY"] = good_key
    assert counts["notify_retries"] == 1
    (row,) = rows(session)
    assert (row.status, row.attempts) == ("pending", 1) and "SECRETS_KEY" in row.last_error
    assert sender.send_due(session, row.next_attempt_at)["notified"] == 1
    assert len(wechat.template_messages) == 1


@pytest.mark.parametrize("order_of_receivers", ["as_connected", "reversed"])
def test_a_refund_paid_back_at_once_says_refunded_only_whatever_order_the_receivers_run_in(
    session, wechat, order_of_receivers
):
    """blinker keeps a signal's receivers in a set: which of payments (refunds at once) and notifications
    hears refund_approved first is not fixed. The buyer must hear "refunded" once, not "approved" too."""
    configure(session, wechat)
    buyer = factories.UserFactory(wechat_openid="oRefundBuyer00000000000009")
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    order = dist.buy(session, buyer, product)
    staff = factories.UserFactory(role="staff")
    refund = refunds.request_refund(session, order, buyer, items={order.lines[0].id: 1}, reason="不要了")
    session.commit()

    signal = order_signals.refund_approved
    receivers = sorted(signal.receivers_for(ANY), key=lambda r: (r.__module__, r.__name__))
    if order_of_receivers == "reversed":
        receivers.reverse()

    def in_this_order(sender, **kwargs):
        for receiver in receivers:
            receiver(sender, **kwargs)

    for receiver in receivers:
        signal.disconnect(receiver)
    signal.connect(in_this_order, weak=False)
    try:
        refunds.approve_refund(session, refund, actor=staff, restock=True)
        session.commit()
    finally:
        signal.disconnect(in_this_order)
        for receiver in receivers:
            signal.connect(receiver)
    assert refund.status == "refunded"
    states = [row.data["keyword2"]["value"] for row in rows(session, kind="refund_result")]
    assert states == ["已退款"]


def test_a_send_wechat_took_but_did_not_answer_in_time_is_never_sent_again(
    session, wechat, shopper, address, tee, monkeypatch
):
    """A read timeout (or the connection dropped after the request went) does not say the message was not
    delivered: like a run that died while sending, it is failed, not retried — never sent twice."""
    from app.payments import wechat_web

    configure(session, wechat)
    paid(session, shopper, address, tee)
    monkeypatch.setattr(wechat_web, "HTTP_TIMEOUT", (3, 0.3))
    wechat.slow_template_answers = 1
    try:
        counts = sender.send_due(session)
    finally:
        wechat.slow_template_answers = 0
    assert len(wechat.template_messages) == 1  # it reached the phone
    assert counts == {"notified": 0, "notify_retries": 0, "notify_failed": 1}
    (row,) = rows(session)
    assert row.status == "failed" and "ReadTimeout" in row.last_error
    for hours in (1, 3, 24):
        sender.send_due(session, utcnow() + timedelta(hours=hours))
    assert len(wechat.template_messages) == 1


def test_wechat_that_cannot_be_reached_is_tried_again(session, wechat, shopper, address, tee, monkeypatch):
    """Nothing left our side (connection refused): safe to retry, and the message is sent later."""
    from app.payments import wechat_web

    configure(session, wechat)
    paid(session, shopper, address, tee)
    sender.send_due(session)  # a token in the cache, so the refusal comes on the send itself
    paid(session, shopper, address, tee)
    monkeypatch.setattr(wechat_web, "api_base", lambda: "http://127.0.0.1:9")  # discard: nobody listens
    assert sender.send_due(session)["notify_retries"] == 1
    monkeypatch.undo()
    row = rows(session)[-1]
    assert (row.status, row.attempts) == ("pending", 1) and "ConnectionError" in row.last_error
    assert sender.send_due(session, row.next_attempt_at)["notified"] == 1
    assert len(wechat.template_messages) == 2


def test_an_amount_keyword_of_a_thousand_yuan_or_more_is_digits_only(session, wechat, shopper, address):
    """WeChat's amountN value is a currency sign and digits (no thousands separator): ¥1,280.00 is refused
    (47003) and the message would be tried five times and lost."""
    sku = factories.ProductFactory(title="茶具", skus=[{"price_fen": 128000, "stock": 5}]).skus[0]
    configure(session, wechat, order_paid_mapping="character_string1={order_no}\namount2={amount}")
    order = pay(session, place(session, shopper, address, {sku.id: 1}), shopper)
    assert order.total_fen >= 128000
    assert sender.send_due(session)["notified"] == 1
    (message,) = wechat.template_messages
    assert message["data"]["amount2"]["value"] == f"¥{order.total_fen // 100}.{order.total_fen % 100:02d}"


def test_a_token_another_worker_dropped_while_this_one_fetched_a_new_one_is_simply_stored(session, wechat):
    """The job drops a token WeChat called invalid (forget_access_token) while a worker that found it about
    to expire is fetching a new one: the worker uses its new token instead of crashing (StaleDataError: a
    500 on a page, or the job dying with its message left "sending")."""
    from app.extensions import db
    from app.payments import wechat_web
    from app.payments.models import ApiToken

    configure(session, wechat)
    session.add(ApiToken(name="wechat_access_token", value="token-old", expires_at=utcnow()))
    session.commit()
    held = session.get(ApiToken, "wechat_access_token")  # this worker has read it (and holds it, as _cached)
    assert held.value == "token-old"
    with db.engine.begin() as other_worker:
        other_worker.execute(ApiToken.__table__.delete())
    token = wechat_web.access_token(session)
    assert token.startswith("token-") and token != "token-old"
    assert wechat_web.access_token(session).startswith("token-")  # the cache works on


def test_messages_wechat_refuses_one_by_one_do_not_stop_the_run_for_the_others(session, wechat):
    """Stopping a run early is for WeChat being down or busy. Refusals about one message (an openid not of
    this account, a bad template ID or value) say nothing about the next: five of them at the head of the
    outbox must not hold back every message behind them, run after run."""
    from app.notifications.outbox import enqueue

    configure(session, wechat)
    strangers = [factories.UserFactory(wechat_openid=f"oStranger{i:018d}") for i in range(6)]
    wechat.unknown_openids.update(person.wechat_openid for person in strangers)
    fine = factories.UserFactory(wechat_openid="oFineReader000000000000001")
    for person in [*strangers, fine]:
        enqueue(session, "withdrawal_paid", person, {"amount": "¥1.00"})
    session.commit()
    try:
        counts = sender.send_due(session)
    finally:
        wechat.unknown_openids.clear()
    assert counts["notified"] == 1 and counts["notify_retries"] == 6
    assert [m["touser"] for m in wechat.template_messages] == [fine.wechat_openid]


def test_a_returned_parcel_received_tells_the_buyer_the_refund_is_approved(session, wechat):
    """退货退款: the merchant confirms the goods are back, which approves the refund (orders.returns). Paid
    by hand, the money is not back yet: the buyer hears "approved" as for any approval, then "refunded"."""
    from app.orders import returns
    from app.payments import services as payments
    from app.settings.models import ShopSettings
    from tests.test_admin_orders import enable_manual_payment, manual_order

    enable_manual_payment(session)
    configure(session, wechat)
    shop = session.get(ShopSettings, 1) or ShopSettings(id=1, name="店")
    shop.return_contact, shop.return_phone, shop.return_address = (
        "王店长",
        "13800000000",
        "杭州市文三路 100 号",
    )
    session.add(shop)
    buyer = factories.UserFactory(wechat_openid="oReturnBuyer00000000000001")
    tee = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    staff = factories.UserFactory(role="staff")
    order = manual_order(session, buyer, factories.AddressFactory(user=buyer), tee)
    payments.confirm_manual_payment(session, order, actor=staff)
    session.commit()
    from app.orders import transitions

    transitions.ship_order(session, order, actor=staff, carrier="顺丰", tracking_no="SF123456789")
    session.commit()
    refund = refunds.request_refund(
        session, order, buyer, items={order.lines[0].id: 1}, reason="质量问题", kind="return_refund"
    )
    session.commit()
    returns.approve_return(session, refund, actor=staff)
    session.commit()
    returns.ship_return(session, refund, buyer, carrier_code="zhongtong", tracking_no="ZT77889900")
    session.commit()
    returns.confirm_return_received(session, refund, actor=staff, restock=True)
    session.commit()
    assert refund.status == "approved"
    states = [row.data["keyword2"]["value"] for row in rows(session, kind="refund_result")]
    assert states == ["商家已同意，退款处理中"]
