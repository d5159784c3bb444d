"""A small stand-in for the image reader, and real artefacts built once per session.

``Image`` records what each layer writes and deletes, then hands a cataloger the
``Files`` and ``Context`` the reader would: every version of each file the cataloger
claims, the final state after whiteouts, and the index of the final file system. The
session fixtures install real packages with the machine's own tools (pip, npm, go) into a
temporary directory, so the catalogers are tested on what those tools really write.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from portside.scanner.catalogers.base import Cataloger, Context, Entry, Files, FileVersion
from portside.scanner.model import Distro, Layer


def layer_digest(index: int) -> str:
    return f"sha256:{index + 1:064x}"


@dataclass
class Image:
    """Layer writes in order: (layer, path, data or None for a whiteout, mode)."""

    writes: list[tuple[int, str, bytes | None, int]] = field(default_factory=list)
    distro: Distro | None = None

    def add(self, path: str, data: bytes, *, layer: int = 0, mode: int = 0o644) -> Image:
        self.writes.append((layer, path, data, mode))
        return self

    def delete(self, path: str, *, layer: int) -> Image:
        self.writes.append((layer, path, None, 0))
        return self

    def add_tree(self, root: Path, prefix: str, *, layer: int = 0) -> Image:
        """Every regular file under ``root``, placed under ``prefix`` in the image."""
        for directory, _dirs, names in os.walk(root):
            for name in sorted(names):
                source = Path(directory, name)
                if source.is_symlink() or not source.is_file():
                    continue
                relative = source.relative_to(root).as_posix()
                mode = stat.S_IMODE(source.stat().st_mode)
                self.add(
                    posixpath.join(prefix, relative), source.read_bytes(), layer=layer, mode=mode
                )
        return self

    def build(self, cataloger: Cataloger) -> tuple[Files, Context]:
        files = Files()
        index: dict[str, Entry] = {}
        top = max((write[0] for write in self.writes), default=0)
        for layer, path, data, mode in sorted(self.writes, key=lambda write: write[0]):
            if data is None:
                files.final_paths.discard(path)
                for gone in [p for p in index if p == path or p.startswith(path + "/")]:
                    del index[gone]
                    files.final_paths.discard(gone)
                continue
            parent = posixpath.dirname(path)
            while parent != "/" and parent not in index:
                index[parent] = Entry(path=parent, layer=layer, kind="dir", size=0, mode=0o755)
                parent = posixpath.dirname(parent)
            index[path] = Entry(path=path, layer=layer, kind="file", size=len(data), mode=mode)
            if cataloger.claims(path, mode, len(data)):
                files.versions.setdefault(path, []).append(
                    FileVersion(path=path, layer=layer, data=data, mode=mode)
                )
                files.final_paths.add(path)
            else:
                files.final_paths.discard(path)
        layers = tuple(
            Layer(
                index=i,
                digest=layer_digest(i),
                diff_id=layer_digest(i),
                media_type="application/vnd.oci.image.layer.v1.tar+gzip",
                size=0,
            )
            for i in range(top + 1)
        )
        return files, Context(layers=layers, distro=self.distro, index=index)


def run(command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run a tool and return what it printed; its output explains a failure."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{command} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _pip() -> list[str]:
    """A pip to install with: the running interpreter's, or the machine's."""
    try:
        import pip  # noqa: F401
    except ImportError:
        found = shutil.which("pip3") or shutil.which("pip")
        if found is None:
            pytest.fail("no pip on this machine: the Python cataloger's tests need one")
        return [found]
    return [sys.executable, "-m", "pip"]


@pytest.fixture(scope="session")
def six_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """six 1.16.0, a real wheel from PyPI, installed with ``pip install --target``."""
    target = tmp_path_factory.mktemp("pip-target")
    run(
        [
            *_pip(),
            "install",
            "--quiet",
            "--no-deps",
            "--no-compile",
            "--target",
            str(target),
            "six==1.16.0",
        ]
    )
    return target


NPM_APP = {
    "name": "portside-demo-app",
    "version": "0.0.1",
    "private": True,
    # to-regex-range 5.0.1 needs is-number ^7, so npm nests a second is-number inside it;
    # the development dependency is an alias of is-number 7.
    "dependencies": {"is-number": "6.0.0", "@sindresorhus/is": "4.6.0", "to-regex-range": "5.0.1"},
    "devDependencies": {"isnum7": "npm:is-number@7.0.0"},
}
NPM_REGISTRY = "https://registry.npmjs.org/"


def _npm() -> str:
    found = shutil.which("npm")
    if found is None:
        pytest.fail("no npm on this machine: the npm cataloger's tests need it")
    return found


@pytest.fixture(scope="session")
def npm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The application installed with npm: node_modules and a version 3 lock file."""
    project = tmp_path_factory.mktemp("npm-app")
    (project / "package.json").write_text(json.dumps(NPM_APP, indent=2))
    run([_npm(), "install", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=project)
    return project


@pytest.fixture(scope="session")
def npm_locks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The application's lock file as each tool writes it: npm's three lock file
    versions, yarn 1, and pnpm 7, 8 and 9 (lock formats 5.4, 6.0 and 9.0)."""
    npm = _npm()
    root = tmp_path_factory.mktemp("npm-locks")
    tools = root / "tools"
    tools.mkdir()
    (tools / "package.json").write_text('{"name": "tools", "version": "0.0.0", "private": true}')
    run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "yarn@1.22.22",
            "pnpm7@npm:pnpm@7.33.7",
            "pnpm8@npm:pnpm@8.15.9",
            "pnpm9@npm:pnpm@9.15.9",
        ],
        cwd=tools,
    )
    modules = tools / "node_modules"
    node = shutil.which("node") or "node"
    commands = {
        "package-lock-v1": [npm, "install", "--package-lock-only", "--lockfile-version", "1"],
        "package-lock-v2": [npm, "install", "--package-lock-only", "--lockfile-version", "2"],
        "package-lock-v3": [npm, "install", "--package-lock-only", "--lockfile-version", "3"],
        "yarn-v1": [
            node,
            str(modules / "yarn" / "bin" / "yarn.js"),
            "install",
            "--ignore-scripts",
            "--non-interactive",
            "--registry",
            NPM_REGISTRY,
        ],
        "pnpm-v5": [
            node,
            str(modules / "pnpm7" / "bin" / "pnpm.cjs"),
            "install",
            "--lockfile-only",
            "--ignore-scripts",
            "--registry",
            NPM_REGISTRY,
        ],
        "pnpm-v6": [
            node,
            str(modules / "pnpm8" / "bin" / "pnpm.cjs"),
            "install",
            "--lockfile-only",
            "--ignore-scripts",
            "--registry",
            NPM_REGISTRY,
        ],
        "pnpm-v9": [
            node,
            str(modules / "pnpm9" / "bin" / "pnpm.cjs"),
            "install",
            "--lockfile-only",
            "--ignore-scripts",
            "--registry",
            NPM_REGISTRY,
        ],
    }
    produced = {"package-lock": "package-lock.json", "yarn": "yarn.lock", "pnpm": "pnpm-lock.yaml"}
    locks: dict[str, Path] = {}
    for label, command in commands.items():
        project = root / label
        project.mkdir()
        (project / "package.json").write_text(json.dumps(NPM_APP, indent=2))
        run([*command, *(["--no-audit", "--no-fund"] if command[0] == npm else [])], cwd=project)
        lock = project / produced[label.rsplit("-", 1)[0]]
        if not lock.is_file():
            pytest.fail(f"{label} wrote no {lock.name}")
        locks[label] = lock
    return locks


def _module_proxy(proxy: Path, path: str, version: str, source: str) -> None:
    """Lay out one module the way a GOPROXY serves it, so ``go`` fetches it from a
    ``file://`` URL with no network."""
    base = proxy / path / "@v"
    base.mkdir(parents=True)
    package = path.rsplit("/", 1)[1]
    go_mod = f"module {path}\n\ngo 1.19\n"
    (base / "list").write_text(version + "\n")
    (base / f"{version}.info").write_text(json.dumps({"Version": version}))
    (base / f"{version}.mod").write_text(go_mod)
    with zipfile.ZipFile(base / f"{version}.zip", "w") as archive:
        archive.writestr(f"{path}@{version}/go.mod", go_mod)
        archive.writestr(f"{path}@{version}/{package}.go", source)


@pytest.fixture(scope="session")
def go_build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A Go program built with the machine's compiler and no network, with three
    dependencies: one plain, one replaced by another module, one replaced by a local
    directory. Yields the binary and what ``go version -m`` prints about it."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("no go compiler on this machine: the Go cataloger's tests need it")
    root = tmp_path_factory.mktemp("go")
    proxy = root / "proxy"
    _module_proxy(
        proxy,
        "example.com/plain",
        "v0.3.0",
        'package plain\n\nfunc Name() string { return "plain" }\n',
    )
    _module_proxy(
        proxy,
        "example.com/colourfork",
        "v1.1.0",
        'package colour\n\nfunc Name() string { return "fork" }\n',
    )
    env = {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOPROXY": proxy.as_uri(),
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
        "GOPATH": str(root / "gopath"),
        "GOCACHE": str(root / "cache"),
        "CGO_ENABLED": "0",
        "GOWORK": "off",
    }
    lib = root / "greet"
    lib.mkdir()
    (lib / "go.mod").write_text("module example.com/greet\n\ngo 1.19\n")
    (lib / "greet.go").write_text('package greet\n\nfunc Name() string { return "greet" }\n')
    app = root / "app"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/portside/app\n\ngo 1.19\n")
    (app / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n\n\t"example.com/colour"\n\t"example.com/greet"\n'
        '\t"example.com/plain"\n)\n\n'
        "func main() { fmt.Println(greet.Name(), colour.Name(), plain.Name()) }\n"
    )
    for edit in (
        ["-require", "example.com/greet@v1.2.3"],
        ["-replace", "example.com/greet=../greet"],
        ["-require", "example.com/colour@v1.0.0"],
        ["-replace", "example.com/colour=example.com/colourfork@v1.1.0"],
        ["-require", "example.com/plain@v0.3.0"],
    ):
        run([go, "mod", "edit", *edit], cwd=app, env=env)
    binary = root / "app-bin"
    run([go, "build", "-o", str(binary), "."], cwd=app, env=env)
    yield binary, run([go, "version", "-m", str(binary)], env=env)
    # The module cache is written read-only; make it removable for pytest's cleanup.
    for directory, _dirs, _names in os.walk(root):
        os.chmod(directory, 0o755)
