"""The ledger under any sequence of money events, and under concurrent renewals and
cancellations: every transaction balances, kept balances equal the entries' sums, refunds
never exceed payments, and the publisher is owed exactly what the orders say."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portside.commerce import ledger, renewals, services
from portside.commerce.models import LedgerEntry, Order, OrderStatus, Subscription
from portside.core import clock
from portside.core.errors import PortsideError
from tests.commerce.world import Store, billed, customer
from tests.factories import TEST_ORIGIN


class _Rollback(Exception):
    pass


def _buy(store: Store, user: Any, key: str = "") -> Order:
    offer = services.quote(
        listing=store.listing,
        tier_id=store.paid_tier,
        profile=services.billing.profile_of(user=user, organization=None),
    )
    return services.checkout(
        listing=store.listing, tier_id=store.paid_tier, user=user, accept_licence=True,
        signature=offer.signature, idempotency_key=key, origin=TEST_ORIGIN,
    )  # fmt: skip


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.integers(0, 2)),
        st.tuples(st.just("pay"), st.integers(0, 5)),
        st.tuples(st.just("refund"), st.integers(0, 5), st.integers(1, 6000)),
        st.tuples(st.just("refund_all"), st.integers(0, 5)),
        st.tuples(st.just("cancel"), st.integers(0, 2)),
        st.tuples(st.just("days"), st.integers(1, 40)),
    ),
    max_size=14,
)


def _expected_owed(publisher_id: int) -> int:
    owed = 0
    for order in Order.objects.filter(publisher_id=publisher_id):
        if order.status != OrderStatus.PAID:
            continue  # an unpaid invoice's share is pending, not owed
        owed += order.net_minor - order.store_share_minor
        for refund in order.refunds.all():
            owed -= refund.net_minor - refund.store_share_minor
    return owed


@pytest.mark.django_db
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=OPS)
def test_any_sequence_keeps_the_books(store: Store, ops: list[tuple[Any, ...]]) -> None:
    admin = store.pub.admin
    try:
        with transaction.atomic(), clock.frozen() as frozen:
            people = [customer(f"c{i}-{id(ops)}") for i in range(3)]
            for person in people:
                billed(person, "DE")
            for op in ops:
                orders = list(Order.objects.order_by("pk"))
                try:
                    if op[0] == "buy":
                        _buy(store, people[op[1]])
                    elif op[0] == "pay" and orders:
                        services.mark_paid(
                            order=orders[op[1] % len(orders)], acting=admin, origin=TEST_ORIGIN
                        )
                    elif op[0] == "refund" and orders:
                        services.refund(
                            order=orders[op[1] % len(orders)], amount_minor=op[2], reason="r",
                            acting=admin, origin=TEST_ORIGIN,
                        )  # fmt: skip
                    elif op[0] == "refund_all" and orders:
                        services.refund(
                            order=orders[op[1] % len(orders)], amount_minor=None, reason="r",
                            acting=admin, origin=TEST_ORIGIN,
                        )  # fmt: skip
                    elif op[0] == "cancel":
                        sub = Subscription.objects.filter(user=people[op[1]]).first()
                        if sub is not None:
                            services.cancel(
                                subscription=sub, acting=people[op[1]], origin=TEST_ORIGIN
                            )
                    elif op[0] == "days":
                        frozen.advance(days=op[1])
                        renewals.run_due()
                except PortsideError:
                    pass  # a refused step (refund of an unpaid order, too much) changes nothing
                check = ledger.verify()
                assert check.ok, check.problems
                for order in Order.objects.all():
                    assert 0 <= order.refunded_minor <= order.total_minor
                    assert sum(r.amount_minor for r in order.refunds.all()) == order.refunded_minor
                    if order.refunded_minor:
                        assert order.status == OrderStatus.PAID
                owed = ledger.owed_to(store.pub.org.pk).get("EUR", 0)
                assert owed == _expected_owed(store.pub.org.pk)
            raise _Rollback
    except _Rollback:
        pass


def test_entries_cannot_be_changed(store: Store) -> None:
    carol = customer()
    billed(carol)
    order = _buy(store, carol)
    entry = LedgerEntry.objects.filter(transaction__order=order).first()
    assert entry is not None
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    from django.db import DatabaseError

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount_minor=1)


SETUP = """
import django, datetime as dt
django.setup()
from portside.commerce import services
from portside.commerce.models import Subscription
from tests.commerce.world import build_store, billed, customer
from tests.commerce.test_ledger import _buy
from tests.factories import TEST_ORIGIN
store = build_store()
for i in range(ROUNDS):
    person = customer(f"racer{i}")
    billed(person)
    order = _buy(store, person)
    services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
past = Subscription.objects.first().current_period_end - dt.timedelta(days=31)
Subscription.objects.update(current_period_end=past, next_attempt_at=past)
"""
RENEW = """
import django, sys, time
django.setup()
from portside.commerce import renewals
time.sleep(max(float(sys.argv[1]) - time.time(), 0))
renewals.run_due()
"""
CANCEL = """
import django, sys, time
django.setup()
from portside.commerce import services
from portside.commerce.models import Subscription
from tests.factories import TEST_ORIGIN
subs = list(Subscription.objects.select_related("user").order_by("pk"))
time.sleep(max(float(sys.argv[1]) - time.time(), 0))
for sub in subs:
    services.cancel(subscription=sub, acting=sub.user, origin=TEST_ORIGIN)
"""
CHECK = """
import django, json
django.setup()
from portside.commerce import ledger
from portside.commerce.models import Subscription
rows = [
    (s.status, s.cancel_at_period_end, s.orders.filter(kind="renewal").exclude(status="void").count())
    for s in Subscription.objects.all()
]
print(json.dumps({"ok": ledger.verify().ok, "rows": rows}))
"""


@pytest.mark.e2e
def test_renewals_and_cancellations_at_once_leave_one_state(tmp_path: Any) -> None:
    """The worker renews while customers cancel, in separate processes on a database of
    their own (the deployment's shape): each subscription either ended at its period's
    end with no renewal charged, or was renewed first and will not renew again; the
    books balance either way."""
    import json
    import subprocess
    import sys
    import time

    from tests.servers import scratch_environment

    rounds = 6
    with scratch_environment(tmp_path) as env:
        env = env | {"DJANGO_SETTINGS_MODULE": "portside.config.settings"}

        def run(code: str, *args: str) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-c", code, *args], env=env, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip

        migrate = subprocess.run(
            [sys.executable, "-m", "portside.cli.main", "migrate", "--no-input"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr
        setup = run(SETUP.replace("ROUNDS", str(rounds)))
        out, err = setup.communicate(timeout=300)
        assert setup.returncode == 0, err
        at = str(time.time() + 4)
        racers = [run(RENEW, at), run(CANCEL, at)]
        for racer in racers:
            out, err = racer.communicate(timeout=300)
            assert racer.returncode == 0, err
        check = run(CHECK)
        out, err = check.communicate(timeout=120)
        assert check.returncode == 0, err
    result = json.loads(out)
    assert result["ok"]
    assert len(result["rows"]) == rounds
    for status, cancel_at_end, renewals_charged in result["rows"]:
        if status == "cancelled":
            assert renewals_charged == 0
        else:
            assert status == "past_due" and cancel_at_end and renewals_charged == 1
