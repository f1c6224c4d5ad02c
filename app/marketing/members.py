"""Member accounts: the settings of points and growth, levels, the growth ledger and the level it gives
(MARKETING.md, "Member levels"). Balances change only by conditional updates beside a ledger entry."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.marketing import pricing
from app.marketing.errors import MarketingError
from app.marketing.models import GrowthEntry, MarketingSettings, MemberAccount, MemberLevel
from app.money import BP_PER_UNIT

SETTINGS_ID = 1
MAX_LEVELS = 20


def marketing_settings(session: Session) -> MarketingSettings:
    """The settings row; an unsaved default when the merchant has not saved any yet."""
    return session.get(MarketingSettings, SETTINGS_ID) or MarketingSettings(
        id=SETTINGS_ID,
        points_enabled=True,
        earn_per_yuan=1,
        fen_per_point=1,
        points_max_bp=5000,
        max_points_per_order=None,
        points_expiry_months=12,
        growth_per_order=0,
    )


def ensure_account(session: Session, user_id: int) -> None:
    """Make sure the user has an account row, at the level that starts at 0 growth if there is one (a
    concurrent first entry may create it at the same time)."""
    if session.get(MemberAccount, user_id) is not None:
        return
    try:
        with session.begin_nested():
            starting_level = (
                select(MemberLevel.id)
                .where(MemberLevel.growth_threshold <= 0)
                .order_by(MemberLevel.growth_threshold.desc())
                .limit(1)
                .scalar_subquery()
            )
            session.execute(
                insert(MemberAccount).values(user_id=user_id, growth=0, points=0, level_id=starting_level)
            )
    except IntegrityError:
        pass


def lock_account(session: Session, user_id: int) -> MemberAccount:
    """The account row, locked until the transaction ends (PostgreSQL; SQLite serialises writers anyway),
    so that one shopper's concurrent claims and checkouts are counted one after the other."""
    ensure_account(session, user_id)
    return session.scalars(
        select(MemberAccount).where(MemberAccount.user_id == user_id).with_for_update()
    ).one()


def account(session: Session, user_id: int | None) -> MemberAccount | None:
    return session.get(MemberAccount, user_id) if user_id else None


def all_levels(session: Session) -> list[MemberLevel]:
    return list(session.scalars(select(MemberLevel).order_by(MemberLevel.growth_threshold)))


def level_of_user(session: Session, user_id: int | None) -> MemberLevel | None:
    """The buyer's level now (None for a guest or a shopper below the first level)."""
    found = account(session, user_id)
    return found.level if found is not None else None


def pricing_level(level: MemberLevel | None) -> pricing.MemberLevel | None:
    if level is None:
        return None
    return pricing.MemberLevel(discount_bp=level.discount_bp, free_shipping=level.free_shipping)


def write_entry(session: Session, entry_model, balance: str, user_id: int, amount: int, **values) -> bool:
    """The one way a points or growth amount is booked: an append-only entry of `entry_model` and the
    account's `balance` column moved by the same amount, together. False when the entry's once_key was
    written before (a retried signal), and then nothing changes."""
    ensure_account(session, user_id)
    column = getattr(MemberAccount, balance)
    try:
        with session.begin_nested():
            session.execute(insert(entry_model).values(user_id=user_id, amount=amount, **values))
            session.execute(
                update(MemberAccount)
                .where(MemberAccount.user_id == user_id)
                .values({balance: column + amount})
                .execution_options(synchronize_session=False)
            )
    except IntegrityError:
        return False
    loaded = session.get(MemberAccount, user_id)
    if loaded is not None:
        session.expire(loaded)  # the update above bypassed it
    return True


def add_growth(
    session: Session, user_id: int, amount: int, kind: str, *, order_id=None, refund_id=None,
    once_key: str | None = None, base_fen: int | None = None, note: str = "",
) -> bool:  # fmt: skip
    """Write a growth entry and move the balance and the level with it. False when `once_key` was
    written before (a retried signal)."""
    written = write_entry(
        session, GrowthEntry, "growth", user_id, amount, kind=kind, order_id=order_id, refund_id=refund_id,
        once_key=once_key, base_fen=base_fen, note=note[:100],
    )  # fmt: skip
    if written:
        session.execute(
            update(MemberAccount)
            .where(MemberAccount.user_id == user_id)
            .values(level_id=_level_of_growth())
            .execution_options(synchronize_session=False)
        )
    return written


def recompute_levels(session: Session) -> None:
    """After the merchant edits the levels: every account's level from its growth, in one statement."""
    session.execute(
        update(MemberAccount).values(level_id=_level_of_growth()).execution_options(synchronize_session=False)
    )
    session.expire_all()


def _level_of_growth():
    """The id of the highest level an account's growth reaches (a correlated subquery)."""
    return (
        select(MemberLevel.id)
        .where(MemberLevel.growth_threshold <= MemberAccount.growth)
        .order_by(MemberLevel.growth_threshold.desc())
        .limit(1)
        .scalar_subquery()
    )


@dataclass
class Progress:
    growth: int
    level: MemberLevel | None
    next_level: MemberLevel | None
    needed: int  # growth still missing for the next level
    percent: int  # 0–100, towards the next level


def progress(session: Session, user_id: int) -> Progress:
    """我的: the level, and how far to the next."""
    found = account(session, user_id)
    growth = found.growth if found else 0
    levels = all_levels(session)
    current = next((lv for lv in reversed(levels) if lv.growth_threshold <= growth), None)
    upcoming = next((lv for lv in levels if lv.growth_threshold > growth), None)
    if upcoming is None:
        return Progress(growth, current, None, 0, 100)
    floor = current.growth_threshold if current else 0
    span = upcoming.growth_threshold - floor
    percent = (growth - floor) * 100 // span if span > 0 else 100
    return Progress(growth, current, upcoming, upcoming.growth_threshold - growth, max(0, min(100, percent)))


def perks(level: MemberLevel | None) -> list[str]:
    """The level's perks in words, for 我的 and the level list."""
    if level is None:
        return []
    found = []
    if level.discount_bp < BP_PER_UNIT:
        found.append(str(_l("Member price %(rate)s", rate=discount_words(level.discount_bp))))
    if level.points_multiplier_bp > BP_PER_UNIT:
        found.append(str(_l("Points ×%(times)s", times=multiplier_words(level.points_multiplier_bp))))
    if level.free_shipping:
        found.append(str(_l("Free shipping")))
    return found


def discount_words(discount_bp: int) -> str:
    """9500 → 9.5折, 8000 → 8折."""
    whole, rest = divmod(discount_bp, 1000)
    digits = f"{rest:03d}".rstrip("0")
    return str(_l("%(n)s折", n=f"{whole}.{digits}" if digits else f"{whole}"))


def multiplier_words(bp: int) -> str:
    whole, rest = divmod(bp, BP_PER_UNIT)
    return f"{whole}" if rest == 0 else f"{whole}.{rest:04d}".rstrip("0")


def check_level(data: dict, levels: list[MemberLevel], editing: MemberLevel | None) -> None:
    """A level the merchant enters: threshold unique, rates in range."""
    if not 0 < data["discount_bp"] <= BP_PER_UNIT:
        raise MarketingError(
            _l("The member discount must be between 0.1折 and no discount (10折)."), "discount"
        )
    if data["points_multiplier_bp"] < 0 or data["points_multiplier_bp"] > 10 * BP_PER_UNIT:
        raise MarketingError(_l("The points multiplier must be between 0 and 10."), "points_multiplier")
    if data["growth_threshold"] < 0:
        raise MarketingError(_l("The growth threshold cannot be negative."), "growth_threshold")
    if any(lv.growth_threshold == data["growth_threshold"] and lv is not editing for lv in levels):
        raise MarketingError(_l("Another level already starts at this growth value."), "growth_threshold")
    if editing is None and len(levels) >= MAX_LEVELS:
        raise MarketingError(_l("At most %(n)d levels.", n=MAX_LEVELS))
