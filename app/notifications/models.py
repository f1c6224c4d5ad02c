"""The notification settings (one row) and the outbox of template messages waiting, sent or given up."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import JSON, String

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


class NotificationSettings(IdPrimaryKey, db.Model):
    """On/off, and per message type (app.notifications.kinds) {"on": bool, "template_id": str, "mapping":
    "first=…\\nkeyword1={order_no}"}: which template keyword gets which text."""

    __tablename__ = "notification_settings"

    enabled: Mapped[bool] = mapped_column(default=False)
    templates: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
    SENDING = "sending"  # claimed by one run of the job, which is calling WeChat now
    SENT = "sent"
    FAILED = "failed"  # tried MAX_ATTEMPTS times, or interrupted while sending: never tried again
    GAVE_UP = "gave_up"  # WeChat said the user does not follow the account (43004): not retried


class Notification(IdPrimaryKey, db.Model):
    """One template message, rendered when its event happened (in the event's transaction): the job only
    adds the access token and posts `touser`, `template_id`, `url` and `data`."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_notifications_created_at", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    openid: Mapped[str] = mapped_column(String(64))
    template_id: Mapped[str] = mapped_column(String(64))
    url_path: Mapped[str] = mapped_column(String(200), default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    reference: Mapped[str] = mapped_column(String(64), default="")  # the order number, withdrawal id, …
    status: Mapped[str] = mapped_column(String(12), default=NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    msgid: Mapped[str] = mapped_column(String(32), default="")
    last_error: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
