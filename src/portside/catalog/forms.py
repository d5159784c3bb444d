"""Forms of the publishers' product pages; the services do the real validation."""

from __future__ import annotations

from django import forms

from portside.catalog.manifest import CURRENCIES, MAX_NAME
from portside.catalog.models import MAX_SHORT_DESCRIPTION, BillingPeriod, Category, Platform

_TOO_LONG = "At most %(limit_value)d characters; this has %(show_value)d."
_MD_HELP = "Markdown. Raw HTML, scripts and event handlers are removed when shown."


class NewProductForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Unique among your products.")


class BasicsForm(forms.Form):
    """The editor's Basics section: what the product is called and where it is found."""

    name = forms.CharField(max_length=MAX_NAME, error_messages={"max_length": _TOO_LONG})
    short_description = forms.CharField(
        max_length=MAX_SHORT_DESCRIPTION,
        error_messages={"max_length": _TOO_LONG},
        required=False,
        help_text=f"At most {MAX_SHORT_DESCRIPTION} characters, shown in search results.",
    )
    category = forms.ChoiceField(required=False)
    search_tags = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Up to 10 words, separated by spaces or commas.",
    )
    platforms = forms.MultipleChoiceField(
        choices=Platform.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Enterprise Edition products must offer publisher support (see Support).",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["category"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (c.slug, c.name) for c in Category.objects.all()
        ]


class DescriptionForm(forms.Form):
    """The editor's Description section: the Markdown customers read."""

    long_description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}), required=False, help_text=_MD_HELP
    )
    install_instructions = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text=_MD_HELP,
        label="Installation instructions",
    )


class SupportForm(forms.Form):
    """The editor's Support section: where customers get help, the licence and the SLA."""

    support_url = forms.CharField(max_length=500, required=False, label="Support link")
    support_email = forms.CharField(max_length=254, required=False, label="Support email")
    license_url = forms.CharField(max_length=500, required=False, label="Licence agreement link")
    self_help = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label="Self-help resources",
        help_text="Documentation, forums, FAQs. " + _MD_HELP,
    )
    publisher_support = forms.BooleanField(
        required=False, help_text="Required for Enterprise Edition products."
    )
    support_hours = forms.CharField(
        max_length=200, required=False, help_text="For example: Mon-Fri 09:00-17:00 CET."
    )
    response_critical_hours = forms.CharField(
        max_length=10, required=False, label="Response time, critical (hours)"
    )
    response_major_hours = forms.CharField(
        max_length=10, required=False, label="Response time, major (hours)"
    )
    response_minor_hours = forms.CharField(
        max_length=10, required=False, label="Response time, minor (hours)"
    )


class ProductForm(BasicsForm, DescriptionForm, SupportForm):
    """Every item of the working copy at once (a POST that names no section)."""


class ImageForm(forms.Form):
    image = forms.FileField()
    caption = forms.CharField(max_length=200, required=False)


class SourceForm(forms.Form):
    repository = forms.ChoiceField()
    tags = forms.CharField(help_text="Tags of that repository, separated by spaces or commas.")

    def __init__(self, *args: object, repositories: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["repository"].choices = [(r, r) for r in repositories]  # type: ignore[attr-defined]


class TierForm(forms.Form):
    name = forms.CharField(max_length=60)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    price = forms.CharField(initial="0", help_text="0 makes the tier free.")
    currency = forms.ChoiceField(choices=[(c, c) for c in CURRENCIES])
    billing_period = forms.ChoiceField(choices=BillingPeriod.choices, label="Billing")
    access = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        label="Customers of this tier may pull",
        required=False,
    )

    def __init__(self, *args: object, choices: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["access"].choices = [(c, c) for c in choices]  # type: ignore[attr-defined]

    def grants(self) -> list[tuple[str, list[str]]]:
        grouped: dict[str, list[str]] = {}
        for item in self.cleaned_data["access"]:
            repository, _, tag = item.rpartition(":")
            grouped.setdefault(repository, []).append(tag)
        return list(grouped.items())
