"""`python -m bench [NAME ...]`: run the registered benchmarks and print one table."""

import argparse
import importlib
import sys
import tempfile

from bench import BENCHMARKS, MODULES
from bench.env import Env
from bench.machine import describe


def main(argv=None) -> int:
    for module in MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})"
    )
    parser.add_argument(
        "--products", type=int, default=10_000, help="products in the test shop (default 10000)"
    )
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests first (default 20)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for item in BENCHMARKS.values():
            print(f"{item.name:<12} {item.description}")
        return 0
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark: {', '.join(unknown)} (try --list)")

    with tempfile.TemporaryDirectory(prefix="fenxiao-bench-") as folder:
        env = Env(folder, products=args.products, requests=args.requests, warmup=args.warmup)
        results = []
        for name in args.names or list(BENCHMARKS):
            results.extend(BENCHMARKS[name].run(env))
        env.close()
    print()
    print(
        f"make bench: in-process through Flask's test client (no HTTP server, one thread), TESTING config, "
        f"except the rows marked HTTP (their configuration is printed above the table); {args.requests} timed "
        f"requests each after {args.warmup} warm-up; {env.summary}; on {describe()}"
    )
    width = max([32, *(len(r.name) for r in results)])
    print(f"{'benchmark':<{width}} {'req/s':>8} {'median ms':>10} {'p95 ms':>8}  budget or goal")
    for r in results:
        budget = "—" if r.budget_ms is None else f"{r.budget_ms:g} ms {'OVER' if r.over_budget else 'ok'}"
        print(
            f"{r.name:<{width}} {r.per_second:>8.1f} {r.median_ms:>10.2f} {r.p95_ms:>8.2f}  {r.goal or budget}"
        )
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
