"""Fenxiao: a self-hosted storefront with built-in distribution (分销) for small merchants."""

import json
import logging
import math
import time
from urllib.parse import urlsplit

import click
from flask import Flask, Response, g, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from app import lazy_csrf, page_cache, request_input, static_files, storage
from app.config import load_config
from app.db_types import MAX_ID
from app.extensions import babel, csrf, db, htmx, limiter, login_manager, select_locale

WECHAT_JSSDK_ORIGIN = "https://res.wx.qq.com"
# Checkout forms end in a redirect to the gateway's cashier, and inside WeChat a form (log in, pay) may end
# in WeChat's OAuth (silent sign-in, the payer's openid); browsers check form-action along the way.
PAYMENT_FORM_ORIGINS = ("https://openapi.alipay.com", "https://wx.tenpay.com", "https://open.weixin.qq.com")


def content_security_policy(app: Flask) -> str:
    """'self' for everything; the gateways' cashier pages as form targets; WeChat's JS-SDK only on pages
    that load it (inside WeChat)."""
    scripts = ["'self'"] + ([WECHAT_JSSDK_ORIGIN] if g.get("wechat_jssdk") else [])
    forms = ["'self'", *PAYMENT_FORM_ORIGINS]
    bucket = storage.public_origin(app)  # phones load the pictures from the bucket (or its CDN)
    images = ["'self'", "data:", "blob:", *([bucket] if bucket else [])]
    for key in ("ALIPAY_GATEWAY", "WECHAT_OPEN_BASE"):
        if app.config.get(key):
            parts = urlsplit(app.config[key])
            forms.append(f"{parts.scheme}://{parts.netloc}")
    return "; ".join(
        [
            "default-src 'self'",
            f"img-src {' '.join(images)}",
            "style-src 'self'",
            f"script-src {' '.join(scripts)}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'self'",
            f"form-action {' '.join(forms)}",
        ]
    )


def create_app(config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    load_config(app, config)
    storage.init_app(app)
    # <int:…> in every route stops at the largest id the database can hold: a bigger number is a 404.
    app.url_map.converters["int"] = IdConverter
    request_input.init_app(app)
    register_extensions(app)
    if app.config["TRUSTED_PROXIES"]:  # outermost: the page cache's middleware sees the visitor's host too
        n = app.config["TRUSTED_PROXIES"]
        # X-Forwarded-For/Proto/Host only, which the README's nginx sets; not X-Forwarded-Prefix, which
        # nginx passes on as the visitor sent it and which every link on a page would carry.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_template_helpers(app)
    register_commands(app)
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return app


class IdConverter(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def register_extensions(app: Flask) -> None:
    # Import every model so that Alembic and create_all see the whole schema.
    from app import models  # noqa: F401
    from app.catalog import view_counts
    from app.distribution import receivers as distribution_receivers
    from app.distribution import web
    from app.marketing import receivers as marketing_receivers
    from app.notifications import receivers as notification_receivers
    from app.orders import receivers as order_receivers
    from app.payments import receivers as payment_receivers
    from app.payments import wechat_hooks

    distribution_receivers.connect()
    marketing_receivers.connect()
    payment_receivers.connect()
    notification_receivers.connect()
    order_receivers.connect()
    web.init_app(app)
    static_files.init_app(app)
    lazy_csrf.init_app(app)
    wechat_hooks.init_app(app)
    view_counts.init_app(app)
    page_cache.init_app(app)  # last: the other before_request hooks run first

    db.init_app(app)
    _tune_sqlite(app)
    _init_migrations(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    limiter.init_app(app)
    _configure_login(app)


def _init_migrations(app: Flask) -> None:
    """Flask-Migrate (and Alembic under it, about 11 MB per process) for `flask db`, the tests, the
    benchmarks and development. A production web worker never migrates, so it does not load them."""
    serving = app.config["FENXIAO_ENV"] == "production" and not app.config.get("TESTING")
    if serving and click.get_current_context(silent=True) is None:
        return
    from flask_migrate import Migrate

    Migrate(app, db, render_as_batch=True, compare_type=True)


def _tune_sqlite(app: Flask) -> None:
    """SQLite out of the box: enforce foreign keys, let readers and a writer work at once (WAL), wait for a
    busy database instead of failing at once, and open the transaction before a savepoint — the sqlite3
    module only begins one before INSERT/UPDATE/DELETE, so a SAVEPOINT that came first would start (and its
    RELEASE commit) the whole transaction, out of reach of a later rollback."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        if ":memory:" not in app.config["SQLALCHEMY_DATABASE_URI"]:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "savepoint")
    def _begin_before_savepoint(connection, _name):
        driver = connection.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN")


def _configure_login(app: Flask) -> None:
    from app.accounts.models import User

    login_manager.session_protection = "basic"
    login_manager.login_message = _l("Please log in first.")
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def load_user(user_id: str):
        user_pk, _sep, version = user_id.partition(":")
        if not user_pk.isdecimal() or not version.isdecimal():
            return None
        user = db.session.get(User, int(user_pk))
        if user is None or not user.is_active or user.auth_version != int(version):
            return None
        return user

    @login_manager.unauthorized_handler
    def unauthorized():
        endpoint = "admin.login" if request.blueprint == "admin" else "shop.login"
        if htmx:
            # Never swap a login form into a table cell: send the whole page to the login screen.
            next_path = _local_path(request.headers.get("HX-Current-URL"))
            return Response(status=401, headers={"HX-Redirect": url_for(endpoint, next=next_path)})
        next_path = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for(endpoint, next=next_path))


def _local_path(url: str | None) -> str | None:
    """The path of a page on this site, for ?next=; None for anything that is not ours."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def register_blueprints(app: Flask) -> None:
    from app import api
    from app.admin import bp as admin_bp
    from app.media import bp as media_bp
    from app.payments import sandbox_views
    from app.payments.views import bp as payments_bp
    from app.shop import bp as shop_bp

    app.register_blueprint(shop_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(media_bp, url_prefix="/media")
    app.register_blueprint(payments_bp, url_prefix="/pay")
    sandbox_views.init_app(app)
    api.init_app(app)


ERROR_TEXT = {
    400: (_l("Bad request"), _l("Something in the request was not right. Please go back and try again.")),
    403: (_l("No access"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("The page does not exist or has been removed.")),
    405: (_l("Not allowed"), _l("This page cannot be used that way.")),
    413: (_l("Too large"), _l("The upload is too large.")),
    429: (_l("Too many attempts"), _l("Too many attempts. Please wait a minute and try again.")),
    503: (_l("Not available just now"), _l("This is not available just now. Please try again in a minute.")),
    500: (_l("Server error"), _l("Something went wrong on our side. Please try again later.")),
}


def render_error(code: int, message: str | None = None, *, api_code: str | None = None):
    from app.api import errors as api_errors

    if api_errors.is_api_request():  # the JSON API answers every error in its own shape, never a page
        return api_errors.http_error_response(code, message, code=api_code)
    title, default_message = ERROR_TEXT.get(code, ERROR_TEXT[500])
    message = message or str(default_message)
    if htmx:
        # htmx does not swap error responses; the page shows the message as a toast instead.
        trigger = json.dumps({"toast": {"level": "error", "message": message}})
        return Response(message, status=code, headers={"HX-Trigger": trigger}, mimetype="text/plain")
    audience = "admin" if request.blueprint == "admin" else "shop"
    return render_template(f"{audience}/error.html", code=code, title=title, message=message), code


def too_many_requests_message() -> str:
    """Says how long to wait: until the breached limit's window ends (a minute, or up to an hour)."""
    limit = limiter.current_limit
    seconds = limit.window[0] - time.time() if limit is not None and limit.breached else 60
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many attempts. Please try again in %(num)d minute.",
        "Too many attempts. Please try again in %(num)d minutes.",
        minutes,
    )


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        retry = lazy_csrf.retry_first_post()
        if retry is not None:
            return retry
        return render_error(
            400, _("The page has expired. Please refresh it and try again."), api_code="csrf_failed"
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code in (301, 302, 303, 307, 308) or error.code is None:
            return error
        # abort(404, "…") carries our own sentence; Werkzeug's stock English descriptions are not shown,
        # nor Flask-Limiter's ("10 per 1 minute").
        own_sentence = error.description != type(error).description and error.code != 429
        message = error.description if own_sentence else None
        return render_error(error.code if error.code in ERROR_TEXT else 400, message)

    @app.errorhandler(429)
    def too_many_requests(error):
        return render_error(429, too_many_requests_message())

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_error(500)


def register_request_hooks(app: Flask) -> None:
    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", content_security_policy(app))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # The same URL answers a full page or an htmx fragment: caches must keep them apart.
        response.vary.add("HX-Request")
        return response


def register_template_helpers(app: Flask) -> None:
    from app import money
    from app.jobs import job_result
    from app.media import image_srcset, image_url
    from app.settings.services import get_shop_settings
    from app.webutil import in_wechat

    app.jinja_env.filters["fen"] = money.format_fen
    app.jinja_env.filters["yuan"] = money.yuan
    app.jinja_env.filters["bp"] = money.format_bp
    app.jinja_env.globals["fen_range"] = money.format_fen_range
    app.jinja_env.globals["image_url"] = image_url
    app.jinja_env.globals["image_srcset"] = image_srcset
    app.jinja_env.globals["current_locale"] = lambda: str(get_locale())
    app.jinja_env.globals["job_result"] = job_result
    app.jinja_env.globals["in_wechat"] = in_wechat
    app.jinja_env.add_extension("jinja2.ext.loopcontrols")

    @app.context_processor
    def inject_shop():
        if "shop_settings" not in g:
            g.shop_settings = get_shop_settings(db.session)
        return {"shop": g.shop_settings, "current_user": current_user}


def register_commands(app: Flask) -> None:
    from app.catalog.cli import stats_cli
    from app.cli import register
    from app.distribution.cli import distribution_cli, ledger_cli
    from app.marketing.cli import groups_cli, points_cli
    from app.notifications.cli import notifications_cli
    from app.orders.cli import orders_cli
    from app.payments.cli import payments_cli

    register(app)
    app.cli.add_command(payments_cli)
    app.cli.add_command(orders_cli)
    app.cli.add_command(stats_cli)
    app.cli.add_command(distribution_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(points_cli)
    app.cli.add_command(groups_cli)
    app.cli.add_command(notifications_cli)
