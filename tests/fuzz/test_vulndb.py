"""Fuzzing the vulnerability feed importers: OSV (JSON and YAML), the Debian tracker,
Alpine's secdb and NVD 2.0, from real-shaped documents mutated structurally.

A document is parsed into records or refused with ``MalformedInput``, never another
exception; what is accepted is written to a real store (SQLite) and read back unchanged,
so a document that parses but cannot be stored is caught too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from portside.vulndb.errors import MalformedInput, VulnDBError
from portside.vulndb.importers._input import load_document, load_json, load_yaml
from portside.vulndb.importers.alpine import parse_alpine
from portside.vulndb.importers.debian import parse_debian
from portside.vulndb.importers.nvd import parse_nvd
from portside.vulndb.importers.osv import parse_record
from portside.vulndb.model import Advisory
from portside.vulndb.store import VulnStore
from tests.fuzz import feeds
from tests.fuzz.support import MiB, Raw, attempt, bounded_memory, dumps, fuzz, mutate

pytestmark = pytest.mark.nodb


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VulnStore]:
    with VulnStore.open(tmp_path_factory.mktemp("vulndb") / "fuzz.sqlite") as opened:
        yield opened


def parsed(run: Any) -> Any:
    """``run()``'s records, or the refusal it raised (which must be a MalformedInput)."""
    with bounded_memory(64 * MiB):
        outcome = attempt(run, VulnDBError)
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, MalformedInput), repr(outcome)
        assert len(str(outcome)) < 2000
    return outcome


def encoded(document: Any) -> bytes:
    return dumps(document).encode("utf-8", "surrogatepass")


# --- OSV -------------------------------------------------------------------------------------

osv_seeds = st.sampled_from([feeds.osv_ghsa(), feeds.osv_go()])


def stored_advisory(store: VulnStore, advisory: Advisory) -> None:
    """Written and read back, the advisory is the same."""
    store.replace_advisories("fuzz", [advisory], kind="osv", digest="sha256:0", origin="fuzz")
    assert store.get_advisory(advisory.id, source="fuzz") == advisory


@fuzz(200)
@given(st.data(), osv_seeds)
@example(data=None, document={"id": "GHSA-1", "summary": "\ud800"})
@example(
    data=None,
    document={"id": "GHSA-1", "affected": [{"package": {"ecosystem": "PyPI", "name": "a\udc00"}}]},
)
@example(data=None, document={"id": "GHSA-1", "database_specific": {"n": Raw("9" * 4301)}})
@example(data=None, document={"id": "GHSA-1", "database_specific": {"n": Raw("NaN")}})
def test_osv_json_records_parse_and_store_or_are_refused(
    store: VulnStore, data: st.DataObject | None, document: Any
) -> None:
    if data is not None:
        document = mutate(data, document)
    body = encoded(document)
    outcome = parsed(lambda: parse_record("a.json", load_document("a.json", body)))
    if isinstance(outcome, Advisory):
        stored_advisory(store, outcome)


YAML_VALUES = [
    "!!float abc",
    "!!int abc",
    "!!int 0x",
    "!!bool maybe",
    "!!timestamp yesterday",
    "2024-13-45",
    "2024-02-30 10:00:00",
    "2001-12-14t21:59:43.10-05:00",
    "0x" + "f" * 5000,
    "1" * 5000,
    "0b" + "1" * 20000,
    "1:30:00",
    ".nan",
    "-.inf",
    "!!binary AAAA",
    "!!binary '!!!'",
    "!!python/object/apply:os.system ['true']",
    "!!set {a, b}",
    "!!omap [a: 1, b: 2]",
    "!!pairs [a: 1]",
    "[&a x, *a]",
    "{? [a]: b}",
    "{2024-01-01: x}",
    "{1: x}",
    "!<tag:yaml.org,2002:int> 12x",
    "!custom x",
    "[" * 120 + "]" * 120,
    '"\\ud800"',
    '"\\x00"',
    "~",
    "yes",
    '"' + "x" * 200_000 + '"',
]


@fuzz(120)
@given(osv_seeds, st.data(), st.sampled_from(YAML_VALUES))
def test_osv_yaml_records_parse_and_store_or_are_refused(
    store: VulnStore, document: dict, data: st.DataObject, value: str
) -> None:
    """A YAML record with a hostile node (a tag, a bad date, a huge number, an alias, a
    set) in place of one of its values."""
    leaves = [p for p in _paths(document) if not isinstance(_get(document, p), dict | list)]
    path = data.draw(st.sampled_from(leaves))
    target = copy.deepcopy(document)
    _get(target, path[:-1])[path[-1]] = "__HOSTILE__"
    text = yaml.safe_dump(target, sort_keys=False).replace("__HOSTILE__", value)
    outcome = parsed(lambda: parse_record("a.yaml", load_document("a.yaml", text.encode())))
    if isinstance(outcome, Advisory):
        stored_advisory(store, outcome)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


# --- distributions and NVD -----------------------------------------------------------------------


@fuzz(120)
@given(st.data())
@example(data=None)
def test_debian_tracker_documents_parse_and_store_or_are_refused(
    store: VulnStore, data: st.DataObject | None
) -> None:
    document: Any = feeds.debian_tracker()
    if data is None:
        document["openssl"]["CVE-2023-0286"]["description"] = "\udfff"
    else:
        document = mutate(data, document)
    body = encoded(document)
    outcome = parsed(lambda: parse_debian("tracker.json", load_json("tracker.json", body)))
    if isinstance(outcome, list):
        check_distro_records(store, outcome)


@fuzz(120)
@given(st.data())
def test_alpine_secdb_documents_parse_and_store_or_are_refused(
    store: VulnStore, data: st.DataObject
) -> None:
    body = encoded(mutate(data, feeds.alpine_secdb()))
    outcome = parsed(lambda: parse_alpine("main.json", load_json("main.json", body)))
    if isinstance(outcome, list):
        check_distro_records(store, outcome)


def check_distro_records(store: VulnStore, records: list[Any]) -> None:
    store.replace_distro("fuzz", records, kind="fuzz", digest="sha256:0", origin="fuzz")
    back = []
    for distro, release in {(r.distro, r.release) for r in records}:
        packages = {r.package for r in records if (r.distro, r.release) == (distro, release)}
        back += [r for source, r in store.distro_records(distro, release, packages)]
    assert sorted(back, key=repr) == sorted(records, key=repr)


@fuzz(100)
@given(st.data())
@example(data=None)
def test_nvd_pages_parse_and_store_or_are_refused(
    store: VulnStore, data: st.DataObject | None
) -> None:
    document: Any = feeds.nvd_page()
    if data is None:
        metric = document["vulnerabilities"][0]["cve"]["metrics"]["cvssMetricV31"][0]
        metric["cvssData"]["baseScore"] = Raw("1" + "0" * 400)
    else:
        document = mutate(data, document)
    body = encoded(document)
    outcome = parsed(lambda: parse_nvd("page.json", load_json("page.json", body)))
    if isinstance(outcome, list):
        store.replace_nvd("fuzz", outcome, digest="sha256:0", origin="fuzz")
        cves = [r.cve for r in outcome]
        metrics = store.cvss_metrics(cves)
        for record in outcome:
            assert tuple(metrics.get(record.cve, ())) == record.metrics


# --- the loaders alone -----------------------------------------------------------------------


@fuzz(150)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
@example(b"1" * 5000)
@example(b'{"a": NaN}')
@example(b'["\\ud800"]')
@example(b"[" * 100_000)
def test_json_loader_gives_json_or_malformed_input(body: bytes) -> None:
    outcome = parsed(lambda: load_json("x.json", body))
    if not isinstance(outcome, BaseException):
        text = json.dumps(outcome, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")  # strict JSON, and storable as UTF-8


@fuzz(150)
@given(
    st.binary(max_size=200)
    | st.lists(st.sampled_from([*YAML_VALUES[:26], "a:", "- ", "\n", " "]), max_size=6).map(
        lambda x: " ".join(x).encode()
    )
)
@example(b"a: 2024-13-45\n")
@example(b"a: !!float abc\n")
@example(b"a: 0x" + b"f" * 5000 + b"\n")
@example(b"a: .nan\n")
def test_yaml_loader_gives_json_data_or_malformed_input(body: bytes) -> None:
    outcome = parsed(lambda: load_yaml("x.yaml", body))
    if not isinstance(outcome, BaseException):
        text = json.dumps(outcome, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
