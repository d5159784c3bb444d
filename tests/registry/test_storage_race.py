"""Garbage collection racing pushes of the same blobs never loses a referenced blob.

The real deployment shape: ``portside registry gc`` in one process while web workers in
others finish uploads of blobs it is collecting and put manifests that reference them.
Each pusher process pushes an image of its own again and again (its config and layer
uploaded anew every time), checks that what its manifest references can be read, then
deletes the manifest, so that its blobs become collectable. The collector runs with no
grace period at all, so it is always collecting what a pusher is about to upload again.
The processes share a database of their own (a SQLite file in the embedded pass, a
scratch PostgreSQL database in the PostgreSQL pass) and the test's blob store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.servers import scratch_environment

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
PUSHERS = 3
SECONDS = 8

WORKER = r"""
import datetime as dt, hashlib, json, sys, time
from pathlib import Path
import django
django.setup()
from portside.accounts.models import User
from portside.core.origin import Origin
from portside.oci import errors, mediatypes
from portside.oci.digest import Digest
from portside.registry import gc, services
from portside.registry.models import Blob, ManifestBlob
from portside.registry.storage import store

role, stop = sys.argv[1], Path(sys.argv[2])
ORIGIN = Origin(ip_address="127.0.0.1", user_agent="race")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def readable(digest):
    try:
        with store().open(digest) as handle:
            return sha256(handle.read()) == digest
    except Exception as exc:
        return False


if role == "setup":
    from tests.factories import make_org, make_user

    make_org("acme", make_user("owner"))
    print(json.dumps({"ok": True}))

elif role == "gc":
    runs = deleted = 0
    give_up = time.monotonic() + 600  # never outlive a test that was killed
    while not stop.exists() and time.monotonic() < give_up:
        deleted += len(gc.collect(grace=dt.timedelta(0), dry_run=False).blobs)
        runs += 1
    print(json.dumps({"runs": runs, "deleted": deleted}))

elif role == "push":
    number, seconds = int(sys.argv[3]), float(sys.argv[4])
    user = User.objects.get(username="owner")
    name = f"acme/race-{number}"
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
         "config": {"Labels": {"pusher": str(number)}}}
    ).encode()
    layer = f"the layer of pusher {number}\n".encode() * 200
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
         "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": sha256(config),
                    "size": len(config)},
         "layers": [{"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": sha256(layer),
                     "size": len(layer)}]}
    ).encode()
    # What a registry client may be told while collection runs: its upload was collected
    # (the collector has no grace period), or a blob it uploaded went before its manifest.
    expected = (errors.BlobUploadUnknown, errors.ManifestBlobUnknown, errors.UploadBusy)
    stats = {"pushed": 0, "refused": 0, "violations": [], "ended_pushed": False}
    deadline = time.monotonic() + seconds
    last = False
    while not last:
        last = time.monotonic() >= deadline
        try:
            for data in (config, layer):
                repository = services.repository_for_push(name)
                upload = services.start_upload(repository=repository, user_id=user.pk)
                services.append(upload=upload, chunks=[data], start=0)
                services.complete_upload(upload=upload, digest=Digest.parse(sha256(data)))
            repository = services.repository_for_push(name)
            manifest, _ = services.put_manifest(
                repository=repository, reference="latest", body=body,
                content_type=mediatypes.OCI_MANIFEST, user=user, origin=ORIGIN,
            )
        except expected as exc:
            stats["refused"] += 1
            # End on a successful push, but not forever: on a slow store a collector
            # with no grace period can keep taking each upload before its manifest.
            last = time.monotonic() >= deadline + 60
            continue
        stats["pushed"] += 1
        # The tag was just pushed: HEAD must find its blobs, and GET must read them.
        for data in (config, layer):
            digest = sha256(data)
            try:
                services.linked_blob_by_name(name, Digest.parse(digest))
            except errors.BlobUnknown:
                stats["violations"].append(f"HEAD 404 for referenced {digest}")
                continue
            if not readable(digest):
                stats["violations"].append(f"HEAD 200 but unreadable {digest}")
        stats["ended_pushed"] = last
        if not last:
            services.delete_manifest(
                repository=repository, reference=Digest.parse(manifest.digest), user=user,
                origin=ORIGIN,
            )
    print(json.dumps(stats))

elif role == "verify":
    problems = []
    for digest in ManifestBlob.objects.values_list("blob__digest", flat=True).distinct():
        if not readable(digest):
            problems.append(f"referenced {digest} is unreadable")
    for digest in Blob.objects.filter(available=True).values_list("digest", flat=True):
        if store().stat(digest) is None:
            problems.append(f"available {digest} has no bytes")
    print(json.dumps({"problems": problems, "referenced": ManifestBlob.objects.count()}))
"""


@pytest.fixture
def scratch_env(tmp_path, blob_store):
    with scratch_environment(tmp_path) as env:
        path = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
        env |= {"DJANGO_SETTINGS_MODULE": "portside.config.settings", "PYTHONPATH": path}
        if blob_store == "s3":
            env["PORTSIDE_BLOB_STORE"] = settings.BLOB_STORE_URL
            env["AWS_ACCESS_KEY_ID"] = os.environ["AWS_ACCESS_KEY_ID"]
            env["AWS_SECRET_ACCESS_KEY"] = os.environ["AWS_SECRET_ACCESS_KEY"]
        yield env


def _run(env, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", WORKER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def processes():
    """Worker processes of a test; any still running when it ends (it failed) are ended."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)


def test_collection_racing_pushes_never_loses_a_referenced_blob(scratch_env, tmp_path, processes):
    migrated = subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "migrate", "--no-input"],
        env=scratch_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    stop = tmp_path / "stop"
    _run(scratch_env, "setup", str(stop))

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            env=scratch_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        processes.append(process)
        return process

    def result(process: subprocess.Popen[str]) -> dict:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-4000:]
        return json.loads(out.strip().splitlines()[-1])

    collector = start("gc", str(stop))
    pushers = [start("push", str(stop), str(n), str(SECONDS)) for n in range(PUSHERS)]
    try:
        results = [result(pusher) for pusher in pushers]
    finally:
        stop.touch()
    collected = result(collector)

    violations = [v for outcome in results for v in outcome["violations"]]
    assert violations == []
    assert all(outcome["pushed"] > 0 for outcome in results), results
    # The race really ran: blobs were collected between the pushes.
    assert collected["deleted"] > 0, collected
    final = _run(scratch_env, "verify", str(stop))
    kept = sum(1 for outcome in results if outcome["ended_pushed"])
    assert final["problems"] == [] and final["referenced"] == 2 * kept, (final, results)
