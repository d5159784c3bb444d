"""Real-shaped documents of each vulnerability feed, the seeds the fuzz tests mutate:
an OSV record of the GitHub advisory database and one of the Go database, the Debian
security tracker's JSON, an Alpine secdb file and an NVD 2.0 API page, each with the
fields the real feeds carry."""

from __future__ import annotations

from typing import Any

CVSS31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N"


def osv_ghsa() -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": "GHSA-h5c8-rqwp-cp95",
        "modified": "2024-01-11T22:32:18.651958Z",
        "published": "2024-01-11T15:20:48Z",
        "aliases": ["CVE-2024-22195", "PYSEC-2024-4"],
        "summary": "Jinja vulnerable to HTML attribute injection when passing user input as keys",
        "details": "The `xmlattr` filter in affected versions of Jinja accepts keys "
        "containing spaces.\n\nXML/HTML attributes cannot contain spaces...",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N"}],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "jinja2", "purl": "pkg:pypi/jinja2"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}
                ],
                "versions": ["2.0", "2.10", "3.1.2"],
                "database_specific": {"source": "https://github.com/github/advisory-database"},
            }
        ],
        "references": [
            {"type": "WEB", "url": "https://github.com/pallets/jinja/security/advisories"},
            {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-22195"},
            {"type": "PACKAGE", "url": "https://github.com/pallets/jinja"},
        ],
        "database_specific": {
            "cwe_ids": ["CWE-79"],
            "severity": "MODERATE",
            "github_reviewed": True,
            "github_reviewed_at": "2024-01-11T15:20:48Z",
            "nvd_published_at": None,
        },
    }


def osv_go() -> dict[str, Any]:
    return {
        "schema_version": "1.3.1",
        "id": "GO-2022-0493",
        "modified": "2024-05-20T16:03:47Z",
        "published": "2022-07-15T23:30:12Z",
        "aliases": ["CVE-2022-29526", "GHSA-p782-xgp4-8hr8"],
        "summary": "Incorrect privilege reporting in syscall and golang.org/x/sys/unix",
        "details": "When called with a non-zero flags parameter, the Faccessat function...",
        "affected": [
            {
                "package": {"name": "stdlib", "ecosystem": "Go"},
                "ranges": [
                    {
                        "type": "SEMVER",
                        "events": [
                            {"introduced": "0"},
                            {"fixed": "1.17.10"},
                            {"introduced": "1.18.0-0"},
                            {"fixed": "1.18.2"},
                        ],
                    }
                ],
                "ecosystem_specific": {"imports": [{"path": "syscall", "symbols": ["Faccessat"]}]},
            },
            {
                "package": {"name": "golang.org/x/sys", "ecosystem": "Go"},
                "ranges": [
                    {
                        "type": "GIT",
                        "repo": "https://go.googlesource.com/sys",
                        "events": [{"introduced": "0"}, {"fixed": "bc2c85ada10a"}],
                    }
                ],
            },
        ],
        "references": [{"type": "FIX", "url": "https://go.dev/cl/399539"}],
        "database_specific": {
            "url": "https://pkg.go.dev/vuln/GO-2022-0493",
            "review_status": "REVIEWED",
        },
    }


def debian_tracker() -> dict[str, Any]:
    resolved = {
        "status": "resolved",
        "repositories": {"bookworm": "3.0.11-1~deb12u2"},
        "fixed_version": "3.0.11-1~deb12u1",
        "urgency": "medium",
    }
    return {
        "openssl": {
            "CVE-2023-0286": {
                "description": "There is a type confusion vulnerability relating to X.400...",
                "scope": "remote",
                "debianbug": 1031327,
                "releases": {
                    "bookworm": resolved,
                    "bullseye": {**resolved, "fixed_version": "1.1.1n-0+deb11u4"},
                    "trixie": {**resolved, "fixed_version": "3.0.8-1", "urgency": "high*"},
                },
            },
            "TEMP-0000000-ABCDEF": {
                "releases": {
                    "bookworm": {
                        "status": "open",
                        "urgency": "unimportant",
                        "nodsa": "Minor issue",
                        "repositories": {"bookworm": "3.0.11-1~deb12u2"},
                    }
                }
            },
        },
        "jinja2": {
            "CVE-2024-22195": {
                "description": "Jinja is an extensible templating engine...",
                "scope": "remote",
                "releases": {"bookworm": {**resolved, "fixed_version": "3.1.2-1+deb12u1"}},
            }
        },
    }


def alpine_secdb() -> dict[str, Any]:
    return {
        "apkurl": "{{urlprefix}}/{{distroversion}}/{{reponame}}/{{arch}}/{{pkg.name}}-{{pkg.ver}}.apk",
        "archs": ["aarch64", "armhf", "x86_64"],
        "reponame": "main",
        "urlprefix": "https://dl-cdn.alpinelinux.org/alpine",
        "distroversion": "v3.20",
        "packages": [
            {
                "pkg": {
                    "name": "openssl",
                    "secfixes": {
                        "3.3.2-r0": ["CVE-2024-6119"],
                        "3.3.1-r1": ["CVE-2024-5535 (partially fixed)"],
                        "0": ["CVE-2022-0001 CVE-2022-0002"],
                    },
                }
            },
            {"pkg": {"name": "xen", "secfixes": {"4.18.2-r0": ["XSA-449", "CVE-2023-46842"]}}},
        ],
    }


def nvd_page() -> dict[str, Any]:
    return {
        "resultsPerPage": 1,
        "startIndex": 0,
        "totalResults": 1,
        "format": "NVD_CVE",
        "version": "2.0",
        "timestamp": "2024-06-01T12:00:00.000",
        "vulnerabilities": [
            {
                "cve": {
                    "id": "CVE-2024-22195",
                    "sourceIdentifier": "security-advisories@github.com",
                    "published": "2024-01-11T03:15:11.200",
                    "lastModified": "2024-05-17T02:36:00.753",
                    "vulnStatus": "Modified",
                    "descriptions": [
                        {"lang": "en", "value": "Jinja is an extensible templating engine."},
                        {"lang": "es", "value": "Jinja es un motor de plantillas."},
                    ],
                    "metrics": {
                        "cvssMetricV31": [
                            {
                                "source": "nvd@nist.gov",
                                "type": "Primary",
                                "cvssData": {
                                    "version": "3.1",
                                    "vectorString": CVSS31,
                                    "baseScore": 6.1,
                                    "baseSeverity": "MEDIUM",
                                },
                                "exploitabilityScore": 2.8,
                                "impactScore": 2.7,
                            }
                        ],
                        "cvssMetricV2": [
                            {
                                "source": "nvd@nist.gov",
                                "type": "Primary",
                                "cvssData": {
                                    "version": "2.0",
                                    "vectorString": "AV:N/AC:M/Au:N/C:N/I:P/A:N",
                                    "baseScore": 4.3,
                                },
                            }
                        ],
                    },
                    "weaknesses": [
                        {"source": "nvd@nist.gov", "type": "Primary", "description": []}
                    ],
                    "references": [{"url": "https://github.com/pallets/jinja", "source": "x"}],
                }
            }
        ],
    }
