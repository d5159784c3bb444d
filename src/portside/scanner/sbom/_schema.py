"""The CycloneDX 1.6 JSON schema check, in linear time.

cyclonedx-python-lib ships the schema and a validator built on ``jsonschema``. That
validator is correct but checks ``uniqueItems`` by comparing every pair of items when the
items are objects, and the schema puts ``uniqueItems`` on ``components``,
``dependencies`` and ``dependsOn``: an image with 4,000 packages took minutes. This module
runs the same schema files, with the same format checker and references, and replaces
only that keyword with one that compares canonical encodings in a set. The tests check the
result with the library's own validator as well.

:class:`ComponentCheck` checks a document's components a chunk at a time and checks each
distinct licence list and property once: the schema's ``component`` is an object whose
properties are checked each on its own, ``licenses`` is one value checked as a whole and
``properties`` an array whose items are checked each on its own, so leaving out a value
already found valid changes no verdict. An image repeats a handful of licences and many
properties (its layers, its catalogers), which were most of the cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.schema._res import BOM_JSON_STRICT, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON
from jsonschema import Draft7Validator, ValidationError, validators
from referencing import Registry
from referencing.jsonschema import DRAFT7

_SCHEMA_PREFIX = "http://cyclonedx.org/schema/"


def _canonical(value: Any) -> Any:
    """A form in which JSON-Schema-equal values are equal Python values.

    JSON Schema treats ``1`` and ``1.0`` as the same number but ``true`` and ``1`` as
    different values; ``json.dumps`` with sorted keys then gives one string per value.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _unique_items(
    validator: Any, unique: bool, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if not unique or not validator.is_type(instance, "array"):
        return
    seen: set[str] = set()
    for position, item in enumerate(instance):
        key = json.dumps(_canonical(item), sort_keys=True, ensure_ascii=True)
        if key in seen:
            yield ValidationError(f"item {position} repeats an earlier item: {key[:200]}")
            return
        seen.add(key)


_LinearDraft7 = validators.extend(Draft7Validator, validators={"uniqueItems": _unique_items})


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@cache
def cyclonedx_1_6_validator() -> Any:
    """The validator, built once per process (loading the schema takes a while)."""
    schema_file = BOM_JSON_STRICT[SchemaVersion.V1_6]
    if schema_file is None:  # pragma: no cover - the library always ships 1.6
        raise RuntimeError("cyclonedx-python-lib ships no CycloneDX 1.6 JSON schema")
    registry: Registry[Any] = Registry().with_resources(
        [
            (
                f"{_SCHEMA_PREFIX}spdx.SNAPSHOT.schema.json",
                DRAFT7.create_resource(_load(SPDX_JSON)),
            ),
            (
                f"{_SCHEMA_PREFIX}cryptography-defs.SNAPSHOT.schema.json",
                DRAFT7.create_resource(_load(CRYPTOGRAPHY_DEFS)),
            ),
            (f"{_SCHEMA_PREFIX}jsf-0.82.SNAPSHOT.schema.json", DRAFT7.create_resource(_load(JSF))),
        ]
    )
    return _LinearDraft7(
        _load(schema_file), registry=registry, format_checker=Draft7Validator.FORMAT_CHECKER
    )


class ComponentCheck:
    """The first schema violation in chunks of one document's ``components``, the
    licence lists and properties already found valid in earlier chunks left out."""

    def __init__(self, head: dict[str, Any]) -> None:
        self.head = head
        self.seen_licences: set[str] = set()
        self.seen_properties: set[str] = set()

    def __call__(self, components: list[Any]) -> str | None:
        kept: list[Any] = []
        licences: list[Any] = []
        properties: list[Any] = []
        for component in components:
            if not isinstance(component, dict):
                kept.append(component)
                continue
            component = dict(component)
            if "licenses" in component:
                key = _key(component["licenses"])
                if key not in self.seen_licences:
                    self.seen_licences.add(key)
                    licences.append(component["licenses"])
                del component["licenses"]
            if isinstance(component.get("properties"), list):
                for item in component.pop("properties"):
                    key = _key(item)
                    if key not in self.seen_properties:
                        self.seen_properties.add(key)
                        properties.append(item)
            kept.append(component)
        # Stand-ins carry what was left out: no bom-ref, so none equals a component.
        kept.extend({"type": "library", "name": "licences", "licenses": v} for v in licences)
        if properties:
            kept.append({"type": "library", "name": "properties", "properties": properties})
        return first_error({**self.head, "components": kept})


def _key(value: Any) -> str:
    return json.dumps(_canonical(value), sort_keys=True, ensure_ascii=True)


def first_error(document: Any) -> str | None:
    """The first schema violation in a parsed CycloneDX 1.6 document, or None."""
    error = next(iter(cyclonedx_1_6_validator().iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(document)"
    return f"at {where}: {error.message}"
