"""CVSS scoring, severity classes and SLAs, the NVD 2.0 importer, and the score
preference between the distribution, NVD and the advisory."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from portside.vulndb import MatchOptions, SeverityClass, match
from portside.vulndb.errors import InputTooLarge, MalformedInput, VulnDBError
from portside.vulndb.importers import Limits, import_debian, import_nvd, import_osv
from portside.vulndb.importers.nvd import read_nvd
from portside.vulndb.severity import (
    Candidate,
    ScoreSource,
    base_score,
    choose,
    classify,
    parse_preference,
    sla_for,
)
from portside.vulndb.store import VulnStore
from tests.vulndb.helpers import DEBIAN_12, make_package, osv_record, write_records

V31_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V31_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"  # 5.4
V30_LOW = "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
V2_HIGH = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5
V40 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3
NONE = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"  # 0.0


@pytest.mark.parametrize(
    ("vector", "score", "version"),
    [
        (V31_CRITICAL, 9.8, "3.1"),
        (V31_MEDIUM, 5.4, "3.1"),
        (V30_LOW, 1.8, "3.0"),
        (V2_HIGH, 7.5, "2.0"),
        ("(AV:N/AC:L/Au:N/C:P/I:P/A:P)", 7.5, "2.0"),
        (V40, 9.3, "4.0"),
        (NONE, 0.0, "3.1"),
    ],
)
def test_base_scores_from_vectors(vector: str, score: float, version: str) -> None:
    assert base_score(vector) == (score, version)


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N",
        "CVSS:9.9/AV:N",
        "",
        "AV:N/AC:L",
        "CVSS:4.0/AV:N/AC:L",
        "x" * 1000,
    ],
)
def test_malformed_vectors_raise_a_specific_error(vector: str) -> None:
    with pytest.raises(VulnDBError):
        base_score(vector)


@pytest.mark.parametrize(
    ("score", "severity", "sla"),
    [
        (10.0, SeverityClass.CRITICAL, dt.timedelta(hours=72)),
        (7.0, SeverityClass.CRITICAL, dt.timedelta(hours=72)),
        (6.9, SeverityClass.MAJOR, dt.timedelta(days=7)),
        (4.0, SeverityClass.MAJOR, dt.timedelta(days=7)),
        (3.9, SeverityClass.MINOR, None),
        (0.1, SeverityClass.MINOR, None),
        (0.0, SeverityClass.MINOR, None),
        (None, SeverityClass.UNKNOWN, None),
    ],
)
def test_classes_and_slas(
    score: float | None, severity: SeverityClass, sla: dt.timedelta | None
) -> None:
    assert classify(score) is severity
    assert sla_for(severity) == sla


def test_the_preference_orders_sources() -> None:
    candidates = [
        Candidate(ScoreSource.ADVISORY, V31_MEDIUM),
        Candidate(ScoreSource.NVD, V31_CRITICAL, primary=True),
        Candidate(ScoreSource.DISTRO, V30_LOW),
    ]
    assert choose(candidates).score == 1.8  # distro first by default
    nvd_first = choose(candidates, parse_preference(["nvd", "advisory", "distro"]))
    assert (nvd_first.score, nvd_first.source) == (9.8, ScoreSource.NVD)
    only_advisory = choose(candidates, parse_preference(["advisory"]))
    assert only_advisory.score == 5.4 and only_advisory.severity is SeverityClass.MAJOR


def test_within_a_source_primary_then_newest_version() -> None:
    nvd = [
        Candidate(ScoreSource.NVD, V40, "cna@example.org"),
        Candidate(ScoreSource.NVD, V2_HIGH, "nvd@nist.gov", primary=True),
        Candidate(ScoreSource.NVD, V31_MEDIUM, "nvd@nist.gov", primary=True),
    ]
    assert choose(nvd).vector == V31_MEDIUM
    advisory = [Candidate(ScoreSource.ADVISORY, V2_HIGH), Candidate(ScoreSource.ADVISORY, V40)]
    assert choose(advisory).version == "4.0"


def test_a_malformed_vector_is_skipped_with_a_note() -> None:
    bad = "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
    fallback = choose(
        [Candidate(ScoreSource.DISTRO, bad, "DSA-1"), Candidate(ScoreSource.NVD, V31_MEDIUM)]
    )
    assert fallback.score == 5.4 and fallback.source is ScoreSource.NVD
    assert len(fallback.notes) == 1 and "DSA-1" in fallback.notes[0]
    nothing = choose([Candidate(ScoreSource.ADVISORY, bad)])
    assert nothing.severity is SeverityClass.UNKNOWN and nothing.score is None
    assert "AV:Q" in nothing.notes[0]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["nvd", "bogus"], "unknown score source"),
        (["nvd", "NVD"], "given twice"),
        ([], "no source"),
    ],
)
def test_bad_preferences_are_refused(names: list[str], message: str) -> None:
    with pytest.raises(VulnDBError, match=message):
        parse_preference(names)


# --- NVD ----------------------------------------------------------------------------------


def metric(
    vector: str, version: str, *, kind: str = "Primary", source: str = "nvd@nist.gov"
) -> dict:
    return {
        "source": source,
        "type": kind,
        "cvssData": {"version": version, "vectorString": vector, "baseScore": 1.0},
    }


def nvd_cve(
    ident: str, metrics: dict[str, list[dict]], modified: str = "2024-05-01T10:00:00.000"
) -> dict:
    return {
        "cve": {
            "id": ident,
            "sourceIdentifier": "cve@mitre.org",
            "published": "2024-01-01T10:00:00.000",
            "lastModified": modified,
            "vulnStatus": "Analyzed",
            "descriptions": [
                {"lang": "es", "value": "Una descripción"},
                {"lang": "en", "value": f"Description of {ident}"},
            ],
            "metrics": metrics,
            "weaknesses": [],
            "configurations": [],
            "references": [{"url": "https://example.invalid/advisory", "source": "cve@mitre.org"}],
        }
    }


def nvd_page(*vulnerabilities: dict) -> dict[str, Any]:
    return {
        "resultsPerPage": len(vulnerabilities),
        "startIndex": 0,
        "totalResults": len(vulnerabilities),
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2024-06-01T00:00:00.000",
        "vulnerabilities": list(vulnerabilities),
    }


@pytest.fixture
def nvd_files(tmp_path: Path) -> Path:
    folder = tmp_path / "nvd"
    folder.mkdir()
    (folder / "page-0.json").write_text(
        json.dumps(
            nvd_page(
                nvd_cve(
                    "CVE-2024-0001",
                    {
                        "cvssMetricV40": [
                            metric(V40, "4.0", kind="Secondary", source="cna@example.org")
                        ],
                        "cvssMetricV31": [
                            metric(V31_CRITICAL, "3.1", kind="Secondary", source="cna@example.org"),
                            metric(V31_MEDIUM, "3.1"),
                        ],
                        "cvssMetricV2": [metric(V2_HIGH, "2.0")],
                    },
                ),
                nvd_cve("CVE-2024-0002", {}),
            )
        )
    )
    # a second page (gzipped, as the yearly feeds are) with a newer CVE-2024-0002
    (folder / "page-1.json.gz").write_bytes(
        gzip.compress(
            json.dumps(
                nvd_page(
                    nvd_cve(
                        "CVE-2024-0002",
                        {"cvssMetricV30": [metric(V30_LOW, "3.0")]},
                        modified="2024-06-01T00:00:00.000",
                    )
                )
            ).encode()
        )
    )
    return folder


def test_nvd_records_are_read_with_their_metrics(nvd_files: Path) -> None:
    records, digest = read_nvd(nvd_files)
    assert [r.cve for r in records] == ["CVE-2024-0001", "CVE-2024-0002"]
    first = records[0]
    assert first.description == "Description of CVE-2024-0001"
    assert [(m.version, m.primary) for m in first.metrics] == [
        ("4.0", False),
        ("3.1", False),
        ("3.1", True),
        ("2.0", True),
    ]
    assert [m.version for m in records[1].metrics] == ["3.0"]  # the newer record won
    assert digest.startswith("sha256:")


def test_nvd_scores_language_findings(store: VulnStore, tmp_path: Path, nvd_files: Path) -> None:
    assert import_nvd(store, nvd_files).records == 2
    import_osv(
        store,
        write_records(
            tmp_path / "osv",
            [
                osv_record(
                    "GHSA-1",
                    "PyPI",
                    "thing",
                    aliases=["CVE-2024-0001"],
                    severity=[{"type": "CVSS_V3", "score": V30_LOW}],
                ),
                osv_record("GHSA-2", "PyPI", "other", aliases=["CVE-2024-0002"]),
            ],
        ),
        source="ghsa",
    )
    packages = [make_package("pypi", "thing", "1.0"), make_package("pypi", "other", "1.0")]
    found = {f.advisory_id: f for f in match(packages, None, store)}
    thing = found["CVE-2024-0001"]
    # NVD before the advisory; within NVD the Primary assessment, so 3.1 (5.4) not 4.0
    assert (thing.cvss_score, thing.cvss_version, thing.score_source) == (5.4, "3.1", "nvd")
    assert thing.cvss_vector == V31_MEDIUM and thing.severity is SeverityClass.MAJOR
    assert thing.sla == dt.timedelta(days=7)
    other = found["CVE-2024-0002"]
    assert (other.cvss_score, other.severity) == (1.8, SeverityClass.MINOR)
    assert other.sla is None
    advisory_first = match(
        packages,
        None,
        store,
        options=MatchOptions(preference=parse_preference(["advisory", "nvd"])),
    )
    assert {f.advisory_id: f.cvss_score for f in advisory_first}["CVE-2024-0001"] == 1.8


def test_nvd_scores_and_describes_distribution_findings(
    store: VulnStore, tmp_path: Path, nvd_files: Path
) -> None:
    import_nvd(store, nvd_files)
    tracker = tmp_path / "tracker.json"
    tracker.write_text(
        json.dumps({"openssl": {"CVE-2024-0001": {"releases": {"bookworm": {"status": "open"}}}}})
    )
    import_debian(store, tracker)
    (finding,) = match([make_package("deb", "openssl", "3.0.11-1")], DEBIAN_12, store)
    assert finding.summary == "Description of CVE-2024-0001"
    assert finding.score_source == "nvd" and finding.cvss_score == 5.4


def test_a_distribution_vector_comes_first(
    store: VulnStore, tmp_path: Path, nvd_files: Path
) -> None:
    import_nvd(store, nvd_files)
    record = osv_record(
        "DEBIAN-CVE-2024-0001",
        "Debian:12",
        "openssl",
        aliases=["CVE-2024-0001"],
        severity=[{"type": "CVSS_V3", "score": V30_LOW}],
    )
    import_osv(store, write_records(tmp_path / "osv", [record]), source="debian-osv")
    (finding,) = match([make_package("deb", "openssl", "3.0.11-1")], DEBIAN_12, store)
    assert (finding.score_source, finding.cvss_score) == ("distro", 1.8)


def test_a_malformed_vector_in_a_feed_never_breaks_matching(
    store: VulnStore, tmp_path: Path
) -> None:
    record = osv_record(
        "GHSA-9", "PyPI", "thing", severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}]
    )
    import_osv(store, write_records(tmp_path / "osv", [record]), source="ghsa")
    (finding,) = match([make_package("pypi", "thing", "1.0")], None, store)
    assert finding.severity is SeverityClass.UNKNOWN
    assert finding.cvss_score is None and finding.score_source == ""
    assert "garbage" in finding.severity_notes[0]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"CVE_Items": []}, "NVD 1.1 feed"),
        ({"format": "OTHER", "vulnerabilities": []}, "not 'NVD_CVE'"),
        ({"format": "NVD_CVE"}, "field vulnerabilities is missing"),
        (nvd_page({"nope": {}}), "field cve is missing"),
        (nvd_page(nvd_cve("CVE-24-1", {})), "is not a CVE id"),
        (
            nvd_page(nvd_cve("CVE-2024-0001", {"cvssMetricV31": [metric(V2_HIGH, "2.0")]})),
            "does not belong under",
        ),
        (
            nvd_page(nvd_cve("CVE-2024-0001", {"cvssMetricV31": [{"type": "Primary"}]})),
            "cvssData is missing",
        ),
        (nvd_page(nvd_cve("CVE-2024-0001", {"cvssMetricV31": "x"})), "must be a list"),
        (nvd_page(nvd_cve("CVE-2024-0001", {}, modified="last week")), "not an RFC 3339 time"),
    ],
)
def test_malformed_nvd_files(
    store: VulnStore, tmp_path: Path, document: Any, expected: str
) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps(document))
    with pytest.raises(MalformedInput, match=expected):
        import_nvd(store, path)
    assert store.sources() == []


def test_truncated_oversized_and_empty_nvd_input(store: VulnStore, tmp_path: Path) -> None:
    path = tmp_path / "page.json"
    path.write_text(json.dumps(nvd_page(nvd_cve("CVE-2024-0001", {})))[:-10])
    with pytest.raises(MalformedInput, match="not valid JSON"):
        import_nvd(store, path)
    path.write_text(json.dumps(nvd_page(nvd_cve("CVE-2024-0001", {}))))
    with pytest.raises(InputTooLarge):
        import_nvd(store, path, limits=Limits(max_file=100))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MalformedInput, match="holds no NVD files"):
        import_nvd(store, empty)
    truncated_gzip = tmp_path / "cut.json.gz"
    truncated_gzip.write_bytes(gzip.compress(b"{}" * 1000)[:30])
    with pytest.raises(MalformedInput, match="gzip"):
        import_nvd(store, truncated_gzip)
