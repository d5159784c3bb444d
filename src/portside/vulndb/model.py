"""The advisory model and the findings the matcher reports.

The advisory model follows the OSV schema (https://ossf.github.io/osv-schema/) closely:
OSV is what the largest feeds already publish, and the distribution trackers map onto it
without loss for what matching needs. Everything is a frozen dataclass so a parsed
advisory can be cached and shared between matches without defensive copies.

``to_document`` / ``from_document`` turn an :class:`Advisory` into the plain JSON object
the store keeps; they are exact inverses for every advisory an importer produces.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["introduced", "fixed", "last_affected", "limit"]
EVENT_KINDS: tuple[EventKind, ...] = ("introduced", "fixed", "last_affected", "limit")

RangeType = Literal["SEMVER", "ECOSYSTEM", "GIT"]
RANGE_TYPES: tuple[RangeType, ...] = ("SEMVER", "ECOSYSTEM", "GIT")


class SeverityClass(enum.StrEnum):
    """Portside's own scale, which the store's vulnerability SLA is written against."""

    CRITICAL = "critical"  # CVSS 7.0-10.0: fix within 72 hours
    MAJOR = "major"  # CVSS 4.0-6.9: fix within 7 days
    MINOR = "minor"  # CVSS 0.0-3.9: no deadline
    UNKNOWN = "unknown"  # no usable CVSS score, nor a Debian urgency that names one


#: The time a publisher has to fix a finding of each class; ``None`` means no deadline.
#: ``unknown`` carries none: a deadline needs an assessment to justify it (a CVSS score,
#: or failing one the Debian tracker's urgency: see :mod:`.severity`).
SLA: Mapping[SeverityClass, dt.timedelta | None] = {
    SeverityClass.CRITICAL: dt.timedelta(hours=72),
    SeverityClass.MAJOR: dt.timedelta(days=7),
    SeverityClass.MINOR: None,
    SeverityClass.UNKNOWN: None,
}


@dataclass(frozen=True, slots=True)
class Event:
    """One point on a range's timeline: ``introduced``, ``fixed``, ``last_affected`` or
    ``limit``, with the version (or commit) where it happens."""

    kind: EventKind
    version: str


@dataclass(frozen=True, slots=True)
class Range:
    """A range of affected versions. ``GIT`` ranges name commits and cannot be evaluated
    against a version number; the matcher uses the entry's ``versions`` list for them."""

    type: RangeType
    events: tuple[Event, ...]
    repo: str = ""


@dataclass(frozen=True, slots=True)
class PackageRef:
    """The package an affected entry is about: ``ecosystem`` as OSV spells it (``PyPI``,
    ``Go``, ``Debian:12``, ``Alpine:v3.20``), the name as the record gives it."""

    ecosystem: str
    name: str
    purl: str = ""


@dataclass(frozen=True, slots=True)
class SeverityEntry:
    """An OSV ``severity`` item: ``type`` (``CVSS_V2``, ``CVSS_V3``, ``CVSS_V4``, ...) and
    ``score``, which for the CVSS types is the vector string."""

    type: str
    score: str


@dataclass(frozen=True, slots=True)
class Reference:
    type: str
    url: str


@dataclass(frozen=True, slots=True)
class Affected:
    """One ``affected`` entry: a package, its ranges and its enumerated versions."""

    package: PackageRef
    ranges: tuple[Range, ...] = ()
    versions: tuple[str, ...] = ()
    severity: tuple[SeverityEntry, ...] = ()
    ecosystem_specific: Mapping[str, Any] = field(default_factory=dict)
    database_specific: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Advisory:
    """One vulnerability record. ``withdrawn`` records are stored but never matched."""

    id: str
    modified: dt.datetime | None = None
    published: dt.datetime | None = None
    withdrawn: dt.datetime | None = None
    aliases: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    severity: tuple[SeverityEntry, ...] = ()
    affected: tuple[Affected, ...] = ()
    references: tuple[Reference, ...] = ()
    database_specific: Mapping[str, Any] = field(default_factory=dict)
    schema_version: str = ""

    @property
    def ids(self) -> frozenset[str]:
        """The record's own id and its aliases: the set alias merging works on."""
        return frozenset((self.id, *self.aliases))


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability in one package of an image.

    Findings of the same package whose ids overlap are merged into one: ``advisory_id`` is
    the preferred id (a CVE when there is one, then a GHSA, then the feed's own id) and
    ``aliases`` holds every other id of every merged record.

    ``cvss_score``, ``cvss_vector`` and ``cvss_version`` come from the vector chosen by
    the severity preference; ``score_source`` says whose it was (``distro``, ``nvd`` or
    ``advisory``, empty when there was none). ``severity_notes`` explains an ``unknown``
    class (a malformed vector, for example) or a vector that was passed over.
    ``distro_status`` is the distribution tracker's word for the issue (``open``,
    ``resolved``, ``undetermined``, ``unimportant``, ``end-of-life``, or for an open issue
    that Debian will not fix with a security update, ``ignored``, ``postponed`` or
    ``no-dsa``) and is empty for language packages; ``distro_note`` is the tracker's
    reason for the last three (its ``nodsa`` text). :func:`no_fix_text` says what they
    mean for a finding with no fixed version.
    """

    advisory_id: str
    aliases: tuple[str, ...]
    package_name: str
    package_version: str
    package_purl: str
    package_type: str
    ecosystem: str
    layer: str
    fixed_versions: tuple[str, ...]
    severity: SeverityClass
    cvss_score: float | None
    cvss_vector: str
    cvss_version: str
    score_source: str
    summary: str
    references: tuple[str, ...]
    data_sources: tuple[str, ...]
    severity_notes: tuple[str, ...] = ()
    distro_status: str = ""
    distro_note: str = ""

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.advisory_id, *self.aliases)

    @property
    def no_fix(self) -> str:
        """What to show instead of a fixed version when there is none."""
        return no_fix_text(self.distro_status, self.distro_note)

    @property
    def sla(self) -> dt.timedelta | None:
        """How long the store gives a publisher to fix this finding (``None``: no limit)."""
        return SLA[self.severity]


#: what a finding without a fixed version says, by the tracker's status
_NO_FIX = {
    "end-of-life": "will not be fixed (end-of-life)",
    "ignored": "will not be fixed",
    "unimportant": "will not be fixed (unimportant)",
    "postponed": "fix postponed",
    "no-dsa": "no security update planned",
    "undetermined": "fix undetermined",
}


def no_fix_text(distro_status: str, note: str = "") -> str:
    """``no fix`` for a finding with no fixed version, or what the distribution's tracker
    says about it: ``will not be fixed (end-of-life)``, ``fix undetermined``, ``will not
    be fixed: <the tracker's reason>``."""
    text = _NO_FIX.get(distro_status, "no fix")
    note = " ".join(note.split())
    if note and distro_status in ("ignored", "postponed", "no-dsa"):
        text += f": {note if len(note) <= 200 else note[:197] + '...'}"
    return text


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A package the matcher could not decide about, and why.

    An unparseable installed version, an advisory whose range bounds cannot be parsed, a
    package type or distribution without data: each is reported here rather than being
    silently treated as "not affected". ``advisory_id`` is set when one record was the
    cause.
    """

    package_name: str
    package_version: str
    package_purl: str
    package_type: str
    layer: str
    reason: str
    advisory_id: str = ""


@dataclass(frozen=True, slots=True)
class CvssMetric:
    """One CVSS assessment of a CVE from NVD: who made it (``source``, such as
    ``nvd@nist.gov``), whether NVD lists it as the ``Primary`` one, and the vector."""

    version: str  # "2.0", "3.0", "3.1", "4.0"
    vector: str
    base_score: float | None
    source: str
    primary: bool


@dataclass(frozen=True, slots=True)
class NvdRecord:
    """What Portside keeps of an NVD CVE record: its scores and English description."""

    cve: str
    modified: dt.datetime | None
    description: str
    metrics: tuple[CvssMetric, ...]


@dataclass(frozen=True, slots=True)
class DistroRecord:
    """A distribution's verdict on one vulnerability in one source package of a release.

    ``fixed_version`` is the first fixed version in the distribution's own scheme, ``"0"``
    when the release was never affected, and empty when there is no fix yet. ``status``
    and ``urgency`` are the Debian tracker's words (Alpine's secdb only lists fixes, so
    its records are ``resolved`` with no urgency). ``nodsa`` is the tracker's reason for
    not issuing a security update (``Minor issue``) and ``nodsa_reason`` its kind:
    ``ignored`` (will not be fixed in the release), ``postponed`` (fixed in a later
    update) or empty.
    """

    distro: str  # "debian", "alpine"
    release: str  # "bookworm", "v3.20"
    package: str  # the source package
    vuln_id: str
    status: str
    fixed_version: str
    urgency: str = ""
    description: str = ""
    nodsa: str = ""
    nodsa_reason: str = ""


# --- the stored document ---------------------------------------------------------------


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _severity_doc(entries: tuple[SeverityEntry, ...]) -> list[dict[str, str]]:
    return [{"type": s.type, "score": s.score} for s in entries]


def _severity_from(items: Any) -> tuple[SeverityEntry, ...]:
    return tuple(SeverityEntry(s["type"], s["score"]) for s in items or ())


def affected_document(entry: Affected) -> dict[str, Any]:
    """The JSON object for one affected entry (also stored alone in the match index)."""
    return {
        "package": {
            "ecosystem": entry.package.ecosystem,
            "name": entry.package.name,
            "purl": entry.package.purl,
        },
        "ranges": [
            {
                "type": r.type,
                "repo": r.repo,
                "events": [{e.kind: e.version} for e in r.events],
            }
            for r in entry.ranges
        ],
        "versions": list(entry.versions),
        "severity": _severity_doc(entry.severity),
        "ecosystem_specific": dict(entry.ecosystem_specific),
        "database_specific": dict(entry.database_specific),
    }


def affected_from_document(doc: Mapping[str, Any]) -> Affected:
    package = doc["package"]
    ranges = []
    for r in doc.get("ranges", ()):
        events = []
        for item in r["events"]:
            ((kind, version),) = item.items()
            events.append(Event(kind, version))
        ranges.append(Range(r["type"], tuple(events), r.get("repo", "")))
    return Affected(
        package=PackageRef(package["ecosystem"], package["name"], package.get("purl", "")),
        ranges=tuple(ranges),
        versions=tuple(doc.get("versions", ())),
        severity=_severity_from(doc.get("severity")),
        ecosystem_specific=doc.get("ecosystem_specific") or {},
        database_specific=doc.get("database_specific") or {},
    )


def to_document(advisory: Advisory) -> dict[str, Any]:
    """The plain JSON object the store keeps for ``advisory``."""
    return {
        "id": advisory.id,
        "schema_version": advisory.schema_version,
        "modified": _time(advisory.modified),
        "published": _time(advisory.published),
        "withdrawn": _time(advisory.withdrawn),
        "aliases": list(advisory.aliases),
        "related": list(advisory.related),
        "summary": advisory.summary,
        "details": advisory.details,
        "severity": _severity_doc(advisory.severity),
        "affected": [affected_document(a) for a in advisory.affected],
        "references": [{"type": r.type, "url": r.url} for r in advisory.references],
        "database_specific": dict(advisory.database_specific),
    }


def from_document(doc: Mapping[str, Any]) -> Advisory:
    """The inverse of :func:`to_document` (the input is trusted: the store wrote it)."""
    return Advisory(
        id=doc["id"],
        schema_version=doc.get("schema_version", ""),
        modified=_parse_time(doc.get("modified")),
        published=_parse_time(doc.get("published")),
        withdrawn=_parse_time(doc.get("withdrawn")),
        aliases=tuple(doc.get("aliases", ())),
        related=tuple(doc.get("related", ())),
        summary=doc.get("summary", ""),
        details=doc.get("details", ""),
        severity=_severity_from(doc.get("severity")),
        affected=tuple(affected_from_document(a) for a in doc.get("affected", ())),
        references=tuple(Reference(r["type"], r["url"]) for r in doc.get("references", ())),
        database_specific=doc.get("database_specific") or {},
    )
