"""What the fuzz modules share: Hypothesis profiles, the outcome and memory checks, and a
JSON mutation engine that can write what ``json.dumps`` never writes.

Profiles. ``PORTSIDE_FUZZ`` picks one (default ``ci``):

* ``ci``: each test runs its fixed number of examples, derandomised (the same examples on
  every run, so a failure in CI is a failure on every machine) and with no example
  database; the deadline is a ceiling for one example far above what a healthy parser
  needs, so a pathological slowdown fails without timing noise doing so.
* ``deep``: fifty times the examples, random, for a long run on a workstation.

``attempt`` runs a parser and returns its result or the refusal it was allowed to raise;
anything else propagates and fails the test. ``bounded_memory`` fails a block whose peak
of traced allocations passes a bound.
"""

from __future__ import annotations

import copy
import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

MiB = 1024 * 1024

PROFILE = os.environ.get("PORTSIDE_FUZZ", "ci")
_SCALE = {"ci": 1, "deep": 50}
if PROFILE not in _SCALE:
    raise RuntimeError(f"PORTSIDE_FUZZ must be one of {', '.join(_SCALE)}, not {PROFILE!r}")

#: The longest one test may run before the hang guard (conftest) stops it.
TIME_LIMIT = 90.0 if PROFILE == "ci" else None

_COMMON: dict[str, Any] = {
    "database": None,
    "deadline": timedelta(seconds=5),
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}
settings.register_profile("portside-fuzz-ci", derandomize=True, **_COMMON)
settings.register_profile("portside-fuzz-deep", derandomize=False, **_COMMON)


def fuzz(examples: int) -> settings:
    """The settings of a fuzz test that runs ``examples`` examples in CI."""
    return settings(
        settings.get_profile(f"portside-fuzz-{PROFILE}"), max_examples=examples * _SCALE[PROFILE]
    )


# --- outcomes ----------------------------------------------------------------------------


def attempt[T](run: Callable[[], T], *allowed: type[BaseException]) -> T | BaseException:
    """``run()``'s result, or the exception it raised if it is one of ``allowed``."""
    try:
        return run()
    except allowed as exc:
        return exc


@contextmanager
def bounded_memory(limit: int) -> Iterator[None]:
    """Fail when the block's peak of traced allocations (all threads) passes ``limit``."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        if started:
            tracemalloc.stop()
    used = peak - base
    assert used <= limit, f"the parser's memory peaked at {used} bytes (bound {limit})"


# --- writing JSON that json.dumps would not write -------------------------------------------


@dataclass(frozen=True)
class Raw:
    """A token written as it is: 1e999, a 5000-digit number, -0, or a deep nesting."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """An object written from its pairs, so that a key can appear twice."""

    items: tuple[tuple[str, Any], ...]


def dumps(value: Any) -> str:
    """JSON text for ``value``, with ``Raw`` tokens and ``Pairs`` objects written as is."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        body = ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items)
        return "{" + body + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


# --- hostile values -----------------------------------------------------------------------

NUMBERS = [
    "1e999",
    "-1e999",
    "1E400",
    "9" * 4299,
    "9" * 5000,
    "-0",
    "0.0",
    "2.0",
    "2e0",
    "1.5",
    str(2**63),
    str(2**63 - 1),
    str(2**64),
    str(-(2**63) - 1),
    "-1",
    "1" + "0" * 400,
    "0." + "0" * 400 + "1",
]

STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "\ud83d\ude00",
    "\u202e",
    "\ufeff",
    "\n",
    "../../etc/passwd",
    "/etc/passwd",
    "a" * 300,
    "x" * 70_000,
    "sha256:",
    "sha256:" + "a" * 64,
    "SHA256:" + "A" * 64,
    "sha256:" + "a" * 63,
    "sha512:" + "a" * 64,
    "md5:" + "a" * 32,
    "application/json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "text/html; charset=utf-8",
    "<script>alert(1)</script>",
    "0",
    "2",
    "1",
]


def deep_nesting(depth: int, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * depth + "]" * depth)
    return Raw('{"a":' * depth + "0" + "}" * depth)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=24),
    st.sampled_from(STRINGS),
    st.sampled_from(NUMBERS).map(Raw),
)

hostile = st.one_of(
    st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(st.text(max_size=8), children, max_size=4),
        ),
        max_leaves=10,
    ),
    st.builds(deep_nesting, st.integers(60, 3000), st.sampled_from(["list", "object"])),
)


# --- mutating documents ---------------------------------------------------------------------

Path = tuple[Any, ...]


def _paths(value: Any, prefix: Path = ()) -> list[Path]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _get(value: Any, path: Path) -> Any:
    for step in path:
        value = value[step]
    return value


def _set(root: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    _get(root, path[:-1])[path[-1]] = new
    return root


def _string_mutation(data: st.DataObject, text: str) -> str:
    how = data.draw(st.sampled_from(["cut", "insert", "case", "repeat", "pad"]))
    if how == "cut":
        return text[: data.draw(st.integers(0, max(len(text) - 1, 0)))]
    if how == "insert":
        at = data.draw(st.integers(0, len(text)))
        return (
            text[:at] + data.draw(st.sampled_from(STRINGS[:12]) | st.text(max_size=3)) + text[at:]
        )
    if how == "case":
        return text.swapcase()
    if how == "repeat":
        return text * data.draw(st.integers(2, 50))
    return data.draw(st.sampled_from([" ", "\n", "\t", "\x00"])) + text


def mutate(data: st.DataObject, document: Any, *, most: int = 4) -> Any:
    """``document`` after one to ``most`` structural mutations, each at a node drawn from
    the whole tree: a hostile value in its place, the node removed, its key repeated
    (a duplicate key), a key added or renamed, the node wrapped in a list or an object,
    a string cut or padded, a list emptied or repeated."""
    root = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, most), label="mutations")):
        paths = _paths(root)
        path = data.draw(st.sampled_from(paths), label="at")
        node = _get(root, path)
        parent = _get(root, path[:-1]) if path else None
        how = data.draw(
            st.sampled_from(
                ["replace", "replace", "remove", "duplicate", "add", "rename", "wrap", "edit"]
            ),
            label="how",
        )
        if how == "replace":
            root = _set(root, path, data.draw(hostile, label="value"))
        elif how == "remove" and isinstance(parent, dict | list):
            del parent[path[-1]]
        elif how == "duplicate" and isinstance(parent, dict):
            again = data.draw(st.sampled_from([node, copy.deepcopy(node)]) | hostile)
            items = [*parent.items(), (path[-1], again)]
            if data.draw(st.booleans(), label="first"):
                items.insert(0, items.pop())
            root = _set(root, path[:-1], Pairs(tuple(items)))
        elif how == "add" and isinstance(node, dict):
            key = data.draw(st.text(max_size=12) | st.sampled_from(STRINGS), label="key")
            node[key] = data.draw(hostile, label="value")
        elif how == "rename" and isinstance(parent, dict):
            key = data.draw(st.text(max_size=12) | st.sampled_from(STRINGS), label="key")
            parent[key] = parent.pop(path[-1])
        elif how == "wrap":
            root = _set(root, path, data.draw(st.sampled_from([[node], {"value": node}])))
        elif how == "edit" and isinstance(node, str):
            root = _set(root, path, _string_mutation(data, node))
        elif how == "edit" and isinstance(node, list):
            edited = [] if data.draw(st.booleans()) else node * data.draw(st.integers(2, 200))
            root = _set(root, path, edited)
        elif how == "edit" and isinstance(node, int) and not isinstance(node, bool):
            root = _set(root, path, data.draw(st.sampled_from([-node, node + 1, str(node)])))
        if not isinstance(root, dict | list):
            break
    return root


INVALID_UTF8 = [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf8\x88\x80\x80\x80"]


def mutate_bytes(data: st.DataObject, body: bytes, *, most: int = 3) -> bytes:
    """``body`` after one to ``most`` byte-level mutations: bytes flipped, removed,
    inserted or repeated, the end cut off, invalid UTF-8 spliced in, a BOM in front."""
    out = bytearray(body)
    for _ in range(data.draw(st.integers(1, most), label="byte mutations")):
        how = data.draw(
            st.sampled_from(["flip", "remove", "insert", "cut", "repeat", "utf8", "bom"]),
            label="how",
        )
        at = data.draw(st.integers(0, len(out)), label="at")
        if how == "flip" and at < len(out):
            out[at] ^= data.draw(st.integers(1, 255))
        elif how == "remove":
            del out[at : at + data.draw(st.integers(1, 16))]
        elif how == "insert":
            out[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        elif how == "cut":
            del out[at:]
        elif how == "repeat":
            out[at:at] = out[at : at + data.draw(st.integers(1, 64))] * data.draw(
                st.integers(1, 20)
            )
        elif how == "utf8":
            out[at:at] = data.draw(st.sampled_from(INVALID_UTF8))
        elif how == "bom":
            out[0:0] = b"\xef\xbb\xbf"
    return bytes(out)
