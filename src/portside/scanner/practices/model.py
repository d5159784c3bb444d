"""The vocabulary of the best-practices review: checks, their results, and the policy.

A check is a stable fact about the store's expectations (its id never changes meaning, so
results can be compared across scans and exceptions can be granted by id). A result says
what the check found in one image, with evidence precise enough for a publisher to fix
it: the layer (index, digest and the command that built it) and the paths involved.
Evidence never carries a secret: messages and commands are passed through
:func:`portside.scanner.practices.secrets.redact` before they are stored.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from portside.core.records import field, record
from portside.scanner.catalogers.base import Context, Files
from portside.scanner.model import Inventory


class Level(StrEnum):
    """How much a failure matters to the store: fatal blocks, warn asks, info tells."""

    INFO = "info"
    WARN = "warn"
    FATAL = "fatal"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # the check could not be decided (missing input, or turned off)


@record
class Check:
    id: str  # "PS-001": stable, never reused
    title: str
    why: str  # why it matters
    fix: str  # how to fix it
    level: Level
    # Comparable checkpoints of other tools (Dockle's CIS-DI/DKL ids, Red Hat preflight's
    # check names), so a publisher who knows those tools knows what is meant.
    see_also: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "why": self.why,
            "fix": self.fix,
            "level": str(self.level),
            "see_also": list(self.see_also),
        }


@record
class Evidence:
    """Where a finding is: a layer (when one is to blame) and the paths concerned."""

    detail: str
    layer_index: int | None = None
    layer_digest: str = ""
    created_by: str = ""
    paths: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "detail": self.detail,
            "layer": None
            if self.layer_index is None
            else {
                "index": self.layer_index,
                "digest": self.layer_digest,
                "created_by": self.created_by,
            },
            "paths": list(self.paths),
        }


@record
class Result:
    check: Check
    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def id(self) -> str:
        return self.check.id

    @property
    def level(self) -> Level:
        return self.check.level

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.check.as_dict(),
            "status": str(self.status),
            "message": self.message,
            "evidence": [e.as_dict() for e in self.evidence],
        }


@record
class Policy:
    """The store's thresholds. Defaults follow common registry guidance."""

    max_layers: int = 20
    # Uncompressed: the regular files of every layer, those a later layer deleted or wrote
    # over included (their bytes are still pulled).
    max_image_bytes: int = 1024**3
    # Check ids that are not run (their results are SKIP): a store may not care, say,
    # about HEALTHCHECK for images that are only ever run by an orchestrator.
    disabled: frozenset[str] = field(default_factory=frozenset)
    # How many paths one piece of evidence lists before it says "and N more".
    max_paths: int = 50


class Analysed(Protocol):
    """What the review reads; ``portside.scanner.analyze.Analysis`` is one. An analysis
    may also have ``hidden`` (``portside.scanner.hidden.HiddenEntry`` items: what later
    layers deleted or wrote over); without it the review sees only the final layers."""

    @property
    def inventory(self) -> Inventory: ...
    @property
    def files(self) -> Files: ...
    @property
    def context(self) -> Context: ...
