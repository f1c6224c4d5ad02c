"""One price for a basket: the cart page, the checkout page and the placed order show the numbers that
price_basket gives for it, line by line (MARKETING.md, "One price for a basket")."""

import re

from sqlalchemy import select

from app.marketing import pricing
from app.orders.models import Order
from app.settings.models import ShopSettings
from tests import factories
from tests.conftest import login
from tests.test_shop_orders import add, checkout_form, form_fields, place

PRICE_RE = r"¥([\d,]+\.\d\d)"


def fen(text: str) -> int:
    whole, part = text.replace(",", "").split(".")
    return int(whole) * 100 + int(part)


def test_cart_checkout_and_order_agree_with_price_basket(client, session):
    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800, free_shipping_over_fen=100_00))
    session.commit()
    shopper = factories.UserFactory()
    factories.AddressFactory(user=shopper)
    tee = factories.ProductFactory(skus=[{"price_fen": 3333, "stock": 10}])
    mug = factories.ProductFactory(skus=[{"price_fen": 1999, "stock": 10}])
    login(client, shopper)
    add(client, tee.skus[0].id, 2)
    add(client, mug.skus[0].id, 1)

    expected = pricing.price_basket(
        [
            pricing.Line(unit_fen=3333, qty=2, product=tee.id),
            pricing.Line(unit_fen=1999, qty=1, product=mug.id),
        ],
        shipping=pricing.Shipping(fee_fen=800, free_threshold_fen=100_00),
    )
    assert (expected.goods_fen, expected.shipping_fen, expected.total_fen) == (8665, 800, 9465)

    cart = client.get("/cart").get_data(as_text=True)
    assert (
        fen(re.search(r'cart-bar__total">[^<]*<span class="price">' + PRICE_RE, cart)[1])
        == expected.goods_fen
    )

    checkout = client.get("/checkout?" + f"sku={tee.skus[0].id}&sku={mug.skus[0].id}").get_data(as_text=True)
    assert fen(
        re.search(r"submit-bar__sum\">[^<]*<span class=\"price price_big\">" + PRICE_RE, checkout)[1]
    ) == (expected.total_fen)
    assert re.search(rf'name="expected_total"[^>]*value="{expected.total_fen}"', checkout)

    order = place(client, session, shopper, query=f"?sku={tee.skus[0].id}&sku={mug.skus[0].id}", sku=None)
    order = session.scalar(select(Order).where(Order.id == order.id))
    assert (order.goods_fen, order.discount_fen, order.shipping_fen, order.total_fen) == (
        expected.goods_fen,
        expected.discount_fen,
        expected.shipping_fen,
        expected.total_fen,
    )
    by_unit = {line.unit_fen: line for line in order.lines}
    for priced in expected.lines:
        line = by_unit[priced.unit_fen]
        assert (line.qty, line.subtotal_fen, line.discount_fen, line.paid_fen) == (
            priced.qty,
            priced.subtotal_fen,
            priced.discount_fen,
            priced.paid_fen,
        )


def test_with_every_offer_cart_checkout_quote_and_order_agree(client, session):
    """The same walk with a member level, a 限时折扣, a 满减 campaign, a coupon and points: the cart (its
    goods after offers), the checkout page, the quote the API will serve (orders.checkout.quote with
    marketing's offers) and the placed order all say what price_basket says."""

    from app import orders
    from app.marketing import campaigns, coupons, members, offers, points
    from app.marketing.models import MemberLevel

    session.add(ShopSettings(id=1, name="店", shipping_flat_fen=800, free_shipping_over_fen=300_00))
    session.add(MemberLevel(name="银卡", growth_threshold=0, discount_bp=9500))
    session.commit()
    shopper = factories.UserFactory()
    factories.AddressFactory(user=shopper)
    tee = factories.ProductFactory(skus=[{"price_fen": 3333, "stock": 10}])
    mug = factories.ProductFactory(skus=[{"price_fen": 1999, "stock": 10}])
    factories.running_discount(session, campaigns.ItemDraft(mug.skus[0].id, discount_bp=8000))
    factories.running_reduction(
        session, campaigns.TierDraft(60_00, reduce_fen=7_00), name="满60减7", include_activity=True
    )
    template = coupons.save_template(
        session, None,
        {"name": "满50减5", "kind": "amount", "channel": "centre", "value_fen": 5_00, "threshold_fen": 50_00,
         "total_qty": 0, "per_user_limit": 1, "scope_kind": "all", "include_activity": True, "valid_days": 3},
    )  # fmt: skip
    coupon = coupons.claim(session, shopper.id, template.id)
    members.add_growth(session, shopper.id, 10, "adjust")
    points.add_points(session, shopper.id, 777, "adjust")
    session.commit()
    login(client, shopper)
    add(client, tee.skus[0].id, 2)
    add(client, mug.skus[0].id, 1)

    lines = [
        pricing.Line(unit_fen=3333, qty=2, product=tee.id),
        pricing.Line(
            unit_fen=1999, qty=1, product=mug.id, activity=pricing.Activity("timed", 1999 * 8000 // 10000)
        ),
    ]
    common = {
        "shipping": pricing.Shipping(fee_fen=800, free_threshold_fen=300_00),
        "member_level": pricing.MemberLevel(discount_bp=9500),
        "full_reduction": pricing.FullReduction(
            tiers=(pricing.Tier(60_00, reduce_fen=7_00),), include_activity=True
        ),
    }
    in_cart = pricing.price_basket(lines, **common)
    expected = pricing.price_basket(
        lines,
        **common,
        coupon=pricing.Coupon(kind="amount", threshold_fen=50_00, value_fen=5_00, include_activity=True),
        points=pricing.Points(balance=777, use=777),
    )
    assert expected.full_reduction_fen == 7_00 and expected.coupon_fen == 5_00 and expected.points_used == 777

    cart = client.get("/cart").get_data(as_text=True)
    total = re.search(r'cart-bar__total">[^<]*<span class="price">' + PRICE_RE, cart)[1]
    assert fen(total) == in_cart.after_offers_fen

    query = f"?sku={tee.skus[0].id}&sku={mug.skus[0].id}"
    fields = checkout_form(client, query)
    assert fields["coupon"] == str(coupon.id)  # the best (only) coupon is chosen for the shopper
    page = client.get(
        f"/checkout{query}&idempotency_key={fields['idempotency_key']}&coupon={coupon.id}&use_points=y"
    )
    shown = page.get_data(as_text=True)
    assert fen(re.search(r'submit-bar__sum">[^<]*<span class="price price_big">' + PRICE_RE, shown)[1]) == (
        expected.total_fen
    )

    cart_lines = orders.cart.load_cart_lines(session, orders.cart.user_cart_entries(session, shopper.id))
    chosen = offers.for_basket(
        session, shopper.id, [line.sku.id for line in cart_lines], coupon_id=coupon.id, points_asked=777
    )
    quoted = orders.checkout.quote(session, cart_lines, chosen)
    assert (quoted.goods_fen, quoted.discount_fen, quoted.shipping_fen, quoted.total_fen) == (
        expected.goods_fen, expected.discount_fen, expected.shipping_fen, expected.total_fen,
    )  # fmt: skip

    fields = form_fields(shown, "/checkout") | {"use_points": "y"}  # the switch the page shows on
    assert client.post("/checkout", data=fields).status_code == 302
    order = session.scalar(select(Order).where(Order.user_id == shopper.id))
    session.refresh(order)
    assert (order.goods_fen, order.discount_fen, order.shipping_fen, order.total_fen, order.points_used) == (
        expected.goods_fen, expected.discount_fen, expected.shipping_fen, expected.total_fen, 777,
    )  # fmt: skip
    assert sorted(line.paid_fen for line in order.lines) == sorted(line.paid_fen for line in expected.lines)
