"""Payments of orders, the merchant's gateway credentials (secrets sealed with app.secrets_box) and shared API
tokens."""

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship
from sqlalchemy.types import JSON, BigInteger, String, Text

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.orders.models import Order
from app.timeutil import utcnow


class PaymentSettings(IdPrimaryKey, db.Model):
    """One row. Columns ending in _sealed hold encrypted secrets; they are never shown back in full."""

    __tablename__ = "payment_settings"

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
    # The WeChat mini-program (小程序) the JSON API serves: its own AppID and AppSecret, for wx.login
    # (code2session), its access token (小程序码) and JSAPI payments made inside it.
    mp_appid: Mapped[str] = mapped_column(String(32), default="")
    mp_app_secret_sealed: Mapped[str | None] = mapped_column(Text)
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


class PaymentStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"


class Payment(IdPrimaryKey, db.Model):
    """One attempt to pay an order through one provider. Money that arrives for an order that can no
    longer take it (cancelled, already paid) is kept here with needs_refund set — never lost."""

    __tablename__ = "payments"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PENDING, index=True)
    gateway_trade_no: Mapped[str | None] = mapped_column(String(64))
    raw_notify: Mapped[dict | None] = mapped_column(JSON)
    needs_refund: Mapped[bool] = mapped_column(default=False, index=True)
    refund_note: Mapped[str] = mapped_column(String(200), default="")
    # WeChat Pay: the AppID the attempt is opened for (the official account's or the mini-program's);
    # WeChat refuses one out_trade_no for two AppIDs. None for other providers.
    appid: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # Order.payments comes from here: orders know nothing of payments.
    order: Mapped[Order] = relationship(backref=backref("payments", order_by="Payment.id"))
