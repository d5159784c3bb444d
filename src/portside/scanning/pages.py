"""Scan results pages: private to the publisher's organisation and the store team."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from portside.accounts import permissions
from portside.accounts.models import Organization
from portside.core.errors import NotFound, PermissionDenied, PortsideError
from portside.core.origin import from_request
from portside.registry.models import Repository
from portside.scanning import conf, sbom, services
from portside.scanning.models import Finding, Scan, Severity


def _organization(request: HttpRequest, name: str) -> Organization:
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_scan_results(request.user, org):
        raise Http404("No such organisation.")
    return org


def _scan(request: HttpRequest, name: str, pk: int) -> Scan:
    org = _organization(request, name)
    scan = Scan.objects.select_related("repository").filter(pk=pk, repository__organization=org)
    found = scan.first()
    if found is None:
        raise Http404("No such scan.")
    return found


# The longest package filter the scan page takes.
PACKAGE_FILTER_MAX = 100


@login_required
@require_safe
def scan_detail(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    """The scan's results in tabs: vulnerabilities, packages by layer (filtered by name
    with ``?package=``), best practices (marked when older checks made them) and the
    SBOM."""
    scan = _scan(request, name, pk)
    org = scan.repository.organization
    groups = services.findings_by_severity(scan)
    layers = services.packages_by_layer(scan)
    package_total = sum(len(packages) for _, packages in layers)
    query = " ".join(request.GET.get("package", "").split())[:PACKAGE_FILTER_MAX]
    if query:
        needle = query.casefold()
        matching = [
            (layer, [p for p in packages if needle in str(p.get("name") or "").casefold()])
            for layer, packages in layers
        ]
        layers = [(layer, packages) for layer, packages in matching if packages]
    return render(
        request,
        "scanning/scan_detail.html",
        {
            "org": org,
            "scan": scan,
            "repo": scan.repository,
            "groups": groups,
            "finding_count": sum(len(findings) for _, findings in groups),
            "layers": layers,
            "package_total": package_total,
            "package_query": query,
            "package_matches": sum(len(packages) for _, packages in layers),
            "practices": scan.practices,
            "failed_practices": scan.failed_practices,
            # Results of older checks are refreshed by the sweep unless it refreshes none.
            "practices_refreshing": scan.practices_outdated and conf.refresh_batch() > 0,
            "can_scan": permissions.can_request_scan(request.user, org),
            "can_reclassify": permissions.can_reclassify_findings(request.user),
            "severities": Severity.choices,
        },
    )


@login_required
@require_POST
def scan_request(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    repository = Repository.objects.filter(
        organization=org, name=request.POST.get("repository", "")
    ).first()
    if repository is None:
        raise Http404("No such repository.")
    try:
        scan = services.request_scan(
            repository=repository,
            digest=request.POST.get("digest", ""),
            user=request.user,
            origin=from_request(request),
        )
    except PermissionDenied as exc:
        return render(request, "403.html", {"message": exc.message}, status=403)
    except NotFound:
        raise Http404("No such image.") from None
    except PortsideError as exc:
        messages.error(request, exc.message)
        return redirect("repository_detail", name=org.name, repository=repository.short_name)
    messages.success(request, "The scan is queued; this page shows it when it is done.")
    return redirect("scan_detail", name=org.name, pk=scan.pk)


@login_required
@require_POST
def finding_reclassify(request: HttpRequest, name: str, pk: int, finding: int) -> HttpResponse:
    scan = _scan(request, name, pk)
    found = Finding.objects.filter(pk=finding, scan=scan).first()
    if found is None:
        raise Http404("No such finding.")
    try:
        services.reclassify(
            finding=found,
            severity=request.POST.get("severity", ""),
            reason=request.POST.get("reason", ""),
            user=request.user,
            origin=from_request(request),
        )
    except PermissionDenied as exc:
        return render(request, "403.html", {"message": exc.message}, status=403)
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{found.advisory_id} is now {found.reclassified}.")
    return redirect("scan_detail", name=scan.repository.organization.name, pk=scan.pk)


@login_required
def scan_sbom(request: HttpRequest, name: str, pk: int, kind: str) -> HttpResponseBase:
    """The scan's SBOM, as the worker stored it: the file is streamed, never rendered
    here. A scan done before SBOMs were stored gets them from the worker: the answer is
    503 with Retry-After until then."""
    scan = _scan(request, name, pk)
    if kind not in sbom.KINDS:
        raise Http404("SBOMs come as cyclonedx or spdx.")
    if scan.status != "done":
        raise Http404("This scan has no results yet.")
    handle = sbom.open_document(getattr(scan, sbom.FIELDS[kind]))
    if handle is None:
        from portside.scanning.tasks import refresh_sboms

        refresh_sboms.enqueue(scan_id=scan.pk, kinds=[kind])
        response = HttpResponse(
            "The SBOM of this scan is being prepared; try again in a minute.\n",
            status=503,
            content_type="text/plain; charset=utf-8",
        )
        response["Retry-After"] = "60"
        return response
    described = sbom.headers(scan, kind)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=described["filename"],
        content_type=described["content_type"],
    )


@login_required
@require_safe
def vulnerability_data(request: HttpRequest) -> HttpResponse:
    """The store team's view of the vulnerability feeds: what each holds, when it last
    changed and was checked, and why its last sync failed."""
    if not permissions.can_reclassify_findings(request.user):
        raise DjangoPermissionDenied("Only the store's admins and security team see the feeds.")
    from django.conf import settings

    from portside.scanning import vulndata

    return render(
        request,
        "scanning/vulnerability_data.html",
        {
            "feeds": vulndata.overview(),
            "hours": settings.VULNDB_SYNC_HOURS,
            "mirror": settings.VULNDB_MIRROR,
        },
    )


@login_required
@require_POST
def vulnerability_data_sync(request: HttpRequest) -> HttpResponse:
    if not permissions.can_reclassify_findings(request.user):
        raise DjangoPermissionDenied("Only the store's admins and security team sync the feeds.")
    from portside.scanning import vulndata

    vulndata.request_sync(acting=request.user, origin=from_request(request))
    messages.success(
        request,
        "A sync of every feed is queued; stored images are matched again if anything changed.",
    )
    return redirect("vulnerability_data")
