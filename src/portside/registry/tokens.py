"""Bearer tokens of the Docker registry token flow.

The token endpoint answers a client's request for ``scope`` (``repository:acme/db:pull,push``)
with a short-lived JWT listing only the actions it grants; the registry endpoints accept
nothing else. Tokens are signed with HMAC-SHA256 under a key derived from the secret key:
the store is both issuer and audience, so no key pair needs to be distributed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings

from portside.core import clock

ISSUER = "portside"
ALGORITHM = "HS256"
_SCOPE = re.compile(
    r"\A(?P<type>[a-z]+)(?:\([a-z0-9]+\))?:(?P<name>[^:\s]+):(?P<actions>[a-z*,]*)\Z"
)
KNOWN_ACTIONS = {"pull", "push", "delete", "*"}


class TokenInvalid(Exception):
    """The bearer token is missing, malformed, expired or not for this service."""


@dataclass(frozen=True)
class Access:
    """Actions on one resource. ``tags`` limits a repository's ``pull`` to those tags and
    what they reach (a customer's tiers, ``registry.restricted``); None is the whole
    repository."""

    type: str
    name: str
    actions: tuple[str, ...]
    tags: tuple[str, ...] | None = None

    def as_claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {
            "type": self.type,
            "name": self.name,
            "actions": list(self.actions),
        }
        if self.tags is not None:
            claim["tags"] = list(self.tags)
        return claim


def parse_scopes(values: list[str]) -> list[Access]:
    """Parse ``scope`` parameters; each may hold several space-separated scopes. Scopes that
    cannot be parsed are dropped (a client asking for nonsense simply gets nothing)."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for value in values:
        for item in value.split():
            match = _SCOPE.match(item)
            if not match:
                continue
            actions = {a for a in match["actions"].split(",") if a in KNOWN_ACTIONS}
            if "*" in actions:
                actions = {"pull", "push", "delete"}
            wanted.setdefault((match["type"], match["name"]), set()).update(actions)
    return [Access(t, n, tuple(sorted(a))) for (t, n), a in wanted.items()]


def _key(purpose: str) -> bytes:
    return _derive(settings.SECRET_KEY, purpose)


@functools.lru_cache(maxsize=16)
def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Claims:
    subject: str
    user_id: int | None
    access: tuple[Access, ...] = ()
    token_id: str = ""
    expires: int = 0

    def allows(self, type_: str, name: str, action: str) -> bool:
        return any(a.type == type_ and a.name == name and action in a.actions for a in self.access)

    def pull_tags(self, name: str) -> frozenset[str] | None:
        """None when the token pulls the whole repository ``name``; else the tags it may
        pull (an unrestricted grant of the same repository wins)."""
        tags: set[str] = set()
        for access in self.access:
            if access.type == "repository" and access.name == name and "pull" in access.actions:
                if access.tags is None:
                    return None
                tags.update(access.tags)
        return frozenset(tags)


def issue(
    *, user_id: int | None, username: str, access: list[Access], service: str
) -> tuple[str, int, dt.datetime]:
    now = clock.now().replace(microsecond=0)
    ttl = settings.REGISTRY_TOKEN_TTL
    claims = {
        "iss": ISSUER,
        "sub": username,
        "uid": user_id,
        "aud": service,
        "iat": now,
        "nbf": now - dt.timedelta(seconds=5),
        "exp": now + dt.timedelta(seconds=ttl),
        "jti": uuid.uuid4().hex,
        "access": [a.as_claim() for a in access],
    }
    return jwt.encode(claims, _key("registry.bearer"), algorithm=ALGORITHM), ttl, now


def verify(token: str, *, service: str) -> Claims:
    claims, expires, not_before = _decode_bearer(token, service, _key("registry.bearer"))
    # Time is checked here, on every use, against the injected clock (not the wall clock).
    now = clock.now().timestamp()
    if expires <= now:
        raise TokenInvalid("Signature has expired")
    if not_before is not None and not_before > now:
        raise TokenInvalid("The token is not yet valid")
    return claims


@functools.lru_cache(maxsize=4096)
def _decode_bearer(token: str, service: str, key: bytes) -> tuple[Claims, int, int | None]:
    """Signature, issuer, audience and shape: the same token is presented on every request
    of a pull, so the check is kept per (token, service, key) instead of redone each time.
    A token that fails raises and is not kept."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=service,
            issuer=ISSUER,
            options={
                "require": ["exp", "iat", "sub", "aud", "iss"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from None
    if not isinstance(claims["exp"], int):
        raise TokenInvalid("Signature has expired")
    access = []
    for item in claims.get("access") or []:
        if isinstance(item, dict):
            tags = item.get("tags")
            access.append(
                Access(
                    str(item.get("type", "")),
                    str(item.get("name", "")),
                    tuple(str(a) for a in item.get("actions") or []),
                    tuple(str(t) for t in tags) if isinstance(tags, list) else None,
                )
            )
    uid = claims.get("uid")
    nbf = claims.get("nbf")
    return (
        Claims(
            subject=str(claims["sub"]),
            user_id=uid if isinstance(uid, int) else None,
            access=tuple(access),
            token_id=str(claims.get("jti") or ""),
            expires=claims["exp"],
        ),
        claims["exp"],
        nbf if isinstance(nbf, int) else None,
    )


# --- refresh tokens (the OAuth2 flow of podman and containerd, `docker login`) ----------------


def issue_refresh(*, user_id: int, password_marker: str, access_token_id: int | None) -> str:
    now = clock.now().replace(microsecond=0)
    claims = {
        "iss": ISSUER,
        "typ": "refresh",
        "uid": user_id,
        "pwm": password_marker,
        "pat": access_token_id,
        "iat": now,
        "exp": now + dt.timedelta(days=settings.REGISTRY_REFRESH_DAYS),
    }
    return jwt.encode(claims, _key("registry.refresh"), algorithm=ALGORITHM)


def verify_refresh(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            _key("registry.refresh"),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "uid", "typ"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenInvalid(str(exc)) from None
    if claims.get("typ") != "refresh" or claims["exp"] <= clock.now().timestamp():
        raise TokenInvalid("refresh token expired or of the wrong kind")
    return claims


def password_marker(password_hash: str) -> str:
    """Changes whenever the password does, so a password change ends refresh tokens."""
    return hmac.new(_key("registry.pwm"), password_hash.encode(), hashlib.sha256).hexdigest()[:16]
