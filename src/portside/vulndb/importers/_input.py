"""Reading feed files safely: bounded sizes, safe archives, safe YAML, typed access.

Feeds come from the network, so every importer reads through these helpers:

* files are measured before they are read and read with a bound, so a 2 GB file (or one
  that grows while it is read) is refused with :class:`InputTooLarge` instead of
  filling memory;
* gzip is decompressed with the same bound, so a compressed bomb stops at the limit;
  every member of a multi-member file is read, and bytes after the last one (other than
  zero padding) are an error rather than silently dropped;
* zip members are read in memory, never extracted, and refused when a name escapes the
  archive (``../``, absolute, drive letters), when a name repeats, when there are too
  many members or when a member's compression ratio is a bomb's;
* YAML is read with the safe loader (a tag that would construct an object is an error),
  and a document that uses anchors and aliases is refused, because shared nodes let a
  kilobyte expand into gigabytes when walked (the "billion laughs");
* a document must be data that can be written back as strict JSON and stored as UTF-8:
  ``NaN`` and infinities, integers longer than Python converts to text (4300 digits)
  and unpaired surrogates (which JSON's ``\\u`` escapes can spell) are refused;
* :class:`Fields` gives typed access to a JSON object and turns every wrong type into a
  :class:`MalformedInput` naming the file, the record and the field.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import lzma
import math
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from portside.vulndb.errors import InputTooLarge, MalformedInput, UnsafeArchive

MiB = 1024 * 1024

#: A whole feed file (the Debian tracker's JSON is about 80 MiB, an NVD page a few).
DEFAULT_MAX_FILE = 1024 * MiB
#: One OSV record, as a file in a directory or a member of a zip.
DEFAULT_MAX_RECORD = 16 * MiB
#: The sum of the uncompressed members of one zip (osv.dev's all.zip is a few GiB).
DEFAULT_MAX_ARCHIVE = 8 * 1024 * MiB
#: Members of one zip.
MAX_MEMBERS = 2_000_000
#: A member that expands more than this many times (and to more than 1 MiB) is a bomb.
MAX_RATIO = 200
#: Nesting depth of a JSON or YAML document.
MAX_DEPTH = 64

RECORD_SUFFIXES = (".json", ".yaml", ".yml")

try:  # libyaml is much faster; the pure-Python loader has the same safe semantics.
    _YamlLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _YamlLoader = yaml.SafeLoader


@dataclass(frozen=True)
class Limits:
    """Size limits an import enforces; every importer takes one."""

    max_file: int = DEFAULT_MAX_FILE
    max_record: int = DEFAULT_MAX_RECORD
    max_archive: int = DEFAULT_MAX_ARCHIVE


class Digest:
    """A SHA-256 over every input an import reads, names included, in a fixed order, so
    the same feed always gives the same digest and any change gives another."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()

    def add(self, name: str, data: bytes) -> None:
        encoded = name.encode("utf-8", "surrogateescape")
        self._hash.update(len(encoded).to_bytes(8, "big") + encoded)
        self._hash.update(len(data).to_bytes(8, "big"))
        self._hash.update(data)

    def hexdigest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


# --- bytes ---------------------------------------------------------------------------


def read_file(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, refused before reading when the file is larger than
    ``limit``; gzip content (by its magic number) is decompressed within the same limit."""
    name = str(path)
    try:
        info = path.lstat()
    except OSError as exc:
        raise MalformedInput(name, f"cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise MalformedInput(name, "is a symbolic link; feeds are read from regular files")
    if not stat.S_ISREG(info.st_mode):
        raise MalformedInput(name, "is not a regular file")
    if info.st_size > limit:
        raise InputTooLarge(name, f"is {info.st_size} bytes; the limit is {limit}")
    try:
        data = _read_bounded(path, limit)
    except OSError as exc:
        raise MalformedInput(name, f"cannot be read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputTooLarge(name, f"grew past the limit of {limit} bytes while it was read")
    return gunzip(name, data, limit)


_READ_STEP = 4 * MiB


def _read_bounded(path: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``path``, read in steps: one ``read(limit + 1)``
    would allocate the whole limit (a gigabyte for a feed file) whatever the file's size."""
    parts: list[bytes] = []
    total = 0
    with path.open("rb") as handle:
        while total <= limit:
            part = handle.read(min(_READ_STEP, limit + 1 - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
    return b"".join(parts)


def gunzip(name: str, data: bytes, limit: int) -> bytes:
    """``data`` itself, or its gzip decompression bounded by ``limit``: every member of a
    multi-member file (RFC 1952 allows several), with only zero padding after the last."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    out = bytearray()
    pending = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits=31)
            while not inflater.eof:
                if not pending:
                    raise MalformedInput(name, "is a truncated gzip stream")
                out += inflater.decompress(pending, limit + 1 - len(out))
                if len(out) > limit:
                    raise InputTooLarge(name, f"decompresses to more than {limit} bytes")
                pending = inflater.unconsumed_tail
            pending = inflater.unused_data
            if not pending.strip(b"\0"):
                return bytes(out)
            if not pending.startswith(b"\x1f\x8b"):
                raise MalformedInput(name, "has data after its gzip stream")
    except zlib.error as exc:
        raise MalformedInput(name, f"is not valid gzip: {exc}") from None


def is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _safe_member_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return False
    if re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


def zip_members(path: Path, limits: Limits) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` for every record file in the zip at ``path``, in name order,
    after the checks described in the module docstring. Nothing is written to disk."""
    where = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        # ValueError covers a member name flagged as UTF-8 that is not (UnicodeDecodeError).
        raise MalformedInput(where, f"is not a readable zip archive: {exc}") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise UnsafeArchive(where, f"has {len(infos)} members; the limit is {MAX_MEMBERS}")
        seen: set[str] = set()
        declared = 0
        for info in infos:
            if not _safe_member_name(info.filename):
                raise UnsafeArchive(where, f"member name {info.filename!r} escapes the archive")
            if info.filename in seen:
                raise UnsafeArchive(where, f"member name {info.filename!r} appears twice")
            seen.add(info.filename)
            if info.is_dir():
                continue
            if info.file_size > limits.max_record:
                raise InputTooLarge(
                    where,
                    f"member {info.filename} is {info.file_size} bytes; "
                    f"the limit is {limits.max_record}",
                )
            if info.file_size > MiB and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise UnsafeArchive(
                    where, f"member {info.filename} expands {info.file_size} times its size"
                )
            declared += info.file_size
            if declared > limits.max_archive:
                raise InputTooLarge(
                    where, f"expands to more than {limits.max_archive} bytes in total"
                )
        for info in sorted(infos, key=lambda i: i.filename):
            if info.is_dir() or not info.filename.lower().endswith(RECORD_SUFFIXES):
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(limits.max_record + 1)
            except NotImplementedError as exc:  # a compression method zipfile lacks
                raise MalformedInput(where, f"member {info.filename}: {exc}") from None
            except RuntimeError:  # zipfile's word for an encrypted member
                raise MalformedInput(where, f"member {info.filename} is encrypted") from None
            except (
                zipfile.BadZipFile,
                zlib.error,
                lzma.LZMAError,
                EOFError,
                OSError,
                ValueError,
            ) as exc:
                raise MalformedInput(where, f"member {info.filename} is damaged: {exc}") from None
            if len(data) > limits.max_record:
                raise InputTooLarge(where, f"member {info.filename} is larger than declared")
            yield info.filename, data


def directory_files(root: Path) -> list[Path]:
    """Every record file under ``root``, sorted, hidden files and folders left out.
    Symbolic links are refused rather than followed out of the tree."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or not name.lower().endswith(RECORD_SUFFIXES):
                continue
            candidate = Path(folder, name)
            if candidate.is_symlink():
                raise MalformedInput(str(candidate), "is a symbolic link; it is not followed")
            found.append(candidate)
    return sorted(found)


# --- documents -------------------------------------------------------------------------


class _Constant(Exception):
    """``NaN``, ``Infinity`` or ``-Infinity`` (accepted by Python's parser, not JSON), or a
    number out of a float's range (which would come back as infinity)."""


def _no_constant(name: str) -> Any:
    raise _Constant(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: a number, but past what a float holds
        raise _Constant(f"{text[:40]} is beyond the range of a number")
    return value


# A \\u escape of a surrogate: the only way a JSON text (valid UTF-8) can hold one.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def load_json(name: str, data: bytes) -> Any:
    """A JSON document, which must be UTF-8 (RFC 8259; a byte order mark is allowed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedInput(name, f"is not UTF-8 text: {exc.reason}") from None
    try:
        document = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise MalformedInput(
            name, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except _Constant as exc:
        raise MalformedInput(name, f"is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedInput(name, "is nested too deeply") from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise MalformedInput(name, "is not valid JSON: a number has too many digits") from None
    if _ESCAPED_SURROGATE.search(text):
        _refuse_surrogates(name, document)
    return document


def _refuse_surrogates(name: str, document: Any) -> None:
    """Refuse a document holding an unpaired surrogate (an escaped pair is one character
    and fine): such a string cannot be encoded as UTF-8, so it could not be stored."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise MalformedInput(name, "holds an unpaired surrogate escape (\\ud800-\\udfff)")
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def load_yaml(name: str, data: bytes) -> Any:
    """One YAML document through the safe loader, with aliases refused (see above)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(name, f"is not UTF-8 text: {exc.reason}") from None
    if "&" in text and "*" in text:
        _refuse_aliases(name, text)
    try:
        document = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise MalformedInput(name, f"is not valid YAML: {_yaml_reason(exc)}") from None
    except RecursionError:
        raise MalformedInput(name, "is nested too deeply") from None
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors let these out for a scalar that matches a type's pattern
        # but not its range, or an explicit tag the value does not fit: 2024-13-45,
        # "!!float abc", "!!bool maybe", "!!timestamp x", a 5000-digit integer.
        raise MalformedInput(
            name, f"is not valid YAML: a value does not fit its type ({type(exc).__name__})"
        ) from None
    return plain(name, document)


def _refuse_aliases(name: str, text: str) -> None:
    try:
        for event in yaml.parse(text, Loader=_YamlLoader):
            if isinstance(event, yaml.AliasEvent):
                raise MalformedInput(name, "uses YAML aliases, which feeds never need")
    except yaml.YAMLError as exc:
        raise MalformedInput(name, f"is not valid YAML: {_yaml_reason(exc)}") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1} column {mark.column + 1}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def load_document(name: str, data: bytes) -> Any:
    """JSON or YAML, by the name's suffix."""
    if name.lower().endswith((".yaml", ".yml")):
        return load_yaml(name, data)
    return check_depth(name, load_json(name, data))


# Integers Python can write as text have at most 4300 digits (sys.get_int_max_str_digits):
# about 14,280 bits. YAML reads hexadecimal and binary integers without that limit.
_INT_BITS = 14_000


def plain(name: str, value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data: YAML timestamps become ISO 8601 strings; sets, binary,
    non-string keys, NaN and infinities, over-long integers and unpaired surrogates are
    refused so that everything stored can be written back as JSON."""
    if depth > MAX_DEPTH:
        raise MalformedInput(name, "is nested too deeply")
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise MalformedInput(name, "holds an unpaired surrogate, which is not text")
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedInput(name, f"holds the number {value}, which JSON cannot express")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > _INT_BITS:
        raise MalformedInput(name, "holds an integer with more digits than can be written back")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(name, v, depth + 1) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise MalformedInput(name, f"has a non-string key {key!r}")
            out[key] = plain(name, item, depth + 1)
        return out
    raise MalformedInput(name, f"holds a {type(value).__name__}, which JSON cannot express")


def check_depth(name: str, value: Any) -> Any:
    """``value`` itself, once it is known to nest no deeper than :data:`MAX_DEPTH`."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MalformedInput(name, "is nested too deeply")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


# --- typed access --------------------------------------------------------------------


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(text: str) -> dt.datetime:
    """An RFC 3339 timestamp as an aware datetime (UTC when no offset is given);
    fractions finer than microseconds are cut. Raises ``ValueError``."""
    value = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text.strip()))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Fields:
    """Typed reads from one JSON object, with errors that say where the problem is."""

    def __init__(self, path: str, record: str | None, data: Any, where: str = "") -> None:
        self.path = path
        self.record = record
        self.where = where
        if not isinstance(data, Mapping):
            self.fail(f"must be an object, not {_kind(data)}")
        self.data: Mapping[str, Any] = data

    def fail(self, reason: str) -> Any:
        prefix = f"{self.where}: " if self.where else ""
        raise MalformedInput(self.path, prefix + reason, record=self.record)

    def _raise(self, reason: str) -> Any:
        raise MalformedInput(self.path, reason, record=self.record)

    def _label(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _wrong(self, key: str, expected: str, value: Any) -> Any:
        raise MalformedInput(
            self.path,
            f"field {self._label(key)} must be {expected}, not {_kind(value)}",
            record=self.record,
        )

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key)
        if value is None:
            if default is None:
                self._raise(f"field {self._label(key)} is missing")
            return default or ""
        if not isinstance(value, str):
            self._wrong(key, "a string", value)
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if self.has(key) else None

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self._wrong(key, "a list of strings", value)
        return tuple(value)

    def objects(self, key: str) -> list[Fields]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self._wrong(key, "a list", value)
        label = self._label(key)
        return [Fields(self.path, self.record, v, f"{label}[{i}]") for i, v in enumerate(value)]

    def object(self, key: str) -> Fields | None:
        value = self.data.get(key)
        if value is None:
            return None
        return Fields(self.path, self.record, value, self._label(key))

    def mapping(self, key: str) -> dict[str, Any]:
        """A free-form object (``ecosystem_specific``, ``database_specific``)."""
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self._wrong(key, "an object", value)
        return value

    def timestamp(self, key: str) -> dt.datetime | None:
        text = self.optional_text(key)
        if text is None:
            return None
        try:
            return parse_timestamp(text)
        except ValueError:
            return self._raise(f"field {self._label(key)} is not an RFC 3339 time: {text!r}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
