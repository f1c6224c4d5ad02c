"""The smallest phone the shop supports (320×640, WeChat): a 退货退款 request with a photo, then the return
address and the parcel form once the merchant has agreed — nothing sticks out, every control is big enough
to tap. (The whole flow, with the merchant at 1366×800, is test_aftersales_browser.py.)"""

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.orders import returns
from tests.browser.conftest import PHONE
from tests.browser.helpers import layout_problems, log_in
from tests.browser.test_aftersales_browser import photo_file, shipped, the_refund  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

SMALL = {**PHONE, "viewport": {"width": 320, "height": 640}}


def test_a_return_request_with_a_photo_on_a_320_px_phone(live_server, shipped, open_context, shot, tmp_path):  # noqa: F811
    number = shipped.number
    context, _errors = open_context(SMALL)
    phone = context.new_page()
    log_in(phone, live_server.url)
    phone.goto(live_server(f"/orders/{number}"))
    phone.get_by_role("link", name="申请售后").click()
    expect(phone.locator(".aftersales-kinds__item.is-current")).to_have_text("退货退款")
    phone.select_option("#reason", "质量问题")
    phone.fill("#detail", "领口开线，洗了一次就裂开了，麻烦尽快处理，谢谢")
    phone.set_input_files("#photos", str(photo_file(tmp_path)))
    assert layout_problems(phone) == []
    shot(phone, "request-form-320", full_page=True)
    # The live amount preview the form fires as it is filled must be back before the page moves on: on a
    # busy machine a preview cut off by the navigation is a console error.
    phone.wait_for_load_state("networkidle")
    phone.get_by_role("button", name="提交申请").click()
    phone.wait_for_url(f"**/orders/{number}")
    expect(phone.locator(".refund-item__photos img")).to_have_count(1)

    returns.approve_return(db.session, the_refund(), actor=None)
    db.session.commit()
    phone.goto(live_server(f"/orders/{number}"))
    expect(phone.locator(".return-box")).to_contain_text("王店长")
    assert layout_problems(phone) == []
    phone.locator(".return-box").scroll_into_view_if_needed()
    shot(phone, "return-box-320")
    phone.select_option("#carrier_code", "zhongtong")
    phone.fill("#tracking_no", "ZT7788990011")
    phone.get_by_role("button", name="我已寄出").click()
    expect(phone.locator(".refund-item__parcel").first).to_contain_text("ZT7788990011")
    assert layout_problems(phone) == []
    shot(phone, "parcel-sent-320", full_page=True)
