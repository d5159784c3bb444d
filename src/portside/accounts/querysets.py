"""Visibility and reads of the accounts context, as QuerySet methods."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from portside.accounts.models import User


class OrganizationQuerySet(models.QuerySet[Any]):
    def visible_to(self, user: User | Any) -> OrganizationQuerySet:
        """Organisations whose private pages the user may open."""
        if not user.is_authenticated:
            return self.none()
        if user.is_store_team:
            return self.all()
        return self.filter(memberships__user=user)


class InvitationQuerySet(models.QuerySet[Any]):
    def pending(self, now: dt.datetime) -> InvitationQuerySet:
        return self.filter(accepted_at=None, revoked_at=None, expires_at__gt=now)


class AccessTokenQuerySet(models.QuerySet[Any]):
    def active(self, now: dt.datetime) -> AccessTokenQuerySet:
        return self.filter(revoked_at=None, expires_at__gt=now)
