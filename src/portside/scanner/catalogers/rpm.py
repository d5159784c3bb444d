"""RPM packages: the three formats of rpm's database, and the header blobs they hold.

* ``rpmdb.sqlite`` (rpm 4.16+; Fedora 33+, RHEL 9, Azure Linux): a table ``Packages``
  of ``(hnum, blob)``. It is read with the standard library's sqlite3 from an in-memory
  copy (``Connection.deserialize``), never from a file.
* ``Packages.db``, rpm's own NDB format (SUSE): a 32-byte header (``RpmP``), slots of 16
  bytes (``Slot``, package index, block offset, block count) filling the first pages,
  and blobs in 16-byte blocks, each ``BlbS`` + index + time + length, the header blob,
  and a tail (Adler-32 of everything before it, length, ``BlbE``) in its last 12 bytes.
* ``Packages``, a Berkeley DB hash file (RHEL 8 and older, CentOS, Amazon Linux 2): hash
  pages of key/value items; header blobs are large and live on chains of overflow pages.

A header blob is ``il`` and ``dl`` (big-endian 32-bit), ``il`` index entries of 16 bytes
(tag, type, offset, count) and ``dl`` bytes of data. Every entry is checked against the
bounds of the data before anything is decoded, so a damaged header raises
``RpmHeaderError`` and a damaged database ``PackageDatabaseError``, never an IndexError.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterable, Iterator

from portside.core.records import record
from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced, osrelease
from portside.scanner.catalogers.base import Context, Files, check_package_count
from portside.scanner.errors import PackageDatabaseError, RpmHeaderError
from portside.scanner.model import Package

# In order of preference: a converted system may keep its old database beside the new.
DATABASES = claims.RPM_DATABASES

MAX_HEADERS = 200_000
MAX_HEADER_TAGS = 0xFFFF  # rpm's own limits (hdrchkTags, hdrchkData)
MAX_HEADER_DATA = 256 * 1024 * 1024

# Tags (rpmtag.h) and types (RPM_*_TYPE).
NAME, VERSION, RELEASE, EPOCH, LICENSE, VENDOR, ARCH = 1000, 1001, 1002, 1003, 1014, 1011, 1022
SOURCERPM, OLDFILENAMES, DIRINDEXES, BASENAMES, DIRNAMES = 1044, 1027, 1116, 1117, 1118
IDENTITY = frozenset({NAME, VERSION, RELEASE, EPOCH, ARCH})
WANTED = IDENTITY | {LICENSE, VENDOR, SOURCERPM, OLDFILENAMES, DIRINDEXES, BASENAMES, DIRNAMES}
_NULL, _CHAR, _INT8, _INT16, _INT32, _INT64, _STRING, _BIN, _STRING_ARRAY, _I18N = range(10)
_SIZES = {_CHAR: 1, _INT8: 1, _INT16: 2, _INT32: 4, _INT64: 8, _BIN: 1}
_INTS = {_INT16: "H", _INT32: "I", _INT64: "Q"}


@record
class RpmPackage:
    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    source_rpm: str = ""
    license: str = ""
    vendor: str = ""
    files: tuple[str, ...] = ()

    @property
    def evr(self) -> str:
        """``epoch:version-release``, the epoch only when it is set and not 0."""
        prefix = f"{self.epoch}:" if self.epoch else ""
        return f"{prefix}{self.version}-{self.release}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.name, self.evr, self.arch)


class RpmCataloger:
    name = "rpm"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.rpm(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Iterable[Package]:
        for path, kind in DATABASES:
            database = files.final(path)
            if database is None:
                continue

            def keys(data: bytes, kind: str = kind) -> Iterator[tuple[str, str, str]]:
                return (p.key for p in read_packages(data, kind, identity_only=True))

            listed = read_packages(database.data, kind, limit=context.max_packages)
            since = introduced(files.history(path), keys, final=(p.key for p in listed))
            return [
                self._package(found, path, since.get(found.key, database.layer), context)
                for found in listed
            ]
        return []

    def _package(self, found: RpmPackage, path: str, layer: int, context: Context) -> Package:
        distro = context.distro
        qualifiers = {"arch": found.arch} if found.arch else {}
        if found.epoch:
            qualifiers["epoch"] = str(found.epoch)
        if label := osrelease.qualifier(distro):
            qualifiers["distro"] = label
        purl = purls.build(
            type="rpm",
            namespace=distro.id if distro else None,
            name=found.name,
            version=f"{found.version}-{found.release}",
            qualifiers=qualifiers,
        )
        source_name, source_version = _source(found)
        return Package(
            type="rpm",
            name=found.name,
            version=found.evr,
            purl=purl,
            cataloger=self.name,
            layer=context.layer_digest(layer),
            paths=(path,),
            source_name=source_name,
            source_version=source_version,
            licenses=(found.license,) if found.license else (),
            files=found.files,
            metadata={
                "architecture": found.arch,
                "epoch": found.epoch,
                "vendor": found.vendor,
                "source_rpm": found.source_rpm,
            },
        )


def _source(found: RpmPackage) -> tuple[str, str]:
    """``util-linux-2.32.1-42.el8_8.src.rpm`` -> (``util-linux``, ``2.32.1-42.el8_8``)."""
    stem = found.source_rpm.removesuffix(".rpm").removesuffix(".src").removesuffix(".nosrc")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return found.name, found.evr
    prefix = f"{found.epoch}:" if found.epoch else ""
    return parts[0], f"{prefix}{parts[1]}-{parts[2]}"


def read_packages(
    data: bytes, kind: str, *, identity_only: bool = False, limit: int | None = None
) -> list[RpmPackage]:
    """The packages of a database file (``kind``: sqlite, ndb or bdb), without the
    ``gpg-pubkey`` entries rpm uses to store imported signing keys (``TooManyPackages``
    past ``limit`` of them)."""
    readers = {"sqlite": sqlite_blobs, "ndb": ndb_blobs, "bdb": bdb_blobs}
    packages = []
    for blob in readers[kind](data):
        found = package(parse_header(blob, IDENTITY if identity_only else WANTED))
        if found.name != "gpg-pubkey":
            packages.append(found)
            check_package_count(len(packages), limit, f"the rpm database ({kind})")
    return packages


# --- headers ---------------------------------------------------------------------------


def parse_header(blob: bytes, wanted: frozenset[int] = WANTED) -> dict[int, object]:
    """Decode the ``wanted`` tags of a header blob; check every entry's bounds."""
    if len(blob) < 8:
        raise RpmHeaderError("an rpm header is shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob)
    if not 0 < il <= MAX_HEADER_TAGS or dl > MAX_HEADER_DATA:
        raise RpmHeaderError(f"an rpm header claims {il} tags and {dl} bytes of data")
    start = 8 + 16 * il
    if start + dl > len(blob):
        raise RpmHeaderError(f"an rpm header is truncated ({len(blob)} of {start + dl} bytes)")
    store = blob[start : start + dl]
    tags: dict[int, object] = {}
    for tag, kind, offset, count in struct.iter_unpack(">IIII", blob[8:start]):
        if kind > _I18N or (offset >= dl and kind != _NULL):
            raise RpmHeaderError(f"rpm header tag {tag} has a bad entry (type {kind})")
        size = _SIZES.get(kind)
        if size is not None and offset + size * count > dl:
            raise RpmHeaderError(f"rpm header tag {tag} runs past the header's data")
        if kind in (_STRING_ARRAY, _I18N) and count > dl - offset:
            raise RpmHeaderError(f"rpm header tag {tag} has more strings than bytes")
        if tag in wanted:
            tags[tag] = _value(store, tag, kind, offset, count)
    return tags


def _value(store: bytes, tag: int, kind: int, offset: int, count: int) -> object:
    if kind in _INTS:
        return struct.unpack_from(f">{count}{_INTS[kind]}", store, offset)
    if kind in (_CHAR, _INT8, _BIN):
        return store[offset : offset + count]
    if kind == _STRING:
        if count != 1:
            raise RpmHeaderError(f"rpm header tag {tag} is a string with count {count}")
        return _strings(store, tag, offset, 1)[0]
    if kind in (_STRING_ARRAY, _I18N):
        return _strings(store, tag, offset, count)
    return None


def _strings(store: bytes, tag: int, offset: int, count: int) -> tuple[str, ...]:
    parts = store[offset:].split(b"\0", count)
    if len(parts) <= count:
        raise RpmHeaderError(f"rpm header tag {tag} has an unterminated string")
    return tuple(p.decode("utf-8", errors="replace") for p in parts[:count])


def package(tags: dict[int, object]) -> RpmPackage:
    """An ``RpmPackage`` from decoded tags; name, version and release are required."""
    name, version, release = (_string(tags, t) for t in (NAME, VERSION, RELEASE))
    if not name or not version or not release:
        raise RpmHeaderError("an rpm header lacks its name, version or release")
    if any(c.isspace() or c in "/\\" for c in name) or any(c.isspace() for c in version + release):
        raise RpmHeaderError(f"an rpm header has a malformed name or version: {name!r:.80}")
    epochs = tags.get(EPOCH)
    epoch = epochs[0] if isinstance(epochs, tuple) and epochs else None
    if epoch is not None and not isinstance(epoch, int):
        raise RpmHeaderError(f"rpm package {name} has a non-numeric epoch")
    return RpmPackage(
        name=name,
        version=version,
        release=release,
        epoch=epoch,
        arch=_string(tags, ARCH),
        source_rpm=_string(tags, SOURCERPM),
        license=_string(tags, LICENSE),
        vendor=_string(tags, VENDOR),
        files=_files(tags, name),
    )


def _string(tags: dict[int, object], tag: int) -> str:
    value = tags.get(tag)
    if value is None:
        return ""
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return value[0]  # an I18N string: the first is the untranslated one
    if not isinstance(value, str):
        raise RpmHeaderError(f"rpm header tag {tag} is not a string")
    return value


def _files(tags: dict[int, object], name: str) -> tuple[str, ...]:
    basenames, dirnames, indexes = tags.get(BASENAMES), tags.get(DIRNAMES), tags.get(DIRINDEXES)
    if basenames is None:
        old = tags.get(OLDFILENAMES)
        return old if isinstance(old, tuple) and all(isinstance(p, str) for p in old) else ()
    if not (
        isinstance(basenames, tuple)
        and isinstance(dirnames, tuple)
        and isinstance(indexes, tuple)
        and len(indexes) == len(basenames)
        and all(isinstance(p, str) for p in (*basenames, *dirnames))
    ):
        raise RpmHeaderError(f"rpm package {name} has an inconsistent file list")
    paths = []
    for base, index in zip(basenames, indexes, strict=True):
        if not isinstance(index, int) or index >= len(dirnames):
            raise RpmHeaderError(f"rpm package {name} has a file in a directory it lacks")
        paths.append(dirnames[index] + base)
    return tuple(paths)


# --- sqlite ---------------------------------------------------------------------------------

_SQLITE_MAGIC = b"SQLite format 3\0"
_SQLITE_STEPS = 200_000  # progress callbacks (every 1,000 VM steps) before giving up


def sqlite_blobs(data: bytes) -> list[bytes]:
    """The header blobs of an rpmdb.sqlite, from bytes."""
    if not data.startswith(_SQLITE_MAGIC) or len(data) < 100:
        raise PackageDatabaseError("rpmdb.sqlite is not an SQLite database")
    image = bytearray(data)
    image[18:20] = b"\x01\x01"  # WAL mode cannot work in memory; the content is the same
    steps = 0

    def progress() -> int:
        nonlocal steps
        steps += 1
        return 1 if steps > _SQLITE_STEPS else 0

    connection = sqlite3.connect(":memory:")
    try:
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_HEADER_DATA)
        connection.deserialize(bytes(image))
        connection.set_progress_handler(progress, 1000)
        connection.execute("PRAGMA trusted_schema = OFF")
        connection.execute("PRAGMA query_only = ON")
        columns = connection.execute("PRAGMA table_xinfo('Packages')").fetchall()
        kind = connection.execute(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'"
        ).fetchone()
        if kind != ("table",) or {(c[1], c[6]) for c in columns} != {("hnum", 0), ("blob", 0)}:
            raise PackageDatabaseError("rpmdb.sqlite has no Packages table of (hnum, blob)")
        rows = connection.execute(
            f"SELECT blob FROM Packages ORDER BY hnum LIMIT {MAX_HEADERS + 1}"  # noqa: S608
        ).fetchall()
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # an error message that is not UTF-8
        raise PackageDatabaseError(f"rpmdb.sqlite cannot be read: {exc}") from exc
    finally:
        connection.close()
    if len(rows) > MAX_HEADERS:
        raise PackageDatabaseError(f"rpmdb.sqlite holds more than {MAX_HEADERS} packages")
    if not all(isinstance(row[0], bytes) for row in rows):
        raise PackageDatabaseError("rpmdb.sqlite has a package that is not a blob")
    return [row[0] for row in rows]


# --- NDB -------------------------------------------------------------------------------------

_NDB_MAGIC, _SLOT_MAGIC = b"RpmP", b"Slot"
_BLOB_HEAD, _BLOB_TAIL = b"BlbS", b"BlbE"
_NDB_PAGE, _NDB_BLOCK = 4096, 16


def ndb_blobs(data: bytes) -> list[bytes]:
    """The header blobs of an NDB Packages.db, in package-index order."""
    if len(data) < 32 or data[:4] != _NDB_MAGIC:
        raise PackageDatabaseError("Packages.db is not an rpm NDB database")
    version, _generation, slot_pages = struct.unpack_from("<III", data, 4)
    if version != 0 or slot_pages == 0 or slot_pages * _NDB_PAGE > len(data):
        raise PackageDatabaseError("Packages.db has a malformed header")
    found: dict[int, bytes] = {}
    for offset in range(32, slot_pages * _NDB_PAGE, 16):
        magic = data[offset : offset + 4]
        index, block, count = struct.unpack_from("<III", data, offset + 4)
        if magic != _SLOT_MAGIC:
            raise PackageDatabaseError(f"Packages.db has a damaged slot at byte {offset}")
        if index == 0:
            continue
        if index in found or len(found) >= MAX_HEADERS:
            raise PackageDatabaseError(f"Packages.db lists package {index} twice")
        found[index] = _ndb_blob(data, index, block, count)
    return [found[i] for i in sorted(found)]


def _ndb_blob(data: bytes, index: int, block: int, count: int) -> bytes:
    start, end = block * _NDB_BLOCK, (block + count) * _NDB_BLOCK
    if count < 2 or end > len(data) or start < 32:
        raise PackageDatabaseError(f"Packages.db: package {index} lies outside the file")
    magic, owner, _time, length = struct.unpack_from("<4sIII", data, start)
    if magic != _BLOB_HEAD or owner != index or (16 + length + 12 + 15) // 16 != count:
        raise PackageDatabaseError(f"Packages.db: package {index} has a damaged blob header")
    checksum, tail_length, tail_magic = struct.unpack_from("<II4s", data, end - 12)
    if tail_magic != _BLOB_TAIL or tail_length != length:
        raise PackageDatabaseError(f"Packages.db: package {index} has a damaged blob tail")
    if zlib.adler32(data[start : end - 12]) != checksum:
        raise PackageDatabaseError(f"Packages.db: package {index} fails its checksum")
    return data[start + 16 : start + 16 + length]


# --- Berkeley DB hash --------------------------------------------------------------------------

_BDB_HASH_MAGIC = 0x061561
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASHMETA, _P_HASH = 2, 7, 8, 13
_H_KEYDATA, _H_OFFPAGE = 1, 3
_PAGE_HEADER = 26


def bdb_blobs(data: bytes) -> list[bytes]:
    """The header blobs of a Berkeley DB hash ``Packages`` file."""
    if len(data) < 512:
        raise PackageDatabaseError("Packages is too short to be a Berkeley DB file")
    for order in ("<", ">"):
        if struct.unpack_from(order + "I", data, 12)[0] == _BDB_HASH_MAGIC:
            break
    else:
        raise PackageDatabaseError("Packages is not a Berkeley DB hash database")
    page_size = struct.unpack_from(order + "I", data, 20)[0]
    if page_size not in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536) or data[24] != 0:
        raise PackageDatabaseError("Packages has an unsupported page size or is encrypted")
    if data[25] != _P_HASHMETA:
        raise PackageDatabaseError("Packages is a Berkeley DB file but not a hash database")
    pages = len(data) // page_size
    blobs: dict[bytes, bytes] = {}
    for number in range(1, pages):
        page = data[number * page_size : (number + 1) * page_size]
        if page[25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        for key, value in _pairs(page, order, page_size, number):
            if key.strip(b"\0") == b"" or key in blobs:
                continue  # key 0 holds rpm's next instance number, not a package
            if value[0] == _H_OFFPAGE:
                blobs[key] = _overflow(data, value, order, page_size)
            elif value[0] == _H_KEYDATA and len(value) > 9:
                blobs[key] = value[1:]
            if len(blobs) > MAX_HEADERS:
                raise PackageDatabaseError(f"Packages holds more than {MAX_HEADERS} packages")
    return list(blobs.values())


def _pairs(page: bytes, order: str, page_size: int, number: int) -> Iterator[tuple[bytes, bytes]]:
    entries = struct.unpack_from(order + "H", page, 20)[0]
    if _PAGE_HEADER + 2 * entries > page_size or entries % 2:
        raise PackageDatabaseError(f"Packages: page {number} has a bad item count")
    offsets = struct.unpack_from(f"{order}{entries}H", page, _PAGE_HEADER)
    items = []
    for i, offset in enumerate(offsets):
        end = page_size if i == 0 else offsets[i - 1]
        if not _PAGE_HEADER + 2 * entries <= offset < end <= page_size:
            raise PackageDatabaseError(f"Packages: page {number} has an item out of place")
        items.append(page[offset:end])
    for i in range(0, entries, 2):
        key = items[i]
        if key[0] != _H_KEYDATA:
            raise PackageDatabaseError(f"Packages: page {number} has a key of type {key[0]}")
        yield key[1:], items[i + 1]


def _overflow(data: bytes, item: bytes, order: str, page_size: int) -> bytes:
    if len(item) < 12:
        raise PackageDatabaseError("Packages: an overflow reference is truncated")
    number, total = struct.unpack_from(order + "II", item, 4)
    if total > MAX_HEADER_DATA:
        raise PackageDatabaseError(f"Packages: a {total}-byte package record is too large")
    parts: list[bytes] = []
    collected = 0
    seen: set[int] = set()
    while collected < total:
        if number == 0 or number in seen or (number + 1) * page_size > len(data):
            raise PackageDatabaseError("Packages: a broken chain of overflow pages")
        seen.add(number)
        page = data[number * page_size : (number + 1) * page_size]
        length = struct.unpack_from(order + "H", page, 22)[0]
        if page[25] != _P_OVERFLOW or _PAGE_HEADER + length > page_size:
            raise PackageDatabaseError(f"Packages: page {number} is not an overflow page")
        parts.append(page[_PAGE_HEADER : _PAGE_HEADER + length])
        collected += length
        number = struct.unpack_from(order + "I", page, 16)[0]
    if collected != total:
        raise PackageDatabaseError("Packages: an overflow chain is longer than its record")
    return b"".join(parts)
