"""Closing an upload stores exactly the bytes its digest was checked against: a PATCH
racing the closing PUT cannot add bytes after the check, so no organisation is ever
served bytes that are not the digest's."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pytest

from portside.blobstore import UploadNotFound, UploadOffsetMismatch
from portside.oci import errors
from portside.oci.digest import Digest
from portside.registry import services
from portside.registry.models import Blob, Upload
from portside.registry.storage import store
from tests.registry.helpers import sha256

pytestmark = pytest.mark.django_db
NAME = "acme/app"
PUSH = f"repository:{NAME}:pull,push"
PULL = f"repository:{NAME}:pull"
ROUNDS = 40


def _stage(data: bytes) -> Upload:
    upload = services.start_upload(repository=services.repository_for_push(NAME), user_id=None)
    services.append(upload=upload, chunks=[data], start=0)
    return upload


def _stored(digest: str) -> bytes:
    with store().open(digest) as handle:
        return handle.read()


def _racing_patches(upload_id: str, go: threading.Event, done: threading.Event) -> None:
    """Another node's PATCHes: straight to the store (as a process that does not hold
    this upload's running hash would), from a random moment on, until the close is over."""
    blobs = store()
    go.wait()
    time.sleep(random.uniform(0, 0.012))
    while not done.is_set():
        try:
            size = blobs.upload_info(upload_id).size
            blobs.append_upload(upload_id, [b"+bytes of a racing PATCH"], offset=size)
        except UploadOffsetMismatch:
            continue
        except UploadNotFound:
            return


def test_a_patch_racing_the_close_never_adds_bytes_to_the_blob(world):
    committed = refused = 0
    for round_ in range(ROUNDS):
        data = f"layer of round {round_}\n".encode() * 64
        digest = sha256(data)
        upload = _stage(data)
        go, done = threading.Event(), threading.Event()
        patcher = threading.Thread(target=_racing_patches, args=(upload.store_id, go, done))
        patcher.start()
        go.set()
        try:
            services.complete_upload(upload=upload, digest=Digest.parse(digest))
            committed += 1
        except (errors.DigestInvalid, errors.UploadBusy):
            refused += 1  # a PATCH got in before the close: the digest no longer matches
        finally:
            done.set()
            patcher.join(timeout=30)
        if store().stat(digest) is not None:
            content = _stored(digest)
            assert sha256(content) == digest, f"round {round_}: {len(content)} bytes stored"
            assert Blob.objects.get(digest=digest).size == len(content) == len(data)
        else:
            assert not Blob.objects.filter(digest=digest).exists()
    assert committed + refused == ROUNDS


def test_a_close_refused_for_its_digest_leaves_the_upload_open(as_owner):
    """The close holds the upload only while it checks: after DIGEST_INVALID the client
    may append more and close again."""
    data = b"0123456789" * 300
    location = as_owner.call("POST", f"/v2/{NAME}/blobs/uploads/", PUSH)["Location"]
    first = as_owner.call("PATCH", location, PUSH, data=data[:1000])
    assert first.status_code == 202
    early = as_owner.call("PUT", f"{first['Location']}?digest={sha256(data)}", PUSH)
    assert early.status_code == 400 and early.json()["errors"][0]["code"] == "DIGEST_INVALID"
    rest = as_owner.call("PATCH", first["Location"], PUSH, data=data[1000:])
    assert rest.status_code == 202 and rest["Range"] == f"0-{len(data) - 1}"
    done = as_owner.call("PUT", f"{rest['Location']}?digest={sha256(data)}", PUSH)
    assert done.status_code == 201
    pulled = as_owner.call("GET", f"/v2/{NAME}/blobs/{sha256(data)}", PULL)
    body = pulled.getvalue() if hasattr(pulled, "getvalue") else b"".join(pulled)
    assert body == data


def test_bytes_stored_under_a_wrong_digest_are_replaced_by_the_next_push(as_owner, as_other):
    """What the race used to leave (the digest's row, and bytes with more after them) is
    repaired by the next verified push of that digest, from any organisation."""
    data = b"the layer everyone pushes"
    digest = sha256(data)
    as_owner.push_blob(NAME, data)
    store().put(digest, data + b" and what a racing PATCH added")
    as_other.push_blob("globex/app", data)
    pulled = as_other.call("GET", f"/v2/globex/app/blobs/{digest}", "repository:globex/app:pull")
    assert pulled.status_code == 200
    body = pulled.getvalue() if hasattr(pulled, "getvalue") else b"".join(pulled)
    assert hashlib.sha256(body).hexdigest() == digest.split(":")[1] and body == data
