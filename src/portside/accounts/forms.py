from __future__ import annotations

from django import forms

from portside.accounts.models import OrgRole, TokenScope
from portside.core.errors import PortsideError


def add_domain_error(form: forms.Form, exc: PortsideError) -> None:
    """Show a service's error on the field it names, or on the form as a whole."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class OrganizationForm(forms.Form):
    name = forms.CharField(
        max_length=39,
        help_text="Lowercase letters, digits, and . _ - between them. It becomes the "
        "namespace of your repositories (name/repository).",
    )
    display_name = forms.CharField(max_length=100, required=False, label="Display name")


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=OrgRole.choices, initial=OrgRole.VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=OrgRole.choices)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI pushes'.")
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[TokenScope.READ],
    )
    expires_days = forms.IntegerField(min_value=1, initial=90, label="Expires after (days)")
