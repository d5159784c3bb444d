"""Reading an image straight from a registry over the OCI distribution API, for
``portside scan REF``: the manifest first, then each blob streamed as the analysis asks
for it (nothing is written to disk). Speaks the Docker token flow, anonymously or with a
user name and password or token."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import IO, Any, BinaryIO, cast

from portside.core.records import record
from portside.scanner import errors
from portside.scanner.layers import Limits
from portside.scanner.reader import Image, open_blobs

ACCEPT = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_REFERENCE = re.compile(
    r"\A(?P<host>[a-zA-Z0-9.-]+(?::\d+)?|\[[0-9a-fA-F:]+\](?::\d+)?)/"
    r"(?P<name>[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[a-z0-9]+:[a-f0-9]+))?\Z"
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_SHOWN = re.compile(r"[^\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]")  # what a terminal may show
MAX_SAID = 300  # characters of a server's own message shown


def _says(error: urllib.error.HTTPError) -> str:
    """``": MESSAGE"``: what the server said about the refusal, from its JSON body (the
    distribution spec's ``errors[0].message``, or a token service's ``detail``,
    ``error_description``, ``message`` or ``error``), shown safely; "" when it said nothing
    readable."""
    try:
        body = json.loads(error.read(64 * 1024))
    except (OSError, ValueError, RecursionError):  # RecursionError: nesting past the limit
        return ""
    said: Any = None
    if isinstance(body, dict):
        listed = body.get("errors")
        if isinstance(listed, list) and listed and isinstance(listed[0], dict):
            said = listed[0].get("message")
        for key in ("detail", "error_description", "message", "error"):
            if not isinstance(said, str) or not said.strip():
                said = body.get(key)
    if not isinstance(said, str) or not said.strip():
        return ""
    text = _SHOWN.sub(" ", said).strip()
    return ": " + (text if len(text) <= MAX_SAID else text[: MAX_SAID - 1] + "…")


TIMEOUT = 60


class RemoteError(errors.ScanError):
    """The registry could not be read: unreachable, refused, or not an image."""


@record
class Reference:
    host: str
    name: str
    reference: str  # a tag or a digest

    @property
    def label(self) -> str:
        sep = "@" if self.reference.startswith(("sha256:", "sha512:")) else ":"
        return f"{self.host}/{self.name}{sep}{self.reference}"


def parse_reference(text: str) -> Reference | None:
    """``host[:port]/name[:tag][@digest]``; the host part must look like one (a dot, a
    port or ``localhost``), as docker and podman decide."""
    match = _REFERENCE.match(text)
    if match is None:
        return None
    host = match["host"]
    if "." not in host and ":" not in host and host != "localhost":
        return None
    return Reference(host, match["name"], match["digest"] or match["tag"] or "latest")


class Client:
    """One repository of one registry, with the bearer token it was granted."""

    def __init__(
        self, ref: Reference, *, username: str = "", password: str = "", insecure: bool = False
    ) -> None:
        self.ref = ref
        self.scheme = "http" if insecure else "https"
        self.username = username
        self.password = password
        self.token = ""

    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.ref.host}/v2/{self.ref.name}/{path}"

    def _open(self, url: str, accept: str = "", retried: bool = False) -> Any:
        headers = {"User-Agent": "portside-scan"}
        if accept:
            headers["Accept"] = accept
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http/https only)
        try:
            return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and not retried:
                self._authenticate(exc.headers.get("WWW-Authenticate", ""))
                return self._open(url, accept, retried=True)
            raise RemoteError(
                f"{url}: the registry answered {exc.code} {exc.reason}{_says(exc)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise RemoteError(f"{url}: {getattr(exc, 'reason', exc)}") from None

    def _authenticate(self, challenge: str) -> None:
        if not challenge.lower().startswith("bearer "):
            raise RemoteError(f"{self.ref.host} asks for an authentication Portside cannot do")
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise RemoteError(f"{self.ref.host} names no usable token service")
        query = {"service": fields.get("service", ""), "scope": f"repository:{self.ref.name}:pull"}
        request = urllib.request.Request(  # noqa: S310 (checked above)
            f"{realm}?{urllib.parse.urlencode(query)}", headers={"User-Agent": "portside-scan"}
        )
        if self.username:
            raw = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {raw}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310
                body = json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            raise RemoteError(
                f"{realm}: the token service answered {exc.code}{_says(exc)}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError, RecursionError) as exc:
            raise RemoteError(f"{realm}: {exc}") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RemoteError(f"{realm} gave no token")
        self.token = token

    def manifest(self, reference: str, limit: int) -> tuple[bytes, str]:
        with self._open(self._url(f"manifests/{reference}"), ACCEPT) as response:
            body = response.read(limit + 1)
            media_type = response.headers.get_content_type()
        if len(body) > limit:
            raise RemoteError(f"the manifest {reference} is larger than {limit} bytes")
        return body, media_type

    def blob(self, digest: str) -> BinaryIO:
        return cast(BinaryIO, _Body(self._open(self._url(f"blobs/{digest}"))))


class _Body:
    """A streamed HTTP body as a binary file; closing it closes the connection."""

    def __init__(self, response: IO[bytes]) -> None:
        self._response = response

    def read(self, size: int = -1) -> bytes:
        return self._response.read(size)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_remote(
    ref: Reference,
    *,
    username: str = "",
    password: str = "",
    insecure: bool = False,
    platform: str | None = None,
    limits: Limits | None = None,
) -> Image:
    limits = limits or Limits()
    client = Client(ref, username=username, password=password, insecure=insecure)
    body, media_type = client.manifest(ref.reference, limits.max_metadata_bytes)
    digest = ref.reference if ref.reference.startswith(("sha256:", "sha512:")) else None
    return open_blobs(
        body,
        client.blob,
        media_type=media_type,
        digest=digest,
        name=ref.label,
        platform=platform,
        manifests=lambda d: client.manifest(d, limits.max_metadata_bytes)[0],
        limits=limits,
    )
