"""Buttons that move money ask first, naming the amount and the person (masked), in a sentence the server
builds; after any such htmx action the page is told to refresh its badges and tab counts, and the tabs that
hold counts listen for it."""

import json
import re

from sqlalchemy import select

from app.distribution.models import Distributor, Withdrawal, WithdrawalStatus
from app.orders.models import Refund
from app.payments import services as payments
from tests import factories
from tests.conftest import csrf_token
from tests.test_admin_distribution import flagged_order, htmx_post, released_tree, settings
from tests.test_admin_distribution import product as product  # noqa: F401 - the fixture, shared
from tests.test_admin_distribution import request as ask_withdrawal
from tests.test_admin_distribution import tree as tree  # noqa: F401 - the fixture, shared
from tests.test_admin_orders import address as address  # noqa: F401 - the fixture, shared
from tests.test_admin_orders import (
    ask_refund,
    enable_manual_payment,
    flagged_payment,
    manual_order,
    paid_order,
)
from tests.test_admin_orders import shopper as shopper  # noqa: F401 - the fixture, shared
from tests.test_admin_orders import tee as tee  # noqa: F401 - the fixture, shared


def events(response) -> dict:
    return json.loads(response.headers.get("HX-Trigger") or "{}")


def confirm_of(html: str, action: str) -> str:
    """The hx-confirm of the form posting to `action`."""
    match = re.search(rf'action="{re.escape(action)}"[^>]*?hx-confirm="([^"]*)"', html, re.S)
    assert match, f"no confirmation on {action}"
    return match.group(1)


def test_approving_a_refund_asks_with_the_amount_and_the_masked_recipient(
    owner_client, session, shopper, address, tee
):
    refund = ask_refund(session, paid_order(session, shopper, address, tee, qty=2), shopper)
    action = f"/admin/refunds/{refund.id}/approve"
    queue = owner_client.get("/admin/refunds").get_data(as_text=True)
    assert confirm_of(queue, action) == "确认向 林** 退款 ¥59.00？"  # 林小雨, one of two ¥59.00 tees
    order_page = owner_client.get(f"/admin/orders/{refund.order.number}").get_data(as_text=True)
    assert confirm_of(order_page, action) == "确认向 林** 退款 ¥59.00？"


def test_the_confirmation_is_escaped(owner_client, session, shopper, tee):
    address = factories.AddressFactory(user=shopper, recipient='"<b>小林', mobile="18612345678")
    refund = ask_refund(session, paid_order(session, shopper, address, tee), shopper)
    queue = owner_client.get("/admin/refunds").get_data(as_text=True)
    assert confirm_of(queue, f"/admin/refunds/{refund.id}/approve") == "确认向 &#34;** 退款 ¥59.00？"


def test_an_htmx_approval_tells_the_page_to_refresh_its_counts(owner_client, session, shopper, address, tee):
    refund = ask_refund(session, paid_order(session, shopper, address, tee), shopper)
    queue = owner_client.get("/admin/refunds").get_data(as_text=True)
    tabs = re.search(r'<ul class="nav nav-tabs mb-3" ([^>]*)>(.*?)</ul>', queue, re.S)
    assert 'id="refund-tabs"' in tabs.group(1) and 'hx-trigger="fenxiao:changed from:body"' in tabs.group(1)
    assert 'hx-select="#refund-tabs"' in tabs.group(1) and 'text-bg-danger">1<' in tabs.group(2)

    approved = htmx_post(
        owner_client,
        f"/admin/refunds/{refund.id}/approve",
        page="/admin/refunds",
    )
    assert approved.status_code == 200
    assert events(approved)["fenxiao:counts"] is True and events(approved)["toast"]["level"] == "success"
    assert session.scalar(select(Refund.status).where(Refund.id == refund.id)) == "refunded"
    again = re.search(
        r'<ul class="nav nav-tabs mb-3" [^>]*>(.*?)</ul>', owner_client.get("/admin/refunds").text, re.S
    )
    assert "text-bg-danger" not in again.group(1)  # what the tabs fetch afresh: nothing left to handle

    # Refused (handled already): the counts may have moved all the same.
    twice = htmx_post(owner_client, f"/admin/refunds/{refund.id}/approve", page="/admin/refunds")
    assert twice.status_code == 422 and events(twice)["fenxiao:counts"] is True
    # Without htmx: a redirect and a flash, no events.
    token = csrf_token(owner_client, "/admin/refunds")
    plain = owner_client.post(f"/admin/refunds/{refund.id}/approve", data={"csrf_token": token})
    assert plain.status_code == 302 and "HX-Trigger" not in plain.headers


def test_withdrawals_ask_before_approving_and_before_marking_paid(owner_client, session, tree, product):
    a, b, c = released_tree(session, tree, product)
    settings(session, withdrawal_fee_bp=100, withdrawal_min_fen=500)
    withdrawal = ask_withdrawal(session, b, 1500)  # to 李四's bank card; 1 % fee
    page = owner_client.get("/admin/distribution/withdrawals").get_data(as_text=True)
    approve = f"/admin/distribution/withdrawals/{withdrawal.id}/approve"
    assert confirm_of(page, approve) == "确认同意 李** 提现 ¥15.00？之后需向其打款 ¥14.85。"
    assert re.search(r'<ul class="nav nav-pills small" id="withdrawal-tabs" hx-get="[^"]*" hx-select', page)
    assert re.search(r'id="dist-tabs" hx-get="/admin/distribution/withdrawals\?"', page)

    approved = htmx_post(owner_client, approve, page="/admin/distribution/withdrawals")
    assert approved.status_code == 200 and events(approved)["fenxiao:counts"] is True
    pay = f"/admin/distribution/withdrawals/{withdrawal.id}/pay"
    assert (
        confirm_of(approved.get_data(as_text=True), pay)
        == "确认已向 李** 打款 ¥14.85？请在转账成功后再确认。"
    )
    session.expire_all()
    assert session.get(Withdrawal, withdrawal.id).status == WithdrawalStatus.APPROVED
    tabs = (
        owner_client.get("/admin/distribution/withdrawals")
        .get_data(as_text=True)
        .split('id="withdrawal-tabs"')[1]
    )
    counts = re.findall(r'<span class="badge [^"]*">(\d+)</span>', tabs.split("</ul>")[0])
    assert counts[:2] == ["0", "1"]  # requested, approved


def test_voiding_commission_asks_with_the_frozen_amount_and_whose_it_is(owner_client, session, tree, product):
    a, b, c = tree
    a.real_name, b.real_name = "甲一", "乙二"
    session.commit()
    order = flagged_order(session, tree, product, 1)  # ¥100.00: ¥10.00 to B (level 1), ¥5.00 to A
    held = owner_client.get("/admin/distribution/fraud").get_data(as_text=True)
    void = f"/admin/distribution/orders/{order.id}/void"
    # On the form that posts, where htmx looks for it (found in review: on the button it was never asked).
    assert (
        confirm_of(held.split(order.number)[1], void)
        == "确认作废 乙**、甲** 的冻结佣金 ¥15.00？作废后不能恢复。"
    )
    panel = owner_client.get(
        f"/admin/distribution/orders/{order.id}/commission", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert confirm_of(panel, void).startswith("确认作废 乙**、甲** 的冻结佣金 ¥15.00？")

    voided = htmx_post(owner_client, f"/admin/distribution/orders/{order.id}/void", {"reason": "自买自卖"})
    assert voided.status_code == 200 and events(voided)["fenxiao:counts"] is True
    assert "确认作废" not in voided.get_data(as_text=True)  # nothing frozen left to void
    assert session.scalar(select(Distributor.frozen_fen).where(Distributor.id == b.id)) == 0


def test_confirming_a_transfer_marking_a_refund_done_and_money_returned_ask_first(
    owner_client, session, shopper, address, tee
):
    enable_manual_payment(session)
    order = manual_order(session, shopper, address, tee)  # one ¥59.00 tee to 林小雨
    page = owner_client.get(f"/admin/orders/{order.number}").get_data(as_text=True)
    assert (
        confirm_of(page, f"/admin/orders/{order.number}/confirm-transfer")
        == "确认已收到 林** 的 ¥59.00？确认后订单即可发货。"
    )

    payments.confirm_manual_payment(session, order, actor=shopper)
    session.commit()
    refund = ask_refund(session, order, shopper)
    approved = htmx_post(owner_client, f"/admin/refunds/{refund.id}/approve", page="/admin/refunds")
    assert approved.status_code == 200
    queue = owner_client.get("/admin/refunds?status=all").get_data(as_text=True)
    assert (
        confirm_of(queue, f"/admin/refunds/{refund.id}/complete")
        == "确认已向 林** 退回 ¥59.00？请在钱确实退回之后再标记。"
    )

    payment = flagged_payment(session, shopper, address, tee)
    returns = owner_client.get("/admin/payments").get_data(as_text=True)
    assert (
        confirm_of(returns, f"/admin/payments/{payment.id}/settle")
        == f"确认订单 {payment.order.number} 的 ¥59.00 已退回给买家？请在钱确实退回之后再标记。"
    )
