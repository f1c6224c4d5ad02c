"""The merchant's gateway credentials: validated, secrets sealed before they touch the database and never
shown back in full, and a "test connection" that talks to the gateways with them."""

import re
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from app.errors import UserError
from app.payments import wechat_certificates
from app.payments.gateways import (
    SETTINGS_ID,
    GatewayNotConfigured,
    _pem,
    alipay_client,
    alipay_complete,
    payment_settings,
    wechat_complete,
)
from app.payments.models import PaymentSettings
from app.payments.wechat_web import WechatApiError, access_token
from app.secrets_box import hint, seal, unseal

WECHAT_APPID_RE = re.compile(r"^wx[0-9a-f]{16}$")
MCHID_RE = re.compile(r"^\d{8,12}$", re.ASCII)
SERIAL_RE = re.compile(r"^[0-9A-Fa-f]{8,64}$")
PUBLIC_KEY_ID_RE = re.compile(r"^PUB_KEY_ID_[0-9A-Za-z]{8,64}$")
ALIPAY_APPID_RE = re.compile(r"^\d{16}$", re.ASCII)


class PaymentSettingsError(UserError):
    """A refusal of the payment settings."""


@dataclass
class PaymentSettingsInput:
    wechat_enabled: bool = False
    wechat_h5_enabled: bool = False
    wechat_appid: str = ""
    wechat_mchid: str = ""
    wechat_serial_no: str = ""
    wechat_public_key_id: str = ""
    wechat_public_key: str = ""
    # Secrets: left empty means "keep what is stored".
    wechat_apiv3_key: str = ""
    wechat_private_key: str = ""
    wechat_app_secret: str = ""
    mp_appid: str = ""
    mp_app_secret: str = ""
    alipay_enabled: bool = False
    alipay_app_id: str = ""
    alipay_public_key: str = ""
    alipay_private_key: str = ""


def _strip(value: str | None) -> str:
    return (value or "").strip()


def _check_public_key(text: str, field: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key  # only this page needs it

    try:
        load_pem_public_key(_pem(text, "PUBLIC KEY").encode())
    except ValueError:
        raise PaymentSettingsError(_l("This is not a valid public key."), field) from None


def _check_private_key(text: str, field: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    for kind in ("PRIVATE KEY", "RSA PRIVATE KEY"):
        try:
            load_pem_private_key(_pem(text, kind).encode(), password=None)
            return
        except (ValueError, TypeError):
            continue
    raise PaymentSettingsError(_l("This is not a valid private key."), field)


def save_payment_settings(session: Session, data: PaymentSettingsInput) -> PaymentSettings:
    settings = session.get(PaymentSettings, SETTINGS_ID) or PaymentSettings(id=SETTINGS_ID)
    checks = [
        (
            "wechat_appid",
            WECHAT_APPID_RE,
            _l("An official-account AppID looks like wx followed by 16 characters."),
        ),
        ("wechat_mchid", MCHID_RE, _l("A merchant number (商户号) has 8 to 12 digits.")),
        (
            "wechat_serial_no",
            SERIAL_RE,
            _l("The certificate serial number is hexadecimal (letters A–F and digits)."),
        ),
        ("wechat_public_key_id", PUBLIC_KEY_ID_RE, _l("The platform public key ID starts with PUB_KEY_ID_.")),
        ("mp_appid", WECHAT_APPID_RE, _l("A mini-program AppID looks like wx followed by 16 characters.")),
        ("alipay_app_id", ALIPAY_APPID_RE, _l("An Alipay APPID has 16 digits.")),
    ]
    for field, pattern, message in checks:
        value = _strip(getattr(data, field))
        if value and not pattern.match(value):
            raise PaymentSettingsError(message, field)
        setattr(settings, field, value)
    if _strip(data.wechat_public_key):
        _check_public_key(data.wechat_public_key, "wechat_public_key")
    settings.wechat_public_key = _strip(data.wechat_public_key)
    if _strip(data.alipay_public_key):
        _check_public_key(data.alipay_public_key, "alipay_public_key")
    settings.alipay_public_key = _strip(data.alipay_public_key)

    apiv3 = _strip(data.wechat_apiv3_key)
    if apiv3:
        if len(apiv3.encode()) != 32:
            raise PaymentSettingsError(_l("The APIv3 key has exactly 32 characters."), "wechat_apiv3_key")
        settings.wechat_apiv3_key_sealed = seal(apiv3)
    for field, sealed in (
        ("wechat_app_secret", "wechat_app_secret_sealed"),
        ("mp_app_secret", "mp_app_secret_sealed"),
    ):
        secret = _strip(getattr(data, field))
        if secret:
            if not re.fullmatch(r"[0-9A-Za-z-]{16,64}", secret):
                raise PaymentSettingsError(_l("The AppSecret is 32 letters and digits."), field)
            setattr(settings, sealed, seal(secret))
    for field, sealed in (
        ("wechat_private_key", "wechat_private_key_sealed"),
        ("alipay_private_key", "alipay_private_key_sealed"),
    ):
        value = _strip(getattr(data, field))
        if value:
            _check_private_key(value, field)
            setattr(settings, sealed, seal(value))

    settings.wechat_enabled = bool(data.wechat_enabled)
    settings.wechat_h5_enabled = bool(data.wechat_h5_enabled)
    settings.alipay_enabled = bool(data.alipay_enabled)
    if settings.wechat_enabled and not wechat_complete(settings):
        raise PaymentSettingsError(
            _l("Fill in every WeChat Pay field before switching it on."), "wechat_enabled"
        )
    if settings.alipay_enabled and not alipay_complete(settings):
        raise PaymentSettingsError(_l("Fill in every Alipay field before switching it on."), "alipay_enabled")
    session.add(settings)
    session.flush()
    return settings


def secret_hints(settings: PaymentSettings) -> dict[str, str]:
    """What the settings page shows for each stored secret: whether it is set, and its last characters."""
    return {
        "wechat_apiv3_key": hint(unseal(settings.wechat_apiv3_key_sealed)),
        "wechat_app_secret": hint(unseal(settings.wechat_app_secret_sealed)),
        "mp_app_secret": hint(unseal(settings.mp_app_secret_sealed)),
        "wechat_private_key": _("set") if settings.wechat_private_key_sealed else "",
        "alipay_private_key": _("set") if settings.alipay_private_key_sealed else "",
    }


def check_wechat_connection(session: Session) -> list[tuple[bool, str]]:
    """Ask WeChat Pay about an order that cannot exist: a signed 'not found' proves the credentials."""
    settings = payment_settings(session)
    results = []
    try:
        client = wechat_certificates.client(session)
        code, message = client.query(out_trade_no="FXTEST" + secrets.token_hex(8))
        if code == 404 and "ORDER_NOT_EXIST" in str(message):
            results.append(
                (True, _("WeChat Pay: merchant number, certificate, private key and platform key work."))
            )
        elif code == 401:
            results.append(
                (
                    False,
                    _(
                        "WeChat Pay refused the signature: check the merchant number, the certificate serial number and the private key."
                    ),
                )
            )
        else:
            results.append((False, _("WeChat Pay answered %(code)s.", code=code)))
    except GatewayNotConfigured:
        results.append((False, _("WeChat Pay is not fully set up yet.")))
    except Exception as error:  # noqa: BLE001 - the SDK raises plain Exceptions (e.g. a bad platform key)
        text = str(error)
        if "verify the signature" in text:
            results.append(
                (False, _("The answer's signature did not verify: check the platform public key and its ID."))
            )
        else:
            results.append(
                (False, _("Could not reach WeChat Pay: %(error)s", error=error.__class__.__name__))
            )
    if settings.wechat_app_secret_sealed:
        try:
            access_token(session)
            results.append((True, _("Official account: AppID and AppSecret work (login and share cards).")))
        except WechatApiError as error:
            results.append((False, _("Official account refused: %(error)s", error=str(error))))
    return results


def check_alipay_connection(session: Session) -> list[tuple[bool, str]]:
    from alipay.exceptions import AliPayException, AliPayValidationError  # the SDK loads on use

    settings = payment_settings(session)
    try:
        alipay_client(settings).api_alipay_trade_query(out_trade_no="FXTEST" + secrets.token_hex(8))
        return [(True, _("Alipay answered."))]
    except GatewayNotConfigured:
        return [(False, _("Alipay is not fully set up yet."))]
    except AliPayException as error:
        if "ACQ.TRADE_NOT_EXIST" in str(error):
            return [(True, _("Alipay: APPID, app private key and Alipay public key work."))]
        return [(False, _("Alipay refused the request: check the APPID and the app private key."))]
    except AliPayValidationError:
        return [(False, _("Alipay's answer did not verify: check the Alipay public key."))]
    except OSError as error:
        return [(False, _("Could not reach Alipay: %(error)s", error=error.__class__.__name__))]
