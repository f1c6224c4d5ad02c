"""数据: the reports, each over a date range of the shop's calendar, with a chart and a CSV. The figures come
from app/reports; these views read the range and the search, and choose the template or the CSV."""

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from app.accounts.models import Permission
from app.admin import bp, permission_required
from app.admin.dashboard_chart import NARROW, WIDE, line_chart
from app.admin.report_columns import (
    CUSTOMER_COLUMNS,
    FUNNEL_COLUMNS,
    PRODUCT_COLUMNS,
    PROMOTION_COLUMNS,
    SALES_COLUMNS,
)
from app.admin.viewutil import csv_rows, streamed_csv, text_arg
from app.extensions import db
from app.reports import customers, funnel, products, promotions, sales
from app.reports.display import percent
from app.reports.ranges import parse_range

REPORTS = (
    ("admin.reports_sales", _l("Sales by day")),
    ("admin.reports_products", _l("Products")),
    ("admin.reports_funnel", _l("Distribution funnel")),
    ("admin.reports_customers", _l("Customers")),
    ("admin.reports_promotions", _l("Promotions")),
)
PROMOTION_KINDS = {
    "timed": _l("Timed discount"),
    "flash": _l("Flash sale"),
    "group": _l("Group buy"),
    "full_reduction": _l("Full reduction"),
    "coupon": _l("Coupon"),
}
FUNNEL_VIEWS = {"distributor": _l("Per distributor"), "product": _l("Per product")}
SORT_LABELS = {
    "paid": _l("Paid amount"),
    "units": _l("Units"),
    "orders": _l("Orders"),
    "views": _l("Views"),
    "conversion": _l("Conversion"),
}


def _range():
    return parse_range(request.args.get("from"), request.args.get("to"))


def _charts(points: list[tuple[str, int]], money: bool) -> dict:
    return {
        "wide": line_chart(points, len(points), WIDE, money=money),
        "narrow": line_chart(points, len(points), NARROW, money=money),
    }


def _page(template: str, period, problem, points, money: bool, **context) -> str:
    return render_template(
        template,
        period=period,
        problem=problem,
        reports=REPORTS,
        charts=_charts(points, money),
        percent=percent,
        **context,
    )


@bp.get("/reports")
@permission_required(Permission.REPORTS)
def reports():
    return redirect(url_for("admin.reports_sales"))


@bp.get("/reports/sales")
@permission_required(Permission.REPORTS)
def reports_sales():
    period, problem = _range()
    report = sales.sales_by_day(db.session, period)
    return _page("admin/reports/sales.html", period, problem, report.chart_points(), True, report=report)


@bp.get("/reports/sales.csv")
@permission_required(Permission.REPORTS)
def reports_sales_export():
    period, _problem = _range()
    report = sales.sales_by_day(db.session, period)
    return streamed_csv("sales", SALES_COLUMNS, iter([csv_rows(SALES_COLUMNS, [(d,) for d in report.days])]))


def _product_args() -> tuple[str, str]:
    sort = request.args.get("sort", "paid")
    return text_arg("q"), sort if sort in products.SORTS else "paid"


@bp.get("/reports/products")
@permission_required(Permission.REPORTS)
def reports_products():
    period, problem = _range()
    q, sort = _product_args()
    report = products.products_report(db.session, period, q, sort)
    return _page(
        "admin/reports/products.html",
        period,
        problem,
        report.chart_points(),
        False,
        report=report,
        rows=report.rows[:100],
        q=q,
        sort=sort,
        sorts=SORT_LABELS,
    )


@bp.get("/reports/products.csv")
@permission_required(Permission.REPORTS)
def reports_products_export():
    period, _problem = _range()
    q, sort = _product_args()
    report = products.products_report(db.session, period, q, sort)
    rows = [(rank, row) for rank, row in enumerate(report.rows, 1)]
    return streamed_csv("products", PRODUCT_COLUMNS, iter([csv_rows(PRODUCT_COLUMNS, rows)]))


def _funnel():
    period, problem = _range()
    view = request.args.get("by", "distributor")
    view = view if view in FUNNEL_VIEWS else "distributor"
    q = text_arg("q")
    build = funnel.by_product if view == "product" else funnel.by_distributor
    return period, problem, view, q, build(db.session, period, q)


@bp.get("/reports/funnel")
@permission_required(Permission.REPORTS)
def reports_funnel():
    period, problem, view, q, report = _funnel()
    return _page(
        "admin/reports/funnel.html",
        period,
        problem,
        report.chart_points(),
        False,
        report=report,
        rows=report.rows[:100],
        view=view,
        views=FUNNEL_VIEWS,
        q=q,
    )


@bp.get("/reports/funnel.csv")
@permission_required(Permission.REPORTS)
def reports_funnel_export():
    _period, _problem, view, _q, report = _funnel()
    return streamed_csv(
        f"funnel-{view}", FUNNEL_COLUMNS, iter([csv_rows(FUNNEL_COLUMNS, [(r,) for r in report.rows])])
    )


def _customers():
    period, problem = _range()
    return period, problem, customers.customers_report(db.session, period, str(_l("No level")))


@bp.get("/reports/customers")
@permission_required(Permission.REPORTS)
def reports_customers():
    period, problem, report = _customers()
    return _page("admin/reports/customers.html", period, problem, report.chart_points(), False, report=report)


@bp.get("/reports/customers.csv")
@permission_required(Permission.REPORTS)
def reports_customers_export():
    _period, _problem, report = _customers()
    rows = [(row,) for row in [*report.levels, report.total]]
    return streamed_csv("customers", CUSTOMER_COLUMNS, iter([csv_rows(CUSTOMER_COLUMNS, rows)]))


def _promotions():
    period, problem = _range()
    report = promotions.promotions_report(db.session, period, str(PROMOTION_KINDS["full_reduction"]))
    return period, problem, report


@bp.get("/reports/promotions")
@permission_required(Permission.REPORTS)
def reports_promotions():
    period, problem, report = _promotions()
    return _page(
        "admin/reports/promotions.html",
        period,
        problem,
        report.chart_points(),
        True,
        report=report,
        kinds=PROMOTION_KINDS,
    )


@bp.get("/reports/promotions.csv")
@permission_required(Permission.REPORTS)
def reports_promotions_export():
    _period, _problem, report = _promotions()
    rows = [(row, str(PROMOTION_KINDS.get(row.kind, row.kind))) for row in report.rows]
    return streamed_csv("promotions", PROMOTION_COLUMNS, iter([csv_rows(PROMOTION_COLUMNS, rows)]))
