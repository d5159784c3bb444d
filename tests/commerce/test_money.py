"""Money as integers: parsing, rounding, tax, shares and refund splits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portside.commerce import money


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("9.99", "EUR", 999), ("10", "usd", 1000), ("0", "EUR", 0), ("1500", "JPY", 1500)],
)
def test_amounts_become_minor_units(amount: str, currency: str, minor: int) -> None:
    assert money.to_minor(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "reason"),
    [
        ("9.999", "EUR", "decimal places"),
        ("1.5", "JPY", "decimal places"),
        ("-1", "EUR", "negative"),
        ("NaN", "EUR", "Not an amount"),
        ("Infinity", "EUR", "Not an amount"),
        ("1e400", "EUR", "larger"),
        ("12,50", "EUR", "Not an amount"),
        ("", "EUR", "Not an amount"),
        ("1", "XXX", "not a currency"),
        ("1", "eur\x00", "not a currency"),
    ],
)
def test_hostile_amounts_are_refused_not_rounded(amount: str, currency: str, reason: str) -> None:
    with pytest.raises(money.MoneyError) as caught:
        money.to_minor(amount, currency)
    assert reason in caught.value.message


def test_percentages_and_shares() -> None:
    assert money.percent_to_bp("19") == 1900
    assert money.percent_to_bp("7.25") == 725
    for bad in ["101", "-1", "7.125", "x", "NaN"]:
        with pytest.raises(money.MoneyError):
            money.percent_to_bp(bad)
    assert money.share_of(4900, 2000) == 980
    labels = {
        0: "0%",
        725: "7.25%",
        1000: "10%",
        1900: "19%",
        2000: "20%",
        10_000: "100%",
        50: "0.5%",
    }
    assert {bp: money.bp_label(bp) for bp in labels} == labels
    assert money.share_of(5, 5000) == 3  # half up
    assert money.format_amount(123456, "EUR") == "EUR 1,234.56"
    assert money.format_amount(-5, "JPY") == "-JPY 5"


def test_periods_keep_the_day_or_take_the_last() -> None:
    start = dt.datetime(2024, 1, 31, 8, tzinfo=dt.UTC)
    assert money.period_end(start, "monthly") == dt.datetime(2024, 2, 29, 8, tzinfo=dt.UTC)
    assert money.period_end(start, "yearly") == dt.datetime(2025, 1, 31, 8, tzinfo=dt.UTC)
    assert money.period_end(start, "one_time") is None
    assert money.add_months(dt.datetime(2024, 11, 30, tzinfo=dt.UTC), 3).month == 2


@settings(max_examples=300, deadline=None)
@given(
    net=st.integers(min_value=0, max_value=10**9),
    tax_bp=st.integers(min_value=0, max_value=10_000),
    share_bp=st.integers(min_value=0, max_value=10_000),
    parts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=8),
)
def test_refunds_never_take_back_more_than_each_part(
    net: int, tax_bp: int, share_bp: int, parts: list[int]
) -> None:
    q = money.quote(net, "EUR", tax_bp=tax_bp, share_bp=share_bp)
    assert q.total == q.net + q.tax and 0 <= q.store_share <= q.net
    done = None
    for part in parts:
        left = q.total - (done.total if done else 0)
        if left == 0:
            break
        amount = min(part, left)
        split = money.split_refund(q, done, amount)
        assert split.total == amount == split.net + split.tax
        assert 0 <= split.store_share <= split.net
        done = money.add_refunds(done, split)
        assert 0 <= done.tax <= q.tax and 0 <= done.net <= q.net
        assert 0 <= done.store_share <= q.store_share
    if done is not None and done.total == q.total:
        assert (done.net, done.tax, done.store_share) == (q.net, q.tax, q.store_share)
    with pytest.raises(money.MoneyError):
        money.split_refund(q, done, q.total - (done.total if done else 0) + 1)


def test_decimal_edges() -> None:
    assert money.to_decimal(999, "EUR") == Decimal("9.99")
    assert money.to_minor(Decimal("0.10"), "EUR") == 10
