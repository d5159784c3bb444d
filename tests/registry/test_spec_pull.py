"""OCI distribution-spec v1.1, clause by clause: "Pull" (pulling manifests, pulling blobs,
checking existence), with "Determining Support", "Error Codes" and "Warnings". The
conformance suite's own run is re-made in ``test_spec_conformance.py``.

Each docstring quotes the clause it checks. Blob bytes matter here, so the blob tests run
on both stores; the pure metadata tests are marked ``filesystem_only``.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import RequestFactory
from django.urls import resolve

from portside.oci import mediatypes
from tests.registry.spec_support import (
    LEGACY_ERROR_CODES,
    SPEC_ERROR_CODES,
    Pushed,
    Session,
    blob_descriptor,
    codes,
    config_blob,
    encode,
    filesystem_only,
    image,
    sha256,
)

pytestmark = pytest.mark.django_db
NAME = "acme/pull"


@pytest.fixture
def repo(as_owner) -> Session:
    return Session(as_owner, NAME)


# --- Determining Support ----------------------------------------------------------------


@filesystem_only
class TestDeterminingSupport:
    def test_base_answers_200(self, repo):
        """ "If the response is `200 OK`, then the registry implements this specification"
        (end-1: GET /v2/, 200)."""
        response = repo.request("GET", "/v2/")
        assert response.status_code == 200
        assert response["Docker-Distribution-API-Version"] == "registry/2.0"

    def test_base_without_credentials_answers_401_with_a_challenge(self, client, world):
        """end-1 failure "401": "This endpoint MAY be used for authentication/authorization
        purposes"; clients follow the WWW-Authenticate challenge."""
        response = client.get("/v2/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer realm=")
        assert codes(response) == ["UNAUTHORIZED"]
        assert response["Docker-Distribution-API-Version"] == "registry/2.0"


# --- Pulling manifests --------------------------------------------------------------------


@filesystem_only
class TestPullingManifests:
    def test_get_by_tag_and_by_digest_gives_the_exact_bytes(self, repo):
        """ "A GET request to an existing manifest URL MUST provide the expected manifest,
        with a response code that MUST be `200 OK`"."""
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        for reference in ["v1", manifest.digest]:
            response = repo.request(
                "GET", f"manifests/{reference}", HTTP_ACCEPT=mediatypes.OCI_MANIFEST
            )
            assert response.status_code == 200
            assert response.payload == manifest.body

    def test_digest_header_matches_the_returned_manifest(self, repo):
        """ "A successful response SHOULD contain the digest of the uploaded blob in the
        header `Docker-Content-Digest`"; "the client MUST verify the value matches the
        returned manifest"."""
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        response = repo.request("GET", "manifests/v1")
        assert response["Docker-Content-Digest"] == manifest.digest == sha256(response.payload)

    def test_content_type_is_the_pushed_type_without_parameters(self, repo):
        """ "The registry SHOULD NOT include parameters on the `Content-Type` header";
        "The `Content-Type` header SHOULD match what the client pushed"; "The registry
        SHOULD ignore parameters on the `Content-Type` header" (of the push)."""
        oci = image(repo, author="oci")
        pushed = repo.put_manifest("oci", oci.body, f"{mediatypes.OCI_MANIFEST}; charset=utf-8")
        assert pushed.status_code == 201, pushed.content
        docker = Pushed.of(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.DOCKER_MANIFEST,
                "config": blob_descriptor(mediatypes.DOCKER_CONFIG, config_blob("oci")),
                "layers": [blob_descriptor(mediatypes.DOCKER_LAYER_GZIP, b"layer of oci")],
            }
        )
        repo.push(docker, tag="docker")
        child = image(repo, author="child")
        repo.push(child)
        multi = Pushed.of(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_INDEX,
                "manifests": [child.descriptor()],
            }
        )
        repo.push(multi, tag="index")
        for tag, media_type in [
            ("oci", mediatypes.OCI_MANIFEST),
            ("docker", mediatypes.DOCKER_MANIFEST),
            ("index", mediatypes.OCI_INDEX),
        ]:
            for method in ["GET", "HEAD"]:
                response = repo.request(method, f"manifests/{tag}")
                assert response["Content-Type"] == media_type, (tag, method)

    def test_a_manifest_without_media_type_keeps_the_pushed_content_type(self, repo):
        """ "The `Content-Type` header SHOULD match what the client pushed as the manifest's
        `Content-Type`" (a manifest need not carry `mediaType`; "All manifests SHOULD
        include a `mediaType` field")."""
        config = config_blob("bare")
        repo.push_blob(config)
        document = {
            "schemaVersion": 2,
            "config": blob_descriptor(mediatypes.OCI_CONFIG, config),
            "layers": [],
        }
        body = encode(document)
        assert repo.put_manifest("bare", body, mediatypes.OCI_MANIFEST).status_code == 201
        response = repo.request("GET", "manifests/bare")
        assert response["Content-Type"] == mediatypes.OCI_MANIFEST
        assert response.payload == body

    def test_the_ns_parameter_is_ignored(self, repo):
        """ "Registry Proxying": "A registry MAY choose to ignore the `ns` query parameter"
        (Portside is no proxy), and so sends no `OCI-Namespace`."""
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        response = repo.request("GET", "manifests/v1?ns=registry.example.com")
        assert response.status_code == 200 and response.payload == manifest.body
        assert "OCI-Namespace" not in response

    def test_unknown_manifest_is_404(self, repo, as_owner):
        """ "If the manifest is not found in the repository, the response code MUST be
        `404 Not Found`" (by tag, by digest, and for a manifest only another repository
        holds)."""
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        other = Session(as_owner, "acme/elsewhere")
        for session, reference in [
            (repo, "nope"),
            (repo, sha256(b"nothing")),
            (other, "v1"),
            (other, manifest.digest),
        ]:
            for method in ["GET", "HEAD"]:
                response = session.request(method, f"manifests/{reference}")
                assert response.status_code == 404, (session.name, reference, method)
                if method == "GET":
                    assert codes(response) == ["MANIFEST_UNKNOWN"]

    def test_a_reference_that_is_no_tag_is_404_not_found(self, repo):
        """ "`<reference>` MUST be either (a) the digest of the manifest or (b) a tag" and
        "MUST NOT be in any other format": no manifest can be found under anything else,
        so GET and HEAD answer 404 (conformance: "GET nonexistent manifest should return
        404", with the reference `.INVALID_MANIFEST_NAME`)."""
        repo.push(image(repo), tag="v1")
        for reference in [".INVALID_MANIFEST_NAME", "-dash", "a" * 129]:
            for method in ["GET", "HEAD"]:
                response = repo.request(method, f"manifests/{reference}")
                assert response.status_code == 404, (reference, method)
                if method == "GET":
                    assert codes(response) == ["MANIFEST_UNKNOWN"]

    def test_a_malformed_digest_reference_is_400_or_404(self, repo):
        """Conformance "400 response body should contain OCI-conforming JSON message":
        `sha256:totallywrong` gives 400 or 404, and a 400 carries a listed code."""
        response = repo.request("GET", "manifests/sha256:totallywrong")
        assert response.status_code == 400
        assert codes(response) == ["DIGEST_INVALID"]

    def test_tag_grammar_is_enforced_on_push(self, repo):
        """ "`<reference>` as a tag MUST be at most 128 characters in length and MUST match
        `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`"."""
        manifest = image(repo)
        for good in ["_", "a" * 128, "V1.2-rc_3", "0"]:
            response = repo.put_manifest(good, manifest.body)
            assert response.status_code == 201, good
        for bad in ["a" * 129, ".hidden", "-x", "a+b", "a%2Fb"]:
            response = repo.put_manifest(bad, manifest.body)
            assert response.status_code in (400, 404), bad
            if response.status_code == 400:
                assert set(codes(response)) <= SPEC_ERROR_CODES | LEGACY_ERROR_CODES

    def test_name_grammar(self, as_owner):
        """ "`<name>` MUST match the following regular expression
        `[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*`": every
        separator it allows works, anything else is NAME_INVALID."""
        for name in ["acme/a.b", "acme/a_b", "acme/a__b", "acme/a---b", "acme/x/y/z"]:
            session = Session(as_owner, name)
            session.push(image(session), tag="v1")
            assert session.request("GET", "manifests/v1").status_code == 200, name
        for name in ["acme/a..b", "acme/a___b", "acme/A", "acme/-a", "acme/a_", "acme//a"]:
            session = Session(as_owner, name)
            response = session.request("GET", "tags/list")
            assert response.status_code in (400, 404), name
            if response.status_code == 400:
                assert codes(response) == ["NAME_INVALID"], name


# --- Pulling blobs --------------------------------------------------------------------------


class TestPullingBlobs:
    def test_get_gives_the_blob_and_its_digest(self, repo):
        """ "A GET request to an existing blob URL MUST provide the expected blob, with a
        response code that MUST be `200 OK`"; "If present, the value of this header MUST
        be a digest matching that of the response body"."""
        data = bytes(range(256)) * 300
        digest = repo.push_blob(data)
        response = repo.request("GET", f"blobs/{digest}")
        assert response.status_code == 200
        assert response.payload == data
        assert response["Docker-Content-Digest"] == digest == sha256(response.payload)
        assert response["Content-Length"] == str(len(data))

    def test_unknown_blob_is_404(self, repo, as_owner):
        """ "If the blob is not found in the repository, the response code MUST be `404 Not
        Found`", also when another repository holds it."""
        digest = repo.push_blob(b"only in acme/pull")
        for session, wanted in [
            (repo, sha256(b"never pushed")),
            (Session(as_owner, "acme/elsewhere"), digest),
        ]:
            response = session.request("GET", f"blobs/{wanted}")
            assert response.status_code == 404
            assert codes(response) == ["BLOB_UNKNOWN"]
            assert session.request("HEAD", f"blobs/{wanted}").status_code == 404

    def test_range_requests(self, repo):
        """ "A registry SHOULD support the `Range` request header in accordance with RFC
        9110": 206 with Content-Range for a satisfiable range, 416 with `bytes */size`
        otherwise."""
        data = b"0123456789" * 100
        digest = repo.push_blob(data)
        for header, start, end in [
            ("bytes=0-9", 0, 9),
            ("bytes=990-", 990, 999),
            ("bytes=-5", 995, 999),
            ("bytes=500-5000", 500, 999),
        ]:
            response = repo.request("GET", f"blobs/{digest}", HTTP_RANGE=header)
            assert response.status_code == 206, header
            assert response.payload == data[start : end + 1], header
            assert response["Content-Range"] == f"bytes {start}-{end}/{len(data)}"
            assert response["Content-Length"] == str(end - start + 1)
        response = repo.request("GET", f"blobs/{digest}", HTTP_RANGE="bytes=1000-")
        assert response.status_code == 416
        assert response["Content-Range"] == f"bytes */{len(data)}"

    def test_resumable_pull(self, repo):
        """Use case "Resumable Pull": "The client keeps the partial data and uses http
        `Range` requests to avoid downloading repeated data"."""
        data = bytes(range(256)) * 50
        digest = repo.push_blob(data)
        got = b""
        while len(got) < len(data):
            part = repo.request(
                "GET", f"blobs/{digest}", HTTP_RANGE=f"bytes={len(got)}-{len(got) + 999}"
            )
            assert part.status_code == 206
            got += part.payload
        assert got == data

    def test_head_ignores_range(self, repo):
        """RFC 9110 (which the spec's Range clause points to): "A server MUST ignore a Range
        header field received with a request method that is unrecognized or for which range
        handling is not defined" (GET is the only one): HEAD answers 200 with the full
        length."""
        data = b"abcdefghij" * 10
        digest = repo.push_blob(data)
        response = repo.request("HEAD", f"blobs/{digest}", HTTP_RANGE="bytes=0-9")
        assert response.status_code == 200
        assert response["Content-Length"] == str(len(data))


# --- Checking if content exists in the registry ---------------------------------------------


def _raw_head(session: Session, path: str):
    """The view's own response to HEAD, before any test-client or server post-processing."""
    request = RequestFactory().head(
        session.url(path), HTTP_AUTHORIZATION=f"Bearer {session.token('pull')}"
    )
    match = resolve(request.path)
    return match.func(request, *match.args, **match.kwargs)


class TestCheckingExistence:
    def test_head_on_existing_content(self, repo):
        """ "A HEAD request to an existing blob or manifest URL MUST return `200 OK`"; "A
        successful response SHOULD contain the digest ... `Docker-Content-Digest`" and "the
        size in bytes ... `Content-Length`"."""
        data = b"blob for HEAD"
        digest = repo.push_blob(data)
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        for path, size, wanted in [
            (f"blobs/{digest}", len(data), digest),
            ("manifests/v1", len(manifest.body), manifest.digest),
            (f"manifests/{manifest.digest}", len(manifest.body), manifest.digest),
        ]:
            response = repo.request("HEAD", path)
            assert response.status_code == 200, path
            assert response["Docker-Content-Digest"] == wanted
            assert response["Content-Length"] == str(size)
            raw = _raw_head(repo, path)
            assert raw.status_code == 200 and raw.content == b"", path

    def test_head_on_missing_content_is_404(self, repo):
        """ "If the blob or manifest is not found in the repository, the response code MUST
        be `404 Not Found`"."""
        for path in [f"blobs/{sha256(b'x')}", "manifests/missing", f"manifests/{sha256(b'y')}"]:
            assert repo.request("HEAD", path).status_code == 404, path


# --- Error codes and warnings -----------------------------------------------------------------

_CODE_SHAPE = re.compile(r"[A-Z_]+")
# Portside's one error code outside the specification's list: Docker's code for a bad `n`,
# kept because clients understand it (see oci/errors.py and docs/conformance.md).
_DOCUMENTED_EXTRA_CODES = frozenset({"PAGINATION_NUMBER_INVALID"})


@filesystem_only
def test_error_bodies(repo, client, as_other):
    """ "If the response body is in JSON format, it MUST have the following format"; "The
    `code` field MUST be a unique identifier, containing only uppercase alphabetic
    characters and underscores"; "The `code` field MUST be one of the following"; and of
    warnings, "A registry MUST NOT send more than 4096 bytes of warning data"."""
    digest = repo.push_blob(b"x")
    location = repo.request("POST", "blobs/uploads/")["Location"]
    repo.request("PATCH", location, b"abc")
    failures = [
        repo.request("GET", f"blobs/{sha256(b'missing')}"),
        repo.request("GET", "manifests/missing"),
        repo.request("GET", "manifests/sha256:short"),
        repo.request("PUT", "manifests/v1", b"{", content_type=mediatypes.OCI_MANIFEST),
        repo.request(
            "PUT",
            "manifests/v1",
            b'{"schemaVersion": 2, "mediaType": "'
            + mediatypes.OCI_MANIFEST.encode()
            + b'", "config": '
            + json.dumps(blob_descriptor(mediatypes.OCI_CONFIG, b"nope")).encode()
            + b', "layers": []}',
            content_type=mediatypes.OCI_MANIFEST,
        ),
        repo.request("PUT", f"{location}?digest={digest}"),
        repo.request("PATCH", location, b"abc", HTTP_CONTENT_RANGE="10-12"),
        repo.request("GET", "blobs/uploads/00000000-0000-0000-0000-000000000000"),
        repo.request("GET", "/v2/acme/nothing-here/tags/list"),
        repo.request("GET", "/v2/acme/UPPER/tags/list"),
        repo.request("GET", "/v2/no/such/endpoint"),
        repo.request("POST", "tags/list"),
        client.get(f"/v2/{NAME}/tags/list"),
        Session(as_other, NAME).request("GET", "tags/list"),
    ]
    for response in failures:
        assert 400 <= response.status_code < 500, response.content
        body = json.loads(response.content)
        assert set(body) == {"errors"} and body["errors"], body
        for error in body["errors"]:
            assert set(error) <= {"code", "message", "detail"}, error
            assert _CODE_SHAPE.fullmatch(error["code"]), error
            assert error["code"] in SPEC_ERROR_CODES | LEGACY_ERROR_CODES, error
            assert isinstance(error.get("message", ""), str)
        assert "Warning" not in response
    bad_n = repo.request("GET", "tags/list?n=-1")
    assert set(codes(bad_n)) <= _DOCUMENTED_EXTRA_CODES
