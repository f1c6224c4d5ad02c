"""One row of shop-wide settings that the merchant edits in the back office."""

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import BigInteger, String, Text

from app.db_types import IdPrimaryKey, UTCDateTime
from app.extensions import db
from app.timeutil import utcnow


class ShopSettings(IdPrimaryKey, db.Model):
    __tablename__ = "shop_settings"

    name: Mapped[str] = mapped_column(String(40), default="")
    logo_key: Mapped[str | None] = mapped_column(String(80))
    service_phone: Mapped[str] = mapped_column(String(20), default="")
    service_wechat_qr_key: Mapped[str | None] = mapped_column(String(80))
    announcement: Mapped[str] = mapped_column(Text, default="")
    # The shop's own user agreement and privacy policy (plain text); empty shows the built-in ones.
    terms_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    privacy_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    low_stock_threshold: Mapped[int] = mapped_column(default=10)
    # Orders: shipping rule, how long an unpaid order holds its stock, automatic receipt.
    shipping_flat_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    free_shipping_over_fen: Mapped[int | None] = mapped_column(BigInteger)
    order_expire_minutes: Mapped[int] = mapped_column(default=30)
    autocomplete_days: Mapped[int] = mapped_column(default=10)
    # Manual transfer: the merchant's own payment QR code and/or bank details.
    manual_payment_enabled: Mapped[bool] = mapped_column(default=False)
    manual_payment_text: Mapped[str] = mapped_column(Text, default="")
    manual_payment_qr_key: Mapped[str | None] = mapped_column(String(80))
    # 快递100 (实时查询): the customer code and the key, sealed (app/secrets_box.py). Without them the order
    # pages link to the carrier's own tracking page.
    kuaidi100_customer: Mapped[str] = mapped_column(String(64), default="", server_default="")
    kuaidi100_key_sealed: Mapped[str | None] = mapped_column(Text)
    # After-sales: where returned goods go, and how long each side has to act (days).
    return_contact: Mapped[str] = mapped_column(String(20), default="", server_default="")
    return_phone: Mapped[str] = mapped_column(String(20), default="", server_default="")
    return_address: Mapped[str] = mapped_column(String(200), default="", server_default="")
    aftersales_reply_days: Mapped[int] = mapped_column(default=3, server_default="3")
    aftersales_return_days: Mapped[int] = mapped_column(default=7, server_default="7")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
