"""Encryption at rest for the merchant's payment secrets (API keys, private keys, app secrets).

The key comes from the environment (SECRETS_KEY, a Fernet key) — never from the database it protects.
Development and tests derive one from SECRET_KEY so that `make run` needs no extra step.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretsKeyMissing(RuntimeError):
    pass


def _fernet() -> Fernet:
    from cryptography.fernet import Fernet  # loaded when a secret is first used, not at start

    key = current_app.config.get("SECRETS_KEY")
    if not key:
        if current_app.config["FENXIAO_ENV"] == "production":
            raise SecretsKeyMissing(
                "SECRETS_KEY is not set: payment secrets cannot be stored. Generate one with "
                "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            )
        digest = hashlib.sha256(("fenxiao-secrets:" + current_app.config["SECRET_KEY"]).encode()).digest()
        key = base64.urlsafe_b64encode(digest)
    return Fernet(key)


def seal(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def unseal(token: str | None) -> str | None:
    if not token:
        return None
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretsKeyMissing("a stored secret cannot be decrypted: was SECRETS_KEY changed?") from None


def hint(plain: str | None) -> str:
    """What the back office may show of a secret: its last four characters."""
    if not plain:
        return ""
    return "••••" + plain.strip()[-4:]
