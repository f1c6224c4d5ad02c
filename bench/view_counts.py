"""The product page with view counting on and off (app/catalog/view_counts.py), in one process and in
interleaved rounds so that whatever else the machine does falls on both alike: what counting a view costs
a page Flask renders (a new address each time, never the page cache), and a kept page served again (which
counts through the page cache's hook)."""

import statistics
import time

import app.shop.catalog as shop_catalog
from bench import Result, benchmark

ROUNDS = 10


@benchmark("viewcounts", "product page with view counting on vs off (interleaved A/B)")
def view_counts(env) -> list[Result]:
    ids = env.product_ids[:: max(1, len(env.product_ids) // 200)][:100]
    client, real = env.client, shop_catalog.count_product_event
    times: dict[str, list[float]] = {"on": [], "off": []}
    served = 0
    for pid in ids[:20]:
        client.get(f"/p/{pid}")
    try:
        for round_ in range(ROUNDS):
            for mode in ("on", "off") if round_ % 2 == 0 else ("off", "on"):
                shop_catalog.count_product_event = real if mode == "on" else (lambda *a, **k: None)
                for pid in ids:
                    served += 1
                    started = time.perf_counter()
                    response = client.get(f"/p/{pid}?ab={served}")
                    times[mode].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
    finally:
        shop_catalog.count_product_event = real
    results = []
    for mode, values in times.items():
        values.sort()
        median = statistics.median(values)
        results.append(
            Result(
                f"product page, counting {mode}",
                len(values),
                median,
                values[int(len(values) * 0.95)],
                1000 / median,
                goal="A/B: compare the two medians",
            )
        )
    return results
