"""The interface every payment provider implements, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from portside.commerce.models import Order

Status = Literal["paid", "pending", "failed"]


@dataclass(frozen=True)
class PaymentResult:
    """``paid``: the money is in; ``pending``: it will come later (an invoice to pay, a
    confirmation to wait for); ``failed``: it will not, for ``message``.

    ``client_secret`` is set by providers whose customer confirms the payment in the
    browser (Stripe: the PaymentIntent's client secret, for Stripe.js on the payment page);
    it is kept out of ``repr`` so it never reaches a log line."""

    status: Status
    reference: str = ""
    message: str = ""
    client_secret: str = field(default="", repr=False)


class PaymentProvider(Protocol):
    name: str
    #: Whether the customer pays by following instructions (the store team confirms).
    pays_by_instructions: bool

    def start(self, order: Order) -> PaymentResult:
        """Take the first payment of an order the customer has just confirmed."""
        ...

    def charge_renewal(self, order: Order) -> PaymentResult:
        """Charge a renewal without the customer present (the worker calls this)."""
        ...

    def refund(self, order: Order, amount_minor: int) -> str:
        """Send ``amount_minor`` of a paid order back; returns the provider's reference.
        Raises ``RefundFailed`` when the provider refuses."""
        ...

    def instructions(self, order: Order) -> str:
        """What the customer is told to do to pay an open order (empty when nothing)."""
        ...

    def void(self, order: Order) -> None:
        """The store withdrew an unpaid order: make sure it can no longer be paid."""
        ...


class RefundFailed(Exception):
    """The provider did not send the money back."""
