"""Dividend pools (DISTRIBUTION.md "Dividend pools"): orders become final, a day's turnover, its pools and
their split (`plan_day`, reads only), and paying a day exactly once (`pay_day`) — the work of
`flask distribution dividends` (`run_dividends`).

An order becomes final when its commission has been released (received, the freeze days passed, no
after-sales request open, none of its commissions still frozen — a held one keeps it open);
`finalise_due` stamps `orders.final_at` once, after `ledger.release_due`. The turnover of shop-local day D
is the paid goods, less goods refunded, of the orders that became final on D, so a dividend never has to be
clawed back (a refund after that takes back the commission, never the dividend).

Static pools: the active distributors by the grade they held when D ended (the grade log). Dynamic pools:
the chain of an order is the distributors its commission was worked out for (its commission rows, not
voided), and only orders with net goods left seat theirs; an order of commission-free products seats
nobody, and no level beyond the shop's commission levels has anyone (the job refuses such a ratio).

The job checks the saved settings first (`dividend_checks`) and computes a day only once it has been over
for `SETTLED_AFTER`. Set-based SQL throughout; only the split itself (`dividend_split`) runs in Python.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.distribution.dividend_split import split_pools
from app.distribution.models import (
    Commission,
    CommissionStatus,
    DistributionSettings,
    Distributor,
    DistributorGrade,
    DistributorGradeLog,
    DistributorStatus,
    DividendDay,
    DividendPayout,
    EntryKind,
    LedgerEntry,
)
from app.distribution.services import DistributionError, get_settings
from app.orders.models import Order, OrderStatus, Refund, RefundRequestStatus, RefundStatus
from app.timeutil import SHOP_TZ, local_midnight_utc, utcnow

STATIC = "static"
DYNAMIC = "dynamic"
MODES = (STATIC, DYNAMIC)
LEVELS = 3
ROOM_CHUNK = 1000  # sharers per query when the caps' room is read
CAPPED_KEPT = 20  # capped ids a day's pool keeps (with their count)


class DividendSettingsError(DistributionError):
    """The saved dividend settings cannot be paid from: the job fails with this message, nothing paid."""


@dataclass(frozen=True)
class DividendRules:
    """The dividend settings as plain data: what `plan_day` computes with (the settings page builds one
    from an unsaved form for its live example)."""

    enabled: bool
    mode: str  # static / dynamic
    grade_ratios_bp: dict[int, int]  # static: grade id → ratio
    level_ratios_bp: tuple[int, ...]  # dynamic: level 1..3
    cap_day_fen: int | None = None
    cap_month_fen: int | None = None
    cap_quarter_fen: int | None = None
    cap_year_fen: int | None = None
    start_on: date | None = None

    @property
    def caps(self) -> dict[str, int | None]:
        return {
            "day": self.cap_day_fen,
            "month": self.cap_month_fen,
            "quarter": self.cap_quarter_fen,
            "year": self.cap_year_fen,
        }


def rules_from(session: Session, settings: DistributionSettings) -> DividendRules:
    """The saved rules: the settings' mode, caps and level ratios, each grade's ratio."""
    grades = session.execute(select(DistributorGrade.id, DistributorGrade.dividend_ratio_bp)).all()
    levels = [int(r or 0) for r in (settings.dividend_level_ratios_bp or [])][:LEVELS]
    return DividendRules(
        enabled=bool(settings.dividends_enabled),
        mode=settings.dividend_mode or STATIC,
        grade_ratios_bp={grade_id: int(ratio or 0) for grade_id, ratio in grades},
        level_ratios_bp=tuple(levels + [0] * (LEVELS - len(levels))),
        cap_day_fen=settings.dividend_cap_day_fen,
        cap_month_fen=settings.dividend_cap_month_fen,
        cap_quarter_fen=settings.dividend_cap_quarter_fen,
        cap_year_fen=settings.dividend_cap_year_fen,
        start_on=settings.dividends_start_on,
    )


# ---------------------------------------------------------------- final orders


def finalise_due(session: Session, *, now: datetime | None = None) -> int:
    """Stamp `final_at = now` on every order that has just become final: received (or refunded after
    receipt), the freeze days passed, no after-sales request open, and none of its commissions still frozen
    — a commission held (fraud) or not yet past its own release_after keeps the order open, whatever the
    freeze days say now. Run `ledger.release_due` first. One conditional UPDATE; an order is stamped once.
    Returns how many."""
    now = now or utcnow()
    freeze_days = get_settings(session).freeze_days
    still_frozen = exists().where(
        Commission.order_id == Order.id, Commission.status == CommissionStatus.FROZEN
    )
    return session.execute(
        update(Order)
        .where(
            Order.final_at.is_(None),
            Order.completed_at.is_not(None),
            Order.completed_at <= now - timedelta(days=freeze_days),
            Order.status.in_([OrderStatus.COMPLETED, OrderStatus.REFUNDED]),
            Order.refund_status != RefundStatus.REQUESTED,
            ~still_frozen,
        )
        .values(final_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC moments shop-local `day` begins and ends."""
    return local_midnight_utc(day), local_midnight_utc(day + timedelta(days=1))


def _final_on(day: date):
    start, end = day_bounds(day)
    return and_(Order.final_at >= start, Order.final_at < end)


def _net_goods(day: date):
    """(refunded goods per order of `day`, a subquery; the order's net goods expression): paid goods (total
    less shipping) less the goods of its refunds that went through (a refund's amount less its shipping
    part). Join the subquery with an outer join on order_id."""
    refunded = (
        select(Refund.order_id, func.sum(Refund.amount_fen - Refund.shipping_fen).label("goods"))
        .join(Order, Order.id == Refund.order_id)
        .where(_final_on(day), Refund.status == RefundRequestStatus.REFUNDED)
        .group_by(Refund.order_id)
        .subquery()
    )
    return refunded, Order.total_fen - Order.shipping_fen - func.coalesce(refunded.c.goods, 0)


def turnover(session: Session, day: date) -> tuple[int, int]:
    """(orders, turnover_fen) of the orders that became final on `day`: each order's net goods, never
    below 0."""
    refunded, net = _net_goods(day)
    orders, total = session.execute(
        select(func.count(Order.id), func.coalesce(func.sum(case((net > 0, net), else_=0)), 0))
        .outerjoin(refunded, refunded.c.order_id == Order.id)
        .where(_final_on(day))
    ).one()
    return int(orders), int(total)


# ---------------------------------------------------------------- the plan of a day


@dataclass
class PoolPlan:
    key: str  # "grade:<id>" / "level:<k>"
    name: str
    ratio_bp: int
    pool_fen: int
    sharers: int
    paid_fen: int
    remainder_fen: int
    capped: list[int] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "name": self.name,
            "ratio_bp": self.ratio_bp,
            "pool_fen": self.pool_fen,
            "sharers": self.sharers,
            "paid_fen": self.paid_fen,
            "remainder_fen": self.remainder_fen,
            # The first ids only: a day with a low cap may hold back thousands, and the row stays small;
            # the payouts' own `capped` flag says it for everyone paid.
            "capped": list(self.capped[:CAPPED_KEPT]),
            "capped_count": len(self.capped),
        }


@dataclass
class Payout:
    amount_fen: int
    parts: list[tuple[str, int]] = field(default_factory=list)  # (pool key, amount)
    capped: bool = False


@dataclass
class DayPlan:
    day: date
    mode: str
    orders: int
    turnover_fen: int
    pools: list[PoolPlan] = field(default_factory=list)
    payouts: dict[int, Payout] = field(default_factory=dict)  # distributor id → its share of the day

    @property
    def paid_fen(self) -> int:
        return sum(p.amount_fen for p in self.payouts.values())

    @property
    def sharers(self) -> int:
        return len(self.payouts)


def _grade_at(end: datetime):
    """(distributor id, grade id) subquery: each distributor's grade at the moment `end` — the to-grade of
    their last grade change before it; with none before but one after, the from-grade of the first one
    after; with no change at all, their grade now. Two window queries over the grade log, SQLite and
    PostgreSQL alike."""
    log = DistributorGradeLog
    before = (
        select(
            log.distributor_id,
            log.to_grade_id,
            func.row_number()
            .over(partition_by=log.distributor_id, order_by=(log.created_at.desc(), log.id.desc()))
            .label("n"),
        )
        .where(log.created_at < end)
        .subquery()
    )
    after = (
        select(
            log.distributor_id,
            log.from_grade_id,
            func.row_number()
            .over(partition_by=log.distributor_id, order_by=(log.created_at.asc(), log.id.asc()))
            .label("n"),
        )
        .where(log.created_at >= end)
        .subquery()
    )
    grade = case(
        (before.c.distributor_id.is_not(None), before.c.to_grade_id),
        (after.c.distributor_id.is_not(None), after.c.from_grade_id),
        else_=Distributor.grade_id,
    )
    return (
        select(Distributor.id.label("distributor_id"), grade.label("grade_id"))
        .outerjoin(before, and_(before.c.distributor_id == Distributor.id, before.c.n == 1))
        .outerjoin(after, and_(after.c.distributor_id == Distributor.id, after.c.n == 1))
        .where(Distributor.status == DistributorStatus.ACTIVE, Distributor.created_at < end)
        .subquery()
    )


def _static_pools(session: Session, day: date, rules: DividendRules) -> list[tuple[str, str, int, list[int]]]:
    """(key, name, ratio, sharers) per grade with a ratio: its active distributors who existed by the end
    of the day, by the grade they held when the day ended (an upgrade the night after does not reach back,
    a downgrade after the day does not take it away)."""
    ratios = {grade_id: bp for grade_id, bp in rules.grade_ratios_bp.items() if bp > 0}
    if not ratios:
        return []
    names = dict(
        session.execute(
            select(DistributorGrade.id, DistributorGrade.name).where(DistributorGrade.id.in_(ratios))
        ).all()
    )
    members: dict[int, list[int]] = {grade_id: [] for grade_id in ratios}
    _start, end = day_bounds(day)
    held = _grade_at(end)
    rows = session.execute(select(held.c.grade_id, held.c.distributor_id).where(held.c.grade_id.in_(ratios)))
    for grade_id, distributor_id in rows:
        members[grade_id].append(distributor_id)
    return [
        (f"grade:{grade_id}", names.get(grade_id, str(grade_id)), ratios[grade_id], members[grade_id])
        for grade_id in sorted(ratios, key=lambda g: (-ratios[g], g))
        if grade_id in names
    ]


def _dynamic_pools(
    session: Session, day: date, rules: DividendRules
) -> list[tuple[str, str, int, list[int]]]:
    """(key, name, ratio, sharers) per level with a ratio: the active distributors who were that level in
    the chain of at least one order counted in the day's turnover with net goods left (a fully refunded
    order seats nobody), their commission not voided. The chain is the distributors the order's
    commission was worked out for: an order of opt-out products, or a level the shop pays no commission
    at, seats nobody (the settings refuse level ratios beyond the commission levels)."""
    levels = {k: bp for k, bp in enumerate(rules.level_ratios_bp[:LEVELS], start=1) if bp > 0}
    if not levels:
        return []
    members: dict[int, list[int]] = {k: [] for k in levels}
    refunded, net = _net_goods(day)
    rows = session.execute(
        select(Commission.level, Commission.distributor_id)
        .join(Order, Order.id == Commission.order_id)
        .outerjoin(refunded, refunded.c.order_id == Order.id)
        .join(Distributor, Distributor.id == Commission.distributor_id)
        .where(
            _final_on(day),
            net > 0,
            Commission.level.in_(levels),
            Commission.status != CommissionStatus.VOIDED,
            Distributor.status == DistributorStatus.ACTIVE,
        )
        .distinct()
    )
    for level, distributor_id in rows:
        members[level].append(distributor_id)
    return [(f"level:{k}", f"第{k}级", levels[k], members[k]) for k in sorted(levels)]


def _period_starts(day: date) -> dict[str, date]:
    quarter_month = (day.month - 1) // 3 * 3 + 1
    return {
        "day": day,
        "month": day.replace(day=1),
        "quarter": date(day.year, quarter_month, 1),
        "year": date(day.year, 1, 1),
    }


def _room(session: Session, day: date, rules: DividendRules, sharers: set[int]) -> dict[int, int | None]:
    """What the caps still allow each sharer on `day`, from the payouts of the periods so far (None: no
    cap). A grouped query per chunk of sharers over their payouts of the periods."""
    caps = {period: cap for period, cap in rules.caps.items() if cap is not None}
    if not caps or not sharers:
        return {}
    starts = _period_starts(day)
    earliest = min(starts[period] for period in caps)
    sums = [
        func.coalesce(
            func.sum(case((DividendPayout.day >= starts[period], DividendPayout.amount_fen), else_=0)), 0
        ).label(period)
        for period in caps
    ]
    taken: dict[int, dict[str, int]] = {}
    ids = sorted(sharers)
    # By chunks of sharers: each chunk one grouped query on the (distributor, day) index, so a year of
    # payouts of people who are not sharing today is never read.
    for start in range(0, len(ids), ROOM_CHUNK):
        query = (
            select(DividendPayout.distributor_id, *sums)
            .where(
                DividendPayout.distributor_id.in_(ids[start : start + ROOM_CHUNK]),
                DividendPayout.day >= earliest,
                DividendPayout.day <= day,
            )
            .group_by(DividendPayout.distributor_id)
        )
        for row in session.execute(query):
            taken[row[0]] = {period: int(row[i + 1]) for i, period in enumerate(caps)}
    room: dict[int, int | None] = {}
    for distributor_id in sharers:
        used = taken.get(distributor_id, {})
        room[distributor_id] = max(0, min(cap - used.get(period, 0) for period, cap in caps.items()))
    return room


def plan_day(session: Session, day: date, rules: DividendRules) -> DayPlan:
    """How `day` would be paid under `rules`: its final orders and turnover, each pool and its split, each
    distributor's share. Reads only."""
    mode = rules.mode if rules.mode in MODES else STATIC
    orders, turnover_fen = turnover(session, day)
    plan = DayPlan(day=day, mode=mode, orders=orders, turnover_fen=turnover_fen)
    pools = (_static_pools if mode == STATIC else _dynamic_pools)(session, day, rules)
    every = {d for *_head, sharers in pools for d in sharers}
    room = _room(session, day, rules, every)
    splits = split_pools([(key, turnover_fen * bp // 10000, sharers) for key, _n, bp, sharers in pools], room)
    for (key, name, bp, _sharers), split in zip(pools, splits, strict=True):
        plan.pools.append(
            PoolPlan(
                key=key,
                name=name,
                ratio_bp=bp,
                pool_fen=split.pool_fen,
                sharers=split.sharers,
                paid_fen=split.paid_fen,
                remainder_fen=split.remainder_fen,
                capped=split.capped,
            )
        )
        for distributor_id, amount in split.shares.items():
            payout = plan.payouts.setdefault(distributor_id, Payout(amount_fen=0))
            payout.amount_fen += amount
            payout.parts.append((key, amount))
        for distributor_id in split.capped:
            if distributor_id in plan.payouts:
                plan.payouts[distributor_id].capped = True
    return plan


# ---------------------------------------------------------------- paying a day


def pay_day(
    session: Session, day: date, rules: DividendRules, *, now: datetime | None = None
) -> DividendDay | None:
    """Compute and pay `day` once: the DividendDay row goes in first (its day is unique: when it is there
    already — an earlier or a concurrent run — nothing is paid and None comes back), then the payouts in one
    bulk insert, their ledger entries in one INSERT … SELECT and the balances in one UPDATE. The caller
    commits."""
    now = now or utcnow()
    mode = rules.mode if rules.mode in MODES else STATIC
    row = DividendDay(
        day=day, mode=mode, orders=0, turnover_fen=0, pools=[], paid_fen=0, sharers=0, created_at=now
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    plan = plan_day(session, day, rules)
    row.orders, row.turnover_fen = plan.orders, plan.turnover_fen
    row.pools = [pool.as_json() for pool in plan.pools]
    row.paid_fen, row.sharers = plan.paid_fen, plan.sharers
    session.flush()
    if not plan.payouts:
        return row
    rows = [
        {
            "dividend_day_id": row.id,
            "day": day,
            "distributor_id": distributor_id,
            "amount_fen": payout.amount_fen,
            "parts": [{"key": key, "amount_fen": amount} for key, amount in payout.parts],
            "capped": payout.capped,
            "created_at": now,
        }
        for distributor_id, payout in sorted(plan.payouts.items())
    ]
    # One executemany of the table's INSERT: the driver batches it (psycopg pipelines it, SQLAlchemy's
    # insertmanyvalues packs the rows), no ORM objects on the way.
    session.execute(insert(DividendPayout.__table__), rows)
    batch = f"dividend-{day.isoformat()}"
    session.execute(
        insert(LedgerEntry).from_select(
            [
                "distributor_id",
                "kind",
                "dividend_payout_id",
                "frozen_delta_fen",
                "available_delta_fen",
                "withdrawn_delta_fen",
                "batch",
                "note",
                "created_at",
            ],
            select(
                DividendPayout.distributor_id,
                literal(EntryKind.DIVIDEND.value),
                DividendPayout.id,
                literal(0),
                DividendPayout.amount_fen,
                literal(0),
                literal(batch),
                literal(day.isoformat()),
                literal(now, LedgerEntry.created_at.type),
            ).where(DividendPayout.dividend_day_id == row.id),
        )
    )
    paid = (
        select(DividendPayout.distributor_id, DividendPayout.amount_fen)
        .where(DividendPayout.dividend_day_id == row.id)
        .subquery()
    )
    session.execute(
        update(Distributor)
        .where(Distributor.id == paid.c.distributor_id)
        .values(available_fen=Distributor.available_fen + paid.c.amount_fen)
        .execution_options(synchronize_session=False)
    )
    return row


def shop_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(SHOP_TZ).date()


SETTLED_AFTER = timedelta(minutes=15)  # a day is computed once it has been over this long


def days_due(session: Session, rules: DividendRules, *, now: datetime | None = None) -> list[date]:
    """The days the job still has to compute: from the day after the last computed one (or the start
    day) up to the last day, shop time, that ended at least `SETTLED_AFTER` ago — the settle job's stamps
    of 23:59 may commit a little after midnight. Dividends need a start day (`check_dividend_settings`)."""
    if rules.start_on is None:
        raise DividendSettingsError(_l("Dividends are on without a start day: nothing was paid."))
    now = now or utcnow()
    last_over = shop_today(now - SETTLED_AFTER) - timedelta(days=1)
    last = session.scalar(select(func.max(DividendDay.day)))
    first = max(last + timedelta(days=1), rules.start_on) if last is not None else rules.start_on
    return [first + timedelta(days=i) for i in range((last_over - first).days + 1)]


def run_dividends(session: Session, *, now: datetime | None = None) -> dict:
    """The dividend job: when dividends are on, check the saved settings (a bad row fails the job with a
    clear message, nothing paid), release the commissions now due and stamp the orders that became final,
    then pay every day not yet computed, each committed on its own."""
    now = now or utcnow()
    settings = get_settings(session)
    if not settings.dividends_enabled:
        return {"days": 0}
    # The settings' checks (dividend_checks → dividend_settings) and the ledger (→ grades → the settings)
    # build on this module: imported here.
    from app.distribution.dividend_checks import check_dividend_settings
    from app.distribution.ledger import release_due

    check_dividend_settings(session, settings)
    release_due(session, now=now)  # an order is final only once none of its commission is frozen
    session.commit()
    finalised = finalise_due(session, now=now)
    session.commit()
    rules = rules_from(session, settings)
    counts = {"days": 0, "paid_fen": 0, "sharers": 0, "finalised": finalised}
    for day in days_due(session, rules, now=now):
        row = pay_day(session, day, rules, now=now)
        session.commit()
        if row is not None:
            counts["days"] += 1
            counts["paid_fen"] += row.paid_fen
            counts["sharers"] += row.sharers
    return counts
