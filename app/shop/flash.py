"""The 秒杀 page: today's runs as tabs (on now / coming / over), each item with its flash price, what is sold
and a countdown. The rules and every flag shown come from marketing.flash_display."""

from flask import render_template, request

from app.extensions import db
from app.marketing import flash_display as flash
from app.numbers import parse_whole_number
from app.shop import bp
from app.timeutil import utcnow

STATE_WORDS = flash.STATE_WORDS


@bp.get("/flash")
def flash_sale():
    now = utcnow()
    runs = flash.today_runs(db.session, now)
    return render_template(
        "shop/flash.html",
        runs=runs,
        chosen=flash.chosen_run(runs, parse_whole_number(request.args.get("run", ""), max_digits=3)),
        state_words=STATE_WORDS,
        # The phone counts down against the server's time (a kept page gets it refreshed, app/page_cache.py).
        server_now=int(now.timestamp()),
    )
