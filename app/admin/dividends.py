"""Dividends in the back office (DISTRIBUTION.md "Dividend pools"): the report per day with a date range
(turnover, orders, each grade's or level's pool, sharers, paid, remainder, the distributors a cap held
back), one day's payouts, and both as CSV. The figures are what the dividend job wrote; these views only
read them (distribution.dividend_queries)."""

from collections.abc import Iterator
from datetime import date

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from jinja2_fragments.flask import render_block

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.viewutil import PER_PAGE, csv_rows, is_fragment, streamed_csv
from app.distribution import dividend_queries as queries
from app.distribution import services as dist
from app.distribution.models import Distributor, DividendDay, DividendPayout
from app.extensions import db
from app.money import format_bp, format_fen, yuan
from app.webutil import DATE_ARG_RANGE, csv_digits, csv_text, page_arg

MODE_LABELS = {"static": _l("Static (per grade)"), "dynamic": _l("Dynamic (per level)")}


def _date_filters() -> tuple[queries.DayFilters, str | None]:
    """The report's date range, and what was wrong with it (a clear message; the range is then dropped)."""
    found: dict[str, date | None] = {}
    for name in ("from", "to"):
        text = request.args.get(name, "").strip()
        found[name] = None
        if not text:
            continue
        try:
            day = date.fromisoformat(text) if len(text) == 10 else None
        except ValueError:
            day = None
        if day is None or not DATE_ARG_RANGE[0] <= day <= DATE_ARG_RANGE[1]:
            return queries.DayFilters(), _("Enter dates as YYYY-MM-DD, for example 2026-12-01.")
        found[name] = day
    if found["from"] and found["to"] and found["from"] > found["to"]:
        return queries.DayFilters(), _("The start date is after the end date.")
    return queries.DayFilters(found["from"], found["to"]), None


def _filter_args(filters: queries.DayFilters) -> dict:
    args = {"from": filters.date_from, "to": filters.date_to}
    return {key: value.isoformat() for key, value in args.items() if value}


def _day_or_404(text: str) -> DividendDay:
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    found = queries.day_named(db.session, day) if day else None
    if found is None:
        abort(404, _("No dividend was computed for this day."))
    return found


CAPPED_SHOWN = 3  # capped names the report shows per pool, beside their count


def _capped_names(pool: dict, people: dict[int, Distributor], few: int | None = None) -> list[str]:
    """The names of the capped ids the pool keeps (its first 20; `few`: only that many)."""
    ids = [int(x) for x in pool.get("capped") or [] if str(x).isdigit()][:few]
    return [people[i].label if i in people else f"#{i}" for i in ids]


def _capped_more(pool: dict, shown: int) -> int:
    """How many capped people the names shown leave out."""
    return max(queries.capped_count(pool) - shown, 0)


@bp.get("/distribution/dividends")
@permission_required(Permission.DISTRIBUTION)
def distribution_dividends():
    filters, problem = _date_filters()
    page = db.paginate(queries.days_query(filters), page=page_arg(), per_page=PER_PAGE, error_out=False)
    context = {
        "page": page,
        "filters": filters,
        "problem": problem,
        "filter_args": _filter_args(filters),
        "totals": queries.days_totals(db.session, filters),
        "people": queries.distributors_named(db.session, queries.capped_ids(page.items)),
        "settings": dist.get_settings(db.session),
        "mode_labels": MODE_LABELS,
        "pool_title": queries.pool_title,
        "remainder_fen": queries.remainder_fen,
        "capped_names": _capped_names,
        "capped_more": _capped_more,
        "capped_shown": CAPPED_SHOWN,
        # Days with nothing final (or nothing paid) are shown quieter, so the paid ones stand out.
        "idle": {day.id for day in page.items if not day.paid_fen},
    }
    if is_fragment("results"):
        return render_block("admin/distribution/dividends.html", "results", **context)
    return render_template("admin/distribution/dividends.html", **context)


@bp.get("/distribution/dividends/<day>")
@permission_required(Permission.DISTRIBUTION)
def distribution_dividend_day(day: str):
    found = _day_or_404(day)
    payouts = queries.day_payouts(db.session, found)
    people = queries.distributors_named(db.session, queries.capped_ids([found]))
    return render_template(
        "admin/distribution/dividend_day.html",
        day=found,
        payouts=payouts,
        people=people,
        pools=queries.pools_by_key(found),
        mode_labels=MODE_LABELS,
        pool_title=queries.pool_title,
        remainder_fen=queries.remainder_fen(found),
        capped_names=_capped_names,
        capped_more=_capped_more,
        capped_count=queries.capped_count,
    )


@bp.get("/distribution/dividends/payout/<int:payout_id>")
@permission_required(Permission.DISTRIBUTION)
def distribution_dividends_payout(payout_id: int):
    """A ledger entry's dividend: its day's page, at its row."""
    payout = db.get_or_404(DividendPayout, payout_id, description=_("This dividend does not exist."))
    return redirect(
        url_for("admin.distribution_dividend_day", day=payout.day.isoformat(), _anchor=f"payout-{payout.id}")
    )


# ---------------------------------------------------------------- CSV


def _yes_no(flag: bool) -> str:
    return _("Yes") if flag else _("No")


# One row per day and pool (a day without a pool has one row): the day's figures repeat on each of its
# pools, so that a spreadsheet can sum the pools' columns.
DAY_COLUMNS = (
    (_l("Day"), lambda day, pool, names: day.day.isoformat()),
    (_l("Mode"), lambda day, pool, names: str(MODE_LABELS.get(day.mode, day.mode))),
    (_l("Final orders"), lambda day, pool, names: day.orders),
    (_l("Turnover"), lambda day, pool, names: yuan(day.turnover_fen)),
    (_l("Pool"), lambda day, pool, names: csv_text(queries.pool_title(pool)) if pool else ""),
    (_l("Ratio"), lambda day, pool, names: format_bp(int(pool.get("ratio_bp") or 0)) if pool else ""),
    (_l("Pool amount"), lambda day, pool, names: yuan(int(pool.get("pool_fen") or 0)) if pool else ""),
    (_l("Sharers"), lambda day, pool, names: int(pool.get("sharers") or 0) if pool else ""),
    (_l("Dividends paid"), lambda day, pool, names: yuan(int(pool.get("paid_fen") or 0)) if pool else ""),
    (_l("Remainder"), lambda day, pool, names: yuan(int(pool.get("remainder_fen") or 0)) if pool else ""),
    (_l("Capped count"), lambda day, pool, names: queries.capped_count(pool) if pool else ""),
    (_l("Capped out"), lambda day, pool, names: csv_text(", ".join(names))),
)


@bp.get("/distribution/dividends.csv")
@permission_required(Permission.DISTRIBUTION)
def distribution_dividends_export():
    """The report's days (its date range), one row per day and pool, UTF-8 with a BOM."""
    filters, _problem = _date_filters()
    days = list(db.session.scalars(queries.days_query(filters)))
    people = queries.distributors_named(db.session, queries.capped_ids(days))
    rows = []
    for day in days:
        for pool in day.pools or [None]:
            rows.append((day, pool, _capped_names(pool, people) if pool else []))
    return streamed_csv("dividends", DAY_COLUMNS, iter([csv_rows(DAY_COLUMNS, rows)]))


def _parts_text(payout: DividendPayout, pools: dict[str, dict]) -> str:
    return "; ".join(
        f"{queries.pool_title(pools.get(str(part.get('key')), {'key': part.get('key')}))} "
        f"{format_fen(int(part.get('amount_fen') or 0))}"
        for part in payout.parts or []
    )


PAYOUT_COLUMNS = (
    (_l("Day"), lambda payout, pools: payout.day.isoformat()),
    (_l("Distributor"), lambda payout, pools: csv_text(payout.distributor.label)),
    (_l("Distributor code"), lambda payout, pools: csv_text(payout.distributor.code)),
    (_l("Mobile"), lambda payout, pools: csv_digits(payout.distributor.user.mobile)),
    (_l("Dividend"), lambda payout, pools: yuan(payout.amount_fen)),
    (_l("Pools"), lambda payout, pools: csv_text(_parts_text(payout, pools))),
    (_l("Capped?"), lambda payout, pools: _yes_no(payout.capped)),
)


@bp.get("/distribution/dividends/<day>.csv")
@permission_required(Permission.DISTRIBUTION)
def distribution_dividend_day_export(day: str):
    found = _day_or_404(day)
    pools = queries.pools_by_key(found)

    def chunks() -> Iterator[str]:
        payouts = queries.day_payouts(db.session, found)
        yield csv_rows(PAYOUT_COLUMNS, [(payout, pools) for payout in payouts])

    return streamed_csv(f"dividends-{found.day.isoformat()}", PAYOUT_COLUMNS, chunks())
