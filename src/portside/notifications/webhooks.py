"""Webhook URLs checked, bodies signed, and one POST sent to an address checked first.

A URL is accepted when it is ``http`` or ``https``, names a host, carries no user name or
password, and every address its host resolves to is public (not private, loopback,
link-local, multicast, reserved or unspecified) unless
``NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE`` is on. The check is repeated at every delivery, and
the connection goes to the very address that was checked (the host name is still sent in
``Host`` and used for TLS), so a name that resolves differently the second time reaches
nothing private. Redirects are not followed: a 3xx answer is a failed delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from portside.core.errors import ValidationFailed

MAX_URL = 2048
SCHEMES = {"http": 80, "https": 443}
SIGNATURE_HEADER = "Portside-Signature"
USER_AGENT = "Portside-Webhook/1"
_RESPONSE_READ = 4096


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header value: ``t=TIMESTAMP,v1=HEX`` where HEX is the HMAC-SHA256, keyed with
    the endpoint's secret, of ``TIMESTAMP``, a full stop, and the body's bytes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query


def parse(url: str) -> Target:
    """The parts of a webhook URL, or ``ValidationFailed`` saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("Give the URL the events are sent to.", field="url")
    url = url.strip()
    if len(url) > MAX_URL:
        raise ValidationFailed(f"The URL is longer than {MAX_URL} characters.", field="url")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise ValidationFailed("The URL may not contain spaces or control characters.", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationFailed("That is not a valid URL.", field="url") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise ValidationFailed("The URL must start with https:// (or http://).", field="url")
    if parts.username is not None or parts.password is not None:
        raise ValidationFailed("The URL may not contain a user name or password.", field="url")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationFailed("The URL names no host.", field="url")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValidationFailed("The URL's host name is not valid.", field="url") from None
    if parts.fragment:
        raise ValidationFailed("The URL may not have a #fragment.", field="url")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or SCHEMES[scheme], path)


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def resolve(target: Target, *, allow_private: bool) -> list[str]:
    """Every address of the host, all of them checked; ``ValidationFailed`` if the host
    does not resolve or any address is not public (and private ones are not allowed)."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationFailed(f"The host {target.host} cannot be resolved.", field="url") from None
    addresses = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(raw)
        if not allow_private and not _public(address):
            raise ValidationFailed(
                f"The host {target.host} resolves to {address}, which is not a public "
                "address; webhooks go to the internet only.",
                field="url",
            )
        if raw not in addresses:
            addresses.append(raw)
    if not addresses:
        raise ValidationFailed(f"The host {target.host} cannot be resolved.", field="url")
    return addresses


def check(url: str, *, allow_private: bool) -> str:
    """The URL, trimmed, if it may receive webhooks."""
    resolve(parse(url), allow_private=allow_private)
    return url.strip()


@dataclass(frozen=True)
class Answer:
    status: int | None
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    secret: str,
    allow_private: bool,
    timeout: float,
) -> Answer:
    """POST ``body`` (signed now) to the first checked address of the URL's host."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse(url)
        address = resolve(target, allow_private=allow_private)[0]
    except ValidationFailed as exc:
        return Answer(None, exc.message[:300], took())
    kind = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = kind(target.host, target.port, address, timeout)
    sent = {
        **headers,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(secret, int(time.time()), body),
    }
    try:
        connection.request("POST", target.path, body=body, headers=sent)
        response = connection.getresponse()
        response.read(_RESPONSE_READ)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}"[:300], took())
    finally:
        connection.close()
    error = "" if 200 <= status < 300 else f"answered {status}"
    if 300 <= status < 400:
        error = f"answered {status}: redirects are not followed"
    return Answer(status, error, took())
