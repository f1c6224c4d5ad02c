"""The back office's first page: what needs the merchant's attention today."""

from pathlib import Path

from flask import current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from app.accounts.models import Permission
from app.admin import bp
from app.admin.orders import back_office_alerts
from app.backups import backup_overdue, last_good_backup
from app.catalog.models import Product, Sku
from app.extensions import db
from app.jobs import last_runs
from app.orders.queries import todays_takings
from app.payments.gateways import payment_settings
from app.settings.services import get_shop_settings

# The jobs the dashboard lists, each with what it does in the merchant's words.
JOB_PURPOSES = {
    "orders-expire": _l("Cancels unpaid orders past their time limit"),
    "orders-autocomplete": _l("Confirms receipt of shipped orders after the set days"),
    "points-expire": _l("Writes off points past their expiry (daily)"),
    "backup": _l("Copies the database to the backup folder, keeping daily and monthly copies"),
    "payments-reconcile": _l("Asks WeChat Pay and Alipay about payments whose notify never came"),
    "groups-settle": _l("Ends group buys whose time is up and refunds their orders (every few minutes)"),
}
ORDER_JOBS = ("orders-expire", "orders-autocomplete", "points-expire", "groups-settle", "backup")


def _gateway_jobs() -> tuple[str, ...]:
    """Reconcile matters (and is expected in cron) once a real gateway takes money."""
    settings = payment_settings(db.session)
    return ("payments-reconcile",) if settings.wechat_enabled or settings.alipay_enabled else ()


@bp.get("/")
def dashboard():
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
        runs = last_runs()
        last_backup = last_good_backup(runs.get("backup"), Path(current_app.config["BACKUP_DIR"]))
        orders = {
            "alerts": back_office_alerts(db.session),
            "today": todays_takings(db.session),
            "jobs": [(name, JOB_PURPOSES[name], runs.get(name)) for name in ORDER_JOBS + _gateway_jobs()],
            "last_backup": last_backup,
            "backup_overdue": backup_overdue(last_backup),
        }
    return render_template(
        "admin/dashboard.html",
        on_shelf=counts[0],
        off_shelf=counts[1],
        low_stock=low_stock,
        threshold=threshold,
        orders=orders,
    )


@bp.get("/_nav")
def nav():
    """The sidebar menu alone, with fresh badges; `active` is the endpoint of the page it sits on."""
    return render_template("admin/_nav.html", nav_active=request.args.get("active", "")[:80])
