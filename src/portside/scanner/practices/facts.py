"""What every check reads, prepared once per review, and the registry of checks.

The image config is outside data: any field may be missing or of the wrong type, so the
accessors here return empty values instead of raising, and each check decides what an
absent field means. Beside the final file system, ``Facts.hidden`` holds the files and
links of lower layers that a later layer deleted or wrote over: not in the final view,
but shipped with the image. Checks return an :class:`Outcome`; :func:`result` turns it
into a :class:`Result` and passes every message, command and path through ``redact`` on
the way, so no check can leak a credential by quoting what it saw.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from portside.core.records import replace
from portside.scanner.catalogers.base import Entry, Files
from portside.scanner.hidden import DELETED, HiddenEntry
from portside.scanner.model import Inventory, Layer
from portside.scanner.practices.model import (
    Analysed,
    Check,
    Evidence,
    Level,
    Policy,
    Result,
    Status,
)
from portside.scanner.practices.secrets import redact


@dataclass(frozen=True)
class HistoryStep:
    """One history entry; ``layer`` is None for steps that made no layer (ENV, LABEL)."""

    layer: int | None
    created_by: str


@dataclass
class Facts:
    inventory: Inventory
    files: Files
    index: Mapping[str, Entry]
    layers: tuple[Layer, ...]
    policy: Policy
    today: dt.date
    tags: Sequence[str] | None
    container: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryStep] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    hidden: Sequence[HiddenEntry] = ()

    @classmethod
    def of(
        cls,
        analysis: Analysed,
        *,
        policy: Policy,
        today: dt.date,
        tags: Sequence[str] | None,
    ) -> Facts:
        inventory = analysis.inventory
        config = inventory.config if isinstance(inventory.config, dict) else {}
        container = config.get("config")
        container = container if isinstance(container, dict) else {}
        raw_labels = container.get("Labels")
        labels = (
            {str(k): str(v) for k, v in raw_labels.items()} if isinstance(raw_labels, dict) else {}
        )
        layers = analysis.context.layers or inventory.layers
        return cls(
            inventory=inventory,
            files=analysis.files,
            index=analysis.context.index,
            layers=layers,
            policy=policy,
            today=today,
            tags=tags,
            container=container,
            history=_history(config, layers),
            labels=labels,
            # An analysis made before hidden entries were recorded has none to give.
            hidden=tuple(getattr(analysis, "hidden", ())),
        )

    def text(self, key: str) -> str:
        """A string field of the container config, or "" when absent or not a string."""
        value = self.container.get(key)
        return value if isinstance(value, str) else ""

    def env(self) -> list[tuple[str, str]]:
        values = self.container.get("Env")
        pairs = []
        for item in values if isinstance(values, list) else ():
            if isinstance(item, str):
                name, _, value = item.partition("=")
                pairs.append((name, value))
        return pairs

    def layer(self, index: int | None, detail: str, paths: Iterable[str] = ()) -> Evidence:
        """Evidence pointing at a layer by index (None: the config itself)."""
        shown, more = cap(sorted(paths), self.policy.max_paths)
        detail = f"{detail} (and {more} more)" if more else detail
        if index is None or not 0 <= index < len(self.layers):
            return Evidence(detail=detail, paths=shown)
        layer = self.layers[index]
        return Evidence(
            detail=detail,
            layer_index=layer.index,
            layer_digest=layer.digest,
            created_by=layer.created_by,
            paths=shown,
        )

    @cached_property
    def _hidden_at(self) -> dict[tuple[str, int], HiddenEntry]:
        return {(item.path, item.layer): item for item in self.hidden}

    def hider(self, path: str, layer: int) -> HiddenEntry | None:
        """What hides the version of ``path`` that ``layer`` wrote, if a later layer does."""
        return self._hidden_at.get((path, layer))

    def describe_layer(self, index: int) -> str:
        """``layer 2 (sha256:0123456789ab, RUN rm -rf /var/lib/apt/lists/*)``: the index,
        the short digest and the command, when known. The command is redacted before it
        is cut short, so a credential cannot escape redaction by being cut in half."""
        if not 0 <= index < len(self.layers):
            return f"layer {index}"
        layer = self.layers[index]
        known = []
        if layer.digest:
            algorithm, _, hexdigest = layer.digest.partition(":")
            known.append(f"{algorithm}:{hexdigest[:12]}" if hexdigest else layer.digest[:20])
        command = " ".join(redact(layer.created_by).split())
        command = _SHELL.sub("", command)
        if command:
            known.append(
                command if len(command) <= COMMAND_CHARS else command[:COMMAND_CHARS] + "..."
            )
        return f"layer {index} ({', '.join(known)})" if known else f"layer {index}"

    def hidden_detail(self, added: int, by: int, how: str) -> str:
        """``added by layer 1 (...) and deleted by layer 2 (...)``."""
        verb = "deleted" if how == DELETED else "written over"
        return f"added by {self.describe_layer(added)} and {verb} by {self.describe_layer(by)}"


# How much of a layer's command a message quotes, after the shell prefix of classic
# builders (``/bin/sh -c #(nop) ``), which says nothing about the step.
COMMAND_CHARS = 80
_SHELL = re.compile(r"^/bin/(?:ba)?sh -c (?:#\(nop\) *)?")


def _history(config: Mapping[str, Any], layers: Sequence[Layer]) -> list[HistoryStep]:
    """The build steps, each tied to its layer: non-empty entries map to layers in order."""
    raw = config.get("history")
    if not isinstance(raw, list) or not raw:
        return [HistoryStep(layer.index, layer.created_by) for layer in layers]
    steps = []
    position = 0
    for entry in raw:
        if not isinstance(entry, dict):
            continue
        created_by = entry.get("created_by")
        text = created_by if isinstance(created_by, str) else ""
        if entry.get("empty_layer") is True:
            steps.append(HistoryStep(None, text))
        else:
            steps.append(HistoryStep(position if position < len(layers) else None, text))
            position += 1
    return steps


def cap(items: Sequence[str], limit: int) -> tuple[tuple[str, ...], int]:
    """At most ``limit`` items, and how many were left out."""
    return tuple(items[:limit]), max(0, len(items) - limit)


@dataclass(frozen=True)
class Outcome:
    status: Status
    message: str
    evidence: tuple[Evidence, ...] = ()


def passed(message: str) -> Outcome:
    return Outcome(Status.PASS, message)


def failed(message: str, evidence: Iterable[Evidence] = ()) -> Outcome:
    return Outcome(Status.FAIL, message, tuple(evidence))


def skipped(message: str) -> Outcome:
    return Outcome(Status.SKIP, message)


def result(check: Check, outcome: Outcome) -> Result:
    """The outcome as a result, with every string that reaches a person redacted."""
    return Result(
        check=check,
        status=outcome.status,
        message=redact(outcome.message),
        evidence=tuple(
            replace(
                e,
                detail=redact(e.detail),
                created_by=redact(e.created_by),
                paths=tuple(redact(p) for p in e.paths),
            )
            for e in outcome.evidence
        ),
    )


CheckFunction = Callable[[Facts], Outcome]
REGISTRY: dict[str, tuple[Check, CheckFunction]] = {}


def check(
    id: str, title: str, level: Level, *, why: str, fix: str, see_also: tuple[str, ...] = ()
) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check function under a stable id (a duplicate id is a programming error)."""

    def register(function: CheckFunction) -> CheckFunction:
        if id in REGISTRY:
            raise RuntimeError(f"check {id} is defined twice")
        REGISTRY[id] = (
            Check(id=id, title=title, why=why, fix=fix, level=level, see_also=see_also),
            function,
        )
        return function

    return register


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else many or word + 's'}"
