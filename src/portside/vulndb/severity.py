"""CVSS scores and Portside's severity classes.

A finding can carry several CVSS vectors: the distribution's (an OSV record of a
distribution ecosystem that has a ``severity``), NVD's (a CVE's metrics) and the
advisory's own (an OSV ``severity`` of a language advisory). The caller orders the three
sources (default :data:`DEFAULT_PREFERENCE`: distribution, then NVD, then the advisory);
the first source with a vector that parses gives the score. Within a source NVD's
``Primary`` assessment comes before ``Secondary`` ones, then newer CVSS versions before
older. The score is always computed from the vector with the ``cvss`` library (CVSS 2.0,
3.0, 3.1 and 4.0), never copied from a feed's stated score, so every finding is scored by
the same arithmetic.

The class follows the store's SLA policy:

========== ============== ===================
class      CVSS base      fix within
========== ============== ===================
critical   7.0 - 10.0     72 hours
major      4.0 - 6.9      7 days
minor      0.1 - 3.9      no deadline
minor      0.0            no deadline
unknown    no score       no deadline
========== ============== ===================

A 0.0 score is ``minor``: the vector says the issue has no impact, which is still a
known, assessed issue rather than an unknown one, and it carries no deadline.

A vector that cannot be parsed never raises out of scoring: it is passed over with a
note, and when no vector is usable the class is ``unknown`` with the notes saying why.

A Debian package's finding with no usable vector at all (the tracker's ``TEMP-`` ids, a
CVE that NVD has not scored yet) takes its class from the security tracker's urgency
instead (:func:`urgency_score`), by the CVSS rating that urgency names: ``high`` is
CVSS's High (7.0 - 8.9), so ``critical``; ``medium`` is ``major``; ``low`` and
``unimportant`` are ``minor``. ``not yet assigned``, ``end-of-life`` and anything else
say nothing about severity and stay ``unknown``. Such a finding has no score, and its
notes say where the class came from.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from portside.vulndb.errors import InvalidVector, VulnDBError
from portside.vulndb.model import SLA, SeverityClass


class ScoreSource(enum.StrEnum):
    DISTRO = "distro"
    NVD = "nvd"
    ADVISORY = "advisory"


DEFAULT_PREFERENCE: tuple[ScoreSource, ...] = (
    ScoreSource.DISTRO,
    ScoreSource.NVD,
    ScoreSource.ADVISORY,
)


def parse_preference(names: Iterable[str]) -> tuple[ScoreSource, ...]:
    """A preference from configuration (``["nvd", "advisory"]``); unknown names and
    repeats are refused rather than ignored."""
    out: list[ScoreSource] = []
    for name in names:
        try:
            source = ScoreSource(name.strip().lower())
        except ValueError:
            choices = ", ".join(s.value for s in ScoreSource)
            raise VulnDBError(f"unknown score source {name!r}; use {choices}") from None
        if source in out:
            raise VulnDBError(f"score source {name!r} is given twice")
        out.append(source)
    if not out:
        raise VulnDBError("the score preference names no source")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One vector offered for a finding: whose it is, and how to rank it in its source."""

    source: ScoreSource
    vector: str
    origin: str = ""  # the advisory id or NVD assessor, for notes
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Score:
    """The chosen score (or the lack of one) and the reasons behind it."""

    severity: SeverityClass
    score: float | None = None
    vector: str = ""
    version: str = ""
    source: ScoreSource | None = None
    notes: tuple[str, ...] = ()


UNSCORED = Score(SeverityClass.UNKNOWN)


#: the Debian security tracker's urgency -> class, for a finding without a CVSS score
URGENCY_CLASSES: dict[str, SeverityClass] = {
    "high": SeverityClass.CRITICAL,
    "medium": SeverityClass.MAJOR,
    "low": SeverityClass.MINOR,
    "unimportant": SeverityClass.MINOR,
}


def urgency_score(urgency: str) -> Score | None:
    """The class the tracker's ``urgency`` gives a finding that has no CVSS score, or
    ``None`` when the urgency says nothing about severity (see the module docstring)."""
    word = urgency.rstrip("*").strip().lower()
    severity = URGENCY_CLASSES.get(word)
    if severity is None:
        return None
    return Score(
        severity,
        notes=(f"no CVSS score; the class follows the Debian security tracker's urgency {word!r}",),
    )


def classify(score: float | None) -> SeverityClass:
    if score is None:
        return SeverityClass.UNKNOWN
    if score >= 7.0:
        return SeverityClass.CRITICAL
    if score >= 4.0:
        return SeverityClass.MAJOR
    return SeverityClass.MINOR


def sla_for(severity: SeverityClass) -> dt.timedelta | None:
    """How long a finding of this class may stay unfixed (``None``: no deadline)."""
    return SLA[severity]


def cvss_version(vector: str) -> str:
    """``"4.0"``, ``"3.1"``, ``"3.0"`` or ``"2.0"`` from the vector's prefix (CVSS 2
    vectors have none)."""
    text = vector.strip()
    for prefix, version in (("CVSS:4.0/", "4.0"), ("CVSS:3.1/", "3.1"), ("CVSS:3.0/", "3.0")):
        if text.startswith(prefix):
            return version
    if text.startswith("CVSS:"):
        raise InvalidVector(f"{vector!r}: unknown CVSS version {text.split('/')[0]!r}")
    return "2.0"


@functools.lru_cache(maxsize=65536)
def base_score(vector: str) -> tuple[float, str]:
    """The base score and CVSS version of ``vector``; raises :class:`InvalidVector`."""
    if not isinstance(vector, str) or not vector.strip() or len(vector) > 512:
        raise InvalidVector(f"{vector!r} is not a CVSS vector")
    version = cvss_version(vector)
    text = vector.strip()
    if version == "2.0" and text.startswith("(") and text.endswith(")"):
        text = text[1:-1]  # NVD's older spelling of CVSS 2 vectors
    try:
        if version == "4.0":
            value: Decimal | float = CVSS4(text).base_score
        elif version == "2.0":
            value = CVSS2(text).base_score
        else:
            value = CVSS3(text).base_score
    except CVSSError as exc:
        raise InvalidVector(f"{vector!r}: {exc}") from None
    except (ValueError, KeyError, IndexError, TypeError, ArithmeticError) as exc:
        raise InvalidVector(f"{vector!r}: {type(exc).__name__}: {exc}") from None
    return float(value), version


_VERSION_RANK = {"4.0": 4, "3.1": 3, "3.0": 2, "2.0": 1}


def _rank(candidate: Candidate) -> tuple[int, int]:
    try:
        version = cvss_version(candidate.vector)
    except InvalidVector:
        version = ""
    return (0 if candidate.primary else 1, -_VERSION_RANK.get(version, 0))


def choose(
    candidates: Iterable[Candidate], preference: Sequence[ScoreSource] = DEFAULT_PREFERENCE
) -> Score:
    """The score of the best usable candidate under ``preference`` (see the module
    docstring). Candidates from a source not in ``preference`` are not used."""
    pool = list(dict.fromkeys(candidates))
    if not pool:
        return UNSCORED
    notes: list[str] = []
    for source in preference:
        ranked = sorted((c for c in pool if c.source == source), key=_rank)
        for candidate in ranked:
            try:
                score, version = base_score(candidate.vector)
            except InvalidVector as exc:
                origin = f" from {candidate.origin}" if candidate.origin else ""
                notes.append(f"{source.value} vector{origin} ignored: {exc.message}")
                continue
            return Score(
                severity=classify(score),
                score=score,
                vector=candidate.vector.strip(),
                version=version,
                source=source,
                notes=tuple(notes),
            )
    if not notes:
        return UNSCORED
    return Score(SeverityClass.UNKNOWN, notes=tuple(notes))


def osv_candidates(
    entries: Iterable[tuple[str, str]], source: ScoreSource, origin: str
) -> list[Candidate]:
    """Candidates from OSV ``severity`` items given as ``(type, score)``: the CVSS
    types only (``Ubuntu`` priorities and other words are not CVSS)."""
    out = []
    for kind, score in entries:
        if kind in ("CVSS_V2", "CVSS_V3", "CVSS_V4"):
            out.append(Candidate(source, score, origin))
    return out
