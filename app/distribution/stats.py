"""Distribution's figures over a period of the shop's calendar, beside the period before (the dashboard's
new distributors and commission created); periods and figures are app.orders.stats's."""

from sqlalchemy import func
from sqlalchemy.orm import Session

from app.distribution.models import Commission, Distributor
from app.orders.stats import Figure, Period, in_both_periods


def distribution_figures(session: Session, period: Period) -> list[Figure]:
    """New distributors, and the commission orders created (what it was when created: a later refund or
    void does not move it back into a closed period)."""
    (distributors,) = in_both_periods(session, period, Distributor.created_at, (func.count, Distributor.id))
    (commission,) = in_both_periods(
        session, period, Commission.created_at, (func.sum, Commission.original_fen)
    )
    return [Figure("new_distributors", *distributors), Figure("commission", *commission, money=True)]
