"""Whole pages for first-time visitors, kept in memory (app/page_cache.py): served again while nothing they
show has changed, and never stale after a change — a price, a stock, a promotion, a shop setting — made by
this worker or by any other instance on the same database."""

import gzip
import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.catalog.models import Sku
from app.distribution.models import Visit
from app.extensions import db
from app.marketing import campaigns
from app.page_cache import HIT_HEADER
from app.payments.settings import PaymentSettingsInput, save_payment_settings
from app.settings.services import update_shop_settings
from app.timeutil import utcnow
from tests import factories
from tests.conftest import IsolatedClient, base_config, counting_statements, login
from tests.test_distribution import distributor


def visit(app, path: str, cookie_client=None) -> tuple[str, int]:
    """(page, SQL statements it took through SQLAlchemy) for a first-time visitor (a new browser), or for
    `cookie_client`. A kept page takes none: the counter is read through the driver itself."""
    with app.app_context():
        engine = db.engine
    with counting_statements(engine) as statements:
        response = (cookie_client or app.test_client()).get(path)
    assert response.status_code == 200, path
    kept = response.headers.get(HIT_HEADER) == "hit"
    assert kept == (not statements), (path, kept, statements)
    return response.get_data(as_text=True), len(statements)


def test_a_first_time_visitor_gets_the_page_kept_from_the_visitor_before(app, session):
    product = factories.ProductFactory(title="手冲咖啡壶")
    session.commit()
    for path in ("/", f"/p/{product.id}", "/search?q=%E5%92%96%E5%95%A1", "/categories"):
        first, made = visit(app, path)
        again, served = visit(app, path)
        assert again == first
        assert served == 0 < made


def test_a_new_detail_picture_shows_on_the_next_request(app, session):
    from app.catalog.models import ProductDetailImage

    product = factories.ProductFactory()
    session.commit()
    path = f"/p/{product.id}"
    visit(app, path)
    assert visit(app, path)[1] == 0  # kept
    session.add(
        ProductDetailImage(product_id=product.id, image_key="dd/" + "d" * 32 + ".jpg", width=8, height=9)
    )
    session.commit()
    page, made = visit(app, path)
    assert made > 0 and "d" * 32 in page


def test_a_price_a_stock_and_a_setting_show_on_the_next_request(app, session):
    product = factories.ProductFactory(skus=[{"price_fen": 99_00, "stock": 7}])
    session.commit()
    path = f"/p/{product.id}"
    page, _ = visit(app, path)
    assert "¥99.00" in page and "7" in page

    product.skus[0].price_fen = 88_00  # through the ORM
    session.commit()
    assert "¥88.00" in visit(app, path)[0]

    sku_id = product.skus[0].id
    session.expunge_all()  # as checkout does: a conditional UPDATE, no object loaded
    session.execute(update(Sku).where(Sku.id == sku_id, Sku.stock >= 4).values(stock=Sku.stock - 4))
    session.commit()
    assert "库存 3 件" in visit(app, path)[0]

    update_shop_settings(session, name="新名字小店")
    session.commit()
    assert "新名字小店" in visit(app, path)[0]


def test_a_promotion_shows_on_the_next_request(app, session):
    product = factories.ProductFactory(skus=[{"price_fen": 50_00}])
    session.commit()
    path = f"/p/{product.id}"
    assert "¥40.00" not in visit(app, path)[0]
    factories.running_discount(session, campaigns.ItemDraft(product.skus[0].id, price_fen=40_00))
    session.commit()
    assert "¥40.00" in visit(app, path)[0]


def test_a_rolled_back_change_keeps_the_page(app, session):
    product = factories.ProductFactory()
    session.commit()
    path = f"/p/{product.id}"
    visit(app, path)
    product.title = "没有保存的名字"
    session.flush()
    session.rollback()
    session.add(factories.UserFactory.build())  # a commit that touches nothing a page shows
    session.commit()
    assert visit(app, path)[1] == 0


def test_a_savepoint_rolled_back_after_a_change_still_ends_the_page(app, session):
    """A stock change, then a savepoint that fails (an order number taken, say) and is rolled back: the
    change is committed, so the page kept before it must not be served again."""
    product = factories.ProductFactory(skus=[{"price_fen": 10_00, "stock": 7}])
    taken = factories.UserFactory().mobile
    session.commit()
    path = f"/p/{product.id}"
    visit(app, path)
    session.execute(update(Sku).where(Sku.product_id == product.id).values(stock=0))
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(factories.UserFactory.build(mobile=taken))
        session.flush()
    session.commit()
    assert session.scalar(select(Sku.stock).where(Sku.product_id == product.id)) == 0
    assert visit(app, path)[1] > 0


def test_the_counter_is_raised_at_the_commit_not_when_a_savepoint_is_released(app, session):
    """Its row stays locked from the raise to the commit: raised at a savepoint, every paid order after it
    waited for the others to commit (payments write a savepoint for the commission explanation)."""
    product = factories.ProductFactory(skus=[{"price_fen": 10_00, "stock": 7}])
    session.commit()
    with counting_statements() as statements:
        session.execute(update(Sku).where(Sku.product_id == product.id).values(stock=6))
        with session.begin_nested():
            session.add(factories.UserFactory.build())
        raised_early = [s for s in statements if "page_generation" in s]
        session.commit()
    assert raised_early == []
    assert [s for s in statements if "page_generation" in s]


def test_another_instance_on_the_same_database_sees_the_change_at_once(app, session, db_url, tmp_path):
    product = factories.ProductFactory(skus=[{"price_fen": 12_00}])
    session.commit()
    other = create_app(base_config(db_url, tmp_path / "other"))
    other.test_client_class = IsolatedClient
    path = f"/p/{product.id}"
    assert "¥12.00" in visit(other, path)[0]
    assert visit(other, path)[1] == 0  # kept there
    product.skus[0].price_fen = 13_00  # this instance changes it
    session.commit()
    assert "¥13.00" in visit(other, path)[0]
    with other.app_context():
        db.engine.dispose()


def test_a_visitor_with_a_session_gets_a_page_of_their_own_and_it_is_not_kept(app, session):
    product = factories.ProductFactory()
    session.commit()
    path = f"/p/{product.id}"
    mine = app.test_client()
    token = mine.get("/csrf-token").get_json()["token"]
    mine.post(
        "/cart/add",
        data={"sku_id": product.skus[0].id, "qty": 1},
        headers={"X-CSRFToken": token, "HX-Request": "1"},
    )
    page, made = visit(app, path, mine)
    assert '"X-CSRFToken": ""' not in page and made > 1  # their own token (signed anew each second)
    assert "cart-badge_empty" not in page  # their cart badge shows their one item
    assert visit(app, path, mine)[1] > 1
    anonymous, _ = visit(app, path)
    assert '"X-CSRFToken": ""' in anonymous and "cart-badge_empty" in anonymous


def test_a_shopper_back_with_only_the_remember_me_cookie_gets_a_page_of_their_own(app, session):
    shopper = factories.UserFactory()
    product = factories.ProductFactory()
    session.commit()
    path = f"/p/{product.id}"
    visit(app, path)
    assert visit(app, path)[1] == 0  # kept for first-time visitors
    mine = app.test_client()
    login(mine, shopper)
    mine.delete_cookie(app.config["SESSION_COOKIE_NAME"])  # the browser was closed: only remember-me is left
    assert mine.get_cookie(app.config["REMEMBER_COOKIE_NAME"]) is not None
    page, statements = visit(app, path, mine)
    assert statements > 0 and '"X-CSRFToken": ""' not in page  # signed in again, with a token of their own


def test_every_share_visit_is_recorded(app, session):
    product = factories.ProductFactory()
    code = distributor(session).code
    for _ in range(3):
        visit(app, f"/p/{product.id}?ref={code}")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Visit)) == 3


def test_the_cache_can_be_turned_off(app, session):
    app.config["PAGE_CACHE_SECONDS"] = 0
    visit(app, "/")
    assert visit(app, "/")[1] > 1


def test_a_promotion_that_starts_or_ends_on_its_own_shows_at_that_moment(app, session):
    app.config["PAGE_CACHE_SECONDS"] = 3600  # so only the promotion's own moments can end a kept page
    product = factories.ProductFactory(skus=[{"price_fen": 50_00}])
    session.commit()
    path = f"/p/{product.id}"
    start = utcnow() + timedelta(seconds=3)
    campaigns.save_timed_discount(
        session,
        None,
        {
            "name": "整点",
            "starts_at": start,
            "ends_at": start + timedelta(seconds=2),
            "items": [campaigns.ItemDraft(product.skus[0].id, price_fen=40_00)],
        },
    )
    session.commit()
    assert "¥40.00" not in visit(app, path)[0]
    assert visit(app, path)[1] == 0  # kept until the start
    assert utcnow() < start, "the machine was too slow to see the page before the start"
    time.sleep(max(0.0, (start - utcnow()).total_seconds()) + 0.1)
    assert "¥40.00" in visit(app, path)[0]
    time.sleep(2)
    assert "¥40.00" not in visit(app, path)[0]


def test_a_kept_page_counts_down_from_the_time_it_is_served(app, session):
    product = factories.ProductFactory(skus=[{"price_fen": 50_00}])
    factories.running_discount(session, campaigns.ItemDraft(product.skus[0].id, price_fen=40_00))
    session.commit()
    path = f"/p/{product.id}"

    def countdown(page: str) -> tuple[int, int]:
        found = re.search(r'data-countdown-end="(\d+)" data-server-now="(\d+)"', page)
        return int(found[1]), int(found[2])

    end, made_at = countdown(visit(app, path)[0])
    assert 3590 <= end - made_at <= 3600  # the discount ends in an hour
    time.sleep(1.1)
    page, statements = visit(app, path)
    assert statements == 0  # the kept page …
    served_end, served_at = countdown(page)
    assert served_end == end and made_at + 1 <= served_at <= made_at + 2  # … with the server's time of now


def test_a_kept_page_goes_gzipped_to_a_browser_that_takes_it(app, session):
    product = factories.ProductFactory(title="压缩测试壶")
    session.commit()
    path = f"/p/{product.id}"
    first, _ = visit(app, path)
    taking = app.test_client().get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert taking.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in taking.headers["Vary"]
    assert gzip.decompress(taking.get_data()).decode() == first
    assert int(taking.headers["Content-Length"]) < len(first.encode()) / 2
    for refusing in ("identity", "gzip;q=0, identity"):
        plain = app.test_client().get(path, headers={"Accept-Encoding": refusing})
        assert "Content-Encoding" not in plain.headers and plain.get_data(as_text=True) == first


WECHAT_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.47"


def test_a_page_kept_inside_wechat_gives_way_to_the_silent_login_once_it_is_set_up(app, session):
    for _ in range(2):
        kept = app.test_client().get("/", headers={"User-Agent": WECHAT_UA})
    assert kept.status_code == 200 and kept.headers.get(HIT_HEADER) == "hit"
    save_payment_settings(
        session, PaymentSettingsInput(wechat_appid="wx0123456789abcdef", wechat_app_secret="s" * 32)
    )
    session.commit()
    first = app.test_client().get("/", headers={"User-Agent": WECHAT_UA})
    assert first.status_code == 302 and first.headers["Location"].startswith("/pay/wechat/oauth?")


def test_behind_a_proxy_each_shop_address_gets_the_page_made_for_it(session, db_url, tmp_path):
    product = factories.ProductFactory()
    session.commit()
    proxied = create_app(base_config(db_url, tmp_path / "proxied") | {"TRUSTED_PROXIES": 1})
    path = f"/p/{product.id}"
    try:
        for _ in range(2):
            for host in ("a.shop.test", "b.shop.test"):
                response = proxied.test_client().get(path, headers={"X-Forwarded-Host": host})
                page = response.get_data(as_text=True)
                assert f'href="http://{host}{path}"' in page and ".shop.test" not in page.replace(host, "")
        assert response.headers.get(HIT_HEADER) == "hit"
        # headers the README's nginx does not set reach the app as the visitor sent them: none may change
        # the page kept for everyone else
        for forged in ({"X-Forwarded-Prefix": "//attacker.example"}, {"X-Forwarded-Proto": "https"}):
            product.title += "，新"  # the kept pages end: the forged request's page is the one made next
            session.commit()
            proxied.test_client().get(path, headers={"X-Forwarded-Host": "a.shop.test", **forged})
            page = proxied.test_client().get(path, headers={"X-Forwarded-Host": "a.shop.test"})
            assert f'href="http://a.shop.test{path}"' in page.get_data(as_text=True)
            assert "attacker.example" not in page.get_data(as_text=True)
    finally:
        with proxied.app_context():
            db.engine.dispose()
