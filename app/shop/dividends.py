"""The distributor's dividends (分红) in the shop: beside the commission list, one entry per day they shared
a pool, with the pool, how many shared it and their share, and whether a cap cut it. Only their own:
the query is keyed by the signed-in distributor. Figures come from distribution.dividend_queries."""

from flask import render_template
from jinja2_fragments.flask import render_block

from app.distribution import dividend_queries
from app.distribution import services as dist
from app.distribution.models import Distributor
from app.extensions import db
from app.shop import bp
from app.shop.distribution import MAX_PAGE, _fragment_wanted, _int_arg, distributor_required
from app.timeutil import utcnow


@bp.get("/d/dividends")
@distributor_required
def distribution_dividends(distributor: Distributor):
    page_number = _int_arg("page", 1, MAX_PAGE)
    page = dividend_queries.dividend_page(db.session, distributor.id, page=page_number)
    context = {"tab": "me", "page": page, "state": "dividends"}
    if page_number > 1 and _fragment_wanted():
        return render_block("shop/distribution/dividends.html", "dividend_items", **context)
    return render_template(
        "shop/distribution/dividends.html",
        totals=dividend_queries.dividend_totals(db.session, distributor.id, utcnow()),
        settings=dist.get_settings(db.session),
        **context,
    )
