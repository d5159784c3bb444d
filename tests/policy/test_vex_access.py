"""Access-matrix rows of the VEX pages (every role, through the real URLs).

The world is the shared one (organisation ``acme``, its repository ``acme/app`` with a
scanned image) plus a listed product made from that repository, a customer entitled to
it by an active subscription, and a statement pending review (stated by the owner)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from portside.catalog.models import ProductSource
from portside.commerce.models import Subscription, SubscriptionStatus
from portside.core import clock
from portside.policy.models import VexStatement
from portside.registry.models import Repository
from tests.access import ROLES, Row, World, build_world, check, outcomes
from tests.catalog.factories import make_listing, tier


def vex_world() -> World:
    world = build_world()
    now = clock.now()
    repository = Repository.objects.get(name="acme/app")
    listing = make_listing(
        "acme",
        "app",
        name="Acme App",
        tiers=[tier(access=[{"repository": "acme/app", "tags": ["1.0"]}])],
    )
    product = listing.product
    ProductSource.objects.create(product=product, repository=repository, tags=["1.0"])
    Subscription.objects.create(
        product=product,
        listing=listing,
        tier_name="Community",
        tier_snapshot=tier(access=[{"repository": "acme/app", "tags": ["1.0"]}]),
        revision_number=listing.revision.number,
        user=world.users["customer"],
        status=SubscriptionStatus.ACTIVE,
        currency="USD",
        billing_period="free",
        created_at=now,
        started_at=now,
    )
    statement = VexStatement.objects.create(
        product=product,
        organization_id=product.organization_id,
        advisory_id="CVE-2024-0001",
        package_type="pypi",
        package_name="demo",
        status="not_affected",
        justification="component_not_present",
        created_at=now,
        created_by_id=world.users["owner"].pk,
    )
    world.ids.update({"product": product.slug, "statement": statement.pk})
    return world


# Members and the store team see an organisation's statements; anyone else: 404.
_SEE = outcomes(default=200, customer=404, other_member=404)
# Owners and editors act; other members and the store team see but may not (403).
_ACT = outcomes(default=403, customer=404, other_member=404, editor=302, owner=302)
_FORM = outcomes(default=403, customer=404, other_member=404, editor=200, owner=200)
_FORM_INVALID = outcomes(default=403, customer=404, other_member=404, editor=400, owner=400)
_REVIEW = outcomes(default=403, security=302, admin=302)
# Approved statements: the entitled customer, members and the store team.
_READ = outcomes(default=200, other_member=404)

NEW_STATEMENT = {
    "product": "{product}",
    "advisory_id": "CVE-2024-0002",
    "status": "under_investigation",
    "justification": "",
    "package_type": "pypi",
    "package_name": "demo",
    "digest": "{digest}",
}

ROWS: list[Row] = [
    Row("GET", "/orgs/acme/security/vex/", _SEE),
    Row("GET", "/orgs/acme/security/vex/?product={product}", _SEE),
    Row("GET", "/orgs/acme/security/vex/new", _FORM),
    Row(
        "GET",
        "/orgs/acme/security/vex/new?repository=acme/app&digest={digest}&advisory=CVE-2024-0001"
        "&package_type=pypi&package_name=demo",
        _FORM,
    ),
    Row("POST", "/orgs/acme/security/vex/new", _ACT, data=NEW_STATEMENT),
    Row("POST", "/orgs/acme/security/vex/new", _FORM_INVALID, data={"status": "bogus"}),
    Row("POST", "/orgs/acme/security/vex/{statement}/withdraw", _ACT, data={"reason": "x"}),
    Row("GET", "/orgs/acme/security/vex/{product}/import", _FORM),
    Row("POST", "/orgs/acme/security/vex/{product}/import", _FORM_INVALID),
    Row("GET", "/orgs/acme/security/vex/{product}/openvex.json", _SEE),
    Row("GET", "/orgs/acme/security/vex/no-such-product/openvex.json", outcomes(default=404)),
    Row("GET", "/staff/security/vex/", outcomes(default=403, security=200, admin=200)),
    Row("POST", "/staff/security/vex/{statement}/approve", _REVIEW),
    Row("POST", "/staff/security/vex/{statement}/reject", _REVIEW, data={"reason": "No."}),
    Row("GET", "/library/vex/acme/{product}/", _READ),
    Row("GET", "/library/vex/acme/{product}/openvex.json", _READ),
    Row("GET", "/library/vex/acme/no-such-product/", outcomes(default=404)),
]


def test_every_vex_route_has_a_row() -> None:
    from django.urls import resolve

    from portside.policy import vex_views

    ids = {"product": "app", "statement": 1, "digest": "sha256:" + "0" * 64}
    exercised = {resolve(row.path.format(**ids).partition("?")[0]).url_name for row in ROWS}
    assert exercised == {p.name for p in vex_views.urlpatterns}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "row, role", [pytest.param(r, role, id=f"{r.id} [{role}]") for r in ROWS for role in ROLES]
)
def test_access(client: Client, row: Row, role: str, settings: Any, tmp_path: Any) -> None:
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    from portside.registry import storage

    storage._store.cache_clear()
    check(client, vex_world(), row, role)
    storage._store.cache_clear()
