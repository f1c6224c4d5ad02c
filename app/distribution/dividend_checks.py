"""What the dividend job checks before it pays anything: the stored settings may have been written by an
older form, an import or by hand, so the engine does not trust them (DISTRIBUTION.md "Dividend pools"):
dividends on need the legal acknowledgement and a start day, every ratio lies in 0–10000 bp, and the
largest commission vector plus the dividend ratios stays within the share-out limit (3000 bp).

The settings form has its own checks; this one reads what is saved, so a bad row fails the job with a
clear message (recorded as the job's error) instead of paying out of it.
"""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.catalog.models import Product
from app.distribution.engine import CAP_BP
from app.distribution.models import DistributionSettings, DistributorGrade
from app.errors import UserError

MAX_RATIO_BP = 10000


class DividendSettingsError(UserError):
    """The saved dividend settings cannot be paid from."""


def _valid_ratio(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RATIO_BP


def _largest_commission_bp(session: Session, settings: DistributionSettings) -> int:
    """The largest sum of commission rates an order can pay: the shop's, a grade's or a product's vector,
    each cut to the shop's levels."""
    levels = int(settings.levels or 0)
    vectors = [settings.rates_bp or []]
    vectors += session.scalars(
        select(DistributorGrade.rates_bp).where(DistributorGrade.rates_bp.is_not(None))
    )
    vectors += session.scalars(
        select(Product.commission_rates_bp).where(Product.commission_rates_bp.is_not(None))
    )
    return max((sum(int(r or 0) for r in (vector or [])[:levels]) for vector in vectors), default=0)


def check_dividend_settings(session: Session, settings: DistributionSettings) -> None:
    """Raise DividendSettingsError when dividends are on but the saved settings cannot be paid from."""
    if not settings.dividends_enabled:
        return
    if settings.dividends_acknowledged_at is None:
        raise DividendSettingsError(
            _l("Dividends are on without the legal acknowledgement: nothing was paid.")
        )
    if settings.dividends_start_on is None:
        raise DividendSettingsError(_l("Dividends are on without a start day: nothing was paid."))
    grade_ratios = list(session.scalars(select(DistributorGrade.dividend_ratio_bp)))
    level_ratios = list(settings.dividend_level_ratios_bp or [])
    if not all(_valid_ratio(r) for r in grade_ratios if r is not None) or not all(
        _valid_ratio(r) for r in level_ratios if r is not None
    ):
        raise DividendSettingsError(_l("A dividend ratio is outside 0–100%: nothing was paid."))
    if (
        any(int(r or 0) > 0 for r in level_ratios[int(settings.levels or 0) :])
        and settings.dividend_mode == "dynamic"
    ):
        # The chain of an order is the distributors its commission was worked out for: a level the shop
        # pays no commission at has nobody in it.
        raise DividendSettingsError(
            _l("A dividend level is beyond the shop's commission levels: nothing was paid.")
        )
    if settings.dividend_mode == "dynamic":
        dividend_bp = sum(int(r or 0) for r in level_ratios[:3])
    else:
        dividend_bp = sum(int(r or 0) for r in grade_ratios)
    if _largest_commission_bp(session, settings) + dividend_bp > CAP_BP:
        raise DividendSettingsError(
            _l("Commission and dividends together pass 30%, the most WeChat Pay allows: nothing was paid.")
        )
