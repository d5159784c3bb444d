"""Finding credentials in an image without ever repeating them.

Two halves. :class:`SecretsCollector` is a cataloger that claims the few files where
credentials are usually left (key files, ``.env``, the configuration files of cloud CLIs,
package managers and git), so the analysis pass keeps their bytes, every version of
them: a key deleted by a later layer is still in the earlier layer's blob, and anyone who
pulls the image can read it. :func:`scan_file`, :func:`scan_assignments` and :func:`redact`
then look for credentials in those bytes, in the environment and in the build history.

What is reported is the kind of credential, the variable or key name when there is one,
the line, the path and the layer; the value never leaves this module. Everything that is
shown to a person (commands from the history, messages) goes through :func:`redact`.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from portside.scanner.catalogers.base import Context, Files
from portside.scanner.model import Package

MiB = 1024 * 1024
REDACTED = "[REDACTED]"

# --- which files are read ----------------------------------------------------------------

# Exact file names that hold credentials wherever they are.
_NAMES = frozenset(
    {
        ".env",
        ".envrc",
        ".npmrc",
        ".yarnrc",
        ".pypirc",
        ".git-credentials",
        ".netrc",
        "_netrc",
        ".pgpass",
        ".my.cnf",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "application_default_credentials.json",
        "accessTokens.json",
        "msal_token_cache.json",
        "service_principal_entries.json",
    }
)
_SUFFIXES = (".pem", ".key", ".ppk", ".p8", ".env")
# Files named by the directory they live in.
_PARENT_NAMES = frozenset(
    {
        ".aws/credentials",
        ".aws/config",
        ".docker/config.json",
        ".azure/credentials",
        ".kube/config",
    }
)
_JSON_KEY_WORDS = ("service-account", "service_account", "serviceaccount", "credential", "keyfile")
# Read for the account checks (which uid a user name stands for, which accounts have no
# password); they are not scanned as credential files.
PASSWD = "/etc/passwd"
SHADOW = "/etc/shadow"
ACCOUNT_FILES = frozenset({PASSWD, SHADOW})


def is_candidate(path: str) -> bool:
    """Whether ``path`` is one of the files the collector reads (size aside)."""
    if path in ACCOUNT_FILES:
        return True
    parent, _, base = path.rpartition("/")
    if base in _NAMES or base.startswith(".env."):
        return True
    if base.endswith(_SUFFIXES):
        return True
    if f"{parent.rpartition('/')[2]}/{base}" in _PARENT_NAMES:
        return True
    if base.endswith(".json"):
        lowered = base.lower()
        return any(word in lowered for word in _JSON_KEY_WORDS) or "/gcloud/" in path
    return False


class SecretsCollector:
    """A cataloger that finds no packages: it makes the analysis keep candidate files.

    ``claims`` is called for every file of every layer, so it only looks at the name and
    the size; files over ``max_bytes`` are not kept (credential files are small, and the
    analysis holds claimed bytes in memory).
    """

    name = "secrets"

    def __init__(self, max_bytes: int = MiB) -> None:
        self.max_bytes = max_bytes

    def claims(self, path: str, mode: int, size: int) -> bool:
        return size <= self.max_bytes and is_candidate(path)

    def catalog(self, files: Files, context: Context) -> Iterable[Package]:
        return ()


# --- what counts as a credential -----------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One credential found: what it is and where, never its value."""

    kind: str
    line: int | None = None
    name: str = ""  # the variable, key or host it belongs to

    def describe(self) -> str:
        named = f" ({self.name})" if self.name else ""
        where = f" on line {self.line}" if self.line else ""
        return f"{self.kind}{named}{where}; value redacted"


# The patterns are compiled when first used (``_re``): the worker and every table or JSON
# report import this module, and most images give it nothing to read.
# Each pattern's last group (or the whole match) is the secret, which redact() replaces.
_TOKENS: tuple[tuple[str, str], ...] = (
    (
        "private key",
        r"-----BEGIN (?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY(?: BLOCK)?-----",
    ),
    ("AWS access key id", r"(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])"),
    (
        "AWS secret access key",
        r"(?i)aws_?secret_?access_?key[\"']?\s{0,8}[:=]\s{0,8}[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
    ),
    ("GitHub token", r"\b((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36})\b"),
    ("GitHub token", r"\b(github_pat_[A-Za-z0-9_]{22,255})\b"),
    ("GitLab token", r"\b(glpat-[A-Za-z0-9_-]{20,64})\b"),
    ("Slack token", r"\b(xox[abposr]-[A-Za-z0-9-]{10,250})"),
    (
        "Slack webhook",
        r"hooks\.slack\.com/services/(T[A-Z0-9]{4,20}/B[A-Z0-9]{4,20}/[A-Za-z0-9]{8,64})",
    ),
    ("npm token", r"\b(npm_[A-Za-z0-9]{36})\b"),
    ("PyPI token", r"\b(pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,400})"),
    ("Google API key", r"\b(AIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])"),
    ("Azure storage key", r"(?i)AccountKey=([A-Za-z0-9+/]{80,100}={0,2})"),
    ("Azure shared access key", r"(?i)SharedAccessKey=([A-Za-z0-9+/]{40,100}={0,2})"),
    (
        "password in a URL",
        r"\b[a-z][a-z0-9+.-]{1,15}://[^\s/:@\"']{1,128}:([^\s/@\"']{1,256})@[^\s/\"']",
    ),
)

# A variable or key whose name says it holds a secret: it must END with one of these words,
# so PASSWORD_MIN_LENGTH or TOKEN_URL are not secrets while DB_PASSWORD is.
SECRET_NAME = (
    r"(?i)(?:^|[_.-])(?:password|passwd|pass|secret|token|api_?key|access_?key|secret_?key"
    r"|private_?key|client_?secret|credentials?|auth_?token|session_?token)$"
)
_NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})
_ASSIGNMENT = (
    r"(?:^|(?<=[\s;&|(]))(?:export\s+|--)?([A-Za-z_][A-Za-z0-9_.-]{0,127})[=]"
    r"(\"[^\"\n]*\"|'[^'\n]*'|[^\s\"';&|]+)"
)
_OPTION = r"(?i)--(?:password|passwd|token|secret)[= ](\"[^\"\n]*\"|'[^'\n]*'|\S+)"
_AUTH_HEADER = r"(?i)authorization:\s{0,4}(?:bearer|basic|token)\s{1,4}([^\s\"']+)"
_PLACEHOLDER = r"(?i)^(?:\$.*|<[^>]*>|\*+|x+|\.\.\.|none|null|changeme-please)$"


@functools.cache
def _re(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled, once."""
    return re.compile(pattern)


def _looks_set(value: str) -> bool:
    """A value that is really there: not empty, not ``$VAR`` or ``<placeholder>``."""
    stripped = value.strip().strip("\"'").strip()
    return bool(stripped) and not _re(_PLACEHOLDER).match(stripped)


def is_secret_name(name: str) -> bool:
    return name.upper() not in _NOT_SECRET_NAMES and bool(_re(SECRET_NAME).search(name))


def scan_assignments(pairs: Iterable[tuple[str, str]]) -> list[Hit]:
    """Secrets among ``NAME=value`` pairs (the config's Env): by name or by value."""
    hits = []
    for name, value in pairs:
        if is_secret_name(name) and _looks_set(value):
            hits.append(Hit("secret-looking variable with a value", name=name))
            continue
        for kind, _ in _token_matches(value):
            hits.append(Hit(kind, name=name))
            break
    return hits


def scan_command(text: str) -> list[Hit]:
    """Secrets in a build command: build arguments, ``--password``, tokens, headers."""
    hits = [Hit(kind) for kind, _ in _token_matches(text)]
    for match in _re(_ASSIGNMENT).finditer(text):
        if is_secret_name(match.group(1)) and _looks_set(match.group(2)):
            hits.append(Hit("secret-looking build argument or variable", name=match.group(1)))
    if any(_looks_set(m.group(1)) for m in _re(_OPTION).finditer(text)):
        hits.append(Hit("password or token option"))
    if _re(_AUTH_HEADER).search(text):
        hits.append(Hit("authorization header"))
    return _unique(hits)


def redact(text: str) -> str:
    """``text`` with every credential this module recognises replaced by ``[REDACTED]``."""
    spans: list[tuple[int, int]] = []
    pem_end = -1  # where the last PEM block ended: several BEGINs may share one END
    for _, match in _token_matches(text):
        if match.re is _re(_TOKENS[0][1]):
            # A PEM block: hide everything up to its END line (or the end of the text).
            if pem_end < match.end():
                found = text.find("-----END", match.end())
                pem_end = len(text) if found < 0 else found
            spans.append((match.start(), pem_end))
        else:
            spans.append(match.span(match.lastindex or 0))
    for match in _re(_ASSIGNMENT).finditer(text):
        if is_secret_name(match.group(1)) and _looks_set(match.group(2)):
            spans.append(match.span(2))
    for pattern in (_OPTION, _AUTH_HEADER):
        spans.extend(m.span(1) for m in _re(pattern).finditer(text))
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end in sorted(spans):
        if end <= position:
            continue
        out.append(text[position : max(start, position)])
        out.append(REDACTED)
        position = end
    out.append(text[position:])
    return "".join(out)


def _token_matches(text: str) -> Iterator[tuple[str, re.Match[str]]]:
    for kind, pattern in _TOKENS:
        for match in _re(pattern).finditer(text):
            value = match.group(match.lastindex or 0)
            if "EXAMPLE" in value:  # the documented AWS sample keys
                continue
            if kind == "password in a URL" and not _looks_set(value):
                continue
            yield kind, match


def _unique(hits: Iterable[Hit]) -> list[Hit]:
    return list(dict.fromkeys(hits))


# --- files ------------------------------------------------------------------------------------


class _Lines:
    """Line numbers for offsets. Counting is done in C per hit, and a file has at most
    ``MAX_HITS_PER_FILE`` hits, which is cheaper than indexing a file of a million
    newlines that has none."""

    def __init__(self, text: str) -> None:
        self._text = text

    def at(self, offset: int) -> int:
        return self._text.count("\n", 0, offset) + 1


MAX_HITS_PER_FILE = 20


def scan_file(path: str, data: bytes) -> list[Hit]:
    """The credentials in one file's bytes (at most ``MAX_HITS_PER_FILE``)."""
    if b"\x00" in data[:8192]:
        return []  # binary: keystores and the like are out of reach of a text scan
    text = data.decode("utf-8", "replace")
    lines = _Lines(text)
    base = path.rpartition("/")[2]
    hits: list[Hit] = []
    structured = _structured(path, base, text, lines)
    hits.extend(structured)
    covered = {h.line for h in structured}
    for kind, match in _token_matches(text):
        line = lines.at(match.start())
        if line not in covered:
            hits.append(Hit(kind, line=line))
        if len(hits) >= MAX_HITS_PER_FILE:
            break
    return _unique(hits)[:MAX_HITS_PER_FILE]


# Line-anchored rules use [ \t], never \s: \s matches newlines, and a ^\s* that runs
# across a file of blank lines from every line start is quadratic.
_NPMRC = r"(?im)^[ \t]*\S*?_(authToken|auth|password)[ \t]*[=:][ \t]*(\S.*)$"
_PYPIRC = r"(?im)^[ \t]*(password)[ \t]*[=:][ \t]*(\S.*)$"
_NETRC = r"(?m)\b(password)[ \t]+(\S+)"
_MY_CNF = r"(?im)^[ \t]*(password)[ \t]*=[ \t]*(\S.*)$"
_AWS_FILE = r"(?im)^[ \t]*(aws_secret_access_key|aws_session_token)[ \t]*=[ \t]*(\S.*)$"
_GIT_CREDENTIAL = r"\s*[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@"
_KUBE = r"(?m)^[ \t]*(token|client-key-data|password):[ \t]*\S"


def _structured(path: str, base: str, text: str, lines: _Lines) -> list[Hit]:
    """Rules for the files whose format is known."""
    if base == ".env" or base.startswith(".env.") or base.endswith(".env") or base == ".envrc":
        return _env_file(text, lines)
    if base in (".npmrc", ".yarnrc"):
        return _keyed(
            text,
            lines,
            _NPMRC,
            "npm registry credential",
        )
    if base == ".pypirc":
        return _keyed(text, lines, _PYPIRC, "PyPI password")
    if base in (".netrc", "_netrc"):
        return _keyed(text, lines, _NETRC, "netrc password")
    if base == ".my.cnf":
        return _keyed(text, lines, _MY_CNF, "MySQL password")
    if base == ".pgpass":
        return [
            Hit("PostgreSQL password", line=number)
            for number, row in enumerate(text.splitlines(), 1)
            if not row.startswith("#") and row.count(":") >= 4 and _looks_set(row.rsplit(":", 1)[1])
        ]
    if base == ".git-credentials":
        return [
            Hit("git credentials", line=number)
            for number, row in enumerate(text.splitlines(), 1)
            if _re(_GIT_CREDENTIAL).match(row)
        ]
    if path.endswith(("/.aws/credentials", "/.aws/config")):
        return _keyed(
            text,
            lines,
            _AWS_FILE,
            "AWS credential",
        )
    if base.endswith(".json") or path.endswith("/.kube/config"):
        return _json_file(path, text)
    return []


def _keyed(text: str, lines: _Lines, pattern: str, kind: str) -> list[Hit]:
    matches = (m for m in _re(pattern).finditer(text) if _looks_set(m.group(2)))
    return [
        Hit(kind, line=lines.at(m.start()), name=m.group(1))
        for m in itertools.islice(matches, MAX_HITS_PER_FILE)
    ]


_ENV_LINE = r"(?m)^[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.]*)[ \t]*=[ \t]*(.*)$"


def _env_file(text: str, lines: _Lines) -> list[Hit]:
    matches = (
        m
        for m in _re(_ENV_LINE).finditer(text)
        if is_secret_name(m.group(1)) and _looks_set(m.group(2).split(" #", 1)[0])
    )
    return [
        Hit("secret in an environment file", line=lines.at(m.start()), name=m.group(1))
        for m in itertools.islice(matches, MAX_HITS_PER_FILE)
    ]


def _json_file(path: str, text: str) -> list[Hit]:
    if path.endswith("/.kube/config"):
        if _re(_KUBE).search(text):
            return [Hit("Kubernetes credentials")]
        return []
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    kind = document.get("type")
    if kind == "service_account" and _looks_set(str(document.get("private_key", ""))):
        return [
            Hit(
                "Google Cloud service-account key", name=str(document.get("client_email", ""))[:200]
            )
        ]
    if kind == "authorized_user" and _looks_set(str(document.get("refresh_token", ""))):
        return [Hit("Google Cloud user credentials")]
    auths = document.get("auths")
    if path.endswith("/.docker/config.json") and isinstance(auths, dict):
        return [
            Hit("container registry credentials", name=str(registry)[:200])
            for registry, entry in auths.items()
            if isinstance(entry, dict)
            and any(
                _looks_set(str(entry.get(k, ""))) for k in ("auth", "password", "identitytoken")
            )
        ]
    base = path.rpartition("/")[2]
    if base in ("accessTokens.json", "msal_token_cache.json", "service_principal_entries.json"):
        if any(
            k in text for k in ('"accessToken"', '"secret"', '"RefreshToken"', '"client_secret"')
        ):
            return [Hit("Azure CLI credentials")]
    return []
