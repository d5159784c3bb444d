"""OpenVEX 0.2.0 documents read strictly, written back, and the coverage rule: the pure
core, no database."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from portside.policy import vex

pytestmark = pytest.mark.nodb

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


def document(**statement: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "vulnerability": {"name": "CVE-2024-0001", "aliases": ["GHSA-aaaa-bbbb-cccc"]},
        "products": [
            {
                "@id": f"pkg:oci/app@{DIGEST}?repository_url=registry.example.com/acme/app",
                "subcomponents": [{"@id": "pkg:pypi/demo@1.0"}],
            }
        ],
        "status": "not_affected",
        "justification": "vulnerable_code_not_in_execute_path",
    }
    item.update(statement)
    return {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.com/vex/1",
        "author": "Acme Security",
        "timestamp": "2023-01-08T18:02:03.647787998-06:00",
        "version": 1,
        "statements": [item],
    }


def raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def refused(data: bytes | str, fragment: str) -> vex.VexDocumentError:
    with pytest.raises(vex.VexDocumentError) as caught:
        vex.parse(data)
    assert fragment in caught.value.message, caught.value.message
    return caught.value


# --- what a good document gives ---------------------------------------------------------------


def test_a_document_is_read_with_its_image_and_package() -> None:
    parsed = vex.parse(raw(document()))
    assert parsed.author == "Acme Security"
    assert parsed.timestamp == dt.datetime(2023, 1, 9, 0, 2, 3, 647787, tzinfo=dt.UTC)
    (statement,) = parsed.statements
    assert statement.advisory_id == "CVE-2024-0001"
    assert statement.aliases == ("GHSA-aaaa-bbbb-cccc",)
    assert statement.justification == "vulnerable_code_not_in_execute_path"
    (product,) = statement.products
    assert product.component.image == vex.Image(
        repository="acme/app", registry="registry.example.com", digest=DIGEST
    )
    assert product.subcomponents[0].package == vex.Package("pypi", "demo")


@pytest.mark.parametrize(
    "component, image",
    [
        (
            {"@id": "registry.example.com/acme/app@" + DIGEST},
            vex.Image("acme/app", "registry.example.com", DIGEST),
        ),
        ({"@id": "acme/app:1.0"}, vex.Image("acme/app", "", "", "1.0")),
        ({"@id": "localhost:5000/acme/app"}, vex.Image("acme/app", "localhost:5000")),
        ({"hashes": {"sha-256": "ab" * 32}}, vex.Image(digest=DIGEST)),
        (
            {"identifiers": {"purl": f"pkg:oci/app@{DIGEST.replace(':', '%3A')}"}},
            vex.Image(digest=DIGEST),
        ),
    ],
)
def test_images_are_named_by_reference_purl_or_hash(
    component: dict[str, Any], image: vex.Image
) -> None:
    parsed = vex.parse(raw(document(products=[component])))
    assert parsed.statements[0].products[0].component.image == image


@pytest.mark.parametrize(
    "purl, package",
    [
        (
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.4",
            vex.Package("maven", "org.apache.logging.log4j:log4j-core"),
        ),
        ("pkg:npm/%40babel/core@7.0.0", vex.Package("npm", "@babel/core")),
        ("pkg:golang/golang.org/x/net@v0.1.0", vex.Package("golang", "golang.org/x/net")),
        ("pkg:deb/debian/openssl@3.0.11", vex.Package("deb", "openssl")),
        ("pkg:apk/alpine/busybox", vex.Package("apk", "busybox")),
    ],
)
def test_package_urls_become_the_scanners_names(purl: str, package: vex.Package) -> None:
    parsed = vex.parse(
        raw(document(products=[{"@id": "acme/app", "subcomponents": [{"@id": purl}]}]))
    )
    assert parsed.statements[0].products[0].subcomponents[0].package == package
    again = vex.package_of(
        __import__("packageurl").PackageURL.from_string(vex.package_purl(package))
    )
    assert again == package


def test_writing_and_reading_back_gives_the_same_statements() -> None:
    parsed = vex.parse(raw(document(impact_statement="Only the CLI uses it.")))
    written = vex.serialise(parsed)
    assert vex.serialise(vex.parse(written)) == written
    again = vex.parse(written)

    def named(d: vex.Document) -> list[Any]:
        return [
            (p.component.image, [c.package for c in p.subcomponents])
            for p in d.statements[0].products
        ]

    assert named(again) == named(parsed)
    assert again.statements[0].impact_statement == "Only the CLI uses it."
    assert json.loads(written)["@context"] == vex.CONTEXT


def test_the_unversioned_namespace_is_accepted() -> None:
    doc = document()
    doc["@context"] = "https://openvex.dev/ns"
    assert vex.parse(raw(doc)).version == 1


# --- hostile documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"", "not JSON"),
        (b"not json at all", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "must be an object"),
        (b'"a string"', "must be an object"),
        (b"null", "must be an object"),
        (b'{"@context": NaN}', "NaN is not JSON"),
        (b'{"a": 1, "a": 2}', "appears twice"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"x":' * 50 + b"1" + b"}" * 50, "nested deeper"),
    ],
)
def test_what_is_not_a_json_document_is_refused(data: bytes, fragment: str) -> None:
    refused(data, fragment)


def test_a_huge_document_is_refused_before_it_is_read() -> None:
    doc = document()
    doc["statements"][0]["impact_statement"] = "x" * (vex.MAX_BYTES + 1)
    refused(raw(doc), "larger than")


def test_too_many_statements_are_refused() -> None:
    doc = document()
    doc["statements"] = doc["statements"] * (vex.MAX_STATEMENTS + 1)
    refused(raw(doc), "more than")


def test_too_many_components_are_refused() -> None:
    product = document()["statements"][0]["products"][0]
    refused(raw(document(products=[product] * (vex.MAX_COMPONENTS // 2 + 1))), "more than")


def drop(key: str) -> dict[str, Any]:
    doc = document()
    del doc[key]
    return doc


def with_doc(**fields: Any) -> dict[str, Any]:
    doc = document()
    doc.update(fields)
    return doc


@pytest.mark.parametrize(
    "doc, fragment, field",
    [
        (drop("@context"), "is required", "@context"),
        (
            with_doc(**{"@context": "https://openvex.dev/ns/v0.0.1"}),
            "is not OpenVEX 0.2.0",
            "@context",
        ),
        (with_doc(**{"@context": ["https://openvex.dev/ns/v0.2.0"]}), "is not OpenVEX", "@context"),
        (with_doc(**{"@context": "https://example.com/evil"}), "is not OpenVEX", "@context"),
        (drop("@id"), "is required", "@id"),
        (drop("author"), "is required", "author"),
        (with_doc(author=""), "may not be empty", "author"),
        (with_doc(author=["a"]), "must be a string", "author"),
        (drop("timestamp"), "is required", "timestamp"),
        (with_doc(timestamp="yesterday"), "not an RFC 3339", "timestamp"),
        (with_doc(timestamp="2023-01-08T18:02:03"), "time zone", "timestamp"),
        (drop("version"), "is required", "version"),
        (with_doc(version="1"), "whole number", "version"),
        (with_doc(version=True), "whole number", "version"),
        (with_doc(version=0), "whole number", "version"),
        (with_doc(version=2**64), "whole number", "version"),
        (drop("statements"), "is required", "statements"),
        (with_doc(statements={}), "must be a list", "statements"),
        (with_doc(extra="x"), "unknown field 'extra'", None),
        (with_doc(author="a\x00b"), "control characters", "author"),
        (with_doc(author="\ud800"), "control characters", "author"),
    ],
)
def test_bad_document_fields_are_refused_with_where(
    doc: Any, fragment: str, field: str | None
) -> None:
    error = refused(raw(doc), fragment)
    assert error.field == field


@pytest.mark.parametrize(
    "statement, fragment, field",
    [
        ({"status": "exploitable"}, "is not one of", "statements[0].status"),
        ({"status": None}, "is not one of", "statements[0].status"),
        ({"status": ["not_affected"]}, "is not one of", "statements[0].status"),
        ({"justification": "trust_me"}, "is not one of", "statements[0].justification"),
        ({"justification": ""}, "needs a justification or impact_statement", "statements[0]"),
        ({"vulnerability": "CVE-2024-0001"}, "must be an object", "statements[0].vulnerability"),
        ({"vulnerability": {}}, "is required", "statements[0].vulnerability.name"),
        (
            {"vulnerability": {"name": "CVE 2024"}},
            "not a vulnerability identifier",
            "statements[0].vulnerability.name",
        ),
        ({"vulnerability": {"name": "x" * 101}}, "longer than", "statements[0].vulnerability.name"),
        (
            {"vulnerability": {"name": "CVE-1", "aliases": "CVE-2"}},
            "must be a list",
            "statements[0].vulnerability.aliases",
        ),
        ({"products": []}, "non-empty list", "statements[0].products"),
        ({"products": "pkg:oci/app"}, "non-empty list", "statements[0].products"),
        ({"products": [{}]}, "identifies nothing", "statements[0].products[0]"),
        (
            {"products": [{"@id": "pkg:oci/app"}]},
            "needs a repository_url or a digest",
            "statements[0].products[0]",
        ),
        (
            {"products": [{"@id": "pkg:oci/app@sha256:zz"}]},
            "not a sha256 or sha512",
            "statements[0].products[0]",
        ),
        (
            {"products": [{"@id": "pkg:oci/app?repository_url=evil.example.com/../../etc"}]},
            "not a repository",
            "statements[0].products[0]",
        ),
        ({"products": [{"@id": "pkg:"}]}, "not a package URL", "statements[0].products[0]"),
        (
            {"products": [{"@id": "pkg:oci/app?repository_url=acme"}]},
            "a registry host and a repository",
            "statements[0].products[0]",
        ),
        (
            {"products": [{"hashes": {"sha-256": "AB" * 32}}]},
            "lowercase hex",
            "statements[0].products[0].hashes.sha-256",
        ),
        (
            {"products": [{"hashes": {"crc32": "00"}}]},
            "unknown field",
            "statements[0].products[0].hashes",
        ),
        (
            {"products": [{"@id": "acme/app", "subcomponents": {}}]},
            "must be a list",
            "statements[0].products[0].subcomponents",
        ),
        (
            {"products": [{"@id": "acme/app", "subcomponents": [{"subcomponents": []}]}]},
            "unknown field",
            "statements[0].products[0].subcomponents[0]",
        ),
        ({"status": "affected", "justification": ""}, "needs an action_statement", "statements[0]"),
        ({"status": "fixed"}, "only for not_affected", "statements[0].justification"),
        ({"unexpected": 1}, "unknown field 'unexpected'", "statements[0]"),
        ({"timestamp": "2023-02-30T00:00:00Z"}, "RFC 3339", "statements[0].timestamp"),
    ],
)
def test_bad_statements_are_refused_with_where(
    statement: dict[str, Any], fragment: str, field: str
) -> None:
    error = refused(raw(document(**statement)), fragment)
    assert error.field == field


def test_not_affected_without_any_justification_is_refused() -> None:
    doc = document()
    del doc["statements"][0]["justification"]
    refused(raw(doc), "needs a justification or impact_statement")
    doc["statements"][0]["impact_statement"] = "The code is unreachable."
    assert vex.parse(raw(doc)).statements[0].impact_statement == "The code is unreachable."


def test_every_status_of_openvex_is_read() -> None:
    cases = {
        "not_affected": {},
        "affected": {"justification": "", "action_statement": "Upgrade to 2.0."},
        "fixed": {"justification": ""},
        "under_investigation": {"justification": ""},
    }
    for status, extra in cases.items():
        doc = document(status=status, **extra)
        if not doc["statements"][0]["justification"]:
            del doc["statements"][0]["justification"]
        assert vex.parse(raw(doc)).statements[0].status == status


def test_a_string_is_read_as_utf8_and_a_bom_is_allowed() -> None:
    text = json.dumps(document(impact_statement="Ünïcode ✓"))
    assert vex.parse("\ufeff" + text).statements[0].impact_statement == "Ünïcode ✓"


def test_the_parser_does_not_change_its_input() -> None:
    doc = document()
    before = copy.deepcopy(doc)
    vex.parse(raw(doc))
    assert doc == before


# --- coverage ---------------------------------------------------------------------------------


def ask(**changes: Any) -> bool:
    arguments: dict[str, Any] = {
        "review": "approved",
        "status": "not_affected",
        "expires_at": None,
        "statement_advisory": "CVE-2024-0001",
        "statement_package_type": "pypi",
        "statement_package_name": "demo",
        "statement_digest": DIGEST,
        "advisory_id": "CVE-2024-0001",
        "aliases": [],
        "package_type": "pypi",
        "package_name": "demo",
        "digest": DIGEST,
        "now": NOW,
    }
    arguments.update(changes)
    return vex.covers(**arguments)


def test_an_approved_not_affected_statement_covers_its_finding() -> None:
    assert ask()


@pytest.mark.parametrize(
    "changes",
    [
        {"review": "pending"},
        {"review": "rejected"},
        {"review": "withdrawn"},
        {"status": "affected"},
        {"status": "fixed"},
        {"status": "under_investigation"},
        {"expires_at": NOW},
        {"expires_at": NOW - dt.timedelta(seconds=1)},
        {"advisory_id": "CVE-2024-0002"},
        {"package_name": "other"},
        {"package_type": "npm"},
        {"digest": OTHER},
    ],
)
def test_what_does_not_cover(changes: dict[str, Any]) -> None:
    assert not ask(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"expires_at": NOW + dt.timedelta(seconds=1)},
        {"advisory_id": "GHSA-x", "aliases": ["cve-2024-0001"]},
        {"advisory_id": "cve-2024-0001"},
        {"statement_package_type": "", "statement_package_name": "", "package_name": "anything"},
        {"statement_digest": "", "digest": OTHER},
        {"statement_package_name": "Demo_Pkg", "package_name": "demo-pkg"},
        {
            "statement_package_type": "deb",
            "package_type": "deb",
            "statement_package_name": "LibX",
            "package_name": "libx",
        },
    ],
)
def test_what_covers(changes: dict[str, Any]) -> None:
    assert ask(**changes)


def test_covers_takes_keywords_only() -> None:
    with pytest.raises(TypeError):
        vex.covers("approved")  # type: ignore[misc]
