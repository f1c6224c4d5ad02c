"""`flask notifications send`: post the outbox's due messages to WeChat, each by one run only.

A row is claimed by one conditional UPDATE (pending and due → sending), committed before WeChat is called,
so of two runs at once (or two hosts) only one gets it; it is then marked sent, or put back to pending for
a later attempt (1, 5, 30 minutes, 2 hours), or failed after MAX_ATTEMPTS. A sent row is never claimed
again. Two windows are left where WeChat may have taken the message without our knowing: a send that got no
answer (read timeout, connection dropped once the request went), which is marked failed at once, and a run
that dies before it marks the row: that row stays "sending" and, after STALE_AFTER, is marked failed — in
both cases without another attempt, so the message is sent at most once (a lost message is better than a
repeated one)."""

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.notifications.models import Notification, NotificationStatus
from app.payments import wechat_web
from app.timeutil import utcnow

SEND_PATH = "/cgi-bin/message/template/send"
RETRY_AFTER = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1
STALE_AFTER = timedelta(minutes=10)
BATCH = 200
GIVE_UP_RUN_AFTER = 5  # messages refused in a row (network down, WeChat busy) before a run stops early
TOKEN_INVALID = {40001, 42001}  # invalid / expired access token: fetch a new one, once
NOT_FOLLOWING = 43004  # "require subscribe": the user no longer follows the account
# Refusals about this one message (openid not of this account, template ID, data format or a value WeChat's
# rules refuse): tried again like any refusal, but they say nothing of the next message, so they do not count
# towards stopping the run early (which is for WeChat down, busy, or refusing the shop as a whole).
ABOUT_THIS_MESSAGE = {40003, 40037, 47001, 47003}


def request_body(notification: Notification) -> dict:
    """WeChat's template message: touser, template_id, url (PUBLIC_URL + the row's path), data."""
    body = {"touser": notification.openid, "template_id": notification.template_id, "data": notification.data}
    base = current_app.config.get("PUBLIC_URL")
    if base and notification.url_path:
        body["url"] = base + notification.url_path
    return body


def send_one(session: Session, body: dict) -> tuple[str, str]:
    """Post one message: ("sent", msgid), ("gave_up", why), ("unsure", why) when it may have arrived,
    ("refused", why) when WeChat refused this message itself (ABOUT_THIS_MESSAGE), or ("retry", why). An
    invalid token is dropped and the message posted again with a new one, once."""
    for attempt in (1, 2):
        try:
            token, answer = wechat_web.post_with_token(session, SEND_PATH, body)
        except wechat_web.WechatNoAnswer as error:
            return "unsure", f"{error}: no answer, it may have arrived; not tried again, never sent twice"
        except wechat_web.WechatApiError as error:
            return "retry", str(error)
        code = answer.get("errcode", 0)
        if code == 0:
            return "sent", str(answer.get("msgid", ""))
        why = f"errcode {code} {answer.get('errmsg', '')}".strip()
        if code in TOKEN_INVALID and attempt == 1:
            wechat_web.forget_access_token(session, token)
            continue
        if code == NOT_FOLLOWING:
            return "gave_up", why
        return ("refused" if code in ABOUT_THIS_MESSAGE else "retry"), why
    return "retry", why


def _claim(session: Session, notification_id: int, now: datetime) -> bool:
    claimed = session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= now,
        )
        .values(status=NotificationStatus.SENDING, claimed_at=now, attempts=Notification.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return bool(claimed)


def _finish(session: Session, notification_id: int, outcome: str, detail: str, now: datetime) -> str:
    notification = session.get(Notification, notification_id, populate_existing=True)
    values: dict = {"last_error": ""}
    if outcome == "sent":
        values |= {"status": NotificationStatus.SENT, "sent_at": now, "msgid": detail[:32]}
    elif outcome == "gave_up":
        values |= {"status": NotificationStatus.GAVE_UP, "last_error": detail[:200]}
    elif outcome == "unsure" or notification.attempts >= MAX_ATTEMPTS:
        outcome, values = "failed", {"status": NotificationStatus.FAILED, "last_error": detail[:200]}
    else:
        values |= {
            "status": NotificationStatus.PENDING,
            "next_attempt_at": now + RETRY_AFTER[notification.attempts - 1],
            "last_error": detail[:200],
        }
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.status == NotificationStatus.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return outcome


def send_due(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Send what is due; counts for the job's record."""
    now = now or utcnow()
    counts = {"notified": 0, "notify_retries": 0, "notify_failed": 0}
    stale = session.execute(
        update(Notification)
        .where(Notification.status == NotificationStatus.SENDING, Notification.claimed_at < now - STALE_AFTER)
        .values(
            status=NotificationStatus.FAILED,
            last_error="interrupted while sending; not tried again so it is never sent twice",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    counts["notify_failed"] += stale
    due = list(
        session.scalars(
            select(Notification.id)
            .where(Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now)
            .order_by(Notification.id)
            .limit(BATCH)
        )
    )
    session.commit()
    failures_in_a_row = 0
    for notification_id in due:
        if failures_in_a_row >= GIVE_UP_RUN_AFTER:
            break  # WeChat is down or refusing everything: the rest wait, untouched, for the next run
        if not _claim(session, notification_id, now):
            continue  # another run has it
        notification = session.get(Notification, notification_id, populate_existing=True)
        body = request_body(notification)
        session.commit()  # no transaction stays open while WeChat answers
        outcome, detail = send_one(session, body)
        if outcome in ("retry", "unsure"):
            failures_in_a_row += 1
        elif outcome != "refused":
            failures_in_a_row = 0
        outcome = _finish(session, notification_id, "retry" if outcome == "refused" else outcome, detail, now)
        key = {"sent": "notified", "retry": "notify_retries"}.get(outcome, "notify_failed")
        counts[key] += 1
    return counts
