"""Checks on what the image says about itself: its config, history, labels and tags."""

from __future__ import annotations

import re

from portside.scanner.practices import eol
from portside.scanner.practices.facts import (
    Facts,
    Outcome,
    check,
    failed,
    passed,
    plural,
    skipped,
)
from portside.scanner.practices.model import Evidence, Level
from portside.scanner.practices.secrets import PASSWD, scan_assignments, scan_command

ROOT_NAMES = frozenset({"", "root", "0"})


@check(
    "PS-001",
    "Runs as a non-root user",
    Level.WARN,
    why="A process running as root inside the container is root on the host's kernel: a "
    "breakout or a mounted volume gives it full control, and many clusters refuse such "
    "images.",
    fix="Create an unprivileged user in the image and end the Dockerfile with "
    "`USER name` (or a numeric `USER 10001`).",
    see_also=("CIS-DI-0001", "preflight RunAsNonRoot"),
)
def runs_as_root(facts: Facts) -> Outcome:
    user = facts.text("User").strip()
    name = user.split(":", 1)[0].strip()
    if name in ROOT_NAMES:
        shown = "no USER is set" if not user else f"USER is {user!r}"
        return failed(f"{shown}, so the container runs as root")
    if name.isdigit():
        if int(name) == 0:
            return failed(f"USER is {user!r}: uid 0 is root")
        return passed(f"runs as uid {int(name)}")
    uid = _uid_of(facts, name)
    if uid == 0:
        return failed(
            f"USER is {name!r}, which /etc/passwd gives uid 0: it is root under another name",
            [Evidence(detail="uid 0 in /etc/passwd", paths=(PASSWD,))],
        )
    return passed(f"runs as {name!r}")


def _uid_of(facts: Facts, name: str) -> int | None:
    version = facts.files.final(PASSWD)
    if version is None:
        return None
    for line in version.data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].strip().isdigit():
            return int(fields[2])
    return None


@check(
    "PS-002",
    "Declares a HEALTHCHECK",
    Level.INFO,
    why="Without a health check a runtime only knows whether the process exists, not "
    "whether it answers; a hung service keeps receiving traffic.",
    fix="Add `HEALTHCHECK CMD ...` with a command that exercises the service, or rely on "
    "the orchestrator's probes and say so in the listing.",
    see_also=("CIS-DI-0006",),
)
def healthcheck(facts: Facts) -> Outcome:
    declared = facts.container.get("Healthcheck")
    test = declared.get("Test") if isinstance(declared, dict) else None
    if not isinstance(test, list) or not test or test[0] == "NONE":
        return failed("the image declares no HEALTHCHECK")
    return passed("the image declares a HEALTHCHECK")


@check(
    "PS-004",
    "No credentials in the config or the build history",
    Level.FATAL,
    why="Environment variables, labels and build arguments are stored in the image config "
    "and its history, which anyone who can pull the image can read with `docker "
    "inspect` or `docker history`.",
    fix="Pass secrets at run time (an orchestrator secret or a mounted file) and at build "
    "time with `RUN --mount=type=secret`; never with ENV, LABEL or ARG.",
    see_also=("CIS-DI-0010",),
)
def config_secrets(facts: Facts) -> Outcome:
    evidence = [
        Evidence(detail=f"environment variable {hit.name}: {hit.describe()}")
        for hit in scan_assignments(facts.env())
    ]
    evidence.extend(
        Evidence(detail=f"label {hit.name}: {hit.describe()}")
        for hit in scan_assignments(facts.labels.items())
    )
    for step in facts.history:
        hits = scan_command(step.created_by)
        if hits:
            detail = "build step: " + "; ".join(h.describe() for h in hits)
            if step.layer is None:
                evidence.append(Evidence(detail=detail, created_by=step.created_by))
            else:
                evidence.append(facts.layer(step.layer, detail))
    if evidence:
        return failed(f"{plural(len(evidence), 'credential')} in the config or history", evidence)
    return passed("no credentials found in the environment, labels or build history")


@check(
    "PS-009",
    "Layer count within policy",
    Level.INFO,
    why="Every layer is a separate download and a separate file-system overlay at run time; "
    "many small layers slow pulls and container start.",
    fix="Combine related RUN steps, and use a multi-stage build so the final stage copies "
    "only what it needs.",
    see_also=("preflight LayerCountAcceptable",),
)
def layer_count(facts: Facts) -> Outcome:
    count = len(facts.layers)
    limit = facts.policy.max_layers
    if count > limit:
        return failed(f"{plural(count, 'layer')}; the store's policy allows {limit}")
    return passed(f"{plural(count, 'layer')} (policy allows {limit})")


@check(
    "PS-011",
    "Operating system identified",
    Level.INFO,
    why="Without /etc/os-release the store cannot tell which distribution's security "
    "advisories apply, so OS packages cannot be checked for vulnerabilities.",
    fix="Keep /etc/os-release (or /usr/lib/os-release) from the base image; minimal images "
    "such as distroless ones ship one.",
)
def os_identified(facts: Facts) -> Outcome:
    distro = facts.inventory.distro
    if distro is None or not distro.id:
        return failed("no os-release file names the operating system")
    name = distro.pretty_name or f"{distro.id} {distro.version_id}".strip()
    return passed(f"the operating system is {name}")


@check(
    "PS-012",
    "Operating system still supported",
    Level.FATAL,
    why="After its end of life a distribution publishes no more security fixes: every "
    "vulnerability found in its packages from then on stays open.",
    fix="Rebuild on a supported release of the distribution (for example the next stable "
    "Debian, Ubuntu LTS or Alpine branch).",
    see_also=("CIS-DI-0004",),
)
def os_supported(facts: Facts) -> Outcome:
    distro = facts.inventory.distro
    if distro is None or not distro.id:
        return skipped("the operating system is not identified (see PS-011)")
    known = eol.lifecycle(distro)
    ident, release = eol.release_of(distro)
    if known is None:
        return skipped(f"no end-of-life date is known for {ident} {release}".strip())
    if facts.today > known.end_of_life:
        return failed(
            f"{ident} {release} reached its end of life on {known.end_of_life.isoformat()}"
        )
    return passed(f"{ident} {release} is supported until {known.end_of_life.isoformat()}")


@check(
    "PS-013",
    "Published under a version tag",
    Level.WARN,
    why="`latest` moves with every push: users cannot pin a version, roll back, or tell "
    "which build they run, and caches serve stale copies.",
    fix="Tag each release with its version (`1.4.2`, and `1.4`, `1` if you like) as well "
    "as, or instead of, `latest`.",
    see_also=("DKL-DI-0006", "preflight HasUniqueTag"),
)
def only_latest(facts: Facts) -> Outcome:
    if facts.tags is None:
        return skipped("the image's tags were not given")
    tags = sorted(set(facts.tags))
    if not tags:
        return skipped("the image has no tags")
    if tags == ["latest"]:
        return failed("the only tag is `latest`")
    return passed("tags: " + ", ".join(t for t in tags[:10]))


OCI_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.version",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
)
OCI_WHO = ("org.opencontainers.image.vendor", "org.opencontainers.image.authors")


@check(
    "PS-014",
    "Standard OCI labels present",
    Level.INFO,
    why="The OCI annotation labels tell users and tools where the source is, which version "
    "and licence this is, and who is responsible for it; the store shows them on the "
    "listing.",
    fix="Add `LABEL org.opencontainers.image.source=... version=... licenses=... title=... "
    "description=... vendor=...` (or set them with your build tool's --label).",
    see_also=("preflight HasRequiredLabel",),
)
def oci_labels(facts: Facts) -> Outcome:
    labels = {k: v for k, v in facts.labels.items() if v.strip()}
    missing = [name for name in OCI_LABELS if name not in labels]
    if not any(name in labels for name in OCI_WHO):
        missing.append(" or ".join(OCI_WHO))
    if missing:
        return failed(
            f"{plural(len(missing), 'label')} missing",
            [Evidence(detail="missing: " + ", ".join(missing))],
        )
    return passed("all standard OCI labels are set")


_REMOTE_ADD = re.compile(r"(?i)(?:^|[\s)])ADD\s+(?:--\S+\s+)*[\"']?(?:https?|ftp)://")


@check(
    "PS-016",
    "No ADD of remote URLs",
    Level.WARN,
    why="`ADD https://...` downloads at build time with no checksum unless one is given, so "
    "the same Dockerfile can produce different, possibly tampered, images.",
    fix="Download with a pinned checksum (`ADD --checksum=sha256:...`, or `RUN curl ... && "
    "sha256sum -c`), or vendor the file and COPY it.",
    see_also=("CIS-DI-0009",),
)
def remote_add(facts: Facts) -> Outcome:
    evidence = [
        _step_evidence(facts, step.layer, step.created_by, "ADD of a remote URL")
        for step in facts.history
        if _REMOTE_ADD.search(step.created_by) and "--checksum" not in step.created_by
    ]
    if evidence:
        return failed(f"{plural(len(evidence), 'build step')} ADD a remote URL", evidence)
    return passed("no build step ADDs a remote URL without a checksum")


_UPGRADE = re.compile(
    r"\b(?:(?:apt-get|apt|aptitude)\s+(?:-\S+\s+)*(?:upgrade|dist-upgrade|full-upgrade)"
    r"|apk\s+(?:-\S+\s+)*upgrade|(?:yum|dnf|microdnf)\s+(?:-\S+\s+)*(?:upgrade|update)(?=\s*(?:$|&&|;|\|)))"
)


@check(
    "PS-018",
    "No distribution upgrade during the build",
    Level.INFO,
    why="Upgrading every package during the build hides how old the base image is, makes "
    "the result depend on the day it was built, and may upgrade packages the base "
    "image's maintainers keep pinned.",
    fix="Rebuild on a freshly published base image instead, and install only the packages "
    "you need, at the versions you need.",
    see_also=("CIS-DI-0007", "DKL-DI-0003"),
)
def distribution_upgrade(facts: Facts) -> Outcome:
    evidence = [
        _step_evidence(facts, step.layer, step.created_by, "upgrades every package")
        for step in facts.history
        if _UPGRADE.search(step.created_by)
    ]
    if evidence:
        return failed(f"{plural(len(evidence), 'build step')} upgrade the distribution", evidence)
    return passed("no build step upgrades the whole distribution")


_FROM = re.compile(r"(?i)(?:^|\s)FROM\s+(?:--platform=\S+\s+)?([^\s]+)")
BASE_NAME_LABEL = "org.opencontainers.image.base.name"


@check(
    "PS-019",
    "Base image pinned to a version",
    Level.WARN,
    why="A base image taken as `latest` (or with no tag) changes under the image without "
    "notice: rebuilding the same Dockerfile gives a different operating system.",
    fix="Name the base image by version tag and, better, by digest: "
    "`FROM debian:12.7-slim@sha256:...`.",
    see_also=("DKL-DI-0006",),
)
def latest_base(facts: Facts) -> Outcome:
    named = 0
    floating: list[Evidence] = []
    for step in facts.history:
        references = [
            m.group(1) for m in _FROM.finditer(step.created_by) if m.group(1).lower() != "scratch"
        ]
        named += len(references)
        loose = [r for r in references if _floating(r)]
        if loose:
            floating.append(
                _step_evidence(facts, step.layer, step.created_by, "base image " + _shown(loose))
            )
    base = facts.labels.get(BASE_NAME_LABEL, "").strip()
    if base:
        named += 1
        if _floating(base):
            floating.append(Evidence(detail=f"label {BASE_NAME_LABEL}: {_shown([base])}"))
    if not named:
        return skipped("neither the history nor the labels name the base image")
    if floating:
        return failed("the base image is taken as `latest`", floating)
    return passed("the base image is named by a version or digest")


def _shown(references: list[str]) -> str:
    """A few references, each cut short: they are quoted from outside data."""
    parts = [r if len(r) <= 200 else r[:200] + "..." for r in references[:3]]
    more = f" and {len(references) - 3} more" if len(references) > 3 else ""
    return ", ".join(parts) + more + " (not pinned)"


def _floating(reference: str) -> bool:
    """``name``, ``name:latest``: no tag or the latest tag, and no digest."""
    if "@" in reference:
        return False
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        return True
    return last.rsplit(":", 1)[1].lower() == "latest"


def _step_evidence(facts: Facts, layer: int | None, created_by: str, detail: str) -> Evidence:
    if layer is None:
        return Evidence(detail=detail, created_by=created_by)
    return facts.layer(layer, detail)
