"""Activities: today's 秒杀 runs (the H5 秒杀 page), the running 拼团 activities, one group (the page a
shared link opens) and a product's open groups (its page's 去参团), from marketing.flash_display and
marketing.group_display. Buying goes through POST /orders with the ids these answers give."""

from flask_babel import gettext as _
from spectree import Response

from app.api import bp
from app.api.errors import ApiError, ErrorBody
from app.api.schemas import Money
from app.api.schemas_marketing import (
    FlashItemOut,
    FlashRunOut,
    FlashRunsOut,
    FlashSessionOut,
    GroupBuyOut,
    GroupBuysOut,
    GroupMemberOut,
    GroupOut,
    GroupProductOut,
    GroupSkuOut,
    OpenGroupOut,
    ProductGroupsOut,
    ProductGroupsQuery,
)
from app.api.security import api_user
from app.api.spec import spec
from app.catalog import services as catalog
from app.extensions import db
from app.marketing import flash_display, group_display
from app.media import image_url
from app.timeutil import utcnow

IMAGE_SIZE = 400
AVATAR_SIZE = 200


def flash_run(run: flash_display.ShopRun) -> FlashRunOut:
    return FlashRunOut(
        session_id=run.session_id,
        name=run.name,
        starts_at=run.starts_at.isoformat(),
        ends_at=run.ends_at.isoformat(),
        state=run.state,
        state_text=str(flash_display.STATE_WORDS[run.state]),
        countdown_to=run.countdown_to.isoformat() if run.countdown_to else None,
        items=[
            FlashItemOut(
                flash_item_id=item.item_id,
                sku_id=item.sku_id,
                product_id=item.product_id,
                title=item.title,
                image_url=image_url(item.image_key, IMAGE_SIZE, external=True),
                spec_text=item.spec_text,
                price=Money.of(item.price_fen),
                list_price=Money.of(item.list_fen),
                stock=item.stock,
                sold=item.sold,
                sold_out=item.sold_out,
                sold_pct=item.sold_pct,
                can_buy=item.can_buy,
            )
            for item in run.items
        ],
    )


@bp.get("/flash/sessions")
@spec.validate(resp=Response(HTTP_200=FlashRunsOut, HTTP_401=ErrorBody), tags=["activities"])
def flash_sessions():
    """秒杀: today's runs (on now, coming, over) with their items, as the H5 秒杀 page's tabs

    To buy, order one SKU with its `flash_item_id` while the run is on (`can_buy`)."""
    now = utcnow()
    runs = flash_display.today_runs(db.session, now)
    return FlashRunsOut(
        runs=[flash_run(run) for run in runs],
        chosen=flash_display.chosen_run(runs, None),
        server_now=now.isoformat(),
    )


@bp.get("/flash/sessions/<int:session_id>")
@spec.validate(
    path_parameter_descriptions={"session_id": "A flash session id (session_id of a run)"},
    resp=Response(HTTP_200=FlashSessionOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["activities"],
)
def flash_session(session_id: int):
    """One 秒杀 session: its runs today with their items (404 when it has none today)"""
    now = utcnow()
    runs = [run for run in flash_display.today_runs(db.session, now) if run.session_id == session_id]
    if not runs:
        raise ApiError(404, _("This flash sale is not on today."), code="flash_not_found")
    return FlashSessionOut(
        session_id=session_id,
        name=runs[0].name,
        runs=[flash_run(run) for run in runs],
        server_now=now.isoformat(),
    )


@bp.get("/groups")
@spec.validate(resp=Response(HTTP_200=GroupBuysOut, HTTP_401=ErrorBody), tags=["activities"])
def group_buys():
    """拼团: the activities running now with their products, ending soonest first

    A product in a 秒杀 on now is left out (its page is in flash mode, as /products/{id}/groups says).
    To open a group, order one unit of a SKU of it with its `group_buy_id`."""
    return GroupBuysOut(
        items=[
            GroupBuyOut(
                group_buy_id=found.group_buy_id,
                name=found.name,
                size=found.size,
                hours=found.hours,
                per_user_limit=found.per_user_limit,
                ends_at=found.ends_at.isoformat(),
                products=[
                    GroupProductOut(
                        product_id=product.product_id,
                        title=product.title,
                        image_url=image_url(product.image_key, IMAGE_SIZE, external=True),
                        group_price=Money.of(product.low_fen),
                        list_price=Money.of(product.list_fen),
                        sku_ids=list(product.sku_ids),
                    )
                    for product in found.products
                ],
            )
            for found in group_display.running_group_buys(db.session)
        ]
    )


@bp.get("/groups/<int:group_id>")
@spec.validate(
    path_parameter_descriptions={"group_id": "A group id"},
    resp=Response(HTTP_200=GroupOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody),
    tags=["activities"],
)
def group(group_id: int):
    """One group, as its shared page shows it: masked members, places left, the deadline, whether one can join

    To join, order one unit of `sku_id` with this `group_id` (POST /orders)."""
    user = api_user()
    now = utcnow()
    view = group_display.group_view(db.session, group_id, user.id if user else None, now)
    if view is None:
        raise ApiError(404, _("This group does not exist."), code="group_not_found")
    return GroupOut(
        group_id=view.group_id,
        group_buy_id=view.group_buy_id if view.activity_running else None,
        state=view.state,
        state_text=str(group_display.STATE_WORDS[view.state]),
        size=view.size,
        needed=view.places_left,
        ends_at=view.expires_at.isoformat() if view.expires_at else None,
        product_id=view.product_id,
        sku_id=view.sku_id,
        title=view.title,
        image_url=image_url(view.image_key, IMAGE_SIZE, external=True),
        spec_text=view.spec_text,
        price=Money.of(view.price_fen),
        list_price=Money.of(view.list_fen),
        members=[
            GroupMemberOut(
                name=member.name,
                avatar_url=image_url(member.avatar_key, AVATAR_SIZE, external=True)
                if member.avatar_key
                else None,
                is_leader=member.is_leader,
            )
            for member in view.members
        ],
        viewer_is_member=view.viewer_is_member,
        viewer_order=view.viewer_order,
        can_join=view.can_join,
        can_invite=view.can_invite,
        can_open_another=view.can_open_another,
        server_now=now.isoformat(),
    )


@bp.get("/products/<int:product_id>/groups")
@spec.validate(
    query=ProductGroupsQuery,
    path_parameter_descriptions={"product_id": "A product id"},
    resp=Response(HTTP_200=ProductGroupsOut, HTTP_401=ErrorBody, HTTP_404=ErrorBody, HTTP_422=ErrorBody),
    tags=["activities"],
)
def product_groups(product_id: int, query: ProductGroupsQuery):
    """A product's running 拼团 and its open groups one can join (the product page's 去参团)"""
    if catalog.get_shop_product(db.session, product_id) is None:
        raise ApiError(404, _("This product is no longer on sale."))
    now = utcnow()
    offer = group_display.product_mode(db.session, product_id, now)
    if offer is None:
        return ProductGroupsOut(group_buy_id=None, name=None, size=None, low_price=None, skus=[], groups=[])
    found = group_display.open_groups(db.session, offer.group_buy_id, now, limit=query.limit)
    return ProductGroupsOut(
        group_buy_id=offer.group_buy_id,
        name=offer.name,
        size=offer.size,
        low_price=Money.of(offer.low_fen),
        skus=[GroupSkuOut(sku_id=sku_id, group_price=Money.of(fen)) for sku_id, fen in offer.prices.items()],
        groups=[
            OpenGroupOut(
                group_id=row.group_id,
                leader=row.leader,
                needed=row.places_left,
                ends_at=row.expires_at.isoformat(),
            )
            for row in found
        ],
    )
