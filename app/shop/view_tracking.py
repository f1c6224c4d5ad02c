"""Counting product views and add-to-cart (app/catalog/view_counts.py) from the shop's pages — from Flask's
view, and from a page the page cache serves without Flask (the hook it calls on a hit)."""

import re
from functools import partial

from flask import Flask, current_app, request
from flask_login import current_user
from werkzeug.wrappers import Request

from app.catalog import view_counts
from app.distribution.web import VISITOR_COOKIE

# Search engines and link-preview fetchers say so in their User-Agent ("Baiduspider/2.0", "Googlebot/2.1",
# "Bytespider;", "bingbot/2.0"): "bot" only right before a "/" or ";" (a phone named CUBOT_X19 is a person).
_CRAWLER = re.compile(r"spider|crawl|bot[/;]|headlesschrome|facebookexternalhit|python-|curl/|wget/", re.I)


def is_crawler(req: Request) -> bool:
    return bool(_CRAWLER.search(req.headers.get("User-Agent", "")))


def visitor_identity(req: Request, user_id: int | None = None) -> str:
    """Who this is, as words to hash: the visitor cookie, else the account, else the IP and browser."""
    cookie = req.cookies.get(VISITOR_COOKIE, "")
    if 16 <= len(cookie) <= 64 and cookie.isalnum():
        return "c:" + cookie
    if user_id is not None:
        return f"u:{user_id}"
    return "a:" + (req.remote_addr or "") + "|" + req.headers.get("User-Agent", "")[:200]


def _count_kept_page(app: Flask, product_id: int, req: Request) -> None:
    if is_crawler(req):
        return
    view_counts.count(app, product_id, view_counts.VIEW, visitor_identity(req))


def count_product_event(product_id: int, kind: str) -> None:
    """In a request: one view or add-to-cart of the product by whoever this is. A HEAD (an uptime check, a
    link checker; Flask answers it with the GET view) is not a view: nobody saw the page; nor is a crawler's."""
    if (kind == view_counts.VIEW and request.method != "GET") or is_crawler(request):
        return
    user_id = current_user.id if current_user.is_authenticated else None
    view_counts.count(current_app._get_current_object(), product_id, kind, visitor_identity(request, user_id))


def kept_page_hook(product_id: int):
    """What the page cache calls when it serves this product's kept page again: one more view."""
    return partial(_count_kept_page, current_app._get_current_object(), product_id)
