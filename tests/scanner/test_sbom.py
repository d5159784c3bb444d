"""The SBOM writers: CycloneDX 1.6 and SPDX 2.3 JSON, checked with each format's own tools."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from cyclonedx.model.bom import Bom
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.model import Document, RelationshipType, SpdxNoAssertion
from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from portside.core.records import replace
from portside.scanner.model import Distro, Inventory, Layer, Package
from portside.scanner.sbom import SbomError, to_cyclonedx, to_spdx
from portside.scanner.sbom._schema import first_error

DIGEST = "sha256:" + "e" * 64
BASE = "sha256:" + "a" * 64
APP = "sha256:" + "c" * 64
WHEN = dt.datetime(2025, 3, 1, 12, 30, tzinfo=dt.UTC)
NAMESPACE = "https://store.example/spdx"

LAYERS = (
    Layer(
        0, BASE, "sha256:" + "b" * 64, "application/vnd.oci.image.layer.v1.tar+gzip", 10, "ADD x /"
    ),
    Layer(
        1, APP, "sha256:" + "d" * 64, "application/vnd.oci.image.layer.v1.tar+gzip", 20, "RUN pip"
    ),
)
DEBIAN = Distro(id="debian", version_id="12", version_codename="bookworm", pretty_name="Debian 12")


def deb(name: str, version: str = "1.0-1", *, layer: str = BASE, **extra: Any) -> Package:
    return Package(
        type="deb",
        name=name,
        version=version,
        purl=f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12",
        cataloger="dpkg",
        layer=layer,
        paths=("/var/lib/dpkg/status",),
        **extra,
    )


def pypi(name: str, version: str, *, layer: str = APP, **extra: Any) -> Package:
    return Package(
        type="pypi",
        name=name,
        version=version,
        purl=f"pkg:pypi/{name}@{version}",
        cataloger="python",
        layer=layer,
        paths=(f"/usr/lib/python3/dist-packages/{name}-{version}.dist-info/METADATA",),
        **extra,
    )


def inventory(*packages: Package, image: str = f"acme/web@{DIGEST}", **extra: Any) -> Inventory:
    fields: dict[str, Any] = {"distro": DEBIAN, "platform": "linux/amd64"} | extra
    return Inventory(image=image, layers=LAYERS, packages=packages, **fields)


SAMPLE = inventory(
    deb("bash", "5.2.15-2+b2", licenses=("GPL-3.0-or-later",), source_name="bash"),
    deb("libc6", "2.36-9", licenses=("LGPL-2.1", "GPL-2.0+ OR BSD-3-Clause")),
    deb("tzdata", "2024a-0+deb12u1", licenses=("public-domain",)),
    pypi("requests", "2.32.3", licenses=("Apache-2.0",)),
    pypi("six", "1.16.0", licenses=("MIT OR Apache-2.0",)),
)


@dataclass(frozen=True)
class Advisory:
    """A finding as the matcher would report it: any object with these attributes."""

    id: str
    aliases: tuple[str, ...]
    severity: str
    score: float | None
    vector: str | None
    fixed_versions: tuple[str, ...]
    package_purl: str


def cyclonedx(inv: Inventory = SAMPLE, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("tool_version", "0.1.0")
    kwargs.setdefault("created", WHEN)
    text = to_cyclonedx(inv, **kwargs)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    return json.loads(text)


def spdx(inv: Inventory = SAMPLE, **kwargs: Any) -> tuple[dict[str, Any], Document]:
    """The document as JSON and as parsed back by spdx-tools, which must find no fault."""
    kwargs.setdefault("tool_version", "0.1.0")
    kwargs.setdefault("namespace_base", NAMESPACE)
    kwargs.setdefault("created", WHEN)
    text = to_spdx(inv, **kwargs)
    data = json.loads(text)
    document = JsonLikeDictParser().parse(json.loads(text))
    assert validate_full_spdx_document(document, "SPDX-2.3") == []
    return data, document


def by_name(components: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in components}


def props(component: dict[str, Any], name: str) -> list[str]:
    return [p["value"] for p in component.get("properties", []) if p["name"] == name]


# ----------------------------------------------------------------------------- CycloneDX


def test_cyclonedx_describes_the_image_and_each_package() -> None:
    bom = cyclonedx()
    assert bom["specVersion"] == "1.6"
    root = bom["metadata"]["component"]
    assert root["type"] == "container"
    assert root["name"] == "acme/web"
    assert root["version"] == DIGEST
    assert root["purl"] == f"pkg:oci/web@{DIGEST}"
    assert props(root, "portside:layer") == [f"0:{BASE}", f"1:{APP}"]
    assert bom["metadata"]["tools"]["components"][0] == {
        "name": "portside",
        "type": "application",
        "version": "0.1.0",
    }
    assert bom["metadata"]["timestamp"] == "2025-03-01T12:30:00+00:00"

    components = by_name(bom["components"])
    assert set(components) == {"bash", "libc6", "tzdata", "requests", "six", "debian"}
    os_component = components["debian"]
    assert os_component["type"] == "operating-system"
    assert os_component["version"] == "12"
    bash = components["bash"]
    assert bash["type"] == "library"
    assert bash["purl"] == "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12"
    assert props(bash, "portside:layer") == [BASE]
    assert props(bash, "portside:layer-index") == ["0"]
    assert props(bash, "portside:path") == ["/var/lib/dpkg/status"]
    assert props(bash, "portside:cataloger") == ["dpkg"]
    assert props(bash, "portside:source-name") == ["bash"]
    assert props(components["requests"], "portside:layer") == [APP]


def test_cyclonedx_licences_are_ids_expressions_or_names() -> None:
    components = by_name(cyclonedx()["components"])
    assert components["bash"]["licenses"] == [{"license": {"id": "GPL-3.0-or-later"}}]
    assert components["requests"]["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert components["six"]["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    # An id and an expression together become one expression (CycloneDX allows no mix).
    assert components["libc6"]["licenses"] == [
        {"expression": "(LGPL-2.1) AND (GPL-2.0+ OR BSD-3-Clause)"}
    ]
    assert components["tzdata"]["licenses"] == [{"license": {"name": "public-domain"}}]


def test_licence_ids_are_looked_up_as_the_library_fixes_them() -> None:
    """The writer reads the SPDX ids from the list the library ships, without loading its
    expression parser; every id, in any case, and a few non-ids give what the library's
    ``fixup_id`` gives."""
    from cyclonedx import spdx

    from portside.scanner.sbom import cyclonedx as writer

    ids = set(writer._spdx_ids().values())
    assert "MIT" in ids and "GPL-2.0-or-later" in ids
    probes = [*ids, *(i.lower() for i in ids), *(i.upper() for i in ids)]
    probes += ["", "GPL-2+", "public-domain", "MIT OR Apache-2.0", "Expat", "mit "]
    for value in probes:
        assert writer._spdx_id(value) == spdx.fixup_id(value), value


def test_cyclonedx_mixed_expression_and_name_keeps_names() -> None:
    inv = inventory(deb("x", licenses=("MIT OR Apache-2.0", "Some Custom Licence", "MIT")))
    (component,) = [c for c in cyclonedx(inv)["components"] if c["name"] == "x"]
    assert sorted(component["licenses"], key=json.dumps) == [
        {"license": {"id": "MIT"}},
        {"license": {"name": "MIT OR Apache-2.0"}},
        {"license": {"name": "Some Custom Licence"}},
    ]


def test_cyclonedx_dependency_graph_links_the_image_to_every_package() -> None:
    bom = cyclonedx()
    refs = {c["bom-ref"] for c in bom["components"]}
    graph = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
    assert set(graph["image"]) == refs
    assert all(graph[ref] == [] for ref in refs)


def test_cyclonedx_round_trips_through_the_library() -> None:
    text = to_cyclonedx(SAMPLE, tool_version="0.1.0", created=WHEN)
    bom = Bom.from_json(json.loads(text))  # type: ignore[attr-defined]
    assert bom.metadata.component is not None
    assert bom.metadata.component.version == DIGEST
    parsed = {c.name: c for c in bom.components}
    assert str(parsed["requests"].purl) == "pkg:pypi/requests@2.32.3"
    assert parsed["bash"].version == "5.2.15-2+b2"
    assert str(bom.serial_number) == json.loads(text)["serialNumber"].removeprefix("urn:uuid:")


def test_cyclonedx_is_deterministic() -> None:
    first = to_cyclonedx(SAMPLE, tool_version="0.1.0", created=WHEN)
    again = to_cyclonedx(SAMPLE, tool_version="0.1.0", created=WHEN)
    shuffled = replace(SAMPLE, packages=tuple(reversed(SAMPLE.packages)))
    assert to_cyclonedx(shuffled, tool_version="0.1.0", created=WHEN) == first
    assert again == first
    later = to_cyclonedx(SAMPLE, tool_version="0.1.0", created=WHEN + dt.timedelta(days=3))
    assert later != first
    assert later.replace("2025-03-04T12:30:00", "2025-03-01T12:30:00") == first


def test_naive_and_aware_times_give_the_same_document() -> None:
    naive = WHEN.replace(tzinfo=None)
    elsewhere = WHEN.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    expected = to_cyclonedx(SAMPLE, tool_version="0.1.0", created=WHEN)
    assert to_cyclonedx(SAMPLE, tool_version="0.1.0", created=naive) == expected
    assert to_cyclonedx(SAMPLE, tool_version="0.1.0", created=elsewhere) == expected
    expected_spdx = to_spdx(SAMPLE, tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN)
    assert (
        to_spdx(SAMPLE, tool_version="0.1.0", namespace_base=NAMESPACE, created=naive)
        == expected_spdx
    )


def test_cyclonedx_bom_refs_are_stable_across_content_changes() -> None:
    refs = {c["name"]: c["bom-ref"] for c in cyclonedx()["components"]}
    more = replace(SAMPLE, packages=(*SAMPLE.packages, pypi("idna", "3.7")))
    more_refs = {c["name"]: c["bom-ref"] for c in cyclonedx(more)["components"]}
    assert {k: more_refs[k] for k in refs} == refs
    # The serial number follows the content: a different BOM has a different one.
    assert cyclonedx(more)["serialNumber"] != cyclonedx()["serialNumber"]


def test_cyclonedx_same_package_in_two_layers_is_two_components() -> None:
    inv = inventory(pypi("six", "1.16.0", layer=BASE), pypi("six", "1.16.0", layer=APP))
    sixes = [c for c in cyclonedx(inv)["components"] if c["name"] == "six"]
    assert len(sixes) == 2
    assert len({c["bom-ref"] for c in sixes}) == 2
    assert sorted(props(c, "portside:layer")[0] for c in sixes) == sorted([BASE, APP])


def test_cyclonedx_same_package_twice_in_one_layer_is_merged() -> None:
    one = pypi("six", "1.16.0", licenses=("MIT",))
    two = replace(one, paths=("/opt/app/six.dist-info/METADATA",), licenses=("MIT", "BSD-2-Clause"))
    sixes = [c for c in cyclonedx(inventory(one, two))["components"] if c["name"] == "six"]
    assert len(sixes) == 1
    assert props(sixes[0], "portside:path") == sorted([*one.paths, *two.paths])
    assert sixes[0]["licenses"] == [
        {"license": {"id": "BSD-2-Clause"}},
        {"license": {"id": "MIT"}},
    ]


def test_cyclonedx_empty_inventory() -> None:
    bom = cyclonedx(Inventory(image=DIGEST, layers=(), distro=None, packages=()))
    assert "components" not in bom
    assert bom["metadata"]["component"]["name"] == DIGEST
    assert bom["metadata"]["component"]["version"] == DIGEST
    assert "purl" not in bom["metadata"]["component"]  # no repository name to put in one
    assert bom["dependencies"] == [{"ref": "image"}]


def test_cyclonedx_image_known_only_by_name_has_no_version() -> None:
    bom = cyclonedx(inventory(image="./app.tar"))
    assert bom["metadata"]["component"]["name"] == "./app.tar"
    assert "version" not in bom["metadata"]["component"]
    named = cyclonedx(SAMPLE, image_name="registry.example/acme/web:1.2")
    assert named["metadata"]["component"]["name"] == "registry.example/acme/web:1.2"
    assert named["metadata"]["component"]["purl"] == (
        f"pkg:oci/web@{DIGEST}?repository_url=registry.example/acme/web&tag=1.2"
    )
    # A name that carries the digest is split, and gives the digest when the inventory has none.
    by_digest = cyclonedx(inventory(image="./app.tar"), image_name=f"acme/api@{DIGEST}")
    assert by_digest["metadata"]["component"]["name"] == "acme/api"
    assert by_digest["metadata"]["component"]["version"] == DIGEST


HOSTILE = [
    'quote " and \\ backslash',
    "new\nline\r\nand\ttab",
    "x" * 10_000,
    "ünïcødé 日本語 🐳 \u202e",
    "\x00nul\x07bell",
    "\ud800 lone surrogate",
    "</script><!--",
    "MIT AND",
    "(((((",
    "LicenseRef-not-declared",
    "MIT OR " * 3000 + "MIT",
    " ",
]


def hostile_inventory() -> Inventory:
    packages = [
        Package(
            type="generic",
            name=text,
            version=text,
            purl=f"pkg:generic/{text}@{text}",
            cataloger=text,
            layer=BASE,
            paths=(text, "/../../etc/" + text),
            licenses=(text,),
            source_name=text,
            source_version=text,
        )
        for text in HOSTILE
    ]
    packages.append(
        Package(
            "npm", "", "", "not a purl at all", "npm", "sha256:" + "0" * 64, licenses=tuple(HOSTILE)
        )
    )
    distro = Distro(id='deb"ian\n', version_id="1" * 2000, pretty_name=HOSTILE[3])
    return Inventory(
        image=f"evil\nname@{DIGEST}",
        layers=LAYERS,
        distro=distro,
        packages=tuple(packages),
        platform=HOSTILE[1],
    )


def test_cyclonedx_hostile_strings_stay_valid_and_intact() -> None:
    text = to_cyclonedx(hostile_inventory(), tool_version="0.1.0", created=WHEN)
    # Unchecked (as `portside scan` writes it), it is the same document.
    unchecked = to_cyclonedx(
        hostile_inventory(), tool_version="0.1.0", created=WHEN, validate=False
    )
    assert unchecked == text
    assert text.isascii()  # every odd character is escaped, a lone surrogate included
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    names = [c["name"] for c in bom["components"]]
    for value in HOSTILE:
        assert value in names
    long_one = next(c for c in bom["components"] if c["name"] == "x" * 10_000)
    assert len(long_one["version"]) == 1024  # the 1.6 limit; the full value is kept aside
    assert props(long_one, "portside:version") == ["x" * 10_000]
    quoted = next(c for c in bom["components"] if c["name"] == HOSTILE[0])
    assert sorted(props(quoted, "portside:path")) == sorted(
        [HOSTILE[0], "/../../etc/" + HOSTILE[0]]
    )
    nameless = next(c for c in bom["components"] if c["name"] == "")
    assert "purl" not in nameless
    assert props(nameless, "portside:invalid-purl") == ["not a purl at all"]


def test_cyclonedx_raises_when_the_output_does_not_validate() -> None:
    # A tool version past CycloneDX 1.6's 1,024-character limit cannot be written.
    with pytest.raises(SbomError, match="does not validate"):
        to_cyclonedx(SAMPLE, tool_version="9" * 2000)
    unchecked = to_cyclonedx(SAMPLE, tool_version="9" * 2000, validate=False)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(unchecked) is not None


def test_cyclonedx_vulnerabilities_from_findings() -> None:
    findings = [
        Advisory(
            id="CVE-2024-3651",
            aliases=("GHSA-jjg7-2v4v-x38h", "CVE-2024-3651"),
            severity="HIGH",
            score=7.5,
            vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
            fixed_versions=("3.7",),
            package_purl="pkg:pypi/six@1.16.0",
        ),
        Advisory(
            id="DSA-0000-1",
            aliases=(),
            severity="moderate",
            score=float("nan"),
            vector=None,
            fixed_versions=(),
            package_purl="pkg:deb/debian/bash@5.2.15-2+b2?arch=amd64&distro=debian-12",
        ),
        Advisory(
            id="GHSA-xxxx-yyyy-zzzz",
            aliases=(),
            severity="bogus",
            score=None,
            vector=None,
            fixed_versions=(),
            package_purl="pkg:npm/left-pad@1.0.0",
        ),
    ]
    bom = cyclonedx(findings=findings + findings[:1])  # a repeated finding is listed once
    refs = {c["name"]: c["bom-ref"] for c in bom["components"]}
    vulns = {v["id"]: v for v in bom["vulnerabilities"]}
    assert set(vulns) == {"CVE-2024-3651", "DSA-0000-1", "GHSA-xxxx-yyyy-zzzz"}

    cve = vulns["CVE-2024-3651"]
    assert cve["source"] == {"name": "NVD"}
    assert cve["references"] == [
        {"id": "GHSA-jjg7-2v4v-x38h", "source": {"name": "GitHub Advisory Database"}}
    ]
    assert cve["ratings"] == [
        {
            "score": 7.5,
            "severity": "high",
            "method": "CVSSv31",
            "vector": "AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        }
    ]
    assert cve["affects"] == [
        {
            "ref": refs["six"],
            "versions": [
                {"version": "1.16.0", "status": "affected"},
                {"version": "3.7", "status": "unaffected"},
            ],
        }
    ]
    assert "3.7" in cve["recommendation"]

    dsa = vulns["DSA-0000-1"]
    assert dsa["ratings"] == [{"severity": "medium"}]  # NaN is no score
    assert dsa["affects"][0]["ref"] == refs["bash"]  # matched on the canonical purl

    unknown = vulns["GHSA-xxxx-yyyy-zzzz"]
    assert unknown["ratings"] == [{"severity": "unknown"}]
    assert "affects" not in unknown
    assert props(unknown, "portside:package-purl") == ["pkg:npm/left-pad@1.0.0"]


def test_cyclonedx_severity_follows_the_score_else_the_word() -> None:
    # The store's classes (critical 7.0-10, major, minor) are not CycloneDX's words: with a
    # score the rating uses CVSS's qualitative scale, without one the class is translated.
    def finding(severity: str, score: float | None) -> Advisory:
        return Advisory(
            id=f"CVE-2024-{severity}-{score}",
            aliases=(),
            severity=severity,
            score=score,
            vector=None,
            fixed_versions=(),
            package_purl="pkg:pypi/six@1.16.0",
        )

    cases = {
        ("critical", 7.5): "high",
        ("critical", 9.1): "critical",
        ("major", 5.0): "medium",
        ("major", None): "medium",
        ("minor", None): "low",
        ("minor", 0.0): "none",
        ("unknown", None): "unknown",
    }
    bom = cyclonedx(findings=[finding(*case) for case in cases])
    ratings = {v["id"]: v["ratings"][0]["severity"] for v in bom["vulnerabilities"]}
    assert ratings == {
        f"CVE-2024-{severity}-{score}": expected for (severity, score), expected in cases.items()
    }


def test_cyclonedx_large_inventory_is_not_quadratic() -> None:
    # 3,000 packages took about a minute before the dependency graph and uniqueItems check
    # were made linear; now a few seconds on a loaded two-core machine.
    packages = tuple(
        pypi(f"pkg{i}", f"1.{i}", layer=LAYERS[i % 2].digest, licenses=("MIT",))
        for i in range(3000)
    )
    started = time.monotonic()
    text = to_cyclonedx(inventory(*packages), tool_version="0.1.0", created=WHEN)
    elapsed = time.monotonic() - started
    assert len(json.loads(text)["components"]) == 3001
    assert elapsed < 30, elapsed


def test_linear_schema_check_agrees_with_the_library() -> None:
    library = JsonStrictValidator(SchemaVersion.V1_6)
    good = json.loads(to_cyclonedx(SAMPLE, tool_version="0.1.0", created=WHEN))
    assert first_error(good) is None

    duplicated = dict(good, components=[*good["components"], good["components"][0]])
    assert library.validate_str(json.dumps(duplicated)) is not None
    error = first_error(duplicated)
    assert error is not None and "repeats an earlier item" in error

    wrong_type = dict(good, version="one")
    assert library.validate_str(json.dumps(wrong_type)) is not None
    assert first_error(wrong_type) is not None


@pytest.mark.parametrize(
    ("items", "unique"),
    [
        ([1, 1.0], False),  # the same number
        ([True, 1], True),  # a boolean is not a number
        ([{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}], False),  # key order does not matter
        ([{"a": "x"}, {"a": "y"}], True),
        ([], True),
    ],
)
def test_linear_unique_items_has_json_schema_equality(items: list[Any], unique: bool) -> None:
    from jsonschema import Draft7Validator

    from portside.scanner.sbom._schema import _LinearDraft7

    schema = {"uniqueItems": True}
    assert Draft7Validator(schema).is_valid(items) is unique
    assert _LinearDraft7(schema).is_valid(items) is unique


def test_checking_components_in_chunks_agrees_with_the_library() -> None:
    """Licence lists and properties seen valid in one chunk are left out of the next; a
    fault in a later chunk, in a value never seen before, is still found, and a
    document the check passes is one the library passes."""
    from portside.scanner.sbom._schema import ComponentCheck

    library = JsonStrictValidator(SchemaVersion.V1_6)
    packages = tuple(deb(f"lib{i}", licenses=("MIT",)) for i in range(1200))
    good = json.loads(to_cyclonedx(inventory(*packages), tool_version="0.1.0", created=WHEN))
    head = {k: v for k, v in good.items() if k not in ("components", "dependencies")}
    components = good["components"]
    check = ComponentCheck(head)
    assert [check(components[i : i + 500]) for i in range(0, 1200, 500)] == [None] * 3
    assert library.validate_str(json.dumps(good)) is None
    for fault, where in [
        ({"licenses": [{"license": {"id": "MIT"}}, {"expression": "MIT"}]}, "licenses"),
        ({"properties": [{"name": "portside:x", "value": 7}]}, "properties"),
        ({"properties": [{"value": "no name"}]}, "properties"),
        ({"version": "9" * 2000}, "version"),
    ]:
        check = ComponentCheck(head)
        broken = [dict(c) for c in components]
        broken[1100] |= fault
        found = [check(broken[i : i + 500]) for i in range(0, 1200, 500)]
        assert found[:2] == [None, None] and found[2] is not None and where in found[2]
        assert library.validate_str(json.dumps(good | {"components": broken})) is not None


# ----------------------------------------------------------------------------------- SPDX


def test_spdx_document_describes_the_image_which_contains_every_package() -> None:
    data, document = spdx()
    assert data["spdxVersion"] == "SPDX-2.3"
    assert data["dataLicense"] == "CC0-1.0"
    assert data["creationInfo"] == {
        "created": "2025-03-01T12:30:00Z",
        "creators": ["Tool: portside-0.1.0"],
    }
    packages = {p.spdx_id: p for p in document.packages}
    image = packages["SPDXRef-Image"]
    assert image.name == "acme/web"
    assert image.version == DIGEST
    assert image.primary_package_purpose is not None
    assert image.primary_package_purpose.name == "CONTAINER"
    describes = [
        r for r in document.relationships if r.relationship_type == RelationshipType.DESCRIBES
    ]
    assert [(r.spdx_element_id, r.related_spdx_element_id) for r in describes] == [
        ("SPDXRef-DOCUMENT", "SPDXRef-Image")
    ]
    contains = {
        r.related_spdx_element_id
        for r in document.relationships
        if r.relationship_type == RelationshipType.CONTAINS and r.spdx_element_id == "SPDXRef-Image"
    }
    assert contains == set(packages) - {"SPDXRef-Image"}
    assert len(packages) == 1 + 1 + 5  # the image, the operating system, five packages


def test_spdx_packages_carry_purls_and_licence_expressions() -> None:
    data, _ = spdx()
    packages = {p["name"]: p for p in data["packages"]}
    bash = packages["bash"]
    assert bash["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE_MANAGER",
            "referenceLocator": "pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12",
            "referenceType": "purl",
        }
    ]
    assert bash["licenseDeclared"] == "GPL-3.0-or-later"
    assert bash["licenseConcluded"] == "NOASSERTION"
    assert "layer 0" in bash["sourceInfo"] and BASE in bash["sourceInfo"]
    assert "/var/lib/dpkg/status" in bash["sourceInfo"]
    assert packages["six"]["licenseDeclared"] == "MIT OR Apache-2.0"
    assert packages["libc6"]["licenseDeclared"] == (
        "LGPL-2.1-only AND (GPL-2.0-or-later OR BSD-3-Clause)"  # deprecated ids normalised
    )
    # Not an SPDX expression: no assertion, and the declared text is kept in the comment.
    assert packages["tzdata"]["licenseDeclared"] == "NOASSERTION"
    assert packages["tzdata"]["licenseComments"] == "Declared by the package: public-domain"
    assert packages["debian"]["primaryPackagePurpose"] == "OPERATING_SYSTEM"


def test_spdx_namespace_is_derived_from_the_digest_and_content() -> None:
    data, _ = spdx()
    namespace = data["documentNamespace"]
    assert namespace.startswith(f"{NAMESPACE}/images/sha256/{'e' * 64}/")
    assert spdx()[0]["documentNamespace"] == namespace
    assert spdx(namespace_base=NAMESPACE + "/")[0]["documentNamespace"] == namespace
    more = replace(SAMPLE, packages=(*SAMPLE.packages, pypi("idna", "3.7")))
    assert spdx(more)[0]["documentNamespace"] != namespace
    by_name_only = spdx(inventory(image="app.tar"))[0]["documentNamespace"]
    assert by_name_only.startswith(f"{NAMESPACE}/images/name/")


@pytest.mark.parametrize(
    "base",
    [
        "relative/path",
        "https://store.example/spdx#frag",
        "",
        "https://exa mple/ x",
        "https://store.example/\nspdx",
    ],
)
def test_spdx_refuses_a_bad_namespace_base(base: str) -> None:
    with pytest.raises(SbomError, match="namespace base"):
        to_spdx(SAMPLE, tool_version="0.1.0", namespace_base=base)


def test_spdx_is_deterministic() -> None:
    first = to_spdx(SAMPLE, tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN)
    shuffled = replace(SAMPLE, packages=tuple(reversed(SAMPLE.packages)))
    assert to_spdx(shuffled, tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN) == first
    later = to_spdx(
        SAMPLE, tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN + dt.timedelta(hours=1)
    )
    assert later.replace("2025-03-01T13:30:00Z", "2025-03-01T12:30:00Z") == first


def test_spdx_same_package_in_two_layers_is_two_packages() -> None:
    inv = inventory(pypi("six", "1.16.0", layer=BASE), pypi("six", "1.16.0", layer=APP))
    _, document = spdx(inv)
    sixes = [p for p in document.packages if p.name == "six"]
    assert len(sixes) == 2
    assert len({p.spdx_id for p in sixes}) == 2


def test_spdx_package_ids_match_cyclonedx_bom_refs() -> None:
    """Both documents name a package by the same key, so they can be cross-referenced."""
    refs = {c["bom-ref"].removeprefix("pkg-") for c in cyclonedx()["components"]} - {"os"}
    ids = {p.spdx_id.removeprefix("SPDXRef-Package-") for p in spdx()[1].packages}
    assert refs <= ids


def test_spdx_empty_inventory() -> None:
    data, document = spdx(Inventory(image=DIGEST, layers=(), distro=None, packages=()))
    assert [p.spdx_id for p in document.packages] == ["SPDXRef-Image"]
    assert len(document.relationships) == 1
    assert "externalRefs" not in data["packages"][0]


def test_spdx_hostile_strings_stay_valid_and_intact() -> None:
    text = to_spdx(hostile_inventory(), tool_version="0.1.0", namespace_base=NAMESPACE)
    assert text.isascii()
    data = json.loads(text)
    document = JsonLikeDictParser().parse(json.loads(text))
    assert validate_full_spdx_document(document, "SPDX-2.3") == []
    names = [p["name"] for p in data["packages"]]
    for value in HOSTILE:
        assert value in names
    for package in document.packages:
        if package.name in HOSTILE and package.name != "MIT OR " * 3000 + "MIT":
            assert package.license_declared == SpdxNoAssertion()
    nameless = next(
        p for p in data["packages"] if p.get("comment") == "Found by the npm cataloger."
    )
    assert nameless["name"] == "NOASSERTION"
    assert "externalRefs" not in nameless


def _calls(work: Any) -> int:
    """How many Python functions ``work()`` calls: a measure of work that, unlike time,
    does not depend on the machine or its load."""
    import sys

    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return count


def _many(count: int) -> Inventory:
    return inventory(
        *(
            deb(f"lib{i}", f"1.{i}-1", layer=LAYERS[i % 2].digest, licenses=("GPL-2.0-only",))
            for i in range(count)
        )
    )


@pytest.mark.parametrize("kind", ["spdx", "cyclonedx"])
def test_sbom_work_grows_linearly_with_the_packages(kind: str) -> None:
    """Four times the packages cost at most about four times the work (in function calls,
    validation included); spdx-tools' validator made SPDX exports quadratic (22 s at 5,000
    packages, minutes at 20,000). The times themselves are in benchmarks/sbom.py."""

    def write(count: int) -> Any:
        if kind == "spdx":
            return lambda: to_spdx(
                _many(count), tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN
            )
        return lambda: to_cyclonedx(_many(count), tool_version="0.1.0", created=WHEN)

    write(10)()  # load the libraries and schemas first
    small, large = _calls(write(300)), _calls(write(1200))
    assert large < 4.6 * small, (small, large)


def test_spdx_is_written_as_it_is_made() -> None:
    """The document goes to a stream a package at a time, the same bytes as the string."""
    import io

    from portside.scanner.sbom.spdx import write_spdx

    out = io.StringIO()
    write_spdx(out, SAMPLE, tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN)
    assert out.getvalue() == to_spdx(
        SAMPLE, tool_version="0.1.0", namespace_base=NAMESPACE, created=WHEN
    )
    data, _ = spdx(_many(50))
    assert len(data["packages"]) == 52  # the image, the operating system, 50 packages


@pytest.mark.parametrize(
    "parts",
    [(), ("",), ("cyclonedx", "ab" * 32, "0.1.0"), ("spdx", "é\u2603", "x\ny"), ("a",) * 50],
)
def test_derived_identifiers_are_the_uuid_modules_uuid5(parts: tuple[str, ...]) -> None:
    """The writers derive their UUIDv5 without the ``uuid`` module; they match it."""
    import uuid

    from portside.scanner.sbom._common import SBOM_NAMESPACE, derived_uuid

    expected = uuid.uuid5(uuid.UUID(bytes=SBOM_NAMESPACE), "\n".join(parts))
    assert derived_uuid(*parts) == str(expected)
    assert str(expected) == str(uuid.UUID(derived_uuid(*parts)))
    assert uuid.UUID(derived_uuid(*parts)).version == 5
