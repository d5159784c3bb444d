"""What every payment provider promises the store (``providers.base.PaymentProvider``),
checked the same way for each: the manual provider, and Stripe against localstripe.

The provider is watched where the services call it, so each answer checked is one the
store really acted on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from portside.commerce import providers, renewals, services
from portside.commerce.models import Order, OrderKind, OrderStatus
from portside.commerce.providers.base import PaymentProvider, PaymentResult
from portside.core import clock
from tests.commerce.test_stripe import pay, running_localstripe, stripe_settings
from tests.commerce.world import Store, billed, customer
from tests.factories import TEST_ORIGIN

STATUSES = {"paid", "pending", "failed"}


@dataclass
class Watched:
    """A provider whose answers are kept, by method."""

    inner: PaymentProvider
    answers: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def pays_by_instructions(self) -> bool:
        return self.inner.pays_by_instructions

    def _keep(self, method: str, answer: Any) -> Any:
        self.answers.setdefault(method, []).append(answer)
        return answer

    def start(self, order: Order) -> PaymentResult:
        return self._keep("start", self.inner.start(order))

    def charge_renewal(self, order: Order) -> PaymentResult:
        return self._keep("charge_renewal", self.inner.charge_renewal(order))

    def refund(self, order: Order, amount_minor: int) -> str:
        return self._keep("refund", self.inner.refund(order, amount_minor))

    def instructions(self, order: Order) -> str:
        return self._keep("instructions", self.inner.instructions(order))


@dataclass
class Case:
    name: str
    provider: Watched
    pay: Callable[[Order], None]


@pytest.fixture(scope="session")
def contract_localstripe() -> Iterator[str]:
    with running_localstripe() as url:
        yield url


@pytest.fixture(params=["manual", "stripe"])
def case(
    request: pytest.FixtureRequest, store: Store, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Case]:
    name = request.param
    if name == "stripe":
        url = request.getfixturevalue("contract_localstripe")
        stripe_settings(settings, url)
        import stripe

        browser = stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": url})

        def paid(order: Order) -> None:
            pay(browser, order.provider_ref)
            # The page the customer comes back to asks how the payment stands.
            inner: Any = watched.inner
            result = inner.payment_status(order)
            services.apply_payment_result(
                order=order, result=result, acting=order.subscription.user, origin=TEST_ORIGIN
            )

    else:
        settings.COMMERCE_PROVIDER = "manual"

        def paid(order: Order) -> None:
            services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)

    providers._configured.cache_clear()
    watched = Watched(providers.get())
    monkeypatch.setattr(providers, "get", lambda: watched)
    monkeypatch.setattr(providers, "by_name", lambda _name: watched)
    yield Case(name, watched, paid)
    providers._configured.cache_clear()


def _checkout(store: Store) -> Order:
    carol = customer()
    billed(carol, "DE")
    offer = services.quote(
        listing=store.listing,
        tier_id=store.paid_tier,
        profile=services.billing.profile_of(user=carol, organization=None),
    )
    return services.checkout(
        listing=store.listing,
        tier_id=store.paid_tier,
        user=carol,
        accept_licence=True,
        signature=offer.signature,
        origin=TEST_ORIGIN,
    )


def _known(result: Any) -> None:
    assert isinstance(result, PaymentResult)
    assert result.status in STATUSES
    assert isinstance(result.reference, str) and isinstance(result.message, str)


def test_a_provider_says_who_it_is(case: Case) -> None:
    assert case.provider.name == case.name
    assert isinstance(case.provider.name, str) and case.provider.name
    assert isinstance(case.provider.pays_by_instructions, bool)
    assert case.provider.pays_by_instructions is (case.name == "manual")


def test_start_answers_a_known_status(case: Case, store: Store) -> None:
    order = _checkout(store)
    (result,) = case.provider.answers["start"]
    _known(result)
    order.refresh_from_db()
    expected = {"paid": OrderStatus.PAID, "pending": OrderStatus.OPEN, "failed": OrderStatus.OPEN}
    assert order.status == expected[result.status]


def test_instructions_are_text(case: Case, store: Store) -> None:
    order = _checkout(store)
    told = case.provider.instructions(order)
    assert isinstance(told, str)
    if case.provider.pays_by_instructions:
        assert told  # the customer must be told how to pay
    case.pay(order)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert isinstance(case.provider.instructions(order), str)


def test_a_refund_returns_a_reference(case: Case, store: Store) -> None:
    order = _checkout(store)
    case.pay(order)
    made = services.refund(
        order=order, amount_minor=500, reason="goodwill", acting=store.pub.owner,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    (reference,) = case.provider.answers["refund"]
    assert isinstance(reference, str) and reference
    assert made.provider_ref == reference


def test_a_renewal_answers_a_known_status(case: Case, store: Store) -> None:
    with clock.frozen(dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)) as frozen:
        order = _checkout(store)
        case.pay(order)
        frozen.advance(days=28)
        outcome = renewals.run_due()
        (result,) = case.provider.answers["charge_renewal"]
        _known(result)
        sub = order.subscription_id
        listed = {"paid": outcome.renewed, "pending": outcome.pending, "failed": outcome.failed}
        assert listed[result.status] == [sub]
        renewal = Order.objects.get(subscription_id=sub, kind=OrderKind.RENEWAL)
        assert renewal.provider == case.name
