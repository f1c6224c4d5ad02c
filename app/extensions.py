"""Every Flask extension, unbound; create_app binds them."""

from functools import cache

from babel import Locale
from flask import request
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


# What people and links write for the shop's two languages: ?lang=zh, zh-CN, cn, en-US… (case aside).
LANGUAGE_ALIASES = {
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh-cn": "zh_CN",
    "zh-hans": "zh_CN",
    "zh_hans": "zh_CN",
    "zh-hans-cn": "zh_CN",
    "zh_hans_cn": "zh_CN",
    "cn": "zh_CN",
    "chs": "zh_CN",
    "en": "en",
    "en-us": "en",
    "en_us": "en",
    "en-gb": "en",
    "en_gb": "en",
}


def chosen_language(value: str | None) -> str | None:
    """The shop language a ?lang= value names, or None for one it does not know."""
    return LANGUAGE_ALIASES.get((value or "").strip().lower())


def select_locale() -> Locale:
    """zh_CN unless the visitor chose English (?lang=en is remembered in the session)."""
    from flask import current_app, has_request_context, session

    if not has_request_context():  # CLI commands and jobs speak the default language
        return babel_locale(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = chosen_language(request.args.get("lang"))
    if chosen in current_app.config["LANGUAGES"]:
        session["lang"] = chosen
    return babel_locale(session.get("lang") or current_app.config["BABEL_DEFAULT_LOCALE"])


# The shop's languages as Babel spells them in full. Given "zh_CN", Babel would load its table of every
# alias and likely script (2 MB, into each worker) to learn that it is zh_Hans_CN.
_FULL_LOCALES = {"zh_CN": ("zh", "CN", "Hans"), "en": ("en", None, None)}


@cache
def babel_locale(tag: str) -> Locale:
    if tag in _FULL_LOCALES:
        language, territory, script = _FULL_LOCALES[tag]
        return Locale(language, territory, script)
    return Locale.parse(tag)
