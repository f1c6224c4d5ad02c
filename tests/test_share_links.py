"""Share links through the web: ?ref=CODE records a visit once a day and binds at registration/login."""

from sqlalchemy import func, select

from app.accounts.models import User
from app.distribution import services as dist
from app.distribution.models import BindingLog, Visit
from tests import factories
from tests.conftest import csrf_token, login

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 Mobile/15E148 MicroMessenger/8.0.50"


def a_distributor(session):
    d = dist.make_distributor(session, factories.UserFactory(), source="merchant")
    session.commit()
    return d


def visits(session):
    return session.scalar(select(func.count()).select_from(Visit))


def test_a_share_link_is_counted_once_per_visitor_page_and_day(client, session):
    d = a_distributor(session)
    product = factories.ProductFactory()
    for _ in range(3):
        assert (
            client.get(f"/p/{product.id}?ref={d.code}", headers={"User-Agent": WECHAT_UA}).status_code == 200
        )
    client.get(f"/?ref={d.code}")
    assert visits(session) == 2
    visit = session.scalar(select(Visit).where(Visit.product_id == product.id))
    assert visit.in_wechat and visit.distributor_id == d.id
    assert len(visit.ip_hash) == 64 and "127.0.0.1" not in visit.ip_hash


def test_the_referrer_survives_registration(client, session):
    d = a_distributor(session)
    client.get(f"/?ref={d.code}")
    response = client.post(
        "/register",
        data={
            "mobile": "13712345678",
            "password": "abc12345",
            "password_again": "abc12345",
            "agree": "y",
            "csrf_token": csrf_token(client, "/register"),
        },
    )
    assert response.status_code == 302
    session.expire_all()
    user = session.scalar(select(User).where(User.mobile == "13712345678"))
    assert user.referrer_id == d.user_id
    log = session.scalar(select(BindingLog).where(BindingLog.user_id == user.id))
    assert log.reason == "first_bind" and log.source == f"/?ref={d.code}"


def test_a_logged_in_shopper_is_bound_when_opening_a_link(client, session):
    d = a_distributor(session)
    shopper = factories.UserFactory()
    login(client, shopper)
    client.get(f"/?ref={d.code}")
    session.expire_all()
    assert session.get(User, shopper.id).referrer_id == d.user_id


def test_unknown_disabled_and_own_codes_are_ignored(client, session):
    d = a_distributor(session)
    disabled = a_distributor(session)
    dist.set_distributor_active(session, disabled, False)
    session.commit()
    for code in ("zzzzzzzz", "bad code!", disabled.code, "x" * 300):
        assert client.get("/", query_string={"ref": code}).status_code == 200
    assert visits(session) == 0
    login(client, d.user)
    client.get(f"/?ref={d.code}")
    session.expire_all()
    assert session.get(User, d.user_id).referrer_id is None


def test_switching_distribution_off_stops_tracking(client, session):
    d = a_distributor(session)
    settings = dist.get_settings(session)
    settings.enabled = False
    session.add(settings)
    session.commit()
    client.get(f"/?ref={d.code}")
    assert visits(session) == 0
