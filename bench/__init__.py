"""Benchmarks for `make bench` (`python -m bench`). A benchmark is a function registered with
@benchmark(name): it receives the shared Env (built lazily, e.g. a shop with N products in a temp SQLite
database) and returns Results. Add one by writing it in a module listed in MODULES."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# Modules whose import registers benchmarks.
MODULES = [
    "bench.pages", "bench.distribution_center", "bench.orders", "bench.promotions", "bench.settle",
    "bench.flash_rush", "bench.grades", "bench.dividends", "bench.reports", "bench.view_counts",
]  # fmt: skip


@dataclass
class Result:
    name: str
    requests: int
    median_ms: float
    p95_ms: float
    per_second: float
    budget_ms: float | None = None
    # A goal other than a median budget, with its verdict (e.g. "≥ 5× the orders/s: 6.1× ok"), and whether
    # it was missed: the benchmark that measured it judges it.
    goal: str = ""
    goal_missed: bool = False

    @property
    def over_budget(self) -> bool:
        return self.budget_ms is not None and self.median_ms > self.budget_ms

    @property
    def failed(self) -> bool:
        return self.over_budget or self.goal_missed


@dataclass
class Benchmark:
    name: str
    description: str
    run: Callable[..., list[Result]]


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, description: str):
    def register(fn):
        BENCHMARKS[name] = Benchmark(name, description, fn)
        return fn

    return register


def measure(name: str, call: Callable[[], object], *, requests: int, warmup: int, budget_ms=None) -> Result:
    """Time `call` `requests` times after `warmup` untimed calls; median and 95th percentile in ms."""
    for _ in range(warmup):
        call()
    timings = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        call()
        timings.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    timings.sort()
    return Result(
        name=name,
        requests=requests,
        median_ms=statistics.median(timings),
        p95_ms=timings[min(len(timings) - 1, int(len(timings) * 0.95))],
        per_second=requests / elapsed,
        budget_ms=budget_ms,
    )
