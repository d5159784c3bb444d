"""Visibility of products and listings."""

from __future__ import annotations

from typing import Any

from django.db import models


class ProductQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> ProductQuerySet:
        """Products whose private pages ``user`` may open: its organisations' and, for the
        store team, all of them. Customers reach products only through listings."""
        if not (user is not None and getattr(user, "is_authenticated", False)):
            return self.none()
        if getattr(user, "store_role", ""):
            return self.all()
        return self.filter(organization__memberships__user=user)


class ListingQuerySet(models.QuerySet):
    def live(self) -> ListingQuerySet:
        return self.filter(state="live")

    def of_publisher(self, organization: Any) -> ListingQuerySet:
        return self.live().filter(product__organization=organization)
