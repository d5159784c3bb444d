"""The forms of the organisation's webhook page."""

from __future__ import annotations

from django import forms

from portside.notifications import texts

EVENT_CHOICES = [
    ("policy:clock:started", "A new finding: its deadline starts"),
    ("policy:clock:reminder", "Reminders before a deadline"),
    ("policy:clock:stopped", "A finding resolved"),
    ("policy:listing:held", "A listing put on hold"),
    ("policy:listing:released", "A hold lifted"),
    ("policy:listing:revoked", "A listing revoked"),
    ("policy:listing:reinstated", "A listing reinstated"),
    ("policy:vex:reviewed", "A VEX statement reviewed"),
]
assert [name for name, _ in EVENT_CHOICES] == list(texts.PUBLISHER)


class EndpointForm(forms.Form):
    url = forms.CharField(
        label="Payload URL",
        max_length=2048,
        help_text="Where each event is POSTed as JSON; a public https:// address.",
        widget=forms.URLInput(attrs={"placeholder": "https://ci.example.com/hooks/portside"}),
    )
    description = forms.CharField(label="Description", max_length=100, required=False)
    events = forms.MultipleChoiceField(
        label="Events",
        choices=EVENT_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        initial=[name for name, _ in EVENT_CHOICES],
    )
    creation_key = forms.CharField(widget=forms.HiddenInput, max_length=64, required=False)


class EndpointEditForm(forms.Form):
    description = forms.CharField(label="Description", max_length=100, required=False)
    events = forms.MultipleChoiceField(
        label="Events", choices=EVENT_CHOICES, widget=forms.CheckboxSelectMultiple
    )
    active = forms.BooleanField(label="Active", required=False)
