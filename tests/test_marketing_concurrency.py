"""Races on coupons and points (MARKETING.md): on PostgreSQL, real threads, each with its own connection and
transaction, released together by a barrier."""

from sqlalchemy import func, select

from app import orders
from app.accounts.models import User
from app.extensions import db
from app.marketing import coupons, offers, points
from app.marketing.errors import MarketingError
from app.marketing.models import Coupon, CouponStatus, CouponTemplate, MemberAccount
from app.orders.models import Order
from tests import factories
from tests.conftest import run_together


def template(**changes) -> CouponTemplate:
    data = {
        "name": "无门槛10元",
        "kind": "amount",
        "channel": "centre",
        "value_fen": 10_00,
        "threshold_fen": 0,
        "total_qty": 60,
        "per_user_limit": 1,
        "scope_kind": "all",
        "valid_days": 7,
    } | changes
    found = coupons.save_template(db.session, None, data)
    db.session.commit()
    return found


def test_fifty_claims_of_the_last_ten_coupons_give_exactly_ten(pg_app):
    found = template()
    db.session.execute(CouponTemplate.__table__.update().values(claimed_qty=50))  # 10 of 60 left
    db.session.commit()
    user_ids = [factories.UserFactory().id for _ in range(50)]
    template_id = found.id

    def claim(i):
        return coupons.claim(db.session, user_ids[i], template_id).id

    results = run_together(pg_app, 50, claim)
    claimed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, MarketingError)]
    assert (len(claimed), len(refused)) == (10, 40), [
        r for r in results if not isinstance(r, int | MarketingError)
    ]
    db.session.expire_all()
    assert db.session.get(CouponTemplate, template_id).claimed_qty == 60
    assert db.session.scalar(select(func.count()).select_from(Coupon)) == 10


def test_one_shopper_claiming_twenty_times_at_once_gets_one(pg_app):
    found = template(per_user_limit=1)
    user_id = factories.UserFactory().id
    template_id = found.id
    results = run_together(pg_app, 20, lambda i: coupons.claim(db.session, user_id, template_id).id)
    assert len([r for r in results if isinstance(r, int)]) == 1
    db.session.expire_all()
    assert db.session.get(CouponTemplate, template_id).claimed_qty == 1


def _basket():
    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    product = factories.ProductFactory(skus=[{"price_fen": 100_00, "stock": 50}])
    return shopper.id, address.id, product.skus[0].id


def _checkout(i, user_id, address_id, sku_id, **chosen):
    user = db.session.get(User, user_id)
    basket = offers.for_basket(db.session, user_id, [sku_id], **chosen)
    return orders.checkout.place_order(
        db.session,
        user=user,
        items={sku_id: 1},
        address_id=address_id,
        idempotency_key=f"race-marketing-{i:04d}",
        offers=basket,
    ).number


def test_one_coupon_in_two_checkouts_at_once_makes_one_order(pg_app):
    user_id, address_id, sku_id = _basket()
    coupon_id = coupons.claim(db.session, user_id, template().id).id
    db.session.commit()
    results = run_together(
        pg_app, 2, lambda i: _checkout(i, user_id, address_id, sku_id, coupon_id=coupon_id)
    )
    placed = [r for r in results if isinstance(r, str)]
    assert len(placed) == 1, results
    assert isinstance(next(r for r in results if not isinstance(r, str)), MarketingError)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    coupon = db.session.get(Coupon, coupon_id)
    order_id = db.session.scalar(select(Order.id).where(Order.number == placed[0]))
    assert (coupon.status, coupon.order_id) == (CouponStatus.USED, order_id)
    assert db.session.scalar(select(Order.coupon_fen)) == 10_00


def test_points_spent_by_concurrent_checkouts_never_go_below_zero(pg_app):
    user_id, address_id, sku_id = _basket()
    points.add_points(db.session, user_id, 3000, "adjust")
    db.session.commit()
    # Each checkout asks for 2000 points (20.00 of a 100.00 item): only one can have them.
    results = run_together(pg_app, 5, lambda i: _checkout(i, user_id, address_id, sku_id, points_asked=2000))
    placed = [r for r in results if isinstance(r, str)]
    assert len(placed) >= 1
    db.session.expire_all()
    balance = db.session.get(MemberAccount, user_id).points
    used = db.session.scalar(select(func.coalesce(func.sum(Order.points_used), 0)))
    assert balance >= 0 and balance + used == 3000
    assert not points.audit(db.session)
