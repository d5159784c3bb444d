"""The submission panel on the product page, without the catalogue importing moderation."""

from __future__ import annotations

from typing import Any

from django import template

from portside.accounts import permissions
from portside.moderation.models import OPEN_STATES, Submission

register = template.Library()


@register.inclusion_tag("moderation/_submission_panel.html", takes_context=True)
def submission_panel(context: dict[str, Any], product: Any) -> dict[str, Any]:
    user = context["request"].user
    current = Submission.objects.filter(product=product, state__in=OPEN_STATES).first()
    return {
        "product": product,
        "org": product.organization,
        "submission": current,
        "past": Submission.objects.filter(product=product)
        .exclude(state__in=OPEN_STATES)
        .order_by("-updated_at")[:10],
        "can_submit": permissions.can_edit_products(user, product.organization)
        and (current is None or current.state == "changes_requested"),
        "csrf_token": context.get("csrf_token"),
    }
