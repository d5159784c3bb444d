"""The words of each notice, for publishers and for customers.

Publishers read everything about their own products: the vulnerability, the package, the
tags and the deadline. Customers read only that a product's listing is held, released,
revoked or reinstated, and which of the tags they pulled are concerned: scan results are
the publisher's, so a customer's notice never names a vulnerability or a package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from portside.catalog.models import Product
from portside.core import clock


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def absolute(path: str) -> str:
    return settings.BASE_URL.rstrip("/") + path


def when(stamp: Any) -> str:
    return clock.utc_minutes(stamp) or "an unknown time"


def _product(payload: dict[str, Any]) -> Product | None:
    product_id = payload.get("product_id")
    if not isinstance(product_id, int):
        return None
    return Product.objects.select_related("organization").filter(pk=product_id).first()


def publisher_link(payload: dict[str, Any]) -> str:
    product = _product(payload)
    if product is None:
        return ""
    return absolute(reverse("product_edit", args=[product.organization.name, product.slug]))


def store_link(payload: dict[str, Any]) -> str:
    product = _product(payload)
    if product is None:
        return ""
    return absolute(reverse("product_detail", args=[product.organization.name, product.slug]))


def _name(payload: dict[str, Any]) -> str:
    return str(payload.get("product") or "your product")[:200]


def _items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in payload.get("affected") or [] if isinstance(a, dict)]


def _tags(payload: dict[str, Any]) -> str:
    lines = []
    for item in _items(payload):
        line = f"  {item.get('repository', '')}:{item.get('tag', '')}  {item.get('digest', '')}"
        if item.get("version"):
            line += f"\n    installed {item['version']}"
            fixed = [str(v) for v in item.get("fixed") or []]
            line += f"; fixed in {', '.join(fixed)}" if fixed else "; no fixed version yet"
        lines.append(line)
    return "\n".join(lines) or "  (none listed)"


def _finding(payload: dict[str, Any]) -> str:
    kind = payload.get("package_type")
    package = str(payload.get("package") or "")
    return f"{payload.get('advisory_id', '')} in {package}" + (f" ({kind})" if kind else "")


def _see(link: str) -> str:
    return f"\n{link}\n" if link else ""


# --- publishers --------------------------------------------------------------------------


def clock_started(p: dict[str, Any]) -> Message:
    severity = str(p.get("severity") or "").capitalize()
    return Message(
        f"{severity} finding in {_name(p)}: {_finding(p)}",
        f"A scan found {_finding(p)}, rated {severity}, in the listed images of "
        f"{_name(p)}.\n\nFix it by {when(p.get('due_at'))}: push fixed images and "
        "point the tags at them, or submit a VEX statement if the images are not "
        "affected. A listing whose deadline passes is put on hold.\n\n"
        f"Affected tags:\n{_tags(p)}\n{_see(publisher_link(p))}",
    )


_REMINDER = {"half": "half the time to fix it has passed", "day": "one day is left"}


def clock_reminder(p: dict[str, Any]) -> Message:
    left = _REMINDER.get(str(p.get("reminder")), "the deadline is near")
    return Message(
        f"Reminder: {_finding(p)} in {_name(p)} is due {when(p.get('due_at'))}",
        f"Reminder: {left}. {_finding(p)} in {_name(p)} must be fixed by "
        f"{when(p.get('due_at'))}, or the listing is put on hold.\n\n"
        f"Affected tags:\n{_tags(p)}\n{_see(publisher_link(p))}",
    )


_STOPPED = {
    "fixed": "no listed image carries it any more",
    "not_affected": "an approved VEX statement says the images are not affected",
    "reclassified": "the security team rated it below Major",
    "unlisted": "the listing was withdrawn",
}


def clock_stopped(p: dict[str, Any]) -> Message:
    why = _STOPPED.get(str(p.get("reason")), str(p.get("reason") or "")[:200])
    return Message(
        f"Resolved: {_finding(p)} in {_name(p)}",
        f"The deadline for {_finding(p)} in {_name(p)} no longer runs: {why}.\n"
        f"{_see(publisher_link(p))}",
    )


def held(p: dict[str, Any]) -> Message:
    return Message(
        f"{_name(p)} is on hold: security fixes overdue",
        f"A security fix for {_name(p)} was due on {when(p.get('overdue_since'))} and "
        "has not been made, so its listing is on hold: its page and its search results "
        "say security fixes are overdue. Customers who pulled the affected "
        "images are told too (without the vulnerability's name). The hold lifts once "
        "every overdue finding is fixed.\n\n"
        f"Affected tags:\n{_tags(p)}\n{_see(publisher_link(p))}",
    )


def released(p: dict[str, Any]) -> Message:
    return Message(
        f"{_name(p)} is no longer on hold",
        f"The hold on {_name(p)}, in place since {when(p.get('held_since'))}, was lifted "
        f"on {when(p.get('lifted_at'))}: the overdue security fixes are made.\n"
        f"{_see(publisher_link(p))}",
    )


def _pull_until(p: dict[str, Any]) -> str:
    if p.get("pull_until"):
        return f"Existing customers can pull its images until {when(p.get('pull_until'))}."
    return "Existing customers can no longer pull its images."


def revoked(p: dict[str, Any]) -> Message:
    return Message(
        f"{_name(p)} is revoked: security fixes overdue",
        f"The listing of {_name(p)} was revoked on {when(p.get('revoked_at'))} because "
        f"its security fixes stayed overdue. {_pull_until(p)} Ask the store team to "
        "reinstate it once the fixes are made.\n\n"
        f"Affected tags:\n{_tags(p)}\n{_see(publisher_link(p))}",
    )


def reinstated(p: dict[str, Any]) -> Message:
    reason = str(p.get("reason") or "")[:500]
    return Message(
        f"{_name(p)} is reinstated",
        f"The store team reinstated the listing of {_name(p)}"
        + (f": {reason}" if reason else "")
        + f".\n{_see(publisher_link(p))}",
    )


def vex_reviewed(p: dict[str, Any]) -> Message:
    verdict = "approved" if p.get("review") == "approved" else "rejected"
    reason = str(p.get("reason") or "")[:1000]
    effect = (
        "The findings it covers no longer count against the deadline."
        if verdict == "approved"
        else "The findings it covers keep their deadline."
    )
    return Message(
        f"VEX statement {verdict}: {p.get('advisory_id', '')} in {_name(p)}",
        f"The security team {verdict} your VEX statement about "
        f"{p.get('advisory_id', '')} in {_name(p)}. {effect}"
        + (f"\n\nTheir reason: {reason}" if reason else "")
        + f"\n{_see(publisher_link(p))}",
    )


PUBLISHER = {
    "policy:clock:started": clock_started,
    "policy:clock:reminder": clock_reminder,
    "policy:clock:stopped": clock_stopped,
    "policy:listing:held": held,
    "policy:listing:released": released,
    "policy:listing:revoked": revoked,
    "policy:listing:reinstated": reinstated,
    "policy:vex:reviewed": vex_reviewed,
}


# --- customers: the product, the tags they pulled, never the finding ------------------------


def _pulled(tags: list[str]) -> str:
    if not tags:
        return ""
    return "Tags you pulled that are concerned:\n" + "\n".join(f"  {t}" for t in tags) + "\n\n"


def customer_held(p: dict[str, Any], tags: list[str]) -> Message:
    return Message(
        f"Security notice: {_name(p)} is on hold",
        f"The publisher of {_name(p)} has not made a security fix in time, so the "
        "store put the listing on hold. You pulled images that are concerned.\n\n"
        f"{_pulled(tags)}You can still pull them; watch for updated tags, or ask the "
        "publisher when a fix is coming. We will tell you when the hold is lifted.\n"
        f"{_see(store_link(p))}",
    )


def customer_released(p: dict[str, Any], tags: list[str]) -> Message:
    return Message(
        f"Security notice: {_name(p)} is no longer on hold",
        f"The publisher of {_name(p)} made the overdue security fixes, and the hold "
        f"placed on {when(p.get('held_since'))} was lifted on {when(p.get('lifted_at'))}. "
        "Pull the current tags to get the fixed images.\n"
        f"{_see(store_link(p))}",
    )


def customer_revoked(p: dict[str, Any], tags: list[str]) -> Message:
    return Message(
        f"Security notice: {_name(p)} is revoked",
        f"The store revoked the listing of {_name(p)} because its publisher left "
        f"security fixes undone. {_pull_until(p)}\n\n{_pulled(tags)}"
        "Consider moving to another image.\n"
        f"{_see(store_link(p))}",
    )


def customer_reinstated(p: dict[str, Any], tags: list[str]) -> Message:
    return Message(
        f"Security notice: {_name(p)} is reinstated",
        f"The store team reinstated the listing of {_name(p)}: new customers can take it "
        "again. Pull the current tags to get the latest images.\n"
        f"{_see(store_link(p))}",
    )


CUSTOMER = {
    "policy:listing:held": customer_held,
    "policy:listing:released": customer_released,
    "policy:listing:revoked": customer_revoked,
    "policy:listing:reinstated": customer_reinstated,
}


def footer(scope_label: str, unsubscribe: str) -> str:
    return (
        f"\n--\nYou receive this as {scope_label}. Choose what you receive: "
        f"{absolute(reverse('notification_settings'))}\n"
        f"Stop these notices: {unsubscribe}\n"
    )
