"""The store's double-entry ledger: every money event posts entries that add up to zero.

Accounts are named (``models.Account``) and kept per party: a publisher's payable per
organisation id, tax payable per country, the provider's clearing account per provider,
the customer's receivable per holder (``user:ID`` or ``org:ID``). A debit is a positive
amount, a credit a negative one. Entries are append-only; ``LedgerBalance`` keeps each
account's running sum in the same transaction and :func:`verify` recomputes every balance
from the entries.

The publisher's part of an invoice waits in "publisher pending" until the customer pays;
only then is it owed to the publisher ("publisher payable"), so what a publisher is owed
is always money the store has received.

| event      | debit                                   | credit                               |
|------------|-----------------------------------------|--------------------------------------|
| charge     | customer receivable (total)             | publisher pending (net - share),     |
|            |                                         | store revenue (share), tax (tax)     |
| payment    | provider clearing (total),              | customer receivable (total),         |
|            | publisher pending (net - share)         | publisher payable (net - share)      |
| void       | the charge's credits                    | customer receivable (total)          |
| refund     | publisher payable, store revenue, tax   | provider clearing (amount)           |
| chargeback | as a refund                             | as a refund                          |
| payout     | publisher payable                       | provider clearing                    |
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Sum

from portside.commerce.models import (
    Account,
    LedgerBalance,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Refund,
)
from portside.core import clock


class Unbalanced(ValueError):
    """A transaction whose entries do not add up to zero in some currency."""


@dataclass(frozen=True)
class Line:
    account: str
    party: str
    currency: str
    amount: int  # debit > 0, credit < 0


def post(
    kind: str,
    lines: list[Line],
    *,
    order: Order | None = None,
    refund: Refund | None = None,
    memo: str = "",
) -> LedgerTransaction:
    """Write one balanced transaction and move the balances it touches."""
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if line.account not in Account.values:
            raise Unbalanced(f"unknown account {line.account}")
        totals[line.currency] += line.amount
    if any(totals.values()):
        raise Unbalanced(f"{kind} does not balance: {dict(totals)}")
    lines = [line for line in lines if line.amount]
    with transaction.atomic():
        txn = LedgerTransaction.objects.create(
            kind=kind, created_at=clock.now(), order=order, refund=refund, memo=memo[:300]
        )
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    transaction=txn,
                    account=line.account,
                    party=line.party,
                    currency=line.currency,
                    amount_minor=line.amount,
                )
                for line in lines
            ]
        )
        sums: dict[tuple[str, str, str], int] = defaultdict(int)
        for line in lines:
            sums[(line.account, line.party, line.currency)] += line.amount
        for (account, party, currency), amount in sums.items():
            LedgerBalance.objects.bulk_create(
                [LedgerBalance(account=account, party=party, currency=currency)],
                ignore_conflicts=True,
            )
            LedgerBalance.objects.filter(account=account, party=party, currency=currency).update(
                balance_minor=F("balance_minor") + amount
            )
    return txn


def balance(account: str, party: str, currency: str) -> int:
    row = LedgerBalance.objects.filter(account=account, party=party, currency=currency).first()
    return row.balance_minor if row else 0


def recomputed() -> dict[tuple[str, str, str], int]:
    rows = LedgerEntry.objects.values("account", "party", "currency").annotate(
        total=Sum("amount_minor")
    )
    return {(r["account"], r["party"], r["currency"]): int(r["total"] or 0) for r in rows}


@dataclass(frozen=True)
class Verification:
    ok: bool
    problems: list[str]


def verify() -> Verification:
    """Every transaction balances and every kept balance equals the sum of its entries."""
    problems = []
    with connection.cursor() as cursor:
        table = LedgerEntry._meta.db_table
        cursor.execute(
            f"SELECT transaction_id, currency, SUM(amount_minor) FROM {table} "  # noqa: S608
            "GROUP BY transaction_id, currency HAVING SUM(amount_minor) <> 0"
        )
        for txn, currency, total in cursor.fetchall():
            problems.append(f"transaction {txn} is off by {total} {currency}")
    kept = {(b.account, b.party, b.currency): b.balance_minor for b in LedgerBalance.objects.all()}
    derived = recomputed()
    for key in set(kept) | set(derived):
        if kept.get(key, 0) != derived.get(key, 0):
            problems.append(
                f"{':'.join(key)} is kept as {kept.get(key, 0)} but its entries add up "
                f"to {derived.get(key, 0)}"
            )
    return Verification(not problems, problems)


# --- the postings of each money event -----------------------------------------------------------


def holder_party(order: Order) -> str:
    sub = order.subscription
    return f"org:{sub.organization_id}" if sub.organization_id else f"user:{sub.user_id}"


def _shares(
    order: Order, *, sign: int, net: int, tax: int, share: int, publisher: str
) -> list[Line]:
    c = order.currency
    return [
        Line(publisher, str(order.publisher_id), c, sign * (net - share)),
        Line(Account.STORE_REVENUE, "", c, sign * share),
        Line(Account.TAX_PAYABLE, order.tax_country, c, sign * tax),
    ]


def post_charge(order: Order) -> LedgerTransaction:
    lines = [
        Line(Account.CUSTOMER_RECEIVABLE, holder_party(order), order.currency, order.total_minor)
    ]
    lines += _shares(
        order,
        sign=-1,
        net=order.net_minor,
        tax=order.tax_minor,
        share=order.store_share_minor,
        publisher=Account.PUBLISHER_PENDING,
    )
    return post("charge", lines, order=order, memo=f"order {order.pk}")


def post_payment(order: Order) -> LedgerTransaction:
    c = order.currency
    publisher_share = order.net_minor - order.store_share_minor
    party = str(order.publisher_id)
    return post(
        "payment",
        [
            Line(Account.PROVIDER_CLEARING, order.provider, c, order.total_minor),
            Line(Account.CUSTOMER_RECEIVABLE, holder_party(order), c, -order.total_minor),
            Line(Account.PUBLISHER_PENDING, party, c, publisher_share),
            Line(Account.PUBLISHER_PAYABLE, party, c, -publisher_share),
        ],
        order=order,
        memo=f"order {order.pk} paid",
    )


def post_void(order: Order) -> LedgerTransaction:
    lines = [
        Line(Account.CUSTOMER_RECEIVABLE, holder_party(order), order.currency, -order.total_minor)
    ]
    lines += _shares(
        order,
        sign=1,
        net=order.net_minor,
        tax=order.tax_minor,
        share=order.store_share_minor,
        publisher=Account.PUBLISHER_PENDING,
    )
    return post("void", lines, order=order, memo=f"order {order.pk} void")


def post_refund(order: Order, refund: Refund) -> LedgerTransaction:
    lines = _shares(
        order,
        sign=1,
        net=refund.net_minor,
        tax=refund.tax_minor,
        share=refund.store_share_minor,
        publisher=Account.PUBLISHER_PAYABLE,
    )
    lines.append(
        Line(Account.PROVIDER_CLEARING, order.provider, order.currency, -refund.amount_minor)
    )
    return post(refund.kind, lines, order=order, refund=refund, memo=refund.reason)


def post_payout(
    publisher_id: int, currency: str, amount: int, provider: str, memo: str
) -> LedgerTransaction:
    return post(
        "payout",
        [
            Line(Account.PUBLISHER_PAYABLE, str(publisher_id), currency, amount),
            Line(Account.PROVIDER_CLEARING, provider, currency, -amount),
        ],
        memo=memo,
    )


def owed_to(publisher_id: int) -> dict[str, int]:
    """What the store owes a publisher, per currency: their share of what customers paid,
    less refunds and payouts (their payable's credit balance; unpaid invoices are not in
    it)."""
    rows = LedgerBalance.objects.filter(
        account=Account.PUBLISHER_PAYABLE, party=str(publisher_id)
    ).values_list("currency", "balance_minor")
    return {currency: -amount for currency, amount in rows if amount}
