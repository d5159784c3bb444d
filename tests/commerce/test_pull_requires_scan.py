"""``PULL_REQUIRES_SCAN``: customers are refused images the store has never scanned.

Driven through ``/v2/`` with real bearer tokens: the publisher pushes, a customer with a
free tier pulls, and the store team and the publisher's members are never held back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from portside.audit.models import AuditEvent
from portside.commerce import services as commerce
from portside.core import clock
from portside.oci import mediatypes
from portside.registry.models import Repository
from portside.scanning.models import Scan, ScanStatus
from tests.commerce.world import Store, build_store
from tests.factories import PASSWORD, TEST_ORIGIN, make_user
from tests.registry.helpers import Registry, sha256

pytestmark = pytest.mark.django_db
NAME = "acme/db"
PULL = f"repository:{NAME}:pull"
PUSH = f"repository:{NAME}:pull,push"


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture(autouse=True)
def blobs(settings: Any, tmp_path: Any) -> Any:
    from portside.registry import storage

    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    storage._store.cache_clear()
    yield
    storage._store.cache_clear()


@pytest.fixture
def store() -> Store:
    store = build_store()
    commerce.take_free_tier(
        listing=store.listing, tier_id=store.free_tier, user=store.pub.customer,
        accept_licence=True, origin=TEST_ORIGIN,
    )  # fmt: skip
    return store


def scanned(digest: str, **fields: Any) -> Scan:
    """A scan of ``digest`` in acme/db: finished now, unless ``fields`` say otherwise."""
    now = clock.now()
    values: dict[str, Any] = {"status": ScanStatus.DONE, "finished_at": now, "matched_at": now}
    values.update(fields)
    scan, _ = Scan.objects.update_or_create(
        repository=Repository.objects.get(name=NAME),
        digest=digest,
        defaults={"requested_at": now, **values},
    )
    return scan


def secret_of(user: Any) -> str:
    """The password, or for the store team (two-factor on) a personal access token."""
    if not user.store_role:
        return PASSWORD
    from portside.accounts import services as accounts

    _, secret = accounts.create_token(
        user=user, name="pull", scopes=["read"], acting=user, origin=TEST_ORIGIN
    )
    return str(secret)


def pull(client: Client, store: Store, user: Any, reference: str, method: str = "get") -> Any:
    token = Registry(client, user.username, secret_of(user)).token(PULL)
    return getattr(client, method)(f"/v2/{NAME}/manifests/{reference}", **bearer(token))


def refusal(response: Any) -> str:
    assert response.status_code == 403, response.content
    error = response.json()["errors"][0]
    assert error["code"] == "DENIED"
    return str(error["message"])


def test_off_by_default_an_unscanned_image_is_served(client: Client, store: Store) -> None:
    assert not Scan.objects.filter(digest=store.pub.digest).exists()
    assert pull(client, store, store.pub.customer, "1.0").status_code == 200


def test_a_customer_waits_for_the_first_scan(client: Client, store: Store, settings: Any) -> None:
    settings.PULL_REQUIRES_SCAN = True
    digest = store.pub.digest
    message = refusal(pull(client, store, store.pub.customer, "1.0"))
    assert "has not been scanned yet" in message and digest in message
    assert refusal(pull(client, store, store.pub.customer, digest))
    assert pull(client, store, store.pub.customer, "1.0", "head").status_code == 403
    denied = AuditEvent.objects.filter(action="registry:pull:denied").last()
    assert denied is not None and "not been scanned" in denied.details["reason"]

    # A queued first scan is not a scan; neither is a failed one.
    scanned(digest, status=ScanStatus.QUEUED, finished_at=None, matched_at=None)
    assert pull(client, store, store.pub.customer, "1.0").status_code == 403
    scanned(digest, status=ScanStatus.FAILED, finished_at=None, matched_at=None)
    assert pull(client, store, store.pub.customer, "1.0").status_code == 403

    scanned(digest)
    response = pull(client, store, store.pub.customer, "1.0")
    assert response.status_code == 200 and response["Docker-Content-Digest"] == digest


def test_a_rescan_keeps_the_image_pullable(client: Client, store: Store, settings: Any) -> None:
    settings.PULL_REQUIRES_SCAN = True
    earlier = clock.now()
    scanned(store.pub.digest, status=ScanStatus.RUNNING, finished_at=earlier, matched_at=None)
    assert pull(client, store, store.pub.customer, "1.0").status_code == 200
    scanned(store.pub.digest, status=ScanStatus.QUEUED, finished_at=None, matched_at=earlier)
    assert pull(client, store, store.pub.customer, "1.0").status_code == 200


def test_members_and_the_store_team_are_never_held_back(
    client: Client, store: Store, settings: Any
) -> None:
    settings.PULL_REQUIRES_SCAN = True
    security = make_user("sec", store_role="security")
    for user in (store.pub.owner, store.pub.viewer, store.pub.moderator, security):
        assert pull(client, store, user, "1.0").status_code == 200, user.username
    assert pull(client, store, store.pub.customer, "1.0").status_code == 403


def test_a_pushed_image_waits_for_its_scan(
    client: Client, store: Store, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The publisher pushes a new 1.0: the scan on push is only queued, so the customer
    is refused it until the scan finishes."""
    settings.PULL_REQUIRES_SCAN = True
    scanned(store.pub.digest)
    owner = Registry(client, store.pub.owner.username, PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        digest, _ = owner.push_image(NAME, "1.0", layers=[b"new layer"])
    queued = Scan.objects.get(digest=digest)
    assert queued.status == ScanStatus.QUEUED and queued.finished_at is None
    assert digest in refusal(pull(client, store, store.pub.customer, "1.0"))
    scanned(digest)
    assert pull(client, store, store.pub.customer, "1.0").status_code == 200


def _index(owner: Registry, children: list[dict[str, Any]]) -> str:
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": children}
    ).encode()
    response = owner.call(
        "PUT", f"/v2/{NAME}/manifests/1.0", PUSH, data=body, content_type=mediatypes.OCI_INDEX
    )
    assert response.status_code == 201, response.content
    return str(response["Docker-Content-Digest"])


def _child(digest: str, body: bytes, platform: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": digest,
        "size": len(body),
        "platform": platform,
        **extra,
    }


def test_an_index_waits_for_every_platform_image(
    client: Client, store: Store, settings: Any
) -> None:
    settings.PULL_REQUIRES_SCAN = True
    owner = Registry(client, store.pub.owner.username, PASSWORD)
    amd64, amd64_body = owner.push_image(NAME, None, layers=[b"amd64"])
    arm64, arm64_body = owner.push_image(NAME, None, layers=[b"arm64"])
    # A build attestation listed beside them, as BuildKit writes it: never waited for.
    attestation, attestation_body = owner.push_image(NAME, None, layers=[b"provenance"])
    index = _index(
        owner,
        [
            _child(amd64, amd64_body, {"os": "linux", "architecture": "amd64"}),
            _child(arm64, arm64_body, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            _child(
                attestation,
                attestation_body,
                {"os": "unknown", "architecture": "unknown"},
                annotations={"vnd.docker.reference.type": "attestation-manifest"},
            ),
        ],
    )
    message = refusal(pull(client, store, store.pub.customer, "1.0"))
    assert index in message and amd64 in message and "linux/amd64" in message
    scanned(amd64)
    message = refusal(pull(client, store, store.pub.customer, "1.0"))
    assert arm64 in message and "linux/arm64/v8" in message
    # The platform image itself, by digest, is refused until it is scanned.
    assert arm64 in refusal(pull(client, store, store.pub.customer, arm64))
    assert pull(client, store, store.pub.customer, amd64).status_code == 200
    scanned(arm64)
    response = pull(client, store, store.pub.customer, "1.0")
    assert response.status_code == 200 and response["Docker-Content-Digest"] == index


def test_artifacts_are_not_held_back(client: Client, store: Store, settings: Any) -> None:
    """A signature or SBOM attached to an image is an artifact: never scanned, never
    refused (its image is, until scanned)."""
    settings.PULL_REQUIRES_SCAN = True
    owner = Registry(client, store.pub.owner.username, PASSWORD)
    payload = b'{"critical": {}}'
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
            "config": {
                "mediaType": mediatypes.OCI_EMPTY,
                "digest": owner.push_blob(NAME, b"{}"),
                "size": 2,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": owner.push_blob(NAME, payload),
                    "size": len(payload),
                }
            ],
            "subject": {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": store.pub.digest,
                "size": 1,
            },
        }
    ).encode()
    response = owner.call(
        "PUT",
        f"/v2/{NAME}/manifests/{sha256(body)}",
        PUSH,
        data=body,
        content_type=mediatypes.OCI_MANIFEST,
    )
    assert response.status_code == 201, response.content
    signature = response["Docker-Content-Digest"]
    assert pull(client, store, store.pub.customer, signature).status_code == 200
    assert pull(client, store, store.pub.customer, "1.0").status_code == 403


@pytest.mark.parametrize(
    "reference",
    [
        "sha256:" + "0" * 64,
        "x" * 129,
        "1.0%00",
        "sha256:" + "g" * 64,
        "../../etc/passwd",
    ],
)
def test_hostile_references_are_no_way_around_it(
    client: Client, store: Store, settings: Any, reference: str
) -> None:
    settings.PULL_REQUIRES_SCAN = True
    response = pull(client, store, store.pub.customer, reference)
    assert response.status_code in (400, 403, 404), response.content
    assert response.json()["errors"][0]["code"] in (
        "DENIED", "MANIFEST_UNKNOWN", "DIGEST_INVALID", "NAME_INVALID",
    )  # fmt: skip
