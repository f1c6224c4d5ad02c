"""The prices a product page shows, for the H5 shop and the API alike: each SKU's unit price now (activity,
member or list price) and the price struck out beside it."""

from sqlalchemy.orm import Session

from app.catalog.models import Product, Sku
from app.marketing import offers, pricing


def sku_units(
    session: Session, product: Product, level: pricing.MemberLevel | None
) -> dict[int, tuple[int, pricing.Activity | None]]:
    """{sku id: (the unit price shown, its activity)}: the activity price, else the member price, else the
    list price (marketing.pricing.display_price)."""
    activities = offers.activities_for_skus(session, [sku.id for sku in product.active_skus])
    return {
        sku.id: (
            pricing.display_price(
                sku.price_fen,
                member_level=level,
                member_discount=product.member_discount,
                activity=activities.get(sku.id),
            ),
            activities.get(sku.id),
        )
        for sku in product.active_skus
    }


def struck_price(sku: Sku, unit: int) -> int | None:
    """The price struck through beside a SKU's price: its list price when an activity or the member price
    is lower, else the merchant's "original price" when it is higher."""
    if unit < sku.price_fen:
        return sku.price_fen
    if sku.original_price_fen and sku.original_price_fen > unit:
        return sku.original_price_fen
    return None
