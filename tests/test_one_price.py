"""One price for a basket: the cart page, the checkout page and the placed order show the numbers that
price_basket gives for it, line by line (MARKETING.md, "One price for a basket")."""

import re

from sqlalchemy import select

from app.marketing import pricing
from app.orders.models import Order
from app.settings.models import ShopSettings
from tests import factories
from tests.conftest import login
from tests.test_shop_orders import add, place

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
