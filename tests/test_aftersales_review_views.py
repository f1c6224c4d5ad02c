"""Review of the after-sales pages (issue 13 §1): what the shopper reads about an open request."""

from tests.test_aftersales_views import (  # noqa: F401
    ask_with_photo,
    client_for,
    shipped,
    shop,
    shopper,
    tee,
)


def test_an_open_exchange_is_not_called_a_refund(app, session, shopper, shipped, shop):
    """The order's banner and the order list name the open request's type: an exchange brings no money
    back, so "退款申请中" would promise the shopper (and the distributor) a refund that is not coming."""
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, [], kind="exchange", reason="尺码/颜色不合适").status_code == 302
    for path in (f"/orders/{shipped.number}", "/orders"):
        page = buyer.get(path).get_data(as_text=True)
        assert "换货中" in page, path
        assert "退款申请中" not in page, path


def test_an_open_return_says_return(app, session, shopper, shipped, shop):
    buyer = client_for(app, shopper)
    assert ask_with_photo(buyer, shipped, []).status_code == 302
    page = buyer.get(f"/orders/{shipped.number}").get_data(as_text=True)
    assert "退货退款中" in page and "退款申请中" not in page
