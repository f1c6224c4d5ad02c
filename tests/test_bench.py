"""The benchmarks' own pieces: what `make bench-http` reads from wrk and from the shop's forms, and that
`make bench` still runs (on a tiny catalog: the figures are not the point here, the code path is)."""

import shutil
import subprocess
import sys
from pathlib import Path

from bench.lighthouse import median_measure, missed_goals, read_report
from bench.over_http import _parse_wrk
from bench.servers import form_fields

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
    assert form_fields(page, "/checkout") == {
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


def test_make_bench_runs_the_dividend_job_on_a_tiny_day():
    import os

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "BENCH_DIVIDEND_ORDERS": "300", "BENCH_DIVIDEND_DISTRIBUTORS": "60"}
    env.pop("BENCH_DATABASE_URL", None)
    env.pop("TEST_DATABASE_URL", None)  # SQLite only: the code path, not the figures
    result = subprocess.run(
        [sys.executable, "-m", "bench", "dividends"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dividend job, 300 orders, 60 distributors (SQLite)" in result.stdout, result.stdout
    assert "cut by a cap" in result.stdout


# --- make bench's 秒杀 rush: how its answers are judged ----------------------------------------------------


def rush_burst(seconds: float, *, ordered: int, sold_out: int, flash_stock=100, other=None, database=None):
    """A burst of a rush for `flash_stock` units whose answers all came within `seconds`; the database as it
    would then be, unless given."""
    from bench.flash_rush import SKU_STOCK, Answer, Burst

    answers = [Answer(302, "/orders/2612/manual", "", "", 0.0, seconds)] * ordered
    answers += [Answer(422, "", "<div class='form-error'>已抢光</div>", "", 0.0, seconds)] * sold_out
    if other is not None:
        answers.append(Answer(other, "", "Internal Server Error", "", 0.0, seconds))
    return Burst(answers, database or (ordered, max(flash_stock - ordered, 0), ordered, SKU_STOCK - ordered))


def test_the_sold_out_rush_meets_its_goal_at_5_times_the_order_rate_and_misses_it_below(capsys):
    from bench.flash_rush import Round, _report

    units = rush_burst(10.0, ordered=100, sold_out=100)  # 10 orders/s
    fast_enough = rush_burst(4.0, ordered=0, sold_out=200, flash_stock=0)  # 50 answers/s: 5×
    met = _report([Round(units, fast_enough)] * 3)
    assert [r.failed for r in met] == [False, False]
    assert (met[0].per_second, met[1].per_second) == (10.0, 50.0)
    assert "5.00× (median of the rounds' ratios) ok" in capsys.readouterr().out
    slow = [
        Round(units, rush_burst(seconds, ordered=0, sold_out=200, flash_stock=0))
        for seconds in (3.0, 5.0, 6.0)
    ]
    missed = _report(slow)  # ratios 6.7×, 4×, 3.3×: the median is under 5
    assert [r.failed for r in missed] == [False, True]
    assert "4.00× (median of the rounds' ratios) MISSED" in capsys.readouterr().out


def test_a_rush_with_one_order_too_few_or_too_many_fails_however_fast_it_was():
    from bench.flash_rush import Round, _report

    fast_none = rush_burst(0.1, ordered=0, sold_out=200, flash_stock=0)
    for units in (
        rush_burst(10.0, ordered=99, sold_out=100, other=500),  # a 5xx instead of an order
        # an order nobody was told of
        rush_burst(10.0, ordered=99, sold_out=101, database=(100, 0, 100, 200)),
        rush_burst(10.0, ordered=101, sold_out=99),
        rush_burst(10.0, ordered=100, sold_out=100, database=(100, 0, 100, 199)),  # one SKU unit too many
    ):
        assert [r.failed for r in _report([Round(units, fast_none)])] == [True, False]


def test_a_stock_0_rush_that_answers_anything_but_sold_out_fails():
    from bench.flash_rush import Round, _report

    units = rush_burst(10.0, ordered=100, sold_out=100)
    for none in (
        rush_burst(1.0, ordered=0, sold_out=199, flash_stock=0, other=500),
        rush_burst(1.0, ordered=1, sold_out=199, flash_stock=0),
    ):
        assert [r.failed for r in _report([Round(units, none)])] == [False, True]


# --- make bench-lighthouse: what it reads from Lighthouse's JSON report --------------------------------


def lighthouse_report(performance, accessibility, *, lcp_ms=2000.0, audits=None, **keys) -> dict:
    """A report shaped as Lighthouse documents its JSON: categories[id] with a 0–1 `score` (null when the
    category could not be scored) and `auditRefs`; audits[id] with `score`, `scoreDisplayMode`, `title`,
    `displayValue` and `numericValue`."""
    audits = {
        "largest-contentful-paint": {"score": 0.9, "scoreDisplayMode": "numeric", "numericValue": lcp_ms},
        "first-contentful-paint": {"score": 1, "scoreDisplayMode": "numeric", "numericValue": 900.5},
        "total-blocking-time": {"score": 1, "scoreDisplayMode": "numeric", "numericValue": 12.0},
        "cumulative-layout-shift": {"score": 1, "scoreDisplayMode": "numeric", "numericValue": 0.02},
        "total-byte-weight": {"score": 1, "scoreDisplayMode": "numeric", "numericValue": 61_440},
        **(audits or {}),
    }
    refs = {"performance": [], "accessibility": []}
    for audit_id, audit in audits.items():
        refs[audit.pop("category", "performance")].append({"id": audit_id, "weight": 1})
    return {
        "lighthouseVersion": "12.8.2",
        "categories": {
            "performance": {"id": "performance", "score": performance, "auditRefs": refs["performance"]},
            "accessibility": {
                "id": "accessibility",
                "score": accessibility,
                "auditRefs": refs["accessibility"],
            },
        },
        "audits": audits,
        **keys,
    }


def test_a_lighthouse_report_gives_its_scores_out_of_100_and_its_metrics():
    measure = read_report(lighthouse_report(0.93, 1, lcp_ms=2345.6))
    assert measure.scores == {"performance": 93, "accessibility": 100}
    assert measure.metrics == {"LCP": 2345.6, "FCP": 900.5, "TBT": 12.0, "CLS": 0.02, "bytes": 61_440}
    assert measure.error == ""


def test_the_audits_that_cost_points_are_listed_under_their_category():
    contrast = "Background and foreground colors do not have a sufficient contrast ratio."
    audits = {
        "color-contrast": {
            "category": "accessibility", "score": 0, "scoreDisplayMode": "binary", "title": contrast,
        },
        "image-alt": {"category": "accessibility", "score": 1, "scoreDisplayMode": "binary", "title": "alt"},
        "video-caption": {"category": "accessibility", "score": None, "scoreDisplayMode": "notApplicable"},
        "render-blocking-resources": {
            "score": 0.5, "scoreDisplayMode": "metricSavings", "title": "Eliminate render-blocking resources",
            "displayValue": "Est savings of 300 ms",
        },
        "diagnostics": {"score": None, "scoreDisplayMode": "informative", "title": "Diagnostics"},
    }  # fmt: skip
    flagged = read_report(lighthouse_report(0.9, 0.95, audits=audits)).flagged
    assert flagged["accessibility"] == [contrast]
    assert flagged["performance"] == ["Eliminate render-blocking resources — Est savings of 300 ms"]


def test_a_run_lighthouse_could_not_score_keeps_its_error_and_no_score():
    report = lighthouse_report(
        None, None, runtimeError={"code": "NO_FCP", "message": "The page did not paint"}
    )
    measure = read_report(report)
    assert measure.scores == {"performance": None, "accessibility": None}
    assert measure.error == "The page did not paint"
    assert missed_goals(measure) == ["performance", "accessibility"]


def test_the_median_run_is_reported_with_its_own_metrics():
    runs = [
        read_report(lighthouse_report(perf, a11y, lcp_ms=lcp))
        for perf, a11y, lcp in [(0.90, 1, 3000.0), (0.99, 0.98, 1500.0), (0.95, 0.97, 2200.0)]
    ]
    median = median_measure(runs)
    assert median.scores == {"performance": 95, "accessibility": 98}
    assert median.metrics["LCP"] == 2200.0


def test_a_failed_run_counts_as_the_lowest_score():
    runs = [read_report(lighthouse_report(p, 1)) for p in (None, 0.99, 0.97, 0.98)]
    assert median_measure(runs).scores["performance"] == 97


def test_each_goal_is_met_at_98_and_missed_below():
    met = read_report(lighthouse_report(0.98, 0.98))
    assert missed_goals(met) == []
    assert missed_goals(read_report(lighthouse_report(0.97, 1))) == ["performance"]
    assert missed_goals(read_report(lighthouse_report(1, 0.97))) == ["accessibility"]


def test_where_a_workers_memory_goes_is_measured_step_by_step(sqlite_template, tmp_path, capsys):
    from bench import memory
    from bench.servers import server_env

    database = tmp_path / "shop.sqlite3"
    shutil.copy(sqlite_template, database)
    env = server_env(f"sqlite:///{database}", tmp_path, "production")
    steps = memory.steps(env, ["/", "/categories"])
    labels = [label for label, _mb in steps]
    assert labels[0].startswith("Python") and labels[-1] == "+ the shop pages served once"
    sizes = [mb for _label, mb in steps]
    assert 10 < sizes[0] < sizes[2] < sizes[-1]  # gunicorn alone, then SQLAlchemy, then the app at work
    assert sizes[-2] - sizes[-3] > 2  # Fenxiao's own code is a step of its own, megabytes big
    memory.report({"SQLite": steps})
    lines = capsys.readouterr().out.splitlines()
    assert f"{sizes[-1]:.1f} (+{sizes[-1] - sizes[-2]:>5.1f})" in lines[-1]
