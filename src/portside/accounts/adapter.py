"""Portside's hooks into django-allauth."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from portside.accounts.models import Namespace
from portside.audit import services as audit
from portside.core.origin import from_request


class AccountAdapter(DefaultAccountAdapter):
    def clean_username(self, username: str, shallow: bool = False) -> str:
        username = super().clean_username(username, shallow=shallow)
        if not shallow and Namespace.objects.filter(name=username).exists():
            raise ValidationError("This name is already taken.", code="username_taken")
        return username

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            login = credentials.get("username") or credentials.get("email") or ""
            audit.record(
                None,
                "account:session:throttled",
                login=str(login)[:150],
                **from_request(request).audit_fields(),
            )
            raise
