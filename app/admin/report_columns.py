"""The reports' CSV columns: (label, cell) pairs, each cell made from a report row. Text is made formula-safe
(csv_text), money is yuan with two decimals, rates are percents."""

from flask_babel import lazy_gettext as _l

from app.money import yuan
from app.reports.display import percent
from app.webutil import csv_text

SALES_COLUMNS = (
    (_l("Day"), lambda d: d.day.isoformat()),
    (_l("Paid orders"), lambda d: d.orders),
    (_l("Paid amount"), lambda d: yuan(d.paid_fen)),
    (_l("Paying customers"), lambda d: d.customers),
    (_l("Average per order"), lambda d: yuan(d.average_fen)),
    (_l("Refunds"), lambda d: d.refunds),
    (_l("Refunds paid back"), lambda d: yuan(d.refunded_fen)),
    (_l("Net"), lambda d: yuan(d.net_fen)),
)

PRODUCT_COLUMNS = (
    (_l("Rank"), lambda rank, r: rank),
    (_l("Product ID"), lambda rank, r: r.product_id),
    (_l("Product"), lambda rank, r: csv_text(r.title)),
    (_l("Views"), lambda rank, r: r.views),
    (_l("Visitors"), lambda rank, r: r.visitors),
    (_l("Add to cart"), lambda rank, r: r.cart_adds),
    (_l("Orders"), lambda rank, r: r.orders),
    (_l("Units"), lambda rank, r: r.units),
    (_l("Paid amount"), lambda rank, r: yuan(r.paid_fen)),
    (_l("Refund rate"), lambda rank, r: percent(r.refund_rate_bp)),
    (_l("View to buy conversion"), lambda rank, r: percent(r.conversion_bp)),
)

FUNNEL_COLUMNS = (
    (_l("ID"), lambda r: r.key),
    (_l("Name"), lambda r: csv_text(r.label)),
    (_l("Share-link visits"), lambda r: r.visits),
    (_l("Unique visitors"), lambda r: r.visitors),
    (_l("Bound shoppers"), lambda r: "" if r.bound is None else r.bound),
    (_l("Visitors who ordered"), lambda r: r.ordering_visitors),
    (_l("Orders"), lambda r: r.orders),
    (_l("Paid amount"), lambda r: yuan(r.paid_fen)),
    (_l("Commission"), lambda r: yuan(r.commission_fen)),
    (_l("Conversion"), lambda r: percent(r.conversion_bp)),
)

CUSTOMER_COLUMNS = (
    (
        _l("Member level"),
        lambda r: csv_text(r.label) if r.level_id is not None or r.label else str(_l("Total")),
    ),
    (_l("Paying customers"), lambda r: r.customers),
    (_l("New buyers"), lambda r: r.new),
    (_l("Returning buyers"), lambda r: r.returning),
    (_l("Bought twice or more"), lambda r: r.repeat),
    (_l("Repeat rate"), lambda r: percent(r.repeat_rate_bp)),
    (_l("Paid orders"), lambda r: r.orders),
    (_l("Paid amount"), lambda r: yuan(r.paid_fen)),
)

PROMOTION_COLUMNS = (
    (_l("Kind"), lambda r, kind: kind),
    (_l("Name"), lambda r, kind: csv_text(r.label)),
    (_l("Orders"), lambda r, kind: r.orders),
    (_l("Discount"), lambda r, kind: yuan(r.discount_fen)),
)
