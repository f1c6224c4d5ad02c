"""Distribution rules that are not money: the merchant's settings, who is a distributor, applications,
share codes, visits, and binding shoppers to the distributor who referred them."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.accounts.services import AccountError, normalise_mobile
from app.distribution import engine
from app.distribution.models import (
    ApplicationStatus,
    BindingLog,
    Device,
    DistributionSettings,
    Distributor,
    DistributorApplication,
    DistributorStatus,
    Visit,
)
from app.errors import UserError
from app.orders.models import Order, OrderStatus
from app.timeutil import utcnow

SETTINGS_ID = 1
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: codes get read aloud and typed
CODE_LENGTH = 8
MODES = ("everyone", "apply", "spend")
BINDING_MODES = ("first", "last")
MAX_CHAIN_WALK = 10_000


class DistributionError(UserError):
    """A refusal about distribution (applying, binding, settings, withdrawals)."""


# ---------------------------------------------------------------- settings


def get_settings(session: Session) -> DistributionSettings:
    settings = session.get(DistributionSettings, SETTINGS_ID)
    if settings is None:
        settings = DistributionSettings(
            id=SETTINGS_ID,
            enabled=True,
            mode="apply",
            spend_threshold_fen=10000,
            levels=2,
            rates_bp=[1000, 500],
            self_purchase=False,
            binding_mode="first",
            binding_days=0,
            freeze_days=7,
            withdrawal_min_fen=1000,
            withdrawal_fee_bp=0,
        )
    return settings


def engine_settings(settings: DistributionSettings) -> engine.Settings:
    return engine.Settings(
        levels=settings.levels, rates_bp=tuple(settings.rates_bp), self_purchase=settings.self_purchase
    )


@dataclass
class SettingsInput:
    enabled: bool
    mode: str
    spend_threshold_fen: int
    levels: int
    rates_bp: list[int]
    three_levels_acknowledged: bool
    self_purchase: bool
    binding_mode: str
    binding_days: int
    freeze_days: int
    withdrawal_min_fen: int
    withdrawal_fee_bp: int


def update_settings(session: Session, data: SettingsInput) -> DistributionSettings:
    """Validate and save every rule at once; nothing is saved when one is refused."""
    if data.mode not in MODES:
        raise DistributionError(_l("Choose who can become a distributor."), "mode")
    if data.levels not in (1, 2, 3):
        raise DistributionError(_l("Choose 1, 2 or 3 levels."), "levels")
    if data.levels == 3 and not data.three_levels_acknowledged:
        raise DistributionError(
            _l("Three levels need your explicit acknowledgement of the legal risk."),
            "three_levels_acknowledged",
        )
    rates = list(data.rates_bp[: data.levels])
    if len(rates) != data.levels or any(r is None or r < 0 for r in rates):
        raise DistributionError(_l("Enter a rate for every level."), "rates_bp")
    if sum(rates) > engine.CAP_BP:
        raise DistributionError(
            _l("The rates add up to more than 30%, the most WeChat Pay allows."), "rates_bp"
        )
    if data.spend_threshold_fen is None or data.spend_threshold_fen < 0:
        raise DistributionError(
            _l("Enter the spend that makes a member a distributor."), "spend_threshold_fen"
        )
    if data.binding_mode not in BINDING_MODES:
        raise DistributionError(_l("Choose how shoppers are bound."), "binding_mode")
    if data.binding_days is None or not 0 <= data.binding_days <= 3650:
        raise DistributionError(_l("Binding days must be from 0 (permanent) to 3650."), "binding_days")
    if data.freeze_days is None or not 0 <= data.freeze_days <= 180:
        raise DistributionError(_l("Freeze days must be from 0 to 180."), "freeze_days")
    if data.withdrawal_min_fen is None or data.withdrawal_min_fen < 1:
        raise DistributionError(_l("The minimum withdrawal must be at least ¥0.01."), "withdrawal_min_fen")
    if data.withdrawal_fee_bp is None or not 0 <= data.withdrawal_fee_bp <= 2000:
        raise DistributionError(_l("The withdrawal fee must be from 0% to 20%."), "withdrawal_fee_bp")
    from app.distribution.dividend_settings import check_share_out  # it needs this module's settings

    check_share_out(session, "rates_bp", levels=data.levels, shop_rates_bp=rates)

    settings = session.get(DistributionSettings, SETTINGS_ID)
    if settings is None:
        settings = DistributionSettings(id=SETTINGS_ID)
        session.add(settings)
    settings.enabled = data.enabled
    settings.mode = data.mode
    settings.spend_threshold_fen = data.spend_threshold_fen
    settings.levels = data.levels
    settings.rates_bp = rates
    if data.levels == 3:
        settings.three_levels_acknowledged_at = settings.three_levels_acknowledged_at or utcnow()
    else:
        settings.three_levels_acknowledged_at = None
    settings.self_purchase = data.self_purchase
    settings.binding_mode = data.binding_mode
    settings.binding_days = data.binding_days
    settings.freeze_days = data.freeze_days
    settings.withdrawal_min_fen = data.withdrawal_min_fen
    settings.withdrawal_fee_bp = data.withdrawal_fee_bp
    session.flush()
    return settings


def example_split(settings_rates: list[int], paid_fen: int = 10000) -> list[int]:
    """The live example on the settings page: what each level gets of a ¥100 payment."""
    return [paid_fen * rate // 10000 for rate in settings_rates]


# ---------------------------------------------------------------- distributors


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def distributor_of(session: Session, user_id: int) -> Distributor | None:
    return session.scalar(select(Distributor).where(Distributor.user_id == user_id))


def _inserted(session: Session, row) -> bool:
    """Insert `row` in a savepoint. False, and nothing written, when a unique constraint says it is there
    already (a repeat, or a concurrent request that came first)."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def make_distributor(session: Session, user: User, *, source: str, real_name: str = "") -> Distributor:
    """Make a member a distributor (idempotent: an existing one is returned as it is). Never costs money."""
    existing = distributor_of(session, user.id)
    if existing is not None:
        return existing
    for _attempt in range(8):
        distributor = Distributor(
            user_id=user.id,
            code=new_code(),
            source=source,
            real_name=real_name,
            status=DistributorStatus.ACTIVE,
            frozen_fen=0,
            available_fen=0,
            withdrawn_fen=0,
            created_at=utcnow(),
        )
        if _inserted(session, distributor):
            return distributor
        existing = distributor_of(session, user.id)
        if existing is not None:  # made by a concurrent request
            return existing
    raise DistributionError(_l("Could not create a share code. Please try again."))


def distributor_by_code(session: Session, code: str | None) -> Distributor | None:
    """The active distributor behind a share code, or None (unknown and disabled codes are ignored)."""
    if not code or len(code) > 16 or any(ch not in CODE_ALPHABET for ch in code.lower()):
        return None
    distributor = session.scalar(select(Distributor).where(Distributor.code == code.lower()))
    return distributor if distributor is not None and distributor.is_active else None


def paid_spend_fen(session: Session, user_id: int) -> int:
    """What a member has paid and not had refunded: the measure of the `spend` mode."""
    paid = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.COMPLETED, OrderStatus.REFUNDED)
    total = session.scalar(
        select(func.coalesce(func.sum(Order.total_fen - Order.refunded_fen), 0)).where(
            Order.user_id == user_id, Order.status.in_([str(s) for s in paid])
        )
    )
    return int(total or 0)


def can_join_now(session: Session, user: User) -> tuple[bool, str | None]:
    """Whether the member becomes a distributor without review, and if not, why (shown in the center)."""
    settings = get_settings(session)
    if not settings.enabled:
        return False, str(_l("Distribution is closed."))
    if settings.mode == "everyone":
        return True, None
    if settings.mode == "spend":
        spent = paid_spend_fen(session, user.id)
        if spent >= settings.spend_threshold_fen:
            return True, None
        from app.money import format_fen

        return False, str(
            _l(
                "Spend %(more)s more in the shop to become a distributor automatically.",
                more=format_fen(settings.spend_threshold_fen - spent),
            )
        )
    return False, None


def join(session: Session, user: User) -> Distributor:
    """Become a distributor in `everyone` or `spend` mode (no review)."""
    allowed, why = can_join_now(session, user)
    if not allowed:
        raise DistributionError(why or _l("Please apply to become a distributor."))
    return make_distributor(session, user, source=get_settings(session).mode)


def apply(
    session: Session, user: User, *, real_name: str, mobile: str, reason: str
) -> DistributorApplication:
    settings = get_settings(session)
    if not settings.enabled:
        raise DistributionError(_l("Distribution is closed."))
    if distributor_of(session, user.id) is not None:
        raise DistributionError(_l("You are already a distributor."))
    if settings.mode != "apply":
        raise DistributionError(
            _l("No application is needed in this shop: join from the distributor center.")
        )
    pending = session.scalar(
        select(DistributorApplication).where(
            DistributorApplication.user_id == user.id,
            DistributorApplication.status == ApplicationStatus.PENDING,
        )
    )
    if pending is not None:
        raise DistributionError(_l("Your application is being reviewed."))
    real_name = " ".join((real_name or "").split())
    if not real_name or len(real_name) > 20:
        raise DistributionError(_l("Please enter your real name (at most 20 characters)."), "real_name")
    try:
        mobile = normalise_mobile(mobile)
    except AccountError as error:
        raise DistributionError(error.message, "mobile") from None
    reason = (reason or "").strip()
    if len(reason) > 500:
        raise DistributionError(_l("At most %(n)d characters.", n=500), "reason")
    application = DistributorApplication(
        user_id=user.id,
        real_name=real_name,
        mobile=mobile,
        reason=reason,
        status=ApplicationStatus.PENDING,
        created_at=utcnow(),
    )
    session.add(application)
    session.flush()
    return application


def approve_application(session: Session, application: DistributorApplication, *, actor: User) -> Distributor:
    result = session.execute(
        update(DistributorApplication)
        .where(
            DistributorApplication.id == application.id,
            DistributorApplication.status == ApplicationStatus.PENDING,
        )
        .values(status=ApplicationStatus.APPROVED, decided_at=utcnow(), decided_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(application)
    if result.rowcount != 1:
        raise DistributionError(_l("This application has already been handled."))
    return make_distributor(session, application.user, source="apply", real_name=application.real_name)


def reject_application(
    session: Session, application: DistributorApplication, *, actor: User, reason: str
) -> None:
    reason = " ".join((reason or "").split())
    if not reason:
        raise DistributionError(_l("Please give the applicant a reason."), "reject_reason")
    result = session.execute(
        update(DistributorApplication)
        .where(
            DistributorApplication.id == application.id,
            DistributorApplication.status == ApplicationStatus.PENDING,
        )
        .values(
            status=ApplicationStatus.REJECTED,
            reject_reason=reason[:200],
            decided_at=utcnow(),
            decided_by_id=actor.id,
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(application)
    if result.rowcount != 1:
        raise DistributionError(_l("This application has already been handled."))


def application_actions(application: DistributorApplication) -> set[str]:
    """What the merchant may do with an application now (the services check again)."""
    return {"approve", "reject"} if application.status == ApplicationStatus.PENDING else set()


def set_distributor_active(
    session: Session, distributor: Distributor, active: bool, *, reason: str = ""
) -> None:
    """A disabled distributor stays in the tree as inactive: earns nothing, binds no one."""
    distributor.status = DistributorStatus.ACTIVE if active else DistributorStatus.DISABLED
    distributor.disabled_reason = None if active else (" ".join(reason.split())[:200] or None)


def check_product_rates(session: Session, rates_bp: list[int] | None) -> None:
    """A product's own rate vector obeys the same 30 % limit, with the dividend pools when they are on."""
    if rates_bp is None:
        return
    if len(rates_bp) > engine.MAX_LEVELS:
        raise DistributionError(_l("At most 3 levels."), "commission_rates_bp")
    try:
        engine.check_vector(rates_bp)
    except ValueError:
        raise DistributionError(
            _l("The rates add up to more than 30%, the most WeChat Pay allows."), "commission_rates_bp"
        ) from None
    from app.distribution.dividend_settings import check_share_out

    check_share_out(session, "commission_rates_bp", product_rates_bp=rates_bp)


# ---------------------------------------------------------------- visits and hashing


def salted_hash(kind: str, value: str) -> str:
    """A keyed hash (never the raw IP or cookie) that still lets us see the same value twice."""
    key = hashlib.sha256((current_app.config["SECRET_KEY"] + ":" + kind).encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def record_visit(
    session: Session,
    distributor: Distributor,
    *,
    visitor_key: str,
    user_id: int | None,
    path: str,
    product_id: int | None,
    ip: str,
    in_wechat: bool,
    today: date,
) -> bool:
    """One visit per visitor per page per day; returns False for a repeat."""
    visit = Visit(
        distributor_id=distributor.id,
        visitor_key=visitor_key[:64],
        user_id=user_id,
        path=path[:200],
        product_id=product_id,
        ip_hash=salted_hash("ip", ip or ""),
        in_wechat=in_wechat,
        day=today,
        created_at=utcnow(),
    )
    return _inserted(session, visit)


def remember_device(session: Session, user_id: int, device_id: str | None) -> None:
    if not device_id:
        return
    device_hash = salted_hash("device", device_id)
    exists = session.scalar(
        select(Device.id).where(Device.user_id == user_id, Device.device_hash == device_hash)
    )
    if exists is None:
        _inserted(session, Device(user_id=user_id, device_hash=device_hash, first_seen_at=utcnow()))


# ---------------------------------------------------------------- binding


@dataclass
class BindResult:
    bound: bool
    # first_bind / rebind_last / rebind_lapsed, or why not: none / disabled / staff / self / cycle / kept / fixed
    reason: str


MAX_REMEMBERED_LINKS = 5
CLOCK_SKEW = timedelta(minutes=5)  # hosts behind one load balancer may disagree a little on the time


def remember_share_link(
    session: Session, remembered, distributor: Distributor, *, source: str, now: datetime
) -> list[dict]:
    """The share links a browser keeps until its visitor signs in, after opening `distributor`'s link:
    one entry per distributor, in the order that decides ("first": first opened first; "last": last opened
    last), each with when it was last opened (a link lapses binding_days after that). Which one binds is
    decided at sign-in (`bind_remembered`), when lapses and the visitor are known."""
    settings = get_settings(session)
    links = [link for link in _remembered_links(remembered) if not _lapsed(link, settings, now)]
    known = next((link for link in links if link["code"] == distributor.code), None)
    if known is not None and settings.binding_mode == "first":
        known["at"] = now  # opened again: it lasts from now, and keeps its place
    else:
        if known is not None:
            links.remove(known)
        links.append({"code": distributor.code, "source": source[:255], "at": now})
    # Only the oldest can bind in "first" mode and only the newest in "last": keep those.
    kept = links[:MAX_REMEMBERED_LINKS] if settings.binding_mode == "first" else links[-MAX_REMEMBERED_LINKS:]
    return [{**link, "at": link["at"].isoformat() if link["at"] else None} for link in kept]


def bind_remembered(session: Session, user: User, remembered, now: datetime | None = None) -> BindResult:
    """At sign-in: bind to the remembered share links in the mode's order ("first": the first opened;
    "last": the newest), skipping lapsed ones and ones the rules refuse for this user (their own link, a
    loop), until one binds or the user's binding is settled either way."""
    now = now or utcnow()
    settings = get_settings(session)
    links = _remembered_links(remembered)
    result = BindResult(False, "none")
    for link in links if settings.binding_mode == "first" else reversed(links):
        if _lapsed(link, settings, now):
            continue
        distributor = distributor_by_code(session, link["code"])
        result = bind(session, user, distributor, source=link["source"], now=now)
        if result.reason not in ("disabled", "self", "cycle"):
            break
    return result


def _lapsed(link: dict, settings: DistributionSettings, now: datetime) -> bool:
    """Last opened longer ago than a binding lasts (or in the future, beyond the clocks' disagreement)."""
    opened = link["at"] or now
    lasts = timedelta(days=settings.binding_days) if settings.binding_days else None
    return opened > now + CLOCK_SKEW or bool(lasts and opened + lasts <= now)


def _remembered_links(remembered) -> list[dict]:
    """What the session holds, read defensively (a single dict from before lists; no time = just now)."""
    items = (
        [remembered] if isinstance(remembered, dict) else remembered if isinstance(remembered, list) else []
    )
    links = []
    for item in items[: MAX_REMEMBERED_LINKS * 2]:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            continue
        try:
            opened = datetime.fromisoformat(str(item["at"])) if item.get("at") else None
        except ValueError:
            continue
        if opened is not None and opened.tzinfo is None:
            continue
        links.append({"code": item["code"], "source": str(item.get("source", "")), "at": opened})
    return links


def binding_active(user: User, now: datetime) -> bool:
    return user.referrer_id is not None and (user.referrer_until is None or user.referrer_until > now)


def ancestor_ids(session: Session, user_id: int) -> list[int]:
    """The user's referrer, their referrer's referrer, … (the whole way up, whatever the levels)."""
    chain, seen, current = [], {user_id}, user_id
    for _ in range(MAX_CHAIN_WALK):
        parent = session.scalar(select(User.referrer_id).where(User.id == current))
        if parent is None or parent in seen:
            break
        chain.append(parent)
        seen.add(parent)
        current = parent
    return chain


def bind(
    session: Session, user: User, distributor: Distributor | None, *, source: str, now: datetime | None = None
) -> BindResult:
    """Bind a shopper to the distributor whose link brought them, as the merchant's rules say."""
    now = now or utcnow()
    settings = get_settings(session)
    if not settings.enabled or distributor is None or not distributor.is_active:
        return BindResult(False, "disabled")
    if user.is_back_office:
        return BindResult(False, "staff")  # the shop's own people are never anyone's downline
    parent_id = distributor.user_id
    if parent_id == user.id:
        return BindResult(False, "self")
    if user.referrer_id == parent_id and binding_active(user, now):
        return BindResult(False, "kept")
    if user.id in ancestor_ids(session, parent_id):
        return BindResult(False, "cycle")
    if user.referrer_id is None:
        reason = "first_bind"
    elif not binding_active(user, now):
        reason = "rebind_lapsed"
    elif settings.binding_mode == "last" and not user.referrer_fixed:
        reason = "rebind_last"
    else:
        return BindResult(False, "fixed" if user.referrer_fixed else "kept")
    old_parent = user.referrer_id
    until = now + timedelta(days=settings.binding_days) if settings.binding_days else None
    result = session.execute(
        update(User)
        .where(User.id == user.id, _same_parent(old_parent))
        .values(referrer_id=parent_id, referrer_bound_at=now, referrer_until=until, referrer_fixed=False)
        .execution_options(synchronize_session=False)
    )
    session.refresh(user)
    if result.rowcount != 1:  # someone else bound this user a moment ago
        return BindResult(False, "kept")
    session.add(
        BindingLog(
            user_id=user.id,
            old_parent_id=old_parent,
            new_parent_id=parent_id,
            source=source[:255],
            reason=reason,
            created_at=now,
        )
    )
    session.flush()
    return BindResult(True, reason)


def _same_parent(parent_id: int | None):
    return User.referrer_id.is_(None) if parent_id is None else User.referrer_id == parent_id


def fix_binding_after_first_payment(session: Session, user_id: int) -> None:
    """In "last click wins" mode, the first paid order fixes the binding."""
    session.execute(
        update(User)
        .where(User.id == user_id, User.referrer_id.is_not(None), ~User.referrer_fixed)
        .values(referrer_fixed=True)
        .execution_options(synchronize_session=False)
    )
