"""Distributor grades (DISTRIBUTION.md, "Grades and automatic upgrade"): the upgrade conditions a grade may
carry, the three figures they are measured on, the automatic upgrade (never down), the merchant's change by
hand, the append-only grade log, and what a distributor still needs for the next grade.

The figures, for every distributor at once or for the few whose figures just changed, come from one
set-based query; the upgrade locks only the rows it is about to change and re-reads their grade under the
lock, so two checks at the same moment log one change.

A change by hand pins the grade: from then on an automatic upgrade needs a condition of the higher grade
that has become true since the change (measured against the figures the log kept at the change). What
already held when the merchant decided does not undo their decision; a new achievement does.

Spend counts once an order is completed (received), not at payment, so that paying and refunding at once
cannot buy a grade. "No grade" (the shop's rates) is where every distributor starts, below every grade, so
any grade — the lowest too — may carry conditions; a grade without any is given by hand only.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased

from app.accounts.models import User
from app.distribution import engine
from app.distribution.dividend_settings import GradeChange, check_grade
from app.distribution.models import (
    DistributionSettings,
    Distributor,
    DistributorGrade,
    DistributorGradeLog,
    DistributorStatus,
    EntryKind,
    GradeChangeKind,
    LedgerEntry,
)
from app.distribution.services import DistributionError
from app.money import format_fen
from app.orders.models import Order, OrderStatus
from app.timeutil import utcnow

UPGRADE_MODES = ("all", "any")
# Each condition: its name, the grade's threshold column, and the figure it is measured on.
CONDITIONS = (
    ("commission", "min_commission_fen"),
    ("own_spend", "min_own_spend_fen"),
    ("team_spend", "min_team_spend_fen"),
)
# Commission earned: what was released, less what refunds clawed back afterwards.
EARNED_KINDS = (EntryKind.RELEASE.value, EntryKind.CLAWBACK.value)
LOCK_CHUNK = 500
REASON_MAX = 200


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Figures:
    commission: int = 0
    own_spend: int = 0
    team_spend: int = 0

    def of(self, kind: str) -> int:
        return getattr(self, kind)


def conditions(grade: DistributorGrade) -> list[tuple[str, int]]:
    """The grade's conditions as (figure, threshold); empty: the grade is given by hand only."""
    return [
        (kind, getattr(grade, column)) for kind, column in CONDITIONS if getattr(grade, column) is not None
    ]


def holds(grade: DistributorGrade, figures: Figures) -> bool:
    met = [figures.of(kind) >= threshold for kind, threshold in conditions(grade)]
    if not met:
        return False
    return all(met) if grade.upgrade_mode == "all" else any(met)


def reachable(grade: DistributorGrade, figures: Figures, pinned: Figures | None) -> bool:
    """Whether the grade's conditions hold now — and, after a change by hand (`pinned`: the figures then),
    whether one of them has become true since."""
    if not holds(grade, figures):
        return False
    return pinned is None or any(
        figures.of(kind) >= threshold > pinned.of(kind) for kind, threshold in conditions(grade)
    )


def ladder(session: Session) -> list[DistributorGrade]:
    """Every grade, lowest first (the back office's order: smaller sort first)."""
    return list(
        session.scalars(select(DistributorGrade).order_by(DistributorGrade.sort, DistributorGrade.id))
    )


def target_grade(
    grades: list[DistributorGrade], current_id: int | None, figures: Figures, pinned: Figures | None
) -> DistributorGrade | None:
    """The highest grade above the current one that the distributor has reached, or None (never down)."""
    ranks = {grade.id: rank for rank, grade in enumerate(grades)}
    current = ranks.get(current_id, -1)
    for grade in reversed(grades[current + 1 :]):
        if reachable(grade, figures, pinned):
            return grade
    return None


@dataclass
class ConditionsInput:
    upgrade_mode: str = "all"
    min_commission_fen: int | None = None
    min_own_spend_fen: int | None = None
    min_team_spend_fen: int | None = None


def check_conditions(data: ConditionsInput) -> None:
    if data.upgrade_mode not in UPGRADE_MODES:
        raise DistributionError(
            _l("Choose whether all the conditions or any one of them is needed."), "upgrade_mode"
        )
    for _kind, column in CONDITIONS:
        value = getattr(data, column)
        if value is None:
            continue
        if value < 0:
            raise DistributionError(_l("An upgrade condition cannot be negative."), column)
        if value == 0:
            raise DistributionError(
                _l("A condition of ¥0 always holds: leave it empty if this figure does not count."), column
            )


# ---------------------------------------------------------------- saving grades


def save_grade(
    session: Session,
    grade: DistributorGrade | None,
    *,
    name: str,
    rates_bp: list[int] | None,
    sort: int = 0,
    upgrade: ConditionsInput | None = None,
    dividend_ratio_bp: int | None = None,
) -> DistributorGrade:
    name = " ".join((name or "").split())
    if not name or len(name) > 20:
        raise DistributionError(_l("Please name the grade (at most 20 characters)."), "name")
    if rates_bp is not None:
        try:
            engine.check_vector(rates_bp)
        except ValueError:
            raise DistributionError(
                _l("The rates add up to more than 30%, the most WeChat Pay allows."), "rates_bp"
            ) from None
    upgrade = upgrade or ConditionsInput()
    check_conditions(upgrade)
    if dividend_ratio_bp is None:  # not on the form: keep the grade's
        dividend_ratio_bp = grade.dividend_ratio_bp if grade is not None else 0
    check_grade(session, GradeChange(grade.id if grade else None, name, rates_bp, dividend_ratio_bp))
    grade = grade or DistributorGrade()
    grade.name, grade.rates_bp, grade.sort = name, rates_bp, sort
    grade.dividend_ratio_bp = dividend_ratio_bp
    grade.upgrade_mode = upgrade.upgrade_mode
    for _kind, column in CONDITIONS:
        setattr(grade, column, getattr(upgrade, column))
    session.add(grade)
    session.flush()
    return grade


# ---------------------------------------------------------------- the figures


@dataclass
class Standing:
    distributor_id: int
    grade_id: int | None
    figures: Figures
    pinned: Figures | None  # the figures at the last change by hand, unless an upgrade came after it


def standings(session: Session, scope=None, *, now: datetime | None = None, active_only: bool = True):
    """Each distributor's grade and figures, in one query. `scope`: distributor ids (a list or a select),
    or None for every distributor.

    - commission: released commission less claw-backs (ledger entries of kind release and clawback);
    - own spend: goods paid on their completed orders, less refunds (shipping is not spend);
    - team spend: the same, of the members bound to them now (level 1), on orders paid since the binding.
    """
    now = now or utcnow()
    if scope is not None and not isinstance(scope, list | tuple | set):
        # A select of ids becomes a derived table, so that it is never correlated with the queries below.
        ids = scope.subquery()
        scope = select(ids.c[0])
    goods = Order.total_fen - Order.shipping_fen - Order.refunded_fen
    scope_users = select(Distributor.user_id).where(Distributor.id.in_(scope)) if scope is not None else None

    earned = select(
        LedgerEntry.distributor_id.label("distributor_id"),
        func.sum(LedgerEntry.available_delta_fen).label("fen"),
    ).where(LedgerEntry.kind.in_(EARNED_KINDS))
    own = select(Order.user_id.label("user_id"), func.sum(goods).label("fen")).where(
        Order.status == OrderStatus.COMPLETED
    )
    team = (
        select(User.referrer_id.label("user_id"), func.sum(goods).label("fen"))
        .join(Order, Order.user_id == User.id)
        .where(
            Order.status == OrderStatus.COMPLETED,
            Order.paid_at >= User.referrer_bound_at,
            or_(User.referrer_until.is_(None), User.referrer_until > now),
        )
    )
    # The pin is the latest change by hand, however many automatic ones came after it: an upgrade to a
    # lower grade (a new achievement for it) must not open the way back to the grade the merchant removed.
    latest = select(
        DistributorGradeLog.distributor_id, func.max(DistributorGradeLog.id).label("log_id")
    ).where(DistributorGradeLog.kind == GradeChangeKind.MANUAL)
    if scope is not None:
        earned = earned.where(LedgerEntry.distributor_id.in_(scope))
        own = own.where(Order.user_id.in_(scope_users))
        team = team.where(User.referrer_id.in_(scope_users))
        latest = latest.where(DistributorGradeLog.distributor_id.in_(scope))
    earned = earned.group_by(LedgerEntry.distributor_id).subquery()
    own = own.group_by(Order.user_id).subquery()
    team = team.group_by(User.referrer_id).subquery()
    latest = latest.group_by(DistributorGradeLog.distributor_id).subquery()
    pin = aliased(DistributorGradeLog)
    query = (
        select(
            Distributor.id,
            Distributor.grade_id,
            func.coalesce(earned.c.fen, 0),
            func.coalesce(own.c.fen, 0),
            func.coalesce(team.c.fen, 0),
            pin.kind,
            pin.commission_fen,
            pin.own_spend_fen,
            pin.team_spend_fen,
        )
        .outerjoin(earned, earned.c.distributor_id == Distributor.id)
        .outerjoin(own, own.c.user_id == Distributor.user_id)
        .outerjoin(team, team.c.user_id == Distributor.user_id)
        .outerjoin(latest, latest.c.distributor_id == Distributor.id)
        .outerjoin(pin, pin.id == latest.c.log_id)
    )
    if scope is not None:
        query = query.where(Distributor.id.in_(scope))
    if active_only:
        query = query.where(Distributor.status == DistributorStatus.ACTIVE)
    for row in session.execute(query):
        pinned = Figures(*(int(v) for v in row[6:9])) if row[5] is not None else None
        yield Standing(row[0], row[1], Figures(*(int(v) for v in row[2:5])), pinned)


def figures_of(session: Session, distributor: Distributor) -> Figures:
    found = next(standings(session, [distributor.id], active_only=False), None)
    return found.figures if found else Figures()


# ---------------------------------------------------------------- upgrading


def check_upgrades(session: Session, scope=None, *, now: datetime | None = None) -> int:
    """Move each distributor in `scope` (ids, a select of ids, or None: all) up to the highest grade they
    have reached; never down. Returns how many moved. Cheap when no grade has conditions."""
    grades = ladder(session)
    if not any(conditions(grade) for grade in grades):
        return 0
    now = now or utcnow()
    due = {}
    for standing in standings(session, scope, now=now):
        target = target_grade(grades, standing.grade_id, standing.figures, standing.pinned)
        if target is not None:
            due[standing.distributor_id] = (standing, target)
    if not due:
        return 0
    names = {grade.id: grade.name for grade in grades}
    moved = []
    ids = sorted(due)
    for start in range(0, len(ids), LOCK_CHUNK):
        moved += _upgrade_locked(session, ids[start : start + LOCK_CHUNK], due, names, now)
    _forget_loaded_grades(session, moved)
    return len(moved)


def _upgrade_locked(session: Session, ids: list[int], due: dict, names: dict, now: datetime) -> list[int]:
    """Lock the rows (in id order, so that two checks never wait on each other in a circle), keep those whose
    grade is still the one the decision was made on, and move them with one UPDATE per (from, to) pair."""
    locked = dict(
        session.execute(
            select(Distributor.id, Distributor.grade_id)
            .where(Distributor.id.in_(ids))
            .order_by(Distributor.id)
            .with_for_update()
        ).all()
    )
    groups: dict[tuple, list[int]] = defaultdict(list)
    for distributor_id in ids:
        standing, target = due[distributor_id]
        if distributor_id in locked and locked[distributor_id] == standing.grade_id:
            groups[(standing.grade_id, target.id)].append(distributor_id)
    logs = []
    for (from_id, to_id), members in groups.items():
        session.execute(
            update(Distributor)
            .where(Distributor.id.in_(members), _grade_is(from_id))
            .values(grade_id=to_id)
            .execution_options(synchronize_session=False)
        )
        for distributor_id in members:
            figures = due[distributor_id][0].figures
            logs.append(
                {
                    "distributor_id": distributor_id,
                    "from_grade_id": from_id,
                    "to_grade_id": to_id,
                    "from_name": names.get(from_id),
                    "to_name": names[to_id],
                    "kind": GradeChangeKind.AUTOMATIC.value,
                    "reason": "",
                    "commission_fen": figures.commission,
                    "own_spend_fen": figures.own_spend,
                    "team_spend_fen": figures.team_spend,
                    "created_at": now,
                }
            )
    if logs:
        session.execute(insert(DistributorGradeLog), logs)
    return [log["distributor_id"] for log in logs]


def _grade_is(grade_id: int | None):
    return Distributor.grade_id.is_(None) if grade_id is None else Distributor.grade_id == grade_id


def _forget_loaded_grades(session: Session, distributor_ids: list[int]) -> None:
    """The UPDATEs went round the session: loaded distributors re-read their grade when next asked."""
    for distributor_id in distributor_ids:
        # Looked up by identity, so that an expired distributor is not loaded just to be expired again.
        loaded = session.identity_map.get(session.identity_key(Distributor, distributor_id))
        if loaded is not None:
            session.expire(loaded, ["grade_id", "grade"])


def people_of_order(order: Order) -> object:
    """The distributors whose figures an order moves: the buyer (own spend) and the member they are bound
    to (team spend). Commission receivers are checked by the release."""
    user_ids = [order.user_id]
    if order.user is not None and order.user.referrer_id is not None:
        user_ids.append(order.user.referrer_id)
    return select(Distributor.id).where(Distributor.user_id.in_(user_ids))


# ---------------------------------------------------------------- by hand


def change_grade_by_hand(
    session: Session, distributor: Distributor, grade_id: int | None, *, reason: str, actor: User
) -> DistributorGradeLog:
    """The merchant sets any grade (up or down, or none), with a reason kept in the log and shown to the
    distributor. The grade is read under a row lock: a concurrent upgrade or change waits, then is refused
    or sees this one."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise DistributionError(_l("Please give a reason: it is kept in the grade log."), "reason")
    if len(reason) > REASON_MAX:
        raise DistributionError(_l("At most %(n)d characters.", n=REASON_MAX), "reason")
    grade = session.get(DistributorGrade, grade_id) if grade_id is not None else None
    if grade_id is not None and grade is None:
        raise DistributionError(_l("This grade does not exist."), "grade_id")
    current_id = session.execute(
        select(Distributor.grade_id).where(Distributor.id == distributor.id).with_for_update()
    ).scalar_one()
    if current_id == grade_id:
        raise DistributionError(_l("The distributor already has this grade."), "grade_id")
    current = session.get(DistributorGrade, current_id) if current_id is not None else None
    figures = figures_of(session, distributor)
    session.execute(
        update(Distributor)
        .where(Distributor.id == distributor.id, _grade_is(current_id))
        .values(grade_id=grade_id)
        .execution_options(synchronize_session=False)
    )
    log = DistributorGradeLog(
        distributor_id=distributor.id,
        from_grade_id=current_id,
        to_grade_id=grade_id,
        from_name=current.name if current else None,
        to_name=grade.name if grade else None,
        kind=GradeChangeKind.MANUAL,
        reason=reason,
        actor_id=actor.id,
        commission_fen=figures.commission,
        own_spend_fen=figures.own_spend,
        team_spend_fen=figures.team_spend,
        created_at=utcnow(),
    )
    session.add(log)
    session.flush()
    _forget_loaded_grades(session, [distributor.id])
    return log


def delete_grade(session: Session, grade: DistributorGrade, *, actor: User) -> int:
    """The merchant deletes a grade: its distributors fall back to no grade (the shop's rates), each with a
    line in their grade log, then move up to any other grade they have reached. Commission already written
    keeps the rates it was worked out with. Returns how many distributors held it."""
    now = utcnow()
    reason = str(_l("The shop removed the grade “%(name)s”.", name=grade.name))[:REASON_MAX]
    held = select(Distributor.id).where(Distributor.grade_id == grade.id).with_for_update()
    ids = list(session.scalars(held))
    if ids:
        session.execute(
            insert(DistributorGradeLog),
            [
                {
                    "distributor_id": distributor_id,
                    "from_grade_id": None,  # the grade is going: its name is what the log keeps
                    "to_grade_id": None,
                    "from_name": grade.name,
                    "to_name": None,
                    "kind": GradeChangeKind.GRADE_DELETED,
                    "reason": reason,
                    "actor_id": actor.id,
                    "created_at": now,
                }
                for distributor_id in ids
            ],
        )
        session.execute(
            update(Distributor)
            .where(Distributor.id.in_(ids), Distributor.grade_id == grade.id)
            .values(grade_id=None)
            .execution_options(synchronize_session=False)
        )
        _forget_loaded_grades(session, ids)
    session.delete(grade)
    session.flush()
    if ids:
        check_upgrades(session, ids, now=now)
    return len(ids)


def grade_log(session: Session, distributor_id: int, limit: int = 20) -> list[DistributorGradeLog]:
    """One distributor's grade changes, newest first."""
    return list(
        session.scalars(
            select(DistributorGradeLog)
            .where(DistributorGradeLog.distributor_id == distributor_id)
            .order_by(DistributorGradeLog.id.desc())
            .limit(limit)
        )
    )


# ---------------------------------------------------------------- what the next grade needs


FIGURE_LABELS = {
    "commission": _l("Commission earned"),
    "own_spend": _l("Own spend"),
    "team_spend": _l("Direct referrals' spend"),
}
NEED_TEXTS = {
    "commission": _l("earn %(amount)s more commission"),
    "own_spend": _l("spend %(amount)s more"),
    "team_spend": _l("promote %(amount)s more"),
}


@dataclass
class Need:
    kind: str
    have_fen: int
    need_fen: int

    @property
    def more_fen(self) -> int:
        return max(self.need_fen - self.have_fen, 0)

    @property
    def percent(self) -> int:
        return min(self.have_fen * 100 // self.need_fen, 100)

    @property
    def label(self) -> str:
        return str(FIGURE_LABELS[self.kind])

    @property
    def text(self) -> str:
        return str(NEED_TEXTS[self.kind] % {"amount": format_fen(self.more_fen)})


@dataclass
class GradeProgress:
    grade: DistributorGrade | None
    rates_bp: list[int]
    figures: Figures
    next_grade: DistributorGrade | None = None
    needs: list[Need] | None = None
    ready: bool = False  # the next grade's conditions hold: the next check moves them
    at_top: bool = False  # the highest grade of the shop's ladder: nothing left to reach

    @property
    def headline(self) -> str:
        if self.next_grade is None:
            return str(_l("You hold the shop's highest grade.")) if self.at_top else ""
        if self.ready:
            return str(
                _l(
                    "You meet the conditions of %(grade)s: the upgrade comes shortly.",
                    grade=self.next_grade.name,
                )
            )
        if len(self.needs) == 1:
            return str(_l("%(need)s to reach %(grade)s", need=self.needs[0].text, grade=self.next_grade.name))
        return str(_l("To reach %(grade)s:", grade=self.next_grade.name))


def progress(session: Session, distributor: Distributor, settings: DistributionSettings) -> GradeProgress:
    """The distributor's grade, the rates it gives, and what the next grade they can still reach by
    themselves needs: every missing condition (all of), or the closest one (any of)."""
    found = next(standings(session, [distributor.id], active_only=False), None)
    figures, pinned = (found.figures, found.pinned) if found else (Figures(), None)
    grade = distributor.grade
    rates = (
        list(grade.rates_bp)
        if grade and grade.rates_bp is not None
        else list(settings.rates_bp[: settings.levels])
    )
    result = GradeProgress(grade=grade, rates_bp=rates, figures=figures)
    grades = ladder(session)
    ranks = {g.id: rank for rank, g in enumerate(grades)}
    result.at_top = bool(grades) and grades[-1].id == distributor.grade_id
    for candidate in grades[ranks.get(distributor.grade_id, -1) + 1 :]:
        # Conditions that already held at a change by hand cannot move them: only the others count.
        open_ = [(k, t) for k, t in conditions(candidate) if pinned is None or pinned.of(k) < t]
        if not open_:
            continue
        result.next_grade = candidate
        if reachable(candidate, figures, pinned):
            result.ready, result.needs = True, []
            return result
        missing = [
            Need(k, figures.of(k), t)
            for k, t in (conditions(candidate) if candidate.upgrade_mode == "all" else open_)
            if figures.of(k) < t
        ]
        if candidate.upgrade_mode == "any":
            # The closest: the smallest share still missing (cross-multiplied, no fractions).
            missing = [min(missing, key=lambda n: _Ratio(n.more_fen, n.need_fen))]
        result.needs = missing
        return result
    return result


@dataclass(frozen=True)
class _Ratio:
    top: int
    bottom: int

    def __lt__(self, other: "_Ratio") -> bool:
        return self.top * other.bottom < other.top * self.bottom
