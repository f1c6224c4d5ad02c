"""Where a shipped parcel is. With the shop's 快递100 key the trace is fetched by a job (`flask orders track`,
each order at most every few hours until it is signed for) and when an order page is opened on a copy older
than half an hour (快递100 locks a number queried more often) — with a short timeout: on failure the page
shows the copy it has, with its age. The copy is kept in order_trackings. Without a key the order pages
link to the carrier's own tracking page.

A parcel signed for (state 3, ischeck 1) stamps the order's signed_at once: automatic receipt counts from
then (transitions.autocomplete_orders)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.orders import kuaidi100
from app.orders.carriers import carrier_label, carrier_link, carrier_of
from app.orders.events import record_event
from app.orders.models import Order, OrderStatus, OrderTracking
from app.settings.services import get_shop_settings, kuaidi100_credentials
from app.timeutil import SHOP_TZ, utcnow

# 快递100's state codes (the "state" of its answer) as the shopper reads them.
STATE_LABELS = {
    "0": _l("In transit"),
    "1": _l("Picked up"),
    "2": _l("Delivery problem"),
    "3": _l("Signed for"),
    "4": _l("Returned and signed for by the sender"),
    "5": _l("Out for delivery"),
    "6": _l("Being returned"),
    "7": _l("Transferred to another carrier"),
    "8": _l("In customs"),
    "10": _l("Awaiting customs clearance"),
    "11": _l("In customs"),
    "12": _l("Cleared customs"),
    "13": _l("Customs problem"),
    "14": _l("Refused by the recipient"),
}
SIGNED_STATE = "3"
PAGE_REFRESH_AFTER = timedelta(minutes=30)  # 快递100: query a number at most every half hour
PAGE_TIMEOUT = 2.5  # seconds an order page may wait for 快递100
JOB_TIMEOUT = 10.0
JOB_EVERY = timedelta(hours=4)  # KUAIDI100_JOB_HOURS overrides


def _credentials(session: Session) -> tuple[str, str] | None:
    return kuaidi100_credentials(get_shop_settings(session))


def _queryable(order: Order) -> bool:
    return order.status == OrderStatus.SHIPPED and bool(order.tracking_no) and carrier_of(order) is not None


def _claim(session: Session, order_id: int, now: datetime, min_age: timedelta) -> bool:
    """Take the right to query this order now: True when its last attempt is older than min_age (or there
    was none). The claim is committed before 快递100 is asked, so two pages or hosts never both ask."""
    if session.get(OrderTracking, order_id) is None:
        try:
            with session.begin_nested():
                session.execute(
                    insert(OrderTracking).values(order_id=order_id, attempted_at=now, signed=False)
                )
            session.commit()
            return True
        except IntegrityError:
            pass  # another page or host has just made it: the guarded update below decides
    claimed = session.execute(
        update(OrderTracking)
        .where(OrderTracking.order_id == order_id, OrderTracking.attempted_at <= now - min_age)
        .values(attempted_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return claimed.rowcount == 1


def _signed_time(trace: kuaidi100.Trace, order: Order, now: datetime) -> datetime:
    """When the parcel was signed for: the newest line's time (Beijing time), kept between shipping and now."""
    try:
        local = datetime.strptime(trace.data[0]["time"], "%Y-%m-%d %H:%M:%S")
        when = local.replace(tzinfo=SHOP_TZ).astimezone(UTC)  # a trace is in Beijing time
    except (IndexError, KeyError, ValueError):
        return now
    return max(min(when, now), order.shipped_at or when)


def refresh(session: Session, order: Order, *, min_age: timedelta, timeout: float) -> bool:
    """Ask 快递100 about the order's parcel if the last attempt is older than min_age; keep the answer (or the
    error beside the last good answer). Commits. True when 快递100 was asked."""
    credentials = _credentials(session)
    if credentials is None or not _queryable(order):
        return False
    now = utcnow()
    if not _claim(session, order.id, now, min_age):
        return False
    carrier = carrier_of(order)
    row = session.get(OrderTracking, order.id)
    try:
        trace = kuaidi100.query(
            *credentials, carrier.code, order.tracking_no, order.ship_mobile or "", timeout=timeout
        )
    except kuaidi100.Kuaidi100Error as error:
        row.error = str(error)[:200]
        session.commit()
        return True
    row.state, row.signed, row.data, row.fetched_at, row.error = (
        trace.state,
        trace.signed,
        trace.data,
        now,
        None,
    )
    if trace.signed and trace.state == SIGNED_STATE:
        signed_at = _signed_time(trace, order, now)
        stamped = session.execute(
            update(Order)
            .where(Order.id == order.id, Order.signed_at.is_(None))
            .values(signed_at=signed_at)
            .execution_options(synchronize_session=False)
        )
        if stamped.rowcount == 1:
            record_event(session, order, "signed_for", note=carrier_label(order))
    session.commit()
    session.refresh(order)
    return True


def job_interval() -> timedelta:
    hours = current_app.config.get("KUAIDI100_JOB_HOURS")
    return timedelta(hours=float(hours)) if hours else JOB_EVERY


def track_shipped_orders(session: Session, now: datetime | None = None) -> dict[str, int]:
    """`flask orders track`: ask about every shipped order not yet signed for whose last attempt is older
    than the job's interval, each in its own transaction."""
    if _credentials(session) is None:
        return {"tracked": 0}
    now = now or utcnow()
    interval = job_interval()
    ids = list(
        session.scalars(
            select(Order.id)
            .outerjoin(OrderTracking, OrderTracking.order_id == Order.id)
            .where(
                Order.status == OrderStatus.SHIPPED,
                Order.signed_at.is_(None),
                Order.tracking_no.is_not(None),
                or_(OrderTracking.attempted_at.is_(None), OrderTracking.attempted_at <= now - interval),
            )
            .order_by(Order.id)
        )
    )
    session.commit()
    counts = {"tracked": 0, "signed": 0, "tracking_errors": 0}
    for order_id in ids:
        order = session.get(Order, order_id)
        if not refresh(session, order, min_age=interval, timeout=JOB_TIMEOUT):
            continue
        counts["tracked"] += 1
        row = session.get(OrderTracking, order_id)
        if row.error:
            counts["tracking_errors"] += 1
        elif order.signed_at is not None:
            counts["signed"] += 1
    return counts


@dataclass
class TrackingView:
    """What an order page shows about the parcel."""

    carrier: str
    tracking_no: str
    link: str | None = None  # the carrier's own page (no key, or nothing fetched yet)
    state_label: str = ""
    lines: list[dict] = field(default_factory=list)  # newest first
    fetched_at: datetime | None = None
    failed: bool = False  # the last attempt failed: what is shown is older
    stale: bool = False  # old enough for the page to ask again (through the tracking fragment)
    has_key: bool = False


def tracking_view(session: Session, order: Order, now: datetime | None = None) -> TrackingView | None:
    """The parcel as last fetched, or the carrier's link; None before the order is shipped."""
    if not order.tracking_no:
        return None
    now = now or utcnow()
    view = TrackingView(carrier=carrier_label(order), tracking_no=order.tracking_no, link=carrier_link(order))
    view.has_key = _credentials(session) is not None
    if not view.has_key:
        return view  # no key (or removed): the carrier's own page, not a copy nobody updates
    row = session.get(OrderTracking, order.id)
    if row is not None and row.fetched_at is not None:
        view.lines = list(row.data or [])
        view.state_label = str(STATE_LABELS.get(row.state or "", _l("In transit")))
        view.fetched_at = row.fetched_at
    view.failed = bool(row is not None and row.error)
    view.stale = (
        view.has_key
        and _queryable(order)
        and order.signed_at is None
        and (row is None or row.attempted_at <= now - PAGE_REFRESH_AFTER)
    )
    return view


def refresh_for_page(session: Session, order: Order) -> None:
    """The order page's on-demand refresh: only on a copy older than half an hour, waiting briefly."""
    refresh(session, order, min_age=PAGE_REFRESH_AFTER, timeout=PAGE_TIMEOUT)
