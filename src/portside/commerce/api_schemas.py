"""The request and response bodies of the commerce API (``commerce/api.py``).

Amounts are given twice: as integer minor units (``*_minor``) and as a decimal string in
major units (``"49.00"``), with the ``currency`` they are in; rates are percentages as
decimal strings (``"19"``, ``"7.5"``) and basis points (``*_bp``). Request bodies refuse
unknown fields and values of the wrong type, and amounts are strings, never JSON numbers,
so no float ever carries money.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from portside.commerce import money
from portside.commerce.models import OrderStatus, SubscriptionStatus

_PRODUCT = Field(
    max_length=200,
    description="The product as ORGANISATION/SLUG, such as acme/acme-database.",
    examples=["acme/acme-database"],
)
_TIER = Field(ge=1, le=2**63 - 1, description="The id of one of the live listing's tiers.")
_BUYER = Field(
    None,
    max_length=100,
    description="The organisation that takes the tier (its owners may); null for yourself.",
)


class Paged(Schema):
    """Paging of the commerce lists."""

    page: int = Field(1, ge=1, le=10_000)
    per_page: int = Field(50, ge=1, le=100)


class SubscriptionFilters(Paged):
    status: str = Field(
        "", json_schema_extra={"enum": ["", *SubscriptionStatus.values]}, max_length=20
    )


class OrderFilters(Paged):
    status: str = Field("", json_schema_extra={"enum": ["", *OrderStatus.values]}, max_length=20)


class StaffOrderFilters(OrderFilters):
    publisher: str = Field("", max_length=100, description="The publisher's organisation.")
    customer: str = Field(
        "", max_length=150, description="The customer: a username or an organisation's name."
    )
    currency: str = Field("", json_schema_extra={"enum": ["", *money.EXPONENTS]}, max_length=10)
    provider: str = Field("", max_length=20)


class TaxRateFilters(Schema):
    country: str = Field("", max_length=2, description="An ISO 3166 country code.")


# --- what customers see -------------------------------------------------------------------------


class CommerceProduct(Schema):
    organization: str
    slug: str
    name: str


class Holder(Schema):
    """Who holds a subscription: a user for themself, or an organisation."""

    kind: str = Field(json_schema_extra={"enum": ["user", "organization"]})
    name: str


class CoveredRepository(Schema):
    repository: str
    tags: list[str]


class PullCommand(Schema):
    reference: str
    command: str


class OrderRef(Schema):
    id: int
    kind: str
    status: str
    currency: str
    total_minor: int
    total: str
    created_at: dt.datetime
    paid_at: dt.datetime | None
    invoice_number: str | None


class SubscriptionOut(Schema):
    id: int
    product: CommerceProduct
    tier_id: int | None
    tier_name: str
    holder: Holder
    taken_by: str
    status: str
    status_label: str
    entitled: bool = Field(description="Whether the holder may pull the tier's tags now.")
    free: bool
    currency: str
    price_minor: int
    price: str
    billing_period: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    access_until: dt.datetime | None
    cancel_at_period_end: bool
    cancelled_at: dt.datetime | None
    ended_at: dt.datetime | None
    end_reason: str
    notifications: bool


class SubscriptionDetailOut(SubscriptionOut):
    covered: list[CoveredRepository] = Field(
        description="The repositories and tags the tier covers (the live revision's tier)."
    )
    pulls: list[PullCommand] = Field(
        description="What the holder may pull, while the subscription entitles them."
    )
    orders: list[OrderRef] = Field(description="Its orders, newest first (at most 100).")


class SubscriptionPage(Schema):
    count: int
    page: int
    per_page: int
    items: list[SubscriptionOut]


class TakeTierIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    product: str = _PRODUCT
    tier: int = _TIER
    organization: str | None = _BUYER
    accept_licence: bool = Field(description="The product's licence is accepted: must be true.")


class BillingProfileIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(max_length=1000, description="The name to bill (at most 200 characters).")
    country: str = Field(max_length=100, description="An ISO 3166 country code, such as DE.")
    tax_id: str = Field(
        "", max_length=1000, description="A VAT or tax id, checked for the country."
    )
    address: str = Field("", max_length=5000)
    organization: str | None = Field(
        None, max_length=100, description="The organisation billed (its owners may set it)."
    )


class BillingProfileOut(Schema):
    organization: str | None
    name: str
    address: str
    country: str
    tax_id: str
    updated_at: dt.datetime
    tax_rate: str = Field(description="The rate charged today, in percent.")
    tax_rate_bp: int
    reverse_charge: bool


class QuoteIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    product: str = _PRODUCT
    tier: int = _TIER
    organization: str | None = _BUYER


class QuoteOut(Schema):
    product: CommerceProduct
    tier_id: int
    tier_name: str
    billing_period: str
    currency: str
    net_minor: int
    net: str
    tax_minor: int
    tax: str
    total_minor: int
    total: str
    tax_rate: str
    tax_rate_bp: int
    tax_name: str
    tax_country: str
    reverse_charge: bool
    billed: bool = Field(description="Whether billing details exist (a checkout needs them).")
    signature: str = Field(description="Send it back with the order to confirm these figures.")


class CheckoutIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    product: str = _PRODUCT
    tier: int = _TIER
    organization: str | None = _BUYER
    accept_licence: bool
    signature: str = Field(max_length=64, description="The signature of the quote shown.")


class InvoiceLineOut(Schema):
    description: str
    period: str
    net_minor: int
    net: str


class InvoiceRefundOut(Schema):
    kind: str
    amount_minor: int
    amount: str
    reason: str
    created_at: dt.datetime


class InvoiceOut(Schema):
    """The invoice as it was issued; later changes to the store never alter it."""

    number: str
    issued_at: dt.datetime
    seller: dict[str, Any]
    publisher: str
    buyer: dict[str, Any]
    lines: list[InvoiceLineOut]
    currency: str
    net_minor: int
    net: str
    tax_label: str
    tax_rate_bp: int
    tax_minor: int
    tax: str
    total_minor: int
    total: str
    note: str
    refunds: list[InvoiceRefundOut]


class OrderOut(Schema):
    id: int
    kind: str
    status: str
    status_label: str
    product: CommerceProduct
    tier_name: str
    subscription_id: int
    holder: Holder
    currency: str
    net_minor: int
    net: str
    tax_minor: int
    tax: str
    total_minor: int
    total: str
    tax_rate: str
    tax_rate_bp: int
    tax_country: str
    reverse_charge: bool
    refunded_minor: int
    refunded: str
    provider: str
    period_start: dt.datetime | None
    period_end: dt.datetime | None
    created_at: dt.datetime
    paid_at: dt.datetime | None
    failure: str
    invoice_number: str | None


class OrderDetailOut(OrderOut):
    invoice: InvoiceOut | None
    payment_instructions: str = Field(description="How to pay an open order, if by hand.")
    payment_url: str = Field(
        description="The page where the customer pays an open order by card (empty when "
        "the order is paid by instructions or nothing is left to pay)."
    )


class OrderPage(Schema):
    count: int
    page: int
    per_page: int
    items: list[OrderOut]


# --- what publishers see ------------------------------------------------------------------------


class SaleOut(Schema):
    id: int
    kind: str
    status: str
    product: CommerceProduct
    tier_name: str
    customer: str
    customer_country: str
    currency: str
    net_minor: int
    net: str
    tax_minor: int
    tax: str
    total_minor: int
    total: str
    store_share_minor: int
    store_share: str
    publisher_share_minor: int
    publisher_share: str
    refunded_minor: int
    refunded: str
    refundable_minor: int
    refundable: str
    created_at: dt.datetime
    paid_at: dt.datetime | None
    invoice_number: str | None


class SalePage(Schema):
    count: int
    page: int
    per_page: int
    items: list[SaleOut]


class TierSales(Schema):
    product: str
    product_name: str
    tier_id: int | None
    tier_name: str
    entitled: int = Field(description="Subscriptions active or past due.")
    counts: dict[str, int] = Field(description="Subscriptions by status.")


class SaleRefundOut(Schema):
    id: int
    order_id: int
    kind: str
    currency: str
    amount_minor: int
    amount: str
    reason: str
    created_at: dt.datetime


class OwedAmount(Schema):
    currency: str
    amount_minor: int
    amount: str


class SalesOut(Schema):
    organization: str
    owed: list[OwedAmount] = Field(description="What the store owes the publisher.")
    tiers: list[TierSales]
    refunds: list[SaleRefundOut] = Field(description="The latest 100 refunds.")
    orders: SalePage


class RefundIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    amount: str | None = Field(
        None,
        max_length=40,
        description="In major units as a decimal string (12.50); null or left out for all "
        "that is left.",
    )
    reason: str = Field(max_length=2000)


class RefundOut(Schema):
    id: int
    order_id: int
    kind: str
    currency: str
    amount_minor: int
    amount: str
    net_minor: int
    tax_minor: int
    store_share_minor: int
    reason: str
    created_at: dt.datetime
    created_by: str | None


# --- what the store team sees -------------------------------------------------------------------


class StaffOrderOut(SaleOut):
    publisher: str
    subscription_id: int
    provider: str
    provider_ref: str
    billing: dict[str, Any]
    failure: str


class StaffOrderPage(Schema):
    count: int
    page: int
    per_page: int
    items: list[StaffOrderOut]


class MarkPaidIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    reference: str = Field("", max_length=100, description="The payment's reference.")


class TaxRateIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    country: str = Field(max_length=100, description="An ISO 3166 country code.")
    rate: str = Field(max_length=40, description="In percent: 19 or 7.5 (two places at most).")
    starts_on: str = Field(max_length=40, json_schema_extra={"format": "date"})
    name: str = Field("VAT", max_length=200)


class TaxRateOut(Schema):
    id: int
    country: str
    rate: str
    rate_bp: int
    name: str
    starts_on: dt.date
    in_force: bool = Field(description="Whether it is the country's rate today.")
    created_at: dt.datetime
    created_by: str | None


class RevenueShareIn(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)

    share: str | None = Field(
        max_length=40, description="The store's share in percent; null for the default."
    )


class RevenueShareOut(Schema):
    organization: str
    share: str
    share_bp: int
    default: bool


class LedgerAccountOut(Schema):
    account: str
    party: str
    label: str
    currency: str
    balance_minor: int
    balance: str


class LedgerCheck(Schema):
    ok: bool
    problems: list[str]


class LedgerOut(Schema):
    balances: list[LedgerAccountOut]
    verification: LedgerCheck
