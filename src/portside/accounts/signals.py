"""Account events from Django and allauth, written to the audit trail.

This is edge glue: the signals carry the request, from which the origin is taken once.
"""

from __future__ import annotations

from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from django.contrib.auth import signals as auth_signals
from django.db.models import Q
from django.db.models.signals import post_save

from portside.audit import services as audit
from portside.core.origin import Origin, from_request


def _origin(request: Any) -> Origin:
    return from_request(request) if request is not None else Origin()


def _user_created(sender: Any, instance: Any, created: bool, raw: bool = False, **kw: Any) -> None:
    if created and not raw:
        from portside.accounts.models import Namespace
        from portside.accounts.services import claim_namespace

        claim_namespace(instance.username, Namespace.Kind.USER)


def _signed_up(request: Any, user: Any, **kw: Any) -> None:
    audit.record(
        user, "account:user:signed_up", user, email=user.email, **_origin(request).audit_fields()
    )


def _signed_in(sender: Any, request: Any, user: Any, **kw: Any) -> None:
    audit.record(user, "account:session:signed_in", user, **_origin(request).audit_fields())


def _signed_out(sender: Any, request: Any, user: Any, **kw: Any) -> None:
    if user is not None:
        audit.record(user, "account:session:signed_out", user, **_origin(request).audit_fields())


def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    from portside.accounts.models import User

    login = str(credentials.get("username") or credentials.get("email") or "")[:150]
    target = None
    if login:
        target = User.objects.filter(Q(username=login.lower()) | Q(email__iexact=login)).first()
    origin = _origin(request)
    audit.record_unless_flooding(
        origin.ip_address or "-",
        None,
        "account:session:sign_in_failed",
        target,
        login=login,
        **origin.audit_fields(),
    )


def _email_event(action: str) -> Any:
    def handler(request: Any, email_address: Any = None, **kw: Any) -> None:
        address = email_address or kw.get("to_email_address")
        user = getattr(address, "user", None) or kw.get("user")
        audit.record(
            user,
            f"account:email:{action}",
            user,
            email=getattr(address, "email", ""),
            **_origin(request).audit_fields(),
        )

    return handler


def _password_event(action: str) -> Any:
    def handler(request: Any, user: Any, **kw: Any) -> None:
        audit.record(user, f"account:password:{action}", user, **_origin(request).audit_fields())

    return handler


def _mfa_event(action: str) -> Any:
    def handler(request: Any, user: Any, authenticator: Any = None, **kw: Any) -> None:
        audit.record(
            user,
            f"account:mfa:{action}",
            user,
            type=getattr(authenticator, "type", ""),
            **_origin(request).audit_fields(),
        )

    return handler


_handlers: list[Any] = []


def connect() -> None:
    from django.conf import settings

    pairs = [
        (post_save, _user_created, {"sender": settings.AUTH_USER_MODEL}),
        (account_signals.user_signed_up, _signed_up, {}),
        (auth_signals.user_logged_in, _signed_in, {}),
        (auth_signals.user_logged_out, _signed_out, {}),
        (auth_signals.user_login_failed, _sign_in_failed, {}),
        (account_signals.email_confirmed, _email_event("verified"), {}),
        (account_signals.email_added, _email_event("added"), {}),
        (account_signals.email_removed, _email_event("removed"), {}),
        (account_signals.email_changed, _email_event("primary_changed"), {}),
        (account_signals.password_changed, _password_event("changed"), {}),
        (account_signals.password_set, _password_event("set"), {}),
        (account_signals.password_reset, _password_event("reset"), {}),
        (mfa_signals.authenticator_added, _mfa_event("added"), {}),
        (mfa_signals.authenticator_removed, _mfa_event("removed"), {}),
        (mfa_signals.authenticator_reset, _mfa_event("reset"), {}),
    ]
    for signal, handler, kwargs in pairs:
        _handlers.append(handler)  # keep closures alive: signals hold weak references
        signal.connect(handler, dispatch_uid=f"portside.audit.{id(signal)}", **kwargs)
