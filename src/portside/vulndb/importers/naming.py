"""The name a feed gets in the database when whoever imports it gives none.

Two imports must not land under one name by accident: the second would replace the
first's records. So the default is derived from what is imported, the same way every
time, and matches the names of the default feeds ``portside vulndb sync`` fetches:

* OSV: ``osv-`` and the ecosystem of its records (``osv-pypi``, ``osv-go``,
  ``osv-crates.io``; a distribution's releases share one, ``Debian:12`` is
  ``osv-debian``), read from the first records; a tree of several ecosystems is named
  after its file or folder (``osv-all-ecosystems``);
* Alpine's secdb: ``alpine-`` and the branch and repository of a single file
  (``alpine-v3.20-main``), or ``alpine`` for a folder of them;
* the Debian tracker: ``debian``; NVD: ``nvd``.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from portside.vulndb.errors import VulnDBError
from portside.vulndb.importers._input import Limits, load_document, load_json, read_file

#: how many OSV records are read to tell the ecosystem of a tree
_PEEK = 50


def feed_name(text: str) -> str:
    """``text`` made a valid source name: lower case letters, digits, ``.``, ``-`` and
    ``_``, runs of anything else a single ``-``."""
    name = re.sub(r"[^a-z0-9._]+", "-", text.lower()).strip("-.")
    return name[:100] or "feed"


def default_name(kind: str, path: Path, *, limits: Limits | None = None) -> str:
    """The source name for importing ``path`` as ``kind`` when none is given."""
    path = Path(path)
    if kind == "osv":
        return _osv_name(path, limits or Limits())
    if kind == "alpine" and path.is_file():
        return _alpine_name(path, limits or Limits())
    return kind


def _osv_name(path: Path, limits: Limits) -> str:
    from portside.vulndb.importers.osv import _inputs  # one reader for the importer and this

    ecosystems: set[str] = set()
    try:
        for label, _, data in itertools.islice(_inputs(path, limits), _PEEK):
            ecosystems.update(_ecosystems(load_document(label, data)))
    except VulnDBError:
        pass  # the import itself reports the bad file, with its name
    if len(ecosystems) == 1:
        return feed_name(f"osv-{ecosystems.pop()}")
    stem = path.stem if path.is_file() else path.name
    if stem == "all":  # osv.dev's per-ecosystem archive: PyPI/all.zip
        stem = path.resolve().parent.name
    return feed_name(f"osv-{stem}")


def _ecosystems(document: Any) -> set[str]:
    """The ecosystems (without a release: ``Debian:12`` is ``Debian``) a record names."""
    found: set[str] = set()
    if not isinstance(document, dict):
        return found
    for entry in document.get("affected") or []:
        package = entry.get("package") if isinstance(entry, dict) else None
        ecosystem = package.get("ecosystem") if isinstance(package, dict) else None
        if isinstance(ecosystem, str) and ecosystem:
            found.add(ecosystem.split(":", 1)[0])
    return found


def _alpine_name(path: Path, limits: Limits) -> str:
    try:
        document = load_json(str(path), read_file(path, limits.max_file))
    except VulnDBError:
        return "alpine"
    if not isinstance(document, dict):
        return "alpine"
    branch, repository = document.get("distroversion"), document.get("reponame")
    if isinstance(branch, str) and isinstance(repository, str) and branch and repository:
        return feed_name(f"alpine-{branch}-{repository}")
    return "alpine"
