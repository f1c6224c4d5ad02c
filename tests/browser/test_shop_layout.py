"""The shop's rough edges seen on screenshots, measured in Chromium: the cart on a 320 px phone, the shop
as a phone-width column on a desktop (its bars and back button inside the column), a forgotten agreement
box at registration, messages that leave the page's title readable, and the language switch."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.orders import cart
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.helpers import SHOPPER_MOBILE, layout_problems, log_in, seed_shop

pytestmark = pytest.mark.browser

# Runs in the page: the boxes of `selector`'s elements that stick out of the screen or out of `column`.
OUTSIDE_JS = """
([selector, column]) => {
  const bounds = column ? document.querySelector(column).getBoundingClientRect()
                        : {left: 0, right: window.innerWidth};
  return [...document.querySelectorAll(selector)]
    .filter(el => el.getClientRects().length)
    .map(el => [el, el.getBoundingClientRect()])
    .filter(([el, box]) => box.left < bounds.left - 0.5 || box.right > bounds.right + 0.5)
    .map(([el, box]) => `${el.className || el.tagName} ${Math.round(box.left)}–${Math.round(box.right)} ` +
                        `outside ${Math.round(bounds.left)}–${Math.round(bounds.right)}`);
}
"""


def outside(page, selector: str, column: str | None = None) -> list[str]:
    page.wait_for_load_state("load")
    return page.evaluate(OUTSIDE_JS, [selector, column])


def fill_cart(data) -> None:
    """Two lines, one with a long title, both with a quantity stepper."""
    shopper = db.session.scalar(select(User).where(User.mobile == SHOPPER_MOBILE))
    cart.add_to_cart(db.session, shopper.id, data["shirt"].skus[0].id, 2)
    cart.add_to_cart(db.session, shopper.id, data["long_title"].skus[0].id, 1)
    db.session.commit()


def test_the_cart_fits_a_320_px_phone(live_server, open_context, shot):
    data = seed_shop()
    fill_cart(data)
    context, _errors = open_context({**PHONE, "viewport": {"width": 320, "height": 640}})
    phone = context.new_page()
    log_in(phone, live_server.url)
    phone.goto(live_server("/cart"))
    shot(phone, "cart-320")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 320
    assert outside(phone, ".cart-line, .cart-line *, .cart-bar, .cart-bar *") == []
    for plus in phone.locator(".cart-line .stepper__btn").all():
        plus.scroll_into_view_if_needed()
        box = plus.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, box
    checkout = phone.locator(".cart-bar__go")
    expect(checkout).to_contain_text("结算")
    box = checkout.bounding_box()
    assert box["x"] + box["width"] <= 320 and box["y"] + box["height"] <= 640, box
    assert layout_problems(phone) == []


@pytest.fixture
def desktop_1366(open_context):
    context, _errors = open_context({**DESKTOP, "viewport": {"width": 1366, "height": 800}})
    return context.new_page()


def test_on_a_desktop_the_bars_and_the_back_button_stay_in_the_column(live_server, desktop_1366, shot):
    data = seed_shop()
    fill_cart(data)
    page = desktop_1366
    page.goto(live_server(f"/p/{data['shirt'].id}"))
    shot(page, "product-1366")
    column = page.locator("main.page").bounding_box()
    assert column["width"] <= 640 and column["x"] > 300  # the phone-width column, in the middle
    assert outside(page, ".action-bar, .action-bar *, .floating-back", "main.page") == []
    bar = page.locator(".action-bar").bounding_box()
    assert abs(bar["x"] - column["x"]) < 1 and abs(bar["width"] - column["width"]) < 1
    back = page.locator(".floating-back").bounding_box()
    assert column["x"] <= back["x"] <= column["x"] + 20

    for path in ("/", "/categories"):
        page.goto(live_server(path))
        assert outside(page, ".shop-tabbar, .shop-tabbar *", "main.page") == [], path
    shot(page, "categories-1366")

    log_in(page, live_server.url)
    page.goto(live_server("/cart"))
    shot(page, "cart-1366")
    assert outside(page, ".cart-bar, .cart-bar *, .shop-tabbar, .shop-tabbar *", "main.page") == []
    tabbar = page.locator(".shop-tabbar").bounding_box()
    assert abs(tabbar["x"] - column["x"]) < 1  # the first tab starts at the column's edge, not the window's

    page.get_by_role("button", name="结算").click()
    page.wait_for_url("**/checkout*")
    expect(page.locator(".submit-bar")).to_be_visible()
    shot(page, "checkout-1366")
    assert outside(page, ".submit-bar, .submit-bar *", "main.page") == []


def test_a_forgotten_agreement_box_keeps_both_passwords(live_server, phone, shot):
    phone.goto(live_server("/register"))
    phone.fill("#mobile", "13900000077")
    phone.fill("#password", "abc12345")
    phone.fill("#password_again", "abc12345")
    phone.get_by_role("button", name="注册").click()
    error = phone.locator("[data-agree-error]")
    expect(error).to_be_visible()
    expect(error).to_have_text("请先阅读并同意用户协议。")
    shot(phone, "agreement-forgotten")
    assert phone.url == live_server("/register")  # nothing was sent
    assert phone.input_value("#password") == "abc12345"
    assert phone.input_value("#password_again") == "abc12345"

    phone.locator("input[data-agree]").check()
    expect(error).to_be_hidden()
    phone.get_by_role("button", name="注册").click()
    phone.wait_for_url(live_server("/me"))


def test_a_message_leaves_the_page_title_readable(live_server, phone, shot):
    seed_shop()
    log_in(phone, live_server.url)
    phone.goto(live_server("/checkout"))  # with an empty cart: back to the cart, with a message
    phone.wait_for_url(live_server("/cart"))
    message = phone.locator(".flash").first
    expect(message).to_be_visible()
    shot(phone, "message-under-the-title")
    title = phone.locator(".topbar__title").bounding_box()
    box = message.bounding_box()
    assert box["y"] >= title["y"] + title["height"], (box, title)


def test_the_shopper_switches_to_english_and_back(live_server, phone, shot):
    seed_shop()
    log_in(phone, live_server.url)
    phone.get_by_role("link", name="English").click()
    expect(phone.get_by_role("button", name="Log out")).to_be_visible()
    shot(phone, "me-in-english")
    phone.goto(live_server("/"))
    expect(phone.get_by_role("link", name="Categories")).to_be_visible()
    phone.goto(live_server("/me"))
    phone.get_by_role("link", name="中文").click()
    expect(phone.get_by_role("button", name="退出登录")).to_be_visible()
    assert layout_problems(phone) == []
