"""What the Debian security tracker says about an issue without a fix, carried to the
finding: end-of-life, undetermined, the no-DSA reasons; the tracker's urgency as the class
when nothing has a CVSS score; and the upgrade of a database written before the tracker's
reasons were kept."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from portside.vulndb import match
from portside.vulndb.importers import import_debian, import_nvd
from portside.vulndb.importers.debian import parse_debian
from portside.vulndb.model import SeverityClass, no_fix_text
from portside.vulndb.severity import urgency_score
from portside.vulndb.store import SCHEMA_VERSION, VulnStore
from portside.vulndb.sync import Feed, sync
from tests.vulndb.feedserver import FeedServer, Route
from tests.vulndb.helpers import DEBIAN_12, make_package

INSTALLED = "1:1.2.13.dfsg-1"


def issue(**release: str) -> dict[str, Any]:
    return {"description": "a flaw", "releases": {"bookworm": {"status": "open", **release}}}


def tracker() -> dict[str, Any]:
    return {
        "zlib": {
            "CVE-2026-0001": issue(urgency="end-of-life"),
            "CVE-2026-0002": issue(status="undetermined"),
            "CVE-2026-0003": issue(
                urgency="low", nodsa="contrib/minizip not built", nodsa_reason="ignored"
            ),
            "CVE-2026-0004": issue(urgency="medium", nodsa="Minor issue", nodsa_reason="postponed"),
            "CVE-2026-0005": issue(urgency="low*", nodsa="Minor issue"),
            "CVE-2026-0006": issue(urgency="not yet assigned"),
            "TEMP-0000001-AAAAAA": issue(urgency="high"),
            "TEMP-0000002-BBBBBB": issue(urgency="medium"),
            "CVE-2026-0007": issue(urgency="low"),  # NVD scores it below
            "CVE-2026-0008": {
                "releases": {
                    "bookworm": {
                        "status": "resolved",
                        "fixed_version": "1:1.2.13.dfsg-1+deb12u1",
                        "urgency": "high",
                        "nodsa": "Minor issue",
                    }
                }
            },
        }
    }


def nvd_file(folder: Path) -> Path:
    metric = {
        "source": "nvd@nist.gov",
        "type": "Primary",
        "cvssData": {
            "version": "3.1",
            "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "baseScore": 9.8,
        },
    }
    document = {
        "vulnerabilities": [
            {
                "cve": {
                    "id": "CVE-2026-0007",
                    "lastModified": "2026-11-01T00:00:00.000",
                    "descriptions": [{"lang": "en", "value": "scored"}],
                    "metrics": {"cvssMetricV31": [metric]},
                }
            }
        ]
    }
    path = folder / "nvd.json"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def debian(store: VulnStore, tmp_path: Path) -> VulnStore:
    path = tmp_path / "tracker.json"
    path.write_text(json.dumps(tracker()))
    import_debian(store, path)
    import_nvd(store, nvd_file(tmp_path))
    return store


def zlib() -> Any:
    return make_package("deb", "zlib1g", INSTALLED, source_name="zlib", source_version=INSTALLED)


def findings(store: VulnStore) -> dict[str, Any]:
    return {f.advisory_id: f for f in match([zlib()], DEBIAN_12, store)}


def test_the_importer_keeps_the_no_dsa_reason() -> None:
    records = {r.vuln_id: r for r in parse_debian("tracker.json", tracker())}
    assert records["CVE-2026-0003"].nodsa == "contrib/minizip not built"
    assert records["CVE-2026-0003"].nodsa_reason == "ignored"
    assert records["CVE-2026-0005"].nodsa_reason == ""
    assert records["CVE-2026-0001"].nodsa == records["CVE-2026-0001"].nodsa_reason == ""


def test_why_there_is_no_fix(debian: VulnStore) -> None:
    found = findings(debian)
    said = {ident: f.no_fix for ident, f in found.items() if not f.fixed_versions}
    assert said == {
        "CVE-2026-0001": "will not be fixed (end-of-life)",
        "CVE-2026-0002": "fix undetermined",
        "CVE-2026-0003": "will not be fixed: contrib/minizip not built",
        "CVE-2026-0004": "fix postponed: Minor issue",
        "CVE-2026-0005": "no security update planned: Minor issue",
        "CVE-2026-0006": "no fix",
        "TEMP-0000001-AAAAAA": "no fix",
        "TEMP-0000002-BBBBBB": "no fix",
        "CVE-2026-0007": "no fix",
    }
    assert found["CVE-2026-0003"].distro_status == "ignored"
    assert found["CVE-2026-0004"].distro_status == "postponed"
    assert found["CVE-2026-0005"].distro_status == "no-dsa"
    assert found["CVE-2026-0005"].distro_note == "Minor issue"
    # A resolved issue is about its fixed version, whatever its no-DSA note.
    assert found["CVE-2026-0008"].distro_status == "resolved"
    assert found["CVE-2026-0008"].fixed_versions == ("1:1.2.13.dfsg-1+deb12u1",)


def test_the_urgency_is_the_class_only_without_a_score(debian: VulnStore) -> None:
    found = findings(debian)
    classes = {ident: (f.severity, f.score_source) for ident, f in found.items()}
    assert classes["TEMP-0000001-AAAAAA"] == (SeverityClass.CRITICAL, "urgency")
    assert classes["TEMP-0000002-BBBBBB"] == (SeverityClass.MAJOR, "urgency")
    assert classes["CVE-2026-0005"] == (SeverityClass.MINOR, "urgency")  # "low*"
    assert classes["CVE-2026-0004"] == (SeverityClass.MAJOR, "urgency")
    # No assessment at all: unknown, as before.
    assert classes["CVE-2026-0006"] == (SeverityClass.UNKNOWN, "")
    assert classes["CVE-2026-0001"] == (SeverityClass.UNKNOWN, "")  # end-of-life
    assert classes["CVE-2026-0002"] == (SeverityClass.UNKNOWN, "")  # no urgency
    # A CVSS score wins over the urgency.
    scored = found["CVE-2026-0007"]
    assert (scored.severity, scored.cvss_score, scored.score_source) == (
        SeverityClass.CRITICAL,
        9.8,
        "nvd",
    )
    temp = found["TEMP-0000001-AAAAAA"]
    assert temp.cvss_score is None and temp.cvss_vector == ""
    assert temp.severity_notes == (
        "no CVSS score; the class follows the Debian security tracker's urgency 'high'",
    )


@pytest.mark.parametrize(
    ("urgency", "expected"),
    [
        ("high", SeverityClass.CRITICAL),
        ("High*", SeverityClass.CRITICAL),
        ("medium", SeverityClass.MAJOR),
        ("low", SeverityClass.MINOR),
        ("unimportant", SeverityClass.MINOR),
        ("not yet assigned", None),
        ("end-of-life", None),
        ("", None),
    ],
)
def test_urgency_classes(urgency: str, expected: SeverityClass | None) -> None:
    score = urgency_score(urgency)
    assert (score.severity if score else None) == expected
    assert score is None or score.score is None


def test_no_fix_text() -> None:
    assert no_fix_text("") == "no fix"
    assert no_fix_text("open") == "no fix"
    assert no_fix_text("end-of-life", "ignored text") == "will not be fixed (end-of-life)"
    assert no_fix_text("ignored") == "will not be fixed"
    assert no_fix_text("ignored", "  two\n words ") == "will not be fixed: two words"
    assert no_fix_text("ignored", "x" * 500).endswith("x...")
    assert len(no_fix_text("ignored", "x" * 500)) < 240


# --- a database written by schema version 1 ---------------------------------------------------


def make_version_1(path: Path) -> None:
    """Turn a current file back into what version 1 wrote: no nodsa columns."""
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE distro DROP COLUMN nodsa")
    db.execute("ALTER TABLE distro DROP COLUMN nodsa_reason")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def test_a_version_1_file_is_read_as_it_is_and_upgraded_when_written(tmp_path: Path) -> None:
    path = tmp_path / "vulndb.sqlite"
    feed = tmp_path / "tracker.json"
    feed.write_text(json.dumps(tracker()))
    with VulnStore.open(path) as store:
        import_debian(store, feed)
    make_version_1(path)

    with VulnStore.open(path, readonly=True) as old:  # a scan, while nothing syncs
        assert old.schema_version == 1
        found = findings(old)
        assert found["CVE-2026-0001"].no_fix == "will not be fixed (end-of-life)"
        assert found["CVE-2026-0003"].no_fix == "no fix"  # the reason is not there yet
        assert old.source("debian").digest  # type: ignore[union-attr]

    with VulnStore.open(path) as store:  # a sync or an import
        assert store.schema_version == SCHEMA_VERSION
        assert store.source("debian").digest == ""  # type: ignore[union-attr]
        assert not store.is_current("debian")
        assert findings(store)["CVE-2026-0003"].no_fix == "no fix"  # the old verdicts stand
        again = import_debian(store, feed)  # the same file: imported again all the same
        assert again.changed
        assert store.is_current("debian")
        assert findings(store)["CVE-2026-0003"].no_fix.startswith("will not be fixed: ")

    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone() == (str(SCHEMA_VERSION),)
    db.close()
    with VulnStore.open(path) as store:  # opening again changes nothing
        assert store.is_current("debian")


def test_the_upgrade_makes_the_next_sync_import_the_cached_tracker(
    tmp_path: Path, feeds: FeedServer
) -> None:
    path = tmp_path / "vulndb.sqlite"
    feeds.routes["/tracker/data/json"] = Route(json.dumps(tracker()).encode(), etag='"t1"')
    feed = Feed("debian", "debian", feeds.base + "/tracker/data/json")
    with VulnStore.open(path) as store:
        assert sync(store, feed).status == "imported"
        assert sync(store, feed).status == "not-modified"
    make_version_1(path)
    with VulnStore.open(path) as store:
        done = sync(store, feed)  # the server answers 304; the cached file is imported
        assert done.status == "imported"
        assert feeds.seen[-1].get("If-None-Match") == '"t1"'
        assert findings(store)["CVE-2026-0004"].no_fix == "fix postponed: Minor issue"
        assert sync(store, feed).status == "not-modified"
