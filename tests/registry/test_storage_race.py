"""Garbage collection racing pushes of the same blobs never loses a referenced blob.

The real deployment shape: ``portside registry gc`` in one process while web workers in
others finish uploads of blobs it is collecting and put manifests that reference them.
Each pusher process pushes an image of its own again and again, checks that what its
manifest references can be read, then deletes the manifest, so that its blobs become
collectable. The processes share a database of their own (a SQLite file in the embedded
pass, a scratch PostgreSQL database in the PostgreSQL pass) and the test's blob store.

Two collectors:

- **No grace period at all.** Every blob uploaded before a run begins and not yet
  referenced is then legitimately collectable, so a push whose upload and manifest straddle
  the start of a run is refused (its manifest names a blob that went), and the pushers
  upload their config and layer anew every time. On a slow store, under load, a push can
  take longer than a run and then every attempt straddles one: pushes are refused until
  the deadline, which says nothing about a real collector. What must hold is that nothing
  referenced is ever lost.
- **The default grace period**, with every blob already older than it and unreferenced (an
  image deleted long ago and pushed again), and pushers that do what registry clients do:
  ask whether the repository has a blob, as a pusher (``services.linked_blob_for_push``,
  what a HEAD with a push token runs), and upload only what it lacks. Then no push may be
  refused at all: a blob a pusher found is kept for another grace period.
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

role, stop, scenario = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
GRACE = dt.timedelta(0) if scenario == "no-grace" else dt.timedelta(hours=24)
ORIGIN = Origin(ip_address="127.0.0.1", user_agent="race")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image(number):
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
    return config, layer, body


def upload(name, user, data):
    repository = services.repository_for_push(name)
    upload = services.start_upload(repository=repository, user_id=user.pk)
    services.append(upload=upload, chunks=[data], start=0)
    services.complete_upload(upload=upload, digest=Digest.parse(sha256(data)))


def readable(digest):
    try:
        with store().open(digest) as handle:
            return sha256(handle.read()) == digest
    except Exception as exc:
        return False


if role == "setup":
    from tests.factories import make_org, make_user
    from portside.registry.models import RepositoryBlob

    make_org("acme", make_user("owner"))
    if scenario == "old-blobs":
        # Each pusher's blobs, pushed long ago and referenced by nothing any more.
        user = User.objects.get(username="owner")
        for number in range(int(sys.argv[4])):
            for data in image(number)[:2]:
                upload(f"acme/race-{number}", user, data)
        long_ago = dt.datetime.now(dt.UTC) - 2 * GRACE
        Blob.objects.update(created_at=long_ago)
        RepositoryBlob.objects.update(created_at=long_ago)
    print(json.dumps({"ok": True}))

elif role == "gc":
    runs = deleted = 0
    give_up = time.monotonic() + 600  # never outlive a test that was killed
    while not stop.exists() and time.monotonic() < give_up:
        deleted += len(gc.collect(grace=GRACE, dry_run=False).blobs)
        runs += 1
    print(json.dumps({"runs": runs, "deleted": deleted}))

elif role == "push":
    number, seconds = int(sys.argv[4]), float(sys.argv[5])
    user = User.objects.get(username="owner")
    name = f"acme/race-{number}"
    config, layer, body = image(number)
    # What a registry client may be told while collection runs: its upload was collected
    # (the collector has no grace period), or a blob it uploaded went before its manifest.
    expected = (errors.BlobUploadUnknown, errors.ManifestBlobUnknown, errors.UploadBusy)
    stats = {"pushed": 0, "refused": 0, "refusals": [], "violations": [], "ended_pushed": False}
    deadline = time.monotonic() + seconds
    last = False
    while not last:
        last = time.monotonic() >= deadline
        try:
            for data in (config, layer):
                if scenario == "old-blobs":
                    try:  # a client's HEAD, with its push token
                        services.linked_blob_for_push(name, Digest.parse(sha256(data)))
                        continue
                    except errors.BlobUnknown:
                        pass
                upload(name, user, data)
            repository = services.repository_for_push(name)
            manifest, _ = services.put_manifest(
                repository=repository, reference="latest", body=body,
                content_type=mediatypes.OCI_MANIFEST, user=user, origin=ORIGIN,
            )
        except expected as exc:
            stats["refused"] += 1
            if len(stats["refusals"]) < 5:
                stats["refusals"].append(repr(exc))
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


@pytest.mark.parametrize("scenario", ["no-grace", "old-blobs"])
def test_collection_racing_pushes_never_loses_a_referenced_blob(
    scratch_env, tmp_path, processes, scenario
):
    migrated = subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "migrate", "--no-input"],
        env=scratch_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stderr
    stop = tmp_path / "stop"
    _run(scratch_env, "setup", str(stop), scenario, str(PUSHERS))

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

    collector = start("gc", str(stop), scenario)
    pushers = [start("push", str(stop), scenario, str(n), str(SECONDS)) for n in range(PUSHERS)]
    try:
        results = [result(pusher) for pusher in pushers]
    finally:
        stop.touch()
    collected = result(collector)

    violations = [v for outcome in results for v in outcome["violations"]]
    assert violations == []
    if scenario == "no-grace":
        # The race really ran: blobs were collected between the pushes. Pushes may all
        # have been refused (see the module's docstring); none may have lost a blob.
        assert collected["deleted"] > 0, collected
    else:
        # Found blobs are kept: every push went through, none was refused.
        assert all(o["pushed"] > 0 and o["refused"] == 0 for o in results), results
    final = _run(scratch_env, "verify", str(stop), scenario)
    kept = sum(1 for outcome in results if outcome["ended_pushed"])
    assert final["problems"] == [] and final["referenced"] == 2 * kept, (final, results)
