"""The OCI Distribution API under /v2/ and the token endpoint, as thin translations
between HTTP and the registry's services."""

from __future__ import annotations

import errno
import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import SuspiciousOperation
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
    StreamingHttpResponse,
)
from django.views.decorators.csrf import csrf_exempt

from portside.accounts import permissions
from portside.blobstore import (
    BlobNotFound,
    BlobStoreError,
    UploadBusy,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from portside.core.origin import from_request
from portside.oci import errors
from portside.oci.digest import Digest
from portside.oci.manifest import MAX_MANIFEST_BYTES
from portside.oci.mediatypes import OCI_INDEX
from portside.oci.reference import parse_reference, validate_name, validate_tag
from portside.registry import auth, services, tokens
from portside.registry.storage import store

CHUNK = 1024 * 1024
API_VERSION = "registry/2.0"
_CONTENT_RANGE = re.compile(r"\A(?:bytes )?(\d+)-(\d+)\Z")
_RANGE = re.compile(r"\Abytes=(\d*)-(\d*)\Z")

View = Callable[..., HttpResponseBase]
logger = logging.getLogger(__name__)


class PayloadTooLarge(errors.OCIError):
    code = "SIZE_INVALID"
    status = 413


def _error_response(request: HttpRequest, exc: errors.OCIError) -> HttpResponse:
    response = JsonResponse(exc.body(), status=exc.status)
    if isinstance(exc, auth.NeedsAuth):
        response["WWW-Authenticate"] = exc.header
    if isinstance(exc, errors.RangeInvalid) and isinstance(exc.detail, dict):
        size = exc.detail.get("size")
        if isinstance(size, int):
            response["Range"] = f"0-{max(size - 1, 0)}"
    return response


def _translate(exc: Exception) -> errors.OCIError:
    """The distribution API's error for a failure that is not one already: the blob store's
    errors, a full disk, anything unexpected (logged, and answered 500 ``UNKNOWN`` with an
    OCI body, never an HTML page)."""
    if isinstance(exc, errors.OCIError):
        return exc
    if isinstance(exc, BlobNotFound):
        return errors.BlobUnknown("The blob's content is missing from the store.")
    if isinstance(exc, UploadNotFound):
        return errors.BlobUploadUnknown()
    if isinstance(exc, UploadOffsetMismatch):
        return errors.RangeInvalid(detail={"size": exc.actual})
    if isinstance(exc, UploadTooLarge):
        return errors.Denied("The upload would pass its size limit.")
    if isinstance(exc, UploadBusy):
        # Another request (a PATCH still streaming) holds the upload; nothing was lost.
        return errors.UploadBusy(
            "The upload is still being written by another request; ask for its status and "
            "close it once that request has finished."
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        logger.error("the blob store's disk is full: %s", exc)
        return errors.InsufficientStorage()
    if isinstance(exc, BlobStoreError):
        logger.error("the blob store failed: %s", exc)
        return errors.OCIError(f"The blob store could not complete the request: {exc}")
    logger.exception("registry request failed")
    return errors.OCIError("internal error")


def registry_view(*methods: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                response: HttpResponseBase = _error_response(
                    request, errors.Unsupported(f"{request.method} is not supported here.")
                )
                response.status_code = 405
                response["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except SuspiciousOperation:
                    raise  # a forged Host header and the like: Django's own 400
                except Exception as exc:
                    response = _error_response(request, _translate(exc))
            response["Docker-Distribution-API-Version"] = API_VERSION
            return response

        return wrapper

    return decorate


def _empty(status: int, **headers: str) -> HttpResponse:
    response = HttpResponse(status=status)
    response["Content-Length"] = "0"
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def _digest_param(value: str | None) -> Digest:
    if not value:
        raise errors.DigestInvalid("The digest parameter is required.")
    return Digest.parse(value)


# --- request bodies -----------------------------------------------------------------------


def _gunicorn_chunks(stream: Any) -> Iterator[bytes] | None:
    """The decoded pieces of a chunked body straight from gunicorn's parser, when the
    body has not been touched yet. Reading through ``wsgi.input.read(n)`` copies every
    byte through two intermediate buffers; for a layer pushed by skopeo (always chunked)
    that copying, not hashing or the disk, was what limited the push rate."""
    reader: Any = getattr(stream, "reader", None)
    parser = getattr(reader, "parser", None)
    buffer = getattr(stream, "buf", None)
    if type(reader).__name__ != "ChunkedReader" or parser is None or buffer is None:
        return None
    if buffer.tell() or reader.buf.tell():
        return None

    def pieces() -> Iterator[bytes]:
        pending: list[bytes] = []
        size = 0
        try:
            for piece in parser:
                pending.append(piece)
                size += len(piece)
                if size >= CHUNK:
                    yield b"".join(pending)
                    pending, size = [], 0
        except Exception:
            stream.failed = True  # the connection must not be reused
            raise
        reader.parser = None
        if pending:
            yield b"".join(pending)

    return pieces()


def body_chunks(request: HttpRequest) -> Iterator[bytes]:
    """The request body as it arrives: Content-Length or chunked transfer encoding. A body
    the server cannot decode (a malformed chunk, a client that hangs up) is the client's
    error, BLOB_UPLOAD_INVALID, not a server error."""
    try:
        yield from _body_chunks(request)
    except OSError as exc:
        raise errors.BlobUploadInvalid(f"The request body could not be read: {exc}") from None
    except Exception as exc:
        if not type(exc).__module__.startswith("gunicorn."):
            raise
        reason = type(exc).__name__
        raise errors.BlobUploadInvalid(f"The request body is malformed ({reason}).") from None


def _body_chunks(request: HttpRequest) -> Iterator[bytes]:
    stream = request.META["wsgi.input"]
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        fast = _gunicorn_chunks(stream)
        if fast is not None:
            yield from fast
            return
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return
            yield chunk
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        remaining = int(raw)
    except ValueError:
        raise errors.BlobUploadInvalid("Content-Length is not a number.") from None
    if remaining < 0:
        raise errors.BlobUploadInvalid("Content-Length is negative.")
    expected = remaining
    while remaining:
        chunk = stream.read(min(CHUNK, remaining))
        if not chunk:
            raise errors.BlobUploadInvalid(
                f"The body ended after {expected - remaining} of {expected} bytes."
            )
        remaining -= len(chunk)
        yield chunk


def has_body(request: HttpRequest) -> bool:
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    return (request.META.get("CONTENT_LENGTH") or "0") not in ("", "0")


def read_limited(request: HttpRequest, limit: int) -> bytes:
    parts, total = [], 0
    for chunk in body_chunks(request):
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"A manifest may be at most {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


# --- base, token, catalog -----------------------------------------------------------------


@registry_view("GET", "HEAD")
def base(request: HttpRequest) -> HttpResponseBase:
    auth.bearer_claims(request)
    return JsonResponse({})


@csrf_exempt
def token(request: HttpRequest) -> HttpResponseBase:
    """GET with optional basic credentials (docker, skopeo) or the OAuth2 POST form
    (podman, containerd)."""
    origin = from_request(request)
    try:
        if request.method == "GET":
            scopes = request.GET.getlist("scope")
            credentials = auth.basic_credentials(request)
            caller = auth.Caller(None)
            if credentials is not None:
                caller = auth.authenticate(*credentials, origin)
            offline = request.GET.get("offline_token", "").lower() == "true"
        elif request.method == "POST":
            scopes = request.POST.getlist("scope")
            grant_type = request.POST.get("grant_type", "")
            if grant_type == "password":
                caller = auth.authenticate(
                    request.POST.get("username", ""), request.POST.get("password", ""), origin
                )
            elif grant_type == "refresh_token":
                caller = auth.caller_from_refresh(request.POST.get("refresh_token", ""), origin)
            else:
                return JsonResponse(
                    {"error": "unsupported_grant_type", "error_description": grant_type[:50]},
                    status=400,
                )
            offline = True
        else:
            return _empty(405, Allow="GET, POST")
        body = auth.issue_for(request, caller, tokens.parse_scopes(scopes), offline=offline)
    except errors.OCIError as exc:
        response = _error_response(request, exc)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Basic realm="portside"'
        return response
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response


def _pagination(request: HttpRequest) -> tuple[int | None, str]:
    raw = request.GET.get("n")
    n = None
    if raw is not None:
        if not raw.isdigit() or len(raw) > 6:
            raise errors.PaginationNumberInvalid("n must be a number from 0 to 999999.")
        n = int(raw)
    return n, request.GET.get("last", "")


def _paged(
    path: str,
    key: str,
    name: str | None,
    items: list[str],
    more: bool,
    n: int | None,
) -> JsonResponse:
    body: dict[str, Any] = {key: items}
    if name is not None:
        body = {"name": name, key: items}
    response = JsonResponse(body)
    if more and items and n:
        response["Link"] = f'<{path}?{urlencode({"n": n, "last": items[-1]})}>; rel="next"'
    return response


@registry_view("GET")
def catalog(request: HttpRequest) -> HttpResponseBase:
    claims = auth.bearer_claims(request, "registry:catalog:*")
    if not claims.allows("registry", "catalog", "*"):
        # The store team gets the scope; for anyone else a fresh token carries it no more.
        raise auth.insufficient_scope(request, "registry:catalog:*")
    n, last = _pagination(request)
    names, more = services.catalog(n=n, last=last)
    return _paged("/v2/_catalog", "repositories", None, names, more, n)


# --- tags, manifests, referrers -----------------------------------------------------------


@registry_view("GET")
def tags_list(request: HttpRequest, name: str) -> HttpResponseBase:
    validate_name(name)
    claims = auth.require(request, name, "pull")
    repository = services.existing_repository(name)
    n, last = _pagination(request)
    names, more = services.list_tags(repository, n=n, last=last, only=claims.pull_tags(name))
    return _paged(f"/v2/{name}/tags/list", "tags", name, names, more, n)


@registry_view("GET", "HEAD", "PUT", "DELETE")
def manifest(request: HttpRequest, name: str, reference: str) -> HttpResponseBase:
    validate_name(name)
    try:
        ref = parse_reference(reference)
    except errors.TagInvalid:
        if request.method == "PUT":
            raise
        # Nothing is stored under a reference that is neither a digest nor a tag, so reading
        # or deleting one is 404 (what the conformance suite expects), not a grammar error.
        raise errors.ManifestUnknown(detail={"reference": reference[:200]}) from None
    origin = from_request(request)
    if request.method == "PUT":
        claims = auth.require(request, name, "push")
        # A push by digest may name tags as ``tag`` parameters; each must be a valid tag,
        # and the answer's OCI-Tag header lists them all (a push by tag has its own).
        params = [validate_tag(t) for t in request.GET.getlist("tag")]
        tag_params = list(dict.fromkeys(params)) if isinstance(ref, Digest) else []
        body = read_limited(request, MAX_MANIFEST_BYTES)
        repository = services.repository_for_push(name)
        stored, parsed = services.put_manifest(
            repository=repository,
            reference=ref,
            body=body,
            content_type=request.META.get("CONTENT_TYPE"),
            user=auth.user_of(claims),
            origin=origin,
            tags=tag_params,
        )
        headers = {
            "Location": f"/v2/{name}/manifests/{stored.digest}",
            "Docker-Content-Digest": stored.digest,
        }
        if parsed.subject is not None:
            headers["OCI-Subject"] = str(parsed.subject.digest)
        if tag_params:
            headers["OCI-Tag"] = ", ".join(tag_params)
        return _empty(201, **headers)
    if request.method == "DELETE":
        claims = auth.require(request, name, "delete")
        services.delete_manifest(
            repository=services.existing_repository(name),
            reference=ref,
            user=auth.user_of(claims),
            origin=origin,
        )
        return _empty(202)
    claims = auth.require(request, name, "pull", reference)
    tags = claims.pull_tags(name)
    if tags is not None:
        if isinstance(ref, str):
            if ref not in tags:
                raise auth.refuse_restricted(request, claims, name, reference)
        elif not auth.restricted_allows(claims, name, tags, str(ref), blob=False):
            raise auth.refuse_restricted(request, claims, name, reference)
    found = services.manifest_by_name(name, ref)
    content = bytes(found.content)
    if tags is not None:  # a customer's pull: the store may hold back unscanned images
        held_back = permissions.customer_scan_refusal(
            found.repository_id, name, found.digest, found.media_type, content
        )
        if held_back:
            raise auth._denied_pull(request, claims, name, reference, held_back)
    if request.method == "HEAD":
        response = HttpResponse(status=200, content_type=found.media_type)
    else:
        response = HttpResponse(content, content_type=found.media_type)
        services.record_pull(
            manifest=found,
            tag=ref if isinstance(ref, str) else "",
            user=auth.actor_of(claims),
            origin=origin,
        )
    response["Content-Length"] = str(len(content))
    response["Docker-Content-Digest"] = found.digest
    response["ETag"] = f'"{found.digest}"'
    return response


@registry_view("GET")
def referrers(request: HttpRequest, name: str, digest: str) -> HttpResponseBase:
    validate_name(name)
    subject = Digest.parse(digest)
    claims = auth.require(request, name, "pull", digest)
    tags = claims.pull_tags(name)
    if tags is not None and not auth.restricted_allows(
        claims, name, tags, str(subject), blob=False
    ):
        raise auth.refuse_restricted(request, claims, name, digest)
    artifact_type = request.GET.get("artifactType", "")
    descriptors = services.referrers(services.find_repository(name), subject, artifact_type)
    if tags is not None:
        descriptors = [
            d
            for d in descriptors
            if auth.restricted_allows(claims, name, tags, str(d["digest"]), blob=False)
        ]
    response = HttpResponse(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}),
        content_type=OCI_INDEX,
    )
    if artifact_type:
        response["OCI-Filters-Applied"] = "artifactType"
    return response


# --- blobs --------------------------------------------------------------------------------


def _iter_file(handle: Any, length: int) -> Iterator[bytes]:
    try:
        while length > 0:
            chunk = handle.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        handle.close()


@registry_view("GET", "HEAD", "DELETE")
def blob(request: HttpRequest, name: str, digest: str) -> HttpResponseBase:
    validate_name(name)
    key = Digest.parse(digest)
    if request.method == "DELETE":
        claims = auth.require(request, name, "delete")
        services.unlink_blob(
            repository=services.existing_repository(name),
            digest=key,
            user=auth.user_of(claims),
            origin=from_request(request),
        )
        return _empty(202)
    claims = auth.require(request, name, "pull", digest)
    tags = claims.pull_tags(name)
    if tags is not None and not auth.restricted_allows(claims, name, tags, str(key), blob=True):
        raise auth.refuse_restricted(request, claims, name, digest)
    if tags is None and claims.allows("repository", name, "push"):
        found = services.linked_blob_for_push(name, key)  # a push asking what to upload
    else:
        found = services.linked_blob_by_name(name, key)
    size = found.size
    headers = {"Docker-Content-Digest": found.digest, "Accept-Ranges": "bytes"}
    start, end = 0, size - 1
    partial = False
    # RFC 9110: GET is the only method with range handling; HEAD ignores Range.
    range_header = request.META.get("HTTP_RANGE") if request.method == "GET" else None
    if range_header:
        match = _RANGE.match(range_header.strip())
        if match and (match[1] or match[2]):
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:  # suffix range: the last N bytes
                start = max(size - int(match[2]), 0)
            partial = True
        if not match or not (match[1] or match[2]) or start > end or start >= size:
            return _empty(416, Content_Range=f"bytes */{size}")
    length = end - start + 1 if size else 0
    response: HttpResponseBase
    if request.method == "HEAD":
        response = HttpResponse(
            status=206 if partial else 200, content_type="application/octet-stream"
        )
        response["Content-Length"] = str(length)
    else:
        blobs = store()
        url = blobs.redirect_url(found.digest)
        if url and not partial:
            return _empty(307, Location=url, **{"Docker_Content_Digest": found.digest})
        try:
            if not partial:
                path = blobs.local_path(found.digest)
                handle = open(path, "rb") if path else blobs.open(found.digest)
                response = FileResponse(handle, content_type="application/octet-stream")
            else:
                response = StreamingHttpResponse(
                    _iter_file(blobs.open(found.digest, start, length), length),
                    status=206,
                    content_type="application/octet-stream",
                )
        except (BlobNotFound, FileNotFoundError):
            # The row is there but the bytes are not (lost, or collected a moment ago): the
            # blob is made unavailable, so clients push it again.
            logger.error("blob %s of %s is missing from the store", found.digest, name)
            services.blob_bytes_missing(digest=found.digest)
            raise errors.BlobUnknown(
                "The blob's content is missing from the store.", detail={"digest": found.digest}
            ) from None
        if partial:
            response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(length)
    for key_, value in headers.items():
        response[key_] = value
    return response


def _upload_headers(name: str, upload_id: str, size: int) -> dict[str, str]:
    return {
        "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
        "Range": f"0-{max(size - 1, 0)}",
        "Docker-Upload-UUID": upload_id,
    }


def _created(name: str, digest: str) -> HttpResponse:
    return _empty(201, Location=f"/v2/{name}/blobs/{digest}", **{"Docker_Content_Digest": digest})


def _mount_source(request: HttpRequest, name: str) -> str | None:
    """The ``from`` of a mount, when it names another repository validly; otherwise the
    mount (if any) is tried in the target alone."""
    source = request.GET.get("from")
    if not request.GET.get("mount") or not source or source == name:
        return None
    try:
        validate_name(source)
    except errors.OCIError:
        return None
    return source


@registry_view("POST")
def upload_start(request: HttpRequest, name: str) -> HttpResponseBase:
    validate_name(name)
    source = _mount_source(request, name)
    # A mount needs pull on its source as well: the challenge names both repositories.
    also = (auth.repository_scope(source, "pull"),) if source else ()
    claims = auth.require(request, name, "push", also=also)
    user = auth.user_of(claims)
    mount_digest = request.GET.get("mount")
    if mount_digest:
        key = Digest.parse(mount_digest)
        if source and not claims.allows("repository", source, "pull"):
            if auth.could_pull(claims, source):
                # The token was asked for without the source: ask again, naming it.
                scopes = " ".join([auth.repository_scope(name, "pull", "push"), *also])
                raise auth.insufficient_scope(request, scopes)
            source = None  # may not read it: an ordinary upload, as for any other refusal
        elif source:
            source_tags = claims.pull_tags(source)
            if source_tags is None or auth.restricted_allows(
                claims, source, source_tags, str(key), blob=True
            ):
                mounted = services.mount(
                    target=services.repository_for_push(name),
                    source=services.find_repository(source),
                    digest=key,
                    user=user,
                    origin=from_request(request),
                )
                if mounted is not None:
                    return _created(name, mounted.digest)
        elif request.GET.get("from") in (None, "", name):
            repository = services.repository_for_push(name)
            if services.mount(
                target=repository,
                source=repository,
                digest=key,
                user=user,
                origin=from_request(request),
            ):
                return _created(name, str(key))
    repository = services.repository_for_push(name)
    upload = services.start_upload(repository=repository, user_id=user.pk if user else None)
    digest_param = request.GET.get("digest")
    if digest_param is not None:
        key = _digest_param(digest_param)
        try:
            services.append(upload=upload, chunks=body_chunks(request), start=0)
            created = services.complete_upload(upload=upload, digest=key)
        except Exception:
            services.cancel_upload(upload)
            raise
        return _created(name, created.digest)
    upload_id = str(upload.pk)
    return _empty(202, **_upload_headers(name, upload_id, 0))


def _chunk_range(request: HttpRequest, session: Any) -> tuple[int, int] | None:
    """The offset a chunk's Content-Range says it starts at and the number of bytes it
    says it carries (None without one). A range that is not START-END, or that disagrees
    with Content-Length, is not satisfiable: 416, and nothing is written."""
    content_range = request.META.get("HTTP_CONTENT_RANGE")
    if not content_range:
        return None
    match = _CONTENT_RANGE.match(content_range.strip())
    if not match or int(match[2]) < int(match[1]):
        raise errors.RangeInvalid(
            "Content-Range must be START-END.",
            detail={"size": services.upload_size(session)},
        )
    start, length = int(match[1]), int(match[2]) - int(match[1]) + 1
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) != length:
        raise errors.RangeInvalid(
            f"Content-Range {content_range.strip()} is {length} bytes; Content-Length says "
            f"{declared}.",
            detail={"size": services.upload_size(session)},
        )
    return start, length


def _exactly(chunks: Iterator[bytes], length: int, start: int) -> Iterator[bytes]:
    """The body of a chunk that declared ``length`` bytes at ``start``: a body that runs
    longer or shorter raises 416 as the store writes it, so the store rolls the append back
    and the upload keeps what it had (a chunked body has no Content-Length to check first)."""
    received = 0
    for chunk in chunks:
        received += len(chunk)
        if received > length:
            raise errors.RangeInvalid(
                f"The body carries more than the {length} bytes its Content-Range declares.",
                detail={"size": start},
            )
        yield chunk
    if received != length:
        raise errors.RangeInvalid(
            f"The body carries {received} bytes; its Content-Range declares {length}.",
            detail={"size": start},
        )


def _append(request: HttpRequest, session: Any) -> int:
    declared = _chunk_range(request, session)
    if declared is None:
        return services.append(upload=session, chunks=body_chunks(request), start=None)
    start, length = declared
    return services.append(
        upload=session, chunks=_exactly(body_chunks(request), length, start), start=start
    )


@registry_view("GET", "PATCH", "PUT", "DELETE")
def upload(request: HttpRequest, name: str, upload_id: str) -> HttpResponseBase:
    validate_name(name)
    if request.method == "GET":
        # An upload's status is read with the token that created it (push) or with pull on
        # the repository (clients recovering from a 416 use the token they pull with).
        claims = auth.require(request, name, "push", accept=("pull",), ask=("pull",))
        if not claims.allows("repository", name, "push") and claims.pull_tags(name) is not None:
            raise errors.BlobUploadUnknown()  # a customer's token sees no upload sessions
    elif request.method == "DELETE":
        # Cancelling: the token that created the upload, or delete on the repository.
        auth.require(request, name, "push", accept=("delete",), ask=("push",))
    else:
        auth.require(request, name, "push")
    repository = services.existing_repository(name)
    session = services.find_upload(repository, upload_id)
    upload_id = str(session.pk)
    if request.method == "DELETE":
        services.cancel_upload(session)
        return _empty(204)
    if request.method == "GET":
        return _empty(204, **_upload_headers(name, upload_id, services.upload_size(session)))
    if request.method == "PATCH":
        size = _append(request, session)
        return _empty(202, **_upload_headers(name, upload_id, size))
    # PUT: close the upload, with an optional last chunk (in order, like any other).
    key = _digest_param(request.GET.get("digest"))
    if has_body(request):
        _append(request, session)
    created = services.complete_upload(upload=session, digest=key)
    return _created(name, created.digest)


@registry_view("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE")
def name_invalid(request: HttpRequest, rest: str) -> HttpResponseBase:
    """Anything under /v2/ that no route matched: a malformed name, or no such endpoint."""
    if re.search(r"/(manifests|blobs|tags|referrers)(/|$)", rest):
        raise errors.NameInvalid("The repository name is not valid.")
    return JsonResponse(
        {"errors": [{"code": "UNSUPPORTED", "message": "No such endpoint."}]}, status=404
    )
