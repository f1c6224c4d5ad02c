"""Clients for the real gateways, built from the merchant's sealed credentials. Every outside address can
be pointed elsewhere by configuration (WECHATPAY_GATEWAY, ALIPAY_GATEWAY, WECHAT_API_BASE,
WECHAT_OPEN_BASE) — the tests point them at local fake gateways that speak the real protocols.

The SDKs (and the crypto libraries under them, some 20 MB) are imported when a client is first built, not
when a worker starts: most requests to a shop never reach a gateway."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app, has_request_context, url_for
from sqlalchemy.orm import Session

from app.payments.models import PaymentSettings
from app.secrets_box import SecretsKeyMissing, unseal

if TYPE_CHECKING:
    from alipay import AliPay
    from wechatpayv3 import WeChatPay

SETTINGS_ID = 1
# Gateways are called while a shopper or the merchant waits, and a gunicorn worker is held meanwhile: give
# up soon (connect, read) rather than let a slow gateway take the shop down with it.
HTTP_TIMEOUT = (3, 6)


class GatewayNotConfigured(RuntimeError):
    pass


def payment_settings(session: Session) -> PaymentSettings:
    return session.get(PaymentSettings, SETTINGS_ID) or PaymentSettings(
        id=SETTINGS_ID,
        wechat_enabled=False,
        wechat_h5_enabled=False,
        alipay_enabled=False,
        wechat_appid="",
        wechat_mchid="",
        wechat_serial_no="",
        wechat_public_key_id="",
        wechat_public_key="",
        mp_appid="",
        alipay_app_id="",
        alipay_public_key="",
    )


def public_url(endpoint: str, **values) -> str:
    """An absolute URL gateways can reach: PUBLIC_URL when set (behind nginx), else this request's host.
    Works outside requests too (cron jobs such as reconcile)."""
    base = current_app.config.get("PUBLIC_URL")
    if not has_request_context():
        with current_app.test_request_context(base_url=base or "http://localhost"):
            return url_for(endpoint, _external=True, **values)
    return base + url_for(endpoint, **values) if base else url_for(endpoint, _external=True, **values)


def secret_readable(sealed: str | None) -> bool:
    """A stored secret counts only if this SECRETS_KEY opens it: after the key changed (or went missing)
    the gateways are simply not set up — the shop stops offering them instead of failing on every page."""
    try:
        return bool(unseal(sealed))
    except SecretsKeyMissing:
        return False


def wechat_complete(settings: PaymentSettings) -> bool:
    return all(
        [
            settings.wechat_appid,
            settings.wechat_mchid,
            settings.wechat_serial_no,
            settings.wechat_public_key_id,
            settings.wechat_public_key,
            secret_readable(settings.wechat_apiv3_key_sealed),
            secret_readable(settings.wechat_private_key_sealed),
        ]
    )


def alipay_complete(settings: PaymentSettings) -> bool:
    return all(
        [
            settings.alipay_app_id,
            settings.alipay_public_key,
            secret_readable(settings.alipay_private_key_sealed),
        ]
    )


def wechat_client(settings: PaymentSettings, pay_type: str = "JSAPI", *, certificates=()) -> WeChatPay:
    """A client for `pay_type` (a WeChatPayType name: "JSAPI", "H5") that verifies with the public key and
    the given platform certificates (see wechat_certificates), and never downloads certificates itself."""
    if not wechat_complete(settings):
        raise GatewayNotConfigured("WeChat Pay is not fully configured")
    from wechatpayv3 import WeChatPay, WeChatPayType

    client = WeChatPay(
        wechatpay_type=WeChatPayType[pay_type],
        mchid=settings.wechat_mchid,
        private_key=unseal(settings.wechat_private_key_sealed),
        cert_serial_no=settings.wechat_serial_no,
        appid=settings.wechat_appid,
        apiv3_key=unseal(settings.wechat_apiv3_key_sealed),
        notify_url=public_url("payments.wechat_notify"),
        public_key=settings.wechat_public_key,
        public_key_id=settings.wechat_public_key_id,
        timeout=HTTP_TIMEOUT,
    )
    # Pinned SDK version (see pyproject.toml): these are private attributes.
    client._core._certificates = list(certificates)
    client._core._update_certificates = _never_download
    gateway = current_app.config.get("WECHATPAY_GATEWAY")
    if gateway:
        client._core._gate_way = gateway.rstrip("/")
    return client


def _never_download() -> None:
    """The SDK would fetch /v3/certificates whenever it meets an unknown serial: in a request, never."""


def alipay_client(settings: PaymentSettings) -> AliPay:
    if not alipay_complete(settings):
        raise GatewayNotConfigured("Alipay is not fully configured")
    from alipay import AliPay
    from alipay.utils import AliPayConfig

    client = AliPay(
        appid=settings.alipay_app_id,
        app_notify_url=public_url("payments.alipay_notify"),
        app_private_key_string=_pem(unseal(settings.alipay_private_key_sealed), "PRIVATE KEY"),
        alipay_public_key_string=_pem(settings.alipay_public_key, "PUBLIC KEY"),
        sign_type="RSA2",
        config=AliPayConfig(timeout=HTTP_TIMEOUT[1]),
    )
    gateway = current_app.config.get("ALIPAY_GATEWAY")
    if gateway:
        client._gateway = gateway  # pinned SDK version: see pyproject.toml
    return client


def _pem(key: str, kind: str) -> str:
    """Merchants paste keys with or without the PEM armour; the SDK wants it."""
    key = key.strip()
    if key.startswith("-----BEGIN"):
        return key
    body = "".join(key.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----"
