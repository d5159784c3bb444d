"""Use cases of the accounts context: one function per action.

Each takes explicit, keyword-only arguments (the acting user and the origin of the
request, never the request itself), runs in one transaction, writes its audit row in that
transaction, and raises domain errors from ``portside.core.errors``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import string
import time
from functools import partial

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse

from portside.accounts import lookups, permissions
from portside.accounts.models import (
    AccessToken,
    Invitation,
    Membership,
    Namespace,
    Organization,
    OrgRole,
    StoreRole,
    TokenScope,
    User,
)
from portside.accounts.names import validate_name
from portside.audit import services as audit
from portside.core import clock
from portside.core.errors import (
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from portside.core.origin import Origin

logger = logging.getLogger(__name__)
TOKEN_PREFIX = "psp_"
_ALPHABET = string.ascii_letters + string.digits
INVITATION_DAYS = 14
TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_name(name: str, field: str = "name") -> None:
    try:
        validate_name(name)
    except ValidationError as exc:
        raise ValidationFailed(exc.messages[0], field=field) from None


def _send_quietly(subject: str, body: str, sender: None, to: list[str]) -> None:
    """Send after commit; a mail outage is logged, it does not turn a saved change into an
    error page (the invitation stays pending and can be withdrawn and sent again)."""
    try:
        send_mail(subject, body, sender, to)
    except Exception:
        logger.exception("could not send mail to %s", ", ".join(to))


def _clean_email(email: str) -> str:
    email = email.strip()
    try:
        if len(email) > 254:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError:
        raise ValidationFailed(
            f"{email[:80]!r} is not a valid email address.", field="email"
        ) from None
    return email


def claim_namespace(name: str, kind: str) -> None:
    """Take a name in the shared namespace or raise ``Conflict``."""
    try:
        with transaction.atomic():
            Namespace.objects.create(name=name, kind=kind)
    except IntegrityError:
        raise Conflict(f"The name {name!r} is already taken.", field="name") from None


# --- users ----------------------------------------------------------------------------------


def create_user(
    *,
    username: str,
    email: str,
    password: str,
    store_role: str = StoreRole.NONE,
    acting: User | str | None,
    origin: Origin,
) -> User:
    """Create a user whose email address is already verified (command line, admins)."""
    username = username.strip()
    _check_name(username, "username")
    email = _clean_email(email)
    if store_role not in StoreRole.values:
        raise ValidationFailed(f"Unknown store role {store_role!r}.", field="role")
    user = User(username=username, email=email, store_role=store_role)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(" ".join(exc.messages), field="password") from None
    with transaction.atomic():
        if User.objects.filter(username=username).exists():
            raise Conflict(f"The name {username!r} is already taken.", field="username")
        if EmailAddress.objects.filter(email__iexact=email).exists():
            raise Conflict(f"The address {email} is already in use.", field="email")
        user.set_password(password)
        user.save()  # the post_save handler claims the namespace
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        audit.record(
            acting, "account:user:created", user, store_role=store_role, **origin.audit_fields()
        )
    return user


def set_store_role(*, user: User, store_role: str, acting: User | str, origin: Origin) -> None:
    if store_role not in StoreRole.values:
        raise ValidationFailed(f"Unknown store role {store_role!r}.", field="role")
    if isinstance(acting, User) and not permissions.can_manage_store_team(acting):
        raise PermissionDenied("Only store admins change store-team roles.")
    with transaction.atomic():
        previous = user.store_role
        User.objects.filter(pk=user.pk).update(store_role=store_role)
        user.store_role = store_role
        audit.record(
            acting,
            "account:store_role:changed",
            user,
            previous=previous,
            role=store_role,
            **origin.audit_fields(),
        )


# --- organisations --------------------------------------------------------------------------


def create_organization(
    *, name: str, owner: User, acting: User | str, origin: Origin, display_name: str = ""
) -> Organization:
    name = name.strip()
    _check_name(name)
    if len(display_name) > 100:
        raise ValidationFailed("Use at most 100 characters.", field="display_name")
    now = clock.now()
    with transaction.atomic():
        claim_namespace(name, Namespace.Kind.ORGANIZATION)
        org = Organization.objects.create(
            name=name,
            display_name=display_name.strip(),
            created_at=now,
            created_by=owner if isinstance(acting, User) else None,
        )
        Membership.objects.create(organization=org, user=owner, role=OrgRole.OWNER, created_at=now)
        audit.record(
            acting,
            "account:organization:created",
            org,
            organization=org,
            owner=owner.username,
            **origin.audit_fields(),
        )
    return org


def invite_member(
    *,
    organization: Organization,
    email: str,
    role: str,
    acting: User,
    origin: Origin,
    base_url: str | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by email; returns the invitation and the secret in its link."""
    if not permissions.can_manage_members(acting, organization):
        raise PermissionDenied("Only owners of the organisation invite members.")
    email = _clean_email(email)
    if role not in OrgRole.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    now = clock.now()
    if Membership.objects.filter(
        organization=organization,
        user__emailaddress__email__iexact=email,
        user__emailaddress__verified=True,
    ).exists():
        raise Conflict(f"{email} is already a member.", field="email")
    if organization.invitations.pending(now).filter(email__iexact=email).exists():
        raise Conflict(f"{email} already has a pending invitation.", field="email")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = Invitation.objects.create(
            organization=organization,
            email=email,
            role=role,
            secret_hash=_hash(secret),
            invited_by=acting,
            created_at=now,
            expires_at=now + dt.timedelta(days=INVITATION_DAYS),
        )
        audit.record(
            acting,
            "account:invitation:created",
            invitation,
            organization=organization,
            email=email,
            role=role,
            **origin.audit_fields(),
        )
        link = (base_url or settings.BASE_URL) + reverse("accept_invitation", args=[secret])
        transaction.on_commit(
            partial(
                _send_quietly,
                f"{settings.EMAIL_SUBJECT_PREFIX}Join {organization.title} on Portside",
                (
                    f"{acting.username} invites you to join the organisation "
                    f"{organization.name} as {role}.\n\n"
                    f"Accept within {INVITATION_DAYS} days: {link}\n\n"
                    "Sign in (or sign up) with this email address first. If you did not "
                    "expect this invitation, ignore this message.\n"
                ),
                None,
                [email],
            )
        )
    return invitation, secret


def find_invitation(secret: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organization").filter(secret_hash=_hash(secret)).first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid.")
    return invitation


def accept_invitation(*, secret: str, user: User, origin: Origin) -> Membership:
    now = clock.now()
    with transaction.atomic():
        invitation = find_invitation(secret)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.revoked_at or invitation.accepted_at:
            raise Conflict("This invitation has already been used or withdrawn.")
        if invitation.expires_at <= now:
            raise Conflict("This invitation has expired; ask for a new one.")
        if not EmailAddress.objects.filter(
            user=user, email__iexact=invitation.email, verified=True
        ).exists():
            raise PermissionDenied(
                f"This invitation is for {invitation.email}; sign in with an account that "
                "has verified that address."
            )
        org = invitation.organization
        if Membership.objects.filter(organization=org, user=user).exists():
            raise Conflict(f"You are already a member of {org.name}.")
        membership = Membership.objects.create(
            organization=org, user=user, role=invitation.role, created_at=now
        )
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=now, accepted_by=user)
        audit.record(
            user,
            "account:membership:added",
            membership,
            organization=org,
            member=user.username,
            role=invitation.role,
            invitation=invitation.pk,
            **origin.audit_fields(),
        )
    return membership


def revoke_invitation(*, invitation: Invitation, acting: User, origin: Origin) -> None:
    if not permissions.can_manage_members(acting, invitation.organization):
        raise PermissionDenied("Only owners of the organisation withdraw invitations.")
    with transaction.atomic():
        updated = Invitation.objects.filter(
            pk=invitation.pk, accepted_at=None, revoked_at=None
        ).update(revoked_at=clock.now())
        if not updated:
            raise Conflict("This invitation has already been used or withdrawn.")
        audit.record(
            acting,
            "account:invitation:revoked",
            invitation,
            organization=invitation.organization,
            email=invitation.email,
            **origin.audit_fields(),
        )


def _other_owners(membership: Membership) -> bool:
    return (
        Membership.objects.select_for_update()
        .filter(organization_id=membership.organization_id, role=OrgRole.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def change_role(*, membership: Membership, role: str, acting: User, origin: Origin) -> None:
    org = membership.organization
    if not permissions.can_manage_members(acting, org):
        raise PermissionDenied("Only owners of the organisation change roles.")
    if role not in OrgRole.values:
        raise ValidationFailed(f"Unknown role {role!r}.", field="role")
    with transaction.atomic():
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        if current.role == OrgRole.OWNER and role != OrgRole.OWNER and not _other_owners(current):
            raise Conflict("An organisation must keep at least one owner.")
        Membership.objects.filter(pk=current.pk).update(role=role)
        audit.record(
            acting,
            "account:membership:role_changed",
            current,
            organization=org,
            member=current.user.username,
            previous=current.role,
            role=role,
            **origin.audit_fields(),
        )
    membership.role = role


def remove_member(*, membership: Membership, acting: User, origin: Origin) -> None:
    org = membership.organization
    leaving = membership.user_id == acting.pk
    if not leaving and not permissions.can_manage_members(acting, org):
        raise PermissionDenied("Only owners of the organisation remove members.")
    with transaction.atomic():
        current = Membership.objects.select_for_update().get(pk=membership.pk)
        if current.role == OrgRole.OWNER and not _other_owners(current):
            raise Conflict("An organisation must keep at least one owner.")
        member = current.user.username
        audit.record(
            acting,
            "account:membership:removed",
            current,
            organization=org,
            member=member,
            role=current.role,
            left=leaving,
            **origin.audit_fields(),
        )
        current.delete()


# --- personal access tokens -----------------------------------------------------------------


def create_token(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_days: int | None = None,
    acting: User | str,
    origin: Origin,
) -> tuple[AccessToken, str]:
    """Create a token; the secret is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Give the token a name of 1 to 100 characters.", field="name")
    if not scopes:
        raise ValidationFailed("Choose at least one scope.", field="scopes")
    unknown = sorted(set(scopes) - set(TokenScope.values))
    if unknown:
        raise ValidationFailed(
            f"Unknown scope {', '.join(unknown)}; use read, write or delete.", field="scopes"
        )
    days = settings.TOKEN_DEFAULT_DAYS if expires_days is None else expires_days
    if not 1 <= days <= settings.TOKEN_MAX_DAYS:
        raise ValidationFailed(
            f"A token expires after 1 to {settings.TOKEN_MAX_DAYS} days.", field="expires_days"
        )
    if user.access_tokens.active(clock.now()).filter(name=name).exists():
        raise Conflict(f"You already have an active token named {name!r}.", field="name")
    body = "".join(secrets.choice(_ALPHABET) for _ in range(40))
    secret = TOKEN_PREFIX + body
    now = clock.now()
    ordered = [s for s in TokenScope.values if s in scopes]
    with transaction.atomic():
        token = AccessToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:10],
            secret_hash=_hash(secret),
            scopes=ordered,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        audit.record(
            acting,
            "account:token:created",
            token,
            owner=user.username,
            scopes=ordered,
            expires_at=token.expires_at.isoformat(),
            **origin.audit_fields(),
        )
    return token, secret


def revoke_token(*, token: AccessToken, acting: User | str, origin: Origin) -> None:
    if isinstance(acting, User) and not permissions.can_manage_token(acting, token):
        raise NotFound("No such token.")
    with transaction.atomic():
        updated = AccessToken.objects.filter(pk=token.pk, revoked_at=None).update(
            revoked_at=clock.now()
        )
        if not updated:
            raise Conflict("This token is already revoked.")
        audit.record(
            acting,
            "account:token:revoked",
            token,
            owner=token.user.username,
            **origin.audit_fields(),
        )


def authenticate_token(secret: str, *, origin: Origin) -> AccessToken:
    """Resolve a presented token, or raise ``AuthenticationFailed`` saying why."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) != len(TOKEN_PREFIX) + 40:
        raise AuthenticationFailed("The token is malformed.")
    token = lookups.token_with_user(_hash(secret))
    now = clock.now()
    if token is None:
        raise AuthenticationFailed("The token is not valid.")
    if token.revoked_at is not None:
        raise AuthenticationFailed("The token has been revoked.")
    if token.expires_at <= now:
        raise AuthenticationFailed("The token has expired.")
    if not token.user.is_active:
        raise AuthenticationFailed("The account is disabled.")
    # Record use at most once a minute per token: pulls must not turn into writes.
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        AccessToken.objects.filter(pk=token.pk).update(
            last_used_at=now, last_used_ip=origin.ip_address
        )
        token.last_used_at = now
        token.last_used_ip = origin.ip_address
    return token


# --- sign-in lockout ----------------------------------------------------------------------------
#
# One lockout for every way in with a password: the sign-in form (by user name or by email
# address) and the registry's token endpoint. Failures are counted per *account*, whatever
# string named it; a login that names no account is counted per login string and client
# address, so that trying names from one address cannot tell which accounts exist (both
# lock after the same number of failures). The limit and window are the per-key rate of
# ``ACCOUNT_RATE_LIMITS["login_failed"]`` (``PORTSIDE_LOGIN_ATTEMPTS_LIMIT`` failures within
# ``PORTSIDE_LOGIN_LOCKOUT_SECONDS``), the same numbers the sign-in form has always used.

_LOCKOUT_PREFIX = "portside:sign-in-failures:"
_LOCK_WAIT = 1.0
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def lockout_rate() -> tuple[int, int] | None:
    """(failures, seconds) after which an account is locked, or None when no per-key rate
    is configured (then nothing is locked, as on the sign-in form)."""
    rates = str(getattr(settings, "ACCOUNT_RATE_LIMITS", {}).get("login_failed") or "")
    for part in rates.split(","):
        pieces = part.strip().split("/")
        if len(pieces) != 3 or pieces[2] != "key":
            continue
        amount, duration = pieces[0], pieces[1]
        unit = duration[-1:] if duration[-1:] in _DURATION_UNITS else "s"
        number = duration[:-1] if duration[-1:] in _DURATION_UNITS else duration
        try:
            return int(amount), int(float(number or 1) * _DURATION_UNITS[unit])
        except ValueError:
            raise ConfigurationError(
                f"ACCOUNT_RATE_LIMITS['login_failed'] has a rate that cannot be read: {part!r}"
            ) from None
    return None


def account_for_login(login: str) -> User | None:
    """The one account a sign-in login names: a user name, or an email address of the
    account (its primary address or another one it added)."""
    login = login.strip()
    if not login:
        return None
    user = User.objects.filter(username=login.lower()).first()
    if user is not None or "@" not in login:
        return user
    ids = set(User.objects.filter(email__iexact=login).values_list("pk", flat=True))
    ids |= set(EmailAddress.objects.filter(email__iexact=login).values_list("user_id", flat=True))
    return User.objects.filter(pk=ids.pop()).first() if len(ids) == 1 else None


def sign_in_key(login: str, origin: Origin) -> str:
    """What failed sign-ins are counted under: the account, or the login string and the
    client address when the login names no account."""
    user = account_for_login(login)
    if user is not None:
        return f"account:{user.pk}"
    return f"login:{login.strip().lower()[:254]}:{origin.ip_address or '-'}"


def _failures_key(key: str) -> str:
    return _LOCKOUT_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def _recent(history: object, now: float, window: int) -> list[float]:
    if not isinstance(history, list):
        return []
    return [t for t in history if isinstance(t, int | float) and now - window < t <= now]


def sign_in_locked(key: str) -> bool:
    """Whether sign-ins under ``key`` (from :func:`sign_in_key`) are refused for now."""
    rate = lockout_rate()
    if rate is None:
        return False
    limit, window = rate
    now = clock.now().timestamp()
    return len(_recent(cache.get(_failures_key(key)), now, window)) >= limit


def record_failed_sign_in(key: str) -> None:
    """Count one failed sign-in under ``key``. Concurrent failures are serialised by a short
    cache lock, so a burst of parallel guesses is counted in full."""
    rate = lockout_rate()
    if rate is None:
        return
    _, window = rate
    cache_key = _failures_key(key)
    deadline = time.monotonic() + _LOCK_WAIT
    locked = cache.add(cache_key + ":lock", True, timeout=10)
    while not locked and time.monotonic() < deadline:
        time.sleep(0.01)
        locked = cache.add(cache_key + ":lock", True, timeout=10)
    try:
        now = clock.now().timestamp()
        history = [*_recent(cache.get(cache_key), now, window), now]
        cache.set(cache_key, history, window)
    finally:
        if locked:
            cache.delete(cache_key + ":lock")


def clear_failed_sign_ins(user: User) -> None:
    """Forget an account's failed sign-ins (after its password was reset by email)."""
    cache.delete(_failures_key(f"account:{user.pk}"))
