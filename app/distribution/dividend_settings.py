"""Dividend settings (DISTRIBUTION.md "Dividend pools", "Compliance"): turning the pools on (with the legal
acknowledgement, paying from that day on), static or dynamic mode and its ratios, the caps — and the share-out
limit that holds for commission and dividends together, checked whichever side of it is being changed
(`check_share_out`: the rules page, a grade, a product's override, these settings).

Static and dynamic are never mixed: a configuration with grade ratios in dynamic mode (or level ratios in
static mode) is refused rather than silently cleared, so that nothing the merchant typed is thrown away
without their knowing and what is paid is never ambiguous."""

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.accounts.models import User
from app.catalog.models import Product
from app.distribution import engine
from app.distribution.dividends import (
    DYNAMIC,
    LEVELS,
    MODES,
    STATIC,
    DividendRules,
    plan_day,
    rules_from,
    shop_today,
)
from app.distribution.models import DistributionSettings, DistributorGrade
from app.distribution.services import SETTINGS_ID, DistributionError, get_settings
from app.money import BP_PER_UNIT, MAX_FEN, format_bp
from app.orders.models import Order
from app.timeutil import SHOP_TZ, local_midnight_utc, utcnow

log = logging.getLogger(__name__)

CAP_PERIODS = ("day", "month", "quarter", "year")


# ---------------------------------------------------------------- the share-out limit


@dataclass(frozen=True)
class GradeChange:
    """A grade being saved: its id (None: a new one), name, commission vector and dividend ratio."""

    grade_id: int | None
    name: str
    rates_bp: list[int] | None
    dividend_ratio_bp: int


def dividends_bp(rules: DividendRules) -> int:
    """What the dividend pools take of the turnover: nothing when off; static, every grade's ratio (each
    grade has its own pool); dynamic, every level's."""
    if not rules.enabled:
        return 0
    ratios = rules.grade_ratios_bp.values() if rules.mode == STATIC else rules.level_ratios_bp
    return sum(ratios)


def stored_dividends_bp(session: Session) -> int:
    """What the dividend pools take of the turnover as saved (0 when they are off)."""
    return dividends_bp(rules_from(session, get_settings(session)))


def largest_commission(
    session: Session, *, levels: int, shop_rates_bp, grade: GradeChange | None = None
) -> tuple[int, str]:
    """The largest commission an order can pay (the sum of the levels that earn, of the shop's vector, every
    grade's and every product's override) and whose vector it is, for the messages. `grade` replaces the
    stored grade of its id."""
    found = [(sum(shop_rates_bp[:levels]), str(_l("the shop's rates")))]
    vectors = [
        (name, rates)
        for grade_id, name, rates in session.execute(
            select(DistributorGrade.id, DistributorGrade.name, DistributorGrade.rates_bp)
        )
        if grade is None or grade_id != grade.grade_id
    ]
    if grade is not None:
        vectors.append((grade.name, grade.rates_bp))
    found += [
        (sum(rates[:levels]), str(_l("grade “%(name)s”", name=name))) for name, rates in vectors if rates
    ]
    products = session.execute(
        select(Product.title, Product.commission_rates_bp).where(Product.commission_opt_out.is_(False))
    )
    found += [
        (sum(rates[:levels]), str(_l("product “%(name)s”", name=title))) for title, rates in products if rates
    ]
    return max(found, key=lambda item: item[0])  # a tie names the first: the shop's rates


def locked_settings(session: Session) -> DistributionSettings:
    """The settings row, locked until the transaction ends, so that a change to commission and a change to
    dividends never pass the limit together; a shop that never saved its rules has no row to lock."""
    row = session.scalar(
        select(DistributionSettings)
        .where(DistributionSettings.id == SETTINGS_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row if row is not None else get_settings(session)


def check_share_out(
    session: Session,
    field: str,
    *,
    levels: int | None = None,
    shop_rates_bp=None,
    grade: GradeChange | None = None,
    product_rates_bp=None,
    rules: DividendRules | None = None,
) -> None:
    """Refuse (on `field`) a change that would let commission plus dividends share out more than 30 % of an
    order. What is being saved replaces what is stored: the shop's `levels` and `shop_rates_bp` (the rules
    page), a `grade`, a product's own vector (`product_rates_bp`: only it is checked, the other vectors are
    not changing), or the dividend `rules`. Dividends count only when they are on. Dynamic dividends also
    never reach deeper than the levels that earn commission."""
    settings = locked_settings(session)
    levels = levels or settings.levels
    stored = rules is None
    if rules is None:
        rules = rules_from(session, settings)
        if grade is not None:  # (a new grade's ratio goes in under the key None)
            rules = dataclasses.replace(
                rules, grade_ratios_bp={**rules.grade_ratios_bp, grade.grade_id: grade.dividend_ratio_bp}
            )
    if rules.enabled and rules.mode == DYNAMIC and stored:
        deepest = max((k for k, bp in enumerate(rules.level_ratios_bp, start=1) if bp > 0), default=0)
        if deepest > levels:
            raise DistributionError(
                _l(
                    "Dynamic dividends pay level-%(level)d uplines: keep %(level)d commission levels, or set "
                    "that dividend ratio to 0 first.",
                    level=deepest,
                ),
                field,
            )
    dividends = dividends_bp(rules)
    if dividends == 0:
        return
    if product_rates_bp is not None:
        commission, whose = sum(product_rates_bp[:levels]), str(_l("this product's rates"))
    else:
        rates = settings.rates_bp if shop_rates_bp is None else shop_rates_bp
        commission, whose = largest_commission(session, levels=levels, shop_rates_bp=rates, grade=grade)
    total = commission + dividends
    if total <= engine.CAP_BP:
        return
    values = {
        "dividends": format_bp(dividends),
        "commission": format_bp(commission),
        "whose": whose,
        "total": format_bp(total),
        "room": format_bp(max(engine.CAP_BP - dividends, 0)),
    }
    if stored:
        message = _l(
            "Dividend pools are on and take %(dividends)s of the turnover, so commission can be at most "
            "%(room)s: %(whose)s (%(commission)s) would share out %(total)s in all, more than the 30%% WeChat "
            "Pay allows.",
            **values,
        )
    else:
        message = _l(
            "The dividends (%(dividends)s) and the largest commission (%(commission)s, %(whose)s) add up to "
            "%(total)s, more than the 30%% WeChat Pay lets a shop share out of an order.",
            **values,
        )
    raise DistributionError(message, field)


def check_grade(session: Session, grade: GradeChange) -> None:
    """A grade's dividend ratio (static mode only, 0–100 %) and the share-out limit with its vector and ratio."""
    _ratio(grade.dividend_ratio_bp, "dividend_ratio_bp")
    if grade.dividend_ratio_bp and locked_settings(session).dividend_mode == DYNAMIC:
        raise DistributionError(
            _l(
                "Dividends are shared by level (dynamic): a grade's ratio stays 0 unless you choose static dividends."
            ),
            "dividend_ratio_bp",
        )
    check_share_out(session, "rates_bp", grade=grade)


# ---------------------------------------------------------------- saving the settings


@dataclass
class DividendSettingsInput:
    enabled: bool
    mode: str
    acknowledged: bool
    grade_ratios_bp: dict[int, int | None]  # static: grade id → ratio (empty: 0); grades left out keep theirs
    level_ratios_bp: list[int | None]  # dynamic: level 1, 2, 3 (empty: 0)
    cap_day_fen: int | None = None  # None: no cap for that period
    cap_month_fen: int | None = None
    cap_quarter_fen: int | None = None
    cap_year_fen: int | None = None


def _ratio(value, field: str) -> int:
    value = 0 if value is None else value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BP_PER_UNIT:
        raise DistributionError(_l("A dividend ratio is from 0% to 100%."), field)
    return value


def rules_of(session: Session, data: DividendSettingsInput, settings: DistributionSettings) -> DividendRules:
    """The rules `data` spells, checked (grade ratios typed replace the stored ones): what is saved, and what
    the live example computes with. Refuses with DistributionError."""
    if data.mode not in MODES:
        raise DistributionError(_l("Choose static or dynamic dividends."), "dividend_mode")
    if len(data.level_ratios_bp) > LEVELS:
        raise DistributionError(_l("At most 3 levels."), "level_ratios")
    levels = [_ratio(value, f"level_{k}") for k, value in enumerate(data.level_ratios_bp, start=1)]
    levels += [0] * (LEVELS - len(levels))
    stored = dict(session.execute(select(DistributorGrade.id, DistributorGrade.dividend_ratio_bp)).all())
    grades = {grade_id: int(ratio or 0) for grade_id, ratio in stored.items()}
    for grade_id, value in data.grade_ratios_bp.items():
        if grade_id not in grades:
            raise DistributionError(_l("A grade on this page has been deleted: reload it."), "grade_ratios")
        grades[grade_id] = _ratio(value, f"grade_{grade_id}")
    if data.mode == DYNAMIC and any(grades.values()):
        raise DistributionError(
            _l(
                "Dynamic dividends are shared by level, not by grade: set every grade's ratio to 0, or choose "
                "static dividends."
            ),
            "grade_ratios",
        )
    if data.mode == STATIC and any(levels):
        raise DistributionError(
            _l(
                "Static dividends are shared by grade, not by level: set the level ratios to 0, or choose "
                "dynamic dividends."
            ),
            "level_ratios",
        )
    deepest = max((k for k, bp in enumerate(levels, start=1) if bp > 0), default=0)
    if deepest > settings.levels:
        raise DistributionError(
            _l(
                "Dynamic dividends reach at most as many levels as commission (%(levels)d now): a level-%(level)d "
                "dividend would pay uplines deeper than commission does.",
                levels=settings.levels,
                level=deepest,
            ),
            f"level_{deepest}",
        )
    for period in CAP_PERIODS:
        cap = getattr(data, f"cap_{period}_fen")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 0 < cap <= MAX_FEN):
            raise DistributionError(
                _l("A cap is an amount above ¥0: leave it empty for no cap."), f"cap_{period}_fen"
            )
    return DividendRules(
        enabled=data.enabled,
        mode=data.mode,
        grade_ratios_bp=grades,
        level_ratios_bp=tuple(levels),
        cap_day_fen=data.cap_day_fen,
        cap_month_fen=data.cap_month_fen,
        cap_quarter_fen=data.cap_quarter_fen,
        cap_year_fen=data.cap_year_fen,
        start_on=settings.dividends_start_on,
    )


def save_dividend_settings(
    session: Session, data: DividendSettingsInput, actor: User
) -> DistributionSettings:
    """Check and save the dividend settings at once (nothing is saved when one is refused). Turning them on
    needs the acknowledgement and pays from today (shop time) on: the days before are never paid."""
    settings = locked_settings(session)
    rules = rules_of(session, data, settings)
    if data.enabled and not data.acknowledged:
        raise DistributionError(
            _l("Dividend pools need your explicit acknowledgement of the legal risk."), "acknowledged"
        )
    if data.enabled and dividends_bp(rules) == 0:
        field = "grade_ratios" if data.mode == STATIC else "level_ratios"
        raise DistributionError(_l("Give at least one ratio above 0%, or leave dividends off."), field)
    if data.enabled:
        check_share_out(session, "dividends", rules=rules)

    if settings not in session:
        session.add(settings)
    turned_on = data.enabled and not settings.dividends_enabled
    settings.dividends_enabled = data.enabled
    settings.dividend_mode = data.mode
    settings.dividend_level_ratios_bp = list(rules.level_ratios_bp) if data.mode == DYNAMIC else []
    for period in CAP_PERIODS:
        setattr(settings, f"dividend_cap_{period}_fen", getattr(data, f"cap_{period}_fen"))
    if turned_on:
        settings.dividends_start_on = shop_today()
        settings.dividends_acknowledged_at = utcnow()
        log.info("dividend pools turned on by user %s, paying from %s", actor.id, settings.dividends_start_on)
    elif not data.enabled:
        settings.dividends_acknowledged_at = None
    for grade in session.scalars(select(DistributorGrade)):
        grade.dividend_ratio_bp = rules.grade_ratios_bp.get(grade.id, grade.dividend_ratio_bp)
    session.flush()
    return settings


# ---------------------------------------------------------------- the live example


@dataclass
class ExamplePool:
    name: str
    ratio_bp: int
    pool_fen: int
    sharers: int
    share_fen: int  # what each sharer takes whom no cap cut
    paid_fen: int
    remainder_fen: int
    capped: int


@dataclass
class DayExample:
    day: date
    orders: int
    turnover_fen: int
    pools: list[ExamplePool]
    dividends_bp: int
    commission_bp: int
    whose: str

    @property
    def total_bp(self) -> int:
        return self.dividends_bp + self.commission_bp

    @property
    def over_limit(self) -> bool:
        return self.total_bp > engine.CAP_BP


def example_day(session: Session) -> date:
    """The day the example is worked on: yesterday (shop time), or the latest day before it on which orders
    became final."""
    today = shop_today()
    latest = session.scalar(
        select(func.max(Order.final_at)).where(Order.final_at < local_midnight_utc(today))
    )
    return latest.astimezone(SHOP_TZ).date() if latest is not None else today - timedelta(days=1)


def work_example(session: Session, rules: DividendRules, day: date) -> DayExample:
    """How `day` would have been shared under `rules` (as if they were on), with the share-out they make
    with the largest commission. Reads only."""
    rules = dataclasses.replace(rules, enabled=True, start_on=None)
    plan = plan_day(session, day, rules)
    shares: dict[str, int] = {}
    for payout in plan.payouts.values():
        for key, amount in payout.parts:
            shares[key] = max(shares.get(key, 0), amount)
    settings = get_settings(session)
    commission, whose = largest_commission(session, levels=settings.levels, shop_rates_bp=settings.rates_bp)
    return DayExample(
        day=day,
        orders=plan.orders,
        turnover_fen=plan.turnover_fen,
        pools=[
            ExamplePool(
                name=pool.name,
                ratio_bp=pool.ratio_bp,
                pool_fen=pool.pool_fen,
                sharers=pool.sharers,
                share_fen=shares.get(pool.key, 0),
                paid_fen=pool.paid_fen,
                remainder_fen=pool.remainder_fen,
                capped=len(pool.capped),
            )
            for pool in plan.pools
        ],
        dividends_bp=dividends_bp(rules),
        commission_bp=commission,
        whose=whose,
    )
