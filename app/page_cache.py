"""Whole pages for visitors without a session, kept in each worker's memory.

The pages a shared link opens are the same for every first-time visitor (app/lazy_csrf.py): no cookie, no
token, no name, no cart. A worker keeps the bytes of such a page and serves them again while nothing they
show has changed:
- every commit that wrote to a table those pages read (the catalogue, the shop settings, a promotion) raises
  one counter in the database, in the same transaction — whichever worker or host made it — and a cached
  page is served only while the counter is the one it was made under (one small read per request);
- a promotion that starts or ends on its own changes pages without a write: a page is kept no later than
  the next moment a promotion or coupon window opens or closes (one query when the counter moves);
- a page also expires PAGE_CACHE_SECONDS after it was made (10 by default), a bound for anything else
  that changes with time alone;
- a countdown stays exact: the page says the server's time in `data-server-now`, written afresh each time a
  kept page is served, and the phone counts from the end time against it (static/js/orders.js).
A request with a session or remember-me cookie, from htmx, with ?ref= (a share visit is recorded) or
?lang=, and an answer that sets a cookie or is not a 200 page, are never cached. PAGE_CACHE_ENTRIES (300)
bounds the memory per worker.

A kept page is served by a WSGI middleware in front of Flask (`_Middleware`): no request context, session,
URL matching or hooks for it — what it needs of them is already in the kept bytes and headers. Only a
request for which Flask itself kept a page can find one there, and the hooks that could answer such a
request otherwise see nothing to do for a visitor without a session (WeChat's silent login is switched on
by a payment-settings write, which ends every kept page)."""

import gzip
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

from flask import Flask, Request, Response, current_app, g, request, request_finished, session
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import bindparam, column, event, func, select, table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import BigInteger
from werkzeug.datastructures import HeaderSet

from app.db_types import UTCDateTime
from app.extensions import db
from app.timeutil import utcnow
from app.webutil import in_wechat, takes_gzip

log = logging.getLogger(__name__)

GENERATION_ID = 1
# The pages served from here, and the tables whose writes change what they show.
ENDPOINTS = {
    "shop.index",
    "shop.categories",
    "shop.category",
    "shop.search",
    "shop.product",
    "shop.flash_sale",
}
WATCHED_TABLES = {
    "products",
    "skus",
    "product_images",
    "product_detail_images",
    "categories",
    "shop_settings",
    "marketing_settings",
    "member_levels",
    "timed_discounts",
    "timed_discount_items",
    "full_reduction_campaigns",
    "coupon_templates",
    "flash_sessions",
    "flash_slots",
    "flash_items",
    "group_buys",
    "group_buy_items",
    "buy_groups",  # the product page lists open groups with their places left
    "distribution_settings",
    "payment_settings",  # WeChat's silent login comes first for a visitor in WeChat once it is set up
}
# The moments at which what those pages show changes by itself (a promotion starts or ends).
SCHEDULES = {
    "timed_discounts": ("starts_at", "ends_at"),
    "full_reduction_campaigns": ("starts_at", "ends_at"),
    "coupon_templates": ("claim_starts_at", "claim_ends_at"),
    "flash_slots": ("starts_at", "ends_at"),
    "group_buys": ("starts_at", "ends_at"),
    "buy_groups": ("expires_at",),  # an open group leaves the product page when its time is up
}
_SERVER_NOW = re.compile(rb'data-server-now="\d+"')
_DIRTY = "page_cache_dirty"
_READ_GENERATION = f"SELECT value FROM page_generation WHERE id = {GENERATION_ID}"
_UNCACHED_HEADERS = {"set-cookie", "date", "content-length", "vary"}
HIT_HEADER = "X-Page-Cache"


class PageGeneration(db.Model):
    """One row: raised by every commit that changes what a cached page shows."""

    __tablename__ = "page_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True)
class Entry:
    generation: int
    expires: float
    status: int
    headers: list[tuple[str, str]]
    # The page gzipped — a fifth of its size in memory, and sent as it is to a browser that takes gzip —
    # in parts split where the server's time goes (only a page with a countdown has more than one).
    parts: list[bytes]
    # Called with the request each time the page is served again (a product page counts a view).
    on_hit: Callable[[Request], None] | None = None

    def response(self, accepts_gzip: bool) -> Response:
        response = Response(status=self.status, headers=self.headers)
        if accepts_gzip and len(self.parts) == 1:
            response.set_data(self.parts[0])
            response.headers["Content-Encoding"] = "gzip"
        else:
            now = f'data-server-now="{int(time.time())}"'.encode()
            response.set_data(now.join(gzip.decompress(part) for part in self.parts))
        return response


class _Pages:
    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[tuple, Entry] = OrderedDict()
        # (generation, monotonic time of the next scheduled change) — read again when the counter moves
        self.schedule: tuple[int, float] | None = None
        self.engine = None  # the app's engine, known once Flask has served a page that could be kept

    def get(self, key: tuple) -> Entry | None:
        entry = self.entries.get(key)
        if entry is not None:
            with suppress(KeyError):  # dropped by another thread (gunicorn's threaded workers) meanwhile
                self.entries.move_to_end(key)
        return entry

    def put(self, key: tuple, entry: Entry) -> None:
        self.entries[key] = entry
        self.entries.move_to_end(key)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)


def init_app(app: Flask) -> None:
    """Call after every other before_request hook is registered: those (WeChat's silent login, share-link
    tracking) run first."""
    app.config.setdefault("PAGE_CACHE_SECONDS", 10)
    app.config.setdefault("PAGE_CACHE_ENTRIES", 300)
    app.extensions["page_cache"] = _Pages(app.config["PAGE_CACHE_ENTRIES"])
    app.wsgi_app = _Middleware(app.wsgi_app, app)
    app.before_request(_note_request)
    request_finished.connect(_keep, app)


# --- what raises the counter --------------------------------------------------------------------------


def _watched(objects) -> bool:
    return any(getattr(obj, "__tablename__", None) in WATCHED_TABLES for obj in objects)


@event.listens_for(FlaskSession, "do_orm_execute")
def _note_statement(state) -> None:
    """A statement run through the session (conditional stock updates, bulk inserts)."""
    if (
        state.is_insert or state.is_update or state.is_delete
    ) and state.statement.table.name in WATCHED_TABLES:
        state.session.info[_DIRTY] = True


@event.listens_for(FlaskSession, "after_flush")
def _note_flush(session, _flush_context) -> None:
    if _watched(session.new) or _watched(session.dirty) or _watched(session.deleted):
        session.info[_DIRTY] = True


@event.listens_for(FlaskSession, "before_commit")
def _raise_generation(session) -> None:
    # Only at the real commit, not when a savepoint is released (SQLAlchemy sends before_commit for both):
    # the counter's row stays locked from the raise to the commit, and a raise at a savepoint made every
    # paid order after it wait for the others' commits. Before the commit's own flush: what is still
    # pending counts too.
    if session.in_nested_transaction():
        return
    pending = _watched(session.new) or _watched(session.dirty) or _watched(session.deleted)
    if session.info.pop(_DIRTY, False) or pending:
        bump(session)


@event.listens_for(FlaskSession, "after_rollback")
def _forget(session) -> None:
    # A savepoint rolled back undoes only its own writes: what the transaction wrote before it still counts.
    if not session.in_nested_transaction():
        session.info.pop(_DIRTY, None)


def bump(session) -> None:
    """Raise the counter inside the caller's transaction. The row comes with the migration; should it be
    gone (a test emptied the tables), the first bump makes it, and of two at once the second raises it."""
    if _raise(session) == 0:
        try:
            with session.begin_nested():
                session.add(PageGeneration(id=GENERATION_ID, value=1))
        except IntegrityError:
            _raise(session)


def _raise(session) -> int:
    statement = (
        update(PageGeneration)
        .where(PageGeneration.id == GENERATION_ID)
        .values(value=PageGeneration.value + 1)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).rowcount


def generation(engine=None) -> int:
    """The counter, read on a pooled connection of its own through the driver itself: a cached page then
    costs no ORM session and no SQLAlchemy result (half of a hit's time when read through them)."""
    connection = (engine or db.engine).raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(_READ_GENERATION)
            row = cursor.fetchone()
        finally:
            cursor.close()
    finally:
        connection.close()  # back to the pool, which ends the read transaction
    return (row[0] if row else 0) or 0


# --- serving ------------------------------------------------------------------------------------------


def _cacheable(app: Flask, request: Request) -> bool:
    return not (
        request.method != "GET"
        or request.cookies.get(app.config["SESSION_COOKIE_NAME"])
        or request.cookies.get(app.config["REMEMBER_COOKIE_NAME"])  # a shopper whose session has ended
        or request.headers.get("HX-Request")
        or "ref" in request.args
        or "lang" in request.args
        or app.config["PAGE_CACHE_SECONDS"] <= 0
    )


def _key_of(request: Request) -> tuple:
    # everything a page's own links are made of, and the one thing about the visitor it shows
    return (request.scheme, request.host, request.script_root, request.full_path, in_wechat(request))


class _Middleware:
    """Serves a kept page before Flask sees the request; anything else goes on to Flask."""

    def __init__(self, wsgi_app, app: Flask):
        self.wsgi_app = wsgi_app
        self.app = app

    def __call__(self, environ, start_response):
        try:
            response = _kept_response(self.app, environ)
        except Exception:  # the database unreachable, say: Flask answers, and says so its own way
            log.warning("page cache: a kept page could not be checked", exc_info=True)
            response = None
        if response is None:
            return self.wsgi_app(environ, start_response)
        return response(environ, start_response)


def _kept_response(app: Flask, environ) -> Response | None:
    pages = app.extensions["page_cache"]
    if pages.engine is None or environ.get("REQUEST_METHOD") != "GET":
        return None
    request = app.request_class(environ)
    if not _cacheable(app, request):
        return None
    entry = pages.get(_key_of(request))
    if entry is None or entry.expires < time.monotonic() or entry.generation != generation(pages.engine):
        return None
    response = entry.response(takes_gzip(request))
    if entry.on_hit is not None:
        entry.on_hit(request)
    response.headers[HIT_HEADER] = "hit"  # says where a page came from (the scale-out test asks it)
    return response


def _note_request():
    """In Flask, for a page that could be kept: what keeping it needs (its key, and the counter and the
    time it is made under)."""
    if request.endpoint not in ENDPOINTS or not _cacheable(current_app, request):
        return
    pages = current_app.extensions["page_cache"]
    pages.engine = db.engine
    g.page_cache_key = _key_of(request)
    g.page_generation = generation()
    g.page_made_at = utcnow()  # promotions that start or end after this moment end the page kept from now


def _keep(sender: Flask, response: Response, **_extra) -> None:
    """Once the answer is final (after every after_request hook and the session's cookie): keep it."""
    key = g.get("page_cache_key")
    if (
        key is None
        or response.status_code != 200
        or response.mimetype != "text/html"
        or response.is_streamed
        or "Set-Cookie" in response.headers
        or session.modified
    ):
        return
    pages = sender.extensions["page_cache"]
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _UNCACHED_HEADERS]
    vary = HeaderSet(response.vary)
    vary.add("Accept-Encoding")
    headers.append(("Vary", vary.to_header()))
    entry = Entry(
        generation=g.page_generation,
        expires=min(time.monotonic() + sender.config["PAGE_CACHE_SECONDS"], _next_change(pages)),
        status=response.status_code,
        headers=headers,
        parts=[gzip.compress(part, mtime=0) for part in _SERVER_NOW.split(response.get_data())],
        on_hit=g.get("page_cache_on_hit"),
    )
    pages.put(key, entry)


def _next_change(pages: _Pages) -> float:
    """When (on the monotonic clock) the next promotion or coupon window opens or closes; infinity when
    none is ahead. Asked of the database again only when the counter has moved or that moment has come."""
    now = time.monotonic()
    if pages.schedule is None or pages.schedule[0] != g.page_generation or pages.schedule[1] <= now:
        wall = g.page_made_at
        moments = [m for m in db.session.execute(_NEXT_CHANGE, {"now": wall}).one() if m is not None]
        pages.schedule = (
            g.page_generation,
            now + (min(moments) - utcnow()).total_seconds() if moments else float("inf"),
        )
    return pages.schedule[1]


def _soonest(table_name: str, name: str):
    moment = column(name, UTCDateTime)
    return (
        select(func.min(moment))
        .select_from(table(table_name, moment))
        .where(moment > bindparam("now", type_=UTCDateTime))
        .scalar_subquery()
    )


_NEXT_CHANGE = select(*(_soonest(name, moment) for name, moments in SCHEDULES.items() for moment in moments))
