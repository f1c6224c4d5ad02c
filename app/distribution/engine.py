"""The commission engine: pure arithmetic, no database. Given the settings, the buyer, their uplines and
the order lines, it says who earns what at which level, line by line — and why someone earns nothing.
The rules are ../shared/DISTRIBUTION.md; every worked case in its vectors must pass.

Amounts are integer fen, rates integer basis points; amount = base × rate // 10000 (floor, per line).
"""

from dataclasses import dataclass, field

from app.money import allocate_proportionally, share_of_units

MAX_LEVELS = 3
CAP_BP = 3000  # the most WeChat Pay lets a merchant share out of an order


@dataclass(frozen=True)
class Settings:
    levels: int
    rates_bp: tuple[int, ...]
    self_purchase: bool = False


@dataclass(frozen=True)
class Person:
    """A buyer or an upline. `grade_rates_bp` is the rate vector of the person's distributor grade, if any."""

    id: object
    active: bool = True
    is_distributor: bool = True
    grade_rates_bp: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Line:
    """One order line as the engine sees it: what was paid for it (after discount), and the product's
    commission setup (its own rate vector, or opted out)."""

    base_fen: int
    qty: int
    rates_bp: tuple[int, ...] | None = None
    commission: bool = True


# Why a level of a line earns nothing (or less than its rate): shown to merchants and distributors.
NO_BENEFICIARY = "no_beneficiary"
INACTIVE = "inactive"
OPTED_OUT = "opted_out"
CAPPED = "capped"
ZERO_RATE = "zero_rate"
ZERO_BASE = "zero_base"


@dataclass(frozen=True)
class Share:
    """One level of one line."""

    line: int
    level: int
    to: object | None
    base_fen: int
    rate_source: str  # "product", "grade" or "settings"
    rate_bp: int  # the rate the vector gives
    granted_bp: int  # after the 30 % cap (0 for an inactive beneficiary)
    amount_fen: int
    reason: str | None = None  # why it is 0 or trimmed


@dataclass
class Result:
    chain: list[Person]
    shares: list[Share] = field(default_factory=list)

    def totals(self) -> dict[tuple[object, int], int]:
        """Commission per (beneficiary, level), summed over lines."""
        out: dict[tuple[object, int], int] = {}
        for share in self.shares:
            if share.to is not None and share.reason != INACTIVE:
                out[(share.to, share.level)] = out.get((share.to, share.level), 0) + share.amount_fen
        return out


def check_settings(settings: Settings) -> None:
    if not 1 <= settings.levels <= MAX_LEVELS:
        raise ValueError("levels must be 1, 2 or 3")
    check_vector(settings.rates_bp[: settings.levels])


def check_vector(rates_bp) -> None:
    if any(not isinstance(r, int) or isinstance(r, bool) or r < 0 for r in rates_bp):
        raise ValueError("rates are non-negative integer basis points")
    if sum(rates_bp) > CAP_BP:
        raise ValueError("rates add up to more than 30 %")


def line_bases(lines: list[tuple[int, int]], discount_fen: int) -> list[int]:
    """(unit_fen, qty) lines and an order discount -> what was paid for each line: the discount is split
    by largest remainder over line subtotals, and never makes a base negative. Shipping is never a base."""
    subtotals = [unit * qty for unit, qty in lines]
    discount = min(max(discount_fen, 0), sum(subtotals))
    return [s - d for s, d in zip(subtotals, allocate_proportionally(discount, subtotals), strict=True)]


def order_chain(settings: Settings, buyer: Person, uplines: list[Person]) -> list[Person]:
    """Who stands at levels 1..N: the buyer's uplines nearest first — with self-purchase on and a
    distributor buyer, the buyer first and the uplines one level further up."""
    chain = list(uplines)
    if settings.self_purchase and buyer.is_distributor:
        chain = [buyer, *chain]
    return chain[: settings.levels]


def compute(settings: Settings, buyer: Person, uplines: list[Person], lines: list[Line]) -> Result:
    chain = order_chain(settings, buyer, uplines)
    result = Result(chain=chain)
    for index, line in enumerate(lines):
        granted_so_far = 0
        for level in range(1, settings.levels + 1):
            person = chain[level - 1] if level <= len(chain) else None
            vector, source = _vector_for(settings, line, person)
            rate = vector[level - 1] if level <= len(vector) else 0
            share = _share(index, level, person, line, rate, source, granted_so_far)
            granted_so_far += share.granted_bp
            result.shares.append(share)
    return result


def _vector_for(settings: Settings, line: Line, person: Person | None) -> tuple[tuple[int, ...], str]:
    if line.rates_bp is not None:
        return tuple(line.rates_bp), "product"
    if person is not None and person.grade_rates_bp is not None:
        return tuple(person.grade_rates_bp), "grade"
    return tuple(settings.rates_bp), "settings"


def _share(index, level, person, line: Line, rate: int, source: str, granted_so_far: int) -> Share:
    def share(granted: int, amount: int, reason: str | None) -> Share:
        return Share(
            index, level, person.id if person else None, line.base_fen, source, rate, granted, amount, reason
        )

    if person is None:
        return share(0, 0, NO_BENEFICIARY)
    if not line.commission:
        return share(0, 0, OPTED_OUT)
    if not person.active:
        # An inactive upline earns nothing; the levels do not shift and its rate does not use up the cap.
        return share(0, 0, INACTIVE)
    granted = max(0, min(rate, CAP_BP - granted_so_far))
    amount = max(line.base_fen, 0) * granted // 10000
    if granted < rate:
        reason = CAPPED
    elif rate == 0:
        reason = ZERO_RATE
    elif line.base_fen <= 0:
        reason = ZERO_BASE
    else:
        reason = None
    return share(granted, amount, reason)


def remaining_bases(lines: list[Line], refunds: list[tuple[int, int]]) -> list[Line]:
    """The lines after refunds [(line index, units), …] in order: each line's base is what is left
    (quantities stay as bought: later refunds are still worked out against them)."""
    refunded_qty = [0] * len(lines)
    refunded = [0] * len(lines)
    for index, units in refunds:
        line = lines[index]
        refunded[index] += share_of_units(
            line.base_fen, line.qty, refunded_qty[index], units, refunded[index]
        )
        refunded_qty[index] += units
    return [
        Line(line.base_fen - refunded[i], line.qty, line.rates_bp, line.commission)
        for i, line in enumerate(lines)
    ]
