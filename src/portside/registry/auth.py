"""Who is calling the registry, and the token endpoint that lets them in."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.db.models import Q
from django.http import HttpRequest

from portside.accounts import permissions
from portside.accounts import services as accounts
from portside.accounts.models import AccessToken, User
from portside.audit import services as audit
from portside.core import clock
from portside.core.errors import AuthenticationFailed
from portside.core.origin import Origin
from portside.oci import errors
from portside.registry import services, tokens


def service_name(request: HttpRequest) -> str:
    from django.conf import settings

    return settings.REGISTRY_SERVICE or request.get_host()


def challenge(request: HttpRequest, scope: str = "", error: str = "") -> str:
    """A ``WWW-Authenticate`` value. ``scope`` may hold several space-separated scopes: all
    of them are needed, and a client asks the token endpoint for exactly that string."""
    realm = request.build_absolute_uri("/auth/token")
    parts = [f'realm="{realm}"', f'service="{service_name(request)}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


class NeedsAuth(errors.Unauthorized):
    """Authentication required; carries the challenge for WWW-Authenticate."""

    def __init__(self, header: str, message: str = "authentication required") -> None:
        super().__init__(message)
        self.header = header


def repository_scope(name: str, *actions: str) -> str:
    return f"repository:{name}:{','.join(actions)}"


# What a client asks the token endpoint for before each kind of request: a push also
# reads (a client checks which blobs exist before it uploads them), so its challenge names
# pull and push, as other registries' challenges do.
ASK = {"pull": ("pull",), "push": ("pull", "push"), "delete": ("delete",)}


def bearer_claims(request: HttpRequest, scope: str = "") -> tokens.Claims:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "bearer" or not value.strip():
        raise NeedsAuth(challenge(request, scope))
    try:
        return tokens.verify(value.strip(), service=service_name(request))
    except tokens.TokenInvalid:
        raise NeedsAuth(
            challenge(request, scope, "invalid_token"), "invalid or expired token"
        ) from None


def insufficient_scope(request: HttpRequest, scope: str) -> NeedsAuth:
    """The refusal of a valid token that lacks a scope: 401 with a challenge naming every
    scope the request needs, so a client can ask for a token that carries them. It says
    nothing of whether the repository exists."""
    return NeedsAuth(
        challenge(request, scope, "insufficient_scope"),
        f"insufficient scope: the request needs {scope}",
    )


def require(
    request: HttpRequest,
    name: str,
    action: str,
    reference: str = "",
    *,
    accept: tuple[str, ...] = (),
    ask: tuple[str, ...] | None = None,
    also: tuple[str, ...] = (),
) -> tokens.Claims:
    """The caller's claims, if they allow ``action`` (or one of ``accept``) on repository
    ``name``; otherwise 401 with a challenge asking for ``ask`` on ``name`` (by default what
    clients ask for before such a request, ``ASK``) and for the scopes in ``also``.

    A pull of a repository that a live listing offers is refused with 403 ``DENIED`` and a
    message naming the product page (anonymous callers too: registry clients print the
    message of a 403 body, not of a 401 challenge). Every other refusal is the same for a
    repository that exists and one that does not."""
    scope = " ".join([repository_scope(name, *(ask or ASK[action])), *also])
    claims = bearer_claims(request, scope)
    if any(claims.allows("repository", name, a) for a in (action, *accept)):
        return claims
    if action == "pull" and not accept:
        message = permissions.pull_refusal(claims.user_id, name, reference)
        if message:
            raise _denied_pull(request, claims, name, reference, message)
    raise insufficient_scope(request, scope)


def could_pull(claims: tokens.Claims, name: str) -> bool:
    """Whether a fresh token for the holder of ``claims`` would carry ``pull`` on ``name``:
    the same grant as the token endpoint's. A token that may push (the only kind that asks)
    was issued by password or by a personal access token with ``write``, and either may read
    whatever its user may read, so the user's rights decide."""
    if claims.user_id is None:
        return False
    user = user_of(claims)
    if user is None:
        return False
    wanted = [tokens.Access("repository", name, ("pull",))]
    return any("pull" in access.actions for access in grant(Caller(user), wanted))


def refuse_restricted(
    request: HttpRequest, claims: tokens.Claims, name: str, reference: str
) -> errors.Denied:
    """The refusal of a customer's pull of something their tiers do not cover."""
    message = permissions.pull_refusal(claims.user_id, name, reference)
    return _denied_pull(
        request, claims, name, reference, message or "requested access to the resource is denied"
    )


def _denied_pull(
    request: HttpRequest, claims: tokens.Claims, name: str, reference: str, message: str
) -> errors.Denied:
    """A pull refused with 403, on the trail (``registry:pull:denied``: who, what, why),
    at most ten rows a minute for one client and repository."""
    from portside.core.origin import from_request

    origin = from_request(request)
    audit.record_unless_flooding(
        f"{origin.ip_address or '-'}:{name}",
        user_of(claims) if claims.user_id is not None else None,
        "registry:pull:denied",
        per_minute=10,
        repository=name[:255],
        reference=str(reference)[:255],
        reason=message[:500],
        **origin.audit_fields(),
    )
    return errors.Denied(message)


def restricted_allows(
    claims: tokens.Claims, name: str, tags: frozenset[str], digest: str, *, blob: bool
) -> bool:
    """Whether a token limited to ``tags`` reads the manifest (or blob) ``digest``."""
    from portside.registry import restricted

    key = (claims.token_id or repr(claims), name)
    found = restricted.CACHE.get(key)
    fresh = found is None
    if found is None:
        found = _reachable_for(claims, name, tags, key)
    if digest in (found.blobs if blob else found.manifests):
        return True
    if fresh:
        return False
    # A publisher may have pushed to a covered tag since the set was kept: look again once.
    found = _reachable_for(claims, name, tags, key)
    return digest in (found.blobs if blob else found.manifests)


def _reachable_for(
    claims: tokens.Claims, name: str, tags: frozenset[str], key: tuple[str, str]
) -> Any:
    from portside.registry import restricted

    extra = permissions.customer_digests(claims.user_id, name) if claims.user_id else frozenset()
    found = restricted.reachable(name, tags, extra)
    restricted.CACHE.put(key, found, max(claims.expires - clock.now().timestamp(), 1.0))
    return found


@dataclass(frozen=True)
class TokenActor:
    """Who a bearer token was issued to, without a database read: enough to count and
    audit a pull (the token is minutes old and was issued to an active user)."""

    pk: int
    username: str
    is_authenticated: bool = True

    def get_username(self) -> str:
        return self.username


def actor_of(claims: tokens.Claims) -> TokenActor | None:
    return None if claims.user_id is None else TokenActor(claims.user_id, claims.subject)


def user_of(claims: tokens.Claims) -> User | None:
    if claims.user_id is None:
        return None
    return User.objects.filter(pk=claims.user_id, is_active=True).first()


# --- the token endpoint -------------------------------------------------------------------


@dataclass
class Caller:
    user: User | None
    token: AccessToken | None = None


def _failed(login: str, origin: Origin, reason: str, key: str) -> None:
    accounts.record_failed_sign_in(key)
    audit.record_unless_flooding(
        origin.ip_address or "-",
        None,
        "account:session:sign_in_failed",
        accounts.account_for_login(login),
        login=login[:150],
        via="registry",
        reason=reason,
        **origin.audit_fields(),
    )


def _refuse_if_locked(login: str, origin: Origin, key: str) -> None:
    if accounts.sign_in_locked(key):
        audit.record_unless_flooding(
            origin.ip_address or "-",
            None,
            "account:session:throttled",
            login=login[:150],
            via="registry",
            **origin.audit_fields(),
        )
        raise errors.TooManyRequests("Too many failed sign-ins; try again in a few minutes.")


def authenticate(login: str, secret: str, origin: Origin) -> Caller:
    """Check a user name (or email address) with a password or a personal access token.

    A password sign-in is subject to the account's lockout, shared with the sign-in form
    (``accounts.services.sign_in_locked``): failures count against the account whichever
    login named it. A personal access token cannot be guessed and is not stopped by that
    lockout (which anyone can set off for any account); a wrong one counts against the
    login from the client's address."""
    if any(ord(c) < 32 or ord(c) == 127 for c in login):
        # No account has such a name; PostgreSQL would not even take it as a parameter.
        raise errors.Unauthorized("Incorrect user name or password.")
    if secret.startswith(accounts.TOKEN_PREFIX):
        key = f"token:{login.strip().lower()[:254]}:{origin.ip_address or '-'}"
        _refuse_if_locked(login, origin, key)
        try:
            token = accounts.authenticate_token(secret, origin=origin)
        except AuthenticationFailed as exc:
            _failed(login, origin, exc.message, key)
            raise errors.Unauthorized(exc.message) from None
        if login and login.lower() not in (token.user.username, token.user.email.lower()):
            _failed(login, origin, "token of another user", key)
            raise errors.Unauthorized("This token belongs to another user.")
        return Caller(token.user, token)
    key = accounts.sign_in_key(login, origin)
    _refuse_if_locked(login, origin, key)
    user = User.objects.filter(Q(username=login.lower()) | Q(email__iexact=login)).first()
    if user is None or not user.is_active or not user.check_password(secret):
        _failed(login, origin, "wrong credentials", key)
        raise errors.Unauthorized("Incorrect user name or password.")
    _check_password_sign_in(user)
    return Caller(user)


def _check_password_sign_in(user: User) -> None:
    """What a sign-in by password (or a refresh token obtained with one) also needs: a
    verified address, and no second factor that the registry flow could not ask for."""
    if not EmailAddress.objects.filter(user=user, verified=True).exists():
        raise errors.Unauthorized("Verify your email address before signing in.")
    if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        raise errors.Unauthorized(
            "Two-factor authentication is on for this account: use a personal access token "
            "instead of the password."
        )


def basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    kind, _, value = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error, and non-ASCII input
        raise errors.Unauthorized("Malformed basic credentials.") from None
    login, sep, secret = decoded.partition(":")
    if not sep:
        raise errors.Unauthorized("Malformed basic credentials.")
    return login, secret


def grant(caller: Caller, requested: list[tokens.Access]) -> list[tokens.Access]:
    """The subset of what was asked for that the caller may do."""
    granted = []
    scopes = caller.token.scopes if caller.token is not None else None
    for access in requested:
        if access.type == "repository":
            try:
                organization = services.namespace_of(access.name)
            except errors.OCIError:
                continue
            allowed = permissions.repository_actions(caller.user, organization, token_scopes=scopes)
            tags: tuple[str, ...] | None = None
            if "pull" in access.actions and "pull" not in allowed:
                covered = permissions.customer_pull_tags(
                    caller.user, organization, access.name, token_scopes=scopes
                )
                if covered:
                    allowed = allowed | {"pull"}
                    tags = tuple(sorted(covered))
            granted.append(
                tokens.Access(
                    "repository",
                    access.name,
                    tuple(a for a in access.actions if a in allowed),
                    tags,
                )
            )
        elif access.type == "registry" and access.name == "catalog":
            if caller.user is not None and permissions.can_list_catalog(caller.user):
                granted.append(tokens.Access("registry", "catalog", ("*",)))
    return granted


def issue_for(
    request: HttpRequest, caller: Caller, requested: list[tokens.Access], *, offline: bool
) -> dict[str, Any]:
    access = grant(caller, requested)
    user = caller.user
    token, ttl, issued = tokens.issue(
        user_id=user.pk if user else None,
        username=user.username if user else "",
        access=access,
        service=service_name(request),
    )
    body: dict[str, Any] = {
        "token": token,
        "access_token": token,
        "expires_in": ttl,
        "issued_at": issued.isoformat().replace("+00:00", "Z"),
    }
    if offline and user is not None:
        body["refresh_token"] = tokens.issue_refresh(
            user_id=user.pk,
            password_marker=tokens.password_marker(user.password),
            access_token_id=caller.token.pk if caller.token else None,
        )
    return body


def caller_from_refresh(refresh_token: str, origin: Origin) -> Caller:
    try:
        claims = tokens.verify_refresh(refresh_token)
    except tokens.TokenInvalid:
        raise errors.Unauthorized("The refresh token is not valid.") from None
    user = User.objects.filter(pk=claims["uid"], is_active=True).first()
    if user is None or claims.get("pwm") != tokens.password_marker(user.password):
        raise errors.Unauthorized("The refresh token is no longer valid.")
    token = None
    if claims.get("pat") is None:
        _check_password_sign_in(user)  # 2FA turned on since: password refreshes end
    else:
        token = AccessToken.objects.active(clock.now()).filter(pk=claims["pat"], user=user).first()
        if token is None:
            raise errors.Unauthorized("The access token behind this refresh token was revoked.")
    return Caller(user, token)
