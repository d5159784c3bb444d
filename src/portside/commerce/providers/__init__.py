"""Payment providers: one small interface (``base.PaymentProvider``), one module each.

The provider is chosen by ``PORTSIDE_PAYMENT_PROVIDER``; the store keeps its own orders,
invoices and ledger whatever the provider says, and asks the provider only to move money.
"""

from __future__ import annotations

import functools

from django.conf import settings

from portside.commerce.providers.base import PaymentProvider, PaymentResult, RefundFailed
from portside.core.errors import ConfigurationError

__all__ = ["PaymentProvider", "PaymentResult", "RefundFailed", "by_name", "get"]


def by_name(name: str) -> PaymentProvider:
    if name == "manual":
        from portside.commerce.providers.manual import ManualProvider

        return ManualProvider()
    if name == "stripe":
        from portside.commerce.providers.stripe import StripeProvider

        return StripeProvider.from_settings()
    raise ConfigurationError(f"Unknown payment provider {name!r}: manual or stripe.")


@functools.cache
def _configured(name: str) -> PaymentProvider:
    return by_name(name)


def get() -> PaymentProvider:
    """The configured provider (one instance per process)."""
    return _configured(settings.COMMERCE_PROVIDER)
