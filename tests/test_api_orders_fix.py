"""Review fixes of the API's orders (app/api/orders.py, basket.py): odd text in JSON bodies, ..."""

from sqlalchemy import select

from app.orders.models import Address, Order
from tests import factories
from tests import test_api_orders as base
from tests.test_api import API
from tests.test_api_orders import HOME, place

shopper, other, auth, tee = base.shopper, base.other, base.auth, base.tee  # the fixtures


def test_control_characters_in_a_json_body_are_dropped_as_in_a_form(client, session, shopper, auth, tee):
    """PostgreSQL refuses NUL in text: a note or an address with one was a 500 there (the H5 forms drop
    control characters before any view; JSON bodies now too)."""
    mine = factories.AddressFactory(user=shopper)
    session.commit()
    body = {"items": [{"sku_id": tee.skus[0].id, "quantity": 1}], "address_id": mine.id}
    placed = place(client, auth, body | {"buyer_note": "尽快\x00发货\x07"})
    assert placed.status_code == 201, placed.get_data(as_text=True)
    assert placed.get_json()["buyer_note"] == "尽快发货"
    session.expire_all()
    assert session.scalars(select(Order)).one().buyer_note == "尽快发货"
    made = client.post(
        f"{API}/addresses", json=HOME | {"recipient": "张\x00三", "detail": "\x1b路 1 号"}, headers=auth
    )
    assert made.status_code == 201, made.get_data(as_text=True)
    assert (made.get_json()["recipient"], made.get_json()["detail"]) == ("张三", "路 1 号")
    assert session.get(Address, made.get_json()["id"]).recipient == "张三"


def test_adding_to_the_cart_through_the_api_counts_for_the_reports(client, session, shopper, auth, tee):
    from app.catalog import view_counts
    from app.catalog.view_counts import ProductDailyStat

    view_counts.flush(session)  # whatever earlier requests counted
    added = client.post(f"{API}/cart/items", json={"sku_id": tee.skus[0].id, "quantity": 1}, headers=auth)
    assert added.status_code == 200, added.get_data(as_text=True)
    assert view_counts.flush(session) == {"counted": 1}
    stats = session.scalars(select(ProductDailyStat).where(ProductDailyStat.product_id == tee.id)).one()
    assert stats.cart_adds == 1
