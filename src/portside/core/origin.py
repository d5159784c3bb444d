"""Where an action came from: passed explicitly to services, which never see requests."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass(frozen=True)
class Origin:
    ip_address: str | None = None
    user_agent: str = ""

    def audit_fields(self) -> dict[str, Any]:
        return {"ip_address": self.ip_address, "user_agent": self.user_agent}


CLI = Origin(user_agent="portside-cli")


def from_request(request: Any) -> Origin:
    """The client's address and user agent. ``X-Forwarded-For`` is believed only when
    ``PORTSIDE_BEHIND_PROXY`` says a trusted proxy sets it (its last entry is the proxy's
    view of the client)."""
    meta = request.META
    ip = meta.get("REMOTE_ADDR") or None
    if settings.BEHIND_PROXY and meta.get("HTTP_X_FORWARDED_FOR"):
        ip = meta["HTTP_X_FORWARDED_FOR"].split(",")[-1].strip()
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip))
        except ValueError:
            ip = None
    return Origin(ip_address=ip, user_agent=meta.get("HTTP_USER_AGENT", "")[:512])
