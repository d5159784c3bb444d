import datetime as dt
import json

import pytest
from django.core.management import call_command

from portside.audit.models import AuditEvent
from portside.core import clock
from portside.oci import mediatypes
from portside.registry import gc
from portside.registry.models import Blob, Upload
from portside.registry.storage import store
from tests.registry.helpers import sha256

pytestmark = pytest.mark.django_db
NAME = "acme/app"
PUSH = f"repository:{NAME}:pull,push"
GRACE = dt.timedelta(hours=24)


def test_gc_keeps_what_manifests_reference_and_what_is_recent(as_owner):
    _, body = as_owner.push_image(NAME, "v1")
    orphan = as_owner.push_blob(NAME, b"pushed, never referenced")
    location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
    as_owner.call("PATCH", location, PUSH, data=b"half an upload")

    # Within the grace period nothing goes: a push may still be in flight.
    assert gc.collect(grace=GRACE, dry_run=False).blobs == []

    with clock.frozen(clock.now() + dt.timedelta(hours=25)):
        fresh = as_owner.push_blob(NAME, b"pushed just now")
        preview = gc.collect(grace=GRACE, dry_run=True)
        assert [d for d, _ in preview.blobs] == [orphan]
        assert len(preview.uploads) == 1
        assert Blob.objects.filter(digest=orphan).exists() and Upload.objects.exists()

        report = gc.collect(grace=GRACE, dry_run=False)
        assert [d for d, _ in report.blobs] == [orphan]
        assert report.freed_bytes == len(b"pushed, never referenced")
        assert not Blob.objects.filter(digest=orphan).exists()
        assert store().stat(orphan) is None
        assert not Upload.objects.exists()
        assert Blob.objects.filter(digest=fresh).exists()
        # The image is whole.
        response = as_owner.call("GET", f"/v2/{NAME}/manifests/v1", f"repository:{NAME}:pull")
        assert response.status_code == 200 and response.content == body
        # Every run that changes something is audited (the first one above found nothing).
        assert AuditEvent.objects.filter(action="registry:storage:collected").count() == 2


def test_deleting_a_manifest_makes_its_blobs_collectable(as_owner):
    digest, _ = as_owner.push_image(NAME, "v1", layers=[b"only layer"])
    as_owner.call("DELETE", f"/v2/{NAME}/manifests/{digest}", f"repository:{NAME}:delete")
    with clock.frozen(clock.now() + dt.timedelta(hours=25)):
        removed = {d for d, _ in gc.collect(grace=GRACE, dry_run=False).blobs}
    assert sha256(b"only layer") in removed and not Blob.objects.exists()


def test_orphan_objects_are_reported_and_deleted_only_on_request(as_owner, capsys):
    data = b"stored object the database does not know"
    store().put(sha256(data), data)
    call_command("registry", "gc", "--dry-run")
    assert f"orphan {sha256(data)}" in capsys.readouterr().out
    call_command("registry", "gc")
    assert store().stat(sha256(data)) == len(data)
    call_command("registry", "gc", "--delete-orphans")
    assert store().stat(sha256(data)) is None


def test_grace_below_one_hour_is_refused():
    with pytest.raises(SystemExit):
        call_command("registry", "gc", "--grace-hours", "0.1")


def test_uploading_a_linked_blob_again_restarts_its_grace_period(as_owner):
    data = b"uploaded twice"
    as_owner.push_blob(NAME, data)
    with clock.frozen(clock.now() + dt.timedelta(hours=23)):
        as_owner.push_blob(NAME, data)  # a new push of the same layer, 23 hours later
    with clock.frozen(clock.now() + dt.timedelta(hours=25)):
        assert gc.collect(grace=GRACE, dry_run=False).blobs == []
    with clock.frozen(clock.now() + dt.timedelta(hours=48)):
        assert [d for d, _ in gc.collect(grace=GRACE, dry_run=False).blobs] == [sha256(data)]


def test_a_blob_a_push_finds_is_kept_until_its_manifest_arrives(as_owner):
    """Registry clients ask with HEAD, holding their push token, whether the repository has
    each blob, and upload only the ones it lacks. A blob no manifest has referenced for
    longer than the grace period (its image deleted a day ago, then pushed again) is kept
    once such a HEAD found it: collection running between that HEAD and the manifest
    would otherwise take it, and the push would end in MANIFEST_BLOB_UNKNOWN."""
    digest, body = as_owner.push_image(NAME, "v1", layers=[b"the layer pushed again"])
    as_owner.call("DELETE", f"/v2/{NAME}/manifests/{digest}", f"repository:{NAME}:delete")
    blobs = [d["digest"] for d in [json.loads(body)["config"], *json.loads(body)["layers"]]]
    with clock.frozen(clock.now() + dt.timedelta(hours=25)):
        for blob in blobs:
            assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{blob}", PUSH).status_code == 200
        assert gc.collect(grace=GRACE, dry_run=False).blobs == []
        response = as_owner.call(
            "PUT",
            f"/v2/{NAME}/manifests/v1",
            PUSH,
            data=body,
            content_type=mediatypes.OCI_MANIFEST,
        )
        assert response.status_code == 201, response.content
    # Once the manifest is gone again, the blobs go after a grace period as before.
    as_owner.call("DELETE", f"/v2/{NAME}/manifests/{digest}", f"repository:{NAME}:delete")
    with clock.frozen(clock.now() + dt.timedelta(hours=50)):
        assert {d for d, _ in gc.collect(grace=GRACE, dry_run=False).blobs} == set(blobs)


def test_a_pull_does_not_hold_back_collection(as_owner):
    """Only a caller that may push keeps a blob by finding it: reads (a pull token's HEAD
    and GET) write nothing and leave an unreferenced blob collectable."""
    digest, body = as_owner.push_image(NAME, "v1", layers=[b"read, never referenced again"])
    as_owner.call("DELETE", f"/v2/{NAME}/manifests/{digest}", f"repository:{NAME}:delete")
    layer = json.loads(body)["layers"][0]["digest"]
    with clock.frozen(clock.now() + dt.timedelta(hours=25)):
        pull = f"repository:{NAME}:pull"
        assert as_owner.call("HEAD", f"/v2/{NAME}/blobs/{layer}", pull).status_code == 200
        read = as_owner.call("GET", f"/v2/{NAME}/blobs/{layer}", pull)
        assert read.status_code == 200 and b"".join(read.streaming_content)
        assert layer in {d for d, _ in gc.collect(grace=GRACE, dry_run=False).blobs}
