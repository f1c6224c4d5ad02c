"""换货: once the returned goods are in, the merchant ships a replacement — another SKU of the same product
at the same price. No money moves, so commission, points and coupons are untouched. The exchange is over
when the replacement is shipped (the shopper sees its carrier and tracking number; it is not tracked to a
receipt). When no replacement can be sent (none in stock, the price changed, the product is gone), the
merchant refunds the returned units instead."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.models import Sku
from app.catalog.services import CatalogError, adjust_stock
from app.db_types import parse_id
from app.orders import aftersales
from app.orders.events import OrderError, record_event, transition
from app.orders.models import AfterSalesKind, Refund, RefundRequestStatus
from app.orders.refunds import announce_approval, refundable_amount, reopen_after_refund
from app.timeutil import utcnow


def _line(refund: Refund):
    return refund.lines[0].order_line


def _price(line) -> int:
    """The list price the line was bought at (its unit price on lines from before list prices were kept)."""
    return line.list_unit_fen or line.unit_fen


def replacement_choices(session: Session, refund: Refund) -> list[Sku]:
    """The SKUs the replacement may be: the same product, the same price as the line bought."""
    line = _line(refund)
    if line.product_id is None:
        return []
    return list(
        session.scalars(
            select(Sku)
            .where(Sku.product_id == line.product_id, Sku.price_fen == _price(line))
            .order_by(Sku.id)
        )
    )


def ship_replacement(
    session: Session, refund: Refund, *, actor: User, sku_id, carrier_code: str, tracking_no: str
) -> None:
    if refund.kind != AfterSalesKind.EXCHANGE:
        raise OrderError(_l("This request is not an exchange."))
    line, item = _line(refund), refund.lines[0]
    sku = session.get(Sku, parse_id(sku_id) or 0)
    if sku is None or line.product_id is None or sku.product_id != line.product_id:
        raise OrderError(_l("Please choose a SKU of the same product."), "sku_id")
    if sku.price_fen != _price(line):
        raise OrderError(_l("The replacement must have the same price as the item bought."), "sku_id")
    carrier, code, number = aftersales.clean_parcel(carrier_code, tracking_no)
    if refund.status != RefundRequestStatus.RECEIVED:
        raise OrderError(_l("This request has already been handled."))
    try:
        adjust_stock(session, sku.id, -item.qty)
    except CatalogError:
        raise OrderError(_l("Not enough stock of this SKU for the replacement."), "sku_id") from None
    if not transition(
        session,
        refund,
        (RefundRequestStatus.RECEIVED,),
        RefundRequestStatus.EXCHANGED,
        replacement_sku_id=sku.id,
        replacement_spec_text=(sku.spec_text or "")[:120],
        replacement_carrier=carrier,
        replacement_carrier_code=code,
        replacement_tracking_no=number,
        replacement_shipped_at=utcnow(),
    ):
        # Another call shipped it first: the stock taken above goes back with this transaction's rollback.
        raise OrderError(_l("This request has already been handled."))
    reopen_after_refund(session, refund.order)
    record_event(
        session,
        refund.order,
        "replacement_shipped",
        actor=actor,
        note=f"{refund.number} {sku.spec_text or ''} {carrier} {number}",
    )


def refund_instead_amount(refund: Refund) -> int:
    """What refunding an exchange's returned units would pay back (money.share_of_units, as any refund)."""
    return sum(refundable_amount(item.order_line, item.qty) for item in refund.lines)


def refund_instead(session: Session, refund: Refund, *, actor: User) -> None:
    """No replacement can be sent: the exchange becomes a 退货退款 of the same units, approved at once, and the
    money goes back as for any return (payments sends it; commission, points and coupons as a refund). The
    units came back already — restocked or not when they were received — so the refund restocks nothing."""
    if refund.kind != AfterSalesKind.EXCHANGE:
        raise OrderError(_l("This request is not an exchange."))
    if refund.status != RefundRequestStatus.RECEIVED:
        raise OrderError(_l("This request has already been handled."))
    amounts = {item.id: refundable_amount(item.order_line, item.qty) for item in refund.lines}
    if not transition(
        session,
        refund,
        (RefundRequestStatus.RECEIVED,),
        RefundRequestStatus.APPROVED,
        kind=AfterSalesKind.RETURN_REFUND,
        amount_fen=sum(amounts.values()),
        restock=False,
        decided_by_id=actor.id,
    ):
        raise OrderError(_l("This request has already been handled."))
    for item in refund.lines:
        item.amount_fen = amounts[item.id]
    session.flush()
    record_event(
        session, refund.order, "exchange_refunded", actor=actor, note=f"{refund.number} {refund.amount_fen}"
    )
    announce_approval(session, refund, actor=actor)
