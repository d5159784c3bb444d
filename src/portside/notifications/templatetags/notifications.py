"""The notification setting offered beside a product on pages of other contexts (the
customer's library), without those contexts importing this one."""

from __future__ import annotations

from typing import Any

from django import template

from portside.notifications import preferences
from portside.notifications.models import Mode

register = template.Library()


@register.inclusion_tag("notifications/_product_offer.html", takes_context=True)
def product_notifications(context: template.Context, product: Any) -> dict[str, Any]:
    """``{% product_notifications product %}``: whether the signed-in person is told of
    the product's security holds and revocations, and a button to change it."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if product is None or user is None or not user.is_authenticated:
        return {"show": False}
    scope = f"product:{product.pk}"
    chosen = preferences.explicit(user.pk, scope)
    default = preferences.default_mode(user.pk, scope)
    mode = chosen or default
    return {
        "show": True,
        "product": product,
        "scope": scope,
        "mode": mode,
        "label": Mode(mode).label,
        "by_default": chosen is None,
        "paying": default == Mode.IMMEDIATE,
        "next": request.get_full_path() if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }
