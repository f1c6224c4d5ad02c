"""Which keys may sign a WeChat Pay notify, decided before any of it reaches the SDK.

Fenxiao verifies with the 微信支付公钥 (its ID is the notify's `Wechatpay-Serial`). A merchant moving from
platform certificates to the public key gets notifies signed by either for about a week, so the platform
certificates are fetched too — by the `payments reconcile` job and when the settings are saved, at most once
per interval, and kept in the database where every worker sees them. A notify request never fetches
anything: a serial that is neither the public key ID nor a cached certificate is refused at once (otherwise
every forged notify with a random serial would make the SDK download certificates, holding a worker while
the gateway answers)."""

from __future__ import annotations

import hmac
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.payments.gateways import payment_settings, wechat_client, wechat_complete
from app.payments.models import ApiToken, PaymentSettings
from app.timeutil import utcnow

if TYPE_CHECKING:
    from cryptography import x509
    from wechatpayv3 import WeChatPay

log = logging.getLogger(__name__)

TOKEN_NAME = "wechatpay-platform-certificates"
REFRESH_INTERVAL = timedelta(hours=1)


def cached_certificates(session: Session) -> list[x509.Certificate]:
    """The platform certificates fetched last time that are valid now."""
    row = session.get(ApiToken, TOKEN_NAME)
    if row is None or not row.value:
        return []
    from cryptography import x509

    now = utcnow()
    certificates = []
    for pem in json.loads(row.value):
        certificate = x509.load_pem_x509_certificate(pem.encode())
        if certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            certificates.append(certificate)
    return certificates


def is_known_serial(serial: str, settings: PaymentSettings, certificates: list[x509.Certificate]) -> bool:
    """Whether a notify's Wechatpay-Serial names the public key (its ID, exactly) or one of the cached
    certificates (a hexadecimal serial number) — what the SDK itself will look for."""
    if settings.wechat_public_key_id and hmac.compare_digest(
        serial.encode(), settings.wechat_public_key_id.encode()
    ):
        return True
    try:
        number = int(serial, 16)
    except ValueError:
        return False
    return any(certificate.serial_number == number for certificate in certificates)


def client(session: Session, pay_type: str = "JSAPI") -> WeChatPay:
    """The shop's WeChat Pay client, verifying with the public key and the cached certificates."""
    return wechat_client(payment_settings(session), pay_type, certificates=cached_certificates(session))


def refresh_certificates(session: Session, *, force: bool = False) -> None:
    """Fetch the platform certificates (GET /v3/certificates, decrypted with the APIv3 key) unless that was
    done less than REFRESH_INTERVAL ago (or `force`), and commit. A failed fetch keeps what was cached and
    waits for the next interval; nothing here raises to the caller (a job, or the settings page)."""
    settings = payment_settings(session)
    if not wechat_complete(settings):
        return
    now = utcnow()
    row = _token_row(session)
    if row.expires_at > now and not force:
        return
    row.expires_at = now + REFRESH_INTERVAL
    session.commit()  # the next interval starts now, whatever the gateway answers
    downloader = wechat_client(settings)
    from cryptography.hazmat.primitives import serialization
    from wechatpayv3.core import Core

    try:
        Core._update_certificates(downloader._core)  # the SDK's own download; our clients never call it
    except Exception as error:  # noqa: BLE001 - the SDK raises plain Exceptions, requests its own
        log.warning("wechat platform certificates not fetched: %s", str(error)[:200])
        return
    fetched = downloader._core._certificates
    if not fetched:
        log.info("wechat platform certificates: none (the merchant uses the WeChat Pay public key only)")
        return
    row.value = json.dumps(
        [c.public_bytes(serialization.Encoding.PEM).decode() for c in fetched], separators=(",", ":")
    )
    session.commit()


def _token_row(session: Session) -> ApiToken:
    """The cache's row, made once; two hosts making it at the same moment both end up with the one row."""
    row = session.get(ApiToken, TOKEN_NAME)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = ApiToken(name=TOKEN_NAME, value="", expires_at=utcnow())
            session.add(row)
    except IntegrityError:
        row = session.get(ApiToken, TOKEN_NAME, populate_existing=True)
    return row
