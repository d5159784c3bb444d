"""Money as integer minor units with an ISO 4217 currency, and the arithmetic of a sale.

No Django here: prices, tax and the revenue share are computed the same way by the
services, the ledger's property tests and the benchmark. Amounts are ``int`` minor units
(cents for EUR, yen for JPY); a ``Decimal`` appears only at the edges, when a price is
read from a form or shown. Rates are integer basis points (1 900 = 19.00 %), so no float
ever touches an amount.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies the store accepts, with the number of digits of their minor unit.
EXPONENTS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "BRL": 2,
    "INR": 2,
    "SGD": 2,
    "JPY": 0,
    "KRW": 0,
}
MAX_AMOUNT_MINOR = 10**13  # well below what a 64-bit column holds, with room for sums
BASIS_POINTS = 10_000


class MoneyError(ValueError):
    """An amount, currency or rate that the store cannot accept; ``field`` names the input."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def check_currency(code: str) -> str:
    value = str(code or "").strip().upper()
    if value not in EXPONENTS:
        raise MoneyError(
            f"{str(code)[:10]!r} is not a currency of the store (ISO 4217: "
            f"{', '.join(sorted(EXPONENTS))}).",
            "currency",
        )
    return value


def to_minor(amount: Decimal | str | int, currency: str, *, field: str = "amount") -> int:
    """``Decimal('9.99')`` in EUR is 999. More decimals than the currency has, a negative
    or non-finite amount, or one past the store's limit is refused, never rounded."""
    currency = check_currency(currency)
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError("Not an amount: write it as 12 or 12.50.", field) from None
    if not value.is_finite():
        raise MoneyError("Not an amount: write it as 12 or 12.50.", field)
    if value < 0:
        raise MoneyError("An amount cannot be negative.", field)
    exponent = EXPONENTS[currency]
    scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{currency} amounts have at most {exponent} decimal places.", field)
    minor = int(scaled)
    if minor >= MAX_AMOUNT_MINOR:
        raise MoneyError("The amount is larger than the store accepts.", field)
    return minor


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-EXPONENTS[check_currency(currency)])


def format_amount(minor: int, currency: str) -> str:
    """``EUR 1,234.50``; negative amounts carry a minus sign."""
    exponent = EXPONENTS[check_currency(currency)]
    value = to_decimal(abs(minor), currency)
    sign = "-" if minor < 0 else ""
    return f"{sign}{currency} {value:,.{exponent}f}"


def percent_to_bp(value: Decimal | str | int, *, field: str = "rate") -> int:
    """``"19"`` or ``"7.5"`` percent as basis points; at most two decimals, 0 to 100."""
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError("A percentage such as 19 or 7.5.", field) from None
    if not number.is_finite() or number < 0 or number > 100:
        raise MoneyError("A percentage from 0 to 100.", field)
    scaled = number * 100
    if scaled != scaled.to_integral_value():
        raise MoneyError("At most two decimal places.", field)
    return int(scaled)


def bp_label(bp: int) -> str:
    """``1900`` is ``19%``, ``725`` is ``7.25%``, ``0`` is ``0%``."""
    value = (Decimal(bp) / 100).quantize(Decimal("0.01"))
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "%"


def share_of(amount_minor: int, bp: int) -> int:
    """``bp`` basis points of an amount, rounded half up to a whole minor unit."""
    if not 0 <= bp <= BASIS_POINTS:
        raise MoneyError("A rate from 0 to 100%.", "rate")
    return int((Decimal(amount_minor) * bp / BASIS_POINTS).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Quote:
    """What one charge costs and who gets what: net + tax = total; the store's share is
    taken from the net (tax is never shared), the publisher is owed the rest."""

    currency: str
    net: int
    tax_bp: int
    tax: int
    share_bp: int
    store_share: int
    reverse_charge: bool = False

    @property
    def total(self) -> int:
        return self.net + self.tax

    @property
    def publisher_share(self) -> int:
        return self.net - self.store_share


def quote(
    net: int, currency: str, *, tax_bp: int, share_bp: int, reverse_charge: bool = False
) -> Quote:
    currency = check_currency(currency)
    if net < 0:
        raise MoneyError("An amount cannot be negative.", "price")
    tax = 0 if reverse_charge else share_of(net, tax_bp)
    return Quote(
        currency=currency,
        net=net,
        tax_bp=0 if reverse_charge else tax_bp,
        tax=tax,
        share_bp=share_bp,
        store_share=share_of(net, share_bp),
        reverse_charge=reverse_charge,
    )


@dataclass(frozen=True)
class RefundSplit:
    """How a refund of ``total`` minor units is taken back from the publisher, the store
    and the tax authority, in proportion to the original charge."""

    total: int
    net: int
    tax: int
    store_share: int

    @property
    def publisher_share(self) -> int:
        return self.net - self.store_share


def split_refund(original: Quote, refunded_before: RefundSplit | None, amount: int) -> RefundSplit:
    """The parts of a refund of ``amount``, so that refunds added up never take back more
    tax, share or net than the charge had: the last refund that reaches the total takes
    exactly what is left of each part."""
    before = refunded_before or RefundSplit(0, 0, 0, 0)
    left = original.total - before.total
    if amount <= 0:
        raise MoneyError("A refund is more than zero.", "amount")
    if amount > left:
        raise MoneyError(
            f"At most {format_amount(left, original.currency)} is left to refund.", "amount"
        )
    if amount == left:
        tax = original.tax - before.tax
        net = original.net - before.net
        store = original.store_share - before.store_share
        return RefundSplit(amount, net, tax, store)
    tax = (
        int((Decimal(amount) * original.tax / original.total).quantize(Decimal(1), ROUND_HALF_UP))
        if original.total
        else 0
    )
    tax = min(tax, original.tax - before.tax)
    net = amount - tax
    net = min(net, original.net - before.net)
    tax = amount - net
    store = (
        int(
            (Decimal(net) * original.store_share / original.net).quantize(Decimal(1), ROUND_HALF_UP)
        )
        if original.net
        else 0
    )
    store = min(store, original.store_share - before.store_share)
    return RefundSplit(amount, net, tax, store)


def add_refunds(a: RefundSplit | None, b: RefundSplit) -> RefundSplit:
    if a is None:
        return b
    return RefundSplit(
        a.total + b.total, a.net + b.net, a.tax + b.tax, a.store_share + b.store_share
    )


# --- billing periods ------------------------------------------------------------------------


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` later; the 31st becomes the month's last day."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(start: dt.datetime, billing_period: str) -> dt.datetime | None:
    """When a period that starts at ``start`` ends: None for free and one-time tiers."""
    if billing_period == "monthly":
        return add_months(start, 1)
    if billing_period == "yearly":
        return add_months(start, 12)
    return None
