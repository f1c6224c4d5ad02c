"""Settings read from the environment (and, when present, instance/config.py)."""

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

ENVIRONMENTS = ("development", "testing", "production")
log = logging.getLogger(__name__)


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def normalise_database_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3, whatever spelling the host gave us."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Config:
    """Defaults; each one can be overridden by an environment variable of the same name."""

    def __init__(self, instance_path: str):
        env = os.environ.get("FENXIAO_ENV", "production")
        if env not in ENVIRONMENTS:
            raise RuntimeError(f"FENXIAO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
        self.FENXIAO_ENV = env
        self.SECRET_KEY = os.environ.get("SECRET_KEY") or None
        # Fernet key that encrypts payment secrets at rest (required in production once they are set).
        self.SECRETS_KEY = os.environ.get("SECRETS_KEY") or None
        # The public base URL gateways call back (notify) and shoppers return to, e.g. https://shop.example.com
        self.PUBLIC_URL = (os.environ.get("PUBLIC_URL") or "").rstrip("/") or None
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            os.environ.get("DATABASE_URL") or "sqlite:///" + str(Path(instance_path) / "fenxiao.sqlite3")
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or str(Path(instance_path) / "uploads")
        # An S3-compatible bucket (腾讯云 COS, 阿里云 OSS, MinIO) instead of UPLOAD_FOLDER, shared by every host
        # (app/storage.py). Phones load the pictures from MEDIA_PUBLIC_URL (the bucket's address or its CDN).
        for name in (
            "MEDIA_S3_BUCKET",
            "MEDIA_S3_ENDPOINT_URL",
            "MEDIA_S3_REGION",
            "MEDIA_S3_ACCESS_KEY_ID",
            "MEDIA_S3_SECRET_ACCESS_KEY",
            "MEDIA_S3_ADDRESSING_STYLE",
        ):
            setattr(self, name, os.environ.get(name) or None)
        self.MEDIA_PUBLIC_URL = (os.environ.get("MEDIA_PUBLIC_URL") or "").rstrip("/") or None
        # `flask backup`: where backups go, and how many daily and monthly copies are kept.
        self.BACKUP_DIR = os.environ.get("BACKUP_DIR") or str(Path(instance_path) / "backups")
        self.BACKUP_KEEP_DAILY = int(os.environ.get("BACKUP_KEEP_DAILY", 7))
        self.BACKUP_KEEP_MONTHLY = int(os.environ.get("BACKUP_KEEP_MONTHLY", 12))
        # A private bucket each backup is also copied to, with the MEDIA_S3_* endpoint and keys.
        self.BACKUP_S3_BUCKET = os.environ.get("BACKUP_S3_BUCKET") or None
        self.MAX_IMAGE_BYTES = int(os.environ.get("MAX_IMAGE_BYTES", 5 * 1024 * 1024))
        # A request may carry a few images plus form fields.
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", 32 * 1024 * 1024))
        self.MAX_FORM_MEMORY_SIZE = 2 * 1024 * 1024
        # Counters in the shop's database, shared by every worker and host (app/ratelimit.py); or redis://….
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "database://")
        # Product view counts (app/catalog/view_counts.py) go through Redis when set (redis://…).
        self.REDIS_URL = os.environ.get("REDIS_URL") or None
        self.RATELIMIT_STRATEGY = "fixed-window"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour")
        self.SESSION_COOKIE_NAME = "fenxiao_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_NAME = "fenxiao_remember"
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_DURATION = timedelta(days=30)
        self.PERMANENT_SESSION_LIFETIME = timedelta(days=30)
        self.WTF_CSRF_TIME_LIMIT = (
            None  # the token lives as long as the session: phones keep tabs open for days
        )
        self.WTF_CSRF_SSL_STRICT = _bool("WTF_CSRF_SSL_STRICT", True)
        self.BABEL_DEFAULT_LOCALE = "zh_CN"
        self.BABEL_DEFAULT_TIMEZONE = os.environ.get("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
        self.LANGUAGES = ("zh_CN", "en")
        # Number of reverse proxies (nginx) in front of the app whose X-Forwarded-* headers we trust.
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", 0))
        self.PRODUCTS_PER_PAGE = 20


def load_config(app, overrides: dict | None) -> None:
    app.config.from_object(Config(app.instance_path))
    app.config.from_pyfile("config.py", silent=True)
    if overrides:
        app.config.update(overrides)
    _require_secret_key(app)
    if app.config["FENXIAO_ENV"] == "production" and app.config["RATELIMIT_STORAGE_URI"].startswith("memory"):
        log.warning(
            "RATELIMIT_STORAGE_URI=memory:// counts in each process apart: with several gunicorn workers the "
            "login limit multiplies. Leave it unset (database://) or use redis://."
        )


def _require_secret_key(app) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.config["FENXIAO_ENV"] == "production":
        raise RuntimeError(
            "SECRET_KEY is not set. Set it in the environment (or instance/config.py) before starting "
            "Fenxiao in production, e.g. SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
        )
    # Development and tests: keep one random key in instance/ so sessions survive restarts.
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()
