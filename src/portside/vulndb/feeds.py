"""The feeds a store syncs: the defaults, and how ``PORTSIDE_VULNDB_SOURCES`` names others.

Out of the box a store syncs, for every ecosystem the scanner catalogs, osv.dev's
per-ecosystem archive; the Debian security tracker; every branch of Alpine's secdb; and
NVD's CVE API for CVSS scores. Each entry of the setting is ``default`` (all of those),
``NAME=KIND:URL`` or ``KIND=URL`` (the feed is then named after its kind). With a mirror
base URL set, every URL is fetched from ``<mirror>/<host>/<path>`` instead, the layout a
caching mirror of the public URLs has; an air-gapped store reads the same layout from a
folder (``portside vulndb sync --from FOLDER``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

from portside.vulndb.errors import SyncFailed
from portside.vulndb.importers.naming import feed_name
from portside.vulndb.sync import KINDS, Feed

OSV_ARCHIVE = "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip"
#: osv.dev's ecosystem names for what the scanner catalogs
OSV_ECOSYSTEMS = (
    "PyPI",
    "npm",
    "Go",
    "Maven",
    "RubyGems",
    "crates.io",
    "Packagist",
    "NuGet",
    "Debian",
    "Alpine",
)
DEBIAN_TRACKER = "https://security-tracker.debian.org/tracker/data/json"
ALPINE_SECDB = "https://secdb.alpinelinux.org/"
NVD_API = "https://services.nvd.nist.gov/rest/json/cves/2.0"


def default_feeds() -> list[Feed]:
    feeds = [
        Feed(feed_name(f"osv-{ecosystem}"), "osv", OSV_ARCHIVE.format(ecosystem=ecosystem))
        for ecosystem in OSV_ECOSYSTEMS
    ]
    feeds.append(Feed("debian", "debian", DEBIAN_TRACKER))
    feeds.append(Feed("alpine", "alpine", ALPINE_SECDB))
    feeds.append(Feed("nvd", "nvd", NVD_API))
    return feeds


def configured(values: Iterable[str], *, mirror: str = "") -> list[Feed]:
    """The feeds the setting's entries name, in order, each once (a later entry of the
    same name wins); URLs rewritten to ``mirror`` when one is given. Raises
    :class:`VulnDBError` for an entry it cannot read."""
    found: dict[str, Feed] = {}
    for value in values:
        value = value.strip()
        if not value:
            continue
        if value == "default":
            for feed in default_feeds():
                found[feed.name] = feed
            continue
        name, sep, rest = value.partition("=")
        if not sep or not rest or not name:
            raise SyncFailed(
                f"PORTSIDE_VULNDB_SOURCES: {value!r} is not 'default', NAME=KIND:URL or KIND=URL"
            )
        kind = name
        if rest.split(":", 1)[0] in KINDS:
            kind, rest = rest.split(":", 1)
        if feed_name(name) != name:
            raise SyncFailed(
                f"PORTSIDE_VULNDB_SOURCES: feed name {name!r} must be lower-case letters, "
                "digits, '.', '-' or '_'"
            )
        found[name] = Feed(name=name, kind=kind, url=rest)  # type: ignore[arg-type]
    if mirror:
        return [_mirrored(feed, mirror) for feed in found.values()]
    return list(found.values())


def _mirrored(feed: Feed, mirror: str) -> Feed:
    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncFailed(f"PORTSIDE_VULNDB_MIRROR: {mirror!r} is not an http or https URL")
    original = urllib.parse.urlsplit(feed.url)
    url = f"{mirror.rstrip('/')}/{original.hostname}{original.path}"
    if original.query:
        url += f"?{original.query}"
    return Feed(feed.name, feed.kind, url, feed.max_bytes, feed.timeout, feed.idle_timeout)
