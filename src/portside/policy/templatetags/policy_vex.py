"""VEX on the scan page: which findings an approved statement covers, and a link to state
one. Scanning's templates load these (``{% load policy_vex %}``); scanning never imports
the policy context.

``{% vex_mark finding scan %}`` shows "Not affected (VEX)" on a finding that an approved,
unexpired ``not_affected`` statement of a product made from the scan's repository covers
(the rule of ``policy.vex.covers``), with the statement's justification as its title.
``{% vex_state_link finding scan %}`` links the publisher's owners and editors to the
statement form, filled in for the finding.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import format_html

from portside.accounts import permissions
from portside.core import clock
from portside.policy import vex_services
from portside.policy.models import VexReview, VexStatement, VexStatus

register = template.Library()


def _statements(context: template.Context, scan: Any) -> list[VexStatement]:
    """The approved not-affected statements of the scan's products, read once per page."""
    cache = context.render_context
    key = f"policy_vex:{scan.repository_id}"
    if key not in cache:
        cache[key] = list(
            VexStatement.objects.filter(
                product_id__in=vex_services.products_of(scan.repository_id),
                review=VexReview.APPROVED,
                status=VexStatus.NOT_AFFECTED,
            )
        )
    found: list[VexStatement] = cache[key]
    return found


@register.simple_tag(takes_context=True)
def vex_mark(context: template.Context, finding: Any, scan: Any) -> str:
    statement = vex_services.covering(
        product_ids=[],
        digest=scan.digest,
        finding=finding,
        now=clock.now(),
        statements=_statements(context, scan),
    )
    if statement is None:
        return ""
    return format_html(
        '<br><span class="badge vex-covered" title="{}">Not affected (VEX {})</span>',
        statement.get_justification_display() or statement.impact_statement[:200],
        statement.pk,
    )


@register.simple_tag(takes_context=True)
def vex_state_link(context: template.Context, finding: Any, scan: Any) -> str:
    request = context.get("request")
    organization = scan.repository.organization
    if request is None or not permissions.can_state_vex(request.user, organization):
        return ""
    query = urlencode(
        {
            "repository": scan.repository.name,
            "digest": scan.digest,
            "advisory": finding.advisory_id,
            "package_type": finding.package_type,
            "package_name": finding.package_name,
        }
    )
    url = reverse("vex_new", args=[organization.name]) + "?" + query
    return format_html('<br><a class="small" href="{}">State its status (VEX)…</a>', url)
