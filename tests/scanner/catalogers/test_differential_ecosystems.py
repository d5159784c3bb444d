"""Portside's language catalogers against Syft 1.18.1 and Trivy 0.59.1 on small images of
each ecosystem (``ecosystems.py``): PHP (Composer), .NET (deps.json), Rust (a ``cargo
auditable`` program and a Cargo.lock) and an npm application's own package.

The tools run as in ``tests/scanner/test_differential.py``, offline, on the OCI layouts.
Per ecosystem, every package both Syft and Trivy report must be in Portside's inventory
with the same version; any other disagreement must be listed in ``ECOSYSTEM_EXPLAINED``
with its reason (an entry that no longer matches fails too). Layers are checked against
the build and against the tools.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from portside.scanner.analyze import analyze
from tests.scanner import realimage
from tests.scanner.catalogers import ecosystems, rustelf
from tests.scanner.test_differential import (
    TOOLS,
    Explained,
    Found,
    Key,
    _table,
    parse_syft,
    parse_trivy,
    portside_found,
    run_offline,
    seen_by,
    syft_command,
    trivy_command,
)


class EcosystemScans:
    """Each tool's report on each ecosystem's image, made on first use."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self._images: dict[str, ecosystems.EcosystemImage] = {}
        self._found: dict[tuple[str, str], list[Found]] = {}

    def image(self, name: str) -> ecosystems.EcosystemImage:
        if name not in self._images:
            try:
                self._images[name] = ecosystems.build(name, self.scratch / "images")
            except rustelf.ToolMissing as error:
                pytest.fail(f"the Rust image cannot be built: {error}", pytrace=False)
        return self._images[name]

    def found(self, tool: str, name: str) -> list[Found]:
        if (tool, name) not in self._found:
            image = self.image(name)
            if tool == "portside":
                found = portside_found(analyze(image.path))
            else:
                output = self.scratch / f"{tool}-{name}.json"
                if tool == "syft":
                    command = syft_command(f"oci-dir:{image.path}", output)
                    env = {
                        "SYFT_CHECK_FOR_APP_UPDATE": "false",
                        "XDG_CACHE_HOME": str(self.scratch / "syft-cache"),
                    }
                else:
                    command = trivy_command(image.path, output, self.scratch / f"trivy-{name}")
                    env = {"TRIVY_DISABLE_VEX_NOTICE": "true"}
                try:
                    run_offline(command, env=env, what=f"{tool} on the {name} image")
                except realimage.RealImageError as error:
                    pytest.fail(str(error), pytrace=False)
                parse = parse_syft if tool == "syft" else parse_trivy
                found = parse(output.read_bytes(), image.diff_ids)
            self._found[tool, name] = [item for item in found if item.type == _PURL_TYPE[name]]
        return self._found[tool, name]

    def by_key(self, tool: str, name: str) -> dict[Key, Found]:
        return {item.key: item for item in self.found(tool, name)}


_PURL_TYPE = {"composer": "composer", "nuget": "nuget", "cargo": "cargo", "npm": "npm"}


@pytest.fixture(scope="module")
def ecosystem_scans(tmp_path_factory: pytest.TempPathFactory) -> EcosystemScans:
    return EcosystemScans(tmp_path_factory.mktemp("ecosystems"))


_NO_TRIVY = frozenset({"portside", "syft"})
_NO_SYFT = frozenset({"portside", "trivy"})

# Every package of these images that not all three tools report, and why (Syft 1.18.1,
# Trivy 0.59.1, as each reads an image rather than a directory).
ECOSYSTEM_EXPLAINED: tuple[Explained, ...] = (
    Explained(
        "composer",
        "guzzlehttp/guzzle",
        _NO_TRIVY,
        "Trivy reads installed.json only in Composer 2's format, not Composer 1's list",
        "6.5.5",
    ),
    *(
        Explained(
            "composer", name, frozenset({"portside"}), "neither reads composer.lock in an image"
        )
        for name in ("symfony/console", "mockery/mockery")
    ),
    *(
        Explained(
            "nuget",
            name,
            _NO_SYFT,
            "Syft reads *.deps.json only when it scans a directory; in an image it reads "
            "the version resources of assemblies, and these images hold none",
        )
        for name in ("Newtonsoft.Json", "Serilog", "System.Text.Json")
    ),
    *(
        Explained("cargo", name, _NO_SYFT, "Syft reads Cargo.lock only when it scans a directory")
        for name in ("anyhow", "lock-demo")
    ),
    Explained(
        "npm",
        "no-version",
        frozenset({"syft"}),
        "Syft lists a package.json with no version as version UNKNOWN",
        "UNKNOWN",
    ),
)


@pytest.mark.parametrize("name", ecosystems.ECOSYSTEMS)
def test_every_package_syft_and_trivy_both_report_in_an_ecosystem_portside_reports(
    ecosystem_scans: EcosystemScans, name: str
) -> None:
    syft, trivy = ecosystem_scans.by_key("syft", name), ecosystem_scans.by_key("trivy", name)
    portside = ecosystem_scans.by_key("portside", name)
    both = set(syft) & set(trivy)
    if name != "nuget":  # Syft reads no deps.json in an image: see ECOSYSTEM_EXPLAINED
        assert len(both) >= 3, f"the tools agree on too little in the {name} image: {both}"
    missing = {key: frozenset({"syft", "trivy"}) for key in both - set(portside)}
    assert not missing, "Syft and Trivy report, Portside does not:\n" + _table(missing.items())


@pytest.mark.parametrize("name", ecosystems.ECOSYSTEMS)
def test_every_disagreement_in_an_ecosystem_is_explained(
    ecosystem_scans: EcosystemScans, name: str
) -> None:
    presence = seen_by({tool: ecosystem_scans.by_key(tool, name) for tool in TOOLS})
    differences = {key: tools for key, tools in presence.items() if len(tools) < len(TOOLS)}
    explained = [entry for entry in ECOSYSTEM_EXPLAINED if entry.type == _PURL_TYPE[name]]
    assert not any(entry.seen_by == {"syft", "trivy"} for entry in explained)
    unexplained = {
        key: tools
        for key, tools in differences.items()
        if not any(entry.matches(key, tools) for entry in explained)
    }
    assert not unexplained, "differences with no entry in ECOSYSTEM_EXPLAINED:\n" + _table(
        unexplained.items()
    )
    stale = [e for e in explained if not any(e.matches(k, t) for k, t in differences.items())]
    assert not stale, f"ECOSYSTEM_EXPLAINED entries that no longer match a difference: {stale}"


@pytest.mark.parametrize("name", ecosystems.ECOSYSTEMS)
def test_ecosystem_packages_keep_the_layer_that_introduced_them(
    ecosystem_scans: EcosystemScans, name: str
) -> None:
    found = {(x.name, x.version): x.layer for x in ecosystem_scans.found("portside", name)}
    assert found == ecosystems.EXPECTED[name]


@pytest.mark.parametrize("name", ecosystems.ECOSYSTEMS)
def test_ecosystem_layers_agree_with_trivy_and_with_syft_where_a_file_was_written_once(
    ecosystem_scans: EcosystemScans, name: str
) -> None:
    """Trivy gives a package the layer in which it first appeared, as Portside does. Syft
    gives it the layer of the last version of its file: the same unless a later layer
    rewrote the file (the composer and .NET images do, for an upgrade)."""
    reports = {tool: ecosystem_scans.by_key(tool, name) for tool in TOOLS}
    rewritten = {"/srv/php/vendor/composer/installed.json", "/app/MyApp.deps.json"}
    compared = 0
    for key, ours in reports["portside"].items():
        if key in reports["trivy"]:
            assert reports["trivy"][key].layer == ours.layer, key
            compared += 1
        if key in reports["syft"]:
            last = 2 if ours.path in rewritten else ours.layer
            assert reports["syft"][key].layer == last, key
    assert compared >= 3


def test_the_image_of_every_ecosystem_holds_what_each_image_holds(tmp_path: Path) -> None:
    """The benchmark's image: every ecosystem's layers after one os-release layer."""
    image = ecosystems.build("all", tmp_path)
    found = {(p.type, p.name, p.version) for p in analyze(image.path).inventory.packages}
    expected = {
        (_PURL_TYPE[name], package, version)
        for name in ecosystems.ECOSYSTEMS
        for package, version in ecosystems.EXPECTED[name]
    }
    assert found == expected
