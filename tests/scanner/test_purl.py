"""``portside.scanner.purl`` against packageurl-python, the reference it must agree with:
the same text for the same parts, the same canonical text (or none) for the same input,
on the purls the catalogers make, on generated ones and on hostile ones."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from portside.scanner import purl as purls

TYPES = (
    *("deb", "apk", "rpm", "pypi", "npm", "golang", "maven", "gem", "generic", "cargo"),
    *("nuget", "composer", "oci", "github", "hackage", "pub", "cpan", "huggingface", "conda"),
)
# Letters of every kind the reference treats specially: separators, escapes, case, space,
# characters URL splitting strips or reads as a scheme, and non-ASCII.
ALPHABET = "aZz09_-.~/:@?#&=%+!* \t\n\r\x00\x7fÄßé中\u2028\ud800"
text = st.text(alphabet=ALPHABET, max_size=12)
word = st.text(alphabet="abcXYZ019_-.:", min_size=1, max_size=8)
escape = st.sampled_from(["%2B", "%40", "%3A", "%2f", "%20", "%C3%A4", "%E4%B8%AD", "%ff", "%0A"])
escaped = st.lists(st.one_of(word, escape), min_size=1, max_size=4).map("".join)


def reference_build(*args: object, **kwargs: object) -> str | None:
    try:
        return str(PackageURL(*args, **kwargs).to_string())  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return None


def ours_build(*args: object, **kwargs: object) -> str | None:
    try:
        return purls.build(*args, **kwargs)  # type: ignore[arg-type]
    except ValueError:
        return None


def reference_canonical(raw: str) -> str | None:
    try:
        return str(PackageURL.from_string(raw).to_string())
    except (ValueError, TypeError):
        return None


CATALOGUED = [
    dict(
        type="deb",
        namespace="debian",
        name="libssl3",
        version="3.0.15-1~deb12u1",
        qualifiers={"arch": "amd64", "distro": "debian-12", "upstream": "openssl"},
    ),
    dict(
        type="deb",
        namespace="debian",
        name="bash",
        version="5.2.15-2+b7",
        qualifiers={"arch": "amd64", "epoch": "1"},
    ),
    dict(
        type="apk",
        namespace="alpine",
        name="musl",
        version="1.2.5-r0",
        qualifiers={"arch": "x86_64", "distro": "alpine-3.20.3"},
    ),
    dict(
        type="rpm",
        namespace="rhel",
        name="glibc",
        version="2.34-100.el9",
        qualifiers={"arch": "x86_64", "epoch": "2"},
    ),
    dict(type="pypi", name="Jinja2", version="2.10"),
    dict(type="pypi", name="typing_extensions", version="4.12.2"),
    dict(type="npm", namespace="@babel", name="core", version="7.26.0"),
    dict(type="npm", name="lodash", version="4.17.21"),
    dict(type="golang", namespace="github.com/sirupsen", name="logrus", version="v1.9.3"),
    dict(
        type="golang",
        namespace="golang.org/x",
        name="net",
        version="v0.0.0-20220722155237-a158d28d115b",
    ),
    dict(type="maven", namespace="org.apache.logging.log4j", name="log4j-core", version="2.14.1"),
    dict(type="gem", name="rack", version="2.2.3", qualifiers={"platform": "java"}),
    dict(type="generic", name="openssl", version="3.0.2"),
    dict(type="cargo", name="serde_json", version="1.0.133"),
    dict(type="nuget", name="Newtonsoft.Json", version="13.0.1"),
    dict(type="composer", namespace="Monolog", name="Monolog", version="1.0.0"),
    dict(
        type="oci",
        name="web",
        version="sha256:" + "A" * 64,
        qualifiers={"repository_url": "registry.example:5000/acme/web", "tag": "1.2"},
    ),
    dict(type="npm", name="odd name", version="1.0 beta", qualifiers={"x": "a&b=c?d#e"}),
    dict(type="pypi", name="ÄÖ_x", version=" 1.0 ", subpath="./a/../b//c"),
]


@pytest.mark.parametrize("parts", CATALOGUED, ids=lambda p: f"{p['type']}-{p['name']}")
def test_the_catalogers_purls_are_the_references(parts: dict[str, object]) -> None:
    built = purls.build(**parts)  # type: ignore[arg-type]
    assert built == PackageURL(**parts).to_string()  # type: ignore[arg-type]
    assert purls.canonical(built) == reference_canonical(built) == built


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.one_of(st.sampled_from(TYPES), text),
    namespace=st.one_of(st.none(), text, st.sampled_from(["@scope", "a/b", "/x//y/"])),
    name=text,
    version=st.one_of(st.none(), text),
    qualifiers=st.one_of(st.none(), st.dictionaries(st.one_of(text, word), text, max_size=3)),
    subpath=st.one_of(st.none(), text),
)
def test_built_purls_are_the_references(
    kind: str,
    namespace: str | None,
    name: str,
    version: str | None,
    qualifiers: dict[str, str] | None,
    subpath: str | None,
) -> None:
    parts = dict(
        type=kind,
        namespace=namespace,
        name=name,
        version=version,
        qualifiers=qualifiers,
        subpath=subpath,
    )
    assert ours_build(**parts) == reference_build(**parts)


@st.composite
def purl_like(draw: st.DrawFn) -> str:
    """Text shaped like a purl, with hostile letters where each part goes."""
    kind = draw(st.one_of(st.sampled_from(TYPES), word, text))
    path = "/".join(draw(st.lists(st.one_of(word, escaped, text), min_size=0, max_size=4)))
    raw = f"pkg:{draw(st.sampled_from(['', '/', '//']))}{kind}/{path}"
    if draw(st.booleans()):
        raw += "@" + draw(st.one_of(word, escaped, text))
    if draw(st.booleans()):
        part = st.one_of(word, escaped, text)
        pairs = draw(st.lists(st.tuples(part, part), max_size=3))
        raw += "?" + "&".join(f"{k}{draw(st.sampled_from(['=', '', '==']))}{v}" for k, v in pairs)
    if draw(st.booleans()):
        raw += "#" + draw(text)
    return raw


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(purl_like(), st.text(alphabet=ALPHABET).map(lambda t: "pkg:" + t)))
def test_canonical_texts_are_the_references(raw: str) -> None:
    assert purls.canonical(raw) == reference_canonical(raw)


@settings(max_examples=500, deadline=None)
@given(
    kind=st.sampled_from(TYPES),
    namespace=st.one_of(st.none(), word),
    name=word,
    version=st.one_of(st.none(), word),
)
def test_a_built_purl_is_canonical(
    kind: str, namespace: str | None, name: str, version: str | None
) -> None:
    built = ours_build(kind, name, version, namespace=namespace)
    if built is not None:
        assert purls.canonical(built) == reference_canonical(built) == built


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "pkg:",
        "pkg:/",
        "pkg:npm",
        "pkg:npm/",
        "pkg:1npm/x",
        "pkg:npm/@scope",
        "pkg:npm/@scope/a/b",
        "pkg:npm/x?flag",
        "pkg:npm/x?1a=b",
        "pkg:npm/x?a b=c",
        "PKG:npm/x",
        "pkg:npm/\ud800",
        "pkg:npm/x@\ud800",
        "pkg:generic/%zz",
        "pkg:generic/a%00b",
        "pkg:generic/x@1.0%0Aevil",
        "pkg:generic/http://example/x",
        "pkg:generic/a:b/c",
        "pkg:generic/" + "a" * 100_000,
        "pkg:generic/x?" + "&".join(f"k{i}=v" for i in range(10_000)),
    ],
)
def test_hostile_texts_get_the_references_answer(raw: str) -> None:
    assert purls.canonical(raw) == reference_canonical(raw)


def test_not_text_is_no_purl() -> None:
    assert purls.canonical(None) is None  # type: ignore[arg-type]
    assert purls.canonical(b"pkg:npm/x") is None  # type: ignore[arg-type]


def test_the_common_shapes_need_no_reference() -> None:
    """Building and canonicalising what the catalogers make does not import packageurl."""
    script = (
        "import json, sys\n"
        "from portside.scanner import purl\n"
        f"for parts in {CATALOGUED[:-2]!r}:\n"
        "    purl.canonical(purl.build(**parts))\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    modules = json.loads(run.stdout)
    assert "packageurl" not in modules
