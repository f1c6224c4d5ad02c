"""Shop search: words find category names too, and the shopper can sort by sales, shown price or newest.
The price order is the price each card shows (限时折扣 and member prices included), not the list price."""

import re

import pytest

from app.marketing import campaigns, members
from app.marketing.models import MemberLevel
from tests import factories
from tests.conftest import login
from tests.test_page_cache import visit
from tests.test_shop import count_queries, html

CARD_TITLE_RE = re.compile(r'<h3 class="product-card__title">(.*?)</h3>')


def titles(page: str) -> list[str]:
    return CARD_TITLE_RE.findall(page)


def test_a_category_name_finds_its_products_and_its_sub_categories_products(client):
    drinks = factories.CategoryFactory(name="零食茶饮")
    tea = factories.CategoryFactory(name="茶叶冲饮", parent=drinks)
    factories.ProductFactory(title="明前西湖龙井", subtitle="核心产区", category=tea)
    factories.ProductFactory(title="手工牛轧糖", category=drinks)
    factories.ProductFactory(title="纯棉T恤", category=factories.CategoryFactory(name="服饰"))
    page = html(client.get("/search?q=茶"))
    assert "明前西湖龙井" in page and "手工牛轧糖" in page
    assert "纯棉T恤" not in page
    assert "“茶”的搜索结果：2 个" in page
    # A sub-category's name finds its own products only, not its parent's.
    assert titles(html(client.get("/search?q=冲饮"))) == ["明前西湖龙井"]


def test_a_hidden_categorys_name_finds_nothing(client):
    hidden = factories.CategoryFactory(name="内部福利", is_visible=False)
    factories.ProductFactory(title="员工礼盒", category=hidden)
    assert titles(html(client.get("/search?q=内部福利"))) == []


@pytest.fixture
def four_products():
    """Listed in the merchant's order 甲 乙 丙 丁; sales, age and prices each tell another story."""
    return {
        "甲": factories.ProductFactory(title="甲", sort_weight=40, sales_count=5, skus=[{"price_fen": 3000}]),
        "乙": factories.ProductFactory(
            title="乙", sort_weight=30, sales_count=90, skus=[{"price_fen": 1000}]
        ),
        "丙": factories.ProductFactory(
            title="丙", sort_weight=20, sales_count=40, skus=[{"price_fen": 5000}]
        ),
        "丁": factories.ProductFactory(title="丁", sort_weight=10, sales_count=0, skus=[{"price_fen": 2000}]),
    }


SHARED = "好物"  # in every factory product's subtitle


def search(client, order: str = "") -> list[str]:
    response = client.get(f"/search?q={SHARED}" + (f"&sort={order}" if order else ""))
    assert response.status_code == 200
    return titles(html(response))


def test_search_orders_by_sales_newest_and_the_merchants_weight(client, four_products):
    assert search(client) == ["甲", "乙", "丙", "丁"]
    assert search(client, "sales") == ["乙", "丙", "甲", "丁"]
    assert search(client, "newest") == ["丁", "丙", "乙", "甲"]
    # An order nobody offers (a hand-made link) is the merchant's, never an error.
    assert search(client, "price;drop") == ["甲", "乙", "丙", "丁"]


def test_search_by_price_sorts_by_the_price_the_card_shows(client, session, four_products):
    # 丙's 限时折扣 takes ¥50.00 down to ¥5.00: cheapest, although its list price is the highest.
    factories.running_discount(session, campaigns.ItemDraft(four_products["丙"].skus[0].id, discount_bp=1000))
    session.commit()
    assert search(client, "price") == ["丙", "乙", "丁", "甲"]
    assert search(client, "price_desc") == ["甲", "丁", "乙", "丙"]
    page = html(client.get(f"/search?q={SHARED}&sort=price"))
    assert page.index("¥5.00") < page.index("¥10.00") < page.index("¥20.00") < page.index("¥30.00")
    assert 'aria-current="true">价格从低到高' in page


def test_search_by_price_uses_the_shoppers_member_price(client, session, four_products):
    """Member prices apply to products that take them: 甲 (¥30.00, half price for members) comes
    before 丁 (¥20.00, no member price) for a member, after it for a guest."""
    session.add(MemberLevel(name="金卡", growth_threshold=0, discount_bp=5000))
    four_products["丁"].member_discount = False
    shopper = factories.UserFactory()
    session.commit()
    members.add_growth(session, shopper.id, 10, "adjust")
    session.commit()
    assert search(client, "price") == ["乙", "丁", "甲", "丙"]
    login(client, shopper)
    assert search(client, "price") == ["乙", "甲", "丁", "丙"]  # ¥5.00, ¥15.00, ¥20.00, ¥25.00


def test_products_without_a_price_come_last_whichever_way(client, four_products):
    factories.ProductFactory(title="戊", skus=[])
    assert search(client, "price")[-1] == "戊"
    assert search(client, "price_desc")[-1] == "戊"


def test_load_more_keeps_the_order(app, client, four_products):
    app.config["PRODUCTS_PER_PAGE"] = 2
    first = html(client.get(f"/search?q={SHARED}&sort=price"))
    assert titles(first) == ["乙", "丁"]
    assert "sort=price&amp;page=2" in first
    more = html(client.get(f"/search?q={SHARED}&sort=price&page=2", headers={"HX-Request": "true"}))
    assert titles(more) == ["甲", "丙"]
    assert "“好物”的搜索结果：4 个" in first


@pytest.mark.parametrize("order", ["", "sales", "price", "price_desc", "newest"])
def test_search_query_count_does_not_grow_with_the_catalogue(app, client, order):
    for n in range(3):
        factories.ProductFactory(title=f"商品{n}")
    path = f"/search?q={SHARED}" + (f"&sort={order}" if order else "")
    few = count_queries(app, client, path)
    for n in range(30):
        product = factories.ProductFactory(title=f"更多{n}")
        factories.ProductImageFactory(product=product)
    assert count_queries(app, client, path) == few


def test_each_order_is_kept_as_its_own_page(app, session, four_products):
    """The page cache keeps whole pages per URL: two orders never answer with each other's cards."""
    session.commit()
    by_price, made = visit(app, f"/search?q={SHARED}&sort=price")
    by_sales, _ = visit(app, f"/search?q={SHARED}&sort=sales")
    assert titles(by_price) != titles(by_sales)
    again, served = visit(app, f"/search?q={SHARED}&sort=price")
    assert again == by_price and served == 0 < made
    assert titles(visit(app, f"/search?q={SHARED}&sort=sales")[0]) == titles(by_sales)


def test_nothing_found_offers_no_orders(client, four_products):
    page = html(client.get("/search?q=没有这种东西"))
    assert "没有找到相关商品" in page and "价格从低到高" not in page
    assert "价格从低到高" in html(client.get(f"/search?q={SHARED}"))
