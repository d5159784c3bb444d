"""The VEX pages through the test client: the form a finding's link fills in, uploads of
hostile documents, the review queue, the downloads, the customer's view and the mark on
the scan page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from portside.accounts.models import StoreRole
from portside.audit.models import AuditEvent
from portside.commerce import services as commerce
from portside.policy import vex, vex_services
from portside.policy.models import VexReview, VexStatement
from portside.scanning.models import Scan
from tests.commerce.world import Store, build_store
from tests.factories import TEST_ORIGIN, make_user
from tests.policy.world import CRITICAL, scanned

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def blob_store(settings, tmp_path):
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    settings.BASE_URL = "http://testserver"
    yield
    from portside.registry import storage

    storage._store.cache_clear()


@pytest.fixture
def store(db) -> Store:
    return build_store()


@pytest.fixture
def security(db) -> Any:
    return make_user("sec", store_role=StoreRole.SECURITY)


def login(client: Client, user: Any) -> Client:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def stated(store: Store, **fields: Any) -> VexStatement:
    arguments: dict[str, Any] = {
        "product": store.product,
        "advisory_id": CRITICAL["advisory"],
        "status": "not_affected",
        "justification": "component_not_present",
        "package_type": "pypi",
        "package_name": CRITICAL["package"],
        "acting": store.pub.owner,
        "origin": TEST_ORIGIN,
    }
    arguments.update(fields)
    return vex_services.state(**arguments)


def test_the_scan_page_links_a_finding_to_the_form_and_marks_it_once_covered(
    client, store, security
) -> None:
    scan = scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    login(client, store.pub.editor)
    page = client.get(f"/orgs/acme/scans/{scan.pk}/").content.decode()
    assert "State its status (VEX)" in page and "Not affected (VEX" not in page
    link = page.split('href="/orgs/acme/security/vex/new?')[1].split('"')[0].replace("&amp;", "&")
    form = client.get("/orgs/acme/security/vex/new?" + link).content.decode()
    assert CRITICAL["advisory"] in form and store.pub.digest in form
    assert 'value="acme-database" selected' in form

    response = client.post(
        "/orgs/acme/security/vex/new",
        {
            "product": "acme-database",
            "advisory_id": CRITICAL["advisory"],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present",
            "package_type": "pypi",
            "package_name": CRITICAL["package"],
            "digest": store.pub.digest,
        },
    )
    assert response.status_code == 302
    statement = VexStatement.objects.get()
    assert statement.digest == store.pub.digest and statement.created_by_id == store.pub.editor.pk

    login(client, security)
    assert client.post(f"/staff/security/vex/{statement.pk}/approve").status_code == 302
    login(client, store.pub.viewer)
    page = client.get(f"/orgs/acme/scans/{Scan.objects.get().pk}/").content.decode()
    assert f"Not affected (VEX {statement.pk})" in page
    assert "State its status (VEX)" not in page  # a viewer may not state


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"digest": "sha256:" + "0" * 64}, "No image of this product has this digest."),
        ({"justification": ""}, "needs one of OpenVEX"),
        ({"status": "affected", "justification": ""}, "says what customers should do"),
        ({"advisory_id": "<script>alert(1)</script>"}, "not a vulnerability identifier"),
        ({"product": "globex-product"}, "Select a valid choice"),
    ],
)
def test_the_form_shows_what_is_wrong(client, store, fields, message) -> None:
    login(client, store.pub.owner)
    data = {
        "product": "acme-database",
        "advisory_id": "CVE-2026-0001",
        "status": "not_affected",
        "justification": "component_not_present",
    }
    data.update(fields)
    response = client.post("/orgs/acme/security/vex/new", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "<script>alert" not in response.content.decode()
    assert not VexStatement.objects.exists()


def upload(client: Client, data: bytes) -> Any:
    return client.post(
        "/orgs/acme/security/vex/acme-database/import",
        {"document": SimpleUploadedFile("vex.json", data, content_type="application/json")},
    )


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x89PNG\r\n", "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"[" * 50_000, "nested deeper"),
        (b" " * (vex.MAX_BYTES + 10), "larger than"),
        (json.dumps({"@context": "https://openvex.dev/ns/v0.0.1"}).encode(), "not OpenVEX 0.2.0"),
    ],
)
def test_hostile_uploads_are_refused_with_the_reason(client, store, data, message) -> None:
    login(client, store.pub.owner)
    response = upload(client, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not VexStatement.objects.exists()


def test_an_upload_imports_and_the_export_downloads(client, store, security) -> None:
    login(client, store.pub.owner)
    document = {
        "@context": vex.CONTEXT,
        "@id": "https://acme.example.com/vex/2",
        "author": "Acme",
        "timestamp": "2026-03-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2026-0042"},
                "products": [{"@id": "pkg:oci/db?repository_url=testserver/acme/db"}],
                "status": "fixed",
            }
        ],
    }
    response = upload(client, json.dumps(document).encode())
    assert response.status_code == 302
    statement = VexStatement.objects.get()
    assert (statement.advisory_id, statement.review) == ("CVE-2026-0042", VexReview.PENDING)
    exported = client.get("/orgs/acme/security/vex/acme-database/openvex.json")
    assert exported["Content-Type"] == vex.MEDIA_TYPE
    assert vex.parse(exported.content).statements == ()  # nothing approved yet

    login(client, security)
    client.post(f"/staff/security/vex/{statement.pk}/approve")
    client.post(f"/staff/security/vex/{statement.pk}/approve")  # a retried click
    assert AuditEvent.objects.filter(action="policy:vex:approved").count() == 1
    login(client, store.pub.owner)
    exported = client.get("/orgs/acme/security/vex/acme-database/openvex.json")
    (item,) = vex.parse(exported.content).statements
    assert (item.advisory_id, item.status) == ("CVE-2026-0042", "fixed")


def test_the_queue_rejects_with_a_reason_only(client, store, security) -> None:
    statement = stated(store)
    login(client, security)
    queue = client.get("/staff/security/vex/").content.decode()
    assert CRITICAL["advisory"] in queue
    client.post(f"/staff/security/vex/{statement.pk}/reject", {"reason": ""})
    statement.refresh_from_db()
    assert statement.review == VexReview.PENDING
    client.post(f"/staff/security/vex/{statement.pk}/reject", {"reason": "Reachable."})
    statement.refresh_from_db()
    assert (statement.review, statement.review_reason) == (VexReview.REJECTED, "Reachable.")
    login(client, store.pub.owner)
    assert "Reachable." in client.get("/orgs/acme/security/vex/").content.decode()


def test_customers_read_approved_statements_only_while_entitled(client, store, security) -> None:
    shown = stated(store)
    hidden = stated(store, advisory_id="CVE-2026-0077")
    vex_services.approve(statement=shown, acting=security, origin=TEST_ORIGIN)
    customer = store.pub.customer
    login(client, customer)
    assert client.get("/library/vex/acme/acme-database/").status_code == 404
    subscription = commerce.take_free_tier(
        listing=store.listing,
        tier_id=store.free_tier,
        user=customer,
        origin=TEST_ORIGIN,
        accept_licence=True,
    )
    page = client.get("/library/vex/acme/acme-database/").content.decode()
    assert shown.advisory_id in page and hidden.advisory_id not in page
    assert (
        "/library/vex/acme/acme-database/"
        in client.get(f"/library/{subscription.pk}/").content.decode()
    )
    data = client.get("/library/vex/acme/acme-database/openvex.json")
    assert [s.advisory_id for s in vex.parse(data.content).statements] == [shown.advisory_id]

    storefront = client.get("/products/acme/acme-database").content.decode()
    assert shown.advisory_id not in storefront
    client.logout()
    assert client.get("/library/vex/acme/acme-database/openvex.json").status_code == 302
