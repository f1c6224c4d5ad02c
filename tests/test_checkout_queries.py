"""Placing an order costs the same number of SQL statements whatever the number of cart lines (issue 3:
the query count of checkout must not grow with the cart)."""

import pytest

from app import orders
from app.catalog.models import Sku
from tests import factories
from tests.conftest import counting_statements


def products_in_cart(session, shopper, count: int) -> dict[int, int]:
    """`count` different products, each put in the shopper's cart, as a real checkout would have."""
    items = {}
    for n in range(count):
        product = factories.ProductFactory(skus=[{"price_fen": 1000 + n, "stock": 50}])
        factories.ProductImageFactory(product_id=product.id)
        items[product.skus[0].id] = 1 + n % 3
        orders.cart.add_to_cart(session, shopper.id, product.skus[0].id, items[product.skus[0].id])
    session.commit()
    return items


def statements_to_place(session, lines: int, n: int) -> list[str]:
    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    items = products_in_cart(session, shopper, lines)
    session.expire_all()  # a fresh request: nothing is in the identity map yet
    with counting_statements() as statements:
        order = orders.checkout.place_order(
            session,
            user=shopper,
            items=items,
            address_id=address.id,
            idempotency_key=f"query-count-order-{n:04d}",
        )
    session.commit()
    assert len(order.lines) == lines
    return statements


def test_placing_an_order_does_not_cost_more_statements_per_cart_line(session):
    factories.UserFactory()  # the shop settings and the like are read the same way for both orders
    two = statements_to_place(session, 2, 1)
    ten = statements_to_place(session, 10, 2)
    assert len(ten) == len(two), "\n".join(ten)


def four_products(session):
    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    products = [
        factories.ProductFactory(title=f"商品{n}", skus=[{"price_fen": 500, "stock": 3}]) for n in range(4)
    ]
    return shopper, address, [p.skus[0].id for p in products]


def stocks(session, sku_ids) -> list[int]:
    session.expire_all()
    return [session.get(Sku, sku_id).stock for sku_id in sku_ids]


def test_one_statement_still_takes_the_stock_of_every_line(session):
    shopper, address, sku_ids = four_products(session)
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={sku_id: 2 for sku_id in sku_ids},
        address_id=address.id,
        idempotency_key="all-lines-stock-0001",
    )
    session.commit()
    assert stocks(session, sku_ids) == [1, 1, 1, 1]
    assert [line.sku_id for line in order.lines] == sku_ids


def test_an_order_with_one_short_line_is_refused_naming_it_and_takes_nothing(session):
    shopper, address, sku_ids = four_products(session)
    items = {sku_id: 2 for sku_id in sku_ids}
    items[sku_ids[2]] = 4
    with pytest.raises(orders.events.OrderError) as refused:
        orders.checkout.place_order(
            session, user=shopper, items=items, address_id=address.id, idempotency_key="short-line-stock-0001"
        )
    assert "“商品2”" in str(refused.value.message)
    session.rollback()
    assert stocks(session, sku_ids) == [3, 3, 3, 3]
