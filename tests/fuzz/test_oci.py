"""Fuzzing the OCI formats: manifests and indexes, digests, repository names, tags and
references.

``parse_manifest`` takes the bytes a client pushed; whatever they are, it returns a
``Manifest`` or raises ``ManifestInvalid`` / ``Unsupported``, whose error body is strict
JSON (no ``Infinity``) and short (a detail is not a copy of the input). Valid manifests,
generated from the specification's grammar, parse to what they say, however they are
formatted. Digests and references round-trip through their text form.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from portside.oci import mediatypes as mt
from portside.oci.digest import Digest
from portside.oci.errors import (
    DigestInvalid,
    ManifestInvalid,
    NameInvalid,
    OCIError,
    TagInvalid,
    Unsupported,
)
from portside.oci.manifest import (
    MAX_DESCRIPTOR_SIZE,
    MAX_NESTING,
    Descriptor,
    Manifest,
    parse_manifest,
)
from portside.oci.reference import parse_reference, validate_name, validate_tag
from tests.fuzz.support import (
    NUMBERS,
    STRINGS,
    MiB,
    Raw,
    attempt,
    bounded_memory,
    deep_nesting,
    dumps,
    fuzz,
    mutate,
    mutate_bytes,
)

pytestmark = pytest.mark.nodb

#: The largest error body a refusal may send back.
MAX_ERROR_BODY = 1024

# --- valid documents, from the specification's grammar ---------------------------------------

storable = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
texts = st.text(storable, max_size=16)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
hex128 = st.text("0123456789abcdef", min_size=128, max_size=128)
digests = st.one_of(hex64.map("sha256:{}".format), hex128.map("sha512:{}".format))
_name = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,12}", fullmatch=True)
any_media_type = st.builds("{}/{}".format, _name, _name)
layer_types = (
    st.sampled_from([mt.OCI_LAYER, mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.DOCKER_LAYER_GZIP])
    | any_media_type
)
annotations = st.dictionaries(texts, texts, max_size=3)
platforms = st.fixed_dictionaries(
    {"architecture": texts, "os": texts},
    optional={"variant": texts, "os.version": texts, "os.features": st.lists(texts, max_size=2)},
)


@st.composite
def descriptors(draw: st.DrawFn, media_types: st.SearchStrategy[str] = layer_types) -> dict:
    document: dict[str, Any] = {"mediaType": draw(media_types)}
    if draw(st.booleans()):  # embedded data: digest and size must then be the content's
        content = draw(st.binary(max_size=32))
        document["digest"] = "sha256:" + hashlib.sha256(content).hexdigest()
        document["size"] = len(content)
        document["data"] = base64.b64encode(content).decode()
    else:
        document["digest"] = draw(digests)
        document["size"] = draw(st.integers(0, MAX_DESCRIPTOR_SIZE))
    for key, values in (
        ("annotations", annotations),
        ("urls", st.lists(texts.filter(bool), max_size=2)),
        ("artifactType", any_media_type),
    ):
        if draw(st.booleans()):
            document[key] = draw(values)
    return document


@st.composite
def image_manifests(draw: st.DrawFn) -> dict:
    config_type = draw(st.sampled_from([mt.OCI_CONFIG, mt.DOCKER_CONFIG, mt.OCI_EMPTY]))
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "config": draw(descriptors(st.just(config_type) | any_media_type)),
        "layers": draw(st.lists(descriptors(), max_size=4)),
    }
    if draw(st.booleans()):
        document["mediaType"] = draw(st.sampled_from(sorted(mt.IMAGE_TYPES)))
    if document["config"]["mediaType"] == mt.OCI_EMPTY or draw(st.booleans()):
        document["artifactType"] = draw(any_media_type)
    return _common(draw, document)


@st.composite
def indexes(draw: st.DrawFn) -> dict:
    children = descriptors(st.sampled_from(sorted(mt.MANIFEST_TYPES)))
    entries = draw(st.lists(children, max_size=4))
    for entry in entries:
        if draw(st.booleans()):
            entry["platform"] = draw(platforms)
    document: dict[str, Any] = {"schemaVersion": 2, "manifests": entries}
    if draw(st.booleans()):
        document["mediaType"] = draw(st.sampled_from(sorted(mt.INDEX_TYPES)))
    return _common(draw, document)


def _common(draw: st.DrawFn, document: dict) -> dict:
    if draw(st.booleans()):
        document["annotations"] = draw(annotations)
    if draw(st.booleans()):
        document["subject"] = draw(descriptors(st.sampled_from(sorted(mt.MANIFEST_TYPES))))
    return document


manifests = image_manifests() | indexes()


def content_type(document: dict) -> st.SearchStrategy[str | None]:
    """Headers a client could send with ``document``: none, its own type (with parameters,
    in another case), or a generic one."""
    own = document.get("mediaType") or (mt.OCI_INDEX if "manifests" in document else None)
    choices: list[str | None] = [None, "application/json", "application/octet-stream"]
    if own:
        choices += [own, f"{own}; charset=utf-8", own.upper()]
    return st.sampled_from(choices)


# --- what a parse must give ------------------------------------------------------------------


def expected_descriptor(document: dict) -> Descriptor:
    return Descriptor(
        media_type=document["mediaType"],
        digest=Digest.parse(document["digest"]),
        size=document["size"],
        artifact_type=document.get("artifactType"),
        annotations=document.get("annotations"),
        platform=document.get("platform"),
        urls=tuple(document.get("urls", ())),
    )


def check_refusal(exc: BaseException) -> None:
    """A refusal is one of the manifest's own errors, with a short, strict JSON body."""
    assert isinstance(exc, ManifestInvalid | Unsupported), repr(exc)
    body = json.dumps(exc.body(), allow_nan=False)
    assert len(body) <= MAX_ERROR_BODY, body[:300]


def check_manifest(manifest: Manifest) -> None:
    """What every accepted manifest holds, however hostile the bytes it came from."""
    assert manifest.media_type in mt.MANIFEST_TYPES
    assert manifest.schema_version == 2 and type(manifest.schema_version) is int
    assert (manifest.config is None) == manifest.is_index
    found = [*manifest.layers, *manifest.manifests]
    found += [d for d in (manifest.config, manifest.subject) if d is not None]
    for descriptor in found:
        assert type(descriptor.size) is int and 0 <= descriptor.size <= MAX_DESCRIPTOR_SIZE
        assert Digest.parse(str(descriptor.digest)) == descriptor.digest
        assert mt.is_valid(descriptor.media_type)
        assert all(isinstance(url, str) and url for url in descriptor.urls)
    for mapping in (manifest.annotations, *(d.annotations or {} for d in found)):
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
        for text in (*mapping, *mapping.values()):
            assert "\x00" not in text
            text.encode("utf-8")  # no unpaired surrogate


def parse(body: bytes, header: str | None) -> Manifest | BaseException:
    with bounded_memory(64 * MiB):
        outcome = attempt(lambda: parse_manifest(body, header), OCIError)
    if isinstance(outcome, BaseException):
        check_refusal(outcome)
    else:
        check_manifest(outcome)
    return outcome


# --- valid manifests round-trip ---------------------------------------------------------------


@fuzz(100)
@given(st.data(), manifests)
def test_valid_manifests_parse_to_what_they_say(data: st.DataObject, document: dict) -> None:
    header = data.draw(content_type(document))
    compact = json.dumps(document).encode()
    manifest = parse_manifest(compact, header)
    check_manifest(manifest)
    if "manifests" in document:
        assert manifest.is_index
        assert manifest.manifests == tuple(map(expected_descriptor, document["manifests"]))
    else:
        assert manifest.config == expected_descriptor(document["config"])
        assert manifest.layers == tuple(map(expected_descriptor, document["layers"]))
        assert manifest.artifact_type == document.get("artifactType")
    assert manifest.annotations == document.get("annotations", {})
    if "subject" in document:
        assert manifest.subject == expected_descriptor(document["subject"])
    # The same document formatted otherwise (keys sorted, indented, non-ASCII escaped or
    # not) is the same manifest.
    pretty = json.dumps(
        document, indent=data.draw(st.sampled_from([None, 1, "\t"])), sort_keys=True
    )
    again = parse_manifest(pretty.encode(), header)
    assert again == manifest
    assert parse_manifest(json.dumps(document, ensure_ascii=False).encode(), header) == manifest


# --- mutated manifests: parse or refuse --------------------------------------------------------


@fuzz(250)
@given(st.data(), manifests)
@example(data=None, document={"schemaVersion": Raw("1e999"), "config": {}})
@example(data=None, document={"schemaVersion": Raw("9" * 4299), "config": {}})
@example(data=None, document={"schemaVersion": 2, "mediaType": "a/" + "b" * 100_000})
def test_mutated_manifests_parse_or_are_refused(data: st.DataObject | None, document: Any) -> None:
    if data is not None:
        document = mutate(data, document)
    header = None if data is None else data.draw(content_type({}) | st.sampled_from(STRINGS))
    parse(dumps(document).encode("utf-8", "surrogatepass"), header)


@fuzz(120)
@given(st.data(), manifests)
def test_corrupted_manifest_bytes_parse_or_are_refused(data: st.DataObject, document: dict) -> None:
    body = mutate_bytes(data, json.dumps(document, indent=1).encode())
    parse(body, data.draw(content_type(document)))


@fuzz(40)
@given(st.sampled_from(["list", "object"]), st.integers(1, 200_000))
@example(kind="list", depth=MAX_NESTING - 1)
@example(kind="object", depth=MAX_NESTING)
def test_deep_nesting_is_refused_without_exhausting_recursion(kind: str, depth: int) -> None:
    """An unknown field nested ``depth`` levels deep in a valid manifest: accepted up to
    the limit, refused past it, at any depth without a RecursionError."""
    config = {"mediaType": mt.OCI_CONFIG, "digest": "sha256:" + "a" * 64, "size": 2}
    valid = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": config, "layers": []}
    )
    body = valid[:-1] + ',"other":' + deep_nesting(depth, kind).text + "}"
    outcome = parse(body.encode(), None)
    # The top object is level 1, so the innermost list or object is at depth + 1.
    if depth + 1 > MAX_NESTING:
        assert isinstance(outcome, ManifestInvalid)
    else:
        assert isinstance(outcome, Manifest)


@fuzz(80)
@given(
    st.sampled_from(["schemaVersion", "size", "annotation", "platform"]),
    st.sampled_from(NUMBERS),
)
def test_numbers_json_allows_but_python_writes_otherwise(where: str, number: str) -> None:
    """Numbers out of float or int range, -0, 2.0 and 2e0: parsed or refused, and never
    echoed in a form strict JSON cannot carry."""
    layer = {"mediaType": mt.OCI_LAYER, "digest": "sha256:" + "a" * 64, "size": 1}
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "config": {**layer, "mediaType": mt.OCI_CONFIG},
        "layers": [layer],
    }
    if where == "schemaVersion":
        document["schemaVersion"] = Raw(number)
    elif where == "size":
        layer["size"] = Raw(number)
    elif where == "annotation":
        document["annotations"] = {"n": Raw(number)}
    else:
        document = {
            "schemaVersion": 2,
            "manifests": [
                {
                    **layer,
                    "mediaType": mt.OCI_MANIFEST,
                    "platform": {"os": "linux", "architecture": Raw(number)},
                }
            ],
        }
    outcome = parse(dumps(document).encode(), None)
    if number in ("2.0", "2e0") and where == "schemaVersion":
        assert isinstance(outcome, ManifestInvalid)  # a float is not the integer 2


# --- digests and references ----------------------------------------------------------------------

digest_texts = st.one_of(
    digests,
    st.text(max_size=80),
    st.sampled_from(STRINGS),
    st.builds(
        "{}:{}".format,
        st.from_regex(r"[a-z0-9]+([+._-][a-z0-9]+)*", fullmatch=True),
        st.text(max_size=140),
    ),
    digests.map(lambda d: d + "\n"),
    digests.map(str.upper),
    hex64.map(lambda h: "sha256:" + h.replace("a", "\uff41")),  # a full-width letter
)


@fuzz(200)
@given(digest_texts)
def test_digest_text_round_trips_or_is_refused(text: str) -> None:
    outcome = attempt(lambda: Digest.parse(text), DigestInvalid)
    if isinstance(outcome, Digest):
        assert str(outcome) == text
        assert Digest.parse(str(outcome)) == outcome
    else:
        check_short(outcome)


@fuzz(40)
@given(st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.lists(st.text(max_size=4))))
def test_digests_of_other_types_are_refused(value: object) -> None:
    check_short(attempt(lambda: Digest.parse(value), DigestInvalid))  # type: ignore[arg-type]
    check_short(attempt(lambda: parse_reference(value), DigestInvalid, TagInvalid))  # type: ignore[arg-type]
    check_short(attempt(lambda: validate_name(value), NameInvalid))  # type: ignore[arg-type]


names = st.from_regex(
    r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*){0,3}", fullmatch=True
).filter(lambda name: len(name) <= 255)
tags = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", fullmatch=True)
reference_texts = st.one_of(
    names,
    tags,
    digests,
    st.text(max_size=300),
    st.sampled_from(STRINGS),
    names.map(lambda n: n + "/"),
    names.map(lambda n: "/" + n),
    tags.map(lambda t: t + "\n"),
    st.text("abcxyz09._-/:", max_size=300),
)


@fuzz(150)
@given(reference_texts)
def test_names_tags_and_references_round_trip_or_are_refused(text: str) -> None:
    for outcome in (
        attempt(lambda: validate_name(text), NameInvalid),
        attempt(lambda: validate_tag(text), TagInvalid),
    ):
        if isinstance(outcome, str):
            assert outcome == text
        else:
            check_short(outcome)
    reference = attempt(lambda: parse_reference(text), DigestInvalid, TagInvalid)
    if isinstance(reference, Digest):
        assert str(reference) == text
    elif isinstance(reference, str):
        assert reference == text and ":" not in text
    else:
        check_short(reference)


def check_short(exc: BaseException) -> None:
    assert isinstance(exc, OCIError), repr(exc)
    body = json.dumps(exc.body(), allow_nan=False)
    assert len(body) <= MAX_ERROR_BODY, body[:300]
