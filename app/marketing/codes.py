"""Distributor coupon codes (MARKETING.md, second attribution path): while the merchant runs a template of
the "code" kind, every active distributor has a personal code — a code they chose, else their distributor
code — compared without case. A shopper who types one at checkout gets that template's coupon; the view
then binds the shopper to the distributor, as a share link opened at that moment would."""

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.distribution.models import Distributor
from app.marketing import coupons
from app.marketing.errors import MarketingError
from app.marketing.models import Coupon, CouponChannel, CouponTemplate, DistributorCode
from app.timeutil import utcnow

CODE_RE = re.compile(r"^[A-Za-z0-9]{4,20}$")
WRONG = _l("This code is not valid. Please check it and try again.")


def code_template(session: Session) -> CouponTemplate | None:
    """The running template of the code kind (the newest, when the merchant made several)."""
    now = utcnow()
    return session.scalars(
        select(CouponTemplate)
        .where(
            CouponTemplate.channel == CouponChannel.CODE,
            ~CouponTemplate.is_stopped,
            (CouponTemplate.valid_until.is_(None)) | (CouponTemplate.valid_until > now),
        )
        .order_by(CouponTemplate.id.desc())
        .limit(1)
    ).first()


def code_of(session: Session, distributor: Distributor) -> str:
    """The code a distributor tells people (upper case reads best aloud)."""
    chosen = session.scalar(
        select(DistributorCode.code).where(DistributorCode.user_id == distributor.user_id)
    )
    return (chosen or distributor.code).upper()


def distributor_for(session: Session, raw) -> Distributor:
    """The active distributor a typed code belongs to, or MarketingError (one sentence for every wrong
    code: it must not tell which codes exist)."""
    text = str(raw or "").strip()
    if not CODE_RE.match(text):
        raise MarketingError(WRONG, "code")
    code = text.lower()
    owner = session.scalar(select(DistributorCode.user_id).where(func.lower(DistributorCode.code) == code))
    query = select(Distributor).where(Distributor.user_id == owner if owner else Distributor.code == code)
    distributor = session.scalar(query)
    if distributor is None or not distributor.is_active:
        raise MarketingError(WRONG, "code")
    return distributor


def redeem(session: Session, user_id: int, raw) -> tuple[Coupon, Distributor]:
    """The coupon a typed code gives this shopper (the one they already hold from it, unused, or a new
    one) and the distributor it names. A distributor's own code gives them nothing."""
    template = code_template(session)
    if template is None:
        raise MarketingError(_l("Coupon codes are not in use in this shop right now."), "code")
    distributor = distributor_for(session, raw)
    if distributor.user_id == user_id:
        raise MarketingError(_l("This is your own code: share it with your customers."), "code")
    held = session.scalars(
        select(Coupon)
        .where(Coupon.template_id == template.id, *coupons.held_unused(user_id, utcnow()))
        .limit(1)
    ).first()
    coupon = held or coupons.claim(session, user_id, template.id, channel=CouponChannel.CODE)
    return coupon, distributor


def choose_code(session: Session, distributor: Distributor, raw) -> str:
    """A distributor picks their own code (4–20 letters and digits, unique whatever the case): it replaces
    the one they chose before. Their distributor code keeps working too, so codes already handed out
    still count."""
    text = str(raw or "").strip()
    if not CODE_RE.match(text):
        raise MarketingError(_l("A code is 4 to 20 letters and digits."), "code")
    code = text.lower()
    taken_by_code = session.scalar(
        select(DistributorCode.user_id).where(
            func.lower(DistributorCode.code) == code, DistributorCode.user_id != distributor.user_id
        )
    )
    taken_by_distributor = session.scalar(
        select(Distributor.user_id).where(
            Distributor.code == code, Distributor.user_id != distributor.user_id
        )
    )
    if taken_by_code or taken_by_distributor:
        raise MarketingError(_l("This code is taken. Please choose another."), "code")
    mine = session.scalar(select(DistributorCode).where(DistributorCode.user_id == distributor.user_id))
    if mine is None:
        session.add(DistributorCode(user_id=distributor.user_id, code=text.upper()))
    else:
        mine.code = text.upper()
    try:
        session.flush()
    except IntegrityError:  # the same code chosen by someone else a moment ago
        raise MarketingError(_l("This code is taken. Please choose another."), "code") from None
    return text.upper()
