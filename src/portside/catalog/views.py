"""The publishers' product pages: the working copy of the manifest, sources, tiers,
images, revisions, and the buttons that start review or withdraw a listing.

Only members of the organisation and the store team see these pages; everyone else gets
404, so a draft never reveals that it exists. Changes need an owner or editor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Organization, User
from portside.catalog import editor, services
from portside.catalog import manifest as items
from portside.catalog.forms import ImageForm, NewProductForm, SourceForm, TierForm
from portside.catalog.models import Product, Revision
from portside.core.errors import PermissionDenied, PortsideError
from portside.core.origin import from_request
from portside.registry.models import Repository

MAX_UPLOAD = 10 * 1024 * 1024


def _me(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # behind login_required
    return user


def _organization(request: HttpRequest, name: str) -> Organization:
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_products(request.user, org):
        raise Http404("No such organisation.")
    return org


def _product(request: HttpRequest, name: str, slug: str) -> Product:
    org = _organization(request, name)
    return get_object_or_404(
        Product.objects.select_related("organization", "category"), organization=org, slug=slug
    )


def _editing(
    section: str | None = None,
) -> Callable[[Callable[..., HttpResponse | None]], Callable[..., HttpResponse]]:
    """A POST that changes the product: 403 for members who may only look. The view may
    answer itself (a confirmation page, a form with errors); otherwise it goes back to
    the editor, at ``section`` when the action belongs to one. A domain error is shown
    in that section (or, for actions outside the sections, as a message)."""

    def decorate(view: Callable[..., HttpResponse | None]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, name: str, slug: str, **kwargs: Any) -> HttpResponse:
            product = _product(request, name, slug)
            if not permissions.can_edit_products(request.user, product.organization):
                return render(
                    request,
                    "403.html",
                    {"message": "Only owners and editors change products."},
                    status=403,
                )
            try:
                answer = view(request, product, **kwargs)
            except PortsideError as exc:
                if isinstance(exc, PermissionDenied):
                    return render(request, "403.html", {"message": exc.message}, status=403)
                if section is not None:
                    product.refresh_from_db()
                    target, label = _TARGETS[view.__name__]
                    return editor.refused(request, product, section, exc, target, label)
                messages.error(request, exc.message)
                answer = None
            if answer is not None:
                return answer
            return redirect(editor.edit_url(product, section))

        return login_required(require_POST(wrapper))

    return decorate


# The input a section's error links to, and its name, by the view that refused.
_TARGETS = {
    "product_icon": ("icon-file", "Icon"),
    "screenshot_add": ("shot-file", "Screenshot"),
    "screenshot_remove": ("screenshots", "Screenshots"),
    "source_set": ("id_repository", "Sources"),
    "source_remove": ("sources", "Sources"),
    "tier_save": ("tier_name", "Tier"),
    "tier_delete": ("tiers", "Tiers"),
}


def _unconfirmed(
    request: HttpRequest, product: Product, *, title: str, message: str, button: str
) -> HttpResponse | None:
    """A destructive action asks first, on a page of its own (no script needed): the
    POST that carries ``confirmed=yes`` acts, any other shows the question."""
    if request.POST.get("confirmed") == "yes":
        return None
    return render(
        request,
        "catalog/confirm.html",
        {
            "title": title,
            "message": message,
            "button": button,
            "action": request.path,
            "cancel": reverse("product_edit", args=[product.organization.name, product.slug]),
        },
    )


def _upload(request: HttpRequest) -> tuple[bytes, str]:
    form = ImageForm(request.POST, request.FILES)
    if not form.is_valid():
        raise items.ValidationFailed("Choose an image file.", field="image")
    upload = form.cleaned_data["image"]
    if upload.size > MAX_UPLOAD:
        raise items.ValidationFailed(
            f"The file is {upload.size:,} bytes; at most {MAX_UPLOAD:,} are accepted.",
            field="image",
        )
    return upload.read(), form.cleaned_data.get("caption") or ""


@login_required
@require_http_methods(["GET", "POST"])
def product_list(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    can_edit = permissions.can_edit_products(request.user, org)
    form = NewProductForm(request.POST or None)
    if request.method == "POST":
        if not can_edit:
            return render(
                request,
                "403.html",
                {"message": "Only owners and editors add products."},
                status=403,
            )
        if form.is_valid():
            try:
                product = services.create_product(
                    organization=org,
                    name=form.cleaned_data["name"],
                    acting=_me(request),
                    origin=from_request(request),
                )
            except PortsideError as exc:
                add_domain_error(form, exc)
            else:
                messages.success(request, f"Product {product.name} created.")
                return redirect("product_edit", name=org.name, slug=product.slug)
    products = Product.objects.filter(organization=org).select_related("listing", "category")
    return render(
        request,
        "catalog/product_list.html",
        {"org": org, "products": products, "form": form, "can_edit": can_edit},
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    """The editor: GET shows every section; a POST saves the one section it names."""
    product = _product(request, name, slug)
    can_edit = permissions.can_edit_products(request.user, product.organization)
    if request.method == "POST":
        if not can_edit:
            return render(
                request,
                "403.html",
                {"message": "Only owners and editors change products."},
                status=403,
            )
        return editor.save(request, product, _me(request))
    return editor.render_editor(request, product, can_edit=can_edit)


def _split(value: str) -> list[str]:
    return [part for part in re.split(r"[,\s]+", value or "") if part]


@_editing("icon")
def product_icon(request: HttpRequest, product: Product) -> None:
    data, _ = _upload(request)
    services.set_icon(
        product=product,
        data=data,
        acting=_me(request),
        origin=from_request(request),
    )


@_editing("icon")
def screenshot_add(request: HttpRequest, product: Product) -> None:
    data, caption = _upload(request)
    services.add_screenshot(
        product=product,
        data=data,
        caption=caption,
        acting=_me(request),
        origin=from_request(request),
    )


@_editing("icon")
def screenshot_remove(request: HttpRequest, product: Product, pk: int) -> None:
    shot = get_object_or_404(product.screenshots, pk=pk)
    services.remove_screenshot(
        screenshot=shot,
        acting=_me(request),
        origin=from_request(request),
    )


@_editing("sources")
def source_set(request: HttpRequest, product: Product) -> HttpResponse | None:
    repositories = list(
        Repository.objects.filter(organization=product.organization)
        .order_by("name")
        .values_list("name", flat=True)
    )
    form = SourceForm(request.POST, repositories=repositories)
    if form.is_valid():
        try:
            services.set_source(
                product=product,
                repository=form.cleaned_data["repository"],
                tags=_split(form.cleaned_data["tags"]),
                acting=_me(request),
                origin=from_request(request),
            )
        except PortsideError as exc:
            if isinstance(exc, PermissionDenied):
                raise
            form.add_error("tags", exc.message)
        else:
            return None
    return editor.render_editor(
        request, product, can_edit=True, bound={"sources": form}, status=400
    )


@_editing("sources")
def source_remove(request: HttpRequest, product: Product, pk: int) -> None:
    source = get_object_or_404(product.sources.select_related("repository"), pk=pk)
    services.remove_source(
        source=source,
        acting=_me(request),
        origin=from_request(request),
    )


@_editing("tiers")
def tier_save(request: HttpRequest, product: Product, pk: int | None = None) -> HttpResponse | None:
    tier = get_object_or_404(product.tiers, pk=pk) if pk is not None else None
    sources = product.sources.select_related("repository")
    choices = [f"{s.repository.name}:{tag}" for s in sources for tag in s.tags]
    form = TierForm(request.POST, choices=choices, auto_id="tier_%s")
    if form.is_valid():
        try:
            services.save_tier(
                product=product,
                tier=tier,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                price=form.cleaned_data["price"],
                currency=form.cleaned_data["currency"],
                billing_period=form.cleaned_data["billing_period"],
                access=form.grants(),
                acting=_me(request),
                origin=from_request(request),
            )
        except PortsideError as exc:
            if isinstance(exc, PermissionDenied):
                raise
            add_domain_error(form, exc)
        else:
            return None
    return editor.render_editor(request, product, can_edit=True, bound={"tiers": form}, status=400)


@_editing("tiers")
def tier_delete(request: HttpRequest, product: Product, pk: int) -> HttpResponse | None:
    tier = get_object_or_404(product.tiers, pk=pk)
    asked = _unconfirmed(
        request,
        product,
        title=f"Delete the tier {tier.name}?",
        message=f"The tier {tier.name} of {product.name} is removed from the draft. "
        "Customers who already hold it keep it until the draft is published.",
        button=f"Delete {tier.name}",
    )
    if asked is not None:
        return asked
    services.delete_tier(tier=tier, acting=_me(request), origin=from_request(request))
    return None


@_editing()
def product_unpublish(request: HttpRequest, product: Product) -> HttpResponse | None:
    asked = _unconfirmed(
        request,
        product,
        title=f"Unpublish {product.name}?",
        message=f"{product.name} leaves the storefront and search at once, and nobody can "
        "take its tiers. To list it again, submit a revision for review.",
        button=f"Unpublish {product.name}",
    )
    if asked is not None:
        return asked
    services.unpublish(product=product, acting=_me(request), origin=from_request(request))
    messages.success(request, f"{product.name} is no longer listed.")
    return None


@login_required
@require_POST
def product_delete(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    product = _product(request, name, slug)
    if not permissions.can_edit_products(request.user, product.organization):
        return render(
            request, "403.html", {"message": "Only owners and editors change products."}, status=403
        )
    asked = _unconfirmed(
        request,
        product,
        title=f"Delete {product.name}?",
        message=f"The draft {product.name} is deleted with its icon, screenshots, sources and "
        "tiers. This cannot be undone. The images in its repositories stay.",
        button=f"Delete {product.name}",
    )
    if asked is not None:
        return asked
    try:
        services.delete_product(product=product, acting=_me(request), origin=from_request(request))
    except PortsideError as exc:
        if isinstance(exc, PermissionDenied):
            return render(request, "403.html", {"message": exc.message}, status=403)
        messages.error(request, exc.message)
        return redirect("product_edit", name=product.organization.name, slug=product.slug)
    messages.success(request, f"{product.name} deleted.")
    return redirect("product_list", name=product.organization.name)


@login_required
def revision_detail(request: HttpRequest, name: str, slug: str, number: int) -> HttpResponse:
    product = _product(request, name, slug)
    revision = get_object_or_404(Revision, product=product, number=number)
    previous = product.revisions.filter(number__lt=number).order_by("-number").first()
    return render(
        request,
        "catalog/revision_detail.html",
        {
            "org": product.organization,
            "product": product,
            "revision": revision,
            "manifest": revision.manifest,
            "changes": items.diff(previous.manifest if previous else None, revision.manifest),
            "first": previous is None,
            "previous": previous,
            "host": request.get_host(),
        },
    )
