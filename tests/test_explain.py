"""Explaining commission: who got what and why, and why someone got nothing."""

from app.distribution import explain as ex
from app.distribution import ledger
from app.distribution import services as dist
from app.distribution.models import DistributorGrade
from tests import factories
from tests.test_distribution import buy, distributor, settings


def test_the_merchant_sees_the_chain_rates_and_rounding(session):
    settings(session, levels=3, rates_bp=[1000, 800, 100])
    gold = DistributorGrade(name="金牌", rates_bp=[2500, 0, 0])
    session.add(gold)
    session.commit()
    a = distributor(session)
    b_user = factories.UserFactory(nickname="小B")
    dist.bind(session, b_user, a, source="t")
    b = distributor(session, b_user)
    b.grade_id = gold.id
    buyer = factories.UserFactory(nickname="张三丰", mobile="13812345678")
    dist.bind(session, buyer, b, source="t")
    session.commit()
    product = factories.ProductFactory(title="好茶", skus=[{"price_fen": 3333, "stock": 9}])
    order = buy(session, buyer, product)

    view = ex.explain(session, order)
    assert view.buyer.startswith("张三丰")
    assert "小B" in view.chain[0] and "金牌" in view.chain[0]
    assert [p.current_fen for p in view.people] == [833, 166]  # 3333×25% and 3333×5%, floored
    notes = [s.note for s in view.shares]
    assert any("向下取整" in n for n in notes)
    assert any("30%" in n and "8%" in n for n in notes)  # level 2: 8% trimmed to 5% (25% already granted)
    assert any("这一级没有人" in n for n in notes)  # a has no referrer: level 3 is empty

    mine = ex.explain(session, order, for_distributor_id=b.id)
    assert mine.buyer == "张** / 138****5678"
    assert {row.distributor_id for row in mine.people} == {b.id}
    assert all(share.who == "小B" for share in mine.shares)


def test_why_nobody_earned(session):
    settings(session)
    lonely = factories.UserFactory()
    product = factories.ProductFactory(skus=[{"price_fen": 1000, "stock": 9}])
    order = buy(session, lonely, product)
    view = ex.explain(session, order)
    assert view.people == []
    assert any("没有绑定" in reason for reason in view.reasons)


def test_void_reason_is_visible_to_the_distributor(session):
    settings(session)
    a = distributor(session)
    buyer = factories.UserFactory()
    dist.bind(session, buyer, a, source="t")
    session.commit()
    order = buy(session, buyer, factories.ProductFactory(skus=[{"price_fen": 1000, "stock": 9}]))
    ledger.void_order_commission(session, order, actor=factories.UserFactory(role="owner"), reason="疑似刷单")
    session.commit()
    view = ex.explain(session, order, for_distributor_id=a.id)
    assert view.people[0].status == "已作废"
    assert any("疑似刷单" in reason for reason in view.reasons)
