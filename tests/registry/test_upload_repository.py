"""A repository is created by the first push that completes (a finished upload, a mount,
a manifest), audited as ``registry:repository:created``; starting an upload, a refused
mount or an abandoned upload leaves no repository behind."""

from __future__ import annotations

import json

import pytest

from portside.audit.models import AuditEvent
from portside.oci import mediatypes
from portside.registry.models import Repository, Upload
from tests.registry.helpers import sha256

pytestmark = pytest.mark.django_db
NAME = "acme/fresh"
PUSH = f"repository:{NAME}:pull,push"
PULL = f"repository:{NAME}:pull"


def _created_rows(name: str):
    return AuditEvent.objects.filter(action="registry:repository:created", target_label=name)


def test_starting_and_abandoning_an_upload_creates_no_repository(as_owner):
    started = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)
    assert started.status_code == 202
    assert not Repository.objects.filter(name=NAME).exists()
    # The upload in progress is reachable: status, chunks, cancel.
    location = started["Location"]
    assert as_owner.call("PATCH", location, PUSH, data=b"some bytes").status_code == 202
    status = as_owner.call("GET", location, PUSH)
    assert status.status_code == 204 and status["Range"] == "0-9"
    assert as_owner.call("DELETE", location, PUSH).status_code == 204
    assert not Repository.objects.filter(name=NAME).exists() and not Upload.objects.exists()
    assert not _created_rows(NAME).exists()
    # Nothing was pushed, so the name is as unknown as before.
    tags = as_owner.call("GET", f"/v2/{NAME}/tags/list", PULL)
    assert tags.status_code == 404 and tags.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_a_refused_mount_creates_no_repository(as_owner):
    """A mount from a repository that does not have the blob falls back to an upload,
    which the client then abandons."""
    as_owner.push_blob("acme/source", b"a layer")
    missing = sha256(b"a layer the source does not have")
    response = as_owner.call(
        "POST",
        f"/v2/{NAME}/blobs/uploads/?mount={missing}&from=acme/source",
        PUSH,
        "repository:acme/source:pull",
    )
    assert response.status_code == 202
    response = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/?mount={missing}", PUSH)
    assert response.status_code == 202
    assert not Repository.objects.filter(name=NAME).exists()


def test_a_failed_monolithic_upload_creates_no_repository(as_owner):
    wrong = sha256(b"other bytes")
    response = as_owner.call(
        "POST", f"/v2/{NAME}/blobs/uploads/?digest={wrong}", PUSH, data=b"the bytes"
    )
    assert response.status_code == 400
    assert not Repository.objects.filter(name=NAME).exists()


def test_the_first_finished_upload_creates_the_repository_and_audits_it(as_owner, world):
    location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
    patched = as_owner.call("PATCH", location, PUSH, data=b"first layer")
    done = as_owner.call("PUT", f"{patched['Location']}?digest={sha256(b'first layer')}", PUSH)
    assert done.status_code == 201
    repository = Repository.objects.get(name=NAME)
    assert repository.organization == world.org
    [row] = _created_rows(NAME)
    assert row.actor_name == "owner" and row.organization_id == world.org.pk
    assert row.target_type == "registry.repository" and row.target_id == str(repository.pk)
    # Later pushes do not create it again.
    as_owner.push_blob(NAME, b"second layer")
    as_owner.push_image(NAME, "v1")
    assert _created_rows(NAME).count() == 1
    assert Repository.objects.filter(name=NAME).count() == 1


def test_a_mount_into_a_new_repository_creates_it(as_owner):
    digest = as_owner.push_blob("acme/source", b"shared layer")
    response = as_owner.call(
        "POST",
        f"/v2/{NAME}/blobs/uploads/?mount={digest}&from=acme/source",
        PUSH,
        "repository:acme/source:pull",
    )
    assert response.status_code == 201
    assert Repository.objects.filter(name=NAME).exists()
    assert _created_rows(NAME).count() == 1
    assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL).status_code == 200


def test_a_manifest_into_a_new_repository_creates_it(as_owner, world):
    """An index of no images references nothing, so it can be the first push."""
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}
    ).encode()
    response = as_owner.call(
        "PUT",
        f"/v2/{NAME}/manifests/empty",
        PUSH,
        data=body,
        content_type=mediatypes.OCI_INDEX,
    )
    assert response.status_code == 201
    assert Repository.objects.get(name=NAME).organization == world.org
    [row] = _created_rows(NAME)
    assert row.actor_name == "owner" and row.ip_address == "127.0.0.1"


def test_a_manifest_with_blobs_into_a_new_repository_is_refused_and_creates_nothing(as_owner):
    config = sha256(b"{}")
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": config, "size": 2},
            "layers": [],
        }
    ).encode()
    response = as_owner.call(
        "PUT", f"/v2/{NAME}/manifests/v1", PUSH, data=body, content_type=mediatypes.OCI_MANIFEST
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert not Repository.objects.filter(name=NAME).exists()
