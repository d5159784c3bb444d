"""The errors of the vulnerability database.

Every failure the package can report is a :class:`VulnDBError`, itself a
:class:`~portside.core.errors.PortsideError`, so the command line and the server map them
like any other domain error. Importers never let a ``KeyError`` or a ``json`` exception
escape: a bad feed becomes a :class:`MalformedInput` naming the file and, where there is
one, the record.
"""

from __future__ import annotations

from portside.core.errors import PortsideError


class VulnDBError(PortsideError):
    """The vulnerability database could not do what was asked."""

    code = "vulndb"


class MalformedInput(VulnDBError):
    """A feed file, or one record in it, is not in the documented format."""

    code = "vulndb_malformed"

    def __init__(self, path: str, reason: str, *, record: str | None = None) -> None:
        # The reason and the record come from the feed: a message quotes a short excerpt
        # of them, never a 200 KB value. A zip member's name is part of ``path``.
        path, reason = _excerpt(path, 300), _excerpt(reason, 500)
        record = _excerpt(record, 120) if record is not None else None
        where = f"{path}: record {record}" if record else path
        super().__init__(f"{where}: {reason}", path=path, record=record, reason=reason)
        self.path = path
        self.record = record
        self.reason = reason


def _excerpt(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class InputTooLarge(MalformedInput):
    """A feed file (or a member of an archive) is larger than the configured limit."""

    code = "vulndb_too_large"


class UnsafeArchive(MalformedInput):
    """An archive has names that escape its root, too many members, or a bomb's ratio."""

    code = "vulndb_unsafe_archive"


class DatabaseUnusable(VulnDBError):
    """The database file is missing, not SQLite, or was written by an unknown schema."""

    code = "vulndb_database"


class SchemaMismatch(DatabaseUnusable):
    """The database file was written by another schema version than this code reads."""

    code = "vulndb_schema"


class WouldReplace(VulnDBError):
    """An import would drop records that another origin put under the same feed name;
    nothing was written. The message says what would go and how to go ahead."""


class SyncFailed(VulnDBError):
    """A feed could not be downloaded: HTTP error, refused URL, timeout or oversize."""

    code = "vulndb_sync"


class Unreachable(SyncFailed):
    """The server did not answer at all: no connection, a name that does not resolve, a
    timeout before any answer. Unlike an HTTP error, this is about the network (or the
    mirror) rather than the feed."""


class InvalidVector(VulnDBError):
    """A CVSS vector could not be parsed; scoring reports ``unknown`` with this reason."""

    code = "vulndb_cvss"


class UnparseableVersion(VulnDBError):
    """A version string is not valid in the version scheme it must be compared in."""

    code = "vulndb_version"
