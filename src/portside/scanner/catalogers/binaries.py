"""Well-known programs and libraries that were copied into an image rather than installed
by a package manager (``COPY --from=build``, a tarball unpacked in ``/usr/local``),
recognised by the version string compiled into them.

Each ``Rule`` pairs a pattern on the file name (cheap, so ``claims`` can use it) with
byte patterns whose first group is the version, chosen from the strings each project
compiles in: ``OpenSSL 3.0.19 27 Jan 2026`` in libcrypto and the ``openssl`` program,
``node.js/v20.20.2`` in node, ``nginx/1.22.1`` in nginx, the ``PY_VERSION`` string
(``3.11.2``, NUL-terminated) in the Python interpreter and libpython, and so on. The
patterns are anchored on literal text and bounded, so a hostile file costs one linear
scan per pattern. Only ELF files are read, and a file no pattern matches is not
reported: a binary built without its version string is unknown, not an error.

libssl holds no version string of its own; it is reported with the version of the
libcrypto of the same soname beside it, as one ``openssl`` package listing both files.

A binary that an OS package installed is found here too; the analysis pass drops it
because its path is in ``paths``. Packages are typed ``generic`` (no package manager
publishes these builds) with a CPE in ``metadata["cpe"]`` for matching NVD records.

Hostile input: there is nothing to fail on but size, which ``claims`` bounds, and a file
that is not ELF or matches nothing is skipped. ``catalog`` returns a ``Findings`` list
like the other catalogers; its ``warnings`` note any file too large to read.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

from portside.core.records import record, replace
from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.model import Package

MAX_BINARY_BYTES = claims.BINARY_MAX_BYTES
_ELF = b"\x7fELF"


def _first(patterns: tuple[re.Pattern[bytes], ...], data: bytes) -> str | None:
    for pattern in patterns:
        match = pattern.search(data)
        if match:
            return match.group(1).decode("ascii")
    return None


@record
class Rule:
    """One kind of binary: which files, which version strings, what to call it."""

    name: str
    files: re.Pattern[str]
    patterns: tuple[re.Pattern[bytes], ...] = ()
    cpe: tuple[str, str] = ("", "")  # vendor, product
    finder: Callable[[bytes, str], str | None] | None = None

    def version(self, data: bytes, basename: str) -> str | None:
        if self.finder is not None:
            return self.finder(data, basename)
        return _first(self.patterns, data)


_PY_NAME = re.compile(r"^(?:python|libpython)(\d\.\d{1,2})")


def _python_version(data: bytes, basename: str) -> str | None:
    """CPython keeps ``PY_VERSION`` as its own NUL-terminated string; the linker may
    merge it into the tail of a longer one (``/opt/python/3.12.1``), so a match preceded
    by NUL is preferred and one preceded by any non-version byte accepted."""
    named = _PY_NAME.match(basename)
    if named is None:
        return None
    pattern = re.compile(
        re.escape(named.group(1).encode()) + rb"\.\d{1,2}(?:(?:a|b|rc)\d{1,2})?\+?\x00"
    )
    fallback: str | None = None
    for match in pattern.finditer(data):
        before = data[match.start() - 1 : match.start()] if match.start() else b"\x00"
        version = match.group(0)[:-1].decode("ascii")
        if before == b"\x00":
            return version
        if fallback is None and not (before.isdigit() or before == b"."):
            fallback = version
    return fallback


_STANDALONE_VERSION = re.compile(rb"\x00(\d{1,2}\.\d{1,2}\.\d{1,3})\x00")
# What follows the version in the raw build id: "host-" (optional), a 10-digit time, the
# dirty count and an 8-digit SHA.
_REDIS_BUILD_TAIL = re.compile(rb"(?:[A-Za-z0-9][A-Za-z0-9-]{0,62}-)?\d{11,14}[0-9a-f]{8}\x00")
_MAX_CANDIDATES = 64


def _redis_version(data: bytes, basename: str) -> str | None:
    """Redis compiles ``REDIS_VERSION`` as a string of its own and again at the start of
    its raw build id (version, build host and time, dirty count, git SHA). The command
    table holds dozens of other version numbers, so the version is the standalone
    string that also starts a build id. The search is bounded: at most
    ``_MAX_CANDIDATES`` distinct strings, each looked up at most that many times."""
    candidates: list[bytes] = []
    for match in _STANDALONE_VERSION.finditer(data):
        if match.group(1) not in candidates:
            candidates.append(match.group(1))
            if len(candidates) == _MAX_CANDIDATES:
                break
    best: tuple[int, int, bytes] | None = None  # (position, -length, version)
    for candidate in candidates:
        position = data.find(candidate)
        for _ in range(_MAX_CANDIDATES):
            if position < 0:
                break
            if _REDIS_BUILD_TAIL.match(data, position + len(candidate)):
                key = (position, -len(candidate), candidate)
                best = key if best is None or key < best else best
                break
            position = data.find(candidate, position + 1)
    return best[2].decode("ascii") if best is not None else None


def _compile(*patterns: bytes) -> tuple[re.Pattern[bytes], ...]:
    return tuple(re.compile(p) for p in patterns)


def _files(key: str) -> re.Pattern[str]:
    """A rule's pattern on file names, as ``claims`` tests them."""
    return re.compile(claims.BINARY_FILES[key])


_OPENSSL = _compile(
    # "OpenSSL 3.0.19 27 Jan 2026", "OpenSSL 1.1.1w  11 Sep 2023", "OpenSSL 3.0.15+quic 3 Sep 2024"
    rb"OpenSSL (\d\.\d{1,2}\.\d{1,2}[a-z]{0,2})(?:\+[A-Za-z0-9.]{1,20})?"
    rb" {1,2}\d{1,2} [A-Z][a-z]{2} \d{4}"
)

RULES: tuple[Rule, ...] = (
    Rule(
        "busybox",
        _files("busybox"),
        _compile(rb"BusyBox v(\d{1,2}\.\d{1,3}\.\d{1,3})"),
        ("busybox", "busybox"),
    ),
    Rule(
        "openssl",
        _files("libcrypto"),
        _OPENSSL,
        ("openssl", "openssl"),
    ),
    Rule("openssl", _files("libssl"), _OPENSSL, ("openssl", "openssl")),
    Rule("openssl", _files("openssl"), _OPENSSL, ("openssl", "openssl")),
    Rule(
        "python",
        _files("python"),
        cpe=("python", "python"),
        finder=_python_version,
    ),
    Rule(
        "node",
        _files("node"),
        _compile(
            rb"node\.js/v(\d{1,3}\.\d{1,3}\.\d{1,3})",
            rb"/release/v(\d{1,3}\.\d{1,3}\.\d{1,3})/node-v",
        ),
        ("nodejs", "node.js"),
    ),
    Rule(
        "redis",
        _files("redis"),
        cpe=("redis", "redis"),
        finder=_redis_version,
    ),
    Rule(
        "nginx",
        _files("nginx"),
        _compile(
            rb"nginx version: nginx/(\d{1,2}\.\d{1,3}\.\d{1,3})",
            rb"nginx/(\d{1,2}\.\d{1,3}\.\d{1,3})",
        ),
        ("f5", "nginx"),
    ),
    Rule(
        "httpd",
        _files("httpd"),
        _compile(rb"Apache/(2\.\d{1,2}\.\d{1,3})"),
        ("apache", "http_server"),
    ),
    Rule(
        "curl",
        _files("curl"),
        _compile(rb"libcurl/(\d{1,2}\.\d{1,3}\.\d{1,3})", rb"curl/(\d{1,2}\.\d{1,3}\.\d{1,3})"),
        ("haxx", "curl"),
    ),
    Rule(
        "postgresql",
        _files("postgresql"),
        _compile(rb"\(PostgreSQL\) (\d{1,2}\.\d{1,2}(?:\.\d{1,2})?)"),
        ("postgresql", "postgresql"),
    ),
    Rule(
        "perl",
        _files("perl"),
        _compile(rb"\x00v(5\.\d{1,3}\.\d{1,3})\x00"),
        ("perl", "perl"),
    ),
    Rule(
        "php",
        _files("php"),
        _compile(rb"X-Powered-By: PHP/(\d{1,2}\.\d{1,2}\.\d{1,3})"),
        ("php", "php"),
    ),
    Rule(
        "haproxy",
        _files("haproxy"),
        _compile(
            # STATS_VERSION_STRING: " version 2.6.12-1+deb12u4, released 2026/10/17"
            rb"\x00 version (\d\.\d{1,2}(?:\.\d{1,3})?)[-+~.\w]{0,40}"
            rb", released \d{4}/\d{2}/\d{2}\x00",
            rb"HA-Proxy version (\d\.\d{1,2}\.\d{1,3})",
        ),
        ("haproxy", "haproxy"),
    ),
)


# Every rule's file pattern as one alternation, tried in the rules' order (the first
# that matches wins, as in a loop over them): one match per file of every layer.
_ANY_FILE = re.compile("|".join(f"(?P<r{i}>{rule.files.pattern})" for i, rule in enumerate(RULES)))


def rule_for(basename: str) -> Rule | None:
    found = _ANY_FILE.match(basename)
    if found is None:
        return None
    rule = RULES[int(str(found.lastgroup)[1:])]
    return rule if rule.files.match(basename) else _first_rule(basename)


def _first_rule(basename: str) -> Rule | None:
    for rule in RULES:
        if rule.files.match(basename):
            return rule
    return None  # pragma: no cover - the alternation matched one of them


def identify(data: bytes, basename: str) -> tuple[Rule, str] | None:
    """Which well-known binary this is and its version, or None."""
    rule = rule_for(basename)
    if rule is None or not data.startswith(_ELF):
        return None
    version = rule.version(data, basename)
    return (rule, version) if version else None


def _cpe(rule: Rule, version: str) -> str:
    vendor, product = rule.cpe
    return f"cpe:2.3:a:{vendor}:{product}:{version}:*:*:*:*:*:*:*" if vendor else ""


def _soname_suffix(basename: str) -> str:
    return basename.split(".so", 1)[1] if ".so" in basename else ""


class BinaryCataloger:
    """Programs and libraries known by the version strings compiled into them."""

    name = "binary"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.binary(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        libssl: list[FileVersion] = []
        crypto: dict[tuple[str, str], int] = {}  # (directory, soname suffix) -> index
        for current in files.present():
            basename = current.path.rpartition("/")[2]
            if rule_for(basename) is None:
                continue  # another cataloger's file
            if len(current.data) > MAX_BINARY_BYTES:
                found.warnings.append(f"{current.path}: over {MAX_BINARY_BYTES} bytes, not read")
                continue
            identified = identify(current.data, basename)
            if identified is None:
                if basename.startswith("libssl.so") and current.data.startswith(_ELF):
                    libssl.append(current)
                continue
            rule, version = identified
            if basename.startswith("libcrypto.so"):
                key = (posixpath.dirname(current.path), _soname_suffix(basename))
                crypto[key] = len(found)
            found.append(self._package(rule, version, current, files, context))
        for current in libssl:
            basename = current.path.rpartition("/")[2]
            at = crypto.get((posixpath.dirname(current.path), _soname_suffix(basename)))
            if at is not None:
                found[at] = replace(found[at], paths=(*found[at].paths, current.path))
        return found

    def _package(
        self, rule: Rule, version: str, current: FileVersion, files: Files, context: Context
    ) -> Package:
        basename = current.path.rpartition("/")[2]

        def keys(data: bytes) -> list[str]:
            if data is current.data:
                return [version]
            identified = identify(data, basename)
            return [identified[1]] if identified is not None else []

        since = introduced(files.history(current.path), keys)
        metadata: dict[str, object] = {"binary": current.path}
        cpe = _cpe(rule, version)
        if cpe:
            metadata["cpe"] = cpe
        return Package(
            type="generic",
            name=rule.name,
            version=version,
            purl=purls.build(type="generic", name=rule.name, version=version),
            cataloger=self.name,
            layer=context.layer_digest(since.get(version, current.layer)),
            paths=(current.path,),
            metadata=metadata,
        )
