"""Points (积分, MARKETING.md "Points"): earned when an order completes, spent at placement, given back on
cancel and on refunds, taken back when a completed order is refunded, expired oldest first. An
append-only ledger beside the balance on the member account; `audit` proves one equals the other."""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _nl
from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session

from app.marketing import members, pricing
from app.marketing.errors import MarketingError
from app.marketing.models import GrowthEntry, MemberAccount, PointsEntry, PointsKind
from app.money import BP_PER_UNIT, format_fen, share_of_units
from app.timeutil import add_months, utcnow

MAX_POINTS_ASKED = 10**9  # anything above is not a number a person typed


def balance(session: Session, user_id: int | None) -> int:
    found = members.account(session, user_id)
    return found.points if found is not None else 0


def add_points(
    session: Session, user_id: int, amount: int, kind: str, *, order_id=None, refund_id=None,
    once_key: str | None = None, expires_at: datetime | None = None, base_fen: int | None = None,
    note: str = "",
) -> bool:  # fmt: skip
    """Write one entry and move the balance with it. A spend only succeeds while the balance covers it
    and raises otherwise (`_spend`). False when `once_key` was written before (a retried signal)."""
    if amount == 0:
        return False
    if kind == PointsKind.SPEND:
        _spend(session, user_id, amount, order_id=order_id, once_key=once_key, note=note)
        return True
    return members.write_entry(
        session, PointsEntry, "points", user_id, amount, kind=kind, order_id=order_id, refund_id=refund_id,
        once_key=once_key, expires_at=expires_at, base_fen=base_fen, note=note[:100],
    )  # fmt: skip


def _spend(session: Session, user_id: int, amount: int, *, order_id, once_key, note) -> None:
    """A spend for a new order: the balance goes down only while it covers the amount (a conditional
    update: two checkouts at once can never take it below zero). No savepoint: the entry is new with its
    order, so it cannot be a repeat, and a refusal undoes the whole order anyway."""
    changed = session.execute(
        update(MemberAccount)
        .where(MemberAccount.user_id == user_id, MemberAccount.points >= -amount)
        .values(points=MemberAccount.points + amount)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise MarketingError(_l("You do not have that many points any more."), "points")
    session.execute(
        insert(PointsEntry).values(
            user_id=user_id,
            kind=PointsKind.SPEND,
            amount=amount,
            order_id=order_id,
            once_key=once_key,
            note=note[:100],
        )  # fmt: skip
    )
    loaded = session.get(MemberAccount, user_id)
    if loaded is not None:
        session.expire(loaded)


def for_checkout(session: Session, user_id: int | None, asked, *, account=None) -> pricing.Points | None:
    """The points step of a basket: the shop's rules and the buyer's balance. Asking for more than one
    may use is not an error (price_basket says how many were used); a value that is not a whole
    number of 0 or more is, and is reported by price_basket as bad_points."""
    settings = members.marketing_settings(session)
    if not settings.points_enabled or user_id is None:
        return None
    if isinstance(asked, int) and not isinstance(asked, bool) and asked > MAX_POINTS_ASKED:
        asked = MAX_POINTS_ASKED
    return pricing.Points(
        balance=account.points if account is not None else balance(session, user_id),
        use=asked,
        fen_per_point=settings.fen_per_point,
        max_bp=settings.points_max_bp,
        max_points_per_order=settings.max_points_per_order,
    )


def parse_asked(raw) -> int | str:
    """The points a form asks for: an int, or the raw text (price_basket refuses it as bad_points)."""
    text = str(raw if raw is not None else "").strip()
    if text == "":
        return 0
    try:
        return int(text) if text.lstrip("-").isdigit() and len(text) < 12 else text
    except ValueError:
        return text


def spend_for_order(session: Session, order) -> None:
    if order.points_used:
        add_points(
            session, order.user_id, -order.points_used, PointsKind.SPEND, order_id=order.id,
            once_key=f"spend:order:{order.id}", note=order.number,
        )  # fmt: skip


def return_for_cancel(session: Session, order) -> None:
    if order.points_used:
        add_points(
            session, order.user_id, order.points_used, PointsKind.RETURN, order_id=order.id,
            once_key=f"return:order:{order.id}", note=order.number,
        )  # fmt: skip


def returned_for_refund(order, refund) -> int:
    """The points the refunded units had used: per line, what the units refunded so far are worth minus
    what the units refunded before were worth (money.share_of_units: the last units take what is left)."""
    by_line = {line.id: line for line in order.lines}
    total = 0
    for refund_line in refund.lines:
        line = by_line.get(refund_line.order_line_id)
        if line is None or not line.points_used:
            continue
        before = line.refunded_qty - refund_line.qty
        through_now = share_of_units(line.points_used, line.qty, 0, line.refunded_qty, 0)
        through_before = share_of_units(line.points_used, line.qty, 0, before, 0) if before else 0
        total += through_now - through_before
    return total


def earning_base(order) -> int:
    """The paid goods an order earns points and growth on: its lines that earn, less what was refunded."""
    return sum(line.paid_fen - line.refunded_fen for line in order.lines if line.earns_points)


def earn_for_order(session: Session, order, now: datetime | None = None) -> None:
    """On completion: floor(paid goods yuan × earn_per_yuan × level multiplier ÷ 10000) points and
    growth of 1 per yuan plus growth_per_order, each written once."""
    settings = members.marketing_settings(session)
    base = earning_base(order)
    level = members.level_of_user(session, order.user_id)
    multiplier = level.points_multiplier_bp if level else BP_PER_UNIT
    now = now or utcnow()
    if settings.points_enabled:
        earned = (base // 100) * settings.earn_per_yuan * multiplier // BP_PER_UNIT
        expires = add_months(now, settings.points_expiry_months) if settings.points_expiry_months else None
        add_points(
            session, order.user_id, earned, PointsKind.EARN, order_id=order.id, base_fen=base,
            once_key=f"earn:order:{order.id}", expires_at=expires, note=order.number,
        )  # fmt: skip
    growth = base // 100 + (settings.growth_per_order or 0)
    members.add_growth(
        session, order.user_id, growth, "earn", order_id=order.id, base_fen=base,
        once_key=f"earn:order:{order.id}", note=order.number,
    )  # fmt: skip


def after_refund(session: Session, order, refund) -> None:
    """A refund gives back the points its units used, and, on a completed order, takes back the share of
    the points and growth the order earned (what the order still deserves is earned × what is left ÷ the
    base it was earned on; the last refund takes everything left)."""
    returned = returned_for_refund(order, refund)
    add_points(
        session, order.user_id, returned, PointsKind.RETURN, order_id=order.id, refund_id=refund.id,
        once_key=f"return:refund:{refund.id}", note=order.number,
    )  # fmt: skip
    remaining = earning_base(order)
    for model, write in ((PointsEntry, add_points), (GrowthEntry, members.add_growth)):
        earned = session.scalars(
            select(model).where(model.once_key == f"earn:order:{order.id}")
        ).one_or_none()
        if earned is None or not earned.base_fen:
            continue
        deserved = earned.amount * max(remaining, 0) // earned.base_fen
        so_far = session.scalar(
            select(func.coalesce(func.sum(model.amount), 0)).where(
                model.order_id == order.id, model.kind.in_(("earn", "revoke"))
            )
        )
        if so_far > deserved:
            write(
                session, order.user_id, deserved - so_far, "revoke", order_id=order.id,
                refund_id=refund.id, once_key=f"revoke:refund:{refund.id}", note=order.number,
            )  # fmt: skip


def expire_due(session: Session, now: datetime | None = None) -> int:
    """`flask points expire`: points earned before their expiry that were not used yet are written off,
    oldest first. What a user has consumed (spent, expired, taken back) counts against the oldest earned
    points, so a second run finds nothing more to expire. Returns the number of accounts touched."""
    now = now or utcnow()
    positive = func.sum(case((PointsEntry.amount > 0, PointsEntry.amount), else_=0))
    due = func.sum(
        case(
            ((PointsEntry.amount > 0) & (PointsEntry.expires_at <= now), PointsEntry.amount),
            else_=0,
        )
    )
    rows = session.execute(
        select(PointsEntry.user_id, positive, due, MemberAccount.points)
        .join(MemberAccount, MemberAccount.user_id == PointsEntry.user_id)
        .group_by(PointsEntry.user_id, MemberAccount.points)
        .having(due > 0)
    ).all()
    touched = 0
    for user_id, credited, expirable, points in rows:
        consumed = credited - points
        amount = min(points, expirable - consumed)
        if amount > 0:
            add_points(session, user_id, -amount, PointsKind.EXPIRE, note=str(_l("Expired")))
            touched += 1
    session.commit()
    return touched


@dataclass
class Mismatch:
    user_id: int
    what: str  # points | growth
    balance: int
    ledger: int


def audit(session: Session) -> list[Mismatch]:
    """Every account's points and growth equal the sums of their ledgers (one query each)."""
    found = []
    for what, model, column in (
        ("points", PointsEntry, MemberAccount.points),
        ("growth", GrowthEntry, MemberAccount.growth),
    ):
        sums = select(model.user_id, func.sum(model.amount).label("total")).group_by(model.user_id).subquery()
        rows = session.execute(
            select(MemberAccount.user_id, column, func.coalesce(sums.c.total, 0))
            .outerjoin(sums, sums.c.user_id == MemberAccount.user_id)
            .where(column != func.coalesce(sums.c.total, 0))
        ).all()
        found += [Mismatch(user_id, what, bal, total) for user_id, bal, total in rows]
    return found


def history(
    session: Session, user_id: int, *, limit: int = 50, before_id: int | None = None
) -> list[PointsEntry]:
    """The shopper's points entries, newest first; `before_id`: only those older than that entry (a page)."""
    query = select(PointsEntry).where(PointsEntry.user_id == user_id)
    if before_id is not None:
        query = query.where(PointsEntry.id < before_id)
    return list(session.scalars(query.order_by(PointsEntry.id.desc()).limit(limit)))


def rules_words(settings) -> str:
    """How points are earned, spent and expire, in words (my points page, and the API)."""
    words = str(
        _l(
            "Earn %(n)d points for every ¥1 of a completed order; %(points)d points take %(amount)s off at "
            "checkout.",
            n=settings.earn_per_yuan,
            points=100,
            amount=format_fen(100 * settings.fen_per_point),
        )
    )
    if settings.points_expiry_months:
        words += " " + str(
            _nl(
                "Points expire %(num)d month after they are earned.",
                "Points expire %(num)d months after they are earned.",
                settings.points_expiry_months,
            )
        )
    return words


KIND_LABELS = {
    PointsKind.EARN: _l("Order completed"),
    PointsKind.SPEND: _l("Used for an order"),
    PointsKind.RETURN: _l("Returned"),
    PointsKind.REVOKE: _l("Taken back after a refund"),
    PointsKind.EXPIRE: _l("Expired"),
    PointsKind.ADJUST: _l("Adjusted by the shop"),
}
