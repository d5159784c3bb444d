import datetime as dt

import pytest
from django.core.management import call_command

from portside.audit.models import AuditEvent
from portside.core import clock
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
