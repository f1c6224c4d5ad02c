"""Read-side queries for dividends (DISTRIBUTION.md "Dividend pools"): a distributor's own dividends with
the pool each share came from, and the back office's report per day with each day's payouts. Nothing
here computes a dividend: the figures are what the dividend job wrote in dividend_days (the day's pools,
sharers, paid and remainder) and dividend_payouts (each distributor's share and its parts)."""

from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from app.distribution.models import Distributor, DividendDay, DividendPayout
from app.distribution.queries import Page
from app.timeutil import SHOP_TZ

DIVIDENDS_PER_PAGE = 20
LEVEL_POOL_TITLES = {
    1: _l("Level 1 dividend pool"),
    2: _l("Level 2 dividend pool"),
    3: _l("Level 3 dividend pool"),
}


def pool_title(pool: dict) -> str:
    """ "金牌分红池" for a grade's pool (static mode), "一级分红池" for a level's (dynamic mode)."""
    kind, _sep, number = str(pool.get("key", "")).partition(":")
    if kind == "level" and number.isdigit() and int(number) in LEVEL_POOL_TITLES:
        return str(LEVEL_POOL_TITLES[int(number)])
    return str(_l("%(name)s dividend pool", name=pool.get("name") or number))


def pools_by_key(day: DividendDay) -> dict[str, dict]:
    return {str(pool.get("key")): pool for pool in day.pools or []}


# ---------------------------------------------------------------- the distributor's own dividends


@dataclass
class DividendTotals:
    month_fen: int  # paid for days of this month (the shop's calendar)
    total_fen: int  # every dividend ever paid to them
    days: int


def dividend_totals(session: Session, distributor_id: int, now: datetime) -> DividendTotals:
    month_start = now.astimezone(SHOP_TZ).date().replace(day=1)
    row = session.execute(
        select(
            func.coalesce(func.sum(DividendPayout.amount_fen).filter(DividendPayout.day >= month_start), 0),
            func.coalesce(func.sum(DividendPayout.amount_fen), 0),
            func.count(DividendPayout.id),
        ).where(DividendPayout.distributor_id == distributor_id)
    ).one()
    return DividendTotals(month_fen=int(row[0]), total_fen=int(row[1]), days=int(row[2]))


@dataclass
class DividendPart:
    key: str
    title: str  # 金牌分红池 / 一级分红池
    pool_fen: int
    sharers: int
    amount_fen: int  # this distributor's share of that pool


@dataclass
class DividendRow:
    id: int
    day: date
    amount_fen: int
    capped: bool
    turnover_fen: int
    parts: list[DividendPart]


def dividend_page(
    session: Session, distributor_id: int, *, page: int = 1, per_page: int = DIVIDENDS_PER_PAGE
) -> Page[DividendRow]:
    """One page of a distributor's own dividends, newest day first: one query (payouts with their day's
    pools), read through the (distributor, day) index."""
    rows = session.execute(
        select(DividendPayout, DividendDay)
        .join(DividendDay, DividendDay.id == DividendPayout.dividend_day_id)
        .where(DividendPayout.distributor_id == distributor_id)
        .order_by(DividendPayout.day.desc(), DividendPayout.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    ).all()
    items = []
    for payout, day in rows[:per_page]:
        pools = pools_by_key(day)
        parts = []
        for part in payout.parts or []:
            pool = pools.get(str(part.get("key")), {"key": part.get("key")})
            parts.append(
                DividendPart(
                    key=str(part.get("key")),
                    title=pool_title(pool),
                    pool_fen=int(pool.get("pool_fen") or 0),
                    sharers=int(pool.get("sharers") or 0),
                    amount_fen=int(part.get("amount_fen") or 0),
                )
            )
        items.append(
            DividendRow(
                id=payout.id,
                day=payout.day,
                amount_fen=payout.amount_fen,
                capped=payout.capped,
                turnover_fen=day.turnover_fen,
                parts=parts,
            )
        )
    return Page(items=items, page=page, has_next=len(rows) > per_page)


# ---------------------------------------------------------------- the back office's report


@dataclass
class DayFilters:
    date_from: date | None = None
    date_to: date | None = None

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to)


def days_query(filters: DayFilters) -> Select:
    query = select(DividendDay).order_by(DividendDay.day.desc())
    if filters.date_from:
        query = query.where(DividendDay.day >= filters.date_from)
    if filters.date_to:
        query = query.where(DividendDay.day <= filters.date_to)
    return query


@dataclass
class DayTotals:
    days: int
    orders: int
    turnover_fen: int
    paid_fen: int


def days_totals(session: Session, filters: DayFilters) -> DayTotals:
    days = days_query(filters).order_by(None).subquery()
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(days.c.orders), 0),
            func.coalesce(func.sum(days.c.turnover_fen), 0),
            func.coalesce(func.sum(days.c.paid_fen), 0),
        ).select_from(days)
    ).one()
    return DayTotals(days=int(row[0]), orders=int(row[1]), turnover_fen=int(row[2]), paid_fen=int(row[3]))


def remainder_fen(day: DividendDay) -> int:
    """What the day's pools left with the merchant (floors and caps)."""
    return sum(int(pool.get("remainder_fen") or 0) for pool in day.pools or [])


def capped_count(pool: dict) -> int:
    """How many a cap held back or cut in the pool (days paid before the count was kept: the ids)."""
    return int(pool.get("capped_count", len(pool.get("capped") or [])))


def capped_ids(days: list[DividendDay]) -> list[int]:
    ids: set[int] = set()
    for day in days:
        for pool in day.pools or []:
            ids.update(int(i) for i in pool.get("capped") or [] if str(i).isdigit())
    return sorted(ids)


def distributors_named(session: Session, ids: list[int]) -> dict[int, Distributor]:
    if not ids:
        return {}
    rows = session.scalars(
        select(Distributor).options(joinedload(Distributor.user)).where(Distributor.id.in_(ids))
    )
    return {row.id: row for row in rows}


def day_payouts(session: Session, day: DividendDay) -> list[DividendPayout]:
    """Every payout of one day, largest first, with its distributor (one query)."""
    return list(
        session.scalars(
            select(DividendPayout)
            .options(joinedload(DividendPayout.distributor).joinedload(Distributor.user))
            .where(DividendPayout.dividend_day_id == day.id)
            .order_by(DividendPayout.amount_fen.desc(), DividendPayout.id)
        )
    )


def day_named(session: Session, day: date) -> DividendDay | None:
    return session.scalar(select(DividendDay).where(DividendDay.day == day))
