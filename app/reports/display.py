"""How the reports show their numbers: a rate in basis points as a percent (or a dash without a base), the
same in the page and in the CSV."""

from app.money import format_bp


def percent(bp: int | None) -> str:
    return "—" if bp is None else format_bp(bp)
