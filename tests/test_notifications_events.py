"""Which events write which WeChat message: a distributor's new commission and paid withdrawal, a 拼团 that
forms or fails (every paying member told once), and a refund that is paid back."""

from datetime import timedelta

from sqlalchemy import select

from app.distribution import ledger
from app.marketing import group_refunds
from app.notifications import sender
from app.notifications.models import Notification
from app.orders import refunds
from app.timeutil import set_clock, utcnow
from tests import factories
from tests import test_distribution as dist
from tests import test_groups as grp
from tests.test_groups import shop as shop  # noqa: F401 - the fixture, shared
from tests.test_notifications import app_config as app_config  # noqa: F401 - fixtures, shared
from tests.test_notifications import configure
from tests.test_notifications import fresh_fake as fresh_fake  # noqa: F401
from tests.test_notifications import wechat as wechat  # noqa: F401


def rows(session, kind: str) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
    )


def test_a_distributor_hears_of_each_new_commission_and_of_a_paid_withdrawal(session, wechat):
    configure(session, wechat)
    dist.settings(session, withdrawal_min_fen=100, withdrawal_fee_bp=0)
    a = dist.distributor(session, factories.UserFactory(wechat_openid="oDistributorA0000000000001"))
    b_user = factories.UserFactory()  # level 2 of the chain, no WeChat: no message for them
    dist.bind(session, b_user, a)
    b = dist.distributor(session, b_user)
    buyer = factories.UserFactory()
    dist.bind(session, buyer, b)
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    order = dist.buy(session, buyer, product)

    (row,) = rows(session, "commission_new")
    assert row.user_id == a.user_id and row.reference == order.number and row.url_path == "/d/commissions"
    assert row.data["keyword2"] == {"value": "¥5.00"}  # level 2 at the default 5 %

    dist.complete(session, order)
    set_clock(utcnow() + timedelta(days=8))
    withdrawal = ledger.request_withdrawal(
        session, a, ledger.WithdrawalInput(amount_fen=500, method="wechat", real_name="王五", account="wx1")
    )
    session.commit()
    staff = factories.UserFactory(role="staff")
    ledger.approve_withdrawal(session, withdrawal, actor=staff)
    ledger.mark_withdrawal_paid(session, withdrawal, actor=staff, reference="TR20261207")
    session.commit()
    (row,) = rows(session, "withdrawal_paid")
    assert row.data["keyword1"] == {"value": "¥5.00"} and row.data["keyword2"] == {"value": "TR20261207"}
    assert sender.send_due(session, utcnow())["notified"] == 2
    assert {m["touser"] for m in wechat.template_messages} == {"oDistributorA0000000000001"}


def test_every_paying_member_hears_once_that_the_group_formed(session, shop, wechat):  # noqa: F811
    configure(session, wechat)
    sku = factories.ProductFactory(title="T恤", skus=[{"price_fen": 100_00, "stock": 20}]).skus[0]
    group_buy = grp.make_group_buy(session, sku, size=2)
    leader, member = grp.people(2)
    leader.wechat_openid, member.wechat_openid = "oGroupLeader00000000000001", "oGroupMember00000000000001"
    session.commit()
    _order, group = grp.open_group(session, leader, sku, group_buy)
    assert rows(session, "group_result") == []
    grp.pay(session, grp.buy(session, member, sku, group=group.id))
    found = rows(session, "group_result")
    assert sorted(row.user_id for row in found) == sorted([leader.id, member.id])
    assert {row.data["keyword3"]["value"] for row in found} == {"拼团成功"}


def test_a_group_that_does_not_form_tells_its_members_and_their_refund_is_told_too(session, shop, wechat):  # noqa: F811
    configure(session, wechat)
    sku = factories.ProductFactory(title="T恤", skus=[{"price_fen": 100_00, "stock": 20}]).skus[0]
    group_buy = grp.make_group_buy(session, sku, size=3)
    (leader,) = grp.people(1)
    leader.wechat_openid = "oGroupLeader00000000000002"
    session.commit()
    _order, group = grp.open_group(session, leader, sku, group_buy)
    set_clock(group.expires_at + timedelta(minutes=1))
    group_refunds.settle(session)
    (row,) = rows(session, "group_result")
    assert row.user_id == leader.id and row.data["keyword3"] == {"value": "未成团，正在退款"}
    group_refunds.settle(session)  # a second run tells nobody again
    assert len(rows(session, "group_result")) == 1
    assert [row.data["keyword2"]["value"] for row in rows(session, "refund_result")] == ["已退款"]


def test_a_refund_paid_back_at_once_says_refunded_only(session, wechat):
    configure(session, wechat)
    buyer = factories.UserFactory(wechat_openid="oRefundBuyer00000000000001")
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    order = dist.buy(session, buyer, product)
    staff = factories.UserFactory(role="staff")
    refund = refunds.request_refund(session, order, buyer, items={order.lines[0].id: 1}, reason="不要了")
    session.commit()
    refunds.approve_refund(session, refund, actor=staff, restock=True)
    session.commit()
    states = [row.data["keyword2"]["value"] for row in rows(session, "refund_result")]
    assert states == ["已退款"]  # the sandbox pays back at once: no "on its way" after "refunded"


def test_a_refund_paid_back_by_hand_says_approved_then_refunded(session, wechat):
    from app.payments import services as payments
    from tests.test_admin_orders import enable_manual_payment, manual_order

    enable_manual_payment(session)
    configure(session, wechat)
    buyer = factories.UserFactory(wechat_openid="oRefundBuyer00000000000002")
    tee = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 100}])
    staff = factories.UserFactory(role="staff")
    order = manual_order(session, buyer, factories.AddressFactory(user=buyer), tee)
    payments.confirm_manual_payment(session, order, actor=staff)
    session.commit()
    refund = refunds.request_refund(session, order, buyer, items={order.lines[0].id: 1}, reason="不要了")
    session.commit()
    refunds.approve_refund(session, refund, actor=staff, restock=True)
    session.commit()
    assert [row.data["keyword2"]["value"] for row in rows(session, "refund_result")] == [
        "商家已同意，退款处理中"
    ]
    refunds.complete_refund(session, refund, actor=staff)
    session.commit()
    states = [row.data["keyword2"]["value"] for row in rows(session, "refund_result")]
    assert states == ["商家已同意，退款处理中", "已退款"]
