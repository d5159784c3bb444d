"""Portside's hooks into django-allauth."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from portside.accounts import services
from portside.accounts.models import Namespace
from portside.audit import services as audit
from portside.core.origin import from_request


def _login(credentials: dict[str, Any]) -> str:
    return str(credentials.get("email") or credentials.get("username") or "")


class AccountAdapter(DefaultAccountAdapter):
    def clean_username(self, username: str, shallow: bool = False) -> str:
        username = super().clean_username(username, shallow=shallow)
        if not shallow and Namespace.objects.filter(name=username).exists():
            raise ValidationError("This name is already taken.", code="username_taken")
        return username

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        """allauth's own per-key limit counts per account too (not per login string), so
        that signing in by user name and by email address share one count."""
        return services.sign_in_key(_login(credentials), from_request(request))

    def pre_authenticate(self, request: HttpRequest, **credentials: Any) -> None:
        """Refuse a sign-in while the client's address is throttled or the account is
        locked: by failures here or at the registry's token endpoint
        (``services.sign_in_locked``)."""
        login = _login(credentials)
        try:
            super().pre_authenticate(request, **credentials)
            if services.sign_in_locked(services.sign_in_key(login, from_request(request))):
                raise self.validation_error("too_many_login_attempts")
        except ValidationError:
            origin = from_request(request)
            audit.record_unless_flooding(
                origin.ip_address or "-",
                None,
                "account:session:throttled",
                login=login[:150],
                **origin.audit_fields(),
            )
            raise

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        super().authentication_failed(request, **credentials)
        services.record_failed_sign_in(
            services.sign_in_key(_login(credentials), from_request(request))
        )

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        """A password reset by email ends the account's lockout, on every way in."""
        super()._delete_login_attempts_cached_email(request, **credentials)
        user = services.account_for_login(_login(credentials))
        if user is not None:
            services.clear_failed_sign_ins(user)
