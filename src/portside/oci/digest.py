"""Content digests: the ``algorithm:hex`` identifiers that address every blob and manifest.

The OCI image specification's digest grammar is::

    digest     ::= algorithm ":" encoded
    algorithm  ::= component (separator component)*     component ::= [a-z0-9]+
    separator  ::= [+._-]                                encoded   ::= [a-zA-Z0-9=_-]+

Portside accepts only the registered algorithms, whose encoded part is lowercase hex of a
fixed length. Everything is matched with ``fullmatch``: a pattern ending in ``$`` would let
a trailing newline through.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Buffer

from portside.core.records import record
from portside.oci.errors import DigestInvalid

# Registered algorithms and the length of their hex encoding.
ALGORITHMS: dict[str, int] = {"sha256": 64, "sha512": 128}

_GRAMMAR = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_HEX = re.compile(r"[0-9a-f]+")


@record(order=True)
class Digest:
    """A validated digest. Build one with ``Digest.parse`` or ``compute``."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        length = ALGORITHMS.get(self.algorithm) if isinstance(self.algorithm, str) else None
        if length is None:
            raise DigestInvalid(
                f"unsupported digest algorithm {self.algorithm!r}",
                detail={"algorithm": _shown(self.algorithm), "supported": sorted(ALGORITHMS)},
            )
        if not isinstance(self.hex, str) or len(self.hex) != length or not _HEX.fullmatch(self.hex):
            raise DigestInvalid(
                f"a {self.algorithm} digest is {length} lowercase hexadecimal characters"
            )

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, value: str) -> Digest:
        """Parse ``algorithm:hex`` strictly; raise ``DigestInvalid`` for anything else."""
        if not isinstance(value, str) or not _GRAMMAR.fullmatch(value):
            raise DigestInvalid("invalid digest format", detail={"digest": _shown(value)})
        algorithm, _, encoded = value.partition(":")
        return cls(algorithm, encoded)


class Hasher:
    """Computes a digest over data that arrives in pieces, counting the bytes seen."""

    def __init__(self, algorithm: str = "sha256") -> None:
        if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
            raise DigestInvalid(
                f"unsupported digest algorithm {algorithm!r}",
                detail={"algorithm": _shown(algorithm), "supported": sorted(ALGORITHMS)},
            )
        self.algorithm = algorithm
        self.size = 0
        self._hash = hashlib.new(algorithm)

    def update(self, data: Buffer) -> None:
        view = memoryview(data)
        self._hash.update(view)
        self.size += view.nbytes

    def digest(self) -> Digest:
        """The digest of everything seen so far; more data may still follow."""
        return Digest(self.algorithm, self._hash.hexdigest())


def compute(data: Buffer, algorithm: str = "sha256") -> Digest:
    """The digest of ``data`` with ``algorithm``."""
    hasher = Hasher(algorithm)
    hasher.update(data)
    return hasher.digest()


def verify(data: Buffer, expected: Digest) -> None:
    """Raise ``DigestInvalid`` unless ``data`` hashes to ``expected``."""
    actual = compute(data, expected.algorithm)
    if actual != expected:
        raise DigestInvalid(
            "content does not match its digest",
            detail={"expected": str(expected), "actual": str(actual)},
        )


def _shown(value: object) -> str | None:
    """A client-supplied value, shortened for an error detail."""
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
