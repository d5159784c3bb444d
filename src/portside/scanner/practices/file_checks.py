"""Checks on the image's files: the final file system index and the claimed bytes.

Each check walks the index once (an image may have hundreds of thousands of entries), with
constant work per entry, and groups what it finds by layer so the evidence names the step
to change. The checks about bytes that ship (credentials, caches, build tools, size) also
walk what later layers hid (``Facts.hidden``): a file deleted by a later layer is still
in the layer that added it, and their evidence names both layers.

The checks about what a running container can do (setuid programs, world-writable
files, sudo, accounts without a password) read the final file system only: a file a
later layer hid is not in the container, so nobody can run, change or log in with it,
and its bytes, read from the layer's blob, carry no privilege. Each says so in its own
docstring. A hard link is where a hidden file can stay reachable (a whiteout removes one
name of an inode; a link made before keeps it), so those checks read hard links as the
files they are, with the mode their own entry gives (runtimes set it on the inode).
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator

from portside.scanner.catalogers.base import Entry
from portside.scanner.hidden import DELETED, HiddenEntry
from portside.scanner.practices.facts import Facts, Outcome, check, failed, passed, plural, skipped
from portside.scanner.practices.model import Level
from portside.scanner.practices.secrets import (
    ACCOUNT_FILES,
    PASSWD,
    SHADOW,
    is_candidate,
    scan_file,
)

SETUID = 0o4000
SETGID = 0o2000
STICKY = 0o1000
WORLD_WRITABLE = 0o002


def _files(facts: Facts) -> Iterator[Entry]:
    return (e for e in facts.index.values() if e.kind == "file")


# A regular file and the other names of one (its mode is the file's mode).
_FILE_KINDS = frozenset({"file", "hardlink"})


@check(
    "PS-003",
    "No credentials in files",
    Level.FATAL,
    why="Anyone who can pull the image can read every file in every layer, including files "
    "a later layer deleted: a private key or token in an image is a published key.",
    fix="Remove the file in the same step that created it, or better never copy it in: use "
    "`RUN --mount=type=secret` for build-time credentials and mount them at run time; then "
    "revoke the leaked credential.",
    see_also=("CIS-DI-0010", "DKL-LI-0003"),
)
def file_secrets(facts: Facts) -> Outcome:
    evidence = []
    read = 0
    hidden: list[tuple[str, HiddenEntry]] = []
    for path in sorted(facts.files.versions):
        if path in ACCOUNT_FILES or not is_candidate(path):
            continue
        history = facts.files.versions[path]
        final = facts.files.final(path)
        for version in history:
            read += 1
            hits = scan_file(path, version.data)
            if not hits:
                continue
            detail = "; ".join(h.describe() for h in hits[:5])
            if len(hits) > 5:
                detail += f"; and {len(hits) - 5} more"
            if final is None or final is not version:
                hider = facts.hider(path, version.layer)
                if hider is not None:
                    hidden.append((path, hider))
                    detail += "; " + facts.hidden_detail(version.layer, hider.by, hider.how)
                detail += "; not in the final file system, but still readable in this layer"
            evidence.append(facts.layer(version.layer, detail, (path,)))
    shipped = itertools.chain(
        _files(facts), (h.entry for h in facts.hidden if h.entry.kind == "file")
    )
    unread = sorted(
        {
            e.path
            for e in shipped
            if e.path not in facts.files.versions
            and e.path not in ACCOUNT_FILES
            and is_candidate(e.path)
        }
    )
    note = ""
    if unread:
        note = f" ({plural(len(unread), 'candidate file')} not read, e.g. {unread[0]})"
    if evidence:
        message = f"credentials in {plural(len(evidence), 'file version')}{note}"
        if hidden:
            path, first = hidden[0]
            which = "" if len(evidence) == 1 else f" {len(hidden)} of them"
            more = f" (and {len(hidden) - 1} more)" if len(hidden) > 1 else ""
            message += (
                f";{which} hidden by a later layer but still shipped: {path} "
                f"{facts.hidden_detail(first.layer, first.by, first.how)}{more}"
            )
        return failed(message, evidence)
    if unread and not read:
        return skipped(f"candidate files were not read by the analysis{note}")
    return passed(f"no credentials in {plural(read, 'candidate file version')}{note}")


@check(
    "PS-005",
    "setuid and setgid files reviewed",
    Level.INFO,
    why="A setuid or setgid program runs with its owner's or group's rights whatever user "
    "starts it; one with a flaw is a way to root inside the container.",
    fix="Remove the bits where they are not needed: `RUN find / -xdev -perm /6000 -type f "
    "-exec chmod a-s {} +`, keeping only the programs the service really uses.",
    see_also=("CIS-DI-0008",),
)
def setuid_files(facts: Facts) -> Outcome:
    """The final file system only, by nature: the kernel honours the bits when it runs a
    file, and a file a later layer deleted or wrote over cannot be run in the container
    (a later copy without the bits, as ``chmod u-s`` leaves, is the fix; a later copy
    with them, as ``chmod u+s`` makes, is the layer to blame). A hard link is a name of
    the same file: one that stays after the file's first name was deleted still runs
    with the bits, so links count, with their own entry's mode."""
    by_layer: dict[int, list[str]] = defaultdict(list)
    for entry in facts.index.values():
        if entry.kind in _FILE_KINDS and entry.mode & (SETUID | SETGID):
            by_layer[entry.layer].append(entry.path)
    if not by_layer:
        return passed("no setuid or setgid files")
    count = sum(len(paths) for paths in by_layer.values())
    return failed(
        f"{plural(count, 'setuid or setgid file')}",
        [
            facts.layer(layer, f"{plural(len(paths), 'file')} with setuid or setgid", paths)
            for layer, paths in sorted(by_layer.items())
        ],
    )


# Paths inside the image being reviewed, not temporary files of this process.
SCRATCH_DIRECTORIES = ("/tmp", "/var/tmp", "/dev/shm")  # noqa: S108
_SCRATCH_PREFIXES = tuple(d + "/" for d in SCRATCH_DIRECTORIES)


@check(
    "PS-006",
    "No world-writable files outside temporary directories",
    Level.WARN,
    why="Any user in the container, including a compromised unprivileged process, can "
    "change a world-writable file: replacing a script or a configuration file that root "
    "later runs or reads.",
    fix="Give files to the user that needs them (`COPY --chown=app` and `chmod 644` or "
    "`755`) instead of `chmod 777`. Shared scratch directories should be sticky (`1777`).",
)
def world_writable(facts: Facts) -> Outcome:
    """The final file system only, by nature: the risk is a process in the container
    changing the file, and a file a later layer deleted or wrote over is not there to
    change (nor does a later ``chmod 644``, which writes a new copy, leave the old mode
    anywhere a process can reach). Hard links count as the files they are."""
    by_layer: dict[int, list[str]] = defaultdict(list)
    for entry in facts.index.values():
        if entry.kind not in ("file", "hardlink", "dir") or not entry.mode & WORLD_WRITABLE:
            continue
        if entry.kind == "dir" and entry.mode & STICKY:
            continue  # a sticky directory is the standard shared scratch space
        if entry.path in SCRATCH_DIRECTORIES or entry.path.startswith(_SCRATCH_PREFIXES):
            continue
        by_layer[entry.layer].append(entry.path)
    if not by_layer:
        return passed("no world-writable files or directories outside temporary directories")
    count = sum(len(paths) for paths in by_layer.values())
    return failed(
        f"{plural(count, 'world-writable path')}",
        [
            facts.layer(layer, f"{plural(len(paths), 'world-writable path')}", paths)
            for layer, paths in sorted(by_layer.items())
        ],
    )


_HOME = r"/(?:root|home/[^/]+)"
CACHES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("apt package lists", re.compile(r"/var/lib/apt/lists/(?!partial/)(?!lock$)[^/]+$")),
    ("apt downloaded packages", re.compile(r"/var/cache/apt/archives/[^/]+\.deb$")),
    ("apt package cache", re.compile(r"/var/cache/apt/[^/]+\.bin$")),
    ("apk cache", re.compile(r"/var/cache/apk/.")),
    ("pip cache", re.compile(_HOME + r"/\.cache/pip/.")),
    ("npm cache", re.compile(_HOME + r"/\.npm/_cacache/.")),
    ("yarn cache", re.compile(r"(?:" + _HOME + r"/\.cache/yarn|/usr/local/share/\.cache/yarn)/.")),
    ("yum cache", re.compile(r"/var/cache/yum/.")),
    ("dnf cache", re.compile(r"/var/cache/dnf/.")),
)
_CACHE_PREFIXES = ("/var/lib/apt/lists/", "/var/cache/", "/root/", "/home/", "/usr/local/share/")


@check(
    "PS-007",
    "No package-manager caches left",
    Level.WARN,
    why="Package lists and downloaded packages are only needed while installing; left in "
    "a layer they add megabytes to every pull and describe packages that are not "
    "installed.",
    fix="Clean up in the same RUN step that installs: `apt-get install ... && rm -rf "
    "/var/lib/apt/lists/*`, `apk add --no-cache`, `pip install --no-cache-dir`, "
    "`npm ci && npm cache clean --force`, `dnf clean all`.",
    see_also=("DKL-DI-0004", "DKL-DI-0005"),
)
def caches(facts: Facts) -> Outcome:
    # (name, layer that added the files, layer that hid them or -1, how) -> the files
    found: dict[tuple[str, int, int, str], list[Entry]] = defaultdict(list)
    for entry in _files(facts):
        name = _cache(entry.path)
        if name is not None:
            found[(name, entry.layer, -1, "")].append(entry)
    for item in facts.hidden:
        entry = item.entry
        if entry.kind == "file":
            name = _cache(entry.path)
            if name is not None:
                found[(name, entry.layer, item.by, item.how)].append(entry)
    if not found:
        return passed("no package-manager caches")
    evidence = []
    total = hidden = 0
    largest: tuple[int, str, int, int, str] | None = None  # the largest hidden group
    for (name, layer, by, how), entries in sorted(
        found.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2], kv[0][3])
    ):
        size = sum(e.size for e in entries)
        total += size
        detail = f"{name}: {plural(len(entries), 'file')}, {_size(size)}"
        if by >= 0:
            hidden += size
            if largest is None or size > largest[0]:
                largest = (size, name, layer, by, how)
            detail += (
                f", {facts.hidden_detail(layer, by, how)}; the bytes still ship in layer {layer}"
            )
        evidence.append(facts.layer(layer, detail, (e.path for e in entries)))
    names = sorted({key[0] for key in found})
    message = f"{', '.join(names)} left in the image ({_size(total)})"
    if largest is not None:
        size, name, layer, by, how = largest
        groups = sum(1 for key in found if key[2] >= 0)
        more = f" (and {groups - 1} more)" if groups > 1 else ""
        message = (
            f"{', '.join(names)} left in the image ({_size(total)}, {_size(hidden)} of it "
            f"hidden by later layers but still shipped: {name} "
            f"{facts.hidden_detail(layer, by, how)}{more})"
        )
    return failed(message, evidence)


def _cache(path: str) -> str | None:
    """The kind of package-manager cache ``path`` belongs to, if any."""
    if not path.startswith(_CACHE_PREFIXES):
        return None
    for name, pattern in CACHES:
        if pattern.match(path):
            return name
    return None


BIN_DIRECTORIES = frozenset(
    {
        "/bin",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/local/go/bin",
        "/usr/lib/go/bin",
        "/usr/local/cargo/bin",
        "/root/.cargo/bin",
    }
)
_TOOL = re.compile(
    r"(?:[a-z0-9_]+(?:-[a-z0-9_]+){1,3}-)?"
    r"(gcc|g\+\+|cc|c\+\+|clang|clang\+\+|rustc|cargo|go|make|gmake|cmake|curl|wget|git|pip|pip3)"
    r"(?:-?[0-9][0-9.]*)?"
)
_TOOL_NAMES = {"pip3": "pip", "gmake": "make", "clang++": "clang"}


@check(
    "PS-008",
    "No build tools in the final image",
    Level.INFO,
    why="Compilers, downloaders and version-control tools are what an attacker needs to "
    "turn a foothold into a toolkit, and they add size and vulnerabilities the service "
    "never uses.",
    fix="Build in one stage and copy only the result into a final stage based on a "
    "runtime image; remove downloaders after use or fetch files at build time.",
    see_also=("CIS-DI-0003",),
)
def build_tools(facts: Facts) -> Outcome:
    tools: dict[str, list[Entry]] = defaultdict(list)
    for entry in facts.index.values():
        tool = _tool(entry)
        if tool is not None:
            tools[tool].append(entry)
    # Tools a later layer deleted (and none wrote again): still shipped in their layer.
    removed: dict[tuple[str, int, int], list[Entry]] = defaultdict(list)
    for item in facts.hidden:
        if item.how == DELETED and item.path not in facts.index:
            tool = _tool(item.entry)
            if tool is not None:
                removed[(tool, item.layer, item.by)].append(item.entry)
    if not tools and not removed:
        return passed("no compilers, build tools, downloaders or git")
    evidence = []
    for tool, entries in sorted(tools.items()):
        first = min(entries, key=lambda e: (e.layer, e.path))
        evidence.append(
            facts.layer(first.layer, f"{tool} (added by this layer)", (e.path for e in entries))
        )
    for (tool, layer, by), entries in sorted(removed.items()):
        detail = (
            f"{tool} ({facts.hidden_detail(layer, by, DELETED)}; still shipped in layer {layer})"
        )
        evidence.append(facts.layer(layer, detail, (e.path for e in entries)))
    parts = []
    if tools:
        parts.append("build tools left: " + ", ".join(sorted(tools)))
    if removed:
        (tool, layer, by), _ = min(removed.items())
        names = sorted({key[0] for key in removed})
        parts.append(
            ("build tools" if not tools else "and")
            + " deleted by later layers but still shipped: "
            + ", ".join(names)
            + f" ({tool} {facts.hidden_detail(layer, by, DELETED)})"
        )
    return failed("; ".join(parts), evidence)


def _tool(entry: Entry) -> str | None:
    """The build tool a file or link in a bin directory is, if any."""
    if entry.kind not in ("file", "symlink", "hardlink"):
        return None
    parent, _, base = entry.path.rpartition("/")
    if parent not in BIN_DIRECTORIES:
        return None
    match = _TOOL.fullmatch(base)
    if match is None:
        return None
    return _TOOL_NAMES.get(match.group(1), match.group(1))


@check(
    "PS-010",
    "Image size within policy",
    Level.WARN,
    why="Large images are slow to pull and start, cost storage on every node, and usually "
    "carry build leftovers with their own vulnerabilities.",
    fix="Use a slim or distroless base, a multi-stage build, and remove caches and "
    "documentation in the step that creates them.",
)
def image_size(facts: Facts) -> Outcome:
    by_layer: dict[int, int] = defaultdict(int)
    for entry in _files(facts):
        by_layer[entry.layer] += entry.size
    # Bytes a later layer deleted or wrote over still ship in the layer that added them.
    hidden_by: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for item in facts.hidden:
        if item.entry.kind == "file":
            by_layer[item.layer] += item.entry.size
            hidden_by[item.layer][item.by] += item.entry.size
    total = sum(by_layer.values())
    hidden = sum(sum(hiders.values()) for hiders in hidden_by.values())
    shown = f"{_size(total)} of files"
    if hidden:
        shown += f", {_size(hidden)} of them hidden by later layers"
    limit = facts.policy.max_image_bytes
    if total <= limit:
        return passed(f"{shown} (policy allows {_size(limit)})")
    largest = sorted(by_layer.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return failed(
        f"{shown}; the store's policy allows {_size(limit)}",
        [
            facts.layer(layer, _layer_size(facts, size, hidden_by.get(layer)))
            for layer, size in largest
        ],
    )


def _layer_size(facts: Facts, size: int, hiders: dict[int, int] | None) -> str:
    """What one layer ships, and how much of it later layers hide (and which)."""
    if not hiders:
        return f"{_size(size)} of the final files"
    hidden = sum(hiders.values())
    most = min(hiders, key=lambda by: (-hiders[by], by))
    which = facts.describe_layer(most)
    by = f"by {which}" if len(hiders) == 1 else f"by later layers, most by {which}"
    return f"{_size(size)} of files, {_size(hidden)} of them hidden {by}"


LICENSE_LABEL = "org.opencontainers.image.licenses"
LICENSE_DIRECTORIES = ("/licenses/", "/usr/share/licenses/")
_LICENSE_NAME = re.compile(r"(?i)(?:licen[cs]e|copying)(?:[._-].*)?")
APP_DIRECTORIES = frozenset({"", "/app", "/opt/app", "/srv", "/srv/app", "/usr/src/app"})


@check(
    "PS-015",
    "Licence information shipped",
    Level.WARN,
    why="Users of a published image must be able to tell under which terms they may run "
    "and redistribute it; the store shows the licence on the listing.",
    fix="Set `LABEL org.opencontainers.image.licenses=<SPDX expression>` and copy the "
    "licence texts into /licenses/ (or LICENSE into the application directory).",
    see_also=("preflight HasLicense",),
)
def licence(facts: Facts) -> Outcome:
    label = facts.labels.get(LICENSE_LABEL, "").strip()
    workdir = facts.text("WorkingDir").rstrip("/")
    app_directories = APP_DIRECTORIES | {workdir}
    files = []
    for entry in _files(facts):
        parent, _, base = entry.path.rpartition("/")
        if entry.path.startswith(LICENSE_DIRECTORIES) or (
            parent in app_directories and _LICENSE_NAME.fullmatch(base)
        ):
            files.append(entry.path)
            if len(files) >= 3:
                break
    if label and files:
        return passed(f"licence label {label!r} and licence files ({', '.join(sorted(files))})")
    if label:
        return passed(f"licence label {label!r}")
    if files:
        return passed(f"licence files: {', '.join(sorted(files))}")
    return failed(f"no {LICENSE_LABEL} label and no licence file in /licenses or the app")


SUDO_PATHS = ("/usr/bin/sudo", "/bin/sudo", "/usr/sbin/sudo", "/usr/local/bin/sudo")


@check(
    "PS-017",
    "sudo not installed",
    Level.WARN,
    why="sudo in a container is a way for any process that can reach it to become root, "
    "and it hides which user a step really needs.",
    fix="Remove sudo; run the steps that need root before `USER`, or use a dedicated "
    "entrypoint that drops privileges (gosu, su-exec, setpriv).",
    see_also=("DKL-DI-0001",),
)
def sudo(facts: Facts) -> Outcome:
    """The final file system and package databases only, by nature: sudo is a risk for
    what it lets a process in the container become, and a sudo a later layer removed
    (``apt-get purge sudo``) cannot be run there. Its bytes still ship in the layer that
    installed it, counted by the size check (PS-010). A binary deleted while the package
    database still lists sudo fails through the package."""
    evidence = [
        facts.layer(facts.index[path].layer, "sudo binary", (path,))
        for path in SUDO_PATHS
        if path in facts.index and facts.index[path].kind in ("file", "symlink", "hardlink")
    ]
    layer_of = {layer.digest: layer.index for layer in facts.layers}
    evidence.extend(
        facts.layer(layer_of.get(p.layer), f"sudo package {p.version}".strip(), p.paths)
        for p in facts.inventory.packages
        if p.name == "sudo" and p.type in ("deb", "rpm", "apk")
    )
    if evidence:
        return failed("sudo is installed", evidence)
    return passed("sudo is not installed")


@check(
    "PS-020",
    "No accounts with an empty password",
    Level.WARN,
    why="An account whose password field is empty can be entered without a password by "
    "anything that asks (su, login, some SSH setups), which turns any shell into that "
    "account.",
    fix="Lock the account instead: `passwd -l NAME` or `usermod -p '!' NAME` (accounts "
    "created with `useradd` or `adduser -D` are locked already); an empty field in "
    "/etc/passwd goes with `pwconv`, which moves it to /etc/shadow to be locked there.",
    see_also=("DKL-LI-0001",),
)
def empty_passwords(facts: Facts) -> Outcome:
    """The final file system only, by nature: login, su and sshd read the account files
    the container has, so an empty password in an earlier /etc/shadow that a later layer
    replaced or deleted opens nothing (what that earlier file says stays readable in its
    layer, as every file does).

    Both account files are read: an account whose /etc/passwd password field is empty
    has no password whatever /etc/shadow says (the field is only a pointer to shadow
    when it is ``x``), which is also how an image without /etc/shadow has accounts
    without a password."""
    evidence = []
    accounts: set[str] = set()
    unread = []
    for path in (PASSWD, SHADOW):
        if path not in facts.index:
            continue
        version = facts.files.final(path)
        if version is None:
            unread.append(path)
            continue
        empty = _no_password(version.data)
        if empty:
            accounts.update(empty)
            shown = ", ".join(empty[:20])
            more = f" and {len(empty) - 20} more" if len(empty) > 20 else ""
            evidence.append(facts.layer(version.layer, f"no password: {shown}{more}", (path,)))
    if evidence:
        return failed(f"{plural(len(accounts), 'account')} with an empty password", evidence)
    if unread:
        return skipped(f"{' and '.join(unread)} not read by the analysis")
    if PASSWD not in facts.index and SHADOW not in facts.index:
        return passed("the image has no /etc/passwd or /etc/shadow")
    return passed("every account has a password or is locked")


def _no_password(data: bytes) -> list[str]:
    """The accounts of an account file (passwd or shadow: the password is the second
    field of both) whose password field is empty; names cut to 64 characters."""
    empty = []
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if (
            len(fields) >= 2
            and fields[0]
            and fields[1] == ""
            and not fields[0].startswith(("+", "-"))
        ):
            empty.append(fields[0][:64])
    return empty


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns
