"""The H5 shop as a shopper sees it: browsing, search, the product page, and the shopper's own account."""

import io
import json
import re

import pytest
from PIL import Image

from app.accounts.models import User
from app.extensions import db
from tests import factories
from tests.conftest import counting_statements, csrf_token, login

SKU_JSON_RE = re.compile(r'<script type="application/json" data-sku-json>(.*?)</script>', re.S)


def html(response) -> str:
    return response.get_data(as_text=True)


def two_axis_product(**kwargs):
    """颜色 红/蓝 × 尺寸 M/L where 蓝 / L is sold out, and 红 is sold out in every size but M."""
    return factories.ProductFactory(
        title=kwargs.pop("title", "纯棉T恤"),
        options=[{"name": "颜色", "values": ["红", "蓝"]}, {"name": "尺寸", "values": ["M", "L"]}],
        skus=[
            {"spec_values": ["红", "M"], "price_fen": 5900, "stock": 3, "original_price_fen": 7900},
            {"spec_values": ["红", "L"], "price_fen": 6900, "stock": 0, "original_price_fen": 8900},
            {"spec_values": ["蓝", "M"], "price_fen": 5900, "stock": 7, "original_price_fen": 7900},
            {"spec_values": ["蓝", "L"], "price_fen": 6900, "stock": 0, "original_price_fen": 8900},
        ],
        **kwargs,
    )


# ---------------------------------------------------------------- off shelf and unknown


def test_off_shelf_product_page_is_a_friendly_404(client):
    product = factories.ProductFactory(title="下架的商品", is_on_shelf=False)
    response = client.get(f"/p/{product.id}")
    assert response.status_code == 404
    page = html(response)
    assert "商品已下架" in page
    assert "返回商城" in page
    assert "下架的商品" not in page


def test_unknown_product_is_the_same_friendly_404(client):
    for path in ("/p/999999", "/p/0"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "商品已下架" in html(response)
    # An id no database row can have is not a product page at all: the shop's own 404, never a 500.
    absurd = client.get("/p/99999999999999999999999")
    assert absurd.status_code == 404
    assert "页面不存在" in html(absurd)


def test_off_shelf_product_is_invisible_in_the_shop(client):
    category = factories.CategoryFactory(name="茶叶")
    factories.ProductFactory(title="在售明前龙井", category=category)
    factories.ProductFactory(title="下架明前龙井", category=category, is_on_shelf=False)
    pages = [html(client.get(path)) for path in ("/", f"/c/{category.id}", "/search?q=明前龙井")]
    for page in pages:
        assert "在售明前龙井" in page
        assert "下架明前龙井" not in page
    assert "1 个" in pages[2]  # the result count does not count the hidden one either


# ---------------------------------------------------------------- load more


@pytest.fixture
def two_per_page(app):
    app.config["PRODUCTS_PER_PAGE"] = 2


def test_load_more_over_htmx_returns_only_the_next_cards(client, two_per_page):
    for n in range(5):
        factories.ProductFactory(title=f"商品{n}号", sort_weight=10 - n)
    first = html(client.get("/"))
    assert "商品0号" in first and "商品1号" in first and "商品2号" not in first
    assert 'hx-get="/?page=2"' in first

    fragment = client.get("/?page=2", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    body = html(fragment)
    assert "<html" not in body and "shop-tabbar" not in body
    assert "商品2号" in body and "商品3号" in body
    assert "商品0号" not in body and "商品4号" not in body
    assert 'hx-get="/?page=3"' in body  # the next button replaces the one that was tapped
    assert "HX-Request" in fragment.headers.get("Vary", "")

    last = html(client.get("/?page=3", headers={"HX-Request": "true"}))
    assert "商品4号" in last and "没有更多了" in last and "hx-get" not in last


def test_load_more_without_javascript_is_a_full_page(client, two_per_page):
    for n in range(3):
        factories.ProductFactory(title=f"商品{n}号", sort_weight=10 - n)
    page = html(client.get("/?page=2"))
    assert "<html" in page and "shop-tabbar" in page
    assert "商品2号" in page and "商品0号" not in page


def test_load_more_keeps_the_search_words_and_the_category(client, two_per_page):
    category = factories.CategoryFactory(name="水果")
    for n in range(3):
        factories.ProductFactory(title=f"苹果{n}号", category=category)
    assert 'hx-get="/search?q=%E8%8B%B9%E6%9E%9C&amp;page=2"' in html(client.get("/search?q=苹果"))
    assert f'hx-get="/c/{category.id}?page=2"' in html(client.get(f"/c/{category.id}"))
    more = html(client.get(f"/c/{category.id}?page=2", headers={"HX-Request": "true"}))
    assert "苹果0号" in more and "<html" not in more


def test_history_restore_gets_the_full_page(client, two_per_page):
    for n in range(3):
        factories.ProductFactory(title=f"商品{n}号")
    response = client.get("/?page=2", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in html(response)


def test_cards_show_the_price_range_stock_and_main_picture_of_active_skus_only(client):
    product = factories.ProductFactory(
        title="有停用规格的商品",
        skus=[
            {"spec_values": [], "price_fen": 1500, "stock": 0},
            {"spec_values": ["旧"], "price_fen": 100, "stock": 99, "is_active": False},
            {"spec_values": ["新"], "price_fen": 2500, "stock": 0},
        ],
    )
    factories.ProductImageFactory(
        product=product, image_key="bb/bbbb0000000000000000000000000000.jpg", position=1
    )
    factories.ProductImageFactory(
        product=product, image_key="aa/aaaa0000000000000000000000000000.jpg", position=0
    )
    card = re.search(
        r'<a class="product-card[^"]*" href="/p/\d+">.*?</a>', html(client.get("/")), re.S
    ).group(0)
    assert '<span class="price__from">¥15.00</span>起' in card  # the deactivated ¥1.00 SKU is not the lowest
    assert "sold-out-badge" in card  # its 99 units do not count either
    assert "/media/aa/aaaa0000000000000000000000000000_400.jpg" in card


# ---------------------------------------------------------------- categories


def test_category_listing_includes_products_of_its_sub_categories(client):
    clothes = factories.CategoryFactory(name="服饰")
    shirts = factories.CategoryFactory(name="衬衫", parent=clothes)
    coats = factories.CategoryFactory(name="外套", parent=clothes)
    factories.ProductFactory(title="牛津纺衬衫", category=shirts)
    factories.ProductFactory(title="羊毛大衣", category=coats)
    factories.ProductFactory(title="服饰直属商品", category=clothes)
    factories.ProductFactory(title="别处的商品")

    top = html(client.get(f"/c/{clothes.id}"))
    assert "牛津纺衬衫" in top and "羊毛大衣" in top and "服饰直属商品" in top
    assert "别处的商品" not in top
    # The sub-category chips, with "全部" marked as the current one.
    assert f'href="/c/{shirts.id}"' in top and f'href="/c/{coats.id}"' in top
    assert 'aria-current="page">全部' in top

    sub = html(client.get(f"/c/{shirts.id}"))
    assert "牛津纺衬衫" in sub and "羊毛大衣" not in sub
    # A sub-category shows its siblings, itself marked, and a way back to the whole category.
    assert f'href="/c/{coats.id}"' in sub and f'href="/c/{clothes.id}"' in sub
    assert 'aria-current="page">衬衫' in sub


def test_hidden_categories_are_not_found(client):
    hidden = factories.CategoryFactory(name="隐藏分类", is_visible=False)
    child_of_hidden = factories.CategoryFactory(name="隐藏的子分类", parent=hidden)
    visible = factories.CategoryFactory(name="可见分类")
    factories.CategoryFactory(name="隐藏子类", parent=visible, is_visible=False)
    for category in (hidden, child_of_hidden):
        response = client.get(f"/c/{category.id}")
        assert response.status_code == 404
        assert "不存在或已隐藏" in html(response)
    for path in ("/", "/categories"):
        page = html(client.get(path))
        assert "可见分类" in page
        assert "隐藏分类" not in page and "隐藏子类" not in page
    assert "隐藏子类" not in html(client.get(f"/c/{visible.id}"))


def test_unknown_category_is_not_found(client):
    for path in ("/c/12345", "/c/99999999999999999999999"):
        assert client.get(path).status_code == 404


def test_category_without_products_says_so(client):
    category = factories.CategoryFactory(name="空分类")
    assert "该分类下暂无商品" in html(client.get(f"/c/{category.id}"))


# ---------------------------------------------------------------- search


def test_search_finds_title_and_subtitle_and_counts_results(client):
    factories.ProductFactory(title="高山乌龙茶", subtitle="")
    factories.ProductFactory(title="礼盒", subtitle="乌龙茶 250g")
    factories.ProductFactory(title="咖啡豆", subtitle="")
    page = html(client.get("/search?q=乌龙"))
    assert "高山乌龙茶" in page and "礼盒" in page and "咖啡豆" not in page
    assert "“乌龙”的搜索结果：2 个" in page


def test_search_treats_percent_and_underscore_as_plain_characters(client):
    factories.ProductFactory(title="满100减20%优惠装")
    factories.ProductFactory(title="ab_cd 套装")
    factories.ProductFactory(title="abXcd 套装")
    factories.ProductFactory(title="普通商品")

    percent = html(client.get("/search?q=%25"))
    assert "满100减20%优惠装" in percent and "普通商品" not in percent
    underscore = html(client.get("/search?q=b_c"))
    assert "ab_cd 套装" in underscore and "abXcd 套装" not in underscore


def test_search_with_nothing_found_shows_an_empty_state(client):
    factories.CategoryFactory(name="零食")
    page = html(client.get("/search?q=不存在的东西"))
    assert "没有找到相关商品" in page
    assert "0 个" in page


def test_search_without_words_offers_categories(client):
    factories.CategoryFactory(name="零食")
    response = client.get("/search?q=%20%20")
    assert response.status_code == 200
    assert "零食" in html(response) and "搜索结果" not in html(response)


def test_search_escapes_what_it_shows(client):
    page = html(client.get("/search?q=<script>alert(1)</script>"))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


# ---------------------------------------------------------------- bad input never breaks a page


@pytest.mark.parametrize(
    "path",
    [
        "/?page=abc",
        "/?page=-1",
        "/?page=0",
        "/?page=999999",
        "/?page=1e9",
        "/?page=99999999999999999999999999",
        "/?page=%00",
        "/search?q=" + "长" * 5000,
        "/search?q=%00%ff",
        "/search?q=%25%25%25&page=abc",
        "/search?q=' OR 1=1 --",
        "/c/abc",
        "/p/abc",
        "/p/-1",
    ],
)
def test_bad_input_never_gives_a_server_error(client, path):
    factories.ProductFactory()
    for headers in ({}, {"HX-Request": "true"}):
        response = client.get(path, headers=headers)
        assert response.status_code in (200, 404), (path, response.status_code)


def test_a_page_past_the_end_is_empty_not_an_error(client):
    factories.ProductFactory(title="唯一的商品")
    page = html(client.get("/?page=999999"))
    assert "唯一的商品" not in page
    more = client.get("/?page=999999", headers={"HX-Request": "true"})
    assert more.status_code == 200 and "唯一的商品" not in html(more)


def test_very_long_search_is_cut_to_forty_characters(client):
    factories.ProductFactory(title="长" * 30)
    page = html(client.get("/search?q=" + "长" * 500))
    assert "“" + "长" * 40 + "”的搜索结果：0 个" in page


# ---------------------------------------------------------------- the product page


def test_product_page_shows_price_range_and_sku_data(client):
    product = two_axis_product()
    page = html(client.get(f"/p/{product.id}"))
    assert "¥59.00 - ¥69.00" in page
    assert "¥79.00 - ¥89.00" in page  # original prices, struck through
    assert "<del" in page
    data = json.loads(SKU_JSON_RE.search(page).group(1))
    assert data["options"] == [
        {"name": "颜色", "values": ["红", "蓝"]},
        {"name": "尺寸", "values": ["M", "L"]},
    ]
    by_values = {tuple(sku["values"]): sku for sku in data["skus"]}
    assert by_values[("红", "M")] == {
        "id": by_values[("红", "M")]["id"],
        "values": ["红", "M"],
        "price": "¥59.00",
        "original": "¥79.00",
        "stock": 3,
        "stock_text": "库存 3 件",
    }
    assert by_values[("蓝", "L")]["stock"] == 0
    assert by_values[("蓝", "L")]["stock_text"] == "已售罄"
    assert "库存 10 件" in page  # the whole product's stock until a SKU is chosen


def test_values_that_no_sku_in_stock_has_are_disabled_without_javascript(client):
    product = two_axis_product()
    page = html(client.get(f"/p/{product.id}"))
    # Every L is sold out: L is disabled from the start; 红 and 蓝 each still have an M.
    assert re.search(r'value="L" data-axis="1" disabled', page)
    assert not re.search(r'value="M" data-axis="1" disabled', page)
    assert not re.search(r'value="红" data-axis="0" disabled', page)


def test_sold_out_product_says_so_and_cannot_be_chosen(client):
    product = factories.ProductFactory(
        title="卖光了",
        options=[{"name": "规格", "values": ["小", "大"]}],
        skus=[
            {"spec_values": ["小"], "price_fen": 1000, "stock": 0},
            {"spec_values": ["大"], "price_fen": 2000, "stock": 0},
        ],
    )
    page = html(client.get(f"/p/{product.id}"))
    assert (
        'class="weui-btn weui-btn_disabled weui-btn_default action-bar__main" type="button" disabled>已售罄'
        in page
    )
    assert "gallery__sold-out" in page
    assert page.count("disabled>") >= 3  # both values and the button
    card = html(client.get("/"))
    assert "sold-out-badge" in card


def test_original_price_is_not_shown_when_it_is_not_higher(client):
    product = factories.ProductFactory(
        skus=[{"price_fen": 5000, "original_price_fen": 5000, "stock": 1}],
    )
    page = html(client.get(f"/p/{product.id}"))
    assert re.search(r"<del[^>]*hidden", page)
    assert "¥50.00" in page


def test_product_page_has_title_and_share_meta_with_an_absolute_image(client):
    product = factories.ProductFactory(title="明前龙井 250g", subtitle="今年新茶", description="")
    factories.ProductImageFactory(product=product, image_key="ab/abcdef0123456789abcdef0123456789.jpg")
    page = html(client.get(f"/p/{product.id}"))
    assert "<title>明前龙井 250g · " in page
    assert '<meta property="og:title" content="明前龙井 250g">' in page
    assert '<meta property="og:description" content="今年新茶">' in page
    image = re.search(r'<meta property="og:image" content="([^"]+)">', page).group(1)
    assert image == "http://localhost/media/ab/abcdef0123456789abcdef0123456789_800.jpg"
    assert f'<meta property="og:url" content="http://localhost/p/{product.id}">' in page


def test_home_page_share_meta_shows_the_shop(client, session):
    from app.settings.services import update_shop_settings

    update_shop_settings(
        session,
        name="小满好物",
        announcement="全场包邮\n明天发货",
        logo_key="ab/abcdef0123456789abcdef0123456789.png",
    )
    session.commit()
    page = html(client.get("/"))
    assert "<title>小满好物</title>" in page
    assert '<meta property="og:title" content="小满好物">' in page
    assert '<meta property="og:description" content="全场包邮 明天发货">' in page
    assert (
        '<meta property="og:image" content="http://localhost/media/ab/abcdef0123456789abcdef0123456789_400.png">'
        in page
    )


def test_share_description_falls_back_to_the_description(client):
    product = factories.ProductFactory(title="茶", subtitle="", description="第一行\n第二行")
    page = html(client.get(f"/p/{product.id}"))
    assert '<meta property="og:description" content="第一行 第二行">' in page
    assert "og:image" not in page  # no picture and no logo: better none than an SVG chat apps ignore


def test_description_is_plain_text_with_its_line_breaks(client):
    product = factories.ProductFactory(description="产地：杭州\n<b>加粗</b>\n\n保质期 18 个月")
    page = html(client.get(f"/p/{product.id}"))
    assert '<div class="description-text">产地：杭州\n&lt;b&gt;加粗&lt;/b&gt;\n\n保质期 18 个月</div>' in page


def test_customer_service_phone_is_on_the_product_page(client, session):
    from app.settings.services import update_shop_settings

    update_shop_settings(session, name="小满好物", service_phone="400-820-8820")
    session.commit()
    product = factories.ProductFactory()
    page = html(client.get(f"/p/{product.id}"))
    assert 'href="tel:400-820-8820"' in page
    assert "<title>" in page and "小满好物" in page


# ---------------------------------------------------------------- language


def test_pages_speak_chinese_by_default(client, two_per_page):
    for _ in range(3):
        factories.ProductFactory()
    page = html(client.get("/"))
    assert 'lang="zh-CN"' in page
    for word in ("首页", "分类", "我的", "加载更多", "搜索商品", "为你推荐"):
        assert word in page


def test_english_on_request(client):
    product = factories.ProductFactory(
        options=[{"name": "Size", "values": ["S"]}], skus=[{"spec_values": ["S"], "price_fen": 100}]
    )
    page = html(client.get("/?lang=en"))
    assert 'lang="en"' in page and "Home" in page and "Recommended" in page and "首页" not in page
    # The choice is remembered for the next page.
    product_page = html(client.get(f"/p/{product.id}"))
    assert "Stock: 10" in product_page and "Please choose: Size" in product_page


@pytest.mark.parametrize("asked", ["zh", "zh-CN", "zh_CN", "ZH-cn", "cn", "zh-Hans"])
def test_every_usual_way_of_asking_for_chinese_brings_it_back(client, asked):
    assert "Home" in html(client.get("/?lang=en"))
    page = html(client.get(f"/?lang={asked}"))
    assert 'lang="zh-CN"' in page and "首页" in page and "Home" not in page
    assert "首页" in html(client.get("/categories"))  # remembered


@pytest.mark.parametrize("asked", ["en-US", "EN", "en_GB"])
def test_english_by_its_usual_names_too(client, asked):
    assert "Home" in html(client.get(f"/?lang={asked}"))


def test_an_unknown_language_changes_nothing(client):
    assert "首页" in html(client.get("/?lang=fr"))
    html(client.get("/?lang=en"))
    assert "Home" in html(client.get("/?lang=xx%00"))


def test_the_language_switch_is_on_the_me_page_and_the_login_page(client):
    login_page = html(client.get("/login"))
    assert 'href="/login?lang=en" lang="en">English</a>' in login_page
    assert 'href="/login?lang=zh_CN" lang="zh-CN" aria-current="true">中文</a>' in login_page
    login(client, factories.UserFactory())
    me = html(client.get("/me"))
    assert 'href="/me?lang=en"' in me
    english = html(client.get("/me?lang=en"))
    assert 'href="/me?lang=en" lang="en" aria-current="true">English</a>' in english
    assert "Log out" in english


def test_english_counts_and_price_ranges_read_as_english(client):
    factories.ProductFactory(
        title="Tea",
        subtitle="",
        options=[{"name": "Size", "values": ["S", "L"]}],
        skus=[{"spec_values": ["S"], "price_fen": 3990}, {"spec_values": ["L"], "price_fen": 5990}],
    )
    one = html(client.get("/search?q=Tea&lang=en"))
    assert "1 result for “Tea”" in one and "1 results" not in one
    assert '<span class="price__from">¥39.90</span>+' in one  # "¥39.90+": short enough for a card
    factories.ProductFactory(title="Tea bags", subtitle="")
    assert "2 results for “Tea”" in html(client.get("/search?q=Tea"))
    chinese = html(client.get("/search?q=Tea&lang=zh"))
    assert '<span class="price__from">¥39.90</span>起' in chinese and "“Tea”的搜索结果：2 个" in chinese


# ---------------------------------------------------------------- query count


def count_queries(app, client, path: str) -> int:
    with app.app_context():
        engine = db.engine
    with counting_statements(engine) as statements:
        assert client.get(path).status_code == 200
    return len(statements)


def test_home_page_query_count_does_not_grow_with_the_products_shown(app, client):
    category = factories.CategoryFactory()
    for _ in range(2):
        factories.ProductFactory(category=category)
    few = count_queries(app, client, "/")
    for _ in range(15):
        product = factories.ProductFactory(category=category)
        factories.ProductImageFactory(product=product)
    many = count_queries(app, client, "/")
    assert many == few


# ---------------------------------------------------------------- the shopper's account pages


def png_bytes(size=(40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "#fa5151").save(out, "PNG")
    return out.getvalue()


def test_me_page_masks_the_mobile_number(client):
    user = factories.UserFactory(mobile="13812345678", nickname="小王")
    login(client, user)
    page = html(client.get("/me"))
    assert "小王" in page and "138****5678" in page and "13812345678" not in page


def test_me_page_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/me")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_avatar_upload_saves_a_picture(client, session):
    user = factories.UserFactory()
    login(client, user)
    response = client.post(
        "/me/profile",
        data={
            "nickname": "新昵称",
            "avatar": (io.BytesIO(png_bytes()), "me.png"),
            "csrf_token": csrf_token(client, "/me/profile"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    session.expire_all()
    saved = session.get(User, user.id)
    assert saved.nickname == "新昵称" and saved.avatar_key
    assert saved.avatar_key.split("/")[-1].split(".")[0] in html(client.get("/me"))


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ((b"#!/bin/sh\nrm -rf /\n", "avatar.jpg"), "不是图片"),
        ((b"", "empty.png"), "文件是空的"),
        ((b"\xff\xd8" + b"0" * (5 * 1024 * 1024), "huge.jpg"), "图片超过 5 MB"),
    ],
)
def test_avatar_upload_refuses_what_is_not_a_picture_clearly(client, session, upload, message):
    user = factories.UserFactory(nickname="原昵称")
    login(client, user)
    content, name = upload
    response = client.post(
        "/me/profile",
        data={
            "nickname": "改了",
            "avatar": (io.BytesIO(content), name),
            "csrf_token": csrf_token(client, "/me/profile"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    page = html(response)
    assert message in page and 'class="field-error" role="alert"' in page
    session.expire_all()
    saved = session.get(User, user.id)
    assert saved.nickname == "原昵称" and saved.avatar_key is None


def test_profile_without_a_new_picture_keeps_the_old_one(client, session):
    user = factories.UserFactory(nickname="原昵称")
    user.avatar_key = "ab/abcdef0123456789abcdef0123456789.jpg"
    session.commit()
    login(client, user)
    response = client.post(
        "/me/profile", data={"nickname": "新的", "csrf_token": csrf_token(client, "/me/profile")}
    )
    assert response.status_code == 302
    session.expire_all()
    saved = session.get(User, user.id)
    assert saved.nickname == "新的" and saved.avatar_key == "ab/abcdef0123456789abcdef0123456789.jpg"


def test_account_pages_render(client):
    for path in ("/login", "/register", "/login?next=/me"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "手机号" in html(response)
    user = factories.UserFactory()
    login(client, user)
    for path in ("/me", "/me/profile", "/me/password"):
        assert client.get(path).status_code == 200, path
