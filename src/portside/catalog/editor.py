"""The product editor page: its sections, each saved on its own, and the checklist of what
submission for review still needs.

The page is one URL. Basics, Description and Support are forms of the working copy's
items, posted to that URL with the section's name; Icon and screenshots, Sources and Tiers
post to their own URLs (``views.py``). Whatever a section posts, only that section is
validated and saved, through ``catalog.services``, and its errors are shown in that
section as a list that links to the fields; the other sections show what is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from portside.accounts.forms import add_domain_error
from portside.accounts.models import User
from portside.catalog import manifest as items
from portside.catalog import services
from portside.catalog.forms import (
    BasicsForm,
    DescriptionForm,
    ProductForm,
    SourceForm,
    SupportForm,
    TierForm,
)
from portside.catalog.models import Listing, Product
from portside.core.errors import PortsideError
from portside.core.origin import from_request
from portside.registry.models import Repository, Tag

#: (anchor, label, message): one line of a checklist or of a section's error list
Line = tuple[str, str, str]


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    #: the manifest items (``manifest.FIELDS``) this section answers for
    items: tuple[str, ...]
    #: the form of a section saved on the editor's own URL; None: it has URLs of its own
    form: type[forms.Form] | None = None


SECTIONS: tuple[Section, ...] = (
    Section(
        "basics",
        "Basics",
        ("name", "short_description", "category", "search_tags", "platforms"),
        BasicsForm,
    ),
    Section(
        "description", "Description", ("long_description", "install_instructions"), DescriptionForm
    ),
    Section("icon", "Icon and screenshots", ("icon", "screenshots")),
    Section("sources", "Sources", ("sources",)),
    Section("tiers", "Tiers and pricing", ("tiers",)),
    Section(
        "support",
        "Support and links",
        ("support_url", "support_email", "license_url", "self_help", "publisher_support", "sla"),
        SupportForm,
    ),
)
BY_ID = {section.id: section for section in SECTIONS}
FORM_SECTIONS = {section.id: section for section in SECTIONS if section.form is not None}
_SECTION_OF = {item: section for section in SECTIONS for item in section.items}
# Manifest items that are not a field of a section's form link to an element of their own.
_ANCHORS = {
    "icon": "icon",
    "screenshots": "screenshots",
    "sources": "sources",
    "tiers": "tiers",
    "sla": "id_support_hours",
}


def anchor(item: str) -> str:
    """The id of the element a manifest item's line links to."""
    if item in _ANCHORS:
        return _ANCHORS[item]
    return f"id_{item}" if item in _SECTION_OF else "readiness"


@dataclass
class Step:
    section: Section
    missing: list[Line] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return not self.missing

    @property
    def labels(self) -> list[str]:
        """The missing items' names, each once, as the step names them."""
        return list(dict.fromkeys(label.lower() for _, label, _ in self.missing))


@dataclass
class Checklist:
    steps: list[Step]

    @property
    def done(self) -> int:
        return sum(1 for step in self.steps if step.done)

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def problems(self) -> list[Line]:
        """Every missing item, section by section."""
        return [line for step in self.steps for line in step.missing]


def checklist(product: Product) -> Checklist:
    """What the saved working copy still lacks for review, by section (``manifest.problems``,
    the rule submission applies)."""
    steps = {section.id: Step(section) for section in SECTIONS}
    for item, reason in items.problems(product):
        section = _SECTION_OF.get(item, SECTIONS[0])
        steps[section.id].missing.append((anchor(item), items.FIELDS.get(item, item), reason))
    return Checklist(list(steps.values()))


def initial(product: Product) -> dict[str, Any]:
    values = {key: getattr(product, key) for key in services.EDITABLE if key != "category"}
    values["category"] = product.category.slug if product.category else ""
    values["search_tags"] = " ".join(product.search_tags)
    return values


def error_lines(form: forms.Form, *, section: str) -> list[Line]:
    """A bound form's errors, each linked to its field (the section for the form's own)."""
    lines: list[Line] = []
    for name, errors in form.errors.items():
        if name in form.fields:
            bound = form[name]
            target, label = bound.auto_id or section, str(bound.label)
        else:
            target, label = section, BY_ID[section].title
        lines.extend((target, label, str(error)) for error in errors)
    return lines


def render_editor(
    request: HttpRequest,
    product: Product,
    *,
    can_edit: bool,
    bound: dict[str, forms.Form] | None = None,
    errors: dict[str, list[Line]] | None = None,
    preview: dict[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    """The editor page. ``bound`` holds the form a section posted (its input kept, its
    errors shown); ``errors`` lines shown in a section beside or instead of a form's."""
    bound = bound or {}
    errors = {key: list(value) for key, value in (errors or {}).items()}
    for key, form in bound.items():
        errors.setdefault(key, []).extend(error_lines(form, section=key))
    org = product.organization
    sources = list(product.sources.select_related("repository"))
    choices = [f"{s.repository.name}:{tag}" for s in sources for tag in s.tags]
    repositories = list(
        Repository.objects.filter(organization=org).order_by("name").values_list("name", flat=True)
    )
    available = {
        repo: sorted(Tag.objects.filter(repository__name=repo).values_list("name", flat=True))[:50]
        for repo in repositories
    }
    tiers = [
        {
            "tier": tier,
            "grants": [(a.source.repository.name, a.tags) for a in tier.access.all()],
        }
        for tier in product.tiers.prefetch_related("access__source__repository")
    ]
    from portside.publishers.models import PublisherProfile

    profile = PublisherProfile.objects.filter(organization=org).first()
    values = initial(product)
    forms_by_section = {
        key: bound.get(key) or section.form(initial=values)  # type: ignore[misc]
        for key, section in FORM_SECTIONS.items()
    }
    found = checklist(product)
    # What the last save of a section did, shown in that section (not with the
    # page's messages at the top, out of sight of a page scrolled to the section).
    outcome = {
        key: value
        for key in ("saved", "unchanged")
        if (value := request.GET.get(key, "")) in BY_ID and not errors
    }
    return render(
        request,
        "catalog/product_edit.html",
        {
            "org": org,
            "product": product,
            "can_edit": can_edit,
            "checklist": found,
            "steps": {step.section.id: step for step in found.steps},
            "errors": errors,
            "outcome": outcome,
            "preview": preview,
            "forms": forms_by_section,
            "profile_missing": profile.missing() if profile else ["a publisher profile"],
            "sources": sources,
            "source_form": bound.get("sources") or SourceForm(repositories=repositories),
            "available": available,
            "tiers": tiers,
            # Its own ids: the Basics form has a "name" field too.
            "tier_form": bound.get("tiers") or TierForm(choices=choices, auto_id="tier_%s"),
            "screenshots": product.screenshots.all(),
            "listing": Listing.objects.filter(product=product).select_related("revision").first(),
            "revisions": product.revisions.all()[:20],
        },
        status=status,
    )


def edit_url(product: Product, section: str | None = None, *, outcome: str = "saved") -> str:
    """The editor, scrolled to ``section`` with a word on what became of its save."""
    url = reverse("product_edit", args=[product.organization.name, product.slug])
    return f"{url}?{outcome}={section}#{section}" if section else url


def _missing_fields(form: forms.Form, data: QueryDict) -> list[str]:
    """Fields a browser always sends (all but checkboxes) that the POST lacks."""
    absent = []
    for name, item in form.fields.items():
        if isinstance(item.widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
            continue
        if name not in data:
            absent.append(name)
    return absent


def save(request: HttpRequest, product: Product, acting: User) -> HttpResponse:
    """A POST to the editor's URL: the section it names is validated and saved, and
    nothing else. A POST that names no section (a script's) saves only the items it
    carries; one that names a section the editor does not save is refused."""
    name = request.POST.get("section")
    if name is None:
        return _save_items(request, product, acting)
    section = FORM_SECTIONS.get(name)
    if section is None:
        known = ", ".join(FORM_SECTIONS)
        messages.error(
            request,
            f"Nothing was saved: there is no section {name[:40]!r} to save here "
            f"(the sections saved on this page are {known}; the icon, sources and tiers "
            "have buttons of their own).",
        )
        return render_editor(request, product, can_edit=True, status=400)
    assert section.form is not None
    form = section.form(request.POST)
    absent = _missing_fields(form, request.POST)
    if absent:
        labels = ", ".join(str(form.fields[key].label or key) for key in absent)
        form.is_valid()
        form.add_error(None, f"Nothing was saved: the form came without {labels}.")
        return render_editor(request, product, can_edit=True, bound={section.id: form}, status=400)
    if request.POST.get("preview") and section.id == "description":
        return _preview(request, product, form)
    stamp = product.updated_at
    if _update(request, product, acting, form):
        outcome = "unchanged" if product.updated_at == stamp else "saved"
        return redirect(edit_url(product, section.id, outcome=outcome))
    return render_editor(request, product, can_edit=True, bound={section.id: form}, status=400)


def _update(request: HttpRequest, product: Product, acting: User, form: forms.Form) -> bool:
    """Save what ``form`` holds through the service; False, with the error on the form
    (and the product as stored), when the form or the service refuses it."""
    if not form.is_valid():
        return False
    try:
        services.update_product(
            product=product, acting=acting, origin=from_request(request), **form.cleaned_data
        )
    except PortsideError as exc:
        add_domain_error(form, exc)
        product.refresh_from_db()
        return False
    return True


def _preview(request: HttpRequest, product: Product, form: forms.Form) -> HttpResponse:
    """The Description as customers would read it, from what was typed; nothing is saved
    (the same checks as a save, so a preview never shows what a save would refuse)."""
    if form.is_valid():
        try:
            shown = {
                key: items.clean_markdown(value, field=key)
                for key, value in form.cleaned_data.items()
            }
        except PortsideError as exc:
            add_domain_error(form, exc)
        else:
            return render_editor(
                request, product, can_edit=True, bound={"description": form}, preview=shown
            )
    return render_editor(request, product, can_edit=True, bound={"description": form}, status=400)


def _save_items(request: HttpRequest, product: Product, acting: User) -> HttpResponse:
    form = ProductForm(request.POST)
    for key in list(form.fields):
        if key not in request.POST:
            del form.fields[key]
    if not form.fields:
        messages.error(request, "Nothing was saved: the request named no section and no item.")
        return render_editor(request, product, can_edit=True, status=400)
    if _update(request, product, acting, form):
        return redirect(edit_url(product))
    by_section: dict[str, list[Line]] = {}
    for target, label, message in error_lines(form, section="basics"):
        item = target.removeprefix("id_")
        key = _SECTION_OF[item].id if item in _SECTION_OF else "basics"
        by_section.setdefault(key, []).append((target, label, message))
    return render_editor(request, product, can_edit=True, errors=by_section, status=400)


def refused(
    request: HttpRequest,
    product: Product,
    section: str,
    exc: PortsideError,
    target: str,
    label: str,
) -> HttpResponse:
    """A section with URLs of its own (icon, sources, tiers) refused what was posted: the
    editor again, the error in that section, linked to ``target``."""
    return render_editor(
        request,
        product,
        can_edit=True,
        errors={section: [(target, label, exc.message)]},
        status=400,
    )
