"""The operating system of an image, from os-release(5).

The file is a list of shell-style ``KEY=value`` assignments; values may be quoted with
single or double quotes and use backslash escapes. ``shlex`` in POSIX mode reads exactly
that grammar, so each line goes through it; a line it cannot read (an unbalanced quote)
is skipped, as systemd's own parser skips lines it does not understand.
"""

from __future__ import annotations

import re
import shlex

from portside.scanner.model import Distro

PATHS = ("/etc/os-release", "/usr/lib/os-release")
MAX_BYTES = 64 * 1024  # real files are a few hundred bytes
_KEY = re.compile(r"[A-Z][A-Z0-9_]*")


def claims(path: str, size: int) -> bool:
    """os-release and any file it may be a link to (``/usr/lib/os-release`` and the
    like): cheap enough to test for every file."""
    return path.endswith("/os-release") and size <= MAX_BYTES


def parse(data: bytes) -> dict[str, str]:
    """The assignments of an os-release file, later ones winning."""
    fields: dict[str, str] = {}
    for raw in data[:MAX_BYTES].decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if not _KEY.fullmatch(key):
            continue
        try:
            words = shlex.split(value, posix=True)
        except ValueError:
            continue
        fields[key] = " ".join(words)[:256]
    return fields


def distro(data: bytes) -> Distro | None:
    """A ``Distro`` from os-release bytes; None when the file names no ``ID``."""
    fields = parse(data)
    identifier = fields.get("ID", "").strip().lower()
    if not identifier:
        return None
    return Distro(
        id=identifier,
        version_id=fields.get("VERSION_ID", ""),
        version_codename=fields.get("VERSION_CODENAME", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
        id_like=tuple(fields.get("ID_LIKE", "").lower().split()),
    )


def qualifier(found: Distro | None) -> str:
    """The purl ``distro`` qualifier: ``debian-12``, ``alpine-3.20.3``, ``ubuntu-24.04``;
    the codename when there is no version (Debian testing), "" when nothing is known."""
    if found is None:
        return ""
    version = found.version_id or found.version_codename
    return f"{found.id}-{version}" if version else found.id
