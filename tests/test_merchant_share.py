"""The merchant's own sharing (推广) and the dashboard's first-run checklist, through the services and the test
client (CSRF on, both databases): the link carries no distributor and binds nobody, the QR codes and posters
are real PNGs behind the back-office login, posters are cached by what they show, and each checklist step
ticks from the shop's data."""

import io
import re
import threading
from html import unescape
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import orders
from app.accounts.models import User
from app.catalog.models import Product
from app.distribution import checklist
from app.distribution import services as dist
from app.distribution.models import BindingLog, Commission, LedgerEntry, MerchantMilestone, Visit
from app.distribution.posters import Poster, cached_file
from app.distribution.shop_posters import ShopPoster, showcase_items
from app.payments.settings import save_payment_settings
from app.settings.services import get_shop_settings
from tests import factories
from tests.conftest import csrf_token, login
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat
from tests.test_distribution import bind, buy, distributor, settings


@pytest.fixture(autouse=True)
def own_posters(app, tmp_path):
    """Posters are cached under instance/posters: each test draws into its own folder."""
    app.instance_path = str(tmp_path / "instance")


def steps(app, session) -> dict[str, bool]:
    session.expire_all()
    return {step.key: step.done for step in checklist.first_run_checklist(app, session).steps}


def shop(session, **values):
    row = get_shop_settings(session)
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    session.commit()


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def png(response, size=None) -> Image.Image:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data))
    image.load()
    assert image.format == "PNG"
    if size:
        assert image.size == size
    return image


# ---------------------------------------------------------------- the checklist, step by step


def test_every_step_starts_undone_and_ticks_from_its_own_data(app, session, owner):
    assert steps(app, session) == dict.fromkeys(checklist.STEP_TEXTS, False)  # sandbox payment does not count

    shop(session, name="小满杂货")
    assert not steps(app, session)["shop"]  # a name without a logo is half the step
    shop(session, logo_key="aa/bb/logo.png")
    assert steps(app, session)["shop"]

    shop(session, manual_payment_enabled=True)
    assert not steps(app, session)["payment"]  # transfers on, but nowhere to transfer to
    shop(session, manual_payment_text="招商银行 6225 0000 0000 0000")
    assert steps(app, session)["payment"]

    product = factories.ProductFactory(is_on_shelf=False)
    assert not steps(app, session)["product"]
    product.is_on_shelf = True
    product.skus[0].is_active = False
    session.commit()
    assert not steps(app, session)["product"]  # on shelf with nothing to buy
    product.skus[0].is_active = True
    session.commit()
    assert steps(app, session)["product"]

    assert not steps(app, session)["distribution"]  # the defaults are shown, not saved
    settings(session)
    assert steps(app, session)["distribution"]

    assert checklist.record_milestone(session, checklist.FIRST_SHARE, owner.id)
    session.commit()
    assert not checklist.record_milestone(session, checklist.FIRST_SHARE, owner.id)  # once
    assert count(session, MerchantMilestone) == 1
    assert steps(app, session)["share"]

    shopper = factories.UserFactory()
    address = factories.AddressFactory(user=shopper)
    orders.checkout.place_order(
        session,
        user=shopper,
        items={product.skus[0].id: 1},
        address_id=address.id,
        idempotency_key="merchant-share-unpaid-000001",
    )
    session.commit()
    assert not steps(app, session)["order"]  # placed, not paid
    buy(session, shopper, product)
    result = checklist.first_run_checklist(app, session)
    assert result.complete and result.done_count == 6 and not result.shown


def test_hiding_the_checklist_is_remembered(app, session, owner):
    assert checklist.first_run_checklist(app, session).shown
    checklist.record_milestone(session, checklist.CHECKLIST_HIDDEN, owner.id)
    session.commit()
    result = checklist.first_run_checklist(app, session)
    assert not result.shown and not result.complete
    with pytest.raises(ValueError):
        checklist.record_milestone(session, "something_else", owner.id)


def test_the_dashboard_shows_progress_and_links_each_step(app, session, owner_client):
    shop(session, name="小满杂货", logo_key="aa/bb/logo.png")
    factories.ProductFactory()
    html = owner_client.get("/admin/").get_data(as_text=True)
    assert 'id="first-run"' in html
    assert "已完成 2/6" in html
    done = dict(re.findall(r'data-step="(\w+)" data-done="(\d)"', html))
    assert done == {
        "shop": "1",
        "payment": "0",
        "product": "1",
        "distribution": "0",
        "share": "0",
        "order": "0",
    }
    for path in (
        "/admin/settings",
        "/admin/settings/payments",
        "/admin/distribution/settings",
        "/admin/promote",
    ):
        assert f'href="{path}"' in html
    # The next step to do is the first one not done.
    assert re.search(r'first-run-step is-next" data-step="payment"', html)


def test_hide_needs_csrf_and_the_settings_permission(app, session, client, owner):
    staff = factories.UserFactory(role="staff")
    login(client, staff, admin=True)
    assert 'id="first-run"' not in client.get("/admin/").get_data(as_text=True)  # not staff's to do
    token = csrf_token(client, "/admin/")
    assert client.post("/admin/checklist/hide", data={"csrf_token": token}).status_code == 403
    client.post("/admin/logout", data={"csrf_token": token})

    login(client, owner, admin=True)
    assert client.post("/admin/checklist/hide").status_code == 400  # no CSRF token
    assert not checklist.has_milestone(session, checklist.CHECKLIST_HIDDEN)
    token = csrf_token(client, "/admin/")
    response = client.post("/admin/checklist/hide", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/admin/")
    assert 'id="first-run"' not in client.get("/admin/").get_data(as_text=True)
    assert session.get(MerchantMilestone, checklist.CHECKLIST_HIDDEN).user_id == owner.id


# ---------------------------------------------------------------- the merchant's link


def test_the_merchant_link_carries_no_ref_binds_nobody_and_earns_no_commission(app, session, owner_client):
    settings(session, mode="everyone")
    distributor(session)  # a distributor exists: a link with their code would bind and pay them
    product = factories.ProductFactory(title="云南小粒咖啡豆", skus=[{"price_fen": 10000, "stock": 50}])
    html = owner_client.get(f"/admin/products/{product.id}/promote").get_data(as_text=True)
    link = unescape(re.search(r'id="promote-link" value="([^"]+)"', html).group(1))
    assert link == f"http://localhost/p/{product.id}"
    assert "ref" not in link

    shopper = factories.UserFactory()
    shopper_client = app.test_client()
    login(shopper_client, shopper)
    assert shopper_client.get(link.removeprefix("http://localhost")).status_code == 200
    order = buy(session, shopper, product)
    session.expire_all()
    assert session.get(User, shopper.id).referrer_id is None
    assert count(session, BindingLog) == 0 and count(session, Visit) == 0
    assert order.paid_at is not None and count(session, Commission) == 0


def test_the_whole_shop_link_is_the_plain_home_page(app, session, owner_client):
    html = owner_client.get("/admin/promote").get_data(as_text=True)
    assert 'id="promote-link" value="http://localhost/"' in html
    assert 'id="promote-no-logo"' in html


# ---------------------------------------------------------------- pictures and who may have them


def test_qr_and_posters_are_real_pngs_and_downloading_one_ticks_the_share_step(app, session, owner_client):
    product = factories.ProductFactory(title="云南小粒咖啡豆")
    base = f"/admin/products/{product.id}/promote"
    png(owner_client.get(f"{base}/poster.png"), (750, 1200))
    qr = png(owner_client.get(f"{base}/qr.png"))
    assert qr.width == qr.height
    png(owner_client.get("/admin/promote/poster.png"), (750, 1200))
    png(owner_client.get("/admin/promote/qr.png"))
    assert not checklist.has_milestone(session, checklist.FIRST_SHARE)  # looking is not sharing

    response = owner_client.get(f"{base}/poster.png?download=1")
    png(response, (750, 1200))
    assert response.headers["Content-Disposition"].startswith("attachment")
    session.expire_all()
    assert checklist.has_milestone(session, checklist.FIRST_SHARE)


@pytest.mark.parametrize("suffix", ["", "/poster.png", "/qr.png"])
def test_a_product_that_does_not_exist_is_404(app, session, owner_client, suffix):
    assert owner_client.get(f"/admin/products/999999/promote{suffix}").status_code == 404


def test_pictures_need_a_back_office_login_with_the_catalog_permission(app, session, client):
    product = factories.ProductFactory()
    paths = [
        f"/admin/products/{product.id}/promote",
        f"/admin/products/{product.id}/promote/poster.png",
        f"/admin/products/{product.id}/promote/qr.png?download=1",
        "/admin/promote",
        "/admin/promote/poster.png?download=1",
        "/admin/promote/qr.png",
    ]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"], path
    login(client, factories.UserFactory())
    for path in paths:
        assert client.get(path).status_code == 403, path
    assert not checklist.has_milestone(session, checklist.FIRST_SHARE)


def test_staff_with_the_catalog_permission_may_promote(app, session, client):
    staff = factories.UserFactory(role="staff")
    login(client, staff, admin=True)
    product = factories.ProductFactory()
    assert client.get(f"/admin/products/{product.id}/promote").status_code == 200
    png(client.get(f"/admin/products/{product.id}/promote/qr.png"))


def test_the_promote_action_is_on_the_product_list_and_the_edit_page(app, session, owner_client):
    product = factories.ProductFactory()
    href = f'href="/admin/products/{product.id}/promote"'
    assert href in owner_client.get("/admin/products").get_data(as_text=True)
    assert href in owner_client.get(f"/admin/products/{product.id}/edit").get_data(as_text=True)


# ---------------------------------------------------------------- caching


def test_a_product_poster_is_drawn_once_per_version(app, session, owner_client):
    product = factories.ProductFactory(title="云南小粒咖啡豆")
    url = f"/admin/products/{product.id}/promote/poster.png"
    first = owner_client.get(url)
    cached = list((Path(app.instance_path) / "posters" / "shop").glob("product-*.png"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert owner_client.get(url).data == first.data
    assert cached[0].stat().st_mtime_ns == stamp  # served from the cache, not drawn again

    product.title = "云南小粒咖啡豆 新包装"
    session.commit()
    second = owner_client.get(url)
    assert second.data != first.data
    now = list((Path(app.instance_path) / "posters" / "shop").glob("product-*.png"))
    assert len(now) == 1 and now[0] != cached[0]  # the old version is gone


def test_the_shop_poster_shows_the_first_products_and_changes_with_their_prices(app, session):
    shop(session, name="小满杂货")
    low = factories.ProductFactory(title="普通款", sort_weight=0)
    factories.ProductFactory(title="下架款", is_on_shelf=False, sort_weight=100)
    for n in range(4):
        factories.ProductFactory(title=f"主推{n}", sort_weight=10 + n)
    items = showcase_items(session)
    assert [item.title for item in items] == ["主推3", "主推2", "主推1", "主推0"]
    assert items[0].price == "¥99.00"
    with app.test_request_context():
        before = ShopPoster("小满杂货", "http://localhost/", None, tuple(items))
        top = session.scalar(select(Product).where(Product.title == "主推3"))
        top.skus[0].price_fen = 8800
        session.commit()
        after = ShopPoster("小满杂货", "http://localhost/", None, tuple(showcase_items(session)))
        assert after.items[0].price == "¥88.00"
        assert before.path != after.path
        image = Image.open(after.cached_png())
        assert image.size == (750, 1200)
    assert low.title not in [item.title for item in items]


def test_a_distributor_poster_still_says_who_recommends(app, session):
    d = distributor(session, factories.UserFactory(nickname="小B"))
    product = factories.ProductFactory()
    with app.test_request_context():
        theirs = Poster(d, product, "小满杂货", f"http://localhost/p/{product.id}?ref={d.code}")
        ours = Poster(None, product, "小满杂货", f"http://localhost/p/{product.id}")
        assert theirs.recommender == "小B" and ours.recommender == "小满杂货"
        assert theirs.path.parent.name == str(d.id) and ours.path.parent.name == "shop"
    assert dist.get_settings(session) is not None


def test_two_first_shares_at_once_record_one_milestone(pg_app):
    """Two downloads at the same moment (PostgreSQL, real concurrency): one row, one True, no error."""
    from app.extensions import db
    from tests.conftest import run_together

    results = run_together(
        pg_app, 4, lambda i: checklist.record_milestone(db.session, checklist.FIRST_SHARE, None)
    )
    assert sorted(results, key=str) == [False, False, False, True]
    assert count(db.session, MerchantMilestone) == 1


def test_an_off_shelf_product_can_be_promoted_with_a_warning(app, session, owner_client):
    on = factories.ProductFactory()
    off = factories.ProductFactory(is_on_shelf=False)
    assert 'id="promote-off-shelf"' not in owner_client.get(f"/admin/products/{on.id}/promote").text
    assert 'id="promote-off-shelf"' in owner_client.get(f"/admin/products/{off.id}/promote").text


def test_renders_of_the_same_poster_at_once_in_one_process_all_serve_a_whole_file(tmp_path):
    """A threaded server (make run, the browser tests' live server) draws the same poster on two threads
    when the page's picture and a download arrive together: each writes its own temporary file, none
    removes the version another has just written, and every caller gets the whole PNG back."""
    threads = 6
    drawn = [bytes([n]) * 8_000_000 for n in range(threads)]
    path = tmp_path / "posters" / "shop" / "product-1-0123456789abcdef.png"
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def draw(n):
        barrier.wait()  # every thread has found the file missing and drawn its picture
        return drawn[n]

    def render(n):
        try:
            results[n] = cached_file(path, "product-1-*.png", lambda: draw(n)).read_bytes()
        except Exception as error:  # noqa: BLE001 - the test reports what went wrong
            results[n] = error

    workers = [threading.Thread(target=render, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(isinstance(result, bytes) and result in drawn for result in results), [
        result if isinstance(result, Exception) else len(result) for result in results
    ]
    assert path.read_bytes() in drawn
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


def test_wechat_pay_that_no_shopper_can_reach_is_not_a_way_to_be_paid(app, session, wechat):
    """WeChat Pay switched on with its keys, but without the official account's AppSecret (JSAPI inside
    WeChat needs the payer's openid) and without H5 (outside WeChat): the checkout offers it nowhere, so the
    step is not done. With H5 on, shoppers outside WeChat can pay: done."""
    data = merchant_settings(wechat, h5=False)
    data.wechat_app_secret = ""
    save_payment_settings(session, data)
    session.commit()
    assert not steps(app, session)["payment"]
    data.wechat_h5_enabled = True
    save_payment_settings(session, data)
    session.commit()
    assert steps(app, session)["payment"]


@pytest.mark.parametrize("app_config", [{"PUBLIC_URL": "https://shop.example.com"}])
def test_the_printed_link_is_the_shops_public_address_not_the_back_offices(app, session, owner_client):
    """The back office may be opened on another address (the server's IP while the domain is not set up, an
    internal host): the link, QR code and poster are printed and sent to customers, so they use PUBLIC_URL
    when it is set, as every other link that leaves the shop does."""
    product = factories.ProductFactory()
    html = owner_client.get(f"/admin/products/{product.id}/promote").get_data(as_text=True)
    assert f'id="promote-link" value="https://shop.example.com/p/{product.id}"' in html
    html = owner_client.get("/admin/promote").get_data(as_text=True)
    assert 'id="promote-link" value="https://shop.example.com/"' in html


def test_the_checklist_in_english_has_no_chinese_words(app, session, owner_client):
    """English is one of the back office's languages: the share step names the product's "Promote" button
    as the English page labels it, not as 推广."""
    html = owner_client.get("/admin/?lang=en").get_data(as_text=True)
    checklist_html = html[
        html.index('id="first-run"') : html.index("</section>", html.index('id="first-run"'))
    ]
    assert "Share your first poster" in checklist_html
    assert not re.search(r"[\u4e00-\u9fff]", checklist_html), re.findall(r"[\u4e00-\u9fff]+", checklist_html)


def test_a_customer_already_bound_stays_bound_and_the_note_says_so(app, session, owner_client):
    """The merchant's link binds nobody new, but a customer a distributor already brought stays theirs
    (DISTRIBUTION.md: bindings are only changed by a share link): their order through the merchant's link
    still pays that distributor. The page must not promise "no commission" without saying so."""
    settings(session, mode="everyone", rates_bp=[1000, 500])
    theirs = distributor(session)
    product = factories.ProductFactory(skus=[{"price_fen": 10000, "stock": 50}])
    shopper = factories.UserFactory()
    bind(session, shopper, theirs)
    html = owner_client.get(f"/admin/products/{product.id}/promote").get_data(as_text=True)
    link = unescape(re.search(r'id="promote-link" value="([^"]+)"', html).group(1))
    shopper_client = app.test_client()
    login(shopper_client, shopper)
    assert shopper_client.get(link.removeprefix("http://localhost")).status_code == 200
    buy(session, shopper, product)
    session.expire_all()
    assert session.get(User, shopper.id).referrer_id == theirs.user_id
    assert count(session, Commission) == 1
    assert session.scalar(select(LedgerEntry.distributor_id).limit(1)) == theirs.id
    note = re.search(r'id="promote-note".*?</div>\s*</div>', html, re.S).group(0)
    assert "已绑定" in note


@pytest.mark.parametrize("poster", ["/admin/products/{id}/promote/poster.png", "/admin/promote/poster.png"])
def test_a_poster_drawn_in_one_language_is_not_served_in_the_other(app, session, owner_client, poster):
    """The poster's words ("… recommends", "Long-press to scan") are drawn in the viewer's language, so the
    language is part of what the cache is keyed by: the Chinese poster is not the English one drawn first."""
    shop(session, name="小满杂货")
    url = poster.format(id=factories.ProductFactory().id)
    english = owner_client.get(f"{url}?lang=en")
    chinese = owner_client.get(f"{url}?lang=zh")
    png(english, (750, 1200))
    png(chinese, (750, 1200))
    assert english.data != chinese.data
    assert owner_client.get(url).data == chinese.data  # the session keeps Chinese: served from the cache


def test_the_shop_poster_fills_its_four_places_past_a_product_with_nothing_to_buy(app, session):
    """A product on shelf whose SKUs are all switched off has no price to show: the poster skips it and
    still shows four products when four others are on sale."""
    for n in range(4):
        factories.ProductFactory(title=f"在售{n}", sort_weight=n)
    empty = factories.ProductFactory(title="无规格", sort_weight=100)
    for sku in empty.skus:
        sku.is_active = False
    session.commit()
    assert [item.title for item in showcase_items(session)] == ["在售3", "在售2", "在售1", "在售0"]
