"""After-sales through the pages: a 退货退款 request with a photo, the return address and parcel form, the
back office's buttons, photos only for the buyer and staff, and bad inputs that change nothing."""

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import orders
from app.orders.models import OrderEvent, Refund, RefundRequestStatus
from app.payments import services as payments
from app.settings.models import ShopSettings
from tests import factories
from tests.conftest import csrf_token, login


def png_bytes(size=(48, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def shopper(app):
    return factories.UserFactory()


@pytest.fixture
def tee(app):
    return factories.ProductFactory(
        title="纯棉T恤",
        options=[{"name": "颜色", "values": ["红", "蓝"]}],
        skus=[
            {"spec_values": ["红"], "price_fen": 5900, "stock": 5},
            {"spec_values": ["蓝"], "price_fen": 5900, "stock": 3},
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
            return_address="杭州市文三路 100 号",
        )
    )
    session.commit()


@pytest.fixture
def shipped(session, shopper, tee):
    address = factories.AddressFactory(user=shopper)
    order = orders.checkout.place_order(
        session,
        user=shopper,
        items={tee.skus[0].id: 2},
        address_id=address.id,
        idempotency_key="view-aftersales-0001",
    )
    session.commit()
    payment = payments.start_payment(session, order, "sandbox", user=shopper)
    payments.confirm_payment(
        session, provider="sandbox", out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen
    )
    orders.transitions.ship_order(
        session, order, actor=factories.UserFactory(role="staff"), carrier="顺丰", tracking_no="SF123456789"
    )
    session.commit()
    return order


def client_for(app, user, *, admin=False):
    client = app.test_client()
    login(client, user, admin=admin)
    return client


def ask_with_photo(client, order, files, kind="return_refund", reason="质量问题"):
    path = f"/orders/{order.number}/refund"
    token = csrf_token(client, f"{path}?kind={kind}")
    return client.post(
        path,
        data={
            "csrf_token": token,
            "kind": kind,
            f"qty-{order.lines[0].id}": "1",
            "reason": reason,
            "detail": "领口开线",
            "photos": files,
        },
        content_type="multipart/form-data",
    )


def the_refund(session) -> Refund:
    session.expire_all()
    return session.scalars(select(Refund)).one()


def test_return_with_a_photo_through_the_pages(app, session, shopper, shipped, shop):
    buyer = client_for(app, shopper)
    form = buyer.get(f"/orders/{shipped.number}/refund?kind=return_refund").get_data(as_text=True)
    assert "退货退款" in form and "仅退款" in form and "换货" in form and 'name="photos"' in form
    response = ask_with_photo(buyer, shipped, [(io.BytesIO(png_bytes()), "领口.png")])
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    refund = the_refund(session)
    assert (refund.kind, len(refund.photos)) == ("return_refund", 1)
    assert refund.photos[0].startswith("private/")

    photo = buyer.get(f"/orders/{shipped.number}/refund/{refund.id}/photos/0")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    assert "no-store" in photo.headers["Cache-Control"] and "public" not in photo.headers["Cache-Control"]
    assert app.test_client().get(f"/media/{refund.photos[0]}").status_code == 404  # never public

    staff = client_for(app, factories.UserFactory(role="owner"), admin=True)
    assert staff.get(f"/admin/refunds/{refund.id}/photos/0").status_code == 200
    assert staff.get(f"/admin/refunds/{refund.id}/photos/1").status_code == 404
    queue = staff.get("/admin/refunds").get_data(as_text=True)
    assert "退货退款" in queue and "待商家处理" in queue and "同意退货" in queue

    token = csrf_token(staff, "/admin/refunds")
    assert (
        staff.post(
            f"/admin/refunds/{refund.id}/approve-return",
            data={f"approvereturn{refund.id}-csrf_token": token, "csrf_token": token},
        ).status_code
        == 302
    )
    assert the_refund(session).status == RefundRequestStatus.AWAITING_RETURN

    page = buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
    assert "王店长" in page and "杭州市文三路 100 号" in page and "我已寄出" in page
    token = csrf_token(buyer, f"/orders/{shipped.number}")
    # no carrier, then an empty number: refused with a message, nothing changes
    for data in (
        {"carrier_code": "", "tracking_no": "ZT123456789"},
        {"carrier_code": "zhongtong", "tracking_no": " "},
    ):
        response = buyer.post(
            f"/orders/{shipped.number}/refund/{refund.id}/return", data={"csrf_token": token, **data}
        )
        assert response.status_code == 302
        page = buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
        assert "请选择快递公司" in page or "请输入快递单号" in page, page[page.find("flashes") :][:300]
        assert the_refund(session).status == RefundRequestStatus.AWAITING_RETURN
    buyer.post(
        f"/orders/{shipped.number}/refund/{refund.id}/return",
        data={"csrf_token": token, "carrier_code": "zhongtong", "tracking_no": "ZT123456789"},
    )
    assert the_refund(session).status == RefundRequestStatus.RETURNING

    token = csrf_token(staff, "/admin/refunds")
    for _ in range(2):  # a double click refunds once
        staff.post(
            f"/admin/refunds/{refund.id}/receive",
            data={
                f"receive{refund.id}-csrf_token": token,
                "csrf_token": token,
                f"receive{refund.id}-restock": "y",
            },
        )
    refund = the_refund(session)
    assert refund.status == RefundRequestStatus.REFUNDED and refund.order.refunded_fen == 5900
    assert (
        session.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.action == "refunded"))
        == 1
    )
    page = buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
    for words in ("商家已同意，请寄回商品", "你已寄回商品", "商家已收到退货", "退款成功"):
        assert words in page, words


def test_a_file_that_is_not_a_picture_is_refused(app, session, shopper, shipped, shop):
    buyer = client_for(app, shopper)
    response = ask_with_photo(buyer, shipped, [(io.BytesIO(b"%PDF-1.4 not a picture"), "发票.pdf")])
    assert response.status_code == 422
    assert "不是图片" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Refund)) == 0
    seven = [(io.BytesIO(png_bytes((40 + n, 40))), f"{n}.png") for n in range(7)]
    response = ask_with_photo(buyer, shipped, seven)
    assert response.status_code == 422 and "最多 6 张" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Refund)) == 0


def test_refund_only_on_a_shipped_order_needs_not_received(app, session, shopper, shipped):
    buyer = client_for(app, shopper)
    response = ask_with_photo(buyer, shipped, [], kind="refund_only", reason="不想要了")
    assert response.status_code == 422 and "已发货" in response.get_data(as_text=True)
    response = ask_with_photo(buyer, shipped, [], kind="refund_only", reason="未收到货")
    assert response.status_code == 302
    assert the_refund(session).kind == "refund_only"


def test_another_shopper_cannot_see_or_act_on_a_request(app, session, shopper, shipped, shop):
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, [(io.BytesIO(png_bytes()), "a.png")]).status_code == 302
    refund = the_refund(session)
    orders.returns.approve_return(session, refund, actor=factories.UserFactory(role="staff"))
    session.commit()
    stranger = client_for(app, factories.UserFactory())
    base = f"/orders/{shipped.number}/refund/{refund.id}"
    assert stranger.get(f"{base}/photos/0").status_code == 404
    token = csrf_token(stranger, "/cart")
    response = stranger.post(
        f"{base}/return",
        data={"csrf_token": token, "carrier_code": "zhongtong", "tracking_no": "ZT123456789"},
    )
    assert response.status_code == 404
    assert the_refund(session).status == RefundRequestStatus.AWAITING_RETURN
    # the buyer's own order with another order's request id is not found either
    assert buyer.get(f"/orders/{shipped.number}/refund/{refund.id + 1}/photos/0").status_code == 404
    # nor may a shopper open the back office's photo
    assert stranger.get(f"/admin/refunds/{refund.id}/photos/0").status_code in (302, 403, 404)


def test_settings_keep_the_return_address(app, session, owner_client):
    token = csrf_token(owner_client, "/admin/settings")
    page = owner_client.get("/admin/settings").get_data(as_text=True)
    assert "退货地址" in page
    base = {
        "csrf_token": token,
        "name": "店",
        "low_stock_threshold": "10",
        "shipping_flat_fen": "0",
        "order_expire_minutes": "30",
        "autocomplete_days": "10",
        "aftersales_reply_days": "3",
        "aftersales_return_days": "7",
    }
    response = owner_client.post("/admin/settings", data={**base, "return_contact": "王店长"})
    assert response.status_code in (200, 422) and "一起填写" in response.get_data(as_text=True)
    session.expire_all()
    stored = session.get(ShopSettings, 1)
    assert stored is None or stored.return_contact == ""
    response = owner_client.post(
        "/admin/settings",
        data={
            **base,
            "return_contact": "王店长",
            "return_phone": "13800000000",
            "return_address": "文三路 100 号",
            "aftersales_return_days": "5",
        },
    )
    assert response.status_code == 302
    session.expire_all()
    stored = session.get(ShopSettings, 1)
    assert (stored.return_contact, stored.aftersales_return_days) == ("王店长", 5)


def test_back_office_exchange_and_refusals(app, session, shopper, shipped, tee):
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, [], kind="exchange", reason="尺码/颜色不合适").status_code == 302
    refund = the_refund(session)
    staff = client_for(app, factories.UserFactory(role="owner"), admin=True)
    token = csrf_token(staff, "/admin/refunds")

    def press(action, prefix, **data):
        fields = {f"{prefix}{refund.id}-{k}": v for k, v in data.items()}
        return staff.post(
            f"/admin/refunds/{refund.id}/{action}",
            data={"csrf_token": token, f"{prefix}{refund.id}-csrf_token": token, **fields},
            headers={"HX-Request": "true", "HX-Target": f"refund-{refund.id}"},
        )

    # no return address yet: refused with a message, nothing changes
    response = press("approve-return", "approvereturn")
    assert response.status_code == 422 and "退货地址" in response.get_data(as_text=True)
    assert the_refund(session).status == RefundRequestStatus.REQUESTED
    session.add(ShopSettings(id=1, name="店", return_contact="王", return_phone="138", return_address="杭州"))
    session.commit()
    assert press("approve-return", "approvereturn").status_code == 200
    orders.returns.ship_return(
        session, the_refund(session), shopper, carrier_code="yunda", tracking_no="YD12345678"
    )
    session.commit()
    assert press("receive", "receive").status_code == 200
    page = staff.get(f"/admin/orders/{shipped.number}").get_data(as_text=True)
    assert "换货规格" in page and "待商家发出换货" in page
    other = factories.ProductFactory(title="帽子", skus=[{"spec_values": [], "price_fen": 5900, "stock": 4}])
    response = press(
        "ship-replacement",
        "replace",
        sku_id=str(other.skus[0].id),
        carrier_code="shunfeng",
        tracking_no="SF12345678",
    )
    assert response.status_code == 422 and "同一商品" in response.get_data(as_text=True)
    response = press(
        "ship-replacement", "replace", sku_id=str(tee.skus[1].id), carrier_code="", tracking_no="SF12345678"
    )
    assert response.status_code == 422 and "快递公司" in response.get_data(as_text=True)
    assert the_refund(session).status == RefundRequestStatus.RECEIVED
    response = press(
        "ship-replacement",
        "replace",
        sku_id=str(tee.skus[1].id),
        carrier_code="shunfeng",
        tracking_no="SF12345678",
    )
    assert response.status_code == 200
    refund = the_refund(session)
    assert refund.status == RefundRequestStatus.EXCHANGED and refund.order.refunded_fen == 0
    assert press("refund-instead", "refundinstead").status_code == 422  # shipped: nothing to refund instead
    page = buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
    assert "商家已发出换货商品" in page and "SF12345678" in page


def test_an_open_exchange_is_not_called_a_refund(app, session, shopper, shipped, shop):
    """The order's banner and the order list name the open request's type: an exchange brings no money
    back, so "退款申请中" would promise the shopper (and the distributor) a refund that is not coming."""
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, [], kind="exchange", reason="尺码/颜色不合适").status_code == 302
    for path in (f"/orders/{shipped.number}", "/orders"):
        page = buyer.get(path).get_data(as_text=True)
        assert "换货中" in page, path
        assert "退款申请中" not in page, path


def test_an_open_return_says_return(app, session, shopper, shipped, shop):
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, []).status_code == 302
    page = buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
    assert "退货退款中" in page and "退款申请中" not in page


def test_an_exchange_that_cannot_be_shipped_is_refunded_instead_from_the_back_office(
    app, session, shopper, shipped, tee
):
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, [], kind="exchange", reason="尺码/颜色不合适").status_code == 302
    session.add(ShopSettings(id=1, name="店", return_contact="王", return_phone="138", return_address="杭州"))
    session.commit()
    refund = the_refund(session)
    owner = factories.UserFactory(role="owner")
    orders.returns.approve_return(session, refund, actor=owner)
    orders.returns.ship_return(session, refund, shopper, carrier_code="yunda", tracking_no="YD12345678")
    orders.returns.confirm_return_received(session, refund, actor=owner, restock=False)
    session.commit()
    staff = client_for(app, owner, admin=True)
    page = staff.get(f"/admin/orders/{shipped.number}").get_data(as_text=True)
    action = f"/admin/refunds/{refund.id}/refund-instead"
    assert re.search(
        rf'action="{re.escape(action)}"[^>]*?hx-confirm="确认不换货，改为向 [^"]*退款 ¥', page, re.S
    )
    token = csrf_token(staff, "/admin/refunds")
    # Staff without the money permission may not (the button is not shown to them either).
    orders_only = client_for(app, factories.UserFactory(role="staff", permissions="orders"), admin=True)
    assert "改为退款" not in orders_only.get(f"/admin/orders/{shipped.number}").get_data(as_text=True)
    assert (
        orders_only.post(action, data={"csrf_token": csrf_token(orders_only, "/admin/refunds")}).status_code
        == 403
    )
    response = staff.post(
        action,
        data={"csrf_token": token, f"refundinstead{refund.id}-csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": f"refund-{refund.id}"},
    )
    assert response.status_code == 200
    refund = the_refund(session)
    assert (
        refund.status == RefundRequestStatus.REFUNDED and refund.order.refunded_fen == refund.amount_fen > 0
    )
    assert "商家无法换货，已改为退款" in buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
