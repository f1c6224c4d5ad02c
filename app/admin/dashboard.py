"""The back office's first page: the shop's figures over a period with a sales chart, what needs the
merchant's attention today, and whether the scheduled jobs are running."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import abort, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import func, select

from app.accounts.models import Permission
from app.admin import bp
from app.admin.dashboard_chart import NARROW, WIDE, line_chart
from app.admin.orders import back_office_alerts
from app.admin.viewutil import is_fragment
from app.backups import backup_overdue, last_good_backup
from app.catalog.models import Product, Sku
from app.distribution.checklist import first_run_checklist
from app.distribution.services import get_settings
from app.distribution.stats import distribution_figures
from app.extensions import db
from app.jobs import JOBS, job_health, last_runs
from app.notifications.outbox import get_notification_settings
from app.orders import stats
from app.payments.gateways import payment_settings
from app.settings.services import get_shop_settings

PERIOD_LABELS = {
    "today": _l("Today so far"),
    "yesterday": _l("Yesterday"),
    "7d": _l("Last 7 days"),
    "30d": _l("Last 30 days"),
}
FIGURE_LABELS = {
    "paid": _l("Paid amount"),
    "orders": _l("Paid orders"),
    "customers": _l("Paying customers"),
    "average": _l("Average per order"),
    "refunds": _l("Refunds paid back"),
    "new_customers": _l("New shoppers"),
    "new_distributors": _l("New distributors"),
    "commission": _l("Commission created"),
}
COMPARED_WITH = {
    "today": _l("Compared with yesterday up to the same time"),
    "yesterday": _l("Compared with the day before"),
    "7d": _l("Compared with the 7 days before"),
    "30d": _l("Compared with the 30 days before"),
}
# Where each first-run checklist step is done (app/distribution/checklist.py ticks them from the data).
CHECKLIST_LINKS = {
    "shop": ("admin.shop_settings", {}),
    "payment": ("admin.payment_settings_page", {}),
    "product": ("admin.products_new", {}),
    "distribution": ("admin.distribution_settings", {}),
    "share": ("admin.shop_promote", {}),
    "order": ("admin.orders", {}),
}
# Figures where a rise is bad news: their arrow is coloured the other way round.
RISE_IS_BAD = {"refunds"}


def _dividends_enabled() -> bool:
    return bool(get_settings(db.session).dividends_enabled)


def _tracking_configured() -> bool:
    """The tracking job queries 快递100 only once the shop has set a key."""
    settings = get_shop_settings(db.session)
    return bool(settings.kuaidi100_customer and settings.kuaidi100_key_sealed)


def _notifications_enabled() -> bool:
    """The outbox job matters (and is expected in cron) once WeChat template messages are switched on."""
    return bool(get_notification_settings(db.session).enabled)


def _gateway_enabled() -> bool:
    """Reconcile matters (and is expected in cron) once a real gateway takes money."""
    settings = payment_settings(db.session)
    return settings.wechat_enabled or settings.alipay_enabled


def _view_counts_in_redis() -> bool:
    """Without Redis each web worker writes its own view counts (app/catalog/view_counts.py): the job, in a
    process of its own, has nothing to move; it matters once the counts go through Redis."""
    return bool(current_app.config.get("REDIS_URL"))


@dataclass(frozen=True)
class DashboardJob:
    """A scheduled job as the dashboard watches it: its name in app.jobs.JOBS, what it is called in plain
    words, what it does, how often cron starts it (`every`, and the crontab times shown with the command),
    who sees it, and when it is expected at all."""

    name: str
    label: str
    purpose: str
    every: timedelta
    schedule: str
    permission: Permission = Permission.ORDERS
    expected: Callable[[], bool] | None = None


MINUTE, MINUTES_5 = timedelta(minutes=1), timedelta(minutes=5)
HOURLY, DAILY = timedelta(hours=1), timedelta(days=1)
# Adding a job to the dashboard is one entry here. A job whose command is not declared (app.jobs.JOBS) in
# this build is left out, so an entry may name a job another branch brings.
DASHBOARD_JOBS = (
    DashboardJob(
        "orders-expire",
        _l("Cancel unpaid orders automatically"),
        _l("Cancels unpaid orders past their time limit"),
        MINUTES_5,
        "*/5 * * * *",
    ),
    DashboardJob(
        "orders-autocomplete",
        _l("Confirm receipt automatically"),
        _l("Confirms receipt of shipped orders after the set days"),
        HOURLY,
        "17 * * * *",
    ),
    DashboardJob(
        "orders-aftersales",
        _l("After-sales timeouts"),
        _l("Approves requests the shop left unanswered and closes returns never sent back"),
        HOURLY,
        "37 * * * *",
    ),
    DashboardJob(
        "orders-track",
        _l("Track parcels with 快递100"),
        _l("Asks 快递100 where shipped parcels are and notes when they are signed for"),
        HOURLY,
        "7 * * * *",
        expected=_tracking_configured,
    ),
    DashboardJob(
        "payments-reconcile",
        _l("Check payments with WeChat Pay and Alipay"),
        _l("Asks WeChat Pay and Alipay about payments whose notify never came"),
        MINUTES_5,
        "*/5 * * * *",
        expected=_gateway_enabled,
    ),
    DashboardJob(
        "notifications-send",
        _l("Send WeChat messages"),
        _l("Sends the WeChat template messages waiting in the outbox, and tries failed ones again"),
        MINUTE,
        "* * * * *",
        expected=_notifications_enabled,
    ),
    DashboardJob(
        "stats-flush",
        _l("Save product view counts"),
        _l("Moves the product views and add-to-cart counted in Redis to the database"),
        MINUTES_5,
        "*/5 * * * *",
        Permission.REPORTS,
        expected=_view_counts_in_redis,
    ),
    DashboardJob(
        "groups-settle",
        _l("End group buys"),
        _l("Ends group buys whose time is up and refunds their orders (every few minutes)"),
        MINUTES_5,
        "*/5 * * * *",
    ),
    DashboardJob(
        "distribution-settle",
        _l("Release commission"),
        _l("Releases commission whose freeze days have passed, then upgrades distributors"),
        HOURLY,
        "27 * * * *",
        Permission.DISTRIBUTION,
    ),
    DashboardJob(
        "distribution-dividends",
        _l("Compute dividends"),
        _l("Shares out the day's dividend pools"),
        DAILY,
        "35 0 * * *",
        Permission.DISTRIBUTION,
        expected=_dividends_enabled,
    ),
    DashboardJob(
        "points-expire",
        _l("Expire points"),
        _l("Writes off points past their expiry (daily)"),
        DAILY,
        "40 2 * * *",
    ),
    DashboardJob(
        "ledger-audit",
        _l("Check balances against the ledger"),
        _l("Checks every balance equals the sum of its ledger"),
        DAILY,
        "30 3 * * *",
        Permission.DISTRIBUTION,
    ),
    DashboardJob(
        "backup",
        _l("Back up the database"),
        _l("Copies the database to the backup folder, keeping daily and monthly copies"),
        DAILY,
        "30 3 * * *",
    ),
)


def watched_jobs(user) -> list[DashboardJob]:
    """The jobs this build has, that this user may see, that are expected to run."""
    return [
        job
        for job in DASHBOARD_JOBS
        if job.name in JOBS and user.can(job.permission) and (job.expected is None or job.expected())
    ]


def _job_lines(user) -> list[dict]:
    runs = last_runs()
    return [
        {
            "job": job,
            "command": "flask " + " ".join(JOBS[job.name]),
            "health": job_health(runs.get(job.name), job.every),
        }
        for job in watched_jobs(user)
    ]


def _figures(period: stats.Period) -> dict:
    figures = stats.order_figures(db.session, period)
    if current_user.can(Permission.DISTRIBUTION):
        figures += distribution_figures(db.session, period)
    points = stats.sales_by_bucket(db.session, period)
    slots = 24 if period.hourly else len(period.buckets)
    return {
        "figures": figures,
        "charts": {"wide": line_chart(points, slots, WIDE), "narrow": line_chart(points, slots, NARROW)},
        "sales_fen": sum(fen for _label, fen in points),
    }


@bp.get("/")
def dashboard():
    period = stats.period_for(request.args.get("period", ""))
    context = {
        "period": period,
        "periods": PERIOD_LABELS,
        "compared_with": COMPARED_WITH,
        "labels": FIGURE_LABELS,
        "rise_is_bad": RISE_IS_BAD,
    }
    if current_user.can(Permission.REPORTS):
        context |= _figures(period)
    if is_fragment("figures"):
        if "figures" not in context:  # the period switch is only on the page of those who see the figures
            abort(403)
        return render_block("admin/dashboard.html", "figures", **context)
    threshold = get_shop_settings(db.session).low_stock_threshold
    counts = db.session.execute(
        select(
            func.count().filter(Product.is_on_shelf),
            func.count().filter(~Product.is_on_shelf),
        ).select_from(Product)
    ).one()
    low_stock = db.session.scalar(
        select(func.count(func.distinct(Sku.product_id))).where(Sku.is_active, Sku.stock < threshold)
    )
    orders = None
    if current_user.can(Permission.ORDERS):
        last_backup = last_good_backup(last_runs().get("backup"), Path(current_app.config["BACKUP_DIR"]))
        orders = {
            "alerts": back_office_alerts(db.session),
            "last_backup": last_backup,
            "backup_overdue": backup_overdue(last_backup),
        }
    checklist = None
    if current_user.can(Permission.SETTINGS):  # the owner, or staff who set the shop up
        checklist = first_run_checklist(current_app._get_current_object(), db.session)
    return render_template(
        "admin/dashboard.html",
        checklist=checklist if checklist is not None and checklist.shown else None,
        checklist_links=CHECKLIST_LINKS,
        on_shelf=counts[0],
        off_shelf=counts[1],
        low_stock=low_stock,
        threshold=threshold,
        orders=orders,
        jobs=_job_lines(current_user),
        **context,
    )


@bp.get("/_nav")
def nav():
    """The sidebar menu alone, with fresh badges; `active` is the endpoint of the page it sits on."""
    return render_template("admin/_nav.html", nav_active=request.args.get("active", "")[:80])
