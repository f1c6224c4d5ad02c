"""JSON API v1 for the WeChat mini-program (and any other client that speaks JSON): /api/v1.

The top layer, like app/shop and app/admin: views only, on the same domain services as the H5 shop, so no
rule is written twice. Requests and responses are declared with pydantic models through SpecTree, which
both validates them and builds the OpenAPI 3.1 description served at /api/v1/openapi.json (README, "API").
Every error under /api answers one JSON shape (app/api/errors.py), never an HTML page."""

from flask import Blueprint, Flask

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


from app.api import (  # noqa: E402, F401 - the views register themselves on bp
    activities,
    addresses,
    aftersales,
    auth,
    cart,
    catalog,
    distribution,
    distribution_share,
    docs,
    marketing,
    mini_program,
    orders,
    payments,
    share,
)
from app.api.security import init_blueprint  # noqa: E402

init_blueprint(bp)
