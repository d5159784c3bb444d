"""What commerce does when other contexts tell it something happened."""

from __future__ import annotations

import datetime as dt
from typing import Any

from portside.accounts import permissions
from portside.accounts.models import User
from portside.commerce import entitlements
from portside.commerce.models import PullRecord
from portside.core import clock


def record_customer_pull(
    *,
    repository: str,
    digest: str,
    tag: str,
    user_id: int | None,
    pulled_at: str = "",
    **_: Any,
) -> None:
    """A manifest pulled by a customer becomes a ``PullRecord`` naming the subscription
    it was pulled under (the raw material of publishers' reports and of notices to the
    people who downloaded an image). Members and the store team pull as themselves, not
    as customers, and anonymous pulls of listed images are refused, so neither is kept."""
    if not user_id:
        return
    from portside.registry.services import namespace_of

    publisher = namespace_of(repository)
    if publisher is None:
        return
    user = User.objects.filter(pk=user_id).first()
    if user is None or permissions.repository_actions(user, publisher):
        return
    held = entitlements.subscription_for_pull(user_id, publisher.pk, repository, tag)
    if held is None:
        return
    PullRecord.objects.create(
        user_id=user_id,
        username=user.username,
        subscription_id=held.subscription_id,
        customer_organization_id=held.organization_id,
        product_id=held.product_id,
        publisher_id=publisher.pk,
        tier_name=held.tier.name,
        paid=held.paid,
        repository=repository,
        tag=tag,
        digest=digest,
        pulled_at=dt.datetime.fromisoformat(pulled_at) if pulled_at else clock.now(),
    )
