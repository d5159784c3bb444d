"""VEX statements through their use cases: who may state, review and withdraw; the
audit rows and events; the OpenVEX referrer seen through the registry's API; import and
export; and the SLA clock an approved statement stops."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.db import transaction

from portside.accounts.models import StoreRole
from portside.audit.models import AuditEvent
from portside.core import clock, events
from portside.core.errors import Conflict, PermissionDenied, ValidationFailed
from portside.policy import vex, vex_services
from portside.policy.models import Clock, ClockState, StopReason, VexReview, VexStatement
from portside.registry.models import Manifest
from tests.commerce.world import Store, build_store
from tests.factories import PASSWORD, TEST_ORIGIN, make_user
from tests.policy.world import CRITICAL, delivering, scanned
from tests.registry.helpers import Registry

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def time():
    with clock.frozen(START) as frozen:
        yield frozen


@pytest.fixture(autouse=True)
def blob_store(settings, tmp_path):
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    settings.BASE_URL = "http://testserver"
    yield
    from portside.registry import storage

    storage._store.cache_clear()


@pytest.fixture
def store(time) -> Store:
    return build_store()


@pytest.fixture
def security(db) -> Any:
    return make_user("sec", store_role=StoreRole.SECURITY)


@pytest.fixture
def reviewed(monkeypatch) -> list[dict[str, Any]]:
    """The ``policy:vex:reviewed`` events, as a subscriber receives them."""
    seen: list[dict[str, Any]] = []

    def listener(**payload: Any) -> None:
        seen.append(payload)

    monkeypatch.setitem(events._subscribers, vex_services.EVENT, {"test.listener": listener})
    return seen


def stated(store: Store, **fields: Any) -> VexStatement:
    arguments: dict[str, Any] = {
        "product": store.product,
        "advisory_id": CRITICAL["advisory"],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
        "package_type": "pypi",
        "package_name": CRITICAL["package"],
        "acting": store.pub.editor,
        "origin": TEST_ORIGIN,
    }
    arguments.update(fields)
    return vex_services.state(**arguments)


def actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="policy:vex:")
        .order_by("id")
        .values_list("action", flat=True)
    )


# --- who may ----------------------------------------------------------------------------------


def test_owners_and_editors_state_and_nobody_else(store, security) -> None:
    pub = store.pub
    for user in (pub.viewer, pub.customer, pub.other, pub.moderator, security, pub.admin):
        with pytest.raises(PermissionDenied):
            stated(store, acting=user)
    assert not VexStatement.objects.exists()
    assert stated(store, acting=pub.owner).review == VexReview.PENDING
    assert (
        stated(store, acting=pub.editor, advisory_id="CVE-2026-0009").created_by_id == pub.editor.pk
    )


def test_only_security_and_admins_approve_or_reject(store, security) -> None:
    pub = store.pub
    statement = stated(store)
    for user in (pub.owner, pub.editor, pub.viewer, pub.customer, pub.other, pub.moderator):
        with pytest.raises(PermissionDenied):
            vex_services.approve(statement=statement, acting=user, origin=TEST_ORIGIN)
        with pytest.raises(PermissionDenied):
            vex_services.reject(statement=statement, acting=user, origin=TEST_ORIGIN, reason="no")
    statement.refresh_from_db()
    assert statement.review == VexReview.PENDING
    assert (
        vex_services.approve(statement=statement, acting=pub.admin, origin=TEST_ORIGIN).review
        == "approved"
    )


def test_a_reviewer_does_not_approve_their_own_statement(store, security) -> None:
    from portside.accounts.models import Membership, OrgRole

    Membership.objects.create(
        organization=store.pub.org, user=security, role=OrgRole.EDITOR, created_at=clock.now()
    )
    statement = stated(store, acting=security)
    with pytest.raises(PermissionDenied, match="other than its author"):
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)


def test_another_publisher_cannot_withdraw(store, security) -> None:
    statement = stated(store)
    with pytest.raises(PermissionDenied):
        vex_services.withdraw(statement=statement, acting=store.pub.other, origin=TEST_ORIGIN)
    with pytest.raises(PermissionDenied):
        vex_services.withdraw(statement=statement, acting=store.pub.viewer, origin=TEST_ORIGIN)


# --- the store's rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"justification": ""}, "justification"),
        ({"justification": "because"}, "justification"),
        ({"status": "fixed"}, "justification"),
        ({"status": "affected", "justification": ""}, "action_statement"),
        ({"status": "exploited"}, "status"),
        ({"advisory_id": ""}, "advisory_id"),
        ({"advisory_id": "CVE 1; DROP TABLE"}, "advisory_id"),
        ({"advisory_id": "C" * 101}, "advisory_id"),
        ({"package_name": ""}, "package_name"),
        ({"package_type": "PyPI!"}, "package_type"),
        ({"package_name": "a\x00b"}, "package_name"),
        ({"digest": "sha256:" + "0" * 64}, "digest"),
        ({"digest": "latest"}, "digest"),
        ({"expires_at": START}, "expires_at"),
        ({"impact_statement": "x" * (vex.MAX_TEXT + 1)}, "impact_statement"),
    ],
)
def test_bad_statements_are_refused_on_their_field(store, fields, field) -> None:
    with pytest.raises(ValidationFailed) as caught:
        stated(store, **fields)
    assert caught.value.field == field
    assert not VexStatement.objects.exists()


def test_every_status_can_be_stated(store) -> None:
    assert (
        stated(store, status="under_investigation", justification="").status
        == "under_investigation"
    )
    assert stated(store, status="fixed", justification="").status == "fixed"
    affected = stated(store, status="affected", justification="", action_statement="Upgrade.")
    assert affected.action_statement == "Upgrade."
    whole = stated(store, package_type="", package_name="", advisory_id="CVE-2026-0100")
    assert (whole.package_type, whole.package_name, whole.digest) == ("", "", "")


def test_a_digest_must_be_an_image_of_the_product(store) -> None:
    statement = stated(store, digest=store.pub.digest, expires_at=START + dt.timedelta(days=30))
    assert statement.digest == store.pub.digest
    other = Manifest.objects.get(repository=store.pub.other_repository).digest
    with pytest.raises(ValidationFailed):
        stated(store, digest=other)


def test_stating_the_same_thing_twice_is_one_statement(store) -> None:
    first = stated(store, impact_statement="Only the CLI loads it.")
    again = stated(store, impact_statement="Only the CLI loads it.")
    assert again.pk == first.pk
    assert actions() == ["policy:vex:stated"]


# --- reviewing --------------------------------------------------------------------------------


def test_approval_is_audited_emitted_and_approving_twice_is_one_change(
    store, security, reviewed
) -> None:
    statement = stated(store)
    with delivering():
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN, reason="ok")
    with delivering():
        again = vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
    assert again.review == VexReview.APPROVED and again.review_reason == "ok"
    assert actions() == ["policy:vex:stated", "policy:vex:approved"]
    approved_events = [e for e in reviewed if e["review"] == "approved"]
    assert approved_events == [
        {
            "statement_id": statement.pk,
            "product_id": store.product.pk,
            "organization_id": store.pub.org.pk,
            "product": store.product.name,
            "advisory_id": CRITICAL["advisory"],
            "review": "approved",
            "reason": "ok",
        }
    ]
    row = AuditEvent.objects.get(action="policy:vex:approved")
    assert row.actor_id == security.pk and row.organization_id == store.pub.org.pk


def test_rejection_needs_a_reason_and_is_final(store, security, reviewed) -> None:
    statement = stated(store)
    with pytest.raises(ValidationFailed):
        vex_services.reject(statement=statement, acting=security, origin=TEST_ORIGIN, reason="  ")
    with delivering():
        vex_services.reject(
            statement=statement,
            acting=security,
            origin=TEST_ORIGIN,
            reason="Reachable from the API.",
        )
    vex_services.reject(statement=statement, acting=security, origin=TEST_ORIGIN, reason="again")
    statement.refresh_from_db()
    assert statement.review_reason == "Reachable from the API."
    with pytest.raises(Conflict):
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
    with pytest.raises(Conflict):
        vex_services.withdraw(statement=statement, acting=store.pub.owner, origin=TEST_ORIGIN)
    assert actions() == ["policy:vex:stated", "policy:vex:rejected"]
    assert [e["review"] for e in reviewed][-1] == "rejected"
    assert reviewed[-1]["reason"] == "Reachable from the API."


def test_an_expired_statement_is_not_approved(store, security, time) -> None:
    statement = stated(store, expires_at=START + dt.timedelta(hours=1))
    time.advance(hours=2)
    with pytest.raises(Conflict, match="expired"):
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)


def test_a_newer_approved_statement_supersedes_the_older(store, security) -> None:
    first = stated(store, status="under_investigation", justification="")
    vex_services.approve(statement=first, acting=security, origin=TEST_ORIGIN)
    second = stated(store)
    vex_services.approve(statement=second, acting=security, origin=TEST_ORIGIN)
    first.refresh_from_db()
    assert first.review == VexReview.WITHDRAWN
    assert first.review_reason == f"Superseded by statement {second.pk}."
    assert list(vex_services.approved(store.product)) == [second]
    assert "policy:vex:superseded" in actions()


# --- the SLA clock ----------------------------------------------------------------------------


def test_an_approved_not_affected_statement_stops_the_clock_and_withdrawing_restarts_it(
    store, security
) -> None:
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    assert Clock.objects.get(product=store.product).state == ClockState.RUNNING
    statement = stated(store)
    with delivering():
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
    stopped = Clock.objects.get(product=store.product)
    assert (stopped.state, stopped.stop_reason) == (ClockState.STOPPED, StopReason.NOT_AFFECTED)
    with delivering():
        vex_services.withdraw(
            statement=statement, acting=store.pub.owner, origin=TEST_ORIGIN, reason="Wrong."
        )
    assert Clock.objects.filter(product=store.product, state=ClockState.RUNNING).count() == 1
    assert actions()[-1] == "policy:vex:withdrawn"


def test_a_pending_or_rejected_statement_stops_nothing(store, security) -> None:
    scanned(store.pub.repository, store.pub.digest, [CRITICAL])
    statement = stated(store)
    with delivering():
        vex_services.reject(statement=statement, acting=security, origin=TEST_ORIGIN, reason="No.")
    assert Clock.objects.get(product=store.product).state == ClockState.RUNNING


# --- the OCI referrer -------------------------------------------------------------------------


def test_approval_attaches_the_document_as_a_referrer_and_withdrawal_removes_it(
    client, store, security
) -> None:
    registry = Registry(client, store.pub.owner.username, PASSWORD)
    digest, _ = registry.push_image("acme/db", tag="3.0")
    statement = stated(store, digest=digest)
    with delivering():
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
    statement.refresh_from_db()
    assert len(statement.referrer_digests) == 1
    name, _, referrer = statement.referrer_digests[0].rpartition("@")
    assert name == "acme/db"

    scope = "repository:acme/db:pull"
    listing = registry.call("GET", f"/v2/acme/db/referrers/{digest}", scope)
    assert listing.status_code == 200
    (descriptor,) = listing.json()["manifests"]
    assert descriptor["artifactType"] == "application/openvex+json"
    assert descriptor["digest"] == referrer
    filtered = registry.call(
        "GET", f"/v2/acme/db/referrers/{digest}?artifactType=application/openvex%2Bjson", scope
    )
    assert [m["digest"] for m in filtered.json()["manifests"]] == [referrer]

    manifest = registry.call(
        "GET",
        f"/v2/acme/db/manifests/{referrer}",
        scope,
        HTTP_ACCEPT="application/vnd.oci.image.manifest.v1+json",
    )
    body = json.loads(manifest.content)
    assert body["subject"]["digest"] == digest
    layer = body["layers"][0]
    blob = registry.call("GET", f"/v2/acme/db/blobs/{layer['digest']}", scope)
    content = b"".join(blob.streaming_content) if blob.streaming else blob.content
    document = vex.parse(content)
    (item,) = document.statements
    assert item.advisory_id == CRITICAL["advisory"] and item.status == "not_affected"
    image = item.products[0].component.image
    assert image == vex.Image(repository="acme/db", registry="testserver", digest=digest)
    assert item.products[0].subcomponents[0].package == vex.Package("pypi", "jinja2")

    with delivering():
        vex_services.withdraw(statement=statement, acting=store.pub.owner, origin=TEST_ORIGIN)
    after = registry.call("GET", f"/v2/acme/db/referrers/{digest}", scope)
    assert after.json()["manifests"] == []


def test_a_statement_for_the_whole_product_is_attached_to_its_tagged_images(
    store, security
) -> None:
    statement = stated(store, package_type="", package_name="")
    vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
    statement.refresh_from_db()
    referrers = Manifest.objects.filter(
        subject_digest=store.pub.digest, artifact_type=vex.MEDIA_TYPE
    )
    assert [f"acme/db@{m.digest}" for m in referrers] == statement.referrer_digests


# --- import and export ------------------------------------------------------------------------


def document(store: Store, *statements: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "@context": vex.CONTEXT,
            "@id": "https://acme.example.com/vex/1",
            "author": "Acme",
            "timestamp": "2026-03-01T00:00:00Z",
            "version": 1,
            "statements": list(statements),
        }
    ).encode()


def image_purl(digest: str = "") -> str:
    at = f"@{digest.replace(':', '%3A')}" if digest else ""
    return f"pkg:oci/db{at}?repository_url=testserver/acme/db"


def test_import_makes_pending_statements_all_or_nothing_and_twice_is_once(store, security) -> None:
    good = {
        "vulnerability": {"name": "CVE-2026-0001"},
        "products": [
            {
                "@id": image_purl(store.pub.digest),
                "subcomponents": [{"@id": "pkg:pypi/jinja2@3.1"}, {"@id": "pkg:pypi/markupsafe"}],
            }
        ],
        "status": "not_affected",
        "justification": "component_not_present",
    }
    whole = {
        "vulnerability": {"name": "CVE-2026-0002"},
        "products": [{"@id": image_purl()}],
        "status": "under_investigation",
    }
    data = document(store, good, whole)
    with delivering():
        imported = vex_services.import_document(
            product=store.product, data=data, acting=store.pub.editor, origin=TEST_ORIGIN
        )
    assert [(s.advisory_id, s.package_name, s.digest, s.review) for s in imported] == [
        ("CVE-2026-0001", "jinja2", store.pub.digest, "pending"),
        ("CVE-2026-0001", "markupsafe", store.pub.digest, "pending"),
        ("CVE-2026-0002", "", "", "pending"),
    ]
    again = vex_services.import_document(
        product=store.product, data=data, acting=store.pub.editor, origin=TEST_ORIGIN
    )
    assert [s.pk for s in again] == [s.pk for s in imported]
    assert VexStatement.objects.count() == 3
    assert actions().count("policy:vex:imported") == 2 and actions().count("policy:vex:stated") == 3

    bad = dict(
        good,
        vulnerability={"name": "CVE-2026-0003"},
        products=[{"@id": "pkg:oci/x?repository_url=testserver/globex/secret"}],
    )
    with pytest.raises(vex.VexDocumentError, match="not a repository of"):
        vex_services.import_document(
            product=store.product,
            data=document(store, whole | {"vulnerability": {"name": "CVE-2026-0004"}}, bad),
            acting=store.pub.editor,
            origin=TEST_ORIGIN,
        )
    assert not VexStatement.objects.filter(advisory_id="CVE-2026-0004").exists()


@pytest.mark.parametrize(
    "product, fragment",
    [
        ({"@id": "pkg:oci/db?repository_url=evil.example.com/acme/db"}, "another registry"),
        (
            {"@id": "pkg:oci/db@sha256:" + "e" * 64 + "?repository_url=testserver/acme/db"},
            "is not an image of",
        ),
        ({"hashes": {"sha-256": "e" * 64}}, "is not an image of"),
        ({"@id": "https://example.com/product"}, "names no image"),
        (
            {"@id": "acme/db", "subcomponents": [{"@id": "https://example.com/lib"}]},
            "names no package",
        ),
    ],
)
def test_import_refuses_products_that_are_not_this_products_images(
    store, product, fragment
) -> None:
    statement = {
        "vulnerability": {"name": "CVE-2026-0001"},
        "products": [product],
        "status": "fixed",
    }
    with pytest.raises(vex.VexDocumentError, match=fragment):
        vex_services.import_document(
            product=store.product,
            data=document(store, statement),
            acting=store.pub.owner,
            origin=TEST_ORIGIN,
        )
    assert not VexStatement.objects.exists()


def test_import_holds_the_store_rule_that_not_affected_needs_a_justification(store) -> None:
    statement = {
        "vulnerability": {"name": "CVE-2026-0001"},
        "products": [{"@id": image_purl()}],
        "status": "not_affected",
        "impact_statement": "Never loaded.",
    }
    with pytest.raises(vex.VexDocumentError) as caught:
        vex_services.import_document(
            product=store.product,
            data=document(store, statement),
            acting=store.pub.owner,
            origin=TEST_ORIGIN,
        )
    assert caught.value.field == "statements[0].justification"


def test_import_is_refused_to_others(store) -> None:
    with pytest.raises(PermissionDenied):
        vex_services.import_document(
            product=store.product, data=b"{}", acting=store.pub.other, origin=TEST_ORIGIN
        )


def test_export_then_import_gives_the_same_statements(store, security) -> None:
    one = stated(store, digest=store.pub.digest, impact_statement="Not loaded.")
    two = stated(
        store,
        advisory_id="CVE-2026-0005",
        status="affected",
        justification="",
        action_statement="Upgrade to 2.0.",
        package_type="",
        package_name="",
    )
    stated(store, advisory_id="CVE-2026-0006")  # pending: not exported
    for s in (one, two):
        vex_services.approve(statement=s, acting=security, origin=TEST_ORIGIN)
    exported = vex.serialise(vex_services.export_document(product=store.product))
    parsed = vex.parse(exported)
    assert sorted(s.advisory_id for s in parsed.statements) == ["CVE-2026-0001", "CVE-2026-0005"]
    assert parsed.version == 2

    fields = (
        "advisory_id",
        "status",
        "justification",
        "impact_statement",
        "action_statement",
        "package_type",
        "package_name",
        "digest",
    )
    before = sorted(tuple(getattr(s, f) for f in fields) for s in (one, two))
    for s in (one, two):
        vex_services.withdraw(statement=s, acting=store.pub.owner, origin=TEST_ORIGIN)
    imported = vex_services.import_document(
        product=store.product, data=exported, acting=store.pub.owner, origin=TEST_ORIGIN
    )
    assert sorted(tuple(getattr(s, f) for f in fields) for s in imported) == before
    assert {s.review for s in imported} == {"pending"}
    assert vex_services.export_document(product=store.product).version == 4


def test_an_expired_statement_leaves_the_export(store, security, time) -> None:
    statement = stated(store, expires_at=START + dt.timedelta(days=1))
    vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
    assert len(vex_services.export_document(product=store.product).statements) == 1
    time.advance(days=2)
    assert vex_services.export_document(product=store.product).statements == ()


def test_a_statement_rolled_back_leaves_nothing(store, security) -> None:
    statement = stated(store)
    with pytest.raises(RuntimeError), transaction.atomic():
        vex_services.approve(statement=statement, acting=security, origin=TEST_ORIGIN)
        raise RuntimeError
    statement.refresh_from_db()
    assert statement.review == VexReview.PENDING
    assert "policy:vex:approved" not in actions()
