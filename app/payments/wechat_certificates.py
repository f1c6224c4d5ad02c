"""Which keys may sign a WeChat Pay notify, decided before any of it reaches the SDK.

Fenxiao verifies with the 微信支付公钥 (its ID is the notify's `Wechatpay-Serial`). A merchant moving from
platform certificates to the public key gets notifies signed by either for about a week, so the platform
certificates are fetched too — by the `payments reconcile` job and when the settings are saved, at most once
per interval, and kept in the database where every worker sees them. A notify request never fetches
anything: a serial that is neither the public key ID nor a cached certificate is refused at once (otherwise
every forged notify with a random serial would make the SDK download certificates, holding a worker while
the gateway answers)."""

import json
import logging
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session
from wechatpayv3.core import Core

from app.payments.gateways import payment_settings, wechat_client, wechat_complete
from app.payments.models import ApiToken, PaymentSettings
from app.timeutil import utcnow

log = logging.getLogger(__name__)

TOKEN_NAME = "wechatpay-platform-certificates"
REFRESH_INTERVAL = timedelta(hours=1)


def serial_key(serial: str) -> str:
    """Serials are hexadecimal: compare them without case or leading zeros."""
    return serial.strip().upper().lstrip("0")


def cached_certificates(session: Session) -> list[x509.Certificate]:
    """The platform certificates fetched last time that are valid now."""
    row = session.get(ApiToken, TOKEN_NAME)
    if row is None or not row.value:
        return []
    now = utcnow()
    certificates = []
    for pem in json.loads(row.value):
        certificate = x509.load_pem_x509_certificate(pem.encode())
        if certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            certificates.append(certificate)
    return certificates


def is_known_serial(serial: str, settings: PaymentSettings, certificates: list[x509.Certificate]) -> bool:
    """Whether a notify's Wechatpay-Serial names the public key or one of the cached certificates."""
    wanted = serial_key(serial)
    serials = {serial_key(format(c.serial_number, "X")) for c in certificates}
    serials.add(serial_key(settings.wechat_public_key_id))
    return bool(wanted) and wanted in serials


def refresh_certificates(session: Session, *, force: bool = False) -> int | None:
    """Fetch the platform certificates (GET /v3/certificates, decrypted with the APIv3 key) unless that was
    done less than REFRESH_INTERVAL ago. Returns how many were stored, or None when nothing was asked.
    A failed fetch keeps what was cached and waits for the next interval; it never raises."""
    settings = payment_settings(session)
    if not wechat_complete(settings):
        return None
    row = session.get(ApiToken, TOKEN_NAME)
    now = utcnow()
    if row is not None and row.expires_at > now and not force:
        return None
    if row is None:
        row = ApiToken(name=TOKEN_NAME, value="")
        session.add(row)
    row.expires_at = now + REFRESH_INTERVAL
    client = wechat_client(settings)
    try:
        Core._update_certificates(client._core)  # the SDK's own download; instances never call it
    except Exception as error:  # noqa: BLE001 - the SDK raises plain Exceptions, requests its own
        log.warning("wechat platform certificates not fetched: %s", str(error)[:200])
        return 0
    fetched = client._core._certificates
    if not fetched:
        log.info("wechat platform certificates: none (the merchant uses the WeChat Pay public key only)")
        return 0
    row.value = json.dumps(
        [c.public_bytes(serialization.Encoding.PEM).decode() for c in fetched], separators=(",", ":")
    )
    return len(fetched)
