"""Cart, addresses, checkout, the order state machine, shipping and after-sales — one module a subject:
`orders.cart`, `orders.addresses`, `orders.checkout`, `orders.access`, `orders.transitions`,
`orders.refunds`, `orders.aftersales` (仅退款 / 退货退款 / 换货), `orders.returns`, `orders.exchanges`,
`orders.aftersales_jobs` (the timeouts), `orders.tracking` (where a parcel is), `orders.queries` (the back office's), `orders.stats` (the
dashboard's figures), `orders.events` (the audit trail)."""

from app.orders import (  # noqa: F401 - `from app import orders` then `orders.checkout.place_order(...)`
    access,
    addresses,
    aftersales,
    aftersales_jobs,
    cart,
    checkout,
    events,
    exchanges,
    queries,
    refunds,
    returns,
    stats,
    tracking,
    transitions,
)
