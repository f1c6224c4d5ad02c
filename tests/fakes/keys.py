"""RSA test keys, made once per test run."""

from functools import cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


class KeyPair:
    def __init__(self):
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public = self.private.public_key()

    @property
    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @property
    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    @property
    def public_body(self) -> str:
        """The base64 body alone, as merchants often paste keys from the gateways' consoles."""
        return "".join(line for line in self.public_pem.splitlines() if not line.startswith("-----"))


@cache
def pair(name: str) -> KeyPair:
    return KeyPair()
