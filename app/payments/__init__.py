"""Payment providers behind one interface, and the notify endpoints gateways call."""

from flask import current_app

from app.payments.base import PaymentProvider

_PROVIDERS: dict[str, PaymentProvider] = {}


def register(provider: PaymentProvider) -> None:
    _PROVIDERS[provider.name] = provider


def get_provider(name: str) -> PaymentProvider:
    provider = _PROVIDERS.get(name)
    if provider is None:
        raise KeyError(f"unknown payment provider {name!r}")
    if name == "sandbox" and current_app.config["FENXIAO_ENV"] == "production":
        raise RuntimeError("the sandbox payment provider is never available in production")
    return provider


def all_providers() -> list[PaymentProvider]:
    return list(_PROVIDERS.values())


def _register_builtin() -> None:
    from app.payments.alipay import AlipayProvider
    from app.payments.manual import ManualProvider
    from app.payments.sandbox import SandboxProvider
    from app.payments.wechatpay import WechatPayProvider

    register(WechatPayProvider())
    register(AlipayProvider())
    register(SandboxProvider())
    register(ManualProvider())


_register_builtin()
