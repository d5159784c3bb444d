"""What commerce does when other contexts tell it something happened."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from portside.accounts import permissions
from portside.accounts.models import User
from portside.commerce import entitlements
from portside.commerce.models import PullRecord
from portside.core import clock


def _resolve(user_id: int, repository: str, tag: str) -> tuple[str, int, Any] | None:
    """(user name, publisher id, the subscription held) for a customer's pull; None for
    anyone else (members and the store team pull as themselves, not as customers)."""
    from portside.registry.services import namespace_of

    result = None
    publisher = namespace_of(repository)
    user = User.objects.filter(pk=user_id).first()
    if publisher is not None and user is not None:
        if not permissions.repository_actions(user, publisher):
            held = entitlements.subscription_for_pull(user_id, publisher.pk, repository, tag)
            if held is not None:
                result = (user.username, publisher.pk, held)
    return result


def record_customer_pulls(*, pulls: list[dict[str, Any]], **_: Any) -> None:
    """Each manifest pulled by a customer becomes a ``PullRecord`` naming the subscription
    it was pulled under (the raw material of publishers' reports and of notices to the
    people who downloaded an image). Anonymous pulls of listed images are refused, so
    none is kept."""
    rows = []
    # One lookup per customer, repository and tag of the batch: a client pulling an image
    # fetches several manifests (an index, then a platform's image) within moments.
    known: dict[tuple[int, str, str], tuple[str, int, Any] | None] = {}
    for pull in pulls:
        user_id = pull.get("user_id")
        if not user_id:
            continue
        key = (user_id, pull["repository"], pull.get("tag") or "")
        if key not in known:
            known[key] = _resolve(*key)
        resolved = known[key]
        if resolved is None:
            continue
        username, publisher_id, held = resolved
        pulled_at = pull.get("pulled_at")
        rows.append(
            PullRecord(
                user_id=user_id,
                username=username,
                subscription_id=held.subscription_id,
                customer_organization_id=held.organization_id,
                product_id=held.product_id,
                publisher_id=publisher_id,
                tier_name=held.tier.name,
                paid=held.paid,
                repository=pull["repository"],
                tag=pull.get("tag") or "",
                digest=pull["digest"],
                pulled_at=dt.datetime.fromisoformat(pulled_at) if pulled_at else clock.now(),
            )
        )
    if rows:
        with transaction.atomic():
            PullRecord.objects.bulk_create(rows, ignore_conflicts=True)
