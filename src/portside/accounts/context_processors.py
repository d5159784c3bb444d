from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from portside.accounts import permissions


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "nav_is_store_team": permissions.is_store_team(user),
        "nav_can_view_audit": permissions.can_view_audit(user),
        "nav_can_moderate": permissions.can_moderate(user),
    }
