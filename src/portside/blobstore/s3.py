"""Blobs and uploads in an S3 (or S3-compatible) bucket.

Blobs live at ``<prefix>blobs/<algorithm>/<hex>``. Downloads may be answered with a
redirect to a presigned GET, so the bytes go straight from the bucket to the client.

Uploads
-------
S3 objects cannot be appended to, and the parts of a multipart upload cannot be read back
until it is completed, yet an upload must grow chunk by chunk, be readable (to verify its
digest after a restart or on another node) and survive restarts. So an upload is kept as
a short list of immutable objects under ``<prefix>uploads/<id>/``:

``state.json``
    The only mutable object and the single source of truth: a generation counter, the
    *segments* in order with their sizes, the *tail* with its size, and the last write
    time. Every append writes new objects first and then replaces ``state.json``; until
    that last write nothing the state names has changed, so a failed or interrupted append
    leaves the upload exactly as its caller last saw it (at worst with unreferenced
    objects, removed with the upload). With ``conditional_writes`` (the default) the
    replacement is conditional on the ETag that was read (``If-Match``, and
    ``If-None-Match: *`` when starting), so two nodes appending to one upload at the same
    time cannot both win: the loser gets :class:`UploadOffsetMismatch`.
``seg-<generation>-<token>``
    A segment: at least ``part_size`` (>= 5 MiB, S3's smallest non-final part) bytes,
    streamed by one append as a multipart upload of ``part_size`` parts.
``tail-<generation>-<token>``
    The bytes that do not yet fill a part. An append reads the previous tail back (less
    than one part) and continues from it: when the total reaches ``part_size`` the tail
    and the new bytes become a segment, otherwise they become the new tail.

Closing an upload first writes its state again with a ``closing`` time, conditionally on
the ETag it read: an append that read the state before loses its own conditional write, and
an append that reads it after sees the mark and is refused. The caller then reads and
verifies exactly the pieces that state names, and committing copies those same pieces.
Leaving without committing writes the state back without the mark. A mark older than
``STALE_CLOSE`` seconds (its closer died) may be taken over by another close.

Committing joins the pieces in one multipart upload at the blob key, copying each segment
(and the tail, as the last part) inside S3 with UploadPartCopy; the blob appears whole when
the multipart upload completes. One piece is copied with CopyObject. Pieces above 5 GiB are
copied in ranges. Nothing is downloaded to commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    CHUNK_SIZE,
    BlobNotFound,
    BlobStoreError,
    UploadBusy,
    UploadInfo,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    bounded,
    check_range,
    check_upload_id,
    split_digest,
)

MIB = 1024 * 1024
#: S3's smallest part, except the last one of a multipart upload.
MIN_PART_SIZE = 5 * MIB
#: S3's largest CopyObject source and largest part.
MAX_COPY_SIZE = 5 * 1024 * MIB
#: S3's largest part number.
MAX_PARTS = 10_000
#: S3's longest presigned URL lifetime (seven days).
MAX_EXPIRES_IN = 7 * 24 * 3600
#: After this many seconds a close that never finished (its process died) may be taken over.
STALE_CLOSE = 900

_STATE = "state.json"
_STATE_FORMAT = 1
_CONTENT_TYPE = "application/octet-stream"
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_CONFLICT = frozenset({"412", "PreconditionFailed", "409", "ConditionalRequestConflict"})


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _translated[**P, R](method: Callable[P, R]) -> Callable[P, R]:
    """Report errors from S3 or the network as :class:`BlobStoreError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise BlobStoreError(f"S3: {exc}") from exc

    return wrapper


class _Conflict(Exception):
    """A conditional write lost against a concurrent writer."""


@dataclass(frozen=True)
class _Piece:
    name: str  # relative to the upload's prefix
    size: int


@dataclass
class _State:
    generation: int = 0
    segments: list[_Piece] = field(default_factory=list)
    tail: _Piece | None = None
    modified: float = field(default_factory=time.time)
    closing: float | None = None  # when a close began; appends are refused meanwhile
    etag: str | None = None  # of the state object this was read from

    @property
    def size(self) -> int:
        return sum(piece.size for piece in self.pieces)

    @property
    def pieces(self) -> list[_Piece]:
        return [*self.segments, self.tail] if self.tail else list(self.segments)

    def dump(self) -> bytes:
        value: dict[str, Any] = {
            "format": _STATE_FORMAT,
            "generation": self.generation,
            "segments": [[piece.name, piece.size] for piece in self.segments],
            "tail": [self.tail.name, self.tail.size] if self.tail else None,
            "modified": self.modified,
        }
        if self.closing is not None:
            value["closing"] = self.closing
        return json.dumps(value, separators=(",", ":")).encode()

    @classmethod
    def load(cls, raw: bytes, etag: str | None) -> _State:
        try:
            value = json.loads(raw)
            if value["format"] != _STATE_FORMAT:
                raise ValueError(f"unknown upload state format {value['format']!r}")
            tail = value["tail"]
            closing = value.get("closing")
            return cls(
                generation=int(value["generation"]),
                segments=[_Piece(str(name), int(size)) for name, size in value["segments"]],
                tail=_Piece(str(tail[0]), int(tail[1])) if tail else None,
                modified=float(value["modified"]),
                closing=None if closing is None else float(closing),
                etag=etag,
            )
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise BlobStoreError(f"unreadable upload state: {exc}") from exc


class _Body:
    """A streaming S3 response body whose read errors are :class:`BlobStoreError`."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readinto(self, buffer: Any, /) -> int:
        try:
            count: int = self._body.readinto(buffer)
        except BotoCoreError as exc:  # a timeout, a reset, a short body
            raise BlobStoreError(f"S3: {exc}") from exc
        return count

    def close(self) -> None:
        self._body.close()


class _MultipartWriter:
    """One object written as a multipart upload, part by part."""

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client, self._bucket, self._key = client, bucket, key
        self._upload_id: str = client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=_CONTENT_TYPE
        )["UploadId"]
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def part_threshold(self, part_size: int) -> int:
        """How much to gather before the next part: the part size grows with the part
        count, so one append can pass S3's 10,000-part limit only beyond ~500 GiB."""
        return part_size << (len(self._parts) * 5 // MAX_PARTS)

    def write(self, data: bytearray) -> None:
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            PartNumber=number, Body=data,
        )  # fmt: skip
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self.size += len(data)

    def complete(self) -> None:
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )  # fmt: skip

    def abort(self) -> None:
        with contextlib.suppress(ClientError, BotoCoreError):
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )


class S3BlobStore:
    def __init__(
        self,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        redirect: bool = False,
        client: Any = None,
        part_size: int = 8 * MIB,
        conditional_writes: bool = True,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket")
        if part_size < MIN_PART_SIZE or part_size > MAX_COPY_SIZE:
            raise ValueError(f"part_size must be between {MIN_PART_SIZE} and {MAX_COPY_SIZE}")
        prefix = prefix.strip("/")
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.redirect = redirect
        self.part_size = part_size
        self.conditional_writes = conditional_writes
        self._owns_client = client is None
        if client is None:
            client = make_client(
                endpoint_url=endpoint_url,
                region=region,
                access_key=access_key,
                secret_key=secret_key,
            )
        self.client = client

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def close(self) -> None:
        """Close the HTTP connections of a client this store created."""
        if self._owns_client:
            self.client.close()

    # --- keys -----------------------------------------------------------------------------

    def _blob_key(self, digest: str) -> str:
        algorithm, encoded = split_digest(digest)
        return f"{self.prefix}blobs/{algorithm}/{encoded}"

    def _upload_prefix(self, upload_id: str) -> str:
        return f"{self.prefix}uploads/{check_upload_id(upload_id)}/"

    # --- small helpers --------------------------------------------------------------------

    def _head(self, key: str) -> int | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise
        return int(response["ContentLength"])

    def _get_bytes(self, key: str) -> tuple[bytes, str]:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        with contextlib.closing(response["Body"]) as body:
            return body.read(), str(response.get("ETag", ""))

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )

    def _list(self, prefix: str, **options: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=self.bucket, Prefix=prefix, **options)

    # --- blobs ----------------------------------------------------------------------------

    @_translated
    def stat(self, digest: str) -> int | None:
        return self._head(self._blob_key(digest))

    @_translated
    def open(self, digest: str, offset: int = 0, length: int | None = None) -> BinaryIO:
        check_range(offset, length)
        key = self._blob_key(digest)
        if length == 0:
            if self._head(key) is None:
                raise BlobNotFound(digest)
            return io.BytesIO()
        options: dict[str, Any] = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            options["Range"] = f"bytes={offset}-{end}"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, **options)
        except ClientError as exc:
            code = _code(exc)
            if code in _NOT_FOUND:
                raise BlobNotFound(digest) from None
            if code in {"InvalidRange", "416"}:
                return io.BytesIO()  # the blob exists and ends before ``offset``
            raise
        # Wrapped: the raw body would offer the socket's fileno to sendfile.
        return bounded(_Body(response["Body"]), None)

    def local_path(self, digest: str) -> str | None:
        split_digest(digest)
        return None

    @_translated
    def redirect_url(
        self, digest: str, *, expires_in: int = 300, filename: str | None = None
    ) -> str | None:
        key = self._blob_key(digest)
        if not 1 <= expires_in <= MAX_EXPIRES_IN:
            raise ValueError(f"expires_in must be between 1 and {MAX_EXPIRES_IN} seconds")
        if not self.redirect:
            return None
        params = {"Bucket": self.bucket, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = content_disposition(filename)
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=expires_in
        )
        return url

    @_translated
    def put(self, digest: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._blob_key(digest), Body=data, ContentType=_CONTENT_TYPE
        )

    @_translated
    def delete(self, digest: str) -> bool:
        key = self._blob_key(digest)
        if self._head(key) is None:
            return False
        self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def iter_digests(self) -> Iterator[str]:
        base = f"{self.prefix}blobs/"
        try:
            for page in self._list(base):
                for item in page.get("Contents", ()):
                    algorithm, _, encoded = item["Key"][len(base) :].partition("/")
                    digest = f"{algorithm}:{encoded}"
                    try:
                        split_digest(digest)
                    except ValueError:
                        continue  # not ours
                    yield digest
        except (ClientError, BotoCoreError) as exc:
            raise BlobStoreError(f"S3: {exc}") from exc

    # --- upload state ---------------------------------------------------------------------

    def _load_state(self, upload_id: str) -> _State:
        try:
            raw, etag = self._get_bytes(self._upload_prefix(upload_id) + _STATE)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise UploadNotFound(upload_id) from None
            raise
        return _State.load(raw, etag)

    def _save_state(self, upload_id: str, state: _State, *, create: bool = False) -> str | None:
        """Write ``state`` (conditionally, see the module docstring); its new ETag."""
        key = self._upload_prefix(upload_id) + _STATE
        options: dict[str, str] = {}
        if self.conditional_writes:
            if create:
                options["IfNoneMatch"] = "*"
            elif state.etag:
                options["IfMatch"] = state.etag
        elif create and self._head(key) is not None:
            raise _Conflict()
        try:
            response = self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=state.dump(),
                ContentType="application/json",
                **options,
            )
        except ClientError as exc:
            if _code(exc) in _CONFLICT:
                raise _Conflict() from exc
            if _code(exc) in _NOT_FOUND:  # If-Match on a state that is gone
                raise UploadNotFound(upload_id) from None
            raise
        etag = response.get("ETag")
        return str(etag) if etag else None

    # --- uploads --------------------------------------------------------------------------

    @_translated
    def start_upload(self, upload_id: str) -> None:
        try:
            self._save_state(upload_id, _State(), create=True)
        except _Conflict:
            raise BlobStoreError(f"upload id {upload_id} is already in use") from None

    @_translated
    def upload_info(self, upload_id: str) -> UploadInfo:
        state = self._load_state(upload_id)
        return UploadInfo(upload_id=upload_id, size=state.size, modified=state.modified)

    @_translated
    def append_upload(
        self, upload_id: str, chunks: Iterable[bytes], *, offset: int, limit: int | None = None
    ) -> int:
        prefix = self._upload_prefix(upload_id)
        state = self._load_state(upload_id)
        size = state.size
        if offset != size or state.closing is not None:
            raise UploadOffsetMismatch(expected=offset, actual=size)
        generation = state.generation + 1
        token = secrets.token_hex(4)
        written: list[str] = []  # objects this call created, to remove if it loses
        pending = bytearray()
        if state.tail:
            pending += self._get_bytes(prefix + state.tail.name)[0]
        received = 0
        segment: _MultipartWriter | None = None
        segment_name = f"seg-{generation:06d}-{token}"
        try:
            for chunk in chunks:
                count = len(chunk)
                if not count:
                    continue
                if limit is not None and size + received + count > limit:
                    raise UploadTooLarge(f"the upload would pass its limit of {limit} bytes")
                pending += chunk
                received += count
                if segment is None and len(pending) >= self.part_size:
                    segment = _MultipartWriter(self.client, self.bucket, prefix + segment_name)
                if segment is not None and len(pending) >= segment.part_threshold(self.part_size):
                    segment.write(pending)
                    pending = bytearray()
            if not received:
                return size
            if segment is not None:
                if pending:
                    segment.write(pending)  # the last part may be short
                segment.complete()
                written.append(segment_name)
                new_segments = [*state.segments, _Piece(segment_name, segment.size)]
                new_tail = None
            else:
                tail_name = f"tail-{generation:06d}-{token}"
                self.client.put_object(
                    Bucket=self.bucket, Key=prefix + tail_name, Body=pending,
                    ContentType=_CONTENT_TYPE,
                )  # fmt: skip
                written.append(tail_name)
                new_segments, new_tail = state.segments, _Piece(tail_name, len(pending))
        except BaseException:
            if segment is not None and not written:
                segment.abort()
            with contextlib.suppress(ClientError, BotoCoreError):
                self._delete_keys([prefix + name for name in written])
            raise
        new_state = _State(
            generation=generation, segments=new_segments, tail=new_tail, etag=state.etag
        )
        # Only a lost race removes the new objects: after any other error the state write
        # may have landed although its answer did not. Strays go with the upload.
        try:
            self._save_state(upload_id, new_state)
        except (_Conflict, UploadNotFound) as exc:
            with contextlib.suppress(ClientError, BotoCoreError):
                self._delete_keys([prefix + name for name in written])
            if isinstance(exc, UploadNotFound):  # committed or cancelled meanwhile
                raise
            raise UploadOffsetMismatch(
                expected=offset, actual=self._load_state(upload_id).size
            ) from None
        if state.tail:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.delete_object(Bucket=self.bucket, Key=prefix + state.tail.name)
        return new_state.size

    @_translated
    def read_upload(self, upload_id: str) -> Iterator[bytes]:
        prefix = self._upload_prefix(upload_id)
        state = self._load_state(upload_id)
        return self._read_pieces(upload_id, [prefix + piece.name for piece in state.pieces])

    def _read_pieces(self, upload_id: str, keys: list[str]) -> Iterator[bytes]:
        try:
            for key in keys:
                response = self.client.get_object(Bucket=self.bucket, Key=key)
                with contextlib.closing(response["Body"]) as body:
                    yield from body.iter_chunks(CHUNK_SIZE)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise UploadNotFound(upload_id) from None
            raise BlobStoreError(f"S3: {exc}") from exc
        except BotoCoreError as exc:
            raise BlobStoreError(f"S3: {exc}") from exc

    @contextlib.contextmanager
    def close_upload(self, upload_id: str) -> Iterator[_ClosingPieces]:
        try:
            state = self._load_state(upload_id)
            if state.closing is not None and time.time() - state.closing < STALE_CLOSE:
                raise UploadBusy(f"upload {upload_id} is being closed")
            held = dataclasses.replace(state, closing=time.time())
            try:
                held.etag = self._save_state(upload_id, held)
            except _Conflict:
                raise UploadBusy(f"upload {upload_id} is being appended to") from None
        except (ClientError, BotoCoreError) as exc:
            raise BlobStoreError(f"S3: {exc}") from exc
        closing = _ClosingPieces(self, upload_id, held)
        try:
            yield closing
        finally:
            if not closing.committed:
                # Open it again for appends, unless something else has changed it since.
                with contextlib.suppress(_Conflict, UploadNotFound, ClientError, BotoCoreError):
                    self._save_state(upload_id, dataclasses.replace(held, closing=None))

    def commit_upload(self, upload_id: str, digest: str) -> int:
        split_digest(digest)
        with self.close_upload(upload_id) as closing:
            return closing.commit(digest)

    @_translated
    def _commit_pieces(self, upload_id: str, state: _State, digest: str) -> int:
        key = self._blob_key(digest)
        prefix = self._upload_prefix(upload_id)
        if self._head(key) == state.size:
            self._remove_upload(upload_id)
            return state.size
        pieces = [(prefix + piece.name, piece.size) for piece in state.pieces]
        try:
            if not pieces:
                self.client.put_object(
                    Bucket=self.bucket, Key=key, Body=b"", ContentType=_CONTENT_TYPE
                )
            elif len(pieces) == 1 and pieces[0][1] <= MAX_COPY_SIZE:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": pieces[0][0]},
                )
            else:
                self._copy_joined(pieces, key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:  # a piece is gone: the upload was cancelled
                raise UploadNotFound(upload_id) from None
            raise
        self._remove_upload(upload_id)
        return state.size

    def _copy_joined(self, pieces: list[tuple[str, int]], key: str) -> None:
        """Join ``pieces`` into ``key`` inside S3: each becomes one part (or several of at
        most 5 GiB), and the object appears when the upload completes."""
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=_CONTENT_TYPE
        )
        upload = response["UploadId"]
        parts: list[dict[str, Any]] = []
        try:
            for source, size in pieces:
                count = -(-size // MAX_COPY_SIZE)
                step = -(-size // count)
                for start in range(0, size, step):
                    end = min(start + step, size) - 1
                    copied = self.client.upload_part_copy(
                        Bucket=self.bucket, Key=key, UploadId=upload,
                        PartNumber=len(parts) + 1,
                        CopySource={"Bucket": self.bucket, "Key": source},
                        CopySourceRange=f"bytes={start}-{end}",
                    )  # fmt: skip
                    parts.append(
                        {"PartNumber": len(parts) + 1, "ETag": copied["CopyPartResult"]["ETag"]}
                    )
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            raise

    @_translated
    def cancel_upload(self, upload_id: str) -> None:
        self._load_state(upload_id)
        self._remove_upload(upload_id)

    def _remove_upload(self, upload_id: str) -> None:
        """Delete everything under the upload's prefix, ``state.json`` last (so that an
        interrupted removal still leaves an upload that can be cancelled again), and abort
        any multipart upload an interrupted append left behind."""
        prefix = self._upload_prefix(upload_id)
        listing = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        for stale in listing.get("Uploads", ()):
            with contextlib.suppress(ClientError):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=stale["Key"], UploadId=stale["UploadId"]
                )
        keys = [item["Key"] for page in self._list(prefix) for item in page.get("Contents", ())]
        state_key = prefix + _STATE
        self._delete_keys([key for key in keys if key != state_key])
        self.client.delete_object(Bucket=self.bucket, Key=state_key)

    def iter_uploads(self) -> Iterator[UploadInfo]:
        base = f"{self.prefix}uploads/"
        try:
            for page in self._list(base, Delimiter="/"):
                for common in page.get("CommonPrefixes", ()):
                    upload_id = common["Prefix"][len(base) :].rstrip("/")
                    try:
                        yield self.upload_info(upload_id)
                    except (ValueError, UploadNotFound):
                        continue
        except (ClientError, BotoCoreError) as exc:
            raise BlobStoreError(f"S3: {exc}") from exc


class _ClosingPieces:
    """An upload held closed by the ``closing`` mark of its state: the pieces that state
    names are immutable objects, so reading and committing them see the same bytes."""

    def __init__(self, store: S3BlobStore, upload_id: str, state: _State) -> None:
        self._store, self._upload_id, self._state = store, upload_id, state
        self.committed = False

    @property
    def size(self) -> int:
        return self._state.size

    def read(self) -> Iterator[bytes]:
        prefix = self._store._upload_prefix(self._upload_id)
        keys = [prefix + piece.name for piece in self._state.pieces]
        return self._store._read_pieces(self._upload_id, keys)

    def commit(self, digest: str) -> int:
        size = self._store._commit_pieces(self._upload_id, self._state, digest)
        self.committed = True
        return size


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    session: boto3.session.Session | None = None,
) -> Any:
    """An S3 client configured as the store needs it (SigV4, so presigned URLs work on
    every region and S3-compatible service; path-style addressing on custom endpoints).
    Credentials left out come from boto3's usual sources."""
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard"},
        # Self-hosted endpoints rarely have a DNS name per bucket.
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return (session or boto3.session.Session()).client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
    )


def content_disposition(filename: str) -> str:
    """An ``attachment`` Content-Disposition for ``filename`` (RFC 6266): a plain ASCII
    name for old clients and, when that had to change anything, the exact UTF-8 name."""
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._-+") else "_" for c in filename)
    value = f'attachment; filename="{plain or "download"}"'
    if plain != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value
