"""The first-run checklist on the dashboard: the six things a new shop does before its first sale, each
ticked from the shop's own data, never by hand — shop name and logo, a way to be paid, a product on sale,
the distribution rules saved, the first poster or QR code shared from the back office, the first paid order.
It lives with distribution, the highest domain layer, because it reads every lower one.

Sharing leaves no trace of its own, so the back office records it here: a milestone row, written once
(MerchantMilestone). Hiding the list is a milestone too."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.catalog.models import Product, Sku
from app.distribution.models import DistributionSettings, MerchantMilestone
from app.distribution.services import SETTINGS_ID
from app.orders.models import Order
from app.payments import get_provider
from app.settings.services import get_shop_settings
from app.timeutil import utcnow

FIRST_SHARE = "first_share"
CHECKLIST_HIDDEN = "checklist_hidden"
MILESTONES = (FIRST_SHARE, CHECKLIST_HIDDEN)
# The ways a shop takes real money; the sandbox is a demo and does not count.
REAL_PAYMENT_PROVIDERS = ("wechat", "alipay", "manual")


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    hint: str
    done: bool


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]
    hidden: bool

    @property
    def done_count(self) -> int:
        return sum(step.done for step in self.steps)

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def complete(self) -> bool:
        return self.done_count == self.total

    @property
    def shown(self) -> bool:
        """On the dashboard until every step is done, or until the merchant hides it."""
        return not (self.complete or self.hidden)

    @property
    def next_key(self) -> str | None:
        """The first step not done yet: the one the dashboard points at."""
        return next((step.key for step in self.steps if not step.done), None)

    @property
    def percent(self) -> int:
        return self.done_count * 100 // self.total


STEP_TEXTS = {
    "shop": (_l("Name your shop and add its logo"), _l("Shoppers see them on every page and poster.")),
    "payment": (
        _l("Choose how you are paid"),
        _l("Turn on WeChat Pay, Alipay or transfers to the shop."),
    ),
    "product": (_l("Put your first product on sale"), _l("Add a product with its price and stock.")),
    "distribution": (
        _l("Set your distribution rules"),
        _l("Decide who may share for you and the commission they earn."),
    ),
    "share": (
        _l("Share your first poster"),
        _l("Download a poster or QR code with a product's Promote button, and send it to your customers."),
    ),
    "order": (_l("Get your first paid order"), _l("The dashboard fills with figures from here on.")),
}


def has_milestone(session: Session, key: str) -> bool:
    return session.get(MerchantMilestone, key) is not None


def record_milestone(session: Session, key: str, user_id: int | None) -> bool:
    """Remember the first time `key` happened; later calls change nothing. True when this call recorded
    it. Two concurrent first times: the primary key keeps one, the other's savepoint is rolled back."""
    if key not in MILESTONES:
        raise ValueError(f"unknown milestone {key!r}")
    if has_milestone(session, key):
        return False
    try:
        with session.begin_nested():
            session.add(MerchantMilestone(key=key, reached_at=utcnow(), user_id=user_id))
    except IntegrityError:
        return False
    return True


def _payment_ready(app, session: Session) -> bool:
    """A real way to pay that the checkout offers somewhere, inside WeChat or outside it: WeChat Pay with
    its keys but neither the AppSecret (JSAPI) nor H5 is offered nowhere, so it does not count."""
    return any(
        get_provider(name).offered(app, session, in_wechat=in_wechat)
        for name in REAL_PAYMENT_PROVIDERS
        for in_wechat in (True, False)
    )


def first_run_checklist(app, session: Session) -> Checklist:
    """The six steps, each ticked from data. `app` is the Flask app the payment providers read."""
    shop = get_shop_settings(session)
    on_sale = exists().where(Sku.product_id == Product.id, Sku.is_active)
    done = {
        "shop": bool((shop.name or "").strip()) and bool(shop.logo_key),
        "payment": _payment_ready(app, session),
        "product": bool(session.scalar(select(exists().where(Product.is_on_shelf, on_sale)))),
        "distribution": session.get(DistributionSettings, SETTINGS_ID) is not None,
        "share": has_milestone(session, FIRST_SHARE),
        "order": bool(session.scalar(select(exists().where(Order.paid_at.is_not(None))))),
    }
    steps = [Step(key, str(label), str(hint), done[key]) for key, (label, hint) in STEP_TEXTS.items()]
    return Checklist(steps=steps, hidden=has_milestone(session, CHECKLIST_HIDDEN))
