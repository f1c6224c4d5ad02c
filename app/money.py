"""Integer-fen money: parse what people type ("12.30" -> 1230) and show amounts (1230 -> "¥12.30").

No float ever touches an amount. Rates are integer basis points (1000 bp = 10 %).
"""

import re

from flask_babel import lazy_gettext as _l

from app.numbers import FULL_WIDTH

# The most a single amount may be: ¥100,000,000.00. Anything larger is a typo, not a price.
MAX_FEN = 100_000_000_00
BP_PER_UNIT = 10_000

_HUNDREDTHS = re.compile(r"^(?P<int>\d+)(?:\.(?P<frac>\d{0,2}))?$", re.ASCII)
_TOO_MANY_DECIMALS = re.compile(r"^\d+\.\d{3,}$", re.ASCII)


class MoneyError(ValueError):
    """Raised with a sentence a shopper or merchant can read."""


def parse_yuan(text: str | None, *, allow_zero: bool = True, max_fen: int = MAX_FEN) -> int:
    """Turn what someone typed as yuan into fen: "12.30", "¥12.30", "12" and full-width digits. Refuses
    separators ("12,30" is a typo for 12.30 as often as for 1,230), fractions of a fen, exponents, NaN and
    infinity, negatives and absurd sizes — each with a sentence saying what to type instead."""
    if text is None:
        raise MoneyError(_l("Please enter an amount."))
    cleaned = str(text).translate(FULL_WIDTH).strip()
    cleaned = cleaned.removeprefix("¥").strip()
    if not cleaned:
        raise MoneyError(_l("Please enter an amount."))
    if "," in cleaned or "，" in cleaned:
        raise MoneyError(_l("Please enter the amount without commas, such as 1230 or 12.30."))
    if cleaned.startswith("-"):
        raise MoneyError(_l("The amount cannot be negative."))
    if _TOO_MANY_DECIMALS.match(cleaned):
        raise MoneyError(_l("Amounts have at most two decimal places (fen)."))
    fen = _hundredths(cleaned, 12, _l("Please enter an amount such as 12.30."))
    if fen > max_fen:
        raise MoneyError(_l("The amount is too large (at most %(limit)s).", limit=format_fen(max_fen)))
    if fen == 0 and not allow_zero:
        raise MoneyError(_l("The amount must be greater than zero."))
    return fen


def _hundredths(cleaned: str, max_digits: int, error) -> int:
    """ "12.3" -> 1230: a plain number with at most two decimal places (yuan to fen, per cent to basis
    points), in hundredths. Anything else, or more than `max_digits` whole digits, raises `error`."""
    match = _HUNDREDTHS.match(cleaned)
    if not match or len(match["int"]) > max_digits:
        raise MoneyError(error)
    return int(match["int"]) * 100 + int((match["frac"] or "").ljust(2, "0"))


def yuan(fen: int) -> str:
    """1230 -> "12.30", -5 -> "-0.05": the plain decimal string gateways and form fields want."""
    _check_int(fen)
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def format_fen(fen: int | None, *, symbol: str = "¥", grouping: bool = True) -> str:
    """1230 -> "¥12.30", 123456789 -> "¥1,234,567.89" ("¥1234567.89" without grouping, as WeChat's template
    messages need), None -> "" (for empty optional prices)."""
    if fen is None:
        return ""
    _check_int(fen)
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{symbol}{whole:,}.{part:02d}" if grouping else f"{sign}{symbol}{whole}.{part:02d}"


def format_fen_range(low: int | None, high: int | None) -> str:
    """A price range for a product whose SKUs differ: "¥12.00 - ¥30.00", or one price when they agree."""
    if low is None:
        return ""
    if high is None or high == low:
        return format_fen(low)
    return f"{format_fen(low)} - {format_fen(high)}"


def parse_percent_bp(text: str | None) -> int:
    """ "10" or "10.5" (per cent) -> 1000 or 1050 basis points."""
    cleaned = (str(text) if text is not None else "").translate(FULL_WIDTH).strip()
    cleaned = cleaned.removesuffix("%").removesuffix("％").strip()
    if cleaned.startswith("-"):
        raise MoneyError(_l("The rate cannot be negative."))
    bp = _hundredths(cleaned, 3, _l("Please enter a percentage such as 10 or 7.5."))
    if bp > BP_PER_UNIT:
        raise MoneyError(_l("A rate cannot exceed 100%."))
    return bp


def format_bp(bp: int) -> str:
    """1000 -> "10%", 1050 -> "10.5%", 5 -> "0.05%"."""
    _check_int(bp)
    whole, part = divmod(bp, 100)
    return f"{whole}%" if part == 0 else f"{whole}.{part:02d}".rstrip("0") + "%"


def rate_bp(part: int, whole: int) -> int | None:
    """part ÷ whole in basis points, rounded half up, with integers only; None without a whole. The one
    rounding of a rate the reports and the distribution overview share."""
    if not whole:
        return None
    return (part * 20000 + whole) // (2 * whole)


def apply_bp(base_fen: int, rate_bp: int) -> int:
    """The share of an amount at a rate, rounded down: what the rounding leaves stays with the merchant."""
    _check_int(base_fen)
    _check_int(rate_bp)
    return base_fen * rate_bp // BP_PER_UNIT


def share_of_units(total_fen: int, qty: int, units_before: int, units: int, share_before: int) -> int:
    """What `units` more of `qty` units are worth, when `units_before` units (worth `share_before`) went
    before: total × units ÷ qty, rounded down — except that the last units take whatever is left, so that a
    line refunded in steps adds up to exactly its total. The one rule for refunds of money, commission
    base, points and coupon value."""
    for value in (total_fen, qty, units_before, units, share_before):
        _check_int(value)
    if units < 1 or units_before < 0 or units_before + units > qty:
        raise ValueError("cannot take more units than the line has")
    if units_before + units == qty:
        return total_fen - share_before
    return total_fen * units // qty


def allocate_proportionally(total_fen: int, weights: list[int]) -> list[int]:
    """Split an amount over lines in proportion to their weights, by the largest-remainder method:
    floor each share, then hand the leftover fen one by one to the largest fractional parts (ties go to
    the earlier line). The shares always add up to the total (or to 0 when there is nothing to weigh)."""
    _check_int(total_fen)
    for weight in weights:
        _check_int(weight)
        if weight < 0:
            raise ValueError("weights cannot be negative")
    whole = sum(weights)
    if whole == 0 or total_fen == 0:
        return [0] * len(weights)
    shares = [total_fen * weight // whole for weight in weights]
    remainders = [total_fen * weight % whole for weight in weights]
    leftover = total_fen - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
        shares[index] += 1
    return shares


def _check_int(value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"money and rates are integers, got {type(value).__name__}")
