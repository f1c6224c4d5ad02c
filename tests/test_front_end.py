"""What a phone on 4G downloads: compressed, long-cached static files under content-named URLs, a byte
budget for the pages a shared link opens, and a WeUI subset that has every rule the shop's markup uses."""

import gzip
import re
from pathlib import Path

from tests import factories

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
# HTML + CSS + JS a first visit downloads, gzipped (nginx compresses the HTML: README), before images.
PAGE_BUDGET_BYTES = 60 * 1024


def _assets(page: str) -> list[str]:
    return re.findall(r'<link rel="stylesheet" href="([^"]+)"', page) + re.findall(
        r'<script src="([^"]+)"', page
    )


def test_a_stylesheet_is_gzipped_for_a_browser_that_accepts_it(client):
    url = next(u for u in _assets(client.get("/").get_data(as_text=True)) if "shop.css" in u)
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status_code == 200
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert zipped.mimetype == "text/css"
    assert gzip.decompress(zipped.get_data()) == (STATIC / "css" / "shop.css").read_bytes()

    plain = client.get(url)
    assert "Content-Encoding" not in plain.headers
    assert plain.get_data() == (STATIC / "css" / "shop.css").read_bytes()


def test_static_urls_name_the_content_and_are_cached_for_a_year(client):
    urls = _assets(client.get("/").get_data(as_text=True))
    assert urls and all(re.search(r"\?v=[0-9a-f]{10}$", url) for url in urls)
    response = client.get(urls[0])
    assert response.cache_control.max_age == 365 * 24 * 3600
    assert response.cache_control.immutable and response.cache_control.public
    assert not response.cache_control.no_cache
    for url in urls:  # without gzip too (the plain file goes through send_file)
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert "Content-Encoding" not in plain.headers
        assert plain.cache_control.max_age == 365 * 24 * 3600 and not plain.cache_control.no_cache
    again = client.get(urls[0], headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_a_stale_or_missing_version_is_revalidated_every_time(client):
    for url in ("/static/css/shop.css", "/static/css/shop.css?v=0000000000"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.cache_control.no_cache
        assert not response.cache_control.max_age


def test_nothing_is_compressed_unasked_and_paths_stay_inside_static(client):
    assert (
        "Content-Encoding"
        not in client.get("/static/img/placeholder.svg", headers={"Accept-Encoding": "identity"}).headers
    )
    for path in ("/static/../app/config.py", "/static/%2e%2e/app/config.py", "/static/nope.css"):
        assert client.get(path, headers={"Accept-Encoding": "gzip"}).status_code == 404


def test_the_pages_a_shared_link_opens_fit_the_byte_budget(client, session):
    category = factories.CategoryFactory()
    products = [factories.ProductFactory(category=category) for _ in range(20)]
    for product in products:
        factories.ProductImageFactory(product=product)
    session.commit()
    for path in ("/", f"/p/{products[0].id}", f"/c/{category.id}"):
        page = client.get(path)
        assert page.status_code == 200
        total = len(gzip.compress(page.get_data()))
        for url in _assets(page.get_data(as_text=True)):
            asset = client.get(url, headers={"Accept-Encoding": "gzip"})
            assert asset.status_code == 200 and asset.headers["Content-Encoding"] == "gzip", url
            total += len(asset.get_data())
        assert total <= PAGE_BUDGET_BYTES, f"{path}: {total} bytes"
        assert "orders.css" not in page.get_data(as_text=True)  # the order pages' styles stay on them


def test_the_weui_subset_has_every_weui_rule_the_shop_uses():
    """A WeUI class newly used in a shop template needs `make css` (frontend/build-css.mjs)."""
    full = (ROOT / "frontend" / "weui-2.6.26.min.css").read_text()
    subset = (STATIC / "vendor" / "weui-2.6.26-shop.min.css").read_text()
    sources = [
        *(ROOT / "templates" / "shop").rglob("*.html"),
        *(ROOT / "templates" / "payments").glob("*.html"),
    ]
    sources += list((STATIC / "js").glob("*.js"))
    used = {name for source in sources for name in re.findall(r"\bweui-[\w-]+", source.read_text())}
    missing = [
        name
        for name in sorted(used)
        if re.search(rf"\.{re.escape(name)}(?![\w-])", full)
        and not re.search(rf"\.{re.escape(name)}(?![\w-])", subset)
    ]
    assert used and not missing, f"run `make css`: the subset lacks {missing}"
    assert 'data-weui-theme="dark"' not in subset and len(subset) < 40_000
