"""Matching an image's packages against the database.

:func:`match` takes the analyser's packages and the image's distribution and returns the
findings, with every package it could not decide about in ``result.unmatched``.

Language packages (``pypi``, ``npm``, ``golang`` including the ``stdlib`` pseudo-module,
``maven``, ``gem``, ``cargo``, ``nuget``, ``composer``) are looked up in the OSV index by
ecosystem and normalised name (PEP 503 for PyPI, Go module paths as they are, Maven as
``group:artifact``, npm with its scope, Packagist as ``vendor/project`` and NuGet in lower
case, since both are case-insensitive, crates.io as it is) and evaluated by the OSV rules
in :mod:`.versions`.

Distribution packages are matched through their *source* package (the analyser's
``source_name`` and ``source_version``, falling back to the binary's), because that is
what the distributions' data is keyed by:

* Debian (``deb``): the security tracker's verdicts for the release's codename, and OSV
  records of ``Debian:<version>`` when such a feed is imported;
* Alpine (``apk``): secdb for the ``v<major>.<minor>`` branch, and OSV ``Alpine:v3.x``.

The distribution's own verdict takes precedence. When the tracker or secdb has a
verdict on an id for that source package, an OSV record of the same id (or one aliasing
it) cannot change it: its ids and references are added to the distribution's finding,
but the fixed version, the status and whether there is a finding at all are the
distribution's. Upstream ranges (a ``PyPI`` record for the project a ``python3-...``
package was built from, say) are never applied to distribution packages: the distribution
backports fixes without changing the upstream version, so upstream ranges would be wrong
both ways.

Decisions for tracker states, which the data leaves to the consumer:

* ``fixed_version`` ``"0"``: the release was never affected; no finding.
* ``resolved`` with a version: affected below it, with that version as the fix.
* ``open`` or ``undetermined``: affected, with no fix (or below the version when the
  entry names one).
* urgency ``unimportant``: Debian's security team judged the issue not to warrant a fix
  in Debian (a build option not used, a negligible impact). Such issues are left out by
  default, like not-affected ones, so they neither start SLA clocks nor fill reports;
  ``MatchOptions(include_unimportant=True)`` reports them with
  ``distro_status="unimportant"``. Either way the tracker's verdict wins over OSV.
* urgency ``end-of-life``: the package is no longer security-supported in the release;
  affected, reported with ``distro_status="end-of-life"``.
* ``open`` with a ``nodsa`` reason: affected, and Debian will not issue a security update;
  reported with ``distro_status`` ``ignored`` (not to be fixed in the release),
  ``postponed`` (to a later update) or ``no-dsa`` (a minor issue, perhaps fixed in a point
  release), and the tracker's reason as ``distro_note``.
* no CVSS score from any source: the class is the tracker's urgency's
  (:func:`portside.vulndb.severity.urgency_score`), with ``score_source="urgency"``.
* Alpine lists each id under the version that fixed it, sometimes more than once in a
  branch's history; the highest listed version is used (a lower one would miss the fix of
  the branch's current line), and ``"0"`` means never affected.

Withdrawn advisories are not in the match index at all. Findings of one package whose
ids or aliases overlap are merged into one finding that keeps every id.

Speed: all packages' index keys are looked up in a handful of indexed queries; only the
entries for those packages are parsed, once per store connection; version strings are
parsed once per process. Packages with the same lookup (ecosystem, normalised name and
version; or source package and version) are evaluated once, and a connection remembers
each lookup's result until the data changes, so matching the stored inventories again
costs little more than reading them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from packageurl import PackageURL

from portside.vulndb.model import (
    CvssMetric,
    DistroRecord,
    Finding,
    Unmatched,
    affected_from_document,
)
from portside.vulndb.severity import (
    DEFAULT_PREFERENCE,
    Candidate,
    ScoreSource,
    choose,
    osv_candidates,
    urgency_score,
)
from portside.vulndb.store import AffectedRow, VulnStore
from portside.vulndb.versions import (
    CompiledEntry,
    normalise_name,
    scheme_for,
    sort_versions,
)


class PackageLike(Protocol):
    """What the matcher reads of a package (``portside.scanner.model.Package``)."""

    @property
    def type(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def purl(self) -> str: ...
    @property
    def layer(self) -> str: ...
    @property
    def source_name(self) -> str: ...
    @property
    def source_version(self) -> str: ...


class DistroLike(Protocol):
    """What the matcher reads of the distribution (``portside.scanner.model.Distro``)."""

    @property
    def id(self) -> str: ...
    @property
    def version_id(self) -> str: ...
    @property
    def version_codename(self) -> str: ...


#: package URL type -> OSV ecosystem
LANGUAGE_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "maven": "Maven",
    "gem": "RubyGems",
    "cargo": "crates.io",
    "nuget": "NuGet",
    "composer": "Packagist",
}

#: Debian's numbered releases, for images whose os-release has no codename
DEBIAN_CODENAMES = {
    "8": "jessie",
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
    "14": "forky",
}


#: Parsed entries and advisories a store connection keeps between matches; past this
#: many the cache starts again, so a long-running worker's memory stays bounded.
CACHE_LIMIT = 250_000


@dataclass(frozen=True)
class MatchOptions:
    preference: Sequence[ScoreSource] = DEFAULT_PREFERENCE
    include_unimportant: bool = False


class MatchResult(list[Finding]):
    """The findings, as a list, plus ``unmatched``: packages (or package and advisory
    pairs) that could not be evaluated, each with its reason."""

    def __init__(self, findings: Iterable[Finding], unmatched: Iterable[Unmatched]) -> None:
        super().__init__(findings)
        self.unmatched: list[Unmatched] = list(unmatched)


@dataclass
class _Hit:
    """One record's verdict "affected" for one package, before merging."""

    ids: set[str]
    fixed: list[str]
    summary: str
    references: list[str]
    sources: set[str]
    candidates: list[Candidate]
    authority: bool = False  # the distribution's own verdict (tracker, secdb)
    subordinate: bool = False  # an OSV record of a distribution ecosystem
    distro_status: str = ""
    distro_note: str = ""
    urgency: str = ""  # the tracker's, for a class when nothing has a CVSS score


@dataclass
class _Target:
    """A distribution package's lookup: where its data lives."""

    distro: str  # "debian", "alpine"
    release: str  # "bookworm", "v3.20"
    osv_ecosystem: str  # "Debian:12", "Alpine:v3.20"
    name: str
    version: str


@dataclass
class _Run:
    """The state of one :func:`match` call. Packages with the same lookup (the same
    ecosystem, normalised name and version, or the same source package and version) are
    evaluated once, as one *lookup*; every dictionary here is keyed by lookup number."""

    store: VulnStore
    options: MatchOptions
    hits: dict[int, list[_Hit]] = field(default_factory=lambda: defaultdict(list))
    decided: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # lookup, why, id
    version_problems: set[int] = field(default_factory=set)

    def problem(self, lookup: int, reason: str, advisory_id: str = "") -> None:
        """Record why a lookup (or one advisory for it) could not be evaluated; a lookup
        gets one problem about its own version, however many data sources found it."""
        if not advisory_id:
            if lookup in self.version_problems:
                return
            self.version_problems.add(lookup)
        self.problems.append((lookup, reason, advisory_id))


def match(
    packages: Iterable[PackageLike],
    distro: DistroLike | None,
    store: VulnStore,
    *,
    options: MatchOptions | None = None,
) -> MatchResult:
    """The findings for ``packages`` of an image whose distribution is ``distro``."""
    cache = store.fresh_cache(CACHE_LIMIT)
    run = _Run(store, options or MatchOptions())
    settings = (tuple(run.options.preference), run.options.include_unimportant)
    items = list(packages)
    unmatched: list[Unmatched] = []
    lookups: dict[tuple[str, ...], int] = {}
    members: list[list[int]] = []
    language: dict[int, tuple[str, str]] = {}
    targets: dict[int, _Target] = {}
    #: lookup -> (findings made for its first package, (reason, advisory id) problems),
    #: from earlier matches on this connection while the data has not changed
    done: dict[int, tuple[list[Finding], list[tuple[str, str]]]] = {}

    def lookup(signature: tuple[str, ...], index: int) -> tuple[int, bool]:
        number = lookups.setdefault(signature, len(members))
        if number == len(members):
            members.append([])
            known = cache.get(("lookup", signature, settings))
            if known is not None:
                done[number] = known
        members[number].append(index)
        return number, len(members[number]) == 1 and number not in done

    for index, pkg in enumerate(items):
        if not pkg.version:
            unmatched.append(_unmatched(pkg, "the package has no version"))
        elif pkg.type in LANGUAGE_ECOSYSTEMS:
            ecosystem = LANGUAGE_ECOSYSTEMS[pkg.type]
            key = (ecosystem, normalise_name(ecosystem, language_name(pkg)))
            number, new = lookup(("language", *key, pkg.version), index)
            if new:
                language[number] = key
        elif pkg.type in ("deb", "apk"):
            target = _distro_target(pkg, distro)
            if isinstance(target, str):
                unmatched.append(_unmatched(pkg, target))
                continue
            number, new = lookup(
                ("distro", target.distro, target.release, target.name, target.version), index
            )
            if new:
                targets[number] = target
        else:
            unmatched.append(
                _unmatched(pkg, f"Portside has no vulnerability data for {pkg.type} packages")
            )
    first = [items[m[0]] for m in members]
    _match_osv(run, {n: (key, first[n].version) for n, key in language.items()}, False)
    if targets:
        _match_distro(run, targets)
        _match_osv(
            run,
            {
                n: ((t.osv_ecosystem, normalise_name(t.osv_ecosystem, t.name)), t.version)
                for n, t in targets.items()
            },
            True,
        )
    cves = {i for hits in run.hits.values() for hit in hits for i in hit.ids if i[:4] == "CVE-"}
    metrics = run.store.cvss_metrics(cves) if cves else {}
    fresh: dict[int, tuple[list[Finding], list[tuple[str, str]]]] = {
        number: ([], []) for number in (*language, *targets)
    }
    for number in run.hits:
        ecosystem = targets[number].osv_ecosystem if number in targets else language[number][0]
        fresh[number][0].extend(
            _merge(run, first[number], ecosystem, run.hits[number], run.decided[number], metrics)
        )
    for number, reason, advisory_id in run.problems:
        fresh[number][1].append((reason, advisory_id))
    for signature, number in lookups.items():
        if number in fresh:
            cache[("lookup", signature, settings)] = fresh[number]
    done.update(fresh)
    findings: list[Finding] = []
    for number, (merged, problems) in done.items():
        for index in members[number]:
            pkg = items[index]
            findings.extend(_for_package(f, pkg) for f in merged)
            unmatched.extend(
                _unmatched(pkg, reason, advisory_id) for reason, advisory_id in problems
            )
    findings.sort(key=lambda f: (f.package_name, f.package_version, f.layer, f.advisory_id))
    return MatchResult(findings, unmatched)


def _for_package(finding: Finding, pkg: PackageLike) -> Finding:
    """``finding`` (made for the first package of a lookup) for another package of it."""
    if (finding.package_name, finding.package_purl, finding.layer, finding.package_type) == (
        pkg.name,
        pkg.purl,
        pkg.layer,
        pkg.type,
    ):
        return finding
    return dataclasses.replace(
        finding,
        package_name=pkg.name,
        package_version=pkg.version,
        package_purl=pkg.purl,
        package_type=pkg.type,
        layer=pkg.layer,
    )


# --- keys -------------------------------------------------------------------------------


def language_name(pkg: PackageLike) -> str:
    """The package's name as its ecosystem's advisories spell it. Maven, npm and
    Composer names have two parts (group and artifact, scope and name, vendor and
    project); when the analyser reports only the second, the package URL's namespace
    supplies the first."""
    if pkg.type not in ("maven", "npm", "composer") or not pkg.purl:
        return pkg.name
    if pkg.type == "maven" and ":" in pkg.name:
        return pkg.name
    if pkg.type == "npm" and pkg.name.startswith("@"):
        return pkg.name
    if pkg.type == "composer" and "/" in pkg.name:
        return pkg.name
    try:
        purl = PackageURL.from_string(pkg.purl)
    except ValueError:
        return pkg.name
    if not purl.namespace:
        return pkg.name
    separator = ":" if pkg.type == "maven" else "/"
    return f"{purl.namespace}{separator}{purl.name}"


_ALPINE_BRANCH = re.compile(r"(\d+)\.(\d+)(?:\.\d+)*")


def _distro_target(pkg: PackageLike, distro: DistroLike | None) -> _Target | str:
    name = pkg.source_name or pkg.name
    version = pkg.source_version or pkg.version
    if distro is None:
        return "the image's distribution is unknown, so its packages cannot be matched"
    if pkg.type == "deb" and distro.id == "debian":
        number = distro.version_id.split(".")[0] if distro.version_id else ""
        codename = distro.version_codename or DEBIAN_CODENAMES.get(number, "")
        if not codename:
            return "the Debian release is unknown (no VERSION_CODENAME or VERSION_ID)"
        return _Target("debian", codename, f"Debian:{number or codename}", name, version)
    if pkg.type == "apk" and distro.id == "alpine":
        m = _ALPINE_BRANCH.match(distro.version_id)
        if not m:
            return f"the Alpine release {distro.version_id!r} is not a v3.x branch"
        branch = f"v{m.group(1)}.{m.group(2)}"
        return _Target("alpine", branch, f"Alpine:{branch}", name, version)
    return f"Portside has no vulnerability data for {pkg.type} packages on {distro.id or '?'}"


def _unmatched(pkg: PackageLike, reason: str, advisory_id: str = "") -> Unmatched:
    return Unmatched(pkg.name, pkg.version, pkg.purl, pkg.type, pkg.layer, reason, advisory_id)


# --- OSV ---------------------------------------------------------------------------------


def _compile(store: VulnStore, rows: Iterable[AffectedRow]) -> None:
    """Parse the entries of ``rows`` not yet in the connection's cache."""
    missing = [r.rowid for r in rows if ("entry", r.rowid) not in store.cache]
    for rowid, entry in store.affected_entries(missing).items():
        store.cache[("entry", rowid)] = CompiledEntry(affected_from_document(json.loads(entry)))


def _match_osv(
    run: _Run, wanted: dict[int, tuple[tuple[str, str], str]], distro_ecosystem: bool
) -> None:
    """Evaluate every index entry for the lookups in ``wanted`` (lookup -> (key,
    version)) and record the hits."""
    if not wanted:
        return
    rows_by_key = defaultdict(list)
    found = run.store.affected_rows(key for key, _ in wanted.values())
    _compile(run.store, found)
    for row in found:
        rows_by_key[(row.ecosystem, row.name)].append(row)
    cache = run.store.cache
    affected: list[tuple[int, int, int]] = []  # lookup, advisory pk, row id
    verdicts = {}
    undecided: list[tuple[int, int, str]] = []
    for index, (key, version) in wanted.items():
        rows = rows_by_key.get(key)
        if not rows:
            continue
        scheme = scheme_for(key[0])
        parseable = scheme is None or scheme.try_parse(version) is not None
        if not parseable:
            assert scheme is not None
            run.problem(
                index,
                f"{version!r} is not a valid {scheme.name} version; "
                f"{len(rows)} advisory entries for {key[1]} were checked only "
                "against their enumerated versions",
            )
        for row in rows:
            verdict = cache[("entry", row.rowid)].check(version)
            if verdict.affected:
                affected.append((index, row.advisory, row.rowid))
                verdicts[(index, row.rowid)] = verdict
            elif verdict.affected is None and parseable:
                undecided.append((index, row.advisory, verdict.reason))
    facts = run.store.advisory_facts({pk for _, pk, _ in affected} | {pk for _, pk, _ in undecided})
    for index, pk, reason in undecided:
        run.problem(index, reason, facts[pk].id)
    kind = ScoreSource.DISTRO if distro_ecosystem else ScoreSource.ADVISORY
    for index, pk, rowid in affected:
        advisory = facts[pk]
        summary = cache.get(("summary", pk))
        if summary is None:
            summary = cache[("summary", pk)] = _summary(advisory.summary, advisory.details)
        entry = cache[("entry", rowid)]
        severity = [*advisory.severity, *((s.type, s.score) for s in entry.severity)]
        run.hits[index].append(
            _Hit(
                ids=set(advisory.ids),
                fixed=list(verdicts[(index, rowid)].fixed),
                summary=summary,
                references=list(advisory.references),
                sources={advisory.source},
                candidates=osv_candidates(severity, kind, advisory.id) if severity else [],
                subordinate=distro_ecosystem,
            )
        )


def _summary(summary: str, details: str) -> str:
    """The record's summary, or the first paragraph of its details, on one line."""
    text = summary or details.strip().split("\n\n", 1)[0]
    text = " ".join(text.split())
    return text if len(text) <= 240 else text[:237] + "..."


# --- distributions --------------------------------------------------------------------


def _match_distro(run: _Run, targets: dict[int, _Target]) -> None:
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, target in targets.items():
        groups[(target.distro, target.release)].append(index)
    for (distro, release), indexes in groups.items():
        names = {targets[i].name for i in indexes}
        by_package: dict[str, dict[str, list[tuple[str, DistroRecord]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for source, record in run.store.distro_records(distro, release, names):
            by_package[record.package][record.vuln_id].append((source, record))
        scheme = scheme_for("Debian" if distro == "debian" else "Alpine")
        assert scheme is not None
        for index in indexes:
            target = targets[index]
            verdicts = by_package.get(target.name)
            if not verdicts:
                continue
            installed = scheme.try_parse(target.version)
            if installed is None:
                run.problem(
                    index,
                    f"{target.version!r} is not a valid {scheme.name} version; "
                    f"{len(verdicts)} {distro} verdict{'' if len(verdicts) == 1 else 's'} "
                    f"for {target.name} "
                    "could not be evaluated",
                )
                continue
            for vuln_id, records in sorted(verdicts.items()):
                _distro_verdict(run, index, target, vuln_id, records, installed)


def _distro_verdict(
    run: _Run,
    index: int,
    target: _Target,
    vuln_id: str,
    records: list[tuple[str, DistroRecord]],
    installed: Any,
) -> None:
    scheme = scheme_for("Debian" if target.distro == "debian" else "Alpine")
    assert scheme is not None
    source, record = records[0]
    fixed_versions = [r.fixed_version for _, r in records]
    real = [v for v in fixed_versions if v and v != "0"]
    if target.distro == "alpine":
        if not real:
            run.decided[index].add(vuln_id)  # "0": never affected
            return
        keyed = [(k, v) for v in real if (k := scheme.try_parse(v)) is not None]
        if not keyed:
            run.problem(index, f"fixed version {real[0]!r} is not a valid Alpine version", vuln_id)
            return
        bound_key, fixed = max(keyed, key=lambda kv: kv[0])
        affected = installed < bound_key
        status = "resolved"
    else:
        if record.fixed_version == "0":
            run.decided[index].add(vuln_id)
            return
        if record.status == "resolved" and not record.fixed_version:
            run.problem(index, "the tracker marks it resolved without a version", vuln_id)
            return
        fixed = record.fixed_version
        if fixed:
            bound = scheme.try_parse(fixed)
            if bound is None:
                run.problem(
                    index, f"fixed version {fixed!r} is not a valid Debian version", vuln_id
                )
                return
            affected = installed < bound
        else:
            affected = True
        urgency = record.urgency.rstrip("*").strip()
        status = urgency if urgency in ("unimportant", "end-of-life") else record.status
        if status == "open" and (record.nodsa or record.nodsa_reason):
            reason = record.nodsa_reason.strip()
            status = reason if reason in ("ignored", "postponed") else "no-dsa"
    run.decided[index].add(vuln_id)
    if not affected:
        return
    if status == "unimportant" and not run.options.include_unimportant:
        return
    if target.distro == "debian":
        reference = f"https://security-tracker.debian.org/tracker/{vuln_id}"
    else:
        reference = f"https://security.alpinelinux.org/vuln/{vuln_id}"
    run.hits[index].append(
        _Hit(
            ids={vuln_id},
            fixed=[fixed] if fixed else [],
            summary=" ".join(record.description.split()),
            references=[reference],
            sources={source},
            candidates=[],
            authority=True,
            distro_status=status,
            distro_note=" ".join(record.nodsa.split()) if target.distro == "debian" else "",
            urgency=record.urgency if target.distro == "debian" else "",
        )
    )


# --- merging ------------------------------------------------------------------------------

_ID_RANK = (("CVE-", 0), ("GHSA-", 1))


def preferred_id(ids: Iterable[str]) -> str:
    """The id a merged finding is named by: a CVE, else a GHSA, else the first in text
    order (the feed's own id)."""

    def rank(ident: str) -> tuple[int, str]:
        for prefix, value in _ID_RANK:
            if ident.startswith(prefix):
                return value, ident
        return len(_ID_RANK), ident

    return min(ids, key=rank)


def _groups(hits: list[_Hit]) -> list[list[_Hit]]:
    parent = list(range(len(hits)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, hit in enumerate(hits):
        for ident in hit.ids:
            if ident in owner:
                parent[find(i)] = find(owner[ident])
            else:
                owner[ident] = i
    grouped: dict[int, list[_Hit]] = defaultdict(list)
    for i, hit in enumerate(hits):
        grouped[find(i)].append(hit)
    return list(grouped.values())


def _merge(
    run: _Run,
    pkg: PackageLike,
    ecosystem: str,
    hits: list[_Hit],
    decided: set[str],
    metrics: dict[str, list[CvssMetric]],
) -> list[Finding]:
    groups = _groups(hits) if len(hits) > 1 else [hits]
    descriptions: dict[str, str] | None = None
    out = []
    for group in groups:
        ids = set().union(*(h.ids for h in group))
        authority = [h for h in group if h.authority]
        if not authority and any(h.subordinate for h in group) and ids & decided:
            continue  # the distribution decided this id; an OSV range cannot overrule it
        deciding = authority or group
        fixed = sort_versions(ecosystem, [v for h in deciding for v in h.fixed])
        candidates = [c for h in group for c in h.candidates]
        for cve in sorted(i for i in ids if i in metrics):
            candidates += [
                Candidate(ScoreSource.NVD, m.vector, m.source or "NVD", m.primary)
                for m in metrics[cve]
            ]
        score = choose(candidates, run.options.preference)
        score_source = score.source.value if score.source else ""
        if score.score is None:
            by_urgency = next(
                (u for h in authority if h.urgency and (u := urgency_score(h.urgency))), None
            )
            if by_urgency is not None:
                score = dataclasses.replace(by_urgency, notes=(*score.notes, *by_urgency.notes))
                score_source = "urgency"
        ordered = sorted(group, key=lambda h: (h.authority, not h.summary))
        summary = next((h.summary for h in ordered if h.summary), "")
        if not summary:
            if descriptions is None:
                descriptions = run.store.nvd_descriptions(
                    i for h in hits for i in h.ids if i[:4] == "CVE-"
                )
            summary = next((descriptions[c] for c in sorted(ids) if c in descriptions), "")
        primary = preferred_id(ids)
        out.append(
            Finding(
                advisory_id=primary,
                aliases=tuple(sorted(ids - {primary})),
                package_name=pkg.name,
                package_version=pkg.version,
                package_purl=pkg.purl,
                package_type=pkg.type,
                ecosystem=ecosystem,
                layer=pkg.layer,
                fixed_versions=tuple(fixed),
                severity=score.severity,
                cvss_score=score.score,
                cvss_vector=score.vector,
                cvss_version=score.version,
                score_source=score_source,
                summary=summary,
                references=tuple(dict.fromkeys(r for h in group for r in h.references)),
                data_sources=tuple(sorted(set().union(*(h.sources for h in group)))),
                severity_notes=score.notes,
                distro_status=next((h.distro_status for h in authority), ""),
                distro_note=next((h.distro_note for h in authority), ""),
            )
        )
    return out
