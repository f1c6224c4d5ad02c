"""Opening a distributor's share link, wherever it was opened: `?ref=CODE` on an H5 page (web.py) or a
mini-program share or 小程序码 (POST /api/v1/visits, its scene read by mini_program.decode_scene). One
flow for both, so a visit counts and binds the same way: the visit is recorded (once per visitor, page and
day); a signed-in shopper is bound at once as the merchant's rules say; an anonymous visitor's link is
remembered until they sign in, when `services.bind_remembered` decides."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.accounts.models import User
from app.distribution import services as dist
from app.distribution.models import Distributor


@dataclass
class ShareVisit:
    counted: bool  # a new visit (False: this visitor already opened this page of theirs today)
    bind: dist.BindResult | None  # a signed-in shopper: what the binding rules did
    remembered: list[dict] | None  # an anonymous visitor: the links to keep until they sign in


def sharing_distributor(session: Session, code: str | None) -> Distributor | None:
    """The distributor whose link this is, or None when the link is to be ignored (never an error): an
    unknown or disabled code, or distribution switched off."""
    distributor = dist.distributor_by_code(session, code)
    if distributor is None or not dist.get_settings(session).enabled:
        return None
    return distributor


def open_share_link(
    session: Session,
    distributor: Distributor,
    *,
    user: User | None,
    remembered,
    visitor_key: str,
    path: str,
    product_id: int | None,
    ip: str,
    in_wechat: bool,
    source: str,
    now: datetime,
) -> ShareVisit:
    """Record the visit and bind (signed in) or remember (anonymous). `remembered` is what the visitor
    kept from links opened before: for a signed-in user it is bound first, as signing in on the H5 shop
    binds it, and then this link. The caller commits."""
    counted = dist.record_visit(
        session,
        distributor,
        visitor_key=visitor_key,
        user_id=user.id if user is not None else None,
        path=path,
        product_id=product_id,
        ip=ip,
        in_wechat=in_wechat,
        today=now.date(),
    )
    if user is None:
        links = dist.remember_share_link(session, remembered, distributor, source=source, now=now)
        return ShareVisit(counted, None, links)
    earlier = dist.bind_remembered(session, user, remembered, now) if remembered else None
    result = dist.bind(session, user, distributor, source=source, now=now)
    if earlier is not None and earlier.bound and not result.bound:
        result = earlier  # the link remembered before bound the shopper just now; this one kept that
    return ShareVisit(counted, result, None)
