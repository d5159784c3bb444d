"""Small helpers shared by the blob store tests."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Iterator

MIB = 1024 * 1024


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, sizes: Iterable[int]) -> Iterator[bytes]:
    """``data`` in chunks of the given sizes, repeated as needed (a view each, no copies)."""
    view = memoryview(data)
    sizes = list(sizes)
    position, index = 0, 0
    while position < len(data):
        size = sizes[index % len(sizes)]
        yield bytes(view[position : position + size])
        position += size
        index += 1


class Failing:
    """A chunk source that gives ``chunks`` and then raises, as a dropped connection does."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = list(chunks)

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        raise ConnectionResetError("the client went away")
