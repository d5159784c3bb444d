"""Portside's vulnerability database: advisories, importers, version schemes, the matcher.

A pure library (no Django), so that ``portside scan`` works on an image file with no
server, like Trivy's database:

* :mod:`.model` — the advisory model (close to OSV) and :class:`~.model.Finding`;
* :mod:`.store` — the SQLite file that holds the imported feeds and the match index;
* :mod:`.importers` — OSV (directories and zips, JSON or YAML), NVD 2.0, the Debian
  security tracker and Alpine's secdb; :mod:`.sync` downloads a feed and imports it;
* :mod:`.versions` — version ordering per ecosystem and OSV range evaluation;
* :mod:`.matcher` — packages in, findings out;
* :mod:`.severity` — CVSS scores and the store's severity classes and SLAs.
"""

from portside.vulndb.errors import VulnDBError
from portside.vulndb.matcher import MatchOptions, MatchResult, match
from portside.vulndb.model import Advisory, Finding, SeverityClass, Unmatched
from portside.vulndb.store import VulnStore, default_path

__all__ = [
    "Advisory",
    "Finding",
    "MatchOptions",
    "MatchResult",
    "SeverityClass",
    "Unmatched",
    "VulnDBError",
    "VulnStore",
    "default_path",
    "match",
]
