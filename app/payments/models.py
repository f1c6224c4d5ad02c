"""The merchant's gateway credentials (secrets sealed with app.secrets_box) and shared API tokens."""

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


class PaymentSettings(db.Model):
    """One row. Columns ending in _sealed hold encrypted secrets; they are never shown back in full."""

    __tablename__ = "payment_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    wechat_enabled: Mapped[bool] = mapped_column(default=False)
    wechat_h5_enabled: Mapped[bool] = mapped_column(default=False)
    wechat_appid: Mapped[str] = mapped_column(String(32), default="")
    wechat_mchid: Mapped[str] = mapped_column(String(32), default="")
    wechat_serial_no: Mapped[str] = mapped_column(String(64), default="")
    wechat_public_key_id: Mapped[str] = mapped_column(String(64), default="")
    wechat_public_key: Mapped[str] = mapped_column(Text, default="")
    wechat_apiv3_key_sealed: Mapped[str | None] = mapped_column(Text)
    wechat_private_key_sealed: Mapped[str | None] = mapped_column(Text)
    wechat_app_secret_sealed: Mapped[str | None] = mapped_column(Text)
    alipay_enabled: Mapped[bool] = mapped_column(default=False)
    alipay_app_id: Mapped[str] = mapped_column(String(32), default="")
    alipay_public_key: Mapped[str] = mapped_column(Text, default="")
    alipay_private_key_sealed: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApiToken(db.Model):
    """Short-lived gateway data (WeChat access token, JS-SDK ticket, WeChat Pay platform certificates), kept
    where every worker sees them; `expires_at` is when to fetch again."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
