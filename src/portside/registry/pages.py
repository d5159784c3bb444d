"""Publisher pages of the registry: repositories, tags, and how to push and pull."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from portside.accounts import permissions
from portside.accounts.models import Organization
from portside.registry.models import Repository, Tag


def _organization(request: HttpRequest, name: str) -> Organization:
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_organization(request.user, org):
        raise Http404("No such organisation.")
    return org


@login_required
def repository_list(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    repositories = (
        Repository.objects.filter(organization=org)
        .annotate(tag_count=Count("tags", distinct=True), latest=Max("manifests__pushed_at"))
        .order_by("name")
    )
    return render(
        request,
        "registry/repository_list.html",
        {
            "org": org,
            "repositories": repositories,
            "host": request.get_host(),
            "insecure": not request.is_secure(),
            "can_push": permissions.can_edit_organization_content(request.user, org),
        },
    )


@login_required
def repository_detail(request: HttpRequest, name: str, repository: str) -> HttpResponse:
    org = _organization(request, name)
    repo = Repository.objects.filter(organization=org, name=f"{org.name}/{repository}").first()
    if repo is None:
        raise Http404("No such repository.")
    tags = (
        Tag.objects.filter(repository=repo)
        .select_related("manifest")
        .order_by("-updated_at", "name")
    )
    first_tag = tags[0].name if tags else "latest"
    return render(
        request,
        "registry/repository_detail.html",
        {
            "org": org,
            "repo": repo,
            "tags": tags,
            "host": request.get_host(),
            "insecure": not request.is_secure(),
            "example_tag": first_tag,
            "username": request.user.get_username(),
            "token_days": settings.TOKEN_DEFAULT_DAYS,
            "can_scan": permissions.can_request_scan(request.user, org),
        },
    )
