"""The vulnerability database: one SQLite file, by default ``<data dir>/vulndb.sqlite``.

The file is a cache of the configured feeds, written only by the importers and read by
the matcher. Its tables:

``meta``
    the schema version (:data:`SCHEMA_VERSION`). A file of version 1 is upgraded when it
    is opened for writing (:meth:`VulnStore._upgrade`) and read as it is otherwise; a file
    written by any other version is refused with :class:`SchemaMismatch`, because the fix
    (delete it, sync again) is cheaper than a migration of data that can always be
    downloaded again.
``source``
    one row per imported feed: its name, kind, origin, when it was last imported and last
    checked, how many records it holds, the digest of what was read, and the HTTP
    validators (``ETag``, ``Last-Modified``) the last download returned.
``advisory``
    every OSV record, withdrawn ones included, as its JSON document (:mod:`.model`).
``affected``
    the match index: one row per affected entry of a record that is not withdrawn, keyed
    by ``(ecosystem, name)`` with the name normalised as the matcher normalises package
    names (:func:`portside.vulndb.versions.normalise_name`), holding the entry's own JSON
    so that matching one package reads only the entries for that package.
``alias``
    every id and alias of every advisory, to find records by a CVE or GHSA id.
``nvd`` and ``cvss``
    NVD's description and CVSS metrics per CVE.
``distro``
    Debian tracker and Alpine secdb verdicts, keyed by ``(distro, release, package)``,
    with the tracker's ``nodsa`` reason (since version 2).

Every import replaces one source's rows in a single transaction: a failed or interrupted
import leaves the previous data as it was. Opening the file runs one query; the schema is
created only when the file is new.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portside.core import clock
from portside.vulndb.errors import DatabaseUnusable, SchemaMismatch, VulnDBError, WouldReplace
from portside.vulndb.model import (
    Advisory,
    CvssMetric,
    DistroRecord,
    NvdRecord,
    affected_document,
    from_document,
    to_document,
)
from portside.vulndb.versions import normalise_name

SCHEMA_VERSION = 2
#: the older versions this code upgrades (when writing) or reads as they are
_UPGRADABLE = ("1",)
FILE_NAME = "vulndb.sqlite"

#: how many values one ``IN (...)`` query binds; SQLite allows 32766.
CHUNK = 900

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE source (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    records INTEGER NOT NULL,
    digest TEXT NOT NULL,
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT ''
);
CREATE TABLE advisory (
    pk INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    withdrawn INTEGER NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (source, id)
);
CREATE TABLE affected (
    advisory INTEGER NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX affected_by_package ON affected (ecosystem, name);
CREATE TABLE alias (alias TEXT NOT NULL, advisory INTEGER NOT NULL);
CREATE INDEX alias_by_id ON alias (alias);
CREATE TABLE nvd (
    source TEXT NOT NULL,
    cve TEXT NOT NULL,
    modified TEXT,
    description TEXT NOT NULL,
    PRIMARY KEY (cve, source)
);
CREATE TABLE cvss (
    source TEXT NOT NULL,
    cve TEXT NOT NULL,
    version TEXT NOT NULL,
    vector TEXT NOT NULL,
    score REAL,
    assessor TEXT NOT NULL,
    is_primary INTEGER NOT NULL
);
CREATE INDEX cvss_by_cve ON cvss (cve);
CREATE TABLE distro (
    source TEXT NOT NULL,
    distro TEXT NOT NULL,
    release TEXT NOT NULL,
    package TEXT NOT NULL,
    vuln TEXT NOT NULL,
    status TEXT NOT NULL,
    fixed TEXT NOT NULL,
    urgency TEXT NOT NULL,
    description TEXT NOT NULL,
    nodsa TEXT NOT NULL DEFAULT '',
    nodsa_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX distro_by_package ON distro (distro, release, package);
"""


def default_path(data_dir: Path | str) -> Path:
    """Where the database lives under Portside's data directory."""
    return Path(data_dir) / FILE_NAME


@dataclass(frozen=True)
class SourceInfo:
    """What the ``source`` table records about one imported feed."""

    name: str
    kind: str
    origin: str
    imported_at: str
    checked_at: str
    records: int
    digest: str
    etag: str = ""
    last_modified: str = ""

    def summary(self) -> dict[str, str | int]:
        """What a scan records of the feed it was matched against: its name and kind, how
        many records it held, when its content last changed and when it was last checked."""
        return {
            "name": self.name,
            "kind": self.kind,
            "records": self.records,
            "updated": self.imported_at,
            "checked": self.checked_at,
        }


@dataclass(frozen=True)
class ImportResult:
    """The outcome of one import: ``changed`` is false when the feed's digest was the
    one already recorded and nothing was written."""

    source: str
    kind: str
    records: int
    digest: str
    changed: bool


@dataclass(frozen=True)
class AffectedRow:
    """One row of the match index, as the matcher reads it."""

    rowid: int
    advisory: int
    ecosystem: str
    name: str


@dataclass(frozen=True)
class AdvisoryFacts:
    """What a finding repeats of an advisory, read without building the whole model."""

    source: str
    id: str
    aliases: tuple[str, ...]
    summary: str
    details: str
    references: tuple[str, ...]
    severity: tuple[tuple[str, str], ...]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset((self.id, *self.aliases))


class VulnStore:
    """A connection to one database file. Not shared between threads; open one per
    thread (opening is cheap)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        #: parsed entries and advisory facts, kept while the data stays the same
        self.cache: dict[Any, Any] = {}
        self._data_version: int | None = None
        #: the file's schema version: an older one is read as it is when read-only
        self.schema_version = SCHEMA_VERSION

    def fresh_cache(self, limit: int) -> dict[Any, Any]:
        """:attr:`cache`, emptied first when another connection has committed an import
        since it was filled (rows ids are reused, so old entries would be wrong) or when
        it holds more than ``limit`` items."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version or len(self.cache) > limit:
            self.cache.clear()
            self._data_version = version
        return self.cache

    # --- opening -------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, readonly: bool = False) -> VulnStore:
        """Open (and, unless ``readonly``, create when missing) the database at ``path``.

        Raises :class:`DatabaseUnusable` for a missing file in read-only mode or a file
        that is not SQLite, and :class:`SchemaMismatch` for a file of another schema.
        """
        path = Path(path)
        if readonly and not path.exists():
            raise DatabaseUnusable(f"{path}: no vulnerability database; sync the feeds first")
        try:
            if readonly:
                connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path)
        except (sqlite3.Error, OSError) as exc:
            raise DatabaseUnusable(f"{path}: cannot be opened: {exc}") from None
        connection.isolation_level = None  # transactions are explicit (BEGIN ... COMMIT)
        store = cls(connection, path)
        try:
            store._check_schema(create=not readonly)
        except BaseException:
            connection.close()
            raise
        return store

    def _check_schema(self, *, create: bool) -> None:
        try:
            self._db.execute("PRAGMA busy_timeout = 10000")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise DatabaseUnusable(f"{self.path}: cannot be read: {exc}") from None
            row = None
        except sqlite3.DatabaseError as exc:
            raise DatabaseUnusable(f"{self.path}: is not a vulnerability database: {exc}") from None
        if row is None:
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise SchemaMismatch(f"{self.path}: is an SQLite file of some other program")
            if not create:
                raise DatabaseUnusable(f"{self.path}: is empty; sync the feeds first")
            self._create()
            return
        if row[0] in _UPGRADABLE:
            if create:
                self._upgrade()
            else:
                self.schema_version = int(row[0])
            return
        if row[0] != str(SCHEMA_VERSION):
            raise SchemaMismatch(
                f"{self.path}: was written with schema version {row[0]}; this Portside "
                f"reads version {SCHEMA_VERSION}. Delete the file and sync the feeds again."
            )

    def _create(self) -> None:
        # WAL lets scans read while a sync writes; it cannot be set inside a transaction.
        self._db.execute("PRAGMA journal_mode = WAL")
        with self._transaction():
            exists = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            if exists:  # another process created it between our check and our lock
                return
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def _upgrade(self) -> None:
        """Version 1 to 2: the ``distro`` table gains the tracker's ``nodsa`` reason. The
        Debian feeds' digests are cleared, so that the next sync imports them again (from
        the cached download, even when the server says nothing changed) to fill it in;
        until then their verdicts stand as they were."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None or row[0] not in _UPGRADABLE:  # another process upgraded it
                return
            db.execute("ALTER TABLE distro ADD COLUMN nodsa TEXT NOT NULL DEFAULT ''")
            db.execute("ALTER TABLE distro ADD COLUMN nodsa_reason TEXT NOT NULL DEFAULT ''")
            db.execute("UPDATE source SET digest = '' WHERE kind = 'debian'")
            db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
        self.cache.clear()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VulnStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions -----------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``IMMEDIATE``) so that two writers queue
        instead of failing half-way; any exception rolls everything back."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- sources --------------------------------------------------------------------

    def sources(self) -> list[SourceInfo]:
        rows = self._db.execute(
            "SELECT name, kind, origin, imported_at, checked_at, records, digest, etag, "
            "last_modified FROM source ORDER BY name"
        ).fetchall()
        return [SourceInfo(*row) for row in rows]

    def source(self, name: str) -> SourceInfo | None:
        return next((s for s in self.sources() if s.name == name), None)

    def is_current(self, name: str) -> bool:
        """Whether source ``name`` holds an import this schema can use as it is: false
        when it was never imported, or when an upgrade asked for it to be imported again
        (its digest cleared), so that a sync imports it even if nothing was downloaded."""
        info = self.source(name)
        return info is not None and bool(info.digest)

    def record_check(
        self, name: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> None:
        """Note that ``name`` was checked now (and found unchanged, or just imported),
        keeping the HTTP validators for the next conditional download."""
        with self._transaction() as db:
            db.execute(
                "UPDATE source SET checked_at = ?, etag = coalesce(?, etag), "
                "last_modified = coalesce(?, last_modified) WHERE name = ?",
                (clock.now().isoformat(), etag, last_modified, name),
            )

    def unchanged(self, name: str, digest: str) -> ImportResult | None:
        """When source ``name`` was last imported from content with ``digest``, note the
        check and return the result of an import that changed nothing; else ``None``.
        Importers ask this before they parse, so an unchanged feed costs one read."""
        row = self._db.execute(
            "SELECT kind, records, digest FROM source WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[2] != digest:
            return None
        self.record_check(name)
        return ImportResult(name, row[0], row[1], digest, changed=False)

    def _begin_replace(
        self,
        db: sqlite3.Connection,
        name: str,
        kind: str,
        origin: str,
        records: int,
        digest: str,
        *,
        replace: bool = True,
        keys: set[Any] | None = None,
    ) -> None:
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise VulnDBError(f"source name {name!r} must be letters, digits, '-', '_' or '.'")
        if not replace:
            self._refuse_loss(db, name, kind, origin, records, keys or set())
        db.execute(
            "DELETE FROM affected WHERE advisory IN (SELECT pk FROM advisory WHERE source = ?)",
            (name,),
        )
        db.execute(
            "DELETE FROM alias WHERE advisory IN (SELECT pk FROM advisory WHERE source = ?)",
            (name,),
        )
        for table in ("advisory", "nvd", "cvss", "distro"):
            db.execute(f"DELETE FROM {table} WHERE source = ?", (name,))  # noqa: S608
        now = clock.now().isoformat()
        db.execute(
            "INSERT INTO source (name, kind, origin, imported_at, checked_at, records, digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, "
            "origin = excluded.origin, imported_at = excluded.imported_at, "
            "checked_at = excluded.checked_at, records = excluded.records, "
            "digest = excluded.digest",
            (name, kind, origin, now, now, records, digest),
        )
        self.cache.clear()

    def _refuse_loss(
        self,
        db: sqlite3.Connection,
        name: str,
        kind: str,
        origin: str,
        records: int,
        keys: set[Any],
    ) -> None:
        """Raise :class:`WouldReplace` when source ``name`` came from another origin and
        this import would drop some of its records: a second tree imported under the name
        of the first must not silently empty it. A newer copy of the same origin, or one
        that only adds records, goes ahead."""
        row = db.execute(
            "SELECT kind, origin, records, imported_at FROM source WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[1] == origin:
            return
        old_kind, old_origin, old_records, imported_at = row
        if old_kind != kind:
            going = old_records
        else:  # the records of the old import that the new one does not have
            going = sum(1 for key in self._keys(db, name, kind) if key not in keys)
        if going:
            raise WouldReplace(
                f"feed {name} holds {old_records:,} {old_kind} {_records(old_records)} from "
                f"{old_origin} (imported {imported_at[:16].replace('T', ' ')} UTC); importing "
                f"{origin} under the same name would replace them with {records:,} "
                f"{_records(records)}, and {going:,} of the old ones would go. Import it "
                "under another name with "
                "--name, or pass --replace to replace the feed."
            )

    @staticmethod
    def _keys(db: sqlite3.Connection, name: str, kind: str) -> Iterator[Any]:
        """What identifies each record of a source, as the replace methods give ``keys``:
        advisory ids (OSV), CVE ids (NVD), (distro, release, package, id) (trackers)."""
        if kind == "nvd":
            yield from (
                row[0] for row in db.execute("SELECT cve FROM nvd WHERE source = ?", (name,))
            )
        elif kind in ("osv",):
            yield from (
                row[0] for row in db.execute("SELECT id FROM advisory WHERE source = ?", (name,))
            )
        else:
            yield from (
                tuple(row)
                for row in db.execute(
                    "SELECT distro, release, package, vuln FROM distro WHERE source = ?", (name,)
                )
            )

    # --- writing --------------------------------------------------------------------

    def replace_advisories(
        self,
        name: str,
        advisories: Sequence[Advisory],
        *,
        kind: str,
        digest: str,
        origin: str,
        replace: bool = True,
    ) -> ImportResult:
        """Make ``advisories`` the whole content of source ``name`` (with ``replace``
        false, only if that drops none of another origin's: see :meth:`_refuse_loss`)."""
        with self._transaction() as db:
            ids = {advisory.id for advisory in advisories}
            self._begin_replace(
                db, name, kind, origin, len(advisories), digest, replace=replace, keys=ids
            )
            for advisory in advisories:
                withdrawn = advisory.withdrawn is not None
                pk = db.execute(
                    "INSERT INTO advisory (source, id, withdrawn, document) VALUES (?, ?, ?, ?)",
                    (name, advisory.id, withdrawn, _dumps(to_document(advisory))),
                ).lastrowid
                db.executemany(
                    "INSERT INTO alias (alias, advisory) VALUES (?, ?)",
                    [(ident, pk) for ident in sorted(advisory.ids)],
                )
                if withdrawn:
                    continue
                db.executemany(
                    "INSERT INTO affected (advisory, ecosystem, name, entry) VALUES (?, ?, ?, ?)",
                    [
                        (
                            pk,
                            entry.package.ecosystem,
                            normalise_name(entry.package.ecosystem, entry.package.name),
                            _dumps(affected_document(entry)),
                        )
                        for entry in advisory.affected
                        if entry.package.ecosystem and entry.package.name
                    ],
                )
        return ImportResult(name, kind, len(advisories), digest, changed=True)

    def replace_nvd(
        self,
        name: str,
        records: Sequence[NvdRecord],
        *,
        digest: str,
        origin: str,
        replace: bool = True,
    ) -> ImportResult:
        with self._transaction() as db:
            self._begin_replace(
                db,
                name,
                "nvd",
                origin,
                len(records),
                digest,
                replace=replace,
                keys={r.cve for r in records},
            )
            db.executemany(
                "INSERT INTO nvd (source, cve, modified, description) VALUES (?, ?, ?, ?)",
                [
                    (name, r.cve, r.modified.isoformat() if r.modified else None, r.description)
                    for r in records
                ],
            )
            db.executemany(
                "INSERT INTO cvss (source, cve, version, vector, score, assessor, is_primary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (name, r.cve, m.version, m.vector, m.base_score, m.source, m.primary)
                    for r in records
                    for m in r.metrics
                ],
            )
        return ImportResult(name, "nvd", len(records), digest, changed=True)

    def replace_distro(
        self,
        name: str,
        records: Sequence[DistroRecord],
        *,
        kind: str,
        digest: str,
        origin: str,
        replace: bool = True,
    ) -> ImportResult:
        with self._transaction() as db:
            self._begin_replace(
                db,
                name,
                kind,
                origin,
                len(records),
                digest,
                replace=replace,
                keys={(r.distro, r.release, r.package, r.vuln_id) for r in records},
            )
            db.executemany(
                "INSERT INTO distro (source, distro, release, package, vuln, status, fixed, "
                "urgency, description, nodsa, nodsa_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        name,
                        r.distro,
                        r.release,
                        r.package,
                        r.vuln_id,
                        r.status,
                        r.fixed_version,
                        r.urgency,
                        r.description,
                        r.nodsa,
                        r.nodsa_reason,
                    )
                    for r in records
                ],
            )
        return ImportResult(name, kind, len(records), digest, changed=True)

    # --- reading --------------------------------------------------------------------

    def affected_rows(self, keys: Iterable[tuple[str, str]]) -> list[AffectedRow]:
        """Every index row for the given ``(ecosystem, normalised name)`` keys, in a few
        queries however many keys there are, each an index search (a row-value ``IN``
        would scan the whole index instead)."""
        by_ecosystem: dict[str, set[str]] = {}
        for ecosystem, name in keys:
            by_ecosystem.setdefault(ecosystem, set()).add(name)
        rows: list[AffectedRow] = []
        for ecosystem, names in sorted(by_ecosystem.items()):
            for chunk in _chunks(sorted(names), CHUNK):
                marks = ", ".join("?" for _ in chunk)
                rows.extend(
                    AffectedRow(*row)
                    for row in self._db.execute(
                        "SELECT rowid, advisory, ecosystem, name FROM affected "  # noqa: S608
                        f"WHERE ecosystem = ? AND name IN ({marks})",
                        [ecosystem, *chunk],
                    )
                )
        return rows

    def affected_entries(self, rowids: Iterable[int]) -> dict[int, str]:
        """The JSON of the given index rows' affected entries."""
        out: dict[int, str] = {}
        for chunk in _chunks(sorted(set(rowids)), CHUNK):
            marks = ", ".join("?" for _ in chunk)
            out.update(
                self._db.execute(
                    f"SELECT rowid, entry FROM affected WHERE rowid IN ({marks})",  # noqa: S608
                    chunk,
                )
            )
        return out

    def advisory_facts(self, pks: Iterable[int]) -> dict[int, AdvisoryFacts]:
        """``pk -> facts`` for the matcher, cached for the connection's life."""
        found: dict[int, AdvisoryFacts] = {}
        missing = []
        for pk in set(pks):
            cached = self.cache.get(("facts", pk))
            if cached is None:
                missing.append(pk)
            else:
                found[pk] = cached
        for chunk in _chunks(sorted(missing), CHUNK):
            marks = ", ".join("?" for _ in chunk)
            for pk, source, document in self._db.execute(
                f"SELECT pk, source, document FROM advisory WHERE pk IN ({marks})",  # noqa: S608
                chunk,
            ):
                doc = json.loads(document)
                facts = AdvisoryFacts(
                    source=source,
                    id=doc["id"],
                    aliases=tuple(doc.get("aliases", ())),
                    summary=doc.get("summary", ""),
                    details=doc.get("details", ""),
                    references=tuple(r["url"] for r in doc.get("references", ())),
                    severity=tuple((x["type"], x["score"]) for x in doc.get("severity", ())),
                )
                self.cache[("facts", pk)] = found[pk] = facts
        return found

    def get_advisory(self, ident: str, *, source: str | None = None) -> Advisory | None:
        """The record with id ``ident`` (withdrawn ones included)."""
        query = "SELECT document FROM advisory WHERE id = ?"
        params: list[str] = [ident]
        if source is not None:
            query += " AND source = ?"
            params.append(source)
        row = self._db.execute(query + " ORDER BY source", params).fetchone()
        return from_document(json.loads(row[0])) if row else None

    def find_by_alias(self, ident: str) -> list[Advisory]:
        """Every record whose id or aliases include ``ident``."""
        rows = self._db.execute(
            "SELECT a.document FROM alias x JOIN advisory a ON a.pk = x.advisory "
            "WHERE x.alias = ? ORDER BY a.source, a.id",
            (ident,),
        ).fetchall()
        return [from_document(json.loads(r[0])) for r in rows]

    def cvss_metrics(self, cves: Iterable[str]) -> dict[str, list[CvssMetric]]:
        out: dict[str, list[CvssMetric]] = {}
        for chunk in _chunks(sorted(set(cves)), CHUNK):
            marks = ", ".join("?" for _ in chunk)
            for cve, version, vector, score, assessor, primary in self._db.execute(
                "SELECT cve, version, vector, score, assessor, is_primary FROM cvss "  # noqa: S608
                f"WHERE cve IN ({marks}) ORDER BY cve, source, rowid",
                chunk,
            ):
                out.setdefault(cve, []).append(
                    CvssMetric(version, vector, score, assessor, bool(primary))
                )
        return out

    def nvd_descriptions(self, cves: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(sorted(set(cves)), CHUNK):
            marks = ", ".join("?" for _ in chunk)
            for cve, description in self._db.execute(
                f"SELECT cve, description FROM nvd WHERE cve IN ({marks}) "  # noqa: S608
                "ORDER BY modified",
                chunk,
            ):
                if description:
                    out[cve] = description
        return out

    def distro_records(
        self, distro: str, release: str, packages: Iterable[str]
    ) -> list[tuple[str, DistroRecord]]:
        """``(source, record)`` for every verdict on ``packages`` in that release."""
        out: list[tuple[str, DistroRecord]] = []
        # A version 1 file read as it is has no nodsa columns.
        nodsa = "nodsa, nodsa_reason" if self.schema_version >= 2 else "'', ''"
        for chunk in _chunks(sorted(set(packages)), CHUNK):
            marks = ", ".join("?" for _ in chunk)
            for source, *fields in self._db.execute(
                "SELECT source, distro, release, package, vuln, status, fixed, urgency, "  # noqa: S608
                f"description, {nodsa} FROM distro WHERE distro = ? AND release = ? "
                f"AND package IN ({marks}) ORDER BY source, rowid",
                [distro, release, *chunk],
            ):
                out.append((source, DistroRecord(*fields)))
        return out

    def counts(self) -> dict[str, int]:
        """Row counts per table, for status output and tests."""
        tables = ("advisory", "affected", "alias", "nvd", "cvss", "distro")
        return {
            t: self._db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in tables
        }


def _records(count: int) -> str:
    return "record" if count == 1 else "records"


def _dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
