"""The benchmarks' own pieces: what `make bench-http` reads from wrk and from the shop's forms, and that
`make bench` still runs (on a tiny catalog: the figures are not the point here, the code path is)."""

import subprocess
import sys
from pathlib import Path

from bench.over_http import _form_fields, _parse_wrk

WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8000
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    13.05ms    2.18ms  42.00ms   80.12%
    Req/Sec   612.33     40.12   700.00     71.00%
  Latency Distribution
     50%  850.00us
     75%   14.01ms
     90%   15.90ms
     99%    1.20s
  12210 requests in 10.01s, 98.12MB read
  Non-2xx or 3xx responses: 7
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   1219.78
Transfer/sec:      9.80MB
"""


def test_wrk_output_is_read_with_its_units_and_every_kind_of_error():
    assert _parse_wrk(WRK_OUTPUT) == {"per_second": 1219.78, "p50_ms": 0.85, "p99_ms": 1200.0, "errors": 10}


def test_a_clean_wrk_run_has_no_errors():
    clean = WRK_OUTPUT.replace("  Non-2xx or 3xx responses: 7\n", "").replace(
        "  Socket errors: connect 0, read 2, write 0, timeout 1\n", ""
    )
    assert _parse_wrk(clean)["errors"] == 0


def test_form_fields_are_what_a_browser_would_send():
    page = """<form method="get" action="/search"><input name="q" value="nope"></form>
    <form method="post" action="/checkout" class="checkout">
      <input type="hidden" name="idempotency_key" value="k&amp;1">
      <input type="radio" name="payment_method" value="wechat">
      <input type="radio" name="payment_method" value="sandbox" checked>
      <input type="checkbox" name="use_points" value="y">
      <input type="text" name="buyer_note" value="">
      <button>提交</button>
    </form>"""
    assert _form_fields(page, "/checkout") == {
        "idempotency_key": "k&1",
        "payment_method": "sandbox",
        "buyer_note": "",
    }


def test_make_bench_runs_on_a_small_catalog():
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "bench", "pages", "--products", "40", "--requests", "3", "--warmup", "1"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "shop product page" in result.stdout, result.stdout + result.stderr
    assert "cores" in result.stdout  # the machine it ran on is stated
