"""The catalogers: each recognises one kind of package metadata in an image.

``default_catalogers`` returns the operating-system catalogers (dpkg, apk, rpm) and
whichever language catalogers are installed beside them (``python``, ``npm``, ``golang``,
``java``, ``ruby``, ``composer``, ``dotnet``, ``rust``, ``binaries``), plus the secrets
collector of the best-practices review when it exists, so that one analysis pass gathers
what the review reads. Each is offered every file by its ``claims`` (``claims.py``), and
its module, with the parsers and what they import, is loaded only when the image holds a
file it claims (a cataloger with no file of its own finds nothing); ``Deferred.load``
gives the cataloger itself.

``introduced`` is the layer attribution the OS catalogers share.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Hashable, Iterable, Sequence
from types import ModuleType
from typing import cast

from portside.scanner.catalogers import claims
from portside.scanner.catalogers.base import Cataloger, Context, Files, FileVersion
from portside.scanner.errors import ScanError
from portside.scanner.model import Package

LANGUAGE_MODULES = (
    "python",
    "npm",
    "golang",
    "java",
    "ruby",
    "composer",
    "dotnet",
    "rust",
    "binaries",
)


# The catalogers of this package, in the order they run: (module, name, class).
BUILT_IN = (
    ("dpkg", "dpkg", "DpkgCataloger"),
    ("apk", "apk", "ApkCataloger"),
    ("rpm", "rpm", "RpmCataloger"),
    ("python", "python", "PythonCataloger"),
    ("npm", "npm", "NpmCataloger"),
    ("golang", "golang", "GoCataloger"),
    ("java", "java", "JavaCataloger"),
    ("ruby", "ruby", "RubyCataloger"),
    ("composer", "composer", "ComposerCataloger"),
    ("dotnet", "dotnet", "DotnetCataloger"),
    ("rust", "rust", "RustCataloger"),
    ("binaries", "binary", "BinaryCataloger"),
)


def default_catalogers(*, review: bool = True) -> list[Cataloger]:
    """A fresh list of every cataloger available, OS catalogers first. ``review=False``
    leaves out the secrets collector, whose files only the best-practices review reads
    (a scan that writes only an SBOM never runs it)."""
    found: list[Cataloger] = [Deferred(module, name, cls) for module, name, cls in BUILT_IN]
    if not review:
        return found
    # The collector alone, not the whole review (importing it costs 10 ms).
    practices = _optional("portside.scanner.practices.secrets")
    collector = getattr(practices, "SecretsCollector", None) if practices else None
    if collector is not None:
        found.append(collector())
    return found


class Deferred:
    """A cataloger of this package whose module is loaded only for an image that holds a
    file it claims: ``claims`` is the module's test from ``claims.py``, and ``catalog``
    finds nothing without loading anything when no version of any kept file passes it.
    Every built-in cataloger reads only the files it claims, so what it would have found
    then is nothing."""

    def __init__(self, module: str, name: str, cls: str) -> None:
        self.module = module
        self.name = name
        self.cls = cls
        self.claims = claims.BY_MODULE[module]
        self._loaded: Cataloger | None = None

    def __repr__(self) -> str:
        return f"Deferred({self.module!r}, {self.name!r}, {self.cls!r})"

    def load(self) -> Cataloger | None:
        """The cataloger itself (made once); None when its module is not installed."""
        if self._loaded is None:
            module = _optional(f"{__name__}.{self.module}")
            if module is None:
                return None
            self._loaded = cast(Cataloger, getattr(module, self.cls)())
        return self._loaded

    def catalog(self, files: Files, context: Context) -> Iterable[Package]:
        claimed = self.claims
        if not any(
            claimed(path, version.mode, len(version.data))
            for path, history in files.versions.items()
            for version in history
        ):
            return []
        cataloger = self.load()
        return [] if cataloger is None else cataloger.catalog(files, context)


def _optional(name: str) -> ModuleType | None:
    """Import ``name`` if it exists; an import error inside it is a real error."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
            return None
        raise


def introduced[K: Hashable](
    history: Sequence[FileVersion],
    keys: Callable[[bytes], Iterable[K]],
    final: Iterable[K] | None = None,
) -> dict[K, int]:
    """For each key (a package's name, version and architecture) in the last version of
    a database file, the layer from which every later version has listed it.

    A package keeps the layer that first installed it when later layers rewrite the
    database, gets the new layer when it is upgraded (its version is part of the key),
    and counts as new again after a layer removed it. A version that cannot be parsed
    says nothing and is passed over; ``keys`` raises ``ScanError`` for one. ``final``
    gives the keys of the last version when the caller has parsed it already.
    """
    since: dict[K, int] = {}
    for position, version in enumerate(history):
        if final is not None and position == len(history) - 1:
            present = set(final)
        else:
            try:
                present = set(keys(version.data))
            except ScanError:
                continue
        since = {key: since.get(key, version.layer) for key in present}
    return since
