"""The H5 shop in Chromium on a WeChat phone: tapping through, the SKU picker, load more, layout."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import layout_problems, log_in, seed_shop, t_shirt

pytestmark = pytest.mark.browser


def test_shopper_taps_a_product_and_picks_a_sku(live_server, phone, shot):
    t_shirt()
    phone.goto(live_server("/"))
    shot(phone, "home")

    phone.get_by_role("link", name="纯棉圆领T恤").click()
    phone.wait_for_url("**/p/*")
    price = phone.locator("[data-sku-price]")
    original = phone.locator("[data-sku-original]")
    stock = phone.locator("[data-sku-stock]")
    assert price.text_content() == "¥59.00 - ¥69.00"
    assert original.text_content() == "¥79.00 - ¥89.00"
    assert stock.text_content() == "库存 15 件"
    assert phone.locator("[data-gallery-index]").text_content() == "1"
    shot(phone, "product")

    def value(axis_name: str, text: str):
        return phone.locator("fieldset.sku-axis", has_text=axis_name).locator(
            "label.sku-value", has_text=text
        )

    red, blue = value("颜色", "红"), value("颜色", "蓝")
    size_m, size_l = value("尺寸", "M"), value("尺寸", "L")
    assert not size_l.locator("input").is_disabled()  # 蓝 / L is still in stock

    red.click()
    assert size_l.locator("input").is_disabled()  # 红 / L is sold out
    assert price.text_content() == "¥59.00 - ¥69.00"  # not chosen completely yet
    phone.locator("#sku").scroll_into_view_if_needed()
    shot(phone, "red-chosen-L-disabled")

    size_m.click()
    assert price.text_content() == "¥59.00"
    assert original.text_content() == "¥79.00"
    assert stock.text_content() == "库存 3 件"
    assert phone.locator("[data-sku-choice]").text_content() == "已选：红 / M"
    shot(phone, "red-M")

    blue.click()
    assert not size_l.locator("input").is_disabled()
    assert stock.text_content() == "库存 7 件"  # 蓝 / M
    size_l.click()
    assert price.text_content() == "¥69.00"
    assert original.text_content() == "¥89.00"
    assert stock.text_content() == "库存 5 件"
    assert phone.locator("[data-sku-choice]").text_content() == "已选：蓝 / L"
    shot(phone, "blue-L")

    # Tapping the chosen value again clears it: back to the range.
    size_l.click()
    assert price.text_content() == "¥59.00 - ¥69.00"
    assert stock.text_content() == "库存 15 件"

    # The gallery counter follows a swipe.
    phone.locator("[data-gallery-track]").evaluate("track => track.scrollTo({left: track.clientWidth})")
    expect(phone.locator("[data-gallery-index]")).to_have_text("2")
    phone.evaluate("() => window.scrollTo(0, 0)")
    shot(phone, "gallery-second-picture")


def test_load_more_appends_the_next_cards_without_leaving_the_page(live_server, phone, shot):
    seed_shop()
    phone.goto(live_server("/"))
    cards = phone.locator("#product-grid .product-card")
    assert cards.count() == 20
    url = phone.url
    more = phone.get_by_role("link", name="加载更多")
    more.scroll_into_view_if_needed()
    shot(phone, "before-load-more")
    more.click()
    expect(cards).to_have_count(27)  # every product on shelf
    assert phone.url == url
    assert phone.locator("#load-more").count() == 0
    assert phone.get_by_text("没有更多了").is_visible()
    phone.get_by_text("没有更多了").scroll_into_view_if_needed()
    shot(phone, "after-load-more")


def test_browsing_works_without_javascript(live_server, phone_without_js, phone_without_js_context, shot):
    data = seed_shop()
    page = phone_without_js
    page.goto(live_server("/"))
    page.get_by_role("link", name="加载更多").click()
    page.wait_for_url("**/?page=2")
    assert page.locator(".product-card").count() == 7
    shot(page, "page-two")
    page.goto(live_server("/"))
    page.get_by_role("link", name="服饰").first.click()
    page.get_by_role("link", name="T恤", exact=True).click()
    page.get_by_role("link", name="纯棉圆领T恤").click()
    assert page.locator("[data-sku-price]").text_content() == "¥59.00 - ¥69.00"
    shot(page, "product-without-js")
    page.goto(live_server("/"))
    page.fill("input[name=q]", "坚果")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**/search?q=*")
    assert "“坚果”的搜索结果：22 个" in page.locator(".result-count").text_content()
    phone_without_js_context[1].allow(rf"status of 404 .*/p/{data['off_shelf'].id}\]$")
    page.goto(live_server(f"/p/{data['off_shelf'].id}"))
    assert page.get_by_text("商品已下架").is_visible()
    page.get_by_role("link", name="返回商城").click()
    page.wait_for_url(live_server("/"))


SHOP_PAGES = [
    ("home", "/"),
    ("categories", "/categories"),
    ("category", "/c/{categories[服饰].id}"),
    ("sub-category", "/c/{categories[T恤].id}"),
    ("search-empty-words", "/search"),
    ("search-results", "/search?q=坚果"),
    ("search-nothing-found", "/search?q=没有这种东西"),
    ("product-two-axes", "/p/{shirt.id}"),
    ("product-long-title", "/p/{long_title.id}"),
    ("product-many-skus", "/p/{many.id}"),
    ("product-no-picture", "/p/{no_picture.id}"),
    ("product-sold-out", "/p/{sold_out.id}"),
    ("product-off-shelf", "/p/{off_shelf.id}"),
    ("category-hidden-or-unknown", "/c/999999"),
    ("login", "/login"),
    ("register", "/register"),
]
ACCOUNT_PAGES = [("me", "/me"), ("profile", "/me/profile"), ("password", "/me/password")]


@pytest.mark.parametrize("width", [375, 320])
def test_every_shop_page_fits_the_phone(live_server, phone, phone_errors, shot, width):
    data = seed_shop()
    phone.set_viewport_size({"width": width, "height": 812})
    # The two "not found" pages answer 404 on purpose; the browser logs that as a failed load.
    phone_errors.allow(r"status of 404 .*\[.*/(p|c)/\d+\]$")
    problems = {}
    for name, path in SHOP_PAGES:
        response = phone.goto(live_server(path.format(**data)))
        assert response.status == (
            404 if name in ("product-off-shelf", "category-hidden-or-unknown") else 200
        )
        phone.wait_for_load_state("networkidle")
        shot(phone, f"{name}-{width}", full_page=True)
        problems[name] = layout_problems(phone)
    log_in(phone, live_server.url)
    for name, path in ACCOUNT_PAGES:
        phone.goto(live_server(path))
        phone.wait_for_load_state("networkidle")
        shot(phone, f"{name}-{width}", full_page=True)
        problems[name] = layout_problems(phone)
    failing = {name: found for name, found in problems.items() if found}
    assert not failing, json.dumps(failing, ensure_ascii=False, indent=1)
