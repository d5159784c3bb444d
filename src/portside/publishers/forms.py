"""Forms of the publisher profile pages. They only carry the input: the rules (URL
schemes, phone numbers, image checks) live in ``services.py`` and come back as
``PortsideError``s, which ``accounts.forms.add_domain_error`` puts on the named field."""

from __future__ import annotations

from django import forms

from portside.core.markdown import MAX_SOURCE


class ProfileForm(forms.Form):
    legal_name = forms.CharField(
        max_length=200,
        required=False,
        label="Legal entity name",
        help_text="The registered name of the company, e.g. 'Acme Software Ltd'.",
    )
    website = forms.CharField(
        max_length=500,
        required=False,
        label="Company website",
        help_text="An address starting with https:// or http://.",
        widget=forms.URLInput,
    )
    phone = forms.CharField(
        max_length=40,
        required=False,
        label="Phone number",
        help_text="With the country code, e.g. +44 20 7946 0958.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    email = forms.CharField(
        max_length=254,
        required=False,
        label="Company email",
        help_text="We send a link to this address to verify it; a new address must be "
        "verified again.",
        widget=forms.EmailInput,
    )
    story = forms.CharField(
        max_length=MAX_SOURCE,
        required=False,
        label="Company story",
        help_text="Markdown. Links, emphasis, lists and tables are kept; scripts and other "
        "HTML are removed.",
        widget=forms.Textarea(attrs={"rows": 10}),
        strip=False,
    )


class LogoForm(forms.Form):
    logo = forms.FileField(
        allow_empty_file=True,  # the image checks give the reason
        help_text="A square PNG, JPEG or WebP image of at least 512x512 pixels, at most 10 MB.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
