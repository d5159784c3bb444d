"""VEX pages: translation between HTTP and ``vex_services``.

Three audiences. The publisher's members see their organisation's statements under
``/orgs/ORG/security/vex/`` (pending, approved, rejected, withdrawn), and its owners and
editors state new ones (the form opens pre-filled from a finding's link), withdraw them,
import an OpenVEX document and download the approved ones. The security team works the
queue of pending statements under ``/staff/security/vex/``. Customers entitled to a
product (``commerce.entitlements``) read its approved statements, as a page and as
OpenVEX JSON, under ``/library/vex/ORG/PRODUCT/``; the public never sees them.

An organisation or product the user may not see answers 404, so its existence stays
private; a member who may see but not act gets 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from portside.accounts import permissions
from portside.accounts.forms import add_domain_error
from portside.accounts.models import Organization
from portside.catalog.models import Product
from portside.core import clock
from portside.core.errors import PermissionDenied, PortsideError
from portside.core.origin import from_request
from portside.policy import vex, vex_services
from portside.policy.models import VexJustification, VexReview, VexStatement, VexStatus

QUEUE_PAGE = 100


def _organization(request: HttpRequest, name: str) -> Organization:
    org = Organization.objects.filter(name=name).first()
    if org is None or not permissions.can_view_vex(request.user, org):
        raise Http404("No such organisation.")
    return org


def _product(org: Organization, slug: str) -> Product:
    product = Product.objects.select_related("organization").filter(organization=org, slug=slug)
    found = product.first()
    if found is None:
        raise Http404("No such product.")
    return found


def _denied(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "403.html", {"message": message}, status=403)


def _download(document: vex.Document, filename: str, *, attachment: bool) -> HttpResponse:
    response = HttpResponse(vex.serialise(document), content_type=vex.MEDIA_TYPE)
    disposition = "attachment" if attachment else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- the publisher --------------------------------------------------------------------------


class StatementForm(forms.Form):
    product = forms.ChoiceField(label="Product")
    advisory_id = forms.CharField(label="Vulnerability", max_length=vex.MAX_ADVISORY_ID)
    status = forms.ChoiceField(label="Status", choices=VexStatus.choices)
    justification = forms.ChoiceField(
        label="Justification",
        required=False,
        choices=[("", "(not affected only)"), *VexJustification.choices],
    )
    impact_statement = forms.CharField(
        label="Impact statement",
        required=False,
        max_length=vex.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the vulnerability cannot be exploited (optional, for not affected).",
    )
    action_statement = forms.CharField(
        label="Action statement",
        required=False,
        max_length=vex.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What customers should do (required for affected).",
    )
    package_type = forms.CharField(label="Package type", required=False, max_length=32)
    package_name = forms.CharField(
        label="Package name",
        required=False,
        max_length=vex.MAX_PACKAGE_NAME,
        help_text="Leave both package fields empty for every package.",
    )
    digest = forms.CharField(
        label="Image digest",
        required=False,
        max_length=200,
        help_text="Leave empty for every image of the product.",
    )
    expires_at = forms.DateTimeField(
        label="Expires (UTC)",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, products: list[Product], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].choices = [(p.slug, p.name) for p in products]  # type: ignore[attr-defined]

    def clean_expires_at(self) -> dt.datetime | None:
        value: dt.datetime | None = self.cleaned_data.get("expires_at")
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class ImportForm(forms.Form):
    document = forms.FileField(label="OpenVEX document (JSON)")


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=vex_services.MAX_REASON, required=False)


@login_required
@require_safe
def statement_list(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    products = list(Product.objects.filter(organization=org).order_by("name"))
    wanted = request.GET.get("product", "")
    rows = VexStatement.objects.filter(organization_id=org.pk).select_related("product")
    if wanted:
        rows = rows.filter(product__slug=wanted)
    return render(
        request,
        "policy/vex_list.html",
        {
            "org": org,
            "products": products,
            "wanted": wanted,
            "statements": rows.order_by("-created_at", "-pk")[:500],
            "can_state": permissions.can_state_vex(request.user, org),
            "now": clock.now(),
        },
    )


def _initial(request: HttpRequest, products: list[Product]) -> dict[str, str]:
    """The form's values from a finding's link: ``?repository=&digest=&advisory=&
    package_type=&package_name=`` (the product: the one whose sources hold the
    repository, when there is one)."""
    query = request.GET
    initial = {
        "advisory_id": query.get("advisory", "")[: vex.MAX_ADVISORY_ID],
        "package_type": query.get("package_type", "")[:32],
        "package_name": query.get("package_name", "")[: vex.MAX_PACKAGE_NAME],
        "digest": query.get("digest", "")[:200],
        "status": VexStatus.NOT_AFFECTED,
        "product": query.get("product", "")[:100],
    }
    repository = query.get("repository", "")
    if repository and not initial["product"]:
        for product in products:
            if any(r.name == repository for r in vex_services.repositories(product)):
                initial["product"] = product.slug
                break
    return initial


@login_required
@require_http_methods(["GET", "POST"])
def statement_new(request: HttpRequest, name: str) -> HttpResponse:
    org = _organization(request, name)
    if not permissions.can_state_vex(request.user, org):
        return _denied(request, "Only the publisher's owners and editors state VEX statements.")
    products = list(Product.objects.filter(organization=org).order_by("name"))
    if request.method == "GET":
        form = StatementForm(initial=_initial(request, products), products=products)
        return render(request, "policy/vex_new.html", {"org": org, "form": form})
    form = StatementForm(request.POST, products=products)
    if form.is_valid():
        data = dict(form.cleaned_data)
        product = _product(org, data.pop("product"))
        try:
            statement = vex_services.state(
                product=product, acting=request.user, origin=from_request(request), **data
            )
        except PermissionDenied as exc:
            return _denied(request, exc.message)
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request, f"Statement {statement.pk} is waiting for the store's security team."
            )
            return redirect("vex_list", name=org.name)
    return render(request, "policy/vex_new.html", {"org": org, "form": form}, status=400)


@login_required
@require_POST
def statement_withdraw(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    org = _organization(request, name)
    statement = VexStatement.objects.filter(pk=pk, organization_id=org.pk).first()
    if statement is None:
        raise Http404("No such statement.")
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        vex_services.withdraw(
            statement=statement, acting=request.user, origin=from_request(request), reason=reason
        )
    except PermissionDenied as exc:
        return _denied(request, exc.message)
    except PortsideError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Statement {statement.pk} is withdrawn.")
    return redirect("vex_list", name=org.name)


@login_required
@require_http_methods(["GET", "POST"])
def statement_import(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    org = _organization(request, name)
    product = _product(org, slug)
    if not permissions.can_state_vex(request.user, org):
        return _denied(request, "Only the publisher's owners and editors import VEX statements.")
    context: dict[str, Any] = {"org": org, "product": product, "limit": vex.MAX_BYTES}
    if request.method == "GET":
        context["form"] = ImportForm()
        return render(request, "policy/vex_import.html", context)
    form = ImportForm(request.POST, request.FILES)
    context["form"] = form
    if form.is_valid():
        # One byte past the limit is enough for the parser to refuse a larger file.
        data = form.cleaned_data["document"].read(vex.MAX_BYTES + 1)
        try:
            imported = vex_services.import_document(
                product=product, data=data, acting=request.user, origin=from_request(request)
            )
        except PermissionDenied as exc:
            return _denied(request, exc.message)
        except PortsideError as exc:
            form.add_error("document", exc.message)
        else:
            messages.success(
                request,
                f"{len(imported)} statement{'s' if len(imported) != 1 else ''} imported; "
                "new ones wait for the store's security team.",
            )
            return redirect(f"{_list_url(org)}?product={product.slug}")
    return render(request, "policy/vex_import.html", context, status=400)


def _list_url(org: Organization) -> str:
    from django.urls import reverse

    return reverse("vex_list", args=[org.name])


@login_required
@require_safe
def statement_export(request: HttpRequest, name: str, slug: str) -> HttpResponse:
    org = _organization(request, name)
    product = _product(org, slug)
    document = vex_services.export_document(product=product)
    return _download(document, f"{org.name}-{product.slug}.openvex.json", attachment=True)


# --- the security team ----------------------------------------------------------------------


def _reviewer(request: HttpRequest) -> None:
    if not permissions.can_review_vex(request.user):
        raise DjangoPermissionDenied("Only the store's security team reviews VEX statements.")


@login_required
@require_safe
def review_queue(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    pending = (
        VexStatement.objects.filter(review=VexReview.PENDING)
        .select_related("product__organization")
        .order_by("created_at", "pk")
    )
    recent = (
        VexStatement.objects.exclude(review=VexReview.PENDING)
        .filter(reviewed_at__isnull=False)
        .select_related("product__organization")
        .order_by("-reviewed_at", "-pk")
    )
    return render(
        request,
        "policy/vex_queue.html",
        {
            "pending": pending[:QUEUE_PAGE],
            "pending_count": pending.count(),
            "recent": recent[:20],
            "me": request.user.pk,
        },
    )


def _review(request: HttpRequest, pk: int, *, approve: bool) -> HttpResponse:
    _reviewer(request)
    statement = VexStatement.objects.filter(pk=pk).first()
    if statement is None:
        raise Http404("No such statement.")
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        if approve:
            vex_services.approve(
                statement=statement,
                acting=request.user,
                origin=from_request(request),
                reason=reason,
            )
        else:
            vex_services.reject(
                statement=statement,
                acting=request.user,
                origin=from_request(request),
                reason=reason,
            )
    except PermissionDenied as exc:
        return _denied(request, exc.message)
    except PortsideError as exc:
        messages.error(request, f"Statement {pk}: {exc.message}")
    else:
        messages.success(request, f"Statement {pk} {'approved' if approve else 'rejected'}.")
    return redirect("vex_queue")


@login_required
@require_POST
def review_approve(request: HttpRequest, pk: int) -> HttpResponse:
    return _review(request, pk, approve=True)


@login_required
@require_POST
def review_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _review(request, pk, approve=False)


# --- customers ------------------------------------------------------------------------------


def _readable(request: HttpRequest, org_name: str, slug: str) -> Product:
    """The product, if the user may read its approved statements (else 404)."""
    from portside.commerce import entitlements

    product = (
        Product.objects.select_related("organization")
        .filter(organization__name=org_name, slug=slug)
        .first()
    )
    if product is None:
        raise Http404("No such product.")
    user = request.user
    if user.pk is None:
        raise Http404("No such product.")
    entitled = any(h.product_id == product.pk for h in entitlements.held(user.pk))
    if not permissions.can_read_product_vex(user, product.organization, entitled=entitled):
        raise Http404("No such product.")
    return product


@login_required
@require_safe
def customer_view(request: HttpRequest, org: str, slug: str) -> HttpResponse:
    product = _readable(request, org, slug)
    document = vex_services.export_document(product=product)
    return render(
        request,
        "policy/vex_customer.html",
        {
            "product": product,
            "statements": list(vex_services.approved(product)),
            "document": document,
        },
    )


@login_required
@require_safe
def customer_json(request: HttpRequest, org: str, slug: str) -> HttpResponse:
    product = _readable(request, org, slug)
    document = vex_services.export_document(product=product)
    return _download(document, f"{org}-{slug}.openvex.json", attachment=False)


urlpatterns: list[URLPattern] = [
    path("orgs/<str:name>/security/vex/", statement_list, name="vex_list"),
    path("orgs/<str:name>/security/vex/new", statement_new, name="vex_new"),
    path(
        "orgs/<str:name>/security/vex/<int:pk>/withdraw",
        statement_withdraw,
        name="vex_withdraw",
    ),
    path(
        "orgs/<str:name>/security/vex/<slug:slug>/import",
        statement_import,
        name="vex_import",
    ),
    path(
        "orgs/<str:name>/security/vex/<slug:slug>/openvex.json",
        statement_export,
        name="vex_export",
    ),
    path("staff/security/vex/", review_queue, name="vex_queue"),
    path("staff/security/vex/<int:pk>/approve", review_approve, name="vex_approve"),
    path("staff/security/vex/<int:pk>/reject", review_reject, name="vex_reject"),
    path("library/vex/<str:org>/<slug:slug>/", customer_view, name="vex_customer"),
    path("library/vex/<str:org>/<slug:slug>/openvex.json", customer_json, name="vex_customer_json"),
]
