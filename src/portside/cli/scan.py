"""`portside scan`: analyse an image file, layout or registry image with no server.

Packages come from ``portside.scanner``; vulnerabilities from the database imported into
the data directory with `portside vulndb import` (``PORTSIDE_VULNDB_PATH``). Nothing here
touches the store's own database, or needs Django: ``portside scan`` runs this module
directly (``portside.cli.main``), so that a scan costs no more than the analysis, the way a
standalone scanner's does. The management command of the same name wraps it.
"""

from __future__ import annotations

import json
import os
import sys
from argparse import ArgumentParser, HelpFormatter
from typing import Any, TextIO

from portside.config import paths
from portside.core import clock
from portside.scanner import errors as scan_errors
from portside.scanner.analyze import Analysis, analyze
from portside.scanner.catalogers import default_catalogers
from portside.scanner.reader import Image, open_image

SEVERITIES = ("critical", "major", "minor", "unknown")
FORMATS = ("table", "json", "cyclonedx", "spdx")
HELP = (
    "Scan an image: PATH (OCI layout directory or docker archive), oci:DIR[:REF], "
    "docker-archive:FILE, or a registry reference HOST/NAME[:TAG|@DIGEST]"
)


class ScanUsageError(Exception):
    """What the user asked for cannot be done; the message says why."""


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("target")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument(
        "--severity",
        default=",".join(SEVERITIES),
        help="classes of findings to report, comma-separated (default: all)",
    )
    parser.add_argument(
        "--exit-code",
        type=int,
        default=0,
        help="exit with this status when a reported finding exists (default 0); with no "
        "vulnerability data to match against, the scan then fails with status 1",
    )
    parser.add_argument("--platform", help="os/arch[/variant] to pick from an index")
    parser.add_argument("-o", "--output", help="write the report to this file")
    parser.add_argument("--username", default=os.environ.get("PORTSIDE_SCAN_USERNAME", ""))
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the registry password on stdin"
    )
    parser.add_argument("--insecure", action="store_true", help="speak plain HTTP to the registry")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")


def main(argv: list[str]) -> int:
    """``portside scan ARGS``: the exit status."""
    parser = ArgumentParser(prog="portside scan", description=HELP, formatter_class=_Formatter)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        return run(options, sys.stdout, sys.stderr)
    except ScanUsageError as exc:
        sys.stderr.write(f"portside scan: error: {exc}\n")
        return 1


class _Formatter(HelpFormatter):
    """argparse's help formatter, which ``add_argument`` makes for every argument (to check
    its metavar), given the terminal's width as ``shutil.get_terminal_size`` finds it
    (``COLUMNS``, else the terminal's, else 80) without importing ``shutil``, and the bz2
    and lzma modules it imports, in every scan."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def _columns() -> int:
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def run(options: dict[str, Any], stdout: TextIO, stderr: TextIO) -> int:
    """Scan as ``options`` (the parsed arguments) say, writing the report to ``stdout`` or
    the output file; the exit status. Raises ``ScanUsageError`` for what cannot be done."""
    wanted = {s.strip() for s in options["severity"].split(",") if s.strip()}
    if not wanted or wanted - set(SEVERITIES):
        raise ScanUsageError(f"--severity takes {', '.join(SEVERITIES)}")
    try:
        image = _open(options)
    except scan_errors.ScanError as exc:
        raise ScanUsageError(str(exc)) from None
    progress = None
    if not options["no_progress"] and stderr.isatty():
        progress = _Progress(image, stderr)
    # The best-practices review is part of the table and the JSON report only: an SBOM
    # leaves out the collector that keeps the files only the review reads.
    review = options["format"] in ("table", "json")
    try:
        with image:
            analysis = analyze(image, catalogers=default_catalogers(review=review))
    except scan_errors.ScanError as exc:
        raise ScanUsageError(str(exc)) from None
    finally:
        if progress is not None:
            progress.done()
    findings, feeds, note = _match(analysis)
    reported = [f for f in findings if str(f.severity) in wanted]
    text = _render(options["format"], analysis, reported, findings, feeds)
    if options["output"]:
        with open(options["output"], "w") as output:
            output.write(text)
    else:
        stdout.write(text if text.endswith("\n") else text + "\n")
        stdout.flush()
    if note:
        stderr.write(note + "\n")
    if options["exit_code"] and not feeds:
        # A gate that could not look must not pass: no data is not "no findings".
        stderr.write(
            "portside scan: error: --exit-code needs vulnerability data to decide; "
            "none was matched (run `portside vulndb sync`)\n"
        )
        return 1
    if reported and options["exit_code"]:
        return int(options["exit_code"])
    return 0


def _open(options: dict[str, Any]) -> Image:
    target: str = options["target"]
    platform = options["platform"]
    for prefix in ("oci:", "docker-archive:", "oci-archive:"):
        if target.startswith(prefix):
            rest = target[len(prefix) :]
            reference = None
            if prefix == "oci:" and not os.path.exists(rest) and ":" in rest:
                rest, reference = rest.rsplit(":", 1)
            return open_image(rest, platform=platform, reference=reference)
    if os.path.exists(target):
        return open_image(target, platform=platform)
    from portside.scanner.remote import open_remote, parse_reference  # HTTP: only for these

    ref = parse_reference(target)
    if ref is None:
        raise ScanUsageError(f"{target}: no such file, and not a registry reference")
    password = ""
    if options["password_stdin"]:
        password = sys.stdin.readline().rstrip("\r\n")
    return open_remote(
        ref,
        username=options["username"],
        password=password,
        insecure=options["insecure"],
        platform=platform,
    )


def _match(analysis: Analysis) -> tuple[list[Any], list[dict[str, Any]], str]:
    """The findings, the feeds they were matched against and a note for the terminal;
    no feed means nothing was matched, which the report says."""
    path = paths.vulndb_location()
    missing = (
        f"Not matched: no vulnerability data in {path}: packages only. Fetch it with "
        "`portside vulndb sync` (or set PORTSIDE_VULNDB_PATH to a synced database)."
    )
    if not os.path.exists(path):
        return [], [], missing
    from portside.vulndb import matcher
    from portside.vulndb.store import VulnStore

    store = VulnStore.open(path, readonly=True)
    try:
        feeds = [source.summary() for source in store.sources()]
        if not feeds:
            return [], [], missing
        inventory = analysis.inventory
        return list(matcher.match(inventory.packages, inventory.distro, store)), feeds, ""
    finally:
        store.close()


def _render(
    kind: str,
    analysis: Analysis,
    reported: list[Any],
    every: list[Any],
    feeds: list[dict[str, Any]],
) -> str:
    inventory = analysis.inventory
    if kind == "cyclonedx":
        from portside.scanner.sbom import to_cyclonedx

        return to_cyclonedx(
            inventory,
            findings=[_View(f) for f in every],
            tool_version=_version(),
            validate=False,  # tests/scanning/test_cli.py checks this output with the schema
            vulnerability_data=feeds,
        )
    if kind == "spdx":
        from portside.scanner.sbom import to_spdx

        return to_spdx(
            inventory,
            tool_version=_version(),
            namespace_base="https://portside.invalid/spdx",
        )
    from portside.scanner.practices import review

    practices = review(analysis)
    if kind == "json":
        return json.dumps(_as_json(analysis, reported, practices, feeds), indent=2) + "\n"
    return _table(analysis, reported, practices, feeds)


def _version() -> str:
    """Portside's version, as ``paths.portside_version()`` gives it, read from the one
    ``portside-*.dist-info`` on the first ``sys.path`` entry that has metadata of the
    distribution (where ``importlib.metadata`` finds it), without importing that package
    and the email parser it brings: a tenth of the time a scan of a small image takes.
    Anything else (several such entries, an ``.egg-info``, no single ``Version`` in the
    header) is left to ``importlib.metadata``."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        found = [n for n in names if _names_portside(n)]
        if not found:
            continue
        if len(found) == 1 and found[0].endswith(".dist-info"):
            version = _header_version(os.path.join(entry or ".", found[0], "METADATA"))
            if version:
                return version
        break
    return paths.portside_version()


def _names_portside(child: str) -> bool:
    """A ``*.dist-info`` or ``*.egg-info`` entry of the ``portside`` distribution, by the
    name before its first dash, as ``importlib.metadata`` matches them."""
    low = child.lower()
    if not low.endswith((".dist-info", ".egg-info")):
        return False
    return low.rpartition(".")[0].partition("-")[0] == "portside"


def _header_version(metadata: str) -> str:
    """The ``Version`` field of a core-metadata file's header, "" when it has none or
    not exactly one."""
    try:
        with open(metadata, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError):
        return ""
    values = []
    for line in text.split("\n"):
        if not line.strip():
            break  # the end of the header
        name, colon, value = line.partition(":")
        if colon and name.lower() == "version":
            values.append(value.strip())
    return values[0] if len(values) == 1 else ""


def _as_json(
    analysis: Analysis, findings: list[Any], practices: list[Any], feeds: list[dict[str, Any]]
) -> dict[str, Any]:
    inventory = analysis.inventory
    distro = inventory.distro
    return {
        "image": inventory.image,
        "platform": inventory.platform,
        "distro": None
        if distro is None
        else {"id": distro.id, "version": distro.version_id, "name": distro.pretty_name},
        "layers": [
            {"index": layer.index, "digest": layer.digest, "created_by": layer.created_by}
            for layer in inventory.layers
        ],
        "packages": [
            {
                "type": p.type,
                "name": p.name,
                "version": p.version,
                "purl": p.purl,
                "layer": p.layer,
                "source": p.source_name,
                "licenses": list(p.licenses),
                "paths": list(p.paths),
            }
            for p in inventory.packages
        ],
        "findings": [
            {
                "id": f.advisory_id,
                "aliases": list(f.aliases),
                "package": f.package_name,
                "version": f.package_version,
                "type": f.package_type,
                "purl": f.package_purl,
                "layer": f.layer,
                "severity": str(f.severity),
                "score": f.cvss_score,
                "vector": f.cvss_vector,
                "fixed_versions": list(f.fixed_versions),
                "score_source": f.score_source,
                "distro_status": f.distro_status,
                "distro_note": f.distro_note,
                "summary": f.summary,
            }
            for f in findings
        ],
        "vulnerability_data": {"matched": bool(feeds), "feeds": feeds},
        "practices": [r.as_dict() if hasattr(r, "as_dict") else str(r) for r in practices],
    }


def _table(
    analysis: Analysis, findings: list[Any], practices: list[Any], feeds: list[dict[str, Any]]
) -> str:
    inventory = analysis.inventory
    lines = [
        f"{inventory.image} ({inventory.platform or 'unknown platform'})",
        f"OS: {inventory.distro.pretty_name if inventory.distro else 'unknown'}; "
        f"{len(inventory.packages)} packages in {len(inventory.layers)} layers",
        _feeds_line(feeds),
        "",
    ]
    order = {s: n for n, s in enumerate(SEVERITIES)}
    rows = [
        (
            str(f.severity).upper(),
            f.advisory_id,
            f.package_name,
            f.package_version,
            ", ".join(f.fixed_versions) or _no_fix(f),
            _score(f),
        )
        for f in sorted(findings, key=lambda f: (order.get(str(f.severity), 9), f.advisory_id))
    ]
    if rows:
        header = ("SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "CVSS")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            lines.append(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        counts = {s: sum(1 for f in findings if str(f.severity) == s) for s in SEVERITIES}
        lines.append("")
        lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none")
    elif feeds:
        lines.append("No known vulnerabilities reported.")
    else:
        lines.append("Not matched: no vulnerability data (run `portside vulndb sync`).")
    failed = [r for r in practices if str(getattr(r, "status", "")) == "fail"]
    if failed:
        lines.append("")
        lines.append("Best practices not met:")
        for result in failed:
            check = result.check
            lines.append(f"  {check.id} {check.title}: {result.message}")
    return "\n".join(lines) + "\n"


def _feeds_line(feeds: list[dict[str, Any]]) -> str:
    """``Vulnerability data: 13 feeds, updated 2026-12-05 09:58 UTC to 10:00 UTC (oldest:
    osv-pypi)``; one feed is named with its time. The JSON report and the SBOM list each
    feed."""
    if not feeds:
        return "Vulnerability data: none"
    if len(feeds) == 1:
        (feed,) = feeds
        return (
            f"Vulnerability data: {feed['name']} (updated {_when(str(feed.get('updated') or ''))})"
        )
    stamps = sorted(feeds, key=lambda feed: str(feed.get("updated") or ""))
    oldest, newest = stamps[0], stamps[-1]
    first, last = _when(str(oldest.get("updated") or "")), _when(str(newest.get("updated") or ""))
    span = f"updated {first}" if first == last else f"updated {first} to {last}"
    return f"Vulnerability data: {len(feeds)} feeds, {span} (oldest: {oldest['name']})"


def _no_fix(finding: Any) -> str:
    """What the FIXED column says when no version fixes it: the distribution's reason
    (``will not be fixed (end-of-life)``) when it gave one, else ``-``."""
    from portside.vulndb.model import no_fix_text

    status = getattr(finding, "distro_status", "")
    if not status:
        return "-"
    return "".join(c if c.isprintable() else " " for c in no_fix_text(status, finding.distro_note))


def _score(finding: Any) -> str:
    """The CVSS score, or the distribution's urgency its class came from."""
    if finding.cvss_score is not None:
        return f"{finding.cvss_score:.1f}"
    if getattr(finding, "score_source", "") == "urgency":
        return "by urgency"  # no CVSS score: the class is the distribution's urgency
    return ""


def _when(stamp: str) -> str:
    return clock.utc_minutes(stamp) or stamp or "never"


class _View:
    """A matcher finding in the shape the CycloneDX writer reads."""

    def __init__(self, finding: Any) -> None:
        self.id = finding.advisory_id
        self.aliases = tuple(finding.aliases)
        self.severity = str(finding.severity)
        self.score = finding.cvss_score
        self.vector = finding.cvss_vector
        self.fixed_versions = tuple(finding.fixed_versions)
        self.package_purl = finding.package_purl


class _Progress:
    """A one-line progress bar on the terminal: layers read of the image's total."""

    def __init__(self, image: Image, out: TextIO) -> None:
        self.out = out
        self.total = len(image.layers)
        walk = image.walk

        def counted(index: int, want: Any = None, *, defer: bool = False) -> Any:
            self._show(index, image)
            return walk(index, want, defer=defer)

        image.walk = counted  # type: ignore[method-assign]

    def _show(self, index: int, image: Image) -> None:
        width = 30
        filled = width * index // max(self.total, 1)
        mib = image.uncompressed_bytes / 2**20
        self.out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] layer {index + 1}/{self.total}"
            f" · {mib:,.0f} MiB read"
        )
        self.out.flush()

    def done(self) -> None:
        self.out.write("\r" + " " * 72 + "\r")
        self.out.flush()
