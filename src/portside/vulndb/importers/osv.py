"""OSV records: a directory, a zip (osv.dev's per-ecosystem ``all.zip``) or one file.

Records may be JSON or YAML (the PyPA database is YAML) and may be for any ecosystem;
the store indexes every affected package by ecosystem and normalised name, and the
matcher decides which ecosystems it can compare versions in. A record with
``withdrawn`` set is stored (so it can still be looked up) but never indexed for matching.

Validation is strict about types and the event grammar (one of ``introduced``,
``fixed``, ``last_affected``, ``limit`` per event; a known range type) and lenient about
what the schema leaves open: unknown fields are ignored, ``modified`` may be absent.
Version strings are not checked here: whether ``2019-09-12`` is a valid bound depends on
the ecosystem, and the matcher reports a bound it cannot parse against the package it
was trying to match.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from portside.vulndb.errors import MalformedInput
from portside.vulndb.importers._input import (
    Digest,
    Fields,
    Limits,
    directory_files,
    is_zip,
    load_document,
    read_file,
    zip_members,
)
from portside.vulndb.model import (
    EVENT_KINDS,
    RANGE_TYPES,
    Advisory,
    Affected,
    Event,
    PackageRef,
    Range,
    Reference,
    SeverityEntry,
)

if TYPE_CHECKING:
    from portside.vulndb.store import ImportResult, VulnStore

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,254}")


def parse_record(name: str, document: Any) -> Advisory:
    """One OSV record (already loaded from JSON or YAML) as an :class:`Advisory`."""
    top = Fields(name, None, document)
    ident = top.text("id")
    if not _ID.fullmatch(ident):
        top.fail(f"field id {ident[:80]!r} is not an advisory id")
    f = Fields(name, ident, document)
    return Advisory(
        id=ident,
        schema_version=f.text("schema_version", ""),
        modified=f.timestamp("modified"),
        published=f.timestamp("published"),
        withdrawn=f.timestamp("withdrawn"),
        aliases=tuple(a for a in f.texts("aliases") if a != ident),
        related=f.texts("related"),
        summary=f.text("summary", ""),
        details=f.text("details", ""),
        severity=_severity(f),
        affected=tuple(_affected(a) for a in f.objects("affected")),
        references=tuple(
            Reference(r.text("type", ""), r.text("url")) for r in f.objects("references")
        ),
        database_specific=f.mapping("database_specific"),
    )


def _severity(f: Fields) -> tuple[SeverityEntry, ...]:
    entries = []
    for item in f.objects("severity"):
        score = item.data.get("score")
        if isinstance(score, int | float) and not isinstance(score, bool):
            score = str(score)  # a bare number is a score, kept as text like a vector
        if not isinstance(score, str):
            return item.fail("field score must be a string")
        entries.append(SeverityEntry(item.text("type"), score))
    return tuple(entries)


def _affected(f: Fields) -> Affected:
    package = f.object("package")
    if package is None:
        ref = PackageRef("", "")
    else:
        ref = PackageRef(package.text("ecosystem"), package.text("name"), package.text("purl", ""))
    return Affected(
        package=ref,
        ranges=tuple(_range(r) for r in f.objects("ranges")),
        versions=f.texts("versions"),
        severity=_severity(f),
        ecosystem_specific=f.mapping("ecosystem_specific"),
        database_specific=f.mapping("database_specific"),
    )


def _range(f: Fields) -> Range:
    kind = f.text("type")
    if kind not in RANGE_TYPES:
        f.fail(f"range type {kind!r} is not one of {', '.join(RANGE_TYPES)}")
    events = []
    for item in f.objects("events"):
        if len(item.data) != 1:
            item.fail("an event must have exactly one of " + ", ".join(EVENT_KINDS))
        ((key, value),) = item.data.items()
        if key not in EVENT_KINDS:
            item.fail(f"{key!r} is not an event ({', '.join(EVENT_KINDS)})")
        if not isinstance(value, str) or not value:
            item.fail(f"the {key} version must be a non-empty string")
        events.append(Event(key, value))  # type: ignore[arg-type]  # checked just above
    if not any(e.kind == "introduced" for e in events):
        f.fail("a range needs at least one introduced event")
    return Range(kind, tuple(events), f.text("repo", ""))  # type: ignore[arg-type]


def _inputs(path: Path, limits: Limits) -> Iterator[tuple[str, str, bytes]]:
    """``(label, name in the feed, bytes)`` for every record file under ``path``: the
    label (full path, or archive and member) is for errors, the name for the digest, so a
    copy of the feed elsewhere digests the same."""
    if path.is_dir():
        root = len(str(path).rstrip(os.sep)) + 1
        for file in directory_files(path):
            label = str(file)
            yield label, label[root:].replace(os.sep, "/"), read_file(file, limits.max_record)
    elif is_zip(path):
        for member, data in zip_members(path, limits):
            yield f"{path}:{member}", member, data
    else:
        yield str(path), path.name, read_file(path, limits.max_record)


def digest_osv(path: Path, *, limits: Limits | None = None) -> str:
    """The digest :func:`read_osv` would report, without parsing anything."""
    digest = Digest()
    for _, name, data in _inputs(Path(path), limits or Limits()):
        digest.add(name, data)
    return digest.hexdigest()


def read_osv(path: Path, *, limits: Limits | None = None) -> tuple[list[Advisory], str]:
    """Every record under ``path`` (a directory, a zip or one file) and the digest of
    what was read. Raises :class:`MalformedInput` for the first bad file or record."""
    digest = Digest()
    advisories: list[Advisory] = []
    first_seen: dict[str, str] = {}
    for label, name, data in _inputs(Path(path), limits or Limits()):
        digest.add(name, data)
        advisory = parse_record(label, load_document(label, data))
        if advisory.id in first_seen:
            raise MalformedInput(
                label, f"the id is also used by {first_seen[advisory.id]}", record=advisory.id
            )
        first_seen[advisory.id] = label
        advisories.append(advisory)
    return advisories, digest.hexdigest()


def import_osv(
    store: VulnStore,
    path: Path,
    *,
    source: str = "osv",
    limits: Limits | None = None,
    origin: str = "",
    force: bool = False,
    replace: bool = True,
) -> ImportResult:
    """Replace source ``source`` in ``store`` with the records under ``path``.

    All of ``path`` is read and validated before the store is touched, and the store is
    written in one transaction, so a failed import leaves the previous data in place.
    When the content's digest equals the one recorded at the last import, nothing is
    parsed or written (``ImportResult.changed`` is false) unless ``force`` is given.
    """
    path = Path(path)
    if not force:
        unchanged = store.unchanged(source, digest_osv(path, limits=limits))
        if unchanged is not None:
            return unchanged
    advisories, digest = read_osv(path, limits=limits)
    return store.replace_advisories(
        source, advisories, kind="osv", digest=digest, origin=origin or str(path), replace=replace
    )
