"""Garbage collection and the blobs clients can see: a blob being collected is unknown to
pulls, a push of it during the collection keeps its bytes, bytes missing from the store
are never claimed, and every deletion is audited."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from portside.audit.models import AuditEvent
from portside.core import clock
from portside.registry import gc
from portside.registry.models import Blob
from portside.registry.storage import store
from tests.registry.helpers import sha256

pytestmark = pytest.mark.django_db
NAME = "acme/app"
PULL = f"repository:{NAME}:pull"
GRACE = dt.timedelta(hours=24)
LATER = dt.timedelta(hours=25)


def _body(response) -> bytes:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content)
    return response.content


def _codes(response) -> list[str]:
    return [error["code"] for error in response.json()["errors"]]


def test_every_collected_blob_is_audited(as_owner):
    data = b"pushed, never referenced"
    digest = as_owner.push_blob(NAME, data)
    with clock.frozen(clock.now() + LATER):
        report = gc.collect(grace=GRACE, dry_run=False)
    assert report.blobs == [(digest, len(data))]
    [row] = AuditEvent.objects.filter(action="registry:blob:deleted")
    assert row.actor_name == "cli" and row.target_type == "registry.blob"
    assert row.details == {"digest": digest, "size": len(data)}
    # The dry run before it changed nothing, and audited nothing.
    assert not AuditEvent.objects.filter(action="registry:blob:deleted", id__lt=row.id).exists()


def test_a_blob_being_collected_is_unknown_and_a_push_of_it_keeps_its_bytes(as_owner):
    """The interleaving that lost blobs: collection has decided to delete a blob when a
    client pushes the same bytes again. HEAD must not claim the blob meanwhile, and the
    push must win: the collection leaves the blob that the push made available."""
    data = b"a layer pushed again while it is collected"
    digest = as_owner.push_blob(NAME, data)
    pk = Blob.objects.get(digest=digest).pk
    with clock.frozen(clock.now() + LATER):
        cutoff = clock.now() - GRACE
        assert gc._mark(pk, cutoff)  # step 1 of the collection
        head = as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL)
        assert head.status_code == 404
        get = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
        assert get.status_code == 404 and _codes(get) == ["BLOB_UNKNOWN"]

        as_owner.push_blob(NAME, data)  # the client uploads it again
        assert gc._sweep(pk) is None  # step 2 finds it available and leaves it
    assert Blob.objects.get(digest=digest).available
    assert store().stat(digest) == len(data)
    got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
    assert got.status_code == 200 and _body(got) == data
    assert not AuditEvent.objects.filter(action="registry:blob:deleted").exists()


def test_a_blob_collected_before_the_push_is_stored_again_by_it(as_owner):
    data = b"collected a moment before it was pushed again"
    digest = as_owner.push_blob(NAME, data)
    pk = Blob.objects.get(digest=digest).pk
    with clock.frozen(clock.now() + LATER):
        assert gc._mark(pk, clock.now() - GRACE)
        assert gc._sweep(pk) == (digest, len(data))
        assert store().stat(digest) is None
        as_owner.push_blob(NAME, data)
    got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
    assert got.status_code == 200 and _body(got) == data


def test_a_manifest_cannot_reference_a_blob_being_collected(as_owner):
    config_digest = as_owner.push_blob(NAME, b"{}")
    with clock.frozen(clock.now() + LATER):
        assert gc._mark(Blob.objects.get(digest=config_digest).pk, clock.now() - GRACE)
        response = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/v1",
            f"repository:{NAME}:pull,push",
            data=(
                b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
                b'"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'
                + config_digest.encode()
                + b'","size":2},"layers":[]}'
            ),
            content_type="application/vnd.oci.image.manifest.v1+json",
        )
    assert response.status_code == 400 and _codes(response) == ["MANIFEST_BLOB_UNKNOWN"]


def test_collection_finds_bytes_missing_from_the_store_and_stops_claiming_them(as_owner):
    """A blob row whose bytes are gone (what the race used to leave) is found by listing
    the store: it becomes unknown to HEAD, so clients upload it again, and that upload
    restores it."""
    layer = b"a layer whose file was lost"
    _, body = as_owner.push_image(NAME, "v1", layers=[layer])
    digest = sha256(layer)
    store().delete(digest)

    report = gc.collect(grace=GRACE, dry_run=False)
    assert report.missing == [digest] and report.blobs == []
    assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL).status_code == 404
    [lost] = AuditEvent.objects.filter(action="registry:blob:lost")
    assert lost.details == {"digest": digest, "size": len(layer)}
    # Still referenced by v1, so the row stays for the upload that restores it.
    assert Blob.objects.filter(digest=digest, available=False).exists()
    assert gc.collect(grace=GRACE, dry_run=False).missing == []

    as_owner.push_image(NAME, "v1", layers=[layer])
    assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL).status_code == 200
    got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
    assert got.status_code == 200 and _body(got) == layer
    manifest = as_owner.call("GET", f"/v2/{NAME}/manifests/v1", PULL)
    assert manifest.status_code == 200 and manifest.content == body


def test_a_pull_that_finds_the_bytes_missing_answers_blob_unknown_and_heals(as_owner):
    layer = b"another lost layer"
    as_owner.push_image(NAME, "v1", layers=[layer])
    digest = sha256(layer)
    store().delete(digest)
    for method in ("GET", "HEAD"):  # HEAD no longer claims what GET could not read
        response = as_owner.call(method, f"/v2/{NAME}/blobs/{digest}", PULL)
        assert response.status_code == 404, method
    assert _codes(as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)) == ["BLOB_UNKNOWN"]
    as_owner.push_blob(NAME, layer)
    got = as_owner.call("GET", f"/v2/{NAME}/blobs/{digest}", PULL)
    assert got.status_code == 200 and _body(got) == layer


def test_deleted_orphan_objects_are_audited(as_owner):
    data = b"an object no row knows"
    store().put(sha256(data), data)
    report = gc.collect(grace=GRACE, dry_run=False, delete_orphans=True)
    assert report.orphan_objects == [sha256(data)] and store().stat(sha256(data)) is None
    [row] = AuditEvent.objects.filter(action="registry:blob:deleted")
    assert row.details == {"digest": sha256(data), "orphan": True}
    assert not Blob.objects.exists()


def test_unlinking_a_blob_is_audited(as_owner):
    """DELETE on a blob removes the repository's link, audited with who and from where
    (a sha512 digest too, longer than an audit row's target id)."""
    data = b"a blob to unlink"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    pushed = as_owner.call(
        "POST",
        f"/v2/{NAME}/blobs/uploads/?digest={digest}",
        f"repository:{NAME}:pull,push",
        data=data,
    )
    assert pushed.status_code == 201
    deleted = as_owner.call("DELETE", f"/v2/{NAME}/blobs/{digest}", f"repository:{NAME}:delete")
    assert deleted.status_code == 202
    [row] = AuditEvent.objects.filter(action="registry:blob:unlinked")
    assert row.actor_name == "owner" and row.target_label == digest
    assert row.details["repository"] == NAME and row.details["digest"] == digest
    assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{digest}", PULL).status_code == 404
