"""Page render times through the test client (in-process, no network): the shop home page and a
product page (budget 15 ms median each, from the foundation issue) and the back office product list."""

import itertools

from bench import Result, benchmark, measure

SHOP_PAGE_BUDGET_MS = 15


def _get(client, url_or_urls):
    urls = itertools.cycle(url_or_urls if isinstance(url_or_urls, list) else [url_or_urls])

    def call():
        response = client.get(next(urls))
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.path} answered {response.status_code}")

    return call


@benchmark("pages", "shop home, product page and back-office product list")
def pages(env) -> list[Result]:
    product_urls = [f"/p/{pid}" for pid in env.product_ids[:: max(1, len(env.product_ids) // 200)]]
    options = {"requests": env.requests, "warmup": env.warmup}
    return [
        measure("shop home page /", _get(env.client, "/"), budget_ms=SHOP_PAGE_BUDGET_MS, **options),
        measure(
            "shop product page /p/<id>",
            _get(env.client, product_urls),
            budget_ms=SHOP_PAGE_BUDGET_MS,
            **options,
        ),
        measure("admin product list", _get(env.owner_client, "/admin/products"), **options),
    ]
