"""Sharing inside the mini-program, below the API: the scene format (round trip, malformed scenes refused
without raising), the 小程序码 from the fake WeChat's wxacode.getUnlimited (cached per distributor and
product, an expired access token forgotten and retried once), and posters that carry the 小程序码 when
the shop has a mini-program — and the link's QR code when it has none or WeChat fails."""

import io
import logging
import re
import string

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from app.db_types import MAX_ID
from app.distribution import mini_program, posters
from app.distribution.services import CODE_ALPHABET
from app.extensions import db
from app.payments import wechat_mp
from app.payments.models import ApiToken
from app.payments.settings import save_payment_settings
from app.payments.wechat_web import WechatApiError
from tests import factories
from tests.conftest import login
from tests.fakes import merchant_settings
from tests.fakes.wechat import FakeWechat
from tests.test_distribution import distributor, settings

FOOTER_BOX = (posters.WIDTH - posters.MARGIN - 200, posters.HEIGHT - posters.MARGIN - 200)


@pytest.fixture(scope="module")
def wechat():
    fake = FakeWechat()
    yield fake
    fake.stop()


@pytest.fixture
def app_config(wechat) -> dict:
    return {"WECHAT_API_BASE": wechat.url}


@pytest.fixture(autouse=True)
def own_instance(request, tmp_path, wechat):
    """Posters and 小程序码 are cached under the instance folder: each test with an app has its own (the
    scene's tests need no app, and run once)."""
    wechat.failing_wxacodes = 0
    wechat.revoked_tokens.clear()
    if "app" in request.fixturenames:
        request.getfixturevalue("app").instance_path = str(tmp_path / "instance")


def mini_program_on(wechat, mini_program=True):
    save_payment_settings(db.session, merchant_settings(wechat, mini_program=mini_program))
    db.session.commit()


# ---------------------------------------------------------------- the scene

codes = st.text(alphabet=CODE_ALPHABET, min_size=1, max_size=16)
ids = st.integers(min_value=1, max_value=MAX_ID)


@hypothesis_settings(deadline=None)
@given(code=st.none() | codes, product_id=st.none() | ids)
def test_every_share_makes_a_scene_wechat_takes_and_reads_back_the_same(code, product_id):
    scene = mini_program.encode_scene(code, product_id)
    assert len(scene) <= mini_program.SCENE_MAX
    assert FakeWechat.SCENE_RE.match(scene)
    assert mini_program.decode_scene(scene) == mini_program.Share(code, product_id)


@hypothesis_settings(deadline=None)
@given(st.text(max_size=40) | st.binary(max_size=40) | st.integers() | st.none())
def test_decoding_anything_never_raises_and_takes_only_what_encode_makes(scene):
    share = mini_program.decode_scene(scene)
    if share is not None:
        assert mini_program.encode_scene(share.code, share.product_id) == scene


@hypothesis_settings(deadline=None)
@given(st.text(alphabet=string.ascii_letters + string.digits + "=&%", max_size=32))
def test_near_misses_are_refused_unless_they_are_a_scene(scene):
    share = mini_program.decode_scene(scene)
    assert share is None or share.scene == scene


@pytest.mark.parametrize(
    "scene",
    [
        "",
        "r=",
        "p=",
        "r=abc&",
        "&r=abc",
        "r=abc&r=def",
        "p=1&r=abc",  # one spelling per share: r first
        "r=ABC",
        "r=abc0",  # 0 is not in the code alphabet
        "r=abcdefghjkmnpqrst",  # 17 characters
        "p=0",
        "p=012",
        "p=-1",
        "p=1.5",
        f"p={MAX_ID + 1}",
        "x=1",
        "r=abc&p=1&x=2",
        "home&p=1",
        "HOME",
        "r=abc p=1",
        "r" * 33,
    ],
)
def test_malformed_scenes_are_refused(scene):
    assert mini_program.decode_scene(scene) is None


def test_scenes_and_share_paths_for_each_kind_of_share():
    assert mini_program.encode_scene("abcd2345") == "r=abcd2345"
    assert mini_program.encode_scene("ABCD2345", 12) == "r=abcd2345&p=12"
    assert mini_program.encode_scene(None, 12) == "p=12"
    assert mini_program.encode_scene(None) == "home"
    assert mini_program.decode_scene("home") == mini_program.Share(None, None)
    assert mini_program.encode_scene("zzzzzzzzzzzzzzzz", MAX_ID) == f"r={'z' * 16}&p={MAX_ID}"  # 31
    with pytest.raises(ValueError):
        mini_program.encode_scene("no-such!")
    with pytest.raises(ValueError):
        mini_program.encode_scene("abc", 0)
    assert mini_program.share_path("abcd2345", 12) == "pages/product/index?scene=r%3Dabcd2345%26p%3D12"
    assert mini_program.share_path("abcd2345") == "pages/index/index?scene=r%3Dabcd2345"


# ---------------------------------------------------------------- the 小程序码


def test_the_wxacode_is_asked_once_per_distributor_and_product(app, wechat):
    mini_program_on(wechat)
    code = mini_program.mp_code(db.session, "abcd2345", 12)
    before = wechat.wxacode_calls
    first = mini_program.wxacode_file(db.session, code)
    assert first.read_bytes() == FakeWechat.wxacode_png("pages/product/index", "r=abcd2345&p=12")
    assert wechat.wxacodes[-1] == ("pages/product/index", "r=abcd2345&p=12")
    again = mini_program.wxacode_file(db.session, mini_program.mp_code(db.session, "abcd2345", 12))
    assert again == first and wechat.wxacode_calls == before + 1  # from the cache: no call
    other = mini_program.wxacode_file(db.session, mini_program.mp_code(db.session, "abcd2345", 13))
    home = mini_program.wxacode_file(db.session, mini_program.mp_code(db.session, "abcd2345"))
    assert len({first, other, home}) == 3 and wechat.wxacode_calls == before + 3
    assert wechat.wxacodes[-1] == ("pages/index/index", "r=abcd2345")
    # Another mini-program (AppID) is another code: the key holds the appid.
    assert mini_program.MpCode("wx0000000000000001", code.share).path != code.path


def test_an_expired_access_token_is_forgotten_and_the_call_made_once_more(app, wechat):
    mini_program_on(wechat)
    stale = wechat_mp.access_token(db.session)
    wechat.revoked_tokens.add(stale)  # another server fetched a new one: WeChat answers 40001
    calls, tokens = wechat.wxacode_calls, wechat.mp_token_calls
    path = mini_program.wxacode_file(db.session, mini_program.mp_code(db.session, "abcd2345", 7))
    assert path.read_bytes() == FakeWechat.wxacode_png("pages/product/index", "r=abcd2345&p=7")
    assert wechat.wxacode_calls == calls + 2 and wechat.mp_token_calls == tokens + 1
    db.session.expire_all()
    assert db.session.get(ApiToken, wechat_mp.ACCESS_TOKEN_NAME).value != stale


def test_a_token_refused_twice_is_an_error_not_a_loop(app, wechat):
    mini_program_on(wechat)
    wechat.revoked_tokens.update(f"mptoken-{n}" for n in range(1, wechat.mp_token_calls + 3))
    calls = wechat.wxacode_calls
    with pytest.raises(WechatApiError, match="40001"):
        wechat_mp.unlimited_wxacode(db.session, scene="r=abc", page=mini_program.HOME_PAGE)
    assert wechat.wxacode_calls == calls + 2


def test_a_refusal_is_raised_and_nothing_is_cached(app, wechat):
    mini_program_on(wechat)
    wechat.failing_wxacodes = 1
    code = mini_program.mp_code(db.session, "abcd2345", 3)
    with pytest.raises(WechatApiError, match="errcode -1"):
        mini_program.wxacode_file(db.session, code)
    assert not code.path.exists()
    assert mini_program.wxacode_file(db.session, code).exists()  # the next request asks again


def test_without_a_mini_program_there_is_no_code(app, wechat):
    mini_program_on(wechat, mini_program=False)
    assert mini_program.mp_code(db.session, "abcd2345", 3) is None


# ---------------------------------------------------------------- posters


def footer_code(png: bytes) -> Image.Image:
    with Image.open(io.BytesIO(png)) as image:
        return image.convert("RGB").crop((*FOOTER_BOX, FOOTER_BOX[0] + 200, FOOTER_BOX[1] + 200))


def same(a: Image.Image, b: Image.Image) -> bool:
    return ImageChops.difference(a, b).getbbox() is None


@pytest.fixture
def shared(session):
    settings(session)
    sharer = distributor(session, factories.UserFactory(nickname="小B"))
    product = factories.ProductFactory(title="云南小粒咖啡豆", skus=[{"price_fen": 10000, "stock": 5}])
    return sharer, product


def test_a_distributors_poster_carries_the_wxacode_when_the_shop_has_a_mini_program(
    app, client, wechat, shared
):
    sharer, product = shared
    login(client, sharer.user)
    mini_program_on(wechat, mini_program=False)
    with app.test_request_context():
        qr = posters._qr(f"http://localhost/p/{product.id}?ref={sharer.code}", 200)
    plain = client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    assert plain.status_code == 200 and same(footer_code(plain.data), qr)

    mini_program_on(wechat)
    calls = wechat.wxacode_calls
    poster = client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    assert poster.status_code == 200 and poster.mimetype == "image/png"
    scene = f"r={sharer.code}&p={product.id}"
    wxacode = posters.code_picture(FakeWechat.wxacode_png("pages/product/index", scene), 200)
    assert same(footer_code(poster.data), wxacode) and not same(wxacode, qr)
    assert poster.headers["ETag"] != plain.headers["ETag"]  # another cache entry: the code is in its key
    assert wechat.wxacode_calls == calls + 1
    client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    assert wechat.wxacode_calls == calls + 1  # the poster and its code come from the cache
    shop = client.get(f"/d/share/{sharer.code}/poster.png")
    home = posters.code_picture(FakeWechat.wxacode_png("pages/index/index", f"r={sharer.code}"), 200)
    assert shop.status_code == 200 and same(footer_code(shop.data), home)


def test_when_wechat_fails_the_poster_carries_the_qr_code_and_is_drawn_again_later(
    app, client, wechat, shared, caplog
):
    sharer, product = shared
    login(client, sharer.user)
    mini_program_on(wechat)
    wechat.failing_wxacodes = 1
    with caplog.at_level(logging.WARNING, logger="app.distribution.mini_program"):
        fallback = client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    assert fallback.status_code == 200
    assert any("errcode -1" in record.getMessage() for record in caplog.records)
    with app.test_request_context():
        qr = posters._qr(f"http://localhost/p/{product.id}?ref={sharer.code}", 200)
    assert same(footer_code(fallback.data), qr)
    # WeChat answers again: the next poster carries the 小程序码 (the QR poster was not cached as it).
    later = client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    scene = f"r={sharer.code}&p={product.id}"
    assert same(
        footer_code(later.data),
        posters.code_picture(FakeWechat.wxacode_png("pages/product/index", scene), 200),
    )


def test_the_merchants_posters_carry_the_shops_own_codes(app, client, owner, wechat, shared):
    _sharer, product = shared
    mini_program_on(wechat)
    login(client, owner, admin=True)
    shop = client.get("/admin/promote/poster.png")
    assert shop.status_code == 200
    home = posters.code_picture(FakeWechat.wxacode_png("pages/index/index", "home"), 200)
    assert same(footer_code(shop.data), home)
    one = client.get(f"/admin/products/{product.id}/promote/poster.png")
    code = posters.code_picture(FakeWechat.wxacode_png("pages/product/index", f"p={product.id}"), 200)
    assert one.status_code == 200 and same(footer_code(one.data), code)
    assert ("pages/index/index", "home") in wechat.wxacodes


def test_the_fake_checks_the_scene_and_the_token(app, wechat):
    import requests

    mini_program_on(wechat)
    token = wechat_mp.access_token(db.session)
    url = f"{wechat.url}/wxa/getwxacodeunlimit"
    long_scene = requests.post(
        url, params={"access_token": token}, json={"scene": "r" * 33, "page": "pages/index/index"}
    )
    assert long_scene.json()["errcode"] == 40169
    wrong_token = requests.post(
        url, params={"access_token": "token-1"}, json={"scene": "home", "page": "pages/index/index"}
    )
    assert wrong_token.json()["errcode"] == 40001
    good = requests.post(
        url, params={"access_token": token}, json={"scene": "home", "page": "pages/index/index"}
    )
    assert good.headers["Content-Type"] == "image/png" and re.match(rb"\x89PNG", good.content)


# ---------------------------------------------------------------- what WeChat answers is checked


def png_of(width: int, height: int, mode: str = "1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), 1).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "answer",
    [
        mini_program.PNG_MAGIC + b"not really a picture" * 20,  # PNG's first bytes, then garbage
        FakeWechat.wxacode_png("pages/index/index", "home")[:-300],  # a PNG cut short
        png_of(3000, 3000),  # a picture far larger than any 小程序码 (width 430)
    ],
    ids=["garbage", "truncated", "oversized"],
)
def test_an_answer_that_is_no_usable_picture_is_an_error_and_nothing_is_cached(app, wechat, answer):
    mini_program_on(wechat)
    wechat.wxacode_answer = answer
    code = mini_program.mp_code(db.session, "abcd2345", 4)
    try:
        with pytest.raises(WechatApiError):
            mini_program.wxacode_file(db.session, code)
        assert not code.path.exists()
    finally:
        wechat.wxacode_answer = None
    assert Image.open(mini_program.wxacode_file(db.session, code)).size[0] < 1000  # asked again


def test_a_poster_never_fails_on_a_broken_wxacode_and_a_broken_cached_one_is_dropped(
    app, client, wechat, shared
):
    sharer, product = shared
    login(client, sharer.user)
    mini_program_on(wechat)
    with app.test_request_context():
        qr = posters._qr(f"http://localhost/p/{product.id}?ref={sharer.code}", 200)
    wechat.wxacode_answer = mini_program.PNG_MAGIC + b"garbage" * 50
    try:
        poster = client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    finally:
        wechat.wxacode_answer = None
    assert poster.status_code == 200 and same(footer_code(poster.data), qr)
    # A broken 小程序码 already in the cache (written before the answers were checked, or damaged on disk):
    # the poster carries the QR code, and the broken file is dropped so the next poster asks WeChat again.
    code = mini_program.mp_code(db.session, sharer.code)
    code.path.parent.mkdir(parents=True, exist_ok=True)
    code.path.write_bytes(mini_program.PNG_MAGIC + b"damaged")
    with app.test_request_context():
        shop_qr = posters._qr(f"http://localhost/?ref={sharer.code}", 200)
    shop = client.get(f"/d/share/{sharer.code}/poster.png")
    assert shop.status_code == 200 and same(footer_code(shop.data), shop_qr)
    assert not code.path.exists()
    again = client.get(f"/d/share/{sharer.code}/poster.png")
    home = posters.code_picture(FakeWechat.wxacode_png("pages/index/index", f"r={sharer.code}"), 200)
    assert again.status_code == 200 and same(footer_code(again.data), home)


def test_an_outsized_answer_is_refused_without_being_kept(app, wechat):
    mini_program_on(wechat)
    wechat.wxacode_answer = mini_program.PNG_MAGIC + b"\0" * (wechat_mp.WXACODE_MAX_BYTES + 10)
    code = mini_program.mp_code(db.session, "abcd2345", 5)
    try:
        with pytest.raises(WechatApiError, match="too large"):
            mini_program.wxacode_file(db.session, code)
    finally:
        wechat.wxacode_answer = None
    assert not code.path.exists()


@pytest.mark.parametrize("answer", [{}, {"access_token": 12}, {"access_token": "x", "expires_in": "soon"}])
def test_a_token_answer_without_a_token_is_an_error_and_the_poster_still_drawn(
    app, client, wechat, shared, answer
):
    sharer, product = shared
    login(client, sharer.user)
    mini_program_on(wechat)
    db.session.query(ApiToken).delete()
    db.session.commit()
    wechat.mp_token_answer = answer
    try:
        with pytest.raises(WechatApiError):
            wechat_mp.access_token(db.session)
        poster = client.get(f"/d/share/{sharer.code}/poster/{product.id}.png")
    finally:
        wechat.mp_token_answer = None
    with app.test_request_context():
        qr = posters._qr(f"http://localhost/p/{product.id}?ref={sharer.code}", 200)
    assert poster.status_code == 200 and same(footer_code(poster.data), qr)
