"""Scan results and on-demand scans in the JSON API: the same rules as the pages (the
organisation and the store team only; anyone else gets 404)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status
from ninja.security import SessionAuth

from portside.accounts import permissions
from portside.api.auth import TokenAuth, read_auth
from portside.core.errors import NotFound, PermissionDenied, PortsideError
from portside.core.origin import from_request
from portside.registry.models import Repository
from portside.scanning import services
from portside.scanning.models import Scan

router = Router(tags=["scanning"])


class FindingOut(Schema):
    id: str
    aliases: list[str]
    package: str
    version: str
    type: str
    purl: str
    layer: str
    severity: str
    score: float | None
    vector: str
    fixed_versions: list[str]
    summary: str
    first_seen_at: dt.datetime
    reclassified_reason: str


class FeedOut(Schema):
    name: str
    kind: str
    records: int
    updated: str
    checked: str


class VulnerabilityDataOut(Schema):
    """Whether the image was matched at all, and against which feeds: with ``matched``
    false an empty ``findings`` means "not matched", not "no vulnerabilities"."""

    matched: bool
    matched_at: dt.datetime | None
    feeds: list[FeedOut]


class ScanOut(Schema):
    id: int
    repository: str
    digest: str
    status: str
    error: str
    requested_at: dt.datetime
    finished_at: dt.datetime | None
    distro: str
    counts: dict[str, int]
    packages: list[dict[str, Any]]
    findings: list[FindingOut]
    vulnerability_data: VulnerabilityDataOut
    practices: list[dict[str, Any]]
    # The version of the best-practice checks that made ``practices``, and whether it is
    # older than the store's (the store scans such images again, a few at a time).
    practices_version: int
    practices_outdated: bool


class ScanRequest(Schema):
    repository: str
    digest: str


def _out(scan: Scan) -> ScanOut:
    open_findings = scan.findings.filter(resolved_at__isnull=True).order_by("advisory_id")
    return ScanOut(
        id=scan.pk,
        repository=scan.repository.name,
        digest=scan.digest,
        status=scan.status,
        error=scan.error,
        requested_at=scan.requested_at,
        finished_at=scan.finished_at,
        distro=scan.distro,
        counts={
            "critical": scan.critical,
            "major": scan.major,
            "minor": scan.minor,
            "unknown": scan.unknown,
        },
        packages=[
            {k: p.get(k) for k in ("type", "name", "version", "purl", "layer", "licenses")}
            for p in scan.inventory.get("packages") or []
        ],
        findings=[
            FindingOut(
                id=f.advisory_id,
                aliases=list(f.aliases),
                package=f.package_name,
                version=f.package_version,
                type=f.package_type,
                purl=f.purl,
                layer=f.layer_digest,
                severity=f.effective_severity,
                score=None if f.score is None else float(f.score),
                vector=f.vector,
                fixed_versions=list(f.fixed_versions),
                summary=f.summary,
                first_seen_at=f.first_seen_at,
                reclassified_reason=f.reclassified_reason,
            )
            for f in open_findings
        ],
        vulnerability_data=VulnerabilityDataOut(
            matched=bool(scan.feeds),
            matched_at=scan.matched_at,
            feeds=[
                FeedOut(
                    name=str(f.get("name", "")),
                    kind=str(f.get("kind", "")),
                    records=int(f.get("records", 0)),
                    updated=str(f.get("updated", "")),
                    checked=str(f.get("checked", "")),
                )
                for f in scan.feeds
            ],
        ),
        practices=list(scan.practices),
        practices_version=scan.practices_version,
        practices_outdated=scan.practices_outdated,
    )


@router.get("/scans/{scan_id}", response=ScanOut, auth=read_auth(), summary="A scan's results")
def scan_detail(request: HttpRequest, scan_id: int) -> ScanOut:
    scan = Scan.objects.select_related("repository__organization").filter(pk=scan_id).first()
    if scan is None or not permissions.can_view_scan_results(
        request.user, scan.repository.organization
    ):
        raise HttpError(404, "No such scan.")
    return _out(scan)


@router.post(
    "/scans",
    response={202: ScanOut},
    auth=[TokenAuth("write"), SessionAuth()],
    summary="Scan an image of a repository now",
)
def scan_request(request: HttpRequest, body: ScanRequest) -> Status[ScanOut]:
    repository = (
        Repository.objects.select_related("organization").filter(name=body.repository).first()
    )
    if repository is None or not permissions.can_view_scan_results(
        request.user, repository.organization
    ):
        raise HttpError(404, "No such repository.")
    try:
        scan = services.request_scan(
            repository=repository,
            digest=body.digest,
            user=request.user,
            origin=from_request(request),
        )
    except PermissionDenied as exc:
        raise HttpError(403, exc.message) from None
    except NotFound as exc:
        raise HttpError(404, exc.message) from None
    except PortsideError as exc:
        raise HttpError(400, exc.message) from None
    return Status(202, _out(scan))
