"""The H5 storefront shoppers open from links shared in WeChat."""

from flask import Blueprint

bp = Blueprint("shop", __name__)

from app.shop import (  # noqa: E402, F401
    account,
    addresses,
    aftersales,
    cart,
    catalog,
    checkout,
    distribution,  # noqa: E402, F401
    dividends,
    flash,
    groups,
    marketing,
    orders,
)
