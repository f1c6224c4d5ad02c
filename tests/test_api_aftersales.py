"""After-sales in the JSON API (app/api/aftersales.py): each type through the API up to the shopper's last
step, with the merchant's side through the services as the H5 tests do; the options and live preview as the
H5 form shows them; photos as JSON; bad inputs, someone else's order or request, a retried POST."""

import base64
import io

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import orders
from app.orders import exchanges, returns
from app.orders.models import Refund, RefundRequestStatus, RefundStatus
from app.settings.models import ShopSettings
from tests import factories
from tests.test_aftersales import paid_order
from tests.test_api import API, api_login, assert_error, bearer


def png_base64(size=(48, 48)) -> str:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


@pytest.fixture
def shopper(app):
    return factories.UserFactory(mobile="13800002222")


@pytest.fixture
def stranger(app):
    return factories.UserFactory(mobile="13800003333")


@pytest.fixture
def staff(app):
    return factories.UserFactory(role="staff")


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
        ShopSettings(
            id=1,
            name="店",
            return_contact="王店长",
            return_phone="13800000000",
            return_address="浙江省杭州市西湖区文三路 100 号",
        )
    )
    session.commit()


@pytest.fixture
def token(client, shopper):
    return api_login(client, shopper)


def open_request(client, token, order, kind, reason, qty=1, **extra):
    body = {"kind": kind, "reason": reason, "items": [{"line_id": order.lines[0].id, "qty": qty}], **extra}
    return client.post(f"{API}/orders/{order.id}/aftersales", json=body, headers=bearer(token))


def detail(client, token, refund_id) -> dict:
    response = client.get(f"{API}/aftersales/{refund_id}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def the_refund(session, refund_id) -> Refund:
    session.expire_all()
    return session.get(Refund, refund_id)


# --- options and preview -----------------------------------------------------------------------------


def test_options_are_the_h5_forms(client, session, shopper, tee, token):
    paid = paid_order(session, shopper, tee.skus[0], qty=2, ship=False, n=1)
    body = client.get(f"{API}/orders/{paid.id}/aftersales/options", headers=bearer(token)).get_json()
    assert body["available"] is True and body["message"] == ""
    assert [kind["kind"] for kind in body["kinds"]] == ["refund_only"]  # not shipped: only the money
    assert body["kinds"][0]["label"] == "仅退款" and "不想要了" in body["kinds"][0]["reasons"]
    assert body["default_kind"] == "refund_only"
    [line] = body["lines"]
    assert (line["qty"], line["refundable_qty"], line["suggested_qty"]) == (2, 2, 2)
    assert (
        line["paid"]["fen"] == paid.lines[0].paid_fen and line["refundable"]["fen"] == paid.lines[0].paid_fen
    )
    # Everything before shipping: the shipping fee too, as the H5 preview says.
    assert body["preview"]["amount"]["fen"] == paid.total_fen
    assert body["preview"]["shipping"]["fen"] == paid.shipping_fen
    assert body["preview"]["amount"]["display"].startswith("¥")

    shipped = paid_order(session, shopper, tee.skus[0], qty=2, n=2)
    body = client.get(f"{API}/orders/{shipped.id}/aftersales/options", headers=bearer(token)).get_json()
    assert [kind["kind"] for kind in body["kinds"]] == ["refund_only", "return_refund", "exchange"]
    assert body["default_kind"] == "return_refund"
    assert [k["moves_money"] for k in body["kinds"]] == [True, True, False]
    assert body["not_received_reason"] in body["kinds"][0]["reasons"]

    def preview(kind, qty):
        items = [{"line_id": shipped.lines[0].id, "qty": qty}]
        response = client.post(
            f"{API}/orders/{shipped.id}/aftersales/preview",
            json={"kind": kind, "items": items},
            headers=bearer(token),
        )
        assert response.status_code == 200
        return response.get_json()

    one = preview("return_refund", 1)
    assert (one["amount"]["fen"], one["shipping"]["fen"], one["error"]) == (5900, 0, None)
    assert preview("exchange", 1)["amount"]["fen"] == 0 and preview("exchange", 1)["exchange"] is True
    assert preview("return_refund", 3)["error"] == "申请数量不能超过购买数量。"


def test_options_of_an_unpaid_order_say_why_not(client, session, shopper, tee, token):
    address = factories.AddressFactory(user=shopper)
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={tee.skus[0].id: 1},
        address_id=address.id,
        idempotency_key="api-aftersales-unpaid-0001",
    )
    session.commit()
    body = client.get(f"{API}/orders/{order.id}/aftersales/options", headers=bearer(token)).get_json()
    assert body["available"] is False and body["kinds"] == [] and body["message"]
    assert_error(open_request(client, token, order, "refund_only", "不想要了"), 409, "conflict")


# --- each type, up to the shopper's last step --------------------------------------------------------


def test_refund_only_before_shipping(client, session, shopper, staff, tee, token):
    order = paid_order(session, shopper, tee.skus[0], qty=2, ship=False)
    response = open_request(client, token, order, "refund_only", "不想要了", qty=2, description="买多了")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["kind"], body["kind_label"], body["status"]) == ("refund_only", "仅退款", "requested")
    assert body["status_label"] == "等待商家处理"
    assert body["amount"]["fen"] == order.total_fen and body["reason"] == "不想要了：买多了"
    assert body["can_cancel"] is True and body["shopper_action"] == "none" and body["return_address"] is None
    assert body["next_action"]
    refund = the_refund(session, body["id"])
    orders.refunds.approve_refund(session, refund, actor=staff, restock=True)
    session.commit()
    body = detail(client, token, refund.id)
    assert body["status"] == "refunded" and body["can_cancel"] is False and body["next_action"] == ""
    assert len(body["timeline"]) == 3  # asked, approved, refunded — newest first
    assert body["timeline"][-1]["text"] and body["timeline"][0]["at"] >= body["timeline"][-1]["at"]
    assert_error(client.post(f"{API}/aftersales/{refund.id}/cancel", headers=bearer(token)), 409, "conflict")


def test_refund_only_after_shipping_needs_the_parcel_not_received(client, session, shopper, tee, token):
    order = paid_order(session, shopper, tee.skus[0])
    error = assert_error(open_request(client, token, order, "refund_only", "不想要了"), 422, "invalid")
    assert "kind" in error["fields"]
    response = open_request(client, token, order, "refund_only", "未收到货")
    assert response.status_code == 201, response.get_data(as_text=True)


def test_return_and_refund_to_the_shopper_sending_the_goods(
    client, session, shopper, staff, tee, shop, token
):
    order = paid_order(session, shopper, tee.skus[0], qty=2)
    upload = client.post(
        f"{API}/uploads/aftersales-photos", json={"data": png_base64()}, headers=bearer(token)
    )
    assert upload.status_code == 200, upload.get_data(as_text=True)
    response = open_request(
        client, token, order, "return_refund", "质量问题", photo_ids=[upload.get_json()["id"]]
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["amount"]["fen"] == 5900 and body["photo_count"] == 1
    refund = the_refund(session, body["id"])
    assert refund.photos[0].startswith("private/")
    [photo_url] = body["photo_urls"]
    photo = client.get(photo_url, headers=bearer(token))
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert "no-store" in photo.headers["Cache-Control"] and "public" not in photo.headers["Cache-Control"]
    assert_error(
        client.get(f"{API}/aftersales/{refund.id}/photos/1", headers=bearer(token)), 404, "not_found"
    )
    assert_error(client.get(photo_url), 401, "unauthorized")
    assert client.get(f"/media/{refund.photos[0]}").status_code == 404  # never public
    # Not yet approved: nothing to send.
    parcel = {"carrier_code": "zhongtong", "tracking_no": "ZT 7788 9900"}
    assert_error(
        client.post(f"{API}/aftersales/{refund.id}/return-shipment", json=parcel, headers=bearer(token)),
        409,
        "conflict",
    )
    returns.approve_return(session, refund, actor=staff)
    session.commit()
    body = detail(client, token, refund.id)
    assert body["shopper_action"] == "send_return" and body["status"] == "awaiting_return"
    assert body["return_address"] == {
        "contact": "王店长",
        "phone": "13800000000",
        "address": "浙江省杭州市西湖区文三路 100 号",
    }
    assert "zhongtong" in {carrier["code"] for carrier in body["carriers"]}
    bad = client.post(
        f"{API}/aftersales/{refund.id}/return-shipment",
        json={"carrier_code": "nope", "tracking_no": "!!"},
        headers=bearer(token),
    )
    assert "carrier" in assert_error(bad, 422, "invalid")["fields"]
    assert the_refund(session, refund.id).status == RefundRequestStatus.AWAITING_RETURN
    sent = client.post(f"{API}/aftersales/{refund.id}/return-shipment", json=parcel, headers=bearer(token))
    assert sent.status_code == 200, sent.get_data(as_text=True)
    body = sent.get_json()
    assert body["status"] == "returning" and body["shopper_action"] == "none" and body["can_cancel"] is False
    assert body["return_parcel"]["tracking_no"] == "ZT77889900"
    assert body["timeline"][0]["note"] == f"{body['return_parcel']['carrier']} ZT77889900"
    # Sent twice: once.
    again = client.post(f"{API}/aftersales/{refund.id}/return-shipment", json=parcel, headers=bearer(token))
    assert_error(again, 409, "conflict")
    assert_error(client.post(f"{API}/aftersales/{refund.id}/cancel", headers=bearer(token)), 409, "conflict")
    returns.confirm_return_received(session, the_refund(session, refund.id), actor=staff, restock=True)
    session.commit()
    assert detail(client, token, refund.id)["status"] == "refunded"


def test_exchange_to_the_replacement(client, session, shopper, staff, tee, shop, token):
    red, blue = tee.skus
    order = paid_order(session, shopper, red, qty=2)
    response = open_request(client, token, order, "exchange", "尺码/颜色不合适")
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["amount"] is None and body["kind_label"] == "换货"
    refund = the_refund(session, body["id"])
    returns.approve_return(session, refund, actor=staff)
    session.commit()
    parcel = {"carrier_code": "yunda", "tracking_no": "YD12345678"}
    sent = client.post(f"{API}/aftersales/{refund.id}/return-shipment", json=parcel, headers=bearer(token))
    assert sent.status_code == 200
    refund = the_refund(session, refund.id)
    returns.confirm_return_received(session, refund, actor=staff, restock=True)
    exchanges.ship_replacement(
        session, refund, actor=staff, sku_id=blue.id, carrier_code="shunfeng", tracking_no="SF55556666"
    )
    session.commit()
    body = detail(client, token, refund.id)
    assert body["status"] == "exchanged" and body["replacement_parcel"]["tracking_no"] == "SF55556666"
    assert body["replacement_parcel"]["spec_text"] == "蓝"
    assert [entry["note"] for entry in body["timeline"]][0].endswith("SF55556666")


def test_two_lines_cannot_be_exchanged_together(client, session, shopper, tee, token):
    address = factories.AddressFactory(user=shopper)
    red, blue = tee.skus
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={red.id: 1, blue.id: 1},
        address_id=address.id,
        idempotency_key="api-aftersales-two-lines-01",
    )
    session.commit()
    from app.payments import services as payments

    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    orders.transitions.ship_order(
        session, order, actor=factories.UserFactory(role="staff"), carrier="顺丰", tracking_no="SF1234567"
    )
    session.commit()
    items = [{"line_id": line.id, "qty": 1} for line in order.lines]
    body = {"kind": "exchange", "reason": "质量问题", "items": items}
    response = client.post(f"{API}/orders/{order.id}/aftersales", json=body, headers=bearer(token))
    assert "items" in assert_error(response, 422, "invalid")["fields"]
    options = client.get(f"{API}/orders/{order.id}/aftersales/options", headers=bearer(token)).get_json()
    assert [line["suggested_qty"] for line in options["lines"]] == [0, 0]  # as the H5 form: choose


def test_the_shopper_withdraws_and_may_ask_again(client, session, shopper, tee, token):
    order = paid_order(session, shopper, tee.skus[0], ship=False)
    first = open_request(client, token, order, "refund_only", "不想要了").get_json()
    withdrawn = client.post(f"{API}/aftersales/{first['id']}/cancel", headers=bearer(token))
    assert withdrawn.status_code == 200
    assert withdrawn.get_json()["status"] == "cancelled" and withdrawn.get_json()["status_label"] == "已撤回"
    assert_error(
        client.post(f"{API}/aftersales/{first['id']}/cancel", headers=bearer(token)), 409, "conflict"
    )
    second = open_request(client, token, order, "refund_only", "不想要了")
    assert second.status_code == 201
    listed = client.get(f"{API}/aftersales", headers=bearer(token)).get_json()
    assert [item["id"] for item in listed["items"]] == [second.get_json()["id"], first["id"]]
    page = client.get(f"{API}/aftersales?limit=1&page=2", headers=bearer(token)).get_json()
    assert [item["id"] for item in page["items"]] == [first["id"]] and page["has_more"] is False
    assert client.get(f"{API}/aftersales?limit=1", headers=bearer(token)).get_json()["has_more"] is True


# --- refusals ----------------------------------------------------------------------------------------


def test_a_retried_post_opens_one_request(client, session, shopper, tee, token):
    order = paid_order(session, shopper, tee.skus[0], ship=False)
    assert open_request(client, token, order, "refund_only", "不想要了").status_code == 201
    again = open_request(client, token, order, "refund_only", "不想要了")
    assert "售后" in assert_error(again, 409, "already_open")["message"]
    count = session.scalar(select(func.count()).select_from(Refund).where(Refund.order_id == order.id))
    assert count == 1
    options = client.get(f"{API}/orders/{order.id}/aftersales/options", headers=bearer(token)).get_json()
    assert options["available"] is False and options["message"] == "该订单已有进行中的售后申请。"


def test_bad_inputs_change_nothing(client, session, shopper, stranger, tee, token):
    order = paid_order(session, shopper, tee.skus[0], qty=2)
    line = order.lines[0].id
    url = f"{API}/orders/{order.id}/aftersales"

    def refused(body, field, status=422):
        error = assert_error(client.post(url, json=body, headers=bearer(token)), status, "invalid")
        assert field in error["fields"], error
        return error

    base = {"kind": "return_refund", "reason": "质量问题", "items": [{"line_id": line, "qty": 1}]}
    refused({**base, "kind": "swap"}, "kind")
    refused({**base, "reason": "随便"}, "reason")  # not one of the type's reasons
    refused({**base, "reason": "其他"}, "description")  # 其他 needs words
    refused({**base, "description": "长" * 151}, "description")
    refused({**base, "items": []}, "items")
    refused({**base, "items": [{"line_id": line, "qty": 3}]}, "items")  # more than bought
    refused({**base, "items": [{"line_id": line, "qty": 0}]}, "items")  # nothing chosen
    refused({**base, "items": [{"line_id": line + 1000, "qty": 1}]}, "items")  # not this order's line
    refused({**base, "items": [{"line_id": line, "qty": -1}]}, "items.0.qty")
    refused({**base, "photo_ids": ["forged"]}, "photo_ids.0")
    # Another user's photo id is not theirs to attach.
    other = api_login(client, stranger)
    theirs = client.post(
        f"{API}/uploads/aftersales-photos", json={"data": png_base64()}, headers=bearer(other)
    )
    refused({**base, "photo_ids": [theirs.get_json()["id"]]}, "photo_ids.0")
    refused({**base, "photo_ids": ["x"] * 7}, "photo_ids")
    assert_error(client.post(url, data="kind=exchange", headers=bearer(token)), 415)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Refund)) == 0
    assert session.get(type(order), order.id).refund_status == RefundStatus.NONE


def test_photo_uploads_are_checked_as_on_the_h5_form(app, client, shopper, token):
    url = f"{API}/uploads/aftersales-photos"
    assert (
        "data" in assert_error(client.post(url, json={"data": "%%%"}, headers=bearer(token)), 422)["fields"]
    )
    pdf = base64.b64encode(b"%PDF-1.4 not a picture").decode()
    assert "data" in assert_error(client.post(url, json={"data": pdf}, headers=bearer(token)), 422)["fields"]
    assert_error(client.post(url, json={"data": ""}, headers=bearer(token)), 422)
    app.config["MAX_IMAGE_BYTES"] = 200
    big = client.post(url, json={"data": png_base64((300, 300))}, headers=bearer(token))
    assert "MB" in assert_error(big, 422)["fields"]["data"]
    app.config["MAX_IMAGE_BYTES"] = 5 * 1024 * 1024
    bomb = client.post(url, json={"data": png_base64((9000, 10))}, headers=bearer(token))
    assert "data" in assert_error(bomb, 422)["fields"]
    ok = client.post(url, json={"data": "data:image/png;base64," + png_base64()}, headers=bearer(token))
    assert ok.status_code == 200 and ok.get_json()["id"]
    assert_error(client.post(url, json={"data": png_base64()}), 401)


def test_exif_is_dropped_from_an_uploaded_photo(app, client, session, shopper, tee, token):
    image = Image.new("RGB", (40, 30), (200, 10, 10))
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    assert b"SecretPhoneMaker" in out.getvalue()
    data = base64.b64encode(out.getvalue()).decode()
    upload = client.post(f"{API}/uploads/aftersales-photos", json={"data": data}, headers=bearer(token))
    assert upload.status_code == 200
    order = paid_order(session, shopper, tee.skus[0])
    body = open_request(
        client, token, order, "return_refund", "质量问题", photo_ids=[upload.get_json()["id"]]
    )
    refund = the_refund(session, body.get_json()["id"])
    from app.media import private_image

    stored, _content_type = private_image(refund.photos[0])
    assert b"SecretPhoneMaker" not in stored


def test_another_users_order_or_request_is_not_found(client, session, shopper, stranger, tee, token):
    order = paid_order(session, shopper, tee.skus[0], ship=False)
    refund_id = open_request(client, token, order, "refund_only", "不想要了").get_json()["id"]
    other = bearer(api_login(client, stranger))
    body = {"kind": "refund_only", "reason": "不想要了", "items": [{"line_id": order.lines[0].id, "qty": 1}]}
    assert_error(client.get(f"{API}/orders/{order.id}/aftersales/options", headers=other), 404, "not_found")
    assert_error(
        client.post(f"{API}/orders/{order.id}/aftersales/preview", json=body, headers=other), 404, "not_found"
    )
    assert_error(
        client.post(f"{API}/orders/{order.id}/aftersales", json=body, headers=other), 404, "not_found"
    )
    assert_error(client.get(f"{API}/aftersales/{refund_id}", headers=other), 404, "not_found")
    assert_error(client.get(f"{API}/aftersales/{refund_id}/photos/0", headers=other), 404, "not_found")
    assert_error(client.post(f"{API}/aftersales/{refund_id}/cancel", headers=other), 404, "not_found")
    parcel = {"carrier_code": "yunda", "tracking_no": "YD12345678"}
    assert_error(
        client.post(f"{API}/aftersales/{refund_id}/return-shipment", json=parcel, headers=other),
        404,
        "not_found",
    )
    assert client.get(f"{API}/aftersales", headers=other).get_json()["items"] == []
    for missing in (refund_id + 1000, 2**31 - 1, 2**40):
        assert_error(client.get(f"{API}/aftersales/{missing}", headers=bearer(token)), 404, "not_found")
        assert_error(client.get(f"{API}/orders/{missing}/aftersales/options", headers=bearer(token)), 404)
    assert the_refund(session, refund_id).status == RefundRequestStatus.REQUESTED
    assert_error(client.get(f"{API}/aftersales"), 401, "unauthorized")


def test_every_aftersales_endpoint_is_described_with_its_statuses(client):
    paths = client.get(f"{API}/openapi.json").get_json()["paths"]
    expected = {
        ("/orders/{order_id}/aftersales/options", "get"): {"200", "401", "404", "422"},
        ("/orders/{order_id}/aftersales/preview", "post"): {"200", "401", "404", "422"},
        ("/orders/{order_id}/aftersales", "post"): {"201", "401", "404", "409", "422"},
        ("/uploads/aftersales-photos", "post"): {"200", "401", "413", "422"},
        ("/aftersales", "get"): {"200", "401", "422"},
        ("/aftersales/{request_id}", "get"): {"200", "401", "404", "422"},
        ("/aftersales/{request_id}/return-shipment", "post"): {"200", "401", "404", "409", "422"},
        ("/aftersales/{request_id}/cancel", "post"): {"200", "401", "404", "409", "422"},
        ("/aftersales/{request_id}/photos/{index}", "get"): {"200", "401", "404"},
    }
    for (path, method), statuses in expected.items():
        operation = paths[API + path][method]
        assert statuses <= set(operation["responses"]), (path, operation["responses"].keys())
        assert operation["security"] == [{"bearer": []}]


def test_the_fuzzer_on_a_shoppers_own_order_and_request(app, session, shopper, tee, shop, token):
    """Schemathesis over the after-sales operations, signed in as a shopper whose order and request exist
    (ids from 1: the small numbers Hypothesis tries first): no 5xx, every answer as described."""
    import schemathesis
    from hypothesis import given

    from tests.test_api_fuzz import CHECKS, FUZZ_SETTINGS

    order = paid_order(session, shopper, tee.skus[0], qty=2)
    orders.refunds.request_refund(
        session, order, shopper, items={order.lines[0].id: 1}, reason="质量问题", kind="return_refund"
    )
    session.commit()
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", app)
    walked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if "aftersales" not in operation.path:
            continue

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case):
            case.call_and_validate(headers=bearer(token), checks=CHECKS)

        run()
        walked.append(operation.path)
    assert len(walked) == 9
