"""The one price of a basket (MARKETING.md, "One price for a basket"): a pure function, no database.

The cart, checkout, order placement, the API and the prices on product pages all come from here. Its
steps, in order: the unit price of each line (activity, else member, else list price); the one 满减/满折
campaign; at most one coupon; points; shipping. Each step's amount is split over its eligible lines in
proportion to what each line still costs before that step (largest remainder, `money.allocate_
proportionally`). Every rounding is a floor: what it leaves over stays with the merchant."""

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from app.money import BP_PER_UNIT, allocate_proportionally

NO_DISCOUNT_BP = BP_PER_UNIT  # 10000 bp: the full price


class PricingError(ValueError):
    """A basket that cannot be priced as asked; `code` is coupon_threshold, coupon_scope or bad_points."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Activity:
    """The 秒杀 / 拼团 / 限时折扣 a line's SKU is in right now, with its price."""

    kind: str  # flash | group | timed
    unit_fen: int
    points: bool = False  # the activity lets its lines take points
    commission: bool = False  # the activity lets its lines pay commission
    key: Hashable = None  # the activity, for the order line
    name: str = ""
    ends_at: object = None  # when the price ends (a datetime), for the countdown


@dataclass(frozen=True)
class Line:
    unit_fen: int  # the SKU's list price
    qty: int
    product: Hashable
    category: Hashable = None
    member_discount: bool = True  # the product takes member prices
    points: bool = True  # the product takes points
    activity: Activity | None = None


@dataclass(frozen=True)
class MemberLevel:
    discount_bp: int = NO_DISCOUNT_BP
    free_shipping: bool = False


@dataclass(frozen=True)
class Scope:
    """Which lines an offer covers: all, chosen products, or chosen categories."""

    kind: str = "all"  # all | products | categories
    ids: frozenset = frozenset()

    def covers(self, line: Line) -> bool:
        if self.kind == "products":
            return line.product in self.ids
        if self.kind == "categories":
            return line.category in self.ids
        return True


@dataclass(frozen=True)
class Tier:
    threshold_fen: int
    reduce_fen: int | None = None  # 满减: this much off …
    discount_bp: int | None = None  # … or 满折: pay this share


@dataclass(frozen=True)
class FullReduction:
    tiers: tuple[Tier, ...]
    scope: Scope = Scope()
    include_activity: bool = False
    repeat: bool = False  # 每满: a reduce_fen tier applies once per threshold reached
    max_reduce_fen: int | None = None  # caps a repeated reduction
    key: Hashable = None  # the campaign, for the record of what was applied
    name: str = ""


@dataclass(frozen=True)
class Coupon:
    kind: str  # amount (满减券) | discount (折扣券)
    threshold_fen: int = 0  # 0 = 无门槛
    value_fen: int = 0
    discount_bp: int = NO_DISCOUNT_BP
    max_discount_fen: int | None = None
    scope: Scope = Scope()
    include_activity: bool = False
    key: Hashable = None
    name: str = ""


@dataclass(frozen=True)
class Points:
    balance: int
    use: int  # what the buyer asks to use
    fen_per_point: int = 1
    max_bp: int = 5000  # the share of the eligible amount points may cover
    max_points_per_order: int | None = None


@dataclass(frozen=True)
class Shipping:
    fee_fen: int
    free_threshold_fen: int | None = None  # None: never free by amount


@dataclass(frozen=True)
class Offers:
    """Everything besides the lines and shipping that price_basket reads, gathered by marketing for one
    buyer and basket: the buyer's level, the activity of each SKU ({sku id: Activity}), the running 满减
    campaign, the chosen coupon and the points asked for."""

    member_level: MemberLevel | None = None
    activities: Mapping[Hashable, Activity] = field(default_factory=dict)
    full_reduction: FullReduction | None = None
    coupon: Coupon | None = None
    points: Points | None = None
    # 拼团 in group mode: the group the order joins (None while a line has a group activity: it opens one).
    # price_basket does not read it; the order's placement does (app.marketing.groups).
    group: Hashable = None


@dataclass
class PricedLine:
    list_unit_fen: int
    unit_fen: int
    unit_kind: str  # activity | member | list: where the unit price came from
    qty: int
    full_reduction_fen: int = 0
    coupon_fen: int = 0
    points_fen: int = 0

    @property
    def subtotal_fen(self) -> int:
        return self.unit_fen * self.qty

    @property
    def discount_fen(self) -> int:
        return self.full_reduction_fen + self.coupon_fen + self.points_fen

    @property
    def paid_fen(self) -> int:
        return self.subtotal_fen - self.discount_fen


@dataclass
class PricedBasket:
    lines: list[PricedLine]
    full_reduction_fen: int = 0
    coupon_fen: int = 0
    points_used: int = 0
    points_fen: int = 0
    shipping_fen: int = 0
    applied: list[dict] = field(default_factory=list)  # what was applied, in order, for the shopper and audit

    @property
    def goods_fen(self) -> int:
        return sum(line.subtotal_fen for line in self.lines)

    @property
    def discount_fen(self) -> int:
        return self.full_reduction_fen + self.coupon_fen + self.points_fen

    @property
    def total_fen(self) -> int:
        return self.goods_fen - self.discount_fen + self.shipping_fen

    @property
    def after_offers_fen(self) -> int:
        """The goods after 满减 and the coupon, before points and shipping (what the cart shows)."""
        return self.goods_fen - self.full_reduction_fen - self.coupon_fen


def next_tier(
    lines: Sequence[Line], priced: PricedBasket, campaign: FullReduction
) -> tuple[int, int | None, int | None] | None:
    """What one more purchase would unlock in this 满减 campaign: (fen still missing, the reduction or the
    discount rate it gives), or None when nothing higher is left. Measured like step 2, on the eligible
    lines' subtotals."""
    base = sum(
        priced.lines[i].subtotal_fen
        for i, line in enumerate(lines)
        if campaign.scope.covers(line) and (line.activity is None or campaign.include_activity)
    )
    upcoming = sorted(
        (tier for tier in campaign.tiers if tier.threshold_fen > base), key=lambda t: t.threshold_fen
    )
    if upcoming:
        tier = upcoming[0]
        return tier.threshold_fen - base, tier.reduce_fen, tier.discount_bp
    top = max(campaign.tiers, key=lambda t: t.threshold_fen, default=None)
    if campaign.repeat and top is not None and top.reduce_fen is not None and top.threshold_fen > 0:
        times = base // top.threshold_fen + 1
        amount = top.reduce_fen * times
        capped = campaign.max_reduce_fen is not None and amount > campaign.max_reduce_fen
        if not capped:
            return top.threshold_fen * times - base, amount, None
    return None


def unit_price(
    list_unit_fen: int, *, member_level: MemberLevel | None, member_discount: bool, activity: Activity | None
) -> tuple[int, str]:
    """Step 1 for one SKU: (unit price, where it came from)."""
    if activity is not None:
        return activity.unit_fen, "activity"
    if member_level is not None and member_discount and member_level.discount_bp < NO_DISCOUNT_BP:
        return list_unit_fen * member_level.discount_bp // BP_PER_UNIT, "member"
    return list_unit_fen, "list"


def display_price(
    list_unit_fen: int,
    *,
    member_level: MemberLevel | None = None,
    member_discount: bool = True,
    activity: Activity | None = None,
) -> int:
    """The price a product page or a listing shows for one unit of a SKU (step 1 alone: offers that
    depend on the whole basket are shown in the cart)."""
    return unit_price(
        list_unit_fen, member_level=member_level, member_discount=member_discount, activity=activity
    )[0]


def display_range(
    list_prices: Sequence[int], *, member_level: MemberLevel | None = None, member_discount: bool = True
) -> tuple[int | None, int | None]:
    """A product's (lowest, highest) shown unit price over its SKUs' list prices; (None, None) for none."""
    prices = [
        display_price(p, member_level=member_level, member_discount=member_discount) for p in list_prices
    ]
    return (min(prices), max(prices)) if prices else (None, None)


def card_range(
    low: int | None,
    high: int | None,
    *,
    member_level: MemberLevel | None = None,
    member_discount: bool = True,
    activity_low: int | None = None,
) -> tuple[int | None, int | None]:
    """The (lowest, highest) price a listing shows for a product from its SKUs' lowest and highest list
    prices: the member price where it applies, and its lowest activity price below that."""
    if low is None:
        return None, None
    low, high = display_range([low, high], member_level=member_level, member_discount=member_discount)
    if activity_low is not None:
        low = min(low, activity_low)
    return low, high


def price_basket(
    lines: Sequence[Line],
    *,
    shipping: Shipping,
    member_level: MemberLevel | None = None,
    full_reduction: FullReduction | None = None,
    coupon: Coupon | None = None,
    points: Points | None = None,
) -> PricedBasket:
    """Price a basket, or raise PricingError (bad_points, then coupon_scope, then coupon_threshold)."""
    if points is not None and (
        not _is_int(points.use) or points.use < 0 or not _is_int(points.balance) or points.fen_per_point < 1
    ):
        raise PricingError("bad_points")
    priced = PricedBasket(lines=[])
    for line in lines:
        unit, kind = unit_price(
            line.unit_fen,
            member_level=member_level,
            member_discount=line.member_discount,
            activity=line.activity,
        )
        priced.lines.append(
            PricedLine(list_unit_fen=line.unit_fen, unit_fen=unit, unit_kind=kind, qty=line.qty)
        )
    for kind in ("activity", "member"):
        saved = sum((p.list_unit_fen - p.unit_fen) * p.qty for p in priced.lines if p.unit_kind == kind)
        if saved > 0:
            priced.applied.append({"kind": kind, "fen": saved})

    if full_reduction is not None:
        _apply_full_reduction(priced, lines, full_reduction)
    if coupon is not None:
        _apply_coupon(priced, lines, coupon)
    if points is not None:
        _apply_points(priced, lines, points)

    after_offers = priced.goods_fen - priced.full_reduction_fen - priced.coupon_fen
    free = (member_level is not None and member_level.free_shipping) or (
        shipping.free_threshold_fen is not None and after_offers >= shipping.free_threshold_fen
    )
    priced.shipping_fen = 0 if free else shipping.fee_fen
    return priced


def _still_costs(line: PricedLine) -> int:
    return line.paid_fen


def _split(priced: PricedBasket, eligible: list[int], amount: int, step: str) -> None:
    """Hand `amount` to the eligible lines in proportion to what each still costs."""
    shares = allocate_proportionally(amount, [_still_costs(priced.lines[i]) for i in eligible])
    for index, share in zip(eligible, shares, strict=True):
        line = priced.lines[index]
        setattr(line, step, getattr(line, step) + share)


def _apply_full_reduction(priced: PricedBasket, lines: Sequence[Line], campaign: FullReduction) -> None:
    eligible = [
        i
        for i, line in enumerate(lines)
        if campaign.scope.covers(line) and (line.activity is None or campaign.include_activity)
    ]
    base = sum(_still_costs(priced.lines[i]) for i in eligible)
    reached = [tier for tier in campaign.tiers if tier.threshold_fen <= base]
    if not eligible or not reached:
        return
    top = max(tier.threshold_fen for tier in reached)
    # Two tiers at one threshold (a campaign the back office refuses) give the better of the two, so
    # that the order they are listed in never matters.
    amount = max(_tier_amount(tier, base, campaign) for tier in reached if tier.threshold_fen == top)
    if amount:
        _split(priced, eligible, amount, "full_reduction_fen")
        priced.full_reduction_fen = amount
        priced.applied.append({"kind": "full_reduction", "key": campaign.key, "fen": amount})


def _tier_amount(tier: Tier, base: int, campaign: FullReduction) -> int:
    if tier.reduce_fen is not None:
        times = base // tier.threshold_fen if campaign.repeat and tier.threshold_fen > 0 else 1
        amount = tier.reduce_fen * times
        if campaign.repeat and campaign.max_reduce_fen is not None:
            amount = min(amount, campaign.max_reduce_fen)
    else:
        amount = base * (BP_PER_UNIT - (tier.discount_bp or NO_DISCOUNT_BP)) // BP_PER_UNIT
    return min(max(amount, 0), base)


def _apply_coupon(priced: PricedBasket, lines: Sequence[Line], coupon: Coupon) -> None:
    eligible = [
        i
        for i, line in enumerate(lines)
        if coupon.scope.covers(line) and (line.activity is None or coupon.include_activity)
    ]
    if not eligible:
        raise PricingError("coupon_scope")
    base = sum(_still_costs(priced.lines[i]) for i in eligible)
    if base < coupon.threshold_fen:
        raise PricingError("coupon_threshold")
    if coupon.kind == "amount":
        amount = coupon.value_fen
    else:
        amount = base * (BP_PER_UNIT - coupon.discount_bp) // BP_PER_UNIT
        if coupon.max_discount_fen is not None:
            amount = min(amount, coupon.max_discount_fen)
    amount = min(max(amount, 0), base)
    _split(priced, eligible, amount, "coupon_fen")
    priced.coupon_fen = amount
    priced.applied.append({"kind": "coupon", "key": coupon.key, "name": coupon.name, "fen": amount})


def _apply_points(priced: PricedBasket, lines: Sequence[Line], points: Points) -> None:
    eligible = [
        i for i, line in enumerate(lines) if line.points and (line.activity is None or line.activity.points)
    ]
    base = sum(_still_costs(priced.lines[i]) for i in eligible)
    cover_fen = base * points.max_bp // BP_PER_UNIT
    if points.max_points_per_order is not None:
        cover_fen = min(cover_fen, points.max_points_per_order * points.fen_per_point)
    used = max(0, min(points.use, points.balance, cover_fen // points.fen_per_point))
    if not used:
        return
    _split(priced, eligible, used * points.fen_per_point, "points_fen")
    priced.points_used = used
    priced.points_fen = used * points.fen_per_point
    priced.applied.append({"kind": "points", "points": used, "fen": priced.points_fen})


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
