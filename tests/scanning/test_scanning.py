"""The store side of scanning: a scan on every pushed image, results kept by layer,
re-matching when the vulnerability data changes, reclassification, SBOM downloads."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from portside.audit.models import AuditEvent
from portside.core import clock
from portside.registry.models import Manifest
from portside.scanning import services
from portside.scanning.models import Finding, Scan, ScanStatus
from portside.vulndb.importers.osv import import_osv
from portside.vulndb.store import VulnStore
from tests.factories import TEST_ORIGIN
from tests.scanning.images import debian_with_python, dist_info, push_scannable

PYPA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "vulndb" / "pypa" / "vulns"


@pytest.fixture
def vulndb(settings, tmp_path):
    settings.VULNDB_PATH = tmp_path / "vulndb.sqlite"
    return settings.VULNDB_PATH


def _import(path: Path, directories: list[str]) -> None:
    """Import a few of the PyPA advisory folders as one OSV source."""
    source = path.parent / "osv-src"
    shutil.rmtree(source, ignore_errors=True)
    for name in directories:
        shutil.copytree(PYPA / name, source / name)
    store = VulnStore.open(path)
    try:
        import_osv(store, source, source="pypa")
    finally:
        store.close()


def _body(response) -> bytes:
    """A streamed download's bytes; the test client closes the response (and the
    stored file) once they have been read."""
    return b"".join(response.streaming_content)


def _push_and_scan(as_owner, django_capture_on_commit_callbacks) -> Scan:
    with django_capture_on_commit_callbacks(execute=True):
        digest = debian_with_python(as_owner)
    scan = Scan.objects.get(digest=digest)
    assert scan.status == ScanStatus.QUEUED  # queued by the push, run by the worker
    return services.run(scan_id=scan.pk)


def test_every_pushed_image_is_scanned_layer_by_layer(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    _import(vulndb, ["jinja2"])
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    assert scan.status == ScanStatus.DONE, scan.error
    assert scan.distro.startswith("Debian GNU/Linux 12")
    layers = services.packages_by_layer(scan)
    assert [[p["name"] for p in packages] for _, packages in layers] == [
        ["zlib1g"],
        ["Jinja2", "urllib3"],
    ]
    deb = layers[0][1][0]
    assert deb["source_name"] == "zlib" and deb["version"] == "1:1.2.13.dfsg-1"
    # Jinja2 2.10 has known advisories in the PyPA data; urllib3's folder is not imported.
    findings = list(scan.findings.all())
    assert findings and {f.package_name.lower() for f in findings} == {"jinja2"}
    assert all(f.first_seen_at == scan.matched_at for f in findings)
    assert scan.critical + scan.major + scan.minor + scan.unknown == len(findings)
    # The best-practices review ran and says the image runs as root.
    results = {p["id"]: p for p in scan.practices}
    assert results["PS-001"]["status"] == "fail"  # no USER: runs as root


def test_the_scan_page_says_what_it_was_matched_against(
    client, as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from portside.scanning.sbom import read_document

    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    assert scan.status == ScanStatus.DONE and scan.feeds == []
    client.force_login(world.owner)
    url = reverse("scan_detail", args=["acme", scan.pk])
    page = client.get(url).content.decode()
    assert "Not matched: no vulnerability data." in page
    assert "No known vulnerabilities" not in page
    sbom = json.loads(read_document(scan.sbom_cyclonedx))
    assert {"name": "portside:vulnerability-data", "value": "none: not matched"} in sbom[
        "metadata"
    ]["properties"]
    # The first data arrives: every stored image is matched and its SBOM says so.
    _import(vulndb, ["jinja2"])
    services.rematch_all()
    assert services.refresh_sboms(scan_id=scan.pk)  # queued by the match; the worker runs it
    scan.refresh_from_db()
    (feed,) = scan.feeds
    assert feed["name"] == "pypa" and feed["kind"] == "osv" and feed["records"] > 0
    page = client.get(url).content.decode()
    assert "Not matched" not in page
    assert "Matched against 1 vulnerability feed," in page and "<strong>pypa</strong>" in page
    values = [
        p["value"]
        for p in json.loads(read_document(scan.sbom_cyclonedx))["metadata"]["properties"]
        if p["name"] == "portside:vulnerability-data"
    ]
    assert values == [f"pypa (osv) updated {feed['updated']}"]


def test_index_and_artifact_manifests_are_not_scanned(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        as_owner.push_image("acme/plain", "v1", artifactType="application/vnd.example+json")
    assert not Scan.objects.exists()


def test_new_vulnerability_data_is_matched_without_reading_the_image(
    as_owner, world, vulndb, django_capture_on_commit_callbacks, settings, tmp_path
):
    _import(vulndb, ["jinja2"])
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    before = {(f.advisory_id, f.first_seen_at) for f in scan.findings.all()}
    # The image's blobs are gone: re-matching must work from the stored inventory alone.
    settings.BLOB_STORE_URL = (tmp_path / "empty-blobs").as_uri()
    from portside.registry import storage

    storage._store.cache_clear()
    with clock.frozen(clock.now() + dt.timedelta(days=3)) as later:
        _import(vulndb, ["jinja2", "urllib3"])
        result = services.rematch_all()
        scan.refresh_from_db()
        urllib3 = scan.findings.filter(package_name="urllib3")
        assert urllib3.exists()
        assert result == {"scans": 1, "new_findings": urllib3.count()}
        assert {f.first_seen_at for f in urllib3} == {later()}
        # Findings seen before keep the time they were first seen.
        assert {
            (f.advisory_id, f.first_seen_at) for f in scan.findings.filter(package_name="Jinja2")
        } == before
    # Data that no longer lists an advisory resolves its finding (it stays on record).
    _import(vulndb, ["urllib3"])
    services.rematch_all()
    jinja = scan.findings.filter(package_name="Jinja2")
    assert jinja.exists() and all(f.resolved_at is not None for f in jinja)
    assert services.findings_by_severity(scan)
    assert all(
        f.package_name == "urllib3"
        for _, group in services.findings_by_severity(scan)
        for f in group
    )


def test_the_security_team_reclassifies_with_a_reason(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    from portside.core.errors import PermissionDenied, ValidationFailed

    _import(vulndb, ["jinja2"])
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    finding = scan.findings.first()
    assert finding is not None
    with pytest.raises(PermissionDenied):
        services.reclassify(
            finding=finding, severity="minor", reason="x", user=world.owner, origin=TEST_ORIGIN
        )
    with pytest.raises(ValidationFailed):
        services.reclassify(
            finding=finding, severity="minor", reason="  ", user=world.admin, origin=TEST_ORIGIN
        )
    with pytest.raises(ValidationFailed):
        services.reclassify(
            finding=finding, severity="urgent", reason="x", user=world.admin, origin=TEST_ORIGIN
        )
    services.reclassify(
        finding=finding,
        severity="critical",
        reason="exploited in the wild",
        user=world.admin,
        origin=TEST_ORIGIN,
    )
    finding.refresh_from_db()
    assert finding.effective_severity == "critical" and finding.severity != ""
    scan.refresh_from_db()
    assert scan.critical >= 1
    row = AuditEvent.objects.get(action="scanning:finding:reclassified")
    assert row.details["reason"] == "exploited in the wild"
    # Re-matching keeps the team's classification.
    services.rematch_all()
    assert Finding.objects.get(pk=finding.pk).effective_severity == "critical"


def test_a_broken_image_fails_the_scan_with_a_reason(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        digest = push_scannable(as_owner, "acme/broken", "v1", [dist_info("six", "1.0")])
    scan = Scan.objects.get(digest=digest)
    # Corrupt the stored config's diff_id claim: the layer no longer matches it.
    manifest = Manifest.objects.get(digest=digest)
    document = json.loads(bytes(manifest.content))
    from portside.registry.storage import store

    store().delete(document["layers"][0]["digest"])
    scan = services.run(scan_id=scan.pk)
    assert scan.status == ScanStatus.FAILED and scan.error
    assert not scan.findings.exists()


def test_on_demand_scans_need_push_rights(as_owner, world, vulndb):
    from portside.core.errors import PermissionDenied

    digest = debian_with_python(as_owner)
    manifest = Manifest.objects.get(digest=digest)
    with pytest.raises(PermissionDenied):
        services.request_scan(
            repository=manifest.repository, digest=digest, user=world.viewer, origin=TEST_ORIGIN
        )
    scan = services.request_scan(
        repository=manifest.repository, digest=digest, user=world.owner, origin=TEST_ORIGIN
    )
    assert scan.status == ScanStatus.QUEUED
    assert AuditEvent.objects.filter(action="scanning:scan:requested").count() == 1


def test_sbom_downloads_are_valid_documents(
    client, as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    _import(vulndb, ["jinja2"])
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    client.force_login(world.owner, backend="django.contrib.auth.backends.ModelBackend")
    cdx = client.get(f"/orgs/acme/scans/{scan.pk}/sbom/cyclonedx")
    assert cdx.status_code == 200 and cdx["Content-Type"] == "application/vnd.cyclonedx+json"
    document = json.loads(_body(cdx))
    assert document["specVersion"] == "1.6"
    names = {c["name"] for c in document["components"]}
    assert {"zlib1g", "Jinja2", "urllib3"} <= names
    assert document.get("vulnerabilities")
    spdx = client.get(f"/orgs/acme/scans/{scan.pk}/sbom/spdx")
    assert spdx.status_code == 200 and json.loads(_body(spdx))["spdxVersion"] == "SPDX-2.3"
    assert client.get(f"/orgs/acme/scans/{scan.pk}/sbom/../../etc").status_code == 404
    assert client.get(f"/orgs/acme/scans/{scan.pk}/sbom/xml").status_code == 404
    page = client.get(f"/orgs/acme/scans/{scan.pk}/")
    assert page.status_code == 200 and b"Jinja2" in page.content
    repo_page = client.get("/orgs/acme/repositories/app")
    assert b"Security scan" in repo_page.content and b"Scan now" in repo_page.content


def test_deleting_an_image_removes_its_scan(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = as_owner.call(
            "DELETE", f"/v2/acme/app/manifests/{scan.digest}", "repository:acme/app:delete"
        )
    assert response.status_code == 202
    assert not Scan.objects.filter(pk=scan.pk).exists()


def test_the_sbom_is_attached_to_the_image_as_a_referrer(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    scope = "repository:acme/app:pull"
    listed = as_owner.call("GET", f"/v2/acme/app/referrers/{scan.digest}", scope).json()
    (descriptor,) = listed["manifests"]
    assert descriptor["artifactType"] == "application/vnd.cyclonedx+json"
    assert descriptor["digest"] == scan.sbom_digest
    manifest = as_owner.call(
        "GET",
        f"/v2/acme/app/manifests/{scan.sbom_digest}",
        scope,
        HTTP_ACCEPT="application/vnd.oci.image.manifest.v1+json",
    ).json()
    assert manifest["subject"]["digest"] == scan.digest
    sbom = as_owner.call("GET", f"/v2/acme/app/blobs/{manifest['layers'][0]['digest']}", scope)
    assert json.loads(b"".join(sbom.streaming_content))["specVersion"] == "1.6"
    # The SBOM artifact is not itself scanned; a new scan replaces it.
    assert Scan.objects.count() == 1
    first = scan.sbom_digest
    with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
        rescanned = services.run(scan_id=scan.pk)
    assert rescanned.sbom_digest != first
    listed = as_owner.call("GET", f"/v2/acme/app/referrers/{scan.digest}", scope).json()
    assert [d["digest"] for d in listed["manifests"]] == [rescanned.sbom_digest]


def test_a_finding_keeps_its_clock_when_its_advisory_gains_an_alias(
    as_owner, world, vulndb, django_capture_on_commit_callbacks, tmp_path
):
    """A PYSEC record that later lists its CVE is the same finding, not a new one."""
    import yaml

    folder = tmp_path / "one" / "demo"
    folder.mkdir(parents=True)
    record = {
        "id": "PYSEC-0000-1",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "urllib3"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            }
        ],
    }
    (folder / "PYSEC-0000-1.yaml").write_text(yaml.safe_dump(record))

    def load() -> None:
        store = VulnStore.open(vulndb)
        try:
            import_osv(store, folder.parent, source="local")
        finally:
            store.close()

    load()
    scan = _push_and_scan(as_owner, django_capture_on_commit_callbacks)
    (first,) = scan.findings.filter(package_name="urllib3")
    assert first.advisory_id == "PYSEC-0000-1"
    record["aliases"] = ["CVE-2099-0001"]
    record["modified"] = "2024-02-01T00:00:00Z"
    (folder / "PYSEC-0000-1.yaml").write_text(yaml.safe_dump(record))
    with clock.frozen(clock.now() + dt.timedelta(days=1)):
        load()
        services.rematch_all()
    (again,) = scan.findings.filter(package_name="urllib3")
    assert again.pk == first.pk and again.advisory_id == "CVE-2099-0001"
    assert again.first_seen_at == first.first_seen_at and again.resolved_at is None


def test_a_base_layer_shared_by_two_images_is_analysed_once(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    from portside.scanning.models import LayerRecord
    from tests.scanning.images import DPKG_STATUS, OS_RELEASE

    base = [("etc/os-release", OS_RELEASE), ("var/lib/dpkg/status", DPKG_STATUS)]
    with django_capture_on_commit_callbacks(execute=True):
        one = push_scannable(as_owner, "acme/one", "v1", [base, dist_info("six", "1.16.0")])
        two = push_scannable(as_owner, "acme/two", "v1", [base, dist_info("idna", "2.7")])
    for digest in (one, two):
        scan = services.run(scan_id=Scan.objects.get(digest=digest).pk)
        assert scan.status == ScanStatus.DONE, scan.error
        assert {p["name"] for p in scan.inventory["packages"]} >= {"zlib1g"}
    assert LayerRecord.objects.count() == 3  # one base, two application layers


def test_the_api_gives_results_and_takes_scan_requests(as_owner, world, vulndb, client):
    from portside.accounts import services as accounts

    digest = debian_with_python(as_owner)

    made = iter(range(100))

    def token(user, scopes):
        _, secret = accounts.create_token(
            user=user, name=f"t{next(made)}", scopes=scopes, acting=user, origin=TEST_ORIGIN
        )
        return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}

    body = json.dumps({"repository": "acme/app", "digest": digest})

    def post(headers):
        return client.post("/api/v1/scans", data=body, content_type="application/json", **headers)

    assert post({}).status_code == 401
    assert post(token(world.owner, ["read"])).status_code == 403  # a read-only token
    assert post(token(world.viewer, ["read", "write"])).status_code == 403
    refused = post(token(world.other, ["read", "write"]))
    assert refused.status_code == 404 and refused["Content-Type"] == "application/problem+json"
    accepted = post(token(world.owner, ["read", "write"]))
    assert accepted.status_code == 202, accepted.content
    scan_id = accepted.json()["id"]
    assert accepted.json()["status"] == "queued"
    services.run(scan_id=scan_id)
    result = client.get(f"/api/v1/scans/{scan_id}", **token(world.viewer, ["read"]))
    assert result.status_code == 200
    names = {p["name"] for p in result.json()["packages"]}
    assert {"zlib1g", "Jinja2", "urllib3"} <= names
    # No vulnerability data: the answer says the image was not matched.
    assert result.json()["findings"] == []
    assert result.json()["vulnerability_data"]["matched"] is False
    assert client.get(f"/api/v1/scans/{scan_id}", **token(world.other, ["read"])).status_code == 404
    wrong = json.dumps({"repository": "acme/app", "digest": "sha256:" + "0" * 64})
    assert (
        client.post(
            "/api/v1/scans",
            data=wrong,
            content_type="application/json",
            **token(world.owner, ["read", "write"]),
        ).status_code
        == 404
    )


def test_a_repeated_push_event_queues_one_scan(
    as_owner, world, vulndb, django_capture_on_commit_callbacks
):
    """The event of a push may be delivered again (a worker died while delivering it):
    the image is still scanned once."""
    from django.tasks import default_task_backend

    from portside.registry.models import Manifest
    from portside.scanning import subscribers

    with django_capture_on_commit_callbacks(execute=True):
        as_owner.push_image("acme/once", "v1")
    manifest = Manifest.objects.get(repository__name="acme/once")
    queued = len(default_task_backend.results)
    subscribers.scan_pushed_manifest(manifest_id=manifest.pk)
    subscribers.scan_pushed_manifest(manifest_id=manifest.pk)
    assert Scan.objects.filter(digest=manifest.digest).count() == 1
    assert len(default_task_backend.results) == queued  # no second run_scan
