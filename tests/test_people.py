"""Customers (用户管理) and staff (员工) in the back office: who may open which page, disabling an account,
masked contacts, and per-person permissions that apply at the next click."""

import re

import pytest
from sqlalchemy import func, select

from app import orders
from app.accounts import management
from app.accounts.models import GRANTABLE_PERMISSIONS, AccountEvent, Permission, Role, User
from app.accounts.services import AccountError
from app.distribution.models import Distributor
from app.marketing.models import MemberAccount, MemberLevel
from app.orders.events import OrderError
from app.orders.models import Order
from tests import factories
from tests.conftest import csrf_token, login
from tests.test_admin_distribution import flagged_order
from tests.test_admin_distribution import product as product  # noqa: F401 - the fixture, shared
from tests.test_admin_distribution import tree as tree  # noqa: F401 - the fixture, shared

# Reachable by every back-office user: signing in and out, the home page and its menu.
OPEN_TO_ALL_STAFF = {"admin.login", "admin.logout", "admin.dashboard", "admin.nav"}
MONEY_ACTIONS = {
    "admin.refunds_approve",
    "admin.refunds_receive",
    "admin.refunds_complete",
    "admin.refunds_refund_instead",
    "admin.refunds_payments_settle",
    "admin.distribution_withdrawals_approve",
    "admin.distribution_withdrawals_pay",
    "admin.distribution_withdrawals_reject",
    "admin.distribution_withdrawals_bank_csv",
    "admin.distribution_order_void",
}


def admin_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")]


def sample_path(rule) -> str:
    """The rule's URL with made-up values: an id that does not exist, a word for strings."""
    values = {}
    for name, converter in rule._converters.items():
        values[name] = "1" if hasattr(converter, "num_convert") else "2026-01-01"
    return rule.build(values, append_unknown=False)[1]


def post(client, path, data=None, *, page="/admin/"):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, page)})


@pytest.fixture
def staff(app):
    return factories.UserFactory(role="staff", nickname="店员")


def set_permissions(session, user, *permissions):
    session.execute(
        User.__table__.update()
        .where(User.id == user.id)
        .values(permissions=",".join(p.value for p in permissions))
    )
    session.commit()


# ---------------------------------------------------------------- permissions


def test_every_back_office_route_but_sign_in_and_home_needs_a_permission(app):
    missing = [
        rule.endpoint
        for rule in admin_rules(app)
        if rule.endpoint not in OPEN_TO_ALL_STAFF
        and not getattr(app.view_functions[rule.endpoint], "allowed_permissions", None)
    ]
    assert missing == []


def test_money_actions_need_the_money_permission_and_nothing_else_grants_them(app):
    for endpoint in MONEY_ACTIONS:
        assert app.view_functions[endpoint].allowed_permissions == {Permission.MONEY}, endpoint


def test_staff_with_one_permission_open_only_that_permissions_pages(client, session, app, staff):
    """Walk every GET page of the back office as staff holding one permission at a time (and none): a page
    of theirs answers 200 (or 404 for a made-up id); any other answers 403. The change of permissions
    applies at the next request, without logging in again."""
    login(client, staff, admin=True)
    pages = [rule for rule in admin_rules(app) if "GET" in rule.methods and rule.endpoint != "admin.login"]
    assert len(pages) > 40
    for held in [None, *GRANTABLE_PERMISSIONS]:
        set_permissions(session, staff, *([held] if held else []))
        wrong = []
        for rule in pages:
            path = sample_path(rule)
            response = client.get(path)
            if response.status_code == 302 and "/login" not in response.headers["Location"]:
                response = client.get(response.headers["Location"])  # /admin/marketing opens its first tab
            status = response.status_code
            allowed = getattr(app.view_functions[rule.endpoint], "allowed_permissions", None)
            if rule.endpoint in OPEN_TO_ALL_STAFF:
                expected = {200}
            elif held in allowed:
                expected = {200} if not rule.arguments else {200, 404}
            else:
                expected = {403}
            if status not in expected:
                wrong.append((held, path, status))
        assert wrong == []


def test_staff_without_a_permission_cannot_post_to_any_of_its_actions(client, session, app, staff):
    """Every back-office POST (but logging out) refuses a staff member who lacks its permission, before it
    reads the form: with a valid CSRF token and an empty body, the answer is 403 and nothing changes."""
    login(client, staff, admin=True)
    token = csrf_token(client, "/admin/")
    actions = [
        rule
        for rule in admin_rules(app)
        if "POST" in rule.methods and rule.endpoint not in ("admin.login", "admin.logout")
    ]
    assert len(actions) > 40
    for held in [None, Permission.ORDERS, Permission.MONEY]:
        set_permissions(session, staff, *([held] if held else []))
        wrong = []
        for rule in actions:
            if held in app.view_functions[rule.endpoint].allowed_permissions:
                continue
            status = client.post(sample_path(rule), data={"csrf_token": token}).status_code
            if status != 403:
                wrong.append((held, rule.rule, status))
        assert wrong == []


def test_the_staff_page_is_the_owners_alone(client, session, staff):
    set_permissions(session, staff, *GRANTABLE_PERMISSIONS)
    login(client, staff, admin=True)
    assert client.get("/admin/staff").status_code == 403
    assert (
        post(client, f"/admin/staff/{staff.id}/permissions", {"permissions": "settings"}).status_code == 403
    )


def test_the_menu_shows_only_what_the_staff_member_may_open(client, session, staff):
    set_permissions(session, staff, Permission.CUSTOMERS)
    login(client, staff, admin=True)
    html = client.get("/admin/").get_data(as_text=True)
    assert 'href="/admin/customers"' in html
    assert 'href="/admin/orders"' not in html
    assert 'href="/admin/staff"' not in html


# ---------------------------------------------------------------- disabling a customer


@pytest.fixture
def customer(app):
    return factories.UserFactory(nickname="阿梅", mobile="13812345678")


def disable(owner_client, user, reason="刷单", *, kind="customers"):
    return post(owner_client, f"/admin/{kind}/{user.id}/active", {"active": "0", "reason": reason})


def test_a_disabled_customer_is_logged_out_cannot_log_in_and_cannot_order(app, session, customer, owner):
    address = factories.AddressFactory(user=customer)
    product = factories.ProductFactory(skus=[{"spec_values": [], "price_fen": 1000, "stock": 5}])
    shopper = app.test_client()
    login(shopper, customer)
    assert shopper.get("/me").status_code == 200
    merchant = app.test_client()
    login(merchant, owner, admin=True)
    response = disable(merchant, customer)
    assert response.status_code == 302
    # The open session ends at its next request.
    assert shopper.get("/me").status_code == 302
    assert "/login" in shopper.get("/me").headers["Location"]
    # Logging in again is refused, with the right password.
    refused = shopper.post(
        "/login",
        data={
            "mobile": customer.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "csrf_token": csrf_token(shopper),
        },
    )
    assert refused.status_code == 200
    assert "已被停用" in refused.get_data(as_text=True) or "disabled" in refused.get_data(as_text=True)
    # The checkout service refuses too, whatever the view did.
    session.expire_all()
    with pytest.raises(OrderError):
        orders.checkout.place_order(
            session,
            user=session.get(User, customer.id),
            items={product.skus[0].id: 1},
            address_id=address.id,
            idempotency_key="test-idempotency-key-0001",
        )
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Order)) == 0
    event = session.scalars(select(AccountEvent).where(AccountEvent.user_id == customer.id)).one()
    assert (event.kind, event.note, event.actor_id) == ("disabled", "刷单", owner.id)


def test_disabling_keeps_the_commission_and_balance(owner_client, session, customer):
    session.add(
        Distributor(user_id=customer.id, code="AMEI01", frozen_fen=300, available_fen=1200, withdrawn_fen=500)
    )
    session.commit()
    assert disable(owner_client, customer).status_code == 302
    session.expire_all()
    distributor = session.scalar(select(Distributor).where(Distributor.user_id == customer.id))
    assert (distributor.frozen_fen, distributor.available_fen, distributor.withdrawn_fen) == (300, 1200, 500)
    assert distributor.status == "active"
    assert not session.get(User, customer.id).is_active


def test_enabling_again_lets_them_log_in_but_does_not_revive_the_old_session(app, session, customer, owner):
    shopper = app.test_client()
    login(shopper, customer)
    merchant = app.test_client()
    login(merchant, owner, admin=True)
    disable(merchant, customer)
    assert post(merchant, f"/admin/customers/{customer.id}/active", {"active": "1"}).status_code == 302
    assert shopper.get("/me").status_code == 302
    login(shopper, customer)
    assert shopper.get("/me").status_code == 200


def test_disabling_needs_a_reason_csrf_and_happens_once(owner_client, session, customer):
    assert (
        owner_client.post(
            f"/admin/customers/{customer.id}/active", data={"active": "0", "reason": "x"}
        ).status_code
        == 400
    )
    response = post(
        owner_client,
        f"/admin/customers/{customer.id}/active",
        {"active": "0", "reason": " "},
        page=f"/admin/customers/{customer.id}",
    )
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, customer.id).is_active
    disable(owner_client, customer)
    disable(owner_client, customer)  # a second click: refused, nothing more written
    assert session.scalar(select(func.count()).select_from(AccountEvent)) == 1


def test_the_owner_cannot_be_disabled_and_nobody_disables_themselves(session, owner, staff):
    with pytest.raises(AccountError):
        management.set_account_active(session, owner, active=False, actor=staff, reason="x")
    with pytest.raises(AccountError):
        management.set_account_active(session, staff, active=False, actor=staff, reason="x")
    with pytest.raises(AccountError):
        management.set_account_active(session, owner, active=False, actor=owner, reason="x")
    session.rollback()
    assert session.get(User, owner.id).is_active and session.get(User, staff.id).is_active


def test_a_staff_member_cannot_disable_the_owner_through_the_customer_page(client, session, staff, owner):
    login(client, staff, admin=True)
    assert disable(client, owner).status_code == 404
    assert disable(client, staff).status_code == 404
    session.expire_all()
    assert session.get(User, owner.id).is_active


# ---------------------------------------------------------------- the customer list and page


def test_the_list_searches_by_mobile_and_nickname_and_filters(owner_client, session, customer):
    other = factories.UserFactory(nickname="小王", mobile="13900009999")
    level = MemberLevel(name="金卡", growth_threshold=100)
    session.add(level)
    session.flush()
    session.add(MemberAccount(user_id=other.id, growth=100, points=30, level_id=level.id))
    other.referrer_id = customer.id
    session.commit()

    def names(query):
        html = owner_client.get("/admin/customers" + query).get_data(as_text=True)
        return set(re.findall(r'class="fw-semibold" href="/admin/customers/\d+">([^<]+)<', html))

    assert names("") == {"阿梅", "小王"}
    assert names("?q=5678") == {"阿梅"}
    assert names("?q=小王") == {"小王"}
    assert names(f"?level={level.id}") == {"小王"}
    assert names("?level=none") == {"阿梅"}
    assert names("?distributor=referred") == {"小王"}
    assert names("?distributor=unreferred") == {"阿梅"}
    assert names("?orders=yes") == set()
    assert names("?orders=no") == {"阿梅", "小王"}


@pytest.mark.parametrize(
    "query",
    [
        "?q=%25%27%22",
        "?level=abc",
        "?level=-1",
        "?level=99999999999999999999",
        "?distributor=x&orders=zz",
        "?page=-3",
        "?page=abc",
        "?q=" + "长" * 500,
        "?q=%00",
    ],
)
def test_bad_filters_never_fail(owner_client, customer, query):
    assert owner_client.get("/admin/customers" + query).status_code == 200


def test_an_unknown_customer_or_a_staff_members_id_is_not_found(owner_client, owner, staff):
    assert owner_client.get("/admin/customers/999999").status_code == 404
    assert owner_client.get(f"/admin/customers/{staff.id}").status_code == 404
    assert owner_client.get(f"/admin/customers/{owner.id}").status_code == 404


def test_contacts_are_masked_for_staff_without_the_orders_permission(client, session, staff, customer):
    factories.AddressFactory(user=customer, recipient="张三丰", mobile="13712345678", detail="科技园路 1 号")
    set_permissions(session, staff, Permission.CUSTOMERS)
    login(client, staff, admin=True)
    page = client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert "137****5678" in page and "138****5678" in page
    assert "13712345678" not in page and "13812345678" not in page
    assert "科技园路 1 号" not in page and "张三丰" not in page
    listing = client.get("/admin/customers").get_data(as_text=True)
    assert "138****5678" in listing and "13812345678" not in listing
    set_permissions(session, staff, Permission.CUSTOMERS, Permission.ORDERS)
    page = client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert "13712345678" in page and "科技园路 1 号" in page and "张三丰" in page


def test_searching_hidden_digits_does_not_unmask_a_number_for_staff_without_the_orders_permission(
    client, session, staff, customer
):
    """The list shows 138****5678 to staff without the orders permission: a search on digits must not tell
    them the hidden middle (searching 1381, 13812 … one digit at a time would spell it out). The whole
    number (which they already know) and the visible last digits still find the customer."""
    set_permissions(session, staff, Permission.CUSTOMERS)
    login(client, staff, admin=True)

    def found(query):
        html = client.get("/admin/customers?q=" + query).get_data(as_text=True)
        return "阿梅" in html

    assert found("13812345678")
    assert found("5678")
    assert not found("1381")
    assert not found("81234")
    assert not found("38123456")
    set_permissions(session, staff, Permission.CUSTOMERS, Permission.ORDERS)
    assert found("81234")


def test_the_customer_page_shows_orders_spend_points_level_and_referrer(owner_client, session, customer):
    referrer = factories.UserFactory(nickname="推荐人")
    customer.referrer_id = referrer.id
    session.add(MemberAccount(user_id=customer.id, growth=0, points=42))
    session.commit()
    page = owner_client.get(f"/admin/customers/{customer.id}").get_data(as_text=True)
    assert "推荐人" in page and ">42<" in page


# ---------------------------------------------------------------- staff


def test_the_owner_adds_a_new_number_as_staff_with_a_first_password(client, owner_client, session):
    data = {
        "mobile": "13700001111",
        "nickname": "小李",
        "password": "abc12345",
        "permissions": ["orders", "money"],
    }
    assert post(owner_client, "/admin/staff", data, page="/admin/staff").status_code == 302
    member = session.scalar(select(User).where(User.mobile == "13700001111"))
    assert member.role == Role.STAFF
    assert member.granted_permissions == {Permission.ORDERS, Permission.MONEY}
    assert member.check_password("abc12345")


def test_a_shoppers_number_becomes_staff_with_the_owners_password_and_its_old_sessions_end(
    app, owner_client, session, customer
):
    """Signing up needs no proof of the number, so whoever registered it (perhaps not the person the owner
    means) knows the account's password and may hold a session, an API token or a linked WeChat. Made staff,
    the account takes the first password the owner sets; every old way in ends."""
    customer.wechat_openid = "o-stranger-openid"
    session.commit()
    stranger = app.test_client()
    login(stranger, customer)
    assert stranger.get("/me").status_code == 200
    without_password = {"mobile": customer.mobile, "permissions": ["catalog"]}
    assert post(owner_client, "/admin/staff", without_password, page="/admin/staff").status_code == 422
    session.expire_all()
    assert session.get(User, customer.id).role == Role.CUSTOMER

    data = {"mobile": customer.mobile, "password": "new-pass-123", "permissions": ["catalog"]}
    assert post(owner_client, "/admin/staff", data, page="/admin/staff").status_code == 302
    session.expire_all()
    member = session.get(User, customer.id)
    assert member.role == Role.STAFF and member.granted_permissions == {Permission.CATALOG}
    assert member.check_password("new-pass-123")
    assert not member.check_password(factories.DEFAULT_PASSWORD)
    assert member.wechat_openid is None
    assert stranger.get("/admin/products").status_code == 302  # to the login page: the session ended
    assert stranger.get("/me").status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"mobile": "12345"},
        {"mobile": "13700002222"},  # a new number without a first password
        {"mobile": "13700002222", "password": "short"},
        {"mobile": "13700002222", "password": "abc12345", "permissions": ["staff"]},
        {"mobile": "13700002222", "password": "abc12345", "permissions": ["nonsense"]},
        {"mobile": ""},
    ],
)
def test_adding_staff_refuses_bad_input_and_changes_nothing(owner_client, session, data):
    response = post(owner_client, "/admin/staff", data, page="/admin/staff")
    assert response.status_code == 422
    assert session.scalar(select(func.count()).select_from(User).where(User.role == Role.STAFF)) == 0


def test_adding_the_owner_or_a_staff_member_again_is_refused(owner_client, session, owner, staff):
    for user in (owner, staff):
        response = post(owner_client, "/admin/staff", {"mobile": user.mobile}, page="/admin/staff")
        assert response.status_code == 422
    session.expire_all()
    assert session.get(User, owner.id).role == Role.OWNER


def test_changing_permissions_applies_at_the_next_click(app, session, owner, staff):
    member = app.test_client()
    login(member, staff, admin=True)
    assert member.get("/admin/orders").status_code == 200
    merchant = app.test_client()
    login(merchant, owner, admin=True)
    response = post(
        merchant, f"/admin/staff/{staff.id}/permissions", {"permissions": ["catalog"]}, page="/admin/staff"
    )
    assert response.status_code == 302
    assert member.get("/admin/orders").status_code == 403
    assert member.get("/admin/products").status_code == 200
    bad = post(
        merchant, f"/admin/staff/{staff.id}/permissions", {"permissions": ["staff"]}, page="/admin/staff"
    )
    assert bad.status_code == 302  # refused with a message; nothing changed
    session.expire_all()
    assert session.get(User, staff.id).granted_permissions == {Permission.CATALOG}
    assert (
        post(
            merchant, f"/admin/staff/{owner.id}/permissions", {"permissions": []}, page="/admin/staff"
        ).status_code
        == 302
    )
    session.expire_all()
    assert session.get(User, owner.id).granted_permissions == frozenset(Permission)


def test_a_disabled_staff_member_is_out_of_the_back_office(app, session, owner, staff):
    member = app.test_client()
    login(member, staff, admin=True)
    merchant = app.test_client()
    login(merchant, owner, admin=True)
    assert disable(merchant, staff, "离职", kind="staff").status_code == 302
    assert member.get("/admin/orders").status_code == 302
    assert "/admin/login" in member.get("/admin/orders").headers["Location"]
    refused = member.post(
        "/admin/login",
        data={
            "mobile": staff.mobile,
            "password": factories.DEFAULT_PASSWORD,
            "csrf_token": csrf_token(member, "/admin/login"),
        },
    )
    assert refused.status_code == 200
    assert member.get("/admin/orders").status_code == 302


def test_the_owner_cannot_disable_themselves_on_the_staff_page(owner_client, session, owner):
    page = owner_client.get("/admin/staff").get_data(as_text=True)
    assert f"/admin/staff/{owner.id}/active" not in page
    disable(owner_client, owner, kind="staff")
    session.expire_all()
    assert session.get(User, owner.id).is_active


def test_htmx_buttons_answer_their_card(owner_client, session, owner, customer, staff):
    headers = {"HX-Request": "true", "HX-Target": "customer-status"}
    token = csrf_token(owner_client, "/admin/")
    response = owner_client.post(
        f"/admin/customers/{customer.id}/active",
        data={"active": "0", "reason": "刷单", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="customer-status"' in html and "刷单" in html and "<html" not in html
    refused = owner_client.post(
        f"/admin/customers/{customer.id}/active",
        data={"active": "0", "reason": "again", "csrf_token": token},
        headers=headers,
    )
    assert refused.status_code == 422
    response = owner_client.post(
        f"/admin/staff/{staff.id}/permissions",
        data={"permissions": ["reports"], "csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": f"staff-{staff.id}"},
    )
    assert response.status_code == 200
    assert f'id="staff-{staff.id}"' in response.get_data(as_text=True)
    refused = owner_client.post(
        f"/admin/staff/{staff.id}/permissions",
        data={"permissions": ["nonsense"], "csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": f"staff-{staff.id}"},
    )
    assert refused.status_code == 422


# ---------------------------------------------------------------- answers of money actions


def test_a_money_action_answers_staff_without_the_orders_permission_without_the_order_page(
    client, session, staff
):
    """Approving a refund over htmx answers with the refund's card, not the order page (buyer's address and
    mobile): staff holding only the money permission do not see orders, whether the approval succeeds or is
    refused."""
    from tests.test_admin_orders import ask_refund, paid_order

    buyer = factories.UserFactory(mobile="13712340000", nickname="小林")
    address = factories.AddressFactory(
        user=buyer, recipient="林小雨", mobile="18612345678", detail="幸福路 7 号"
    )
    tee = factories.ProductFactory(skus=[{"spec_values": [], "price_fen": 5900, "stock": 50}])
    refund = ask_refund(session, paid_order(session, buyer, address, tee), buyer)
    set_permissions(session, staff, Permission.MONEY)
    login(client, staff, admin=True)
    token = csrf_token(client, "/admin/refunds")
    for _attempt in ("approved", "refused: handled already"):
        answer = client.post(
            f"/admin/refunds/{refund.id}/approve", data={"csrf_token": token}, headers={"HX-Request": "true"}
        )
        assert answer.status_code in (200, 422)
        html = answer.get_data(as_text=True)
        assert "18612345678" not in html and "幸福路 7 号" not in html
        assert "13712340000" not in html and "137****0000" in html


def test_voiding_commission_answers_staff_without_the_distribution_permission_without_the_panel(
    client, session, staff, tree, product
):
    """The commission panel names the buyer with their whole mobile (for distribution staff): staff who may
    void commission but not see distribution get a message only, whether the void is refused or done."""
    a, b, c = tree
    c.mobile = "13655556666"
    session.commit()
    order = flagged_order(session, tree, product, 1)
    set_permissions(session, staff, Permission.MONEY)
    login(client, staff, admin=True)
    token = csrf_token(client, "/admin/")
    for reason in ("", "自买自卖", "自买自卖"):  # refused (no reason), done, refused (nothing left)
        answer = client.post(
            f"/admin/distribution/orders/{order.id}/void",
            data={"reason": reason, "csrf_token": token},
            headers={"HX-Request": "true"},
        )
        assert answer.status_code in (200, 400, 422)
        assert "13655556666" not in answer.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Distributor.frozen_fen).where(Distributor.id == b.id)) == 0


def test_money_pages_show_each_staff_member_only_the_buttons_they_may_press(client, session, staff):
    """The after-sales queue and the money-to-send-back list are open to who handles orders and to who pays
    money: each sees only the buttons their permission lets them press (none answers 403)."""
    from tests.test_admin_orders import ask_refund, flagged_payment, paid_order

    buyer = factories.UserFactory(mobile="13712340000", nickname="小林")
    address = factories.AddressFactory(user=buyer)
    tee = factories.ProductFactory(skus=[{"spec_values": [], "price_fen": 5900, "stock": 50}])
    refund = ask_refund(session, paid_order(session, buyer, address, tee), buyer)
    payment = flagged_payment(session, buyer, address, tee)
    login(client, staff, admin=True)
    approve, reject = f"/admin/refunds/{refund.id}/approve", f"/admin/refunds/{refund.id}/reject"
    settle = f"/admin/payments/{payment.id}/settle"

    set_permissions(session, staff, Permission.MONEY)
    queue, flagged = client.get("/admin/refunds").text, client.get("/admin/payments").text
    assert approve in queue and reject not in queue and settle in flagged

    set_permissions(session, staff, Permission.ORDERS)
    queue, flagged = client.get("/admin/refunds").text, client.get("/admin/payments").text
    assert approve not in queue and reject in queue and settle not in flagged
