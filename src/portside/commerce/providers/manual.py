"""The embedded default: orders are paid by bank transfer or however the store says; the
store team (or the publisher, when the store allows it) marks them paid. Nothing leaves
the machine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from portside.commerce import money
from portside.commerce.providers.base import PaymentResult

if TYPE_CHECKING:
    from portside.commerce.models import Order


class ManualProvider:
    name = "manual"
    pays_by_instructions = True

    def start(self, order: Order) -> PaymentResult:
        return PaymentResult("pending", message="awaiting payment by the customer")

    def charge_renewal(self, order: Order) -> PaymentResult:
        return PaymentResult("pending", message="renewal invoice issued")

    def refund(self, order: Order, amount_minor: int) -> str:
        return "manual"

    def instructions(self, order: Order) -> str:
        amount = money.format_amount(order.total_minor, order.currency)
        number = order.invoice.number if hasattr(order, "invoice") else str(order.pk)
        return settings.COMMERCE_MANUAL_INSTRUCTIONS.format(amount=amount, invoice=number)

    def void(self, order: Order) -> None:
        """Nothing is held open anywhere: the invoice shows the order is void."""
