"""Which 拼团 activity holds a SKU over a stretch of time: the check 限时折扣, 秒杀 and 拼团 all make before
taking a SKU, since a SKU is in one activity at a time (MARKETING.md). Apart from app.marketing.groups so
that flash and campaigns can ask it without importing the group-buy rules (which ask them in turn)."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.marketing.models import GroupBuy, GroupBuyItem


def overlapping_group_buy(starts_at, ends_at):
    """The condition: a 拼团 activity not stopped whose time overlaps [starts_at, ends_at) (moments or
    columns)."""
    return (~GroupBuy.is_stopped, GroupBuy.starts_at < ends_at, GroupBuy.ends_at > starts_at)


def in_group_between(
    session: Session,
    sku_ids: Iterable[int],
    starts_at: datetime,
    ends_at: datetime,
    *,
    exclude_id: int | None = None,
) -> str | None:
    """The name of a 拼团 activity (other than `exclude_id`) one of these SKUs is in at some moment of
    [starts_at, ends_at), or None."""
    query = (
        select(GroupBuy.name)
        .join(GroupBuyItem, GroupBuyItem.group_buy_id == GroupBuy.id)
        .where(GroupBuyItem.sku_id.in_(sorted(set(sku_ids))), *overlapping_group_buy(starts_at, ends_at))
        .limit(1)
    )
    if exclude_id:
        query = query.where(GroupBuy.id != exclude_id)
    return session.scalar(query)
