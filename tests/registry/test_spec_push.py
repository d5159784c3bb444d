"""OCI distribution-spec v1.1, clause by clause: "Push" (monolithic, single-POST and chunked
blob uploads, mounts, manifests, manifests with a subject). The conformance suite's own run
(every upload method for sha256 and sha512, out-of-order chunks, mounts, cancel, empty
blobs, bad digests) is re-made in ``test_spec_conformance.py``.

Uploads put bytes in the blob store, so their tests run on the filesystem and S3 stores;
manifest tests are ``filesystem_only``.
"""

from __future__ import annotations

import base64
import io
import json

import pytest

from portside.oci import mediatypes
from portside.registry.models import Manifest, Upload
from tests.registry.spec_support import (
    EMPTY_DESCRIPTOR,
    EMPTY_JSON,
    UUID,
    Pushed,
    Session,
    artifact,
    blob_descriptor,
    codes,
    config_blob,
    digest_of,
    encode,
    filesystem_only,
    image,
    index,
    sha256,
)

pytestmark = pytest.mark.django_db
NAME = "acme/push"
ALGORITHMS = ["sha256", "sha512"]


@pytest.fixture
def repo(as_owner) -> Session:
    return Session(as_owner, NAME)


def blob_of(size: int, seed: int = 1) -> bytes:
    return bytes((i * 31 + seed * 7) % 251 for i in range(size))


def assert_pullable(session: Session, location: str, data: bytes) -> None:
    """ "`<blob-location>` being a pullable blob URL"."""
    response = session.request("GET", location)
    assert response.status_code == 200, location
    assert response.payload == data


# --- POST then PUT ----------------------------------------------------------------------------


class TestPostThenPut:
    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_session_then_put(self, repo, algorithm):
        """ "Upon success, the response MUST have a code of `202 Accepted`, and MUST include
        the following header: `Location`"; "The `<location>` MUST contain a UUID"; after the
        PUT "the response MUST have code `201 Created` and MUST have the following header:
        `Location: <blob-location>`"."""
        data = blob_of(512)
        digest = digest_of(data, algorithm)
        start = repo.request("POST", "blobs/uploads/")
        assert start.status_code == 202
        assert UUID.search(start["Location"])
        done = repo.request("PUT", f"{start['Location']}?digest={digest}", data)
        assert done.status_code == 201
        assert done["Docker-Content-Digest"] == digest
        assert_pullable(repo, done["Location"], data)

    def test_each_session_is_unique(self, repo):
        """ "The `<location>` MUST contain a UUID representing a unique session ID"."""
        locations = {repo.request("POST", "blobs/uploads/")["Location"] for _ in range(5)}
        assert len(locations) == 5

    def test_wrong_digest_is_refused(self, repo):
        """ "`<digest>` is the digest of the blob being uploaded": a digest that does not match
        is DIGEST_INVALID and nothing becomes visible."""
        data = blob_of(300)
        wrong = sha256(data + b"oh no")
        start = repo.request("POST", "blobs/uploads/")
        response = repo.request("PUT", f"{start['Location']}?digest={wrong}", data)
        assert response.status_code == 400 and codes(response) == ["DIGEST_INVALID"]
        assert not repo.has_blob(wrong) and not repo.has_blob(sha256(data))

    def test_put_without_digest_is_refused(self, repo):
        """The closing `PUT` "MUST include the `<digest>`"."""
        start = repo.request("POST", "blobs/uploads/")
        response = repo.request("PUT", start["Location"], b"data")
        assert response.status_code == 400 and codes(response) == ["DIGEST_INVALID"]


# --- Single POST --------------------------------------------------------------------------------


class TestSinglePost:
    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_single_post(self, repo, algorithm):
        """ "Successful completion of the request MUST return a `201 Created` and MUST
        include the following header: `Location: <blob-location>`"."""
        data = blob_of(700, seed=3)
        digest = digest_of(data, algorithm)
        response = repo.request("POST", f"blobs/uploads/?digest={digest}", data)
        assert response.status_code == 201
        assert response["Docker-Content-Digest"] == digest
        assert_pullable(repo, response["Location"], data)

    def test_digest_must_match(self, repo):
        """ "Likewise, the `<digest>` MUST match the blob's digest": a mismatch is refused
        (400; conformance2 "bad digest post only" allows 400 or 202) and leaves no upload."""
        data = blob_of(100)
        wrong = sha256(b"something else")
        response = repo.request("POST", f"blobs/uploads/?digest={wrong}", data)
        assert response.status_code == 400 and codes(response) == ["DIGEST_INVALID"]
        assert not Upload.objects.exists() and not repo.has_blob(wrong)

    def test_content_length_must_match(self, repo):
        """ "The `Content-Length` header MUST match the blob's actual content length": a body
        that ends before the declared length is BLOB_UPLOAD_INVALID, and nothing is kept."""
        data = blob_of(10)
        response = repo.request(
            "POST",
            f"blobs/uploads/?digest={sha256(data + b'more')}",
            data,
            CONTENT_LENGTH=str(len(data) + 4),
            **{"wsgi.input": io.BytesIO(data)},
        )
        assert response.status_code == 400 and codes(response) == ["BLOB_UPLOAD_INVALID"]
        assert not Upload.objects.exists()


# --- Pushing a blob in chunks ---------------------------------------------------------------


class TestChunked:
    def test_chunks_in_order_then_put(self, repo):
        """ "The response for each successful chunk upload MUST be `202 Accepted`, and MUST
        have the following headers: `Location`, `Range: 0-<end-of-range>`", where
        "`<end-of-range>` ... matching the end value of the `Content-Range` in the request";
        "The response to a successful closing of the session MUST be `201 Created`, and
        MUST contain ... `Location`"."""
        data = blob_of(1000)
        start = repo.request("POST", "blobs/uploads/", CONTENT_LENGTH="0")
        assert start.status_code == 202
        location = start["Location"]
        for offset in range(0, 1000, 300):
            chunk = data[offset : offset + 300]
            end = offset + len(chunk) - 1
            response = repo.request("PATCH", location, chunk, HTTP_CONTENT_RANGE=f"{offset}-{end}")
            assert response.status_code == 202
            assert response["Range"] == f"0-{end}"
            assert response["Location"]
            location = response["Location"]  # "SHOULD use the `<location>` provided"
        done = repo.request("PUT", f"{location}?digest={sha256(data)}")
        assert done.status_code == 201
        assert_pullable(repo, done["Location"], data)

    def test_final_chunk_in_the_put(self, repo):
        """ "The final chunk MAY be uploaded using a `PATCH` request or it MAY be uploaded in
        the closing `PUT` request"; "The closing `PUT` request MUST include the `<digest>` of
        the whole blob (not the final chunk)"."""
        data = blob_of(900, seed=5)
        location = repo.request("POST", "blobs/uploads/")["Location"]
        first = repo.request("PATCH", location, data[:600], HTTP_CONTENT_RANGE="0-599")
        done = repo.request(
            "PUT",
            f"{first['Location']}?digest={sha256(data)}",
            data[600:],
            HTTP_CONTENT_RANGE="600-899",
        )
        assert done.status_code == 201, done.content
        assert_pullable(repo, done["Location"], data)

    def test_first_chunk_must_begin_at_zero(self, repo):
        """ "The first chunk's range MUST begin with `0`"; otherwise 416."""
        location = repo.request("POST", "blobs/uploads/")["Location"]
        response = repo.request("PATCH", location, b"abc", HTTP_CONTENT_RANGE="1-3")
        assert response.status_code == 416

    def test_out_of_order_chunks_are_416_and_the_upload_survives(self, repo):
        """ "Chunks MUST be uploaded in order ... If a chunk is uploaded out of order, the
        registry MUST respond with a `416 Requested Range Not Satisfiable` code"; "A GET
        request may be used to retrieve the current valid offset and upload location"."""
        data = blob_of(1200, seed=9)
        location = repo.request("POST", "blobs/uploads/")["Location"]
        repo.request("PATCH", location, data[:400], HTTP_CONTENT_RANGE="0-399")
        for start, end in [(800, 1199), (0, 399), (401, 800), (399, 798)]:
            response = repo.request(
                "PATCH", location, data[start : end + 1], HTTP_CONTENT_RANGE=f"{start}-{end}"
            )
            assert response.status_code == 416, (start, end)
            assert response["Range"] == "0-399"
        status = repo.request("GET", location)
        assert status.status_code == 204 and status["Range"] == "0-399"
        repo.request("PATCH", status["Location"], data[400:], HTTP_CONTENT_RANGE="400-1199")
        done = repo.request("PUT", f"{location}?digest={sha256(data)}")
        assert done.status_code == 201
        assert_pullable(repo, done["Location"], data)

    def test_out_of_order_final_chunk_in_the_put_is_416(self, repo):
        """The closing `PUT` carries "`Content-Range: <range of chunk, if present>`": a final
        chunk out of order is 416 like any other ("If a chunk is uploaded out of order, the
        registry MUST respond with a `416`"), and the upload stays usable."""
        data = blob_of(900, seed=11)
        location = repo.request("POST", "blobs/uploads/")["Location"]
        repo.request("PATCH", location, data[:300], HTTP_CONTENT_RANGE="0-299")
        skipped = repo.request(
            "PUT", f"{location}?digest={sha256(data)}", data[600:], HTTP_CONTENT_RANGE="600-899"
        )
        assert skipped.status_code == 416
        assert skipped["Range"] == "0-299"
        status = repo.request("GET", location)
        assert status.status_code == 204 and status["Range"] == "0-299"
        repo.request("PATCH", location, data[300:600], HTTP_CONTENT_RANGE="300-599")
        done = repo.request(
            "PUT", f"{location}?digest={sha256(data)}", data[600:], HTTP_CONTENT_RANGE="600-899"
        )
        assert done.status_code == 201, done.content
        assert_pullable(repo, done["Location"], data)

    def test_range_must_match_the_grammar(self, repo):
        """The `<range>` "MUST match the following regular expression `^[0-9]+-[0-9]+$`" and
        "MUST be inclusive on both ends": a range the chunk does not fill is not satisfiable
        (the endpoint table lists `404`/`416` as PATCH's failures), and nothing is kept."""
        location = repo.request("POST", "blobs/uploads/")["Location"]
        for bad in ["0-", "-3", "a-b", "3-1", "0-2/3"]:
            response = repo.request("PATCH", location, b"abc", HTTP_CONTENT_RANGE=bad)
            assert response.status_code in (400, 416), bad
        assert repo.request("GET", location)["Range"] == "0-0"
        wrong_length = repo.request("PATCH", location, b"abc", HTTP_CONTENT_RANGE="0-3")
        assert wrong_length.status_code == 416  # inclusive: 0-3 is four bytes
        assert codes(wrong_length) == ["BLOB_UPLOAD_INVALID"]
        assert repo.request("GET", location)["Range"] == "0-0"

    def test_upload_status(self, repo):
        """ "The response to an active upload `<location>` MUST be a `204 No Content` response
        code, and MUST have the following headers: `Location`, `Range: 0-<end-of-range>`"."""
        location = repo.request("POST", "blobs/uploads/")["Location"]
        repo.request("PATCH", location, b"x" * 42, HTTP_CONTENT_RANGE="0-41")
        status = repo.request("GET", location)
        assert status.status_code == 204
        assert status["Location"] == location and status["Range"] == "0-41"

    def test_no_minimum_chunk_size(self, repo):
        """ "If the registry has a minimum chunk size, the `POST` response SHOULD include ...
        `OCI-Chunk-Min-Length`": Portside has none, sends none, and takes 1-byte chunks."""
        data = b"tiny chunks"
        start = repo.request("POST", "blobs/uploads/")
        assert "OCI-Chunk-Min-Length" not in start
        location = start["Location"]
        for i, byte in enumerate(data):
            response = repo.request("PATCH", location, bytes([byte]), HTTP_CONTENT_RANGE=f"{i}-{i}")
            assert response.status_code == 202
        assert repo.request("PUT", f"{location}?digest={sha256(data)}").status_code == 201

    def test_the_session_must_be_closed_with_a_put(self, repo):
        """ "Regardless of how the final chunk is uploaded, the session MUST be closed with a
        `PUT` request": until then the bytes are no blob."""
        data = b"not closed yet"
        location = repo.request("POST", "blobs/uploads/")["Location"]
        repo.request("PATCH", location, data, HTTP_CONTENT_RANGE=f"0-{len(data) - 1}")
        assert not repo.has_blob(sha256(data))
        assert repo.request("PUT", f"{location}?digest={sha256(data)}").status_code == 201
        assert repo.has_blob(sha256(data))

    def test_stream_without_content_range(self, repo):
        """Conformance "Blob Upload Streamed": "PATCH request with blob in body should yield
        202 response", then "PUT request to session URL with digest should yield 201"."""
        data = blob_of(2048, seed=13)
        location = repo.request("POST", "blobs/uploads/")["Location"]
        patched = repo.request("PATCH", location, data)
        assert patched.status_code == 202 and patched["Range"] == "0-2047"
        done = repo.request("PUT", f"{patched['Location']}?digest={sha256(data)}")
        assert done.status_code == 201 and done["Location"]
        assert_pullable(repo, done["Location"], data)

    def test_cancel(self, repo):
        """Cancelling an upload (conformance2 "post cancel": DELETE on the session answers
        204) ends the session: it is BLOB_UPLOAD_UNKNOWN afterwards."""
        location = repo.request("POST", "blobs/uploads/")["Location"]
        repo.request("PATCH", location, b"abandoned")
        assert repo.request("DELETE", location).status_code == 204
        gone = repo.request("GET", location)
        assert gone.status_code == 404 and codes(gone) == ["BLOB_UPLOAD_UNKNOWN"]
        assert not repo.has_blob(sha256(b"abandoned"))

    def test_resumable_push(self, repo):
        """Use case "Resumable Push": "The registry notifies the build server that the upload
        has already been partially attempted. The build server responds by only sending the
        remaining data"."""
        data = blob_of(1500, seed=17)
        location = repo.request("POST", "blobs/uploads/")["Location"]
        repo.request("PATCH", location, data[:1000], HTTP_CONTENT_RANGE="0-999")
        # the connection drops; the client asks where it stands and sends the rest
        status = repo.request("GET", location)
        done_to = int(status["Range"].split("-")[1])
        rest = data[done_to + 1 :]
        done = repo.request(
            "PUT",
            f"{status['Location']}?digest={sha256(data)}",
            rest,
            HTTP_CONTENT_RANGE=f"{done_to + 1}-{len(data) - 1}",
        )
        assert done.status_code == 201
        assert_pullable(repo, done["Location"], data)


# --- Mounting a blob from another repository -------------------------------------------------


class TestMount:
    def test_mount_needs_pull_on_the_source(self, as_owner, as_other):
        """ "it SHOULD return a `202`" when "unable to mount the requested blob": a caller
        who may not read the source gets an upload session, and the blob stays invisible."""
        digest = Session(as_owner, NAME).push_blob(b"private layer")
        thief = Session(as_other, "globex/copy")
        response = thief.request("POST", f"blobs/uploads/?mount={digest}&from={NAME}")
        assert response.status_code == 202 and UUID.search(response["Location"])
        assert not thief.has_blob(digest)

    @filesystem_only
    def test_mount_of_a_blob_the_target_holds(self, repo):
        """ "The registry MAY treat the `from` parameter as optional, and it MAY cross-mount
        the blob if it can be found": Portside finds it in the target itself."""
        digest = repo.push_blob(b"already here")
        response = repo.request("POST", f"blobs/uploads/?mount={digest}")
        assert response.status_code == 201
        assert response["Location"] == f"/v2/{NAME}/blobs/{digest}"


# --- Pushing manifests ------------------------------------------------------------------------


@filesystem_only
class TestPushingManifests:
    def test_put_by_tag(self, repo):
        """ "Upon a successful upload, the registry MUST return response code `201 Created`,
        and MUST have the following header: `Location: <location>`", a "pullable manifest
        URL"."""
        manifest = image(repo)
        response = repo.push(manifest, tag="v1")
        assert response["Location"] == f"/v2/{NAME}/manifests/{manifest.digest}"
        assert response["Docker-Content-Digest"] == manifest.digest
        pulled = repo.request("GET", response["Location"])
        assert pulled.status_code == 200 and pulled.payload == manifest.body

    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_put_by_digest(self, repo, algorithm):
        """ "The Docker-Content-Digest header returns the canonical digest of the uploaded
        blob, and MUST be equal to the client provided digest"."""
        body = image(repo).body
        digest = digest_of(body, algorithm)
        response = repo.put_manifest(digest, body)
        assert response.status_code == 201
        assert response["Docker-Content-Digest"] == digest
        assert response["Location"] == f"/v2/{NAME}/manifests/{digest}"
        for method in ["GET", "HEAD"]:
            pulled = repo.request(method, f"manifests/{digest}")
            assert pulled.status_code == 200 and pulled["Docker-Content-Digest"] == digest
            assert pulled["Content-Length"] == str(len(body))
        assert repo.request("GET", f"manifests/{digest}").payload == body

    def test_exact_bytes_are_kept(self, repo):
        """ "The registry MUST store the manifest in the exact byte representation provided
        by the client": whitespace, key order and escapes come back unchanged."""
        config = config_blob("bytes")
        repo.push_blob(config)
        descriptor = json.dumps(blob_descriptor(mediatypes.OCI_CONFIG, config))
        body = (
            '\n  {"layers":[],   "config": ' + descriptor + ",\r\n"
            '"annotations": {"org.example.note": "caf\\u00e9 \u2603"},'
            '"schemaVersion":2,"mediaType":"' + mediatypes.OCI_MANIFEST + '"}\n\n'
        ).encode()
        response = repo.put_manifest("bytes", body)
        assert response.status_code == 201, response.content
        assert response["Docker-Content-Digest"] == sha256(body)
        for reference in ["bytes", sha256(body)]:
            assert repo.request("GET", f"manifests/{reference}").payload == body

    def test_digest_reference_must_match(self, repo):
        """ "`<reference>` MUST be either a) a digest or b) a tag", and a digest names those
        bytes: another digest is DIGEST_INVALID (conformance2 "Bad Digest Image"), a
        malformed one too ("sha256:baddigeststring")."""
        manifest = image(repo)
        for reference in [sha256(manifest.body + b"  "), "sha256:baddigeststring"]:
            response = repo.put_manifest(reference, manifest.body)
            assert response.status_code == 400 and codes(response) == ["DIGEST_INVALID"]
        assert not Manifest.objects.exists()

    def test_content_type_must_be_the_media_type(self, repo):
        """ "If a manifest includes a `mediaType` field, clients MUST set the `Content-Type`
        header to the value specified by the `mediaType` field": a push that contradicts its
        own `mediaType` is MANIFEST_INVALID."""
        manifest = image(repo)
        response = repo.put_manifest("v1", manifest.body, mediatypes.OCI_INDEX)
        assert response.status_code == 400 and codes(response) == ["MANIFEST_INVALID"]

    def test_the_list_of_blobs_may_be_empty(self, repo):
        """ "The uploaded manifest MUST reference any blobs that make up the object. However,
        the list of blobs MAY be empty" (conformance "Registry should accept a manifest upload
        with no layers")."""
        manifest = image(repo, layers=[])
        response = repo.push(manifest, tag="emptylayer")
        assert response["Location"]

    def test_unknown_blobs_are_manifest_blob_unknown(self, repo):
        """ "A registry MAY reject a manifest ... with descriptors in other fields that
        reference a manifest or blob that does not exist"; "When a manifest is rejected for
        this reason, it MUST result in one or more `MANIFEST_BLOB_UNKNOWN` errors"."""
        missing_layer = image(repo, layers=[b"never pushed"], push_blobs=False)
        repo.push_blob(config_blob("spec"))
        missing_child = index([Pushed(b"{}", mediatypes.OCI_MANIFEST, sha256(b"absent"))])
        for manifest in [missing_layer, missing_child]:
            response = repo.put_manifest("v1", manifest.body, manifest.media_type)
            assert response.status_code == 400, response.content
            assert set(codes(response)) == {"MANIFEST_BLOB_UNKNOWN"}

    def test_size_limit(self, repo):
        """ "A registry SHOULD enforce some limit on the maximum manifest size"; over it,
        "SHOULD respond ... with a response code `413 Payload Too Large`"; "registry
        implementations SHOULD expect to be able to support manifest pushes of at least 4
        megabytes" (Portside: up to 4 MiB)."""
        config = config_blob("big")
        repo.push_blob(config)

        def padded(size: int) -> bytes:
            head = {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_MANIFEST,
                "config": blob_descriptor(mediatypes.OCI_CONFIG, config),
                "layers": [],
                "annotations": {"pad": ""},
            }
            base = len(encode(head))
            head["annotations"]["pad"] = "x" * (size - base)
            body = encode(head)
            assert len(body) == size
            return body

        for size in [4_000_000, 4 * 1024 * 1024]:
            assert repo.put_manifest(f"size{size}", padded(size)).status_code == 201, size
        too_big = repo.put_manifest("too-big", padded(4 * 1024 * 1024 + 1))
        assert too_big.status_code == 413

    def test_pull_of_a_nonexistent_repository_is_404(self, as_owner):
        """ "An attempt to pull a nonexistent repository MUST return response code `404 Not
        Found`"."""
        ghost = Session(as_owner, "acme/never-pushed")
        for path in [
            "manifests/latest",
            f"manifests/{sha256(b'x')}",
            f"blobs/{sha256(b'x')}",
            "tags/list",
        ]:
            assert ghost.request("GET", path).status_code == 404, path

    def test_manifests_of_every_kind(self, repo):
        """conformance2 data: "Image", "Image Uncompressed", "Index", "Nested Index",
        "Artifact", "Artifact Index", "Data Field", "Custom Fields", "Non-distributable
        Layers": each pushed by digest and by tag, then GET and HEAD by both give the bytes,
        `Content-Type` and `Content-Length`."""
        gz = image(repo, author="gz")
        tar = image(repo, author="tar", layer_type=mediatypes.OCI_LAYER)
        arm = image(repo, author="arm")
        multi = index([gz, arm])
        nested = index([multi, index([tar])])
        art = artifact(repo, subject=None, artifact_type="application/vnd.example.oci.conformance")
        art_index = index([art], artifactType="application/vnd.example.oci.conformance")
        data_field = image(
            repo,
            author="data",
            config={
                **blob_descriptor(mediatypes.OCI_CONFIG, config_blob("data")),
                "data": base64.b64encode(config_blob("data")).decode(),
            },
        )
        custom = image(repo, author="custom", **{"org.example.unknown": {"any": ["thing"]}})
        foreign_layer = {
            **blob_descriptor(mediatypes.OCI_LAYER_NONDISTRIBUTABLE_GZIP, b"never pushed"),
            "urls": ["https://store.example.com/blobs/elsewhere"],
        }
        foreign = image(repo, author="foreign", layers=[])
        document = json.loads(foreign.body)
        document["layers"] = [foreign_layer]
        foreign = Pushed.of(document)
        ordered = [
            gz,
            tar,
            arm,
            index([tar]),
            multi,
            nested,
            art,
            art_index,
            data_field,
            custom,
            foreign,
        ]
        for i, manifest in enumerate(ordered):
            repo.push(manifest)
            repo.push(manifest, tag=f"kind{i}")
        for i, manifest in enumerate(ordered):
            for reference in [manifest.digest, f"kind{i}"]:
                for method in ["GET", "HEAD"]:
                    response = repo.request(method, f"manifests/{reference}")
                    assert response.status_code == 200, (i, reference, method)
                    assert response["Content-Type"] == manifest.media_type
                    assert response["Content-Length"] == str(len(manifest.body))
                    assert response["Docker-Content-Digest"] == manifest.digest
                    if method == "GET":
                        assert response.payload == manifest.body


# --- Pushing manifests by digest with tag parameters --------------------------------------------


@filesystem_only
class TestTagParameters:
    @pytest.mark.parametrize("algorithm", ALGORITHMS)
    def test_tags_given_as_parameters_of_a_push_by_digest(self, repo, algorithm):
        """ "When pushing a manifest by digest, the registry MAY support the pushing of tags
        specified by addition of `tag` query parameters"; a registry that does "MUST include
        an `OCI-Tag` response header ... for each accepted tag". Each tag then names the
        manifest under the digest the client chose, sha512 included (a push by tag could
        only be answered with a sha256 digest)."""
        manifest = image(repo, author=f"tag-param-{algorithm}")
        digest = digest_of(manifest.body, algorithm)
        tags = [f"t{n}" for n in range(10)]
        query = "&".join(f"tag={tag}" for tag in tags)
        response = repo.put_manifest(f"{digest}?{query}", manifest.body)
        assert response.status_code == 201, response.content
        assert response["Docker-Content-Digest"] == digest
        accepted = [t.strip() for t in response["OCI-Tag"].split(",")]
        assert accepted == tags
        for tag in tags:
            for method in ["GET", "HEAD"]:
                pulled = repo.request(method, f"manifests/{tag}")
                assert pulled.status_code == 200, (tag, method)
                assert pulled["Docker-Content-Digest"] == digest
        assert repo.request("GET", f"manifests/{tags[0]}").payload == manifest.body
        listed = json.loads(repo.request("GET", "tags/list").payload)["tags"]
        assert sorted(tags) == sorted(listed)

    def test_a_repeated_tag_is_accepted_once(self, repo):
        manifest = image(repo, author="repeated")
        response = repo.put_manifest(f"{manifest.digest}?tag=a&tag=b&tag=a", manifest.body)
        assert response.status_code == 201
        assert response["OCI-Tag"] == "a, b"

    def test_an_invalid_tag_refuses_the_whole_push(self, repo):
        """A tag parameter is a tag: 128 characters at most, of the tag grammar. One that is
        not refuses the push (TAG_INVALID) and nothing is stored."""
        manifest = image(repo, author="invalid")
        for bad in ["-dash", "x" * 129, ""]:
            response = repo.put_manifest(f"{manifest.digest}?tag=good&tag={bad}", manifest.body)
            assert response.status_code == 400, bad
            assert codes(response) == ["TAG_INVALID"]
        assert not Manifest.objects.exists()

    def test_a_push_by_tag_has_no_tag_parameters(self, repo):
        """Tag parameters belong to a push by digest; a push by tag sets its own tag only,
        and answers no `OCI-Tag`."""
        manifest = image(repo, author="by-tag")
        response = repo.put_manifest("v1?tag=other", manifest.body)
        assert response.status_code == 201
        assert "OCI-Tag" not in response
        assert repo.request("GET", "manifests/other").status_code == 404


# --- Pushing manifests with subject -----------------------------------------------------------


@filesystem_only
class TestPushingManifestsWithSubject:
    def test_a_missing_subject_is_accepted_with_oci_subject(self, repo):
        """ "A registry MUST initially accept an otherwise valid manifest with a `subject`
        field that references a manifest that does not exist in the repository"; "a registry
        implementation that supports the referrers API MUST respond with the response header
        `OCI-Subject: <subject digest>`"."""
        subject = {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": sha256(b"missing content"),
            "size": 123,
        }
        referrer = artifact(repo, subject=subject, annotations={"k": "v"})
        response = repo.push(referrer, tag="tagged-artifact")
        assert response["OCI-Subject"] == subject["digest"]
        by_digest = repo.push(referrer)
        assert by_digest["OCI-Subject"] == subject["digest"]

    def test_oci_subject_on_images_indexes_and_repeats(self, repo):
        """ "When processing a request for an image manifest with the `subject` field ... MUST
        respond with the response header `OCI-Subject`"; also for an index with a subject,
        for a push of a manifest already stored, and never without a subject."""
        subject = image(repo, author="subject")
        plain = repo.push(subject, tag="image")
        assert "OCI-Subject" not in plain
        signature = image(repo, author="sig", subject=subject.descriptor())
        first = repo.push(signature)
        again = repo.push(signature, tag="again")
        assert first["OCI-Subject"] == again["OCI-Subject"] == subject.digest
        attached = index(
            [image(repo, author="child")],
            subject=subject.descriptor(),
            artifactType="application/vnd.example.bundle",
        )
        repo.push(image(repo, author="child"))
        response = repo.push(attached)
        assert response["OCI-Subject"] == subject.digest

    def test_subject_may_be_pushed_after_its_referrers(self, repo):
        """ "allowing clients to push a manifest and referrers to that manifest in either
        order": the referrer is listed once the subject arrives."""
        subject = image(repo, author="later")
        referrer = artifact(repo, subject=subject.descriptor())
        repo.push(referrer)
        repo.push(subject, tag="later")
        listing = repo.request("GET", f"referrers/{subject.digest}")
        assert [m["digest"] for m in json.loads(listing.payload)["manifests"]] == [referrer.digest]

    def test_a_dangling_subject_still_needs_its_own_blobs(self, repo):
        """The subject is the one descriptor that may point at nothing: a layer that does
        not exist is still "one or more `MANIFEST_BLOB_UNKNOWN` errors" (the conformance
        suite's newest "Dangling subject" check pushes such a layer; see
        docs/conformance.md)."""
        subject = {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(b"gone"), "size": 5}
        repo.push_blob(EMPTY_JSON)
        document = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": EMPTY_DESCRIPTOR,
            "layers": [blob_descriptor("application/vnd.example.sbom", b"not pushed")],
            "subject": subject,
        }
        response = repo.put_manifest("dangling", encode(document))
        assert response.status_code == 400 and codes(response) == ["MANIFEST_BLOB_UNKNOWN"]
