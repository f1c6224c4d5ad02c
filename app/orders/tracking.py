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
# States in which the parcel is not on its way to the buyer: 退签, 退回, 拒签 (returned or refused) and 疑难 (a
# problem the carrier has to sort out). While the latest trace says so the order is not received
# automatically, an event tells staff and shopper, and the back office flags it.
RETURNED_STATES = ("4", "6", "14")
PROBLEM_STATES = ("2",)
HELD_STATES = RETURNED_STATES + PROBLEM_STATES
NUMBER_LENGTHS = (6, 32)  # 快递100 takes numbers of 6 to 32 characters; others get the carrier's link
PAGE_REFRESH_AFTER = timedelta(minutes=30)  # 快递100: query a number at most every half hour
PAGE_TIMEOUT = 2.5  # seconds an order page may wait for 快递100
JOB_TIMEOUT = 10.0
JOB_EVERY = timedelta(hours=4)  # KUAIDI100_JOB_HOURS overrides
JOB_GIVES_UP_AFTER = 5  # consecutive failures to reach 快递100 end a job run (the next run tries again)
PAGES_PAUSE = timedelta(minutes=3)  # after a failure to reach 快递100, pages do not ask for this long
# What the back office says about the last failed query, by 快递100's code (or ours: timeout, network).
ERROR_NOTES = {
    "503": _l("快递100 refused the key. Check it in Settings › Delivery tracking."),
    "601": _l(
        "快递100 says the key has expired or has no queries left. Check it in Settings › Delivery tracking."
    ),
    "500": _l(
        "快递100 has no news of this parcel yet; a parcel shipped a short while ago appears within hours."
    ),
    "timeout": _l("快递100 did not answer in time; it will be asked again later."),
    "network": _l("快递100 could not be reached; it will be asked again later."),
}
HELD_NOTE = _l(
    "The carrier says this parcel is being returned, was refused or has a problem: the order will not be "
    "received automatically. Contact the buyer."
)
OTHER_ERROR_NOTE = _l("快递100 refused the last query (code %(code)s).")


def _credentials(session: Session) -> tuple[str, str] | None:
    return kuaidi100_credentials(get_shop_settings(session))


def _queryable(order: Order) -> bool:
    low, high = NUMBER_LENGTHS
    return (
        order.status == OrderStatus.SHIPPED
        and low <= len(order.tracking_no or "") <= high
        and carrier_of(order) is not None
    )


def key_unreadable(session: Session) -> bool:
    """A key is stored that this SECRETS_KEY cannot open: tracking is off until it is entered again."""
    settings = get_shop_settings(session)
    return (
        bool(settings.kuaidi100_customer and settings.kuaidi100_key_sealed) and _credentials(session) is None
    )


# A circuit breaker, per process (each worker learns on its own first failure): after a timeout or a network
# error, order pages stop asking 快递100 for PAGES_PAUSE, so a slow 快递100 does not hold every page.
def _pause_pages(now: datetime) -> None:
    current_app.extensions["kuaidi100_pages_paused_until"] = now + PAGES_PAUSE


def pages_paused(now: datetime | None = None) -> bool:
    until = current_app.extensions.get("kuaidi100_pages_paused_until")
    return until is not None and (now or utcnow()) < until


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


def _note_state(session: Session, order: Order, before: str | None, state: str) -> None:
    """An event when the parcel turns back or gets stuck (once per change of state), for staff and shopper."""
    if state in HELD_STATES and state != before:
        action = "parcel_returned" if state in RETURNED_STATES else "parcel_problem"
        record_event(session, order, action, note=f"{carrier_label(order)} {STATE_LABELS[state]}")


def refresh(session: Session, order: Order, *, min_age: timedelta, timeout: float) -> bool:
    """Ask 快递100 about the order's parcel if the last attempt is older than min_age; keep the answer (or the
    error beside the last good answer). Commits; no transaction is open while 快递100 is asked. True when
    快递100 was asked."""
    credentials = _credentials(session)
    if credentials is None or not _queryable(order):
        return False
    ask = (carrier_of(order).code, order.tracking_no, order.ship_mobile or "")  # read before the claim ends
    order_id, now = order.id, utcnow()  # the transaction: nothing is loaded while 快递100 is asked
    if not _claim(session, order_id, now, min_age):
        return False
    session.commit()  # (the claim committed; this makes sure nothing is open)
    try:
        trace = kuaidi100.query(*credentials, *ask, timeout=timeout)
    except kuaidi100.Kuaidi100Error as error:
        if error.code in kuaidi100.NETWORK_CODES:
            _pause_pages(utcnow())
        session.execute(
            update(OrderTracking)
            .where(OrderTracking.order_id == order_id)
            .values(error=str(error)[:200])
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return True
    row = session.get(OrderTracking, order_id, with_for_update=True)
    before = row.state if row.fetched_at is not None else None
    row.state, row.signed, row.data, row.fetched_at, row.error = (
        trace.state,
        trace.signed,
        trace.data,
        now,
        None,
    )
    _note_state(session, order, before, trace.state)
    if trace.signed and trace.state == SIGNED_STATE:
        signed_at = _signed_time(trace, order, now)
        stamped = session.execute(
            update(Order)
            .where(Order.id == order_id, Order.signed_at.is_(None))
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
        return {"tracked": 0, "key_unreadable": 1} if key_unreadable(session) else {"tracked": 0}
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
    unreachable = 0  # failures to reach 快递100 in a row
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
        unreachable = unreachable + 1 if error_code(row.error) in kuaidi100.NETWORK_CODES else 0
        if unreachable >= JOB_GIVES_UP_AFTER:
            counts["tracking_stopped"] = 1  # 快递100 is not answering: the next run tries again
            break
    return counts


def error_code(error: str | None) -> str:
    """The code of a stored error ("503: 验证签名失败" → "503"; kuaidi100.Kuaidi100Error's "code: message")."""
    return (error or "").partition(":")[0].strip()


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
    error_note: str = ""  # why, for staff
    held_note: str = ""  # the parcel is being returned or stuck: not received automatically
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
    if view.failed:
        code = error_code(row.error)
        view.error_note = str(ERROR_NOTES.get(code) or str(OTHER_ERROR_NOTE) % {"code": code})
    if row is not None and row.fetched_at is not None and row.state in HELD_STATES and _queryable(order):
        view.held_note = str(HELD_NOTE)
    view.stale = (
        view.has_key
        and _queryable(order)
        and order.signed_at is None
        and (row is None or row.attempted_at <= now - PAGE_REFRESH_AFTER)
    )
    return view


def refresh_for_page(session: Session, order: Order) -> None:
    """The order page's on-demand refresh: only on a copy older than half an hour, waiting briefly, and not
    for a few minutes after 快递100 failed to answer (pages_paused)."""
    if not pages_paused():
        refresh(session, order, min_age=PAGE_REFRESH_AFTER, timeout=PAGE_TIMEOUT)
