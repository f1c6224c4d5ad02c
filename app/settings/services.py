"""Reading and changing the shop's settings."""

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import UserError
from app.secrets_box import SecretsKeyMissing, hint, seal, unseal
from app.settings.models import ShopSettings

SETTINGS_ID = 1
LEGAL_TEXT_MAX = 20_000


class SettingsError(UserError):
    """A refusal of the shop settings."""


def get_shop_settings(session: Session) -> ShopSettings:
    """The settings row; an unsaved default when the merchant has not saved any yet."""
    settings = session.scalar(select(ShopSettings).where(ShopSettings.id == SETTINGS_ID))
    return settings or ShopSettings(
        id=SETTINGS_ID,
        name="",
        service_phone="",
        announcement="",
        low_stock_threshold=10,
        terms_text="",
        privacy_text="",
        shipping_flat_fen=0,
        order_expire_minutes=30,
        autocomplete_days=10,
        manual_payment_enabled=False,
        manual_payment_text="",
        kuaidi100_customer="",
        kuaidi100_key_sealed=None,
        return_contact="",
        return_phone="",
        return_address="",
        aftersales_reply_days=3,
        aftersales_return_days=7,
    )


def update_shop_settings(session: Session, **fields) -> ShopSettings:
    settings = session.get(ShopSettings, SETTINGS_ID, with_for_update=True)
    if settings is None:
        settings = ShopSettings(id=SETTINGS_ID)
        session.add(settings)
    name = (fields.get("name") or "").strip()
    if not name:
        raise SettingsError(_l("Please give the shop a name."), "name")
    settings.name = name
    settings.service_phone = (fields.get("service_phone") or "").strip()
    settings.announcement = (fields.get("announcement") or "").strip()
    for key in ("terms_text", "privacy_text"):
        if key in fields:
            text = (fields.get(key) or "").replace("\r\n", "\n").replace("\r", "\n").strip()
            if len(text) > LEGAL_TEXT_MAX:
                raise SettingsError(_l("At most %(n)d characters.", n=LEGAL_TEXT_MAX), key)
            setattr(settings, key, text)
    threshold = fields.get("low_stock_threshold")
    if threshold is not None:
        if not 0 <= threshold <= 100_000:
            raise SettingsError(_l("Enter a number from 0 to 100000."), "low_stock_threshold")
        settings.low_stock_threshold = threshold
    for key in ("logo_key", "service_wechat_qr_key"):
        if fields.get(key):
            setattr(settings, key, fields[key])
    return settings


EXPIRE_MINUTES_RANGE = (5, 1440)
AUTOCOMPLETE_DAYS_RANGE = (1, 30)
MANUAL_PAYMENT_TEXT_MAX = 500


def update_order_settings(session: Session, **fields) -> ShopSettings:
    """Shipping fee, how long an unpaid order holds its stock, automatic receipt, manual transfer."""
    settings = session.get(ShopSettings, SETTINGS_ID, with_for_update=True)
    if settings is None:
        settings = ShopSettings(id=SETTINGS_ID, name="")
        session.add(settings)
    flat = fields.get("shipping_flat_fen")
    if not isinstance(flat, int) or isinstance(flat, bool) or flat < 0:
        raise SettingsError(
            _l("Please enter the shipping fee, e.g. 8.00 (0 for free shipping)."), "shipping_flat_fen"
        )
    threshold = fields.get("free_shipping_over_fen")
    if threshold is not None and (
        not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0
    ):
        raise SettingsError(
            _l("The free-shipping threshold must be greater than zero."), "free_shipping_over_fen"
        )
    minutes = fields.get("order_expire_minutes")
    low, high = EXPIRE_MINUTES_RANGE
    if not isinstance(minutes, int) or not low <= minutes <= high:
        raise SettingsError(
            _l("Enter a number of minutes from %(low)d to %(high)d.", low=low, high=high),
            "order_expire_minutes",
        )
    days = fields.get("autocomplete_days")
    low, high = AUTOCOMPLETE_DAYS_RANGE
    if not isinstance(days, int) or not low <= days <= high:
        raise SettingsError(
            _l("Enter a number of days from %(low)d to %(high)d.", low=low, high=high), "autocomplete_days"
        )
    text = (fields.get("manual_payment_text") or "").strip()
    if len(text) > MANUAL_PAYMENT_TEXT_MAX:
        raise SettingsError(
            _l("The payment instructions may have at most %(n)d characters.", n=MANUAL_PAYMENT_TEXT_MAX),
            "manual_payment_text",
        )
    qr_key = settings.manual_payment_qr_key
    if fields.get("remove_manual_payment_qr"):
        qr_key = None
    if fields.get("manual_payment_qr_key"):
        qr_key = fields["manual_payment_qr_key"]
    enabled = bool(fields.get("manual_payment_enabled"))
    if enabled and not text and not qr_key:
        raise SettingsError(
            _l("To offer manual transfer, upload your payment QR code or write the payment instructions."),
            "manual_payment_enabled",
        )
    settings.shipping_flat_fen = flat
    settings.free_shipping_over_fen = threshold
    settings.order_expire_minutes = minutes
    settings.autocomplete_days = days
    settings.manual_payment_text = text
    settings.manual_payment_qr_key = qr_key
    settings.manual_payment_enabled = enabled
    return settings


AFTERSALES_DAYS_RANGE = (1, 30)


def update_aftersales_settings(session: Session, **fields) -> ShopSettings:
    """The return address (contact, phone, address: all three, or none) and the after-sales timeouts (days;
    None keeps them as they are)."""
    settings = session.get(ShopSettings, SETTINGS_ID, with_for_update=True)
    if settings is None:
        settings = ShopSettings(id=SETTINGS_ID)
        session.add(settings)
    values = {
        key: " ".join((fields.get(key) or "").split())
        for key in ("return_contact", "return_phone", "return_address")
    }
    for key, most in (("return_contact", 20), ("return_phone", 20), ("return_address", 200)):
        if len(values[key]) > most:
            raise SettingsError(_l("At most %(n)d characters.", n=most), key)
    if any(values.values()) and not all(values.values()):
        missing = next(key for key, value in values.items() if not value)
        raise SettingsError(_l("Enter the return contact, phone and address together."), missing)
    low, high = AFTERSALES_DAYS_RANGE
    for key in ("aftersales_reply_days", "aftersales_return_days"):
        days = fields.get(key)
        if days is None:  # left empty (or a form from before these settings): as it was
            continue
        if not isinstance(days, int) or isinstance(days, bool) or not low <= days <= high:
            raise SettingsError(
                _l("Enter a number of days from %(low)d to %(high)d.", low=low, high=high), key
            )
        setattr(settings, key, days)
    for key, value in values.items():
        setattr(settings, key, value)
    return settings


KUAIDI100_CUSTOMER_RE = re.compile(r"^[0-9A-Za-z]{8,64}$")
KUAIDI100_KEY_RE = re.compile(r"^[0-9A-Za-z]{8,64}$")


def update_tracking_settings(
    session: Session, *, customer: str, key: str, remove: bool = False
) -> ShopSettings:
    """快递100's customer code and key. An empty key keeps the stored one (it is never shown back); `remove`
    forgets both, and the order pages go back to linking to the carriers' own pages."""
    settings = session.get(ShopSettings, SETTINGS_ID, with_for_update=True)
    if settings is None:
        settings = ShopSettings(id=SETTINGS_ID, name="")
        session.add(settings)
    if remove:
        settings.kuaidi100_customer = ""
        settings.kuaidi100_key_sealed = None
        return settings
    customer = (customer or "").strip()
    key = (key or "").strip()
    if customer and not KUAIDI100_CUSTOMER_RE.match(customer):
        raise SettingsError(_l("The customer code (customer) is letters and digits."), "kuaidi100_customer")
    if key and not KUAIDI100_KEY_RE.match(key):
        raise SettingsError(_l("The key is letters and digits."), "kuaidi100_key")
    if key and not customer:
        raise SettingsError(_l("Please enter the customer code as well."), "kuaidi100_customer")
    if customer and not key and not settings.kuaidi100_key_sealed:
        raise SettingsError(_l("Please enter the key as well."), "kuaidi100_key")
    settings.kuaidi100_customer = customer
    if not customer:
        settings.kuaidi100_key_sealed = None
    elif key:
        settings.kuaidi100_key_sealed = seal(key)
    return settings


def kuaidi100_credentials(settings: ShopSettings) -> tuple[str, str] | None:
    """(customer, key) when the shop has a 快递100 key this SECRETS_KEY can open, else None: a key that cannot
    be opened (SECRETS_KEY changed or missing) counts as not set up, as payments' secrets do — the order pages
    link to the carriers instead of failing."""
    if not settings.kuaidi100_customer or not settings.kuaidi100_key_sealed:
        return None
    try:
        key = unseal(settings.kuaidi100_key_sealed)
    except SecretsKeyMissing:
        return None
    return (settings.kuaidi100_customer, key) if key else None


def kuaidi100_key_hint(settings: ShopSettings) -> str:
    return hint(unseal(settings.kuaidi100_key_sealed))
