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
from portside.catalog.models import ProductSource
from portside.core import clock
from portside.policy import vex
from portside.policy.models import VexReview, VexStatement, VexStatus

register = template.Library()


def _statements(context: template.Context, scan: Any) -> list[VexStatement]:
    """The approved not-affected statements of the scan's products, read once per page."""
    cache = context.render_context
    key = f"policy_vex:{scan.repository_id}"
    if key not in cache:
        cache[key] = list(
            VexStatement.objects.filter(
                product__in=ProductSource.objects.filter(repository_id=scan.repository_id).values(
                    "product_id"
                ),
                review=VexReview.APPROVED,
                status=VexStatus.NOT_AFFECTED,
            )
        )
    found: list[VexStatement] = cache[key]
    return found


def covering(statements: list[VexStatement], finding: Any, digest: str) -> VexStatement | None:
    """The first of ``statements`` that covers ``finding`` in the image ``digest``."""
    now = clock.now()
    for s in statements:
        if vex.covers(
            review=s.review,
            status=s.status,
            expires_at=s.expires_at,
            statement_advisory=s.advisory_id,
            statement_package_type=s.package_type,
            statement_package_name=s.package_name,
            statement_digest=s.digest,
            advisory_id=finding.advisory_id,
            aliases=finding.aliases or [],
            package_type=finding.package_type,
            package_name=finding.package_name,
            digest=digest,
            now=now,
        ):
            return s
    return None


@register.simple_tag(takes_context=True)
def vex_mark(context: template.Context, finding: Any, scan: Any) -> str:
    statement = covering(_statements(context, scan), finding, scan.digest)
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
