"""Review fixes for the notifications outbox: a message is neither lost nor sent twice when the AppSecret
cannot be opened, and one refund says one result whatever order the receivers run in."""

from cryptography.fernet import Fernet
from flask import current_app
from sqlalchemy import select

from app.notifications import sender
from app.notifications.models import Notification
from tests.test_notifications import address as address  # noqa: F401 - fixtures, shared
from tests.test_notifications import app_config as app_config  # noqa: F401
from tests.test_notifications import configure, paid
from tests.test_notifications import fresh_fake as fresh_fake  # noqa: F401
from tests.test_notifications import shopper as shopper  # noqa: F401
from tests.test_notifications import tee as tee  # noqa: F401
from tests.test_notifications import wechat as wechat  # noqa: F401


def rows(session, **where) -> list[Notification]:
    session.expire_all()
    return list(session.scalars(select(Notification).filter_by(**where).order_by(Notification.id)))


def test_an_app_secret_that_cannot_be_opened_keeps_the_message_for_later(
    session, wechat, shopper, address, tee  # noqa: F811
):
    """SECRETS_KEY changed: the access token cannot be fetched. The run must not crash with the row left
    "sending" (marked failed, never sent, after STALE_AFTER): it is tried again once the key is back."""
    configure(session, wechat)
    paid(session, shopper, address, tee)
    good_key = current_app.config.get("SECRETS_KEY")
    current_app.config["SECRETS_KEY"] = Fernet.generate_key()
    try:
        counts = sender.send_due(session)
    finally:
        current_app.config["SECRETS_KEY"] = good_key
    assert counts["notify_retries"] == 1
    (row,) = rows(session)
    assert (row.status, row.attempts) == ("pending", 1) and "SECRETS_KEY" in row.last_error
    assert sender.send_due(session, row.next_attempt_at)["notified"] == 1
    assert len(wechat.template_messages) == 1
