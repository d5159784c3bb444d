"""The npm cataloger on what npm, yarn and pnpm really write, and on hostile files."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from portside.scanner.catalogers.base import FileVersion
from portside.scanner.catalogers.npm import (
    MAX_MANIFEST_BYTES,
    NpmCataloger,
    NpmMetadataError,
    parse_lock,
    parse_manifest,
)
from portside.scanner.errors import PackageDatabaseError, ScanError
from tests.scanner.catalogers.conftest import Image, layer_digest

# What the application resolves to: npm nests is-number 7 inside to-regex-range and
# installs the alias isnum7 as is-number 7 again.
RESOLVED = {
    ("@sindresorhus/is", "4.6.0"),
    ("is-number", "6.0.0"),
    ("is-number", "7.0.0"),
    ("to-regex-range", "5.0.1"),
}


def npm_query(project: Path) -> list[tuple[str, str, str]]:
    """What npm itself says is installed: (name, version, location)."""
    npm = shutil.which("npm")
    assert npm is not None
    done = subprocess.run(
        [npm, "query", "*"], cwd=project, capture_output=True, text=True, check=True, timeout=120
    )
    return [(d["name"], d["version"], d["location"]) for d in json.loads(done.stdout)]


def test_installed_packages_match_what_npm_reports(npm_project: Path) -> None:
    image = Image().add_tree(npm_project, "/srv/app", layer=1)
    found = NpmCataloger().catalog(*image.build(NpmCataloger()))

    assert found.warnings == []
    want = {
        (name, version, f"/srv/app/{location}/package.json".replace("//", "/"))
        for name, version, location in npm_query(npm_project)
    }
    assert {(p.name, p.version, p.paths[0]) for p in found} == want
    # The application itself (private, as Syft and Trivy list it too), and the nested
    # copy and the alias are each a package.
    assert len(want) == 6
    app = next(p for p in found if p.paths == ("/srv/app/package.json",))
    assert app.metadata["private"] is True
    scoped = next(p for p in found if p.name == "@sindresorhus/is")
    assert scoped.purl == "pkg:npm/%40sindresorhus/is@4.6.0"
    assert scoped.licenses == ("MIT",)
    assert scoped.layer == layer_digest(1)
    assert scoped.cataloger == "npm"
    # node_modules is present, so the lock file beside it is not read as well.
    assert all(p.metadata.get("lock_file") is None for p in found)


@pytest.mark.parametrize(
    "label",
    [
        "package-lock-v1",
        "package-lock-v2",
        "package-lock-v3",
        "yarn-v1",
        "pnpm-v5",
        "pnpm-v6",
        "pnpm-v9",
    ],
)
def test_lock_files_without_node_modules(npm_locks: dict[str, Path], label: str) -> None:
    lock = npm_locks[label]
    image = (
        Image()
        .add(f"/app/{lock.name}", lock.read_bytes())
        .add(
            "/app/package.json",
            json.dumps({"name": "app", "version": "1.0.0", "private": True}).encode(),
        )
    )
    found = NpmCataloger().catalog(*image.build(NpmCataloger()))

    assert found.warnings == []
    app = [p for p in found if p.paths == ("/app/package.json",)]
    assert [(p.name, p.version) for p in app] == [("app", "1.0.0")]
    locked = [p for p in found if p not in app]
    assert {(p.name, p.version) for p in locked} == RESOLVED
    assert all(p.paths == (f"/app/{lock.name}",) for p in locked)
    assert {p.purl for p in found} >= {
        "pkg:npm/%40sindresorhus/is@4.6.0",
        "pkg:npm/is-number@7.0.0",
    }


def test_lock_file_marks_development_only_packages(npm_locks: dict[str, Path]) -> None:
    entries = {
        (e.name, e.version): e.dev
        for e in parse_lock(npm_locks["package-lock-v3"].read_bytes(), "package-lock.json")
    }
    # is-number 7 is both the dev alias and a production dependency of to-regex-range.
    assert entries == dict.fromkeys(RESOLVED, False)
    v1 = npm_locks["package-lock-v1"].read_bytes()
    document = json.loads(v1)
    del document["dependencies"]["to-regex-range"]
    dev = {
        (e.name, e.version): e.dev
        for e in parse_lock(json.dumps(document).encode(), "package-lock.json")
    }
    assert dev[("is-number", "7.0.0")] is True


def test_lock_file_ignored_when_node_modules_is_beside_it(npm_project: Path) -> None:
    image = Image().add_tree(npm_project, "/srv/app")
    found = NpmCataloger().catalog(*image.build(NpmCataloger()))
    assert not any(p.paths[0].endswith("package-lock.json") for p in found)


def test_lock_file_layers(npm_locks: dict[str, Path]) -> None:
    full = json.loads(npm_locks["package-lock-v3"].read_bytes())
    partial = json.loads(json.dumps(full))
    del partial["packages"]["node_modules/to-regex-range"]
    del partial["packages"]["node_modules/@sindresorhus/is"]
    image = (
        Image()
        .add("/app/package-lock.json", json.dumps(partial).encode(), layer=0)
        .add("/app/package-lock.json", json.dumps(full).encode(), layer=2)
    )
    found = NpmCataloger().catalog(*image.build(NpmCataloger()))
    layers = {(p.name, p.version): p.layer for p in found}
    assert layers[("is-number", "6.0.0")] == layer_digest(0)
    assert layers[("to-regex-range", "5.0.1")] == layer_digest(2)
    assert layers[("@sindresorhus/is", "4.6.0")] == layer_digest(2)


def test_upgrade_in_a_later_layer_moves_the_layer() -> None:
    def manifest(version: str) -> bytes:
        return json.dumps({"name": "left-pad", "version": version}).encode()

    path = "/usr/lib/node_modules/left-pad/package.json"
    kept = Image().add(path, manifest("1.3.0"), layer=0).add(path, manifest("1.3.0"), layer=1)
    upgraded = Image().add(path, manifest("1.2.0"), layer=0).add(path, manifest("1.3.0"), layer=1)
    (same,) = NpmCataloger().catalog(*kept.build(NpmCataloger()))
    (new,) = NpmCataloger().catalog(*upgraded.build(NpmCataloger()))
    assert same.layer == layer_digest(0)
    assert (new.version, new.layer) == ("1.3.0", layer_digest(1))


def test_deleted_package_is_not_reported() -> None:
    path = "/app/node_modules/left-pad/package.json"
    image = (
        Image()
        .add(path, b'{"name": "left-pad", "version": "1.3.0"}', layer=0)
        .delete("/app/node_modules/left-pad", layer=1)
    )
    assert list(NpmCataloger().catalog(*image.build(NpmCataloger()))) == []


def test_which_package_json_files_are_packages() -> None:
    cataloger = NpmCataloger()
    assert cataloger.claims("/a/node_modules/x/package.json", 0o644, 10)
    assert cataloger.claims("/a/node_modules/@s/x/package.json", 0o644, 10)
    assert cataloger.claims("/a/node_modules/x/node_modules/y/package.json", 0o644, 10)
    assert not cataloger.claims("/a/node_modules/x/lib/package.json", 0o644, 10)
    assert not cataloger.claims("/a/node_modules/x/package-lock.json", 0o644, 10)
    assert not cataloger.claims("/a/node_modules/x/package.json", 0o644, MAX_MANIFEST_BYTES + 1)
    assert cataloger.claims("/srv/app/package.json", 0o644, 10)
    assert cataloger.claims("/srv/app/yarn.lock", 0o644, 10)
    assert not cataloger.claims("/srv/app/package.jsonx", 0o644, 10)

    image = (
        Image()
        .add("/srv/app/package.json", b'{"name": "app", "version": "1.0.0", "private": true}')
        .add("/srv/tool/package.json", b'{"name": "tool", "version": "2.0.0"}')
        .add("/srv/esm/package.json", b'{"type": "module"}')
        .add(
            "/a/node_modules/private-dep/package.json",
            b'{"name": "private-dep", "version": "0.1.0", "private": true}',
        )
        .add("/var/lib/dpkg/status", b"Package: x\n")
    )
    files, context = image.build(cataloger)
    # A file another cataloger claimed is in the same Files and must be passed over.
    files.versions["/var/lib/dpkg/status"] = [FileVersion("/var/lib/dpkg/status", 0, b"x", 0o644)]
    files.final_paths.add("/var/lib/dpkg/status")
    found = cataloger.catalog(files, context)
    assert sorted(p.name for p in found) == ["app", "private-dep", "tool"]
    assert found.warnings == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2, 3]", "JSON list, not an object"),
        (b"\xff\xfe\x00junk", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"name": "../../etc/passwd", "version": "1.0.0"}', "invalid name or version"),
        (b'{"name": "ok", "version": 7}', "invalid name or version"),
        (b'{"name": "ok", "version": "1.0.0", "x": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_hostile_package_json(data: bytes, message: str) -> None:
    with pytest.raises(NpmMetadataError, match=message) as caught:
        parse_manifest(data)
    assert isinstance(caught.value, PackageDatabaseError)
    image = Image().add("/app/node_modules/bad/package.json", data)
    found = NpmCataloger().catalog(*image.build(NpmCataloger()))
    assert list(found) == []
    assert len(found.warnings) == 1
    assert found.warnings[0].startswith("/app/node_modules/bad/package.json: ")


def test_oversized_package_json_is_refused_quickly() -> None:
    data = b'{"name": "big", "version": "1.0.0", "pad": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    with pytest.raises(NpmMetadataError, match="over"):
        parse_manifest(data)
    assert time.monotonic() - started < 1
    assert not NpmCataloger().claims("/app/node_modules/big/package.json", 0o644, len(data))


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("package-lock.json", b'"just a string"', "not a JSON object"),
        ("package-lock.json", b"{", "not valid JSON"),
        ("pnpm-lock.yaml", b"packages: [unclosed", "not valid YAML"),
        ("pnpm-lock.yaml", b"- a\n- b\n", "not a YAML mapping"),
        ("pnpm-lock.yaml", b"[" * 50_000, "YAML"),
        ("pnpm-lock.yaml", b"\xff\xfe", "not UTF-8"),
        ("yarn.lock", b"# yarn lockfile v1\n\nleft-pad@^1.0.0\n  version 1.3.0\n", "does not end"),
        ("yarn.lock", b"a" * 200_000 + b":\n", "longer than"),
    ],
)
def test_hostile_lock_files(filename: str, data: bytes, message: str) -> None:
    with pytest.raises(NpmMetadataError, match=message):
        parse_lock(data, filename)
    image = Image().add(f"/app/{filename}", data)
    found = NpmCataloger().catalog(*image.build(NpmCataloger()))
    assert list(found) == [] and len(found.warnings) == 1


def test_yaml_aliases_do_not_expand() -> None:
    """A 'billion laughs' document: aliases are shared references, never copies."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines += ["lockfileVersion: '9.0'", "packages:", "  left-pad@1.3.0: *a8"]
    started = time.monotonic()
    entries = parse_lock("\n".join(lines).encode(), "pnpm-lock.yaml")
    assert time.monotonic() - started < 2
    assert [(e.name, e.version) for e in entries] == [("left-pad", "1.3.0")]


def test_non_registry_entries_are_left_out() -> None:
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app"},
            "packages/ui": {"name": "@app/ui", "version": "1.0.0"},
            "node_modules/@app/ui": {"resolved": "packages/ui", "link": True},
            "node_modules/from-git": {"version": "git+https://example.invalid/x.git#abc"},
            "node_modules/ok": {"version": "1.0.0"},
        },
    }
    entries = parse_lock(json.dumps(lock).encode(), "package-lock.json")
    assert [(e.name, e.version) for e in entries] == [("ok", "1.0.0")]


def test_yarn_berry_lock() -> None:
    data = (
        b"__metadata:\n  version: 6\n  cacheKey: 8\n\n"
        b'"is-number@npm:^7.0.0":\n  version: 7.0.0\n  resolution: "is-number@npm:7.0.0"\n\n'
        b'"@sindresorhus/is@npm:4.6.0":\n  version: 4.6.0\n'
        b'  resolution: "@sindresorhus/is@npm:4.6.0"\n\n'
        b'"app@workspace:.":\n  version: 0.0.0-use.local\n  resolution: "app@workspace:."\n'
    )
    entries = parse_lock(data, "yarn.lock")
    assert {(e.name, e.version) for e in entries} == {
        ("is-number", "7.0.0"),
        ("@sindresorhus/is", "4.6.0"),
    }


def test_errors_are_scan_errors() -> None:
    assert issubclass(NpmMetadataError, ScanError)


def test_unstorable_characters_are_removed() -> None:
    data = b'{"name": "x", "version": "1.0.0", "license": "MIT\\u0000", "description": "a\\ud800b\\u0007"}'
    manifest = parse_manifest(data)
    assert manifest is not None
    assert (manifest.licenses, manifest.description) == (("MIT",), "ab")
