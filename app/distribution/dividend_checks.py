"""What the dividend job checks before it pays anything: the stored settings may have been written by an
older form, an import or by hand, so the engine does not trust them (DISTRIBUTION.md "Dividend pools"):
dividends on need the legal acknowledgement and a start day; then the saved rules go through the settings
page's own checks (`dividend_settings.rules_of`: ratios 0–100 %, one mode, no level deeper than commission,
caps) and the share-out limit (`check_share_out`: the largest commission plus the dividends at most 30 %).
A bad row fails the job with the message (recorded as the job's error) instead of paying out of it."""

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.distribution.dividend_settings import DividendSettingsInput, check_share_out, rules_of
from app.distribution.dividends import DividendSettingsError
from app.distribution.models import DistributionSettings, DistributorGrade
from app.distribution.services import DistributionError


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
    saved = DividendSettingsInput(
        enabled=True,
        mode=settings.dividend_mode,
        acknowledged=True,
        grade_ratios_bp=dict(
            session.execute(select(DistributorGrade.id, DistributorGrade.dividend_ratio_bp)).all()
        ),
        level_ratios_bp=list(settings.dividend_level_ratios_bp or []),
        cap_day_fen=settings.dividend_cap_day_fen,
        cap_month_fen=settings.dividend_cap_month_fen,
        cap_quarter_fen=settings.dividend_cap_quarter_fen,
        cap_year_fen=settings.dividend_cap_year_fen,
    )
    try:
        check_share_out(session, "dividends", rules=rules_of(session, saved, settings))
    except DistributionError as error:
        raise DividendSettingsError(
            _l("The saved dividend settings are refused, nothing was paid: %(why)s", why=error.message),
            error.field,
        ) from error
