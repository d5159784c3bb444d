"""The catalogers: each recognises one kind of package metadata in an image.

``default_catalogers`` returns the operating-system catalogers (dpkg, apk, rpm) and
whichever language catalogers are installed beside them (``python``, ``npm``, ``golang``,
``java``, ``ruby``, ``composer``, ``dotnet``, ``rust``, ``binaries``), plus the secrets
collector of the best-practices review when it exists, so that one analysis pass gathers
what the review reads. A module offers its catalogers as a ``catalogers()`` function or a
``CATALOGERS`` sequence; failing both, every class it defines whose name ends in
``Cataloger`` is instantiated.

``introduced`` is the layer attribution the OS catalogers share.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Hashable, Iterable, Sequence
from types import ModuleType
from typing import cast

from portside.scanner.catalogers.base import Cataloger, FileVersion
from portside.scanner.errors import ScanError

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


def default_catalogers() -> list[Cataloger]:
    """A fresh list of every cataloger available, OS catalogers first."""
    from portside.scanner.catalogers.apk import ApkCataloger
    from portside.scanner.catalogers.dpkg import DpkgCataloger
    from portside.scanner.catalogers.rpm import RpmCataloger

    found: list[Cataloger] = [DpkgCataloger(), ApkCataloger(), RpmCataloger()]
    for name in LANGUAGE_MODULES:
        module = _optional(f"{__name__}.{name}")
        if module is not None:
            found.extend(_offered(module))
    # The collector alone, not the whole review (a scan that writes only an SBOM never
    # runs the review, and importing it costs 10 ms).
    practices = _optional("portside.scanner.practices.secrets")
    collector = getattr(practices, "SecretsCollector", None) if practices else None
    if collector is not None:
        found.append(collector())
    return found


def _optional(name: str) -> ModuleType | None:
    """Import ``name`` if it exists; an import error inside it is a real error."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
            return None
        raise


def _offered(module: ModuleType) -> list[Cataloger]:
    factory = getattr(module, "catalogers", None)
    if callable(factory):
        return list(factory())
    listed = getattr(module, "CATALOGERS", None)
    if listed is None:
        listed = [
            cls
            for cls_name, cls in vars(module).items()
            if inspect.isclass(cls)
            and cls.__module__ == module.__name__
            and cls_name.endswith("Cataloger")
            and not cls_name.startswith("_")
            and callable(getattr(cls, "claims", None))
            and callable(getattr(cls, "catalog", None))
        ]
    return [cast(Cataloger, c() if inspect.isclass(c) else c) for c in listed]


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
