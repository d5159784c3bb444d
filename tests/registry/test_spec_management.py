"""OCI distribution-spec v1.1, clause by clause: "Content Management" (deleting tags,
manifests and blobs; every delete takes effect at once). The conformance suite's own run is
re-made in ``test_spec_conformance.py``.

Blob deletes touch the blob store, so their tests run on both stores; tag and manifest
deletes are ``filesystem_only``.
"""

from __future__ import annotations

import json

import pytest

from tests.registry.spec_support import (
    Session,
    artifact,
    codes,
    filesystem_only,
    image,
    index,
    sha256,
)

pytestmark = pytest.mark.django_db
NAME = "acme/management"


@pytest.fixture
def repo(as_owner) -> Session:
    return Session(as_owner, NAME)


def tag_names(session: Session) -> list[str]:
    return json.loads(session.request("GET", "tags/list").payload)["tags"]


@filesystem_only
class TestDeletingTags:
    def test_delete_a_tag(self, repo):
        """ "Upon success, the registry MUST respond with a `202 Accepted` code"; "Once
        deleted, a `GET` to `/v2/<name>/manifests/<tag>` will return a 404"; the manifest
        and its other tags stay."""
        manifest = image(repo)
        repo.push(manifest, tag="keep")
        repo.push(manifest, tag="drop")
        response = repo.request("DELETE", "manifests/drop")
        assert response.status_code == 202
        assert repo.request("GET", "manifests/drop").status_code == 404
        assert repo.request("HEAD", "manifests/drop").status_code == 404  # at once
        assert repo.request("GET", "manifests/keep").status_code == 200
        assert repo.request("GET", f"manifests/{manifest.digest}").status_code == 200
        assert tag_names(repo) == ["keep"]

    def test_delete_an_unknown_tag_is_404(self, repo):
        """end-9 failure `404`: a tag that does not exist is MANIFEST_UNKNOWN."""
        repo.push(image(repo), tag="v1")
        for reference in ["missing", ".INVALID_MANIFEST_NAME"]:
            response = repo.request("DELETE", f"manifests/{reference}")
            assert response.status_code == 404 and codes(response) == ["MANIFEST_UNKNOWN"]

    def test_tag_deletion_is_not_disabled(self, repo):
        """ "If tag deletion is disabled, the registry MUST respond with either a `400 Bad
        Request` or a `405 Method Not Allowed`": Portside has tag deletion enabled for whoever
        may delete, so the answer is 202 (conformance: "DELETE request to manifest tag should
        return 202, unless tag deletion is disallowed (400/405)")."""
        repo.push(image(repo), tag="v1")
        assert repo.request("DELETE", "manifests/v1").status_code == 202


@filesystem_only
class TestDeletingManifests:
    def test_delete_by_digest(self, repo):
        """ "Upon success, the registry MUST respond with a `202 Accepted` code"; "Once
        deleted, a `GET` to `/v2/<name>/manifests/<digest>` and any tag pointing to that
        digest will return a 404"."""
        manifest = image(repo)
        for tag in ["a", "b"]:
            repo.push(manifest, tag=tag)
        response = repo.request("DELETE", f"manifests/{manifest.digest}")
        assert response.status_code == 202
        for reference in [manifest.digest, "a", "b"]:
            assert repo.request("GET", f"manifests/{reference}").status_code == 404
            assert repo.request("HEAD", f"manifests/{reference}").status_code == 404
        assert tag_names(repo) == []

    def test_unknown_manifest_and_unknown_repository(self, repo, as_owner):
        """ "If the repository does not exist, the response MUST return `404 Not Found`"; a
        digest the repository does not hold is 404 too."""
        repo.push(image(repo), tag="v1")
        response = repo.request("DELETE", f"manifests/{sha256(b'none')}")
        assert response.status_code == 404 and codes(response) == ["MANIFEST_UNKNOWN"]
        ghost = Session(as_owner, "acme/ghost")
        response = ghost.request("DELETE", f"manifests/{sha256(b'none')}")
        assert response.status_code == 404 and codes(response) == ["NAME_UNKNOWN"]

    def test_second_delete_is_404(self, repo):
        """Conformance "DELETE request to manifest (digest) should yield 202 response unless
        already deleted" (202 or 404)."""
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        assert repo.request("DELETE", f"manifests/{manifest.digest}").status_code == 202
        assert repo.request("DELETE", f"manifests/{manifest.digest}").status_code == 404

    def test_only_this_repository(self, repo, as_owner):
        """Deleting is scoped to `<name>`: the same manifest in another repository stays."""
        other = Session(as_owner, "acme/copy")
        manifest = image(repo)
        image(other)  # the same blobs, pushed there too
        repo.push(manifest, tag="v1")
        other.push(manifest, tag="v1")
        assert repo.request("DELETE", f"manifests/{manifest.digest}").status_code == 202
        assert other.request("GET", "manifests/v1").status_code == 200

    def test_delete_a_referrer_and_a_subject(self, repo):
        """ "When deleting an image manifest that contains a `subject` field, and the referrers
        API returns a 404, clients SHOULD" update the tag schema: with the referrers API the
        registry keeps the list right itself, whichever of the two goes first."""
        subject = image(repo)
        repo.push(subject, tag="v1")
        first = artifact(repo, subject=subject.descriptor(), payload=b"one")
        second = artifact(repo, subject=subject.descriptor(), payload=b"two")
        repo.push(first)
        repo.push(second)
        assert repo.request("DELETE", f"manifests/{first.digest}").status_code == 202
        listing = json.loads(repo.request("GET", f"referrers/{subject.digest}").payload)
        assert [m["digest"] for m in listing["manifests"]] == [second.digest]
        assert repo.request("DELETE", f"manifests/{subject.digest}").status_code == 202
        listing = json.loads(repo.request("GET", f"referrers/{subject.digest}").payload)
        assert [m["digest"] for m in listing["manifests"]] == [second.digest]

    def test_delete_an_index_then_its_children(self, repo):
        """conformance2 "delete": tags first, then manifests in reverse push order (an index
        before its children), each a 202 followed at once by a 404."""
        children = [image(repo, author=f"child{i}") for i in range(2)]
        for child in children:
            repo.push(child)
        parent = index(children)
        repo.push(parent, tag="index")
        assert repo.request("DELETE", "manifests/index").status_code == 202
        assert repo.request("HEAD", "manifests/index").status_code == 404
        for manifest in [parent, *reversed(children)]:
            assert repo.request("DELETE", f"manifests/{manifest.digest}").status_code == 202
            assert repo.request("HEAD", f"manifests/{manifest.digest}").status_code == 404

    def test_deletion_is_not_disabled(self, repo):
        """ "If manifest deletion is disabled, the registry MUST respond with either a `400
        Bad Request` or a `405 Method Not Allowed`": Portside's answer is 202 for a caller
        with delete rights and 401/403 for anyone else."""
        manifest = image(repo)
        repo.push(manifest, tag="v1")
        assert repo.request("DELETE", f"manifests/{manifest.digest}").status_code == 202


class TestDeletingBlobs:
    def test_delete_a_blob(self, repo):
        """ "Upon success, the registry MUST respond with code `202 Accepted`"; then GET and
        HEAD answer 404 (conformance "GET request to deleted blob URL should yield 404
        response"; conformance2 checks it happens at once)."""
        digest = repo.push_blob(b"to be deleted")
        assert repo.request("DELETE", f"blobs/{digest}").status_code == 202
        assert repo.request("HEAD", f"blobs/{digest}").status_code == 404
        response = repo.request("GET", f"blobs/{digest}")
        assert response.status_code == 404 and codes(response) == ["BLOB_UNKNOWN"]

    def test_unknown_blob_is_404(self, repo):
        """ "If the blob is not found, a `404 Not Found` code MUST be returned"."""
        repo.push_blob(b"something")
        response = repo.request("DELETE", f"blobs/{sha256(b'never pushed')}")
        assert response.status_code == 404 and codes(response) == ["BLOB_UNKNOWN"]
        digest = repo.push_blob(b"once")
        assert repo.request("DELETE", f"blobs/{digest}").status_code == 202
        assert repo.request("DELETE", f"blobs/{digest}").status_code == 404

    def test_only_this_repository(self, repo, as_owner):
        """The delete removes the blob from `<name>`; a repository that also holds it keeps
        it, bytes and all."""
        other = Session(as_owner, "acme/copy")
        digest = repo.push_blob(b"shared bytes")
        other.push_blob(b"shared bytes")
        assert repo.request("DELETE", f"blobs/{digest}").status_code == 202
        response = other.request("GET", f"blobs/{digest}")
        assert response.status_code == 200 and response.payload == b"shared bytes"

    def test_a_deleted_blob_can_be_pushed_again(self, repo):
        """After a delete the digest is unknown to the repository, and a new upload brings
        it back."""
        digest = repo.push_blob(b"again")
        repo.request("DELETE", f"blobs/{digest}")
        assert repo.push_blob(b"again") == digest
        assert repo.request("GET", f"blobs/{digest}").payload == b"again"

    def test_blob_deletion_is_not_disabled(self, repo):
        """ "If blob deletion is disabled, the registry MUST respond with either a `400 Bad
        Request` or a `405 Method Not Allowed`": Portside's answer is 202."""
        digest = repo.push_blob(b"deletable")
        assert repo.request("DELETE", f"blobs/{digest}").status_code == 202


@filesystem_only
def test_delete_needs_delete_rights(as_owner, as_viewer):
    """Deletes are Content Management, which "Registries MAY implement ... or they MAY
    disable": Portside allows them to owners and editors. A viewer's token lacks delete:
    401 with a challenge naming it, and the token asked for with it still lacks it."""
    repo = Session(as_owner, NAME)
    manifest = image(repo)
    repo.push(manifest, tag="v1")
    viewer = Session(as_viewer, NAME)
    for path in [
        "manifests/v1",
        f"manifests/{manifest.digest}",
        f"blobs/{sha256(b'layer of spec')}",
    ]:
        response = viewer.request("DELETE", path)
        assert response.status_code == 401 and codes(response) == ["UNAUTHORIZED"], path
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
        assert f'scope="repository:{NAME}:delete"' in response["WWW-Authenticate"]
    assert repo.request("GET", "manifests/v1").status_code == 200
