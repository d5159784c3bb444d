"""Version schemes per ecosystem, package name normalisation, and OSV range evaluation.

Each ecosystem compares versions by its own rules; the comparisons come from libraries
rather than from hand-written parsers where a library orders as the ecosystem does:
``packaging`` for PyPI (PEP 440) and ``univers`` for the rest (semantic versions for npm,
crates.io and OSV ``SEMVER`` ranges; Go module versions; Maven, RubyGems, NuGet (SemVer
2 with a fourth number, ``1.0.0.1`` after ``1.0.0``, prerelease labels compared without
regard to case), Debian, Alpine and RPM versions). Composer is the exception (below). A
scheme turns a version string into a key that orders as the ecosystem orders; parsing is
cached because the same few thousand bounds are compared over and over.

Adjustments made before a string reaches the library, each because the library's
grammar is narrower than what real packages carry:

* Go: ``go1.21.3`` (the toolchain's spelling of a standard library version) becomes
  ``1.21.3`` and ``go1.21rc2`` becomes ``1.21.0-rc.2``, as the Go vulnerability database
  writes them; a leading ``v`` and build metadata such as ``+incompatible`` are dropped,
  since semantic versioning ignores build metadata when ordering.
* Semantic versions and NuGet: build metadata is dropped for the same reason (univers
  ignores it when ordering NuGet versions but not when testing them for equality, which
  the ``versions`` lists need).
* Alpine: univers follows Gentoo's suffix rules, which lack apk's post-release VCS
  suffixes ``_cvs``, ``_svn``, ``_git`` and ``_hg``; they are read as Gentoo's ``_p``
  (also a post-release suffix). This orders them correctly against every other version
  except a ``_p`` release of the same base version, where apk puts ``_git`` first.

* Composer (Packagist): univers puts ``1.2.3-RC1`` before ``1.2.3-beta2``, ``-dev``
  after ``-alpha``, ``-p1`` (a patch release) before ``1.2.3`` and ``1.2.3.4`` equal to
  ``1.2.3``, where Composer does the opposite of each. Composer's own two steps are
  followed instead: its normalisation (an optional ``v``, up to four numbers padded to
  four, a stability suffix ``alpha``/``a``, ``beta``/``b``, ``RC``, ``patch``/``pl``/``p``
  or ``stable`` with an optional number, ``-dev``, build metadata dropped; date versions;
  numeric branches such as ``2.x-dev``), then PHP's ``version_compare`` on the result,
  whose order of labels is ``dev`` < ``alpha`` < ``beta`` < ``RC`` < a release <
  ``patch``. Named branches (``dev-main``) have no order and are refused.

A string a scheme cannot read raises :class:`UnparseableVersion`; the matcher reports
it, never treating it as "not affected".

Range evaluation follows the OSV schema's evaluation pseudocode exactly: a version is
affected when it is listed in ``versions`` or lies in any ``SEMVER`` or ``ECOSYSTEM``
range; within a range the events are sorted by version (``introduced: "0"`` first),
``introduced`` switches "vulnerable" on when the version is at or above it, ``fixed``
off at or above it, ``last_affected`` off above it; and when a range has ``limit``
events the version must be below one of them (``"*"`` is infinity). ``GIT`` ranges name
commits, which a version cannot be compared with, so only the ``versions`` list speaks
for them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion as PackagingInvalid
from packaging.version import Version as Pep440Version
from univers import versions as uv

from portside.vulndb.errors import UnparseableVersion
from portside.vulndb.model import Affected, Range

# --- names ------------------------------------------------------------------------------

_CASE_INSENSITIVE = frozenset({"NuGet", "Packagist", "Hackage", "Pub"})


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` -> ``Debian``; ``Maven:https://...`` -> ``Maven``."""
    return ecosystem.split(":", 1)[0]


def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the match index keys it: PEP 503 for PyPI, lower case for ecosystems
    whose names are case-insensitive, as-is for the rest (Go module paths, Maven
    ``group:artifact``, npm names, distribution source packages)."""
    base = base_ecosystem(ecosystem)
    if base == "PyPI":
        return canonicalize_name(name)
    if base in _CASE_INSENSITIVE:
        return name.lower()
    return name


# --- schemes ----------------------------------------------------------------------------


class Scheme:
    """Turns version strings of one scheme into ordered keys, with a cache."""

    def __init__(self, name: str, build: Callable[[str], Any]) -> None:
        self.name = name
        self._build = build
        self._cache: dict[str, Any] = {}

    def parse(self, text: str) -> Any:
        """The key of ``text``; raises :class:`UnparseableVersion`."""
        try:
            key = self._cache[text]
        except KeyError:
            key = self._cache[text] = self._make(text)
        if key is None:
            raise UnparseableVersion(f"{text!r} is not a valid {self.name} version")
        return key

    def try_parse(self, text: str) -> Any:
        """The key of ``text``, or ``None`` when it cannot be read."""
        try:
            return self.parse(text)
        except UnparseableVersion:
            return None

    def _make(self, text: str) -> Any:
        if len(self._cache) > 200_000:
            self._cache.clear()
        try:
            return self._build(text)
        except (uv.InvalidVersion, PackagingInvalid, ValueError, TypeError, IndexError):
            return None


def _pep440(text: str) -> Any:
    return Pep440Version(text)


def _strip_build(text: str) -> str:
    return text.split("+", 1)[0]


def _semver(text: str) -> Any:
    text = _strip_build(text.strip())
    if not text or text[0] in "vV":
        raise ValueError(text)  # OSV's SEMVER has no "v"; a bare "v" is no version
    # The key is the library's own precedence key, which orders exactly as the version
    # objects do but compares twenty times faster.
    return uv.SemverVersion(text).value.precedence_key


_GO_RELEASE = re.compile(r"go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(beta|rc)(\d+))?")


def go_version(text: str) -> str:
    """A Go module or toolchain version in the Go vulnerability database's spelling."""
    text = text.strip()
    m = _GO_RELEASE.fullmatch(text)
    if m:
        major, minor, patch, pre, number = m.groups()
        out = f"{major}.{minor or 0}.{patch or 0}"
        return f"{out}-{pre}.{number}" if pre else out
    if text.startswith("v"):
        text = text[1:]
    return _strip_build(text)


def _go(text: str) -> Any:
    normal = go_version(text)
    if not normal or not normal[0].isdigit():
        raise ValueError(text)
    return uv.GolangVersion(normal).value.precedence_key


_APK_VCS = re.compile(r"_(?:cvs|svn|git|hg)(\d*)")


def _alpine(text: str) -> Any:
    return uv.AlpineLinuxVersion(_APK_VCS.sub(r"_p\1", text.strip()))


_COMPOSER_MODIFIER = r"[._-]?(?:(stable|beta|b|rc|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?"
_COMPOSER_CLASSIC = re.compile(
    r"v?(\d{1,5})(\.\d+)?(\.\d+)?(\.\d+)?" + _COMPOSER_MODIFIER, re.IGNORECASE
)
_COMPOSER_DATE = re.compile(
    r"v?(\d{4}(?:[.:-]?\d{2}){1,6}(?:[.:-]?\d{1,3}){0,2})" + _COMPOSER_MODIFIER, re.IGNORECASE
)
_COMPOSER_BRANCH = re.compile(
    r"v?(\d+)(\.(?:\d+|[x*]))?(\.(?:\d+|[x*]))?(\.(?:\d+|[x*]))?[.-]?dev", re.IGNORECASE
)
_COMPOSER_FLAG = re.compile(r"@(?:stable|rc|beta|alpha|dev)$", re.IGNORECASE)
_COMPOSER_LABELS = {"a": "alpha", "b": "beta", "p": "patch", "pl": "patch", "rc": "RC"}


def composer_version(text: str) -> str:
    """A Composer version normalised as Composer normalises it (``v1.2`` ->
    ``1.2.0.0``, ``1.0-b2`` -> ``1.0.0.0-beta2``, ``2.x-dev`` -> ``2.9999999.9999999.9999999-dev``);
    ``ValueError`` for a named branch or anything else Composer would refuse."""
    text = text.strip()
    if len(text) > 128:
        raise ValueError(text[:40])
    alias = text.split(" as ", 1)
    text = _COMPOSER_FLAG.sub("", alias[0].strip())
    lowered = text.lower()
    if lowered.startswith("dev-") or lowered in ("master", "trunk", "default"):
        raise ValueError(f"{text!r} is a branch")
    text = text.split("+", 1)[0]
    if m := _COMPOSER_CLASSIC.fullmatch(text):
        numbers = [m.group(1), *((g or ".0")[1:] for g in m.groups()[1:4])]
        normal, modifier = ".".join(numbers), m.groups()[4:]
    elif m := _COMPOSER_DATE.fullmatch(text):
        normal, modifier = re.sub(r"\D", ".", m.group(1)), m.groups()[1:]
    elif m := _COMPOSER_BRANCH.fullmatch(text):
        parts = [m.group(1), *((g or ".x")[1:] for g in m.groups()[1:4])]
        return ".".join(p if p.isdigit() else "9999999" for p in parts) + "-dev"
    else:
        raise ValueError(text)
    label, number, dev = modifier
    if label and label.lower() != "stable":
        label = _COMPOSER_LABELS.get(label.lower(), label.lower())
        normal += f"-{label}{(number or '').lstrip('.-')}"
    return normal + ("-dev" if dev else "")


# PHP's version_compare: the rank of a label by its first letters, numbers rank 4.
_PHP_LABELS: tuple[tuple[str, int], ...] = (
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("#", 4),
    ("pl", 5),
    ("p", 5),
)
_PHP_PARTS = re.compile(r"\d+|[^\d.]+")
# Where a version ends: after every number, before every label that precedes a release
# ("1.0" < "1.0.1", "1.0-beta" < "1.0"), before "patch" ("1.0" < "1.0-patch1").
_PHP_END = (4, -1)


def _php_rank(label: str) -> int:
    return next((rank for prefix, rank in _PHP_LABELS if label.startswith(prefix)), -6)


def _composer(text: str) -> Any:
    normal = composer_version(text)
    canonical = re.sub(r"[^0-9A-Za-z]+", ".", normal)
    parts = tuple(
        (4, int(part)) if part.isdigit() else (_php_rank(part), 0)
        for part in _PHP_PARTS.findall(canonical)
    )
    return (*parts, _PHP_END)


def _nuget(text: str) -> Any:
    return uv.NugetVersion(_strip_build(text.strip())).value


def _univers(cls: type[uv.Version]) -> Callable[[str], Any]:
    """For the univers classes that order by their ``value``: the value is the key, which
    skips a layer of comparison wrappers."""

    def build(text: str) -> Any:
        return cls(text.strip()).value

    return build


SEMVER = Scheme("semantic", _semver)
GO = Scheme("Go", _go)
PEP440 = Scheme("PEP 440", _pep440)

_SCHEMES: dict[str, Scheme] = {
    "PyPI": PEP440,
    "Go": GO,
    "npm": SEMVER,
    "crates.io": SEMVER,
    "Maven": Scheme("Maven", _univers(uv.MavenVersion)),
    "RubyGems": Scheme("RubyGems", _univers(uv.RubygemsVersion)),
    "NuGet": Scheme("NuGet", _nuget),
    "Packagist": Scheme("Composer", _composer),
    "Debian": (DEBIAN := Scheme("Debian", _univers(uv.DebianVersion))),
    "Ubuntu": DEBIAN,
    "Alpine": (APK := Scheme("Alpine", _alpine)),
    "Wolfi": APK,
    "Chainguard": APK,
}
_RPM = Scheme("RPM", _univers(uv.RpmVersion))
for _name in ("Red Hat", "AlmaLinux", "Rocky Linux", "openSUSE", "SUSE", "Mageia", "openEuler"):
    _SCHEMES[_name] = _RPM


def scheme_for(ecosystem: str) -> Scheme | None:
    """The ordering of ``ecosystem``'s versions, or ``None`` when Portside has none."""
    return _SCHEMES.get(base_ecosystem(ecosystem))


def range_scheme(range_type: str, ecosystem: str) -> Scheme | None:
    """How the bounds of a range are compared: ``SEMVER`` ranges are semantic versions
    whatever the ecosystem (Go's with Go's spelling), ``ECOSYSTEM`` ranges use the
    ecosystem's own scheme."""
    if range_type == "SEMVER":
        return GO if base_ecosystem(ecosystem) == "Go" else SEMVER
    return scheme_for(ecosystem)


# --- evaluation -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one version against one affected entry.

    ``affected`` is ``True``, ``False``, or ``None`` when the entry could not be
    evaluated (then ``reason`` says why). ``fixed`` holds the version that fixes the
    branch the version is on, when the range names one.
    """

    affected: bool | None
    fixed: tuple[str, ...] = ()
    reason: str = ""


NOT_AFFECTED = Verdict(False)

_INTRODUCED, _FIXED, _LAST, _LIMIT = "introduced", "fixed", "last_affected", "limit"


@dataclass
class _CompiledRange:
    scheme: Scheme | None
    events: list[tuple[str, Any, str]] = field(default_factory=list)  # kind, key, text
    limits: list[Any] = field(default_factory=list)
    unlimited: bool = True
    error: str = ""


def _compile_range(ecosystem: str, rng: Range) -> _CompiledRange:
    scheme = range_scheme(rng.type, ecosystem)
    out = _CompiledRange(scheme)
    if scheme is None:
        out.error = f"Portside has no version ordering for the {ecosystem!r} ecosystem"
        return out
    staged: list[tuple[tuple[Any, ...], str, Any, str]] = []
    limit_events = [e for e in rng.events if e.kind == _LIMIT]
    out.unlimited = not limit_events or any("*" in e.version for e in limit_events)
    for index, event in enumerate(rng.events):
        if event.kind == _LIMIT:
            if "*" not in event.version:
                key = scheme.try_parse(event.version)
                if key is None:
                    out.error = f"limit {event.version!r} is not a valid {scheme.name} version"
                    return out
                out.limits.append(key)
            continue
        if event.kind == _INTRODUCED and event.version == "0":
            staged.append(((0, index), event.kind, None, event.version))
            continue
        key = scheme.try_parse(event.version)
        if key is None:
            out.error = f"{event.kind} {event.version!r} is not a valid {scheme.name} version"
            return out
        staged.append(((1, key, index), event.kind, key, event.version))
    staged.sort(key=lambda item: item[0])
    out.events = [(kind, key, text) for _, kind, key, text in staged]
    return out


def _in_range(key: Any, rng: _CompiledRange) -> tuple[bool, tuple[str, ...]]:
    """Whether ``key`` is in the range, and the fix of the branch it is on."""
    if not rng.unlimited and not any(key < limit for limit in rng.limits):
        return False, ()
    vulnerable = False
    position = -1
    for index, (kind, bound, _) in enumerate(rng.events):
        if kind == _INTRODUCED:
            if bound is None or key >= bound:
                vulnerable = True
                position = index
        elif kind == _FIXED:
            if key >= bound:
                vulnerable = False
        elif kind == _LAST and key > bound:
            vulnerable = False
    if not vulnerable:
        return False, ()
    for kind, _, text in rng.events[position + 1 :]:
        if kind == _FIXED:
            return True, (text,)
    return True, ()


class CompiledEntry:
    """One affected entry made ready for repeated evaluation: bounds parsed and sorted
    once, the ``versions`` list kept as strings and, when first needed, as keys."""

    def __init__(self, entry: Affected) -> None:
        self.ecosystem = entry.package.ecosystem
        self.severity = entry.severity
        self.scheme = scheme_for(self.ecosystem)
        self.listed = frozenset(entry.versions)
        self._listed_keys: frozenset[Any] | list[Any] | None = None
        self.ranges = [_compile_range(self.ecosystem, r) for r in entry.ranges if r.type != "GIT"]

    def _in_listed(self, version: str) -> bool:
        if version in self.listed:
            return True
        if self.scheme is None or not self.listed:
            return False
        if self._listed_keys is None:
            parsed = [k for k in map(self.scheme.try_parse, self.listed) if k is not None]
            try:  # a set where the keys hash (PEP 440, Debian, ...), else a sorted list
                self._listed_keys = frozenset(parsed)
            except TypeError:
                self._listed_keys = sorted(parsed)
        key = self.scheme.try_parse(version)
        if key is None:
            return False
        if isinstance(self._listed_keys, frozenset):
            return key in self._listed_keys
        at = bisect.bisect_left(self._listed_keys, key)
        return at < len(self._listed_keys) and self._listed_keys[at] == key

    def check(self, version: str) -> Verdict:
        problems: list[str] = []
        for rng in self.ranges:
            if rng.error:
                problems.append(rng.error)
                continue
            assert rng.scheme is not None
            key = rng.scheme.try_parse(version)
            if key is None:
                problems.append(f"{version!r} is not a valid {rng.scheme.name} version")
                continue
            inside, fixed = _in_range(key, rng)
            if inside:
                return Verdict(True, fixed)
        if self._in_listed(version):
            return Verdict(True)
        if problems:
            return Verdict(None, reason=problems[0])
        return NOT_AFFECTED


def is_affected(version: str, entry: Affected) -> bool | None:
    """Convenience for one-off questions: the OSV verdict for ``version`` (``None`` when
    it cannot be decided)."""
    return CompiledEntry(entry).check(version).affected


def sort_versions(ecosystem: str, versions: Sequence[str]) -> list[str]:
    """``versions`` in the ecosystem's order; strings the scheme cannot read go last, in
    text order."""
    if len(versions) < 2:
        return list(versions)
    scheme = scheme_for(ecosystem)
    if scheme is None:
        return sorted(set(versions))
    known = [(k, v) for v in set(versions) if (k := scheme.try_parse(v)) is not None]
    unknown = sorted(v for v in set(versions) if scheme.try_parse(v) is None)
    known.sort(key=lambda kv: kv[0])
    return [v for _, v in known] + unknown
