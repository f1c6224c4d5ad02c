"""The review of after-sales in the API (app/api/aftersales.py): the API and the H5 form answer from the same
services and the same label tables; a line listed twice, a data URL of another type, an upload body larger
than a photo and a shopper uploading without end are refused; a photo id is its uploader's, for a day."""

import ast
import time
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from app import orders
from app.api.aftersales import PHOTO_MAX_AGE, PHOTO_SALT
from app.api.schemas_aftersales import MAX_PHOTO_BASE64
from app.orders.models import Refund, RefundStatus
from app.payments import services as payments
from app.settings.models import ShopSettings
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_aftersales import paid_order
from tests.test_api import API, api_login, assert_error, bearer
from tests.test_api_aftersales import open_request, png_base64

APP = Path(__file__).resolve().parent.parent / "app"


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13800004444")


@pytest.fixture
def stranger(app):
    return factories.UserFactory(mobile="13800005555")


@pytest.fixture
def tee(app):
    return factories.ProductFactory(
        title="纯棉T恤",
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"spec_values": ["红"], "price_fen": 5900, "stock": 5},
            {"spec_values": ["蓝"], "price_fen": 5900, "stock": 2},
        ],
    )


@pytest.fixture
def shop(session):
    session.add(
        ShopSettings(id=1, name="店", return_contact="王", return_phone="13800000000", return_address="杭州")
    )
    session.commit()


def two_line_order(session, shopper, tee, *, ship: bool):
    red, blue = tee.skus
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={red.id: 1, blue.id: 1},
        address_id=factories.AddressFactory(user=shopper).id,
        idempotency_key="api-aftersales-checks-two-lines",
    )
    session.commit()
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    if ship:
        orders.transitions.ship_order(
            session, order, actor=factories.UserFactory(role="staff"), carrier="顺丰", tracking_no="SF7654321"
        )
    session.commit()
    return order


def preview(client, token, order, kind, items) -> dict:
    response = client.post(
        f"{API}/orders/{order.id}/aftersales/preview",
        json={"kind": kind, "items": items},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_api_takes_its_words_from_the_orders_domain_not_the_h5_blueprint():
    from app.orders import labels
    from app.shop import orders as shop_orders

    for path in sorted((APP / "api").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("app.shop"), (path.name, node.module)
    # The H5 pages show the very same tables.
    assert shop_orders.EVENT_TEXT is labels.EVENT_TEXT
    assert shop_orders.REFUND_REQUEST_TEXT is labels.REFUND_REQUEST_TEXT
    assert shop_orders.EVENT_NOTE_SHOWN is labels.EVENT_NOTE_SHOWN


def test_a_line_listed_twice_is_refused_not_guessed(client, session, shopper, tee):
    token = api_login(client, shopper)
    order = paid_order(session, shopper, tee.skus[0], qty=2)
    line = order.lines[0].id
    twice = [{"line_id": line, "qty": 1}, {"line_id": line, "qty": 1}]
    response = client.post(
        f"{API}/orders/{order.id}/aftersales/preview",
        json={"kind": "return_refund", "items": twice},
        headers=bearer(token),
    )
    assert "items.1.line_id" in assert_error(response, 422, "invalid")["fields"]
    body = {"kind": "return_refund", "reason": "质量问题", "items": twice}
    response = client.post(f"{API}/orders/{order.id}/aftersales", json=body, headers=bearer(token))
    assert assert_error(response, 422, "invalid")["fields"] == {"items.1.line_id": "每件商品只能列出一次。"}
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0


def test_the_preview_refuses_what_the_request_would(app, client, session, shopper, tee):
    """A type the order cannot have now, or an exchange of two lines: the preview says so (as opening the
    request would), not an amount; the H5 form's preview says the same sentence."""
    token = api_login(client, shopper)
    unshipped = paid_order(session, shopper, tee.skus[0], qty=1, ship=False)
    items = [{"line_id": unshipped.lines[0].id, "qty": 1}]
    refused = preview(client, token, unshipped, "exchange", items)
    assert refused["error"] == "这笔订单现在不能申请这种售后。" and refused["amount"]["fen"] == 0
    opened = open_request(client, token, unshipped, "exchange", "质量问题")
    assert assert_error(opened, 422, "invalid")["message"] == refused["error"]

    both = two_line_order(session, shopper, tee, ship=True)
    items = [{"line_id": line.id, "qty": 1} for line in both.lines]
    assert preview(client, token, both, "exchange", items)["error"] == "换货一次只能换一件商品。"
    one = preview(client, token, both, "return_refund", items[:1])
    assert one["error"] is None and one["amount"]["fen"] == both.lines[0].paid_fen
    assert preview(client, token, both, "exchange", [])["error"] is None  # nothing chosen yet: no sentence

    h5 = app.test_client()
    login(h5, shopper)
    form = {"csrf_token": csrf_token(h5, f"/orders/{both.number}/refund?kind=exchange"), "kind": "exchange"}
    form.update({f"qty-{line.id}": "1" for line in both.lines})
    page = h5.post(f"/orders/{both.number}/refund/preview", data=form)
    assert page.status_code == 200 and "换货一次只能换一件商品。" in page.get_data(as_text=True)


def test_a_data_url_must_be_of_a_picture_type(client, shopper):
    token = api_login(client, shopper)
    url = f"{API}/uploads/aftersales-photos"
    for header in (
        "data:text/html;base64,",
        "data:image/svg+xml;base64,",
        "data:image/png,",
        "data:;base64,",
    ):
        response = client.post(url, json={"data": header + png_base64()}, headers=bearer(token))
        assert assert_error(response, 422, "invalid")["fields"] == {
            "data": "只支持 JPEG、PNG 和 WebP 格式的图片。"
        }
    for header in ("data:image/png;base64,", "DATA:IMAGE/JPEG;BASE64,", ""):
        response = client.post(url, json={"data": header + png_base64()}, headers=bearer(token))
        assert response.status_code == 200, (header, response.get_data(as_text=True))


def test_an_upload_larger_than_a_photo_is_not_read(client, shopper):
    token = api_login(client, shopper)
    body = {"data": "A" * (MAX_PHOTO_BASE64 + 4096)}
    response = client.post(f"{API}/uploads/aftersales-photos", json=body, headers=bearer(token))
    assert_error(response, 413, "too_large")


def test_uploads_are_limited_per_shopper(client, shopper, stranger):
    token, other = api_login(client, shopper), api_login(client, stranger)
    url = f"{API}/uploads/aftersales-photos"
    for _ in range(60):
        assert client.post(url, json={"data": "%%%"}, headers=bearer(token)).status_code == 422
    assert_error(client.post(url, json={"data": png_base64()}, headers=bearer(token)), 429, "rate_limited")
    assert client.post(url, json={"data": png_base64()}, headers=bearer(other)).status_code == 200


def test_a_photo_id_is_its_uploaders_for_a_day(app, client, session, shopper, stranger, tee):
    token = api_login(client, shopper)
    upload = client.post(
        f"{API}/uploads/aftersales-photos", json={"data": png_base64()}, headers=bearer(token)
    )
    photo_id = upload.get_json()["id"]
    order = paid_order(session, shopper, tee.skus[0])

    with app.app_context():
        _owner, key = URLSafeTimedSerializer(app.secret_key, salt=PHOTO_SALT).loads(photo_id)

    with pytest.MonkeyPatch.context() as patch:  # signed a day and a minute ago
        patch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - PHOTO_MAX_AGE - 60)
        stale = URLSafeTimedSerializer(app.secret_key, salt=PHOTO_SALT).dumps([shopper.id, key])
    forged_owner = URLSafeTimedSerializer("not-the-key", salt=PHOTO_SALT).dumps([shopper.id, key])
    other_salt = URLSafeTimedSerializer(app.secret_key, salt="another-use").dumps([shopper.id, key])
    not_private = URLSafeTimedSerializer(app.secret_key, salt=PHOTO_SALT).dumps([shopper.id, "ab/ab.jpg"])
    for bad in (stale, forged_owner, other_salt, not_private, photo_id + "x", "", "a" * 400):
        response = open_request(client, token, order, "return_refund", "质量问题", photo_ids=[bad])
        assert "photo_ids.0" in assert_error(response, 422, "invalid")["fields"], bad
    other = bearer(api_login(client, stranger))
    theirs = paid_order(session, stranger, tee.skus[0], n=2)
    body = {
        "kind": "return_refund",
        "reason": "质量问题",
        "items": [{"line_id": theirs.lines[0].id, "qty": 1}],
    }
    response = client.post(
        f"{API}/orders/{theirs.id}/aftersales", json={**body, "photo_ids": [photo_id]}, headers=other
    )
    assert "photo_ids.0" in assert_error(response, 422, "invalid")["fields"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0

    made = open_request(client, token, order, "return_refund", "质量问题", photo_ids=[photo_id])
    assert made.status_code == 201 and made.get_json()["photo_count"] == 1
    photo = client.get(made.get_json()["photo_urls"][0], headers=bearer(token))
    assert photo.status_code == 200 and photo.headers["Cache-Control"] == "private, no-store"
    assert_error(client.get(made.get_json()["photo_urls"][0], headers=other), 404, "not_found")
    assert_error(client.get(made.get_json()["photo_urls"][0]), 401)


def test_every_post_declares_the_415_it_can_answer(client, shopper):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    posts = [
        "/orders/{order_id}/aftersales/preview",
        "/orders/{order_id}/aftersales",
        "/uploads/aftersales-photos",
        "/aftersales/{request_id}/return-shipment",
        "/aftersales/{request_id}/cancel",
    ]
    for path in posts:
        assert "415" in paths[API + path]["post"]["responses"], path
    token = api_login(client, shopper)
    response = client.post(f"{API}/aftersales/1/cancel", data="x=1", headers=bearer(token))
    assert_error(response, 415, "unsupported_media_type")


def test_withdrawing_follows_the_service(client, session, shopper, tee, shop):
    token = api_login(client, shopper)
    order = paid_order(session, shopper, tee.skus[0])
    made = open_request(client, token, order, "return_refund", "质量问题").get_json()
    assert made["can_cancel"] is True
    refund = session.get(Refund, made["id"])
    orders.returns.approve_return(session, refund, actor=None)
    session.commit()
    waiting = client.get(f"{API}/aftersales/{made['id']}", headers=bearer(token)).get_json()
    assert waiting["can_cancel"] is True and waiting["shopper_action"] == "send_return"
    parcel = {"carrier_code": "yunda", "tracking_no": "YD12345678"}
    sent = client.post(f"{API}/aftersales/{made['id']}/return-shipment", json=parcel, headers=bearer(token))
    assert sent.status_code == 200 and sent.get_json()["can_cancel"] is False
    again = client.post(f"{API}/aftersales/{made['id']}/return-shipment", json=parcel, headers=bearer(token))
    assert_error(again, 409, "conflict")
    assert_error(client.post(f"{API}/aftersales/{made['id']}/cancel", headers=bearer(token)), 409, "conflict")
    session.expire_all()
    assert session.get(type(order), order.id).refund_status == RefundStatus.REQUESTED
