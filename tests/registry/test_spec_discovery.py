"""OCI distribution-spec v1.1, clause by clause: "Content Discovery" (listing tags, listing
referrers) and "Enabling the Referrers API". The conformance suite's own run is re-made in
``test_spec_conformance.py``.

All of it is metadata: the tests run on the default blob store only.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from portside.oci import mediatypes
from tests.registry.spec_support import (
    Pushed,
    Session,
    artifact,
    blob_descriptor,
    codes,
    filesystem_only,
    image,
    index,
    sha256,
)

pytestmark = [pytest.mark.django_db, filesystem_only]
NAME = "acme/discovery"


@pytest.fixture
def repo(as_owner) -> Session:
    return Session(as_owner, NAME)


def tags(response) -> list[str]:
    return json.loads(response.payload)["tags"]


def next_link(response) -> str | None:
    """The target of an RFC 5988 `Link: <url>; rel="next"` header, or None."""
    header = response.get("Link")
    if header is None:
        return None
    target, _, params = header.partition(";")
    assert target.strip().startswith("<") and target.strip().endswith(">"), header
    assert params.strip() == 'rel="next"', header
    return target.strip()[1:-1]


def tag_all(session: Session, names: list[str]) -> None:
    manifest = image(session)
    for name in names:
        session.push(manifest, tag=name)


# --- Listing tags -------------------------------------------------------------------------------


class TestListingTags:
    def test_format(self, repo):
        """ "Assuming a repository is found, this request MUST return a `200 OK` response
        code"; "Upon success, the response MUST be a json body in the following format"
        `{"name": "<name>", "tags": [...]}`."""
        tag_all(repo, ["v2", "v1"])
        response = repo.request("GET", "tags/list")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert json.loads(response.payload) == {"name": NAME, "tags": ["v1", "v2"]}

    def test_an_untagged_repository_lists_no_tags(self, repo):
        """ "The list of tags MAY be empty if there are no tags on the repository"."""
        repo.push(image(repo))  # by digest only
        response = repo.request("GET", "tags/list")
        assert response.status_code == 200 and tags(response) == []

    def test_an_unknown_repository_is_404(self, as_owner):
        """end-8a failure "404" (conformance2 "tag list" of an empty repository accepts 200
        or 404): NAME_UNKNOWN."""
        response = Session(as_owner, "acme/nothing").request("GET", "tags/list")
        assert response.status_code == 404 and codes(response) == ["NAME_UNKNOWN"]

    def test_order(self, repo):
        """ "If the list is not empty, the tags MUST be in lexical (i.e. case-insensitive
        alphanumeric order) or "ASCIIbetical" (Go's `sort.Strings`) order"."""
        names = ["b", "a_b", "B", "a.b", "a-b", "A", "a", "a1", "Z9", "_x", "0"]
        tag_all(repo, names)
        assert tags(repo.request("GET", "tags/list")) == sorted(names)  # bytewise: Go's order

    def test_order_does_not_depend_on_the_database_collation(self, repo):
        """The same "ASCIIbetical" order, and pages that continue it, when the database
        sorts text by a natural-language collation (PostgreSQL with ICU `en`)."""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    'ALTER TABLE registry_tag ALTER COLUMN name TYPE varchar(128) COLLATE "en-x-icu"'
                )
        names = ["b", "a_b", "B", "a.b", "a-b", "A", "a", "a1", "ab", "a-c"]
        tag_all(repo, names)
        assert tags(repo.request("GET", "tags/list")) == sorted(names)
        got, url = [], f"/v2/{NAME}/tags/list?n=3"
        while url:
            page = repo.request("GET", url)
            got += tags(page)
            url = next_link(page)
        assert got == sorted(names)

    def test_n_limits_the_page(self, repo):
        """ "The response to such a request MAY return fewer than `<int>` results, but only
        when the total number of tags ... is less than `<int>` or a `Link` header is
        provided. Otherwise, the response MUST include `<int>` results"."""
        names = [f"t{i:02d}" for i in range(7)]
        tag_all(repo, names)
        for n in range(1, 10):
            response = repo.request("GET", f"tags/list?n={n}")
            assert response.status_code == 200
            assert tags(response) == names[: min(n, 7)], n
            assert (next_link(response) is not None) == (n < 7), n

    def test_link_header(self, repo):
        """ "A `Link` header MAY be included in the response when additional tags are
        available. If included, the `Link` header MUST be set according to RFC5988 with the
        Relation Type `rel="next"`": following it walks the whole list once."""
        names = [f"t{i:02d}" for i in range(7)]
        tag_all(repo, names)
        got, url, pages = [], f"/v2/{NAME}/tags/list?n=3", 0
        while url:
            page = repo.request("GET", url)
            assert page.status_code == 200
            got += tags(page)
            pages += 1
            url = next_link(page)
            if url:
                assert urlsplit(url).path == f"/v2/{NAME}/tags/list"
        assert got == names and pages == 3

    def test_n_zero(self, repo):
        """ "When `n` is zero, this endpoint MUST return an empty list, and MUST NOT include
        a `Link` header"."""
        tag_all(repo, ["a", "b"])
        response = repo.request("GET", "tags/list?n=0")
        assert response.status_code == 200 and tags(response) == []
        assert "Link" not in response

    def test_last(self, repo):
        """ "`<tagname>` will not be included in the results, but up to `<int>` tags *after*
        `<tagname>` will be returned"; "When using the `last` query parameter, the `n`
        parameter is OPTIONAL"."""
        names = [f"t{i:02d}" for i in range(7)]
        tag_all(repo, names)
        assert tags(repo.request("GET", "tags/list?n=2&last=t02")) == ["t03", "t04"]
        assert tags(repo.request("GET", "tags/list?last=t04")) == ["t05", "t06"]
        assert tags(repo.request("GET", "tags/list?last=t06")) == []
        # a `last` that is not itself a tag still continues in order after it
        assert tags(repo.request("GET", "tags/list?n=2&last=t025")) == ["t03", "t04"]

    def test_last_is_a_tag_not_an_index(self, repo):
        """ "`<tagname>` MUST NOT be a numerical index, but rather it MUST be a proper tag":
        `last=2` means after the tag `2`, not after the second tag."""
        tag_all(repo, ["1", "10", "2", "3", "a"])
        assert tags(repo.request("GET", "tags/list?last=2")) == ["3", "a"]

    def test_link_keeps_n_and_last(self, repo):
        """The `Link` target is the next page: its `n` is the page size and its `last` the
        last tag returned (`/v2/<name>/tags/list?n=<int>&last=<tagname>`, end-8b)."""
        tag_all(repo, ["a", "b", "c"])
        link = next_link(repo.request("GET", "tags/list?n=2"))
        assert link is not None
        assert parse_qs(urlsplit(link).query) == {"n": ["2"], "last": ["b"]}


# --- Listing referrers ----------------------------------------------------------------------------


def referrers(session: Session, subject: str, query: str = "") -> tuple[object, dict]:
    response = session.request("GET", f"referrers/{subject}{query}")
    return response, json.loads(response.payload) if response.status_code == 200 else {}


class TestListingReferrers:
    def test_an_image_index_of_descriptors(self, repo):
        """ "Upon success, the response MUST be a JSON body with an image index containing a
        list of descriptors"; "The `Content-Type` header MUST be set to
        `application/vnd.oci.image.index.v1+json`"; each descriptor is "of an image manifest
        or index in the same `<name>` namespace with a `subject` field that specifies the
        value of `<digest>`"."""
        subject = image(repo, author="subject")
        repo.push(subject, tag="v1")
        sbom = artifact(repo, subject=subject.descriptor(), payload=b"sbom")
        repo.push(sbom)
        unrelated = artifact(repo, subject=None, payload=b"unrelated")
        repo.push(unrelated)
        response, body = referrers(repo, subject.digest)
        assert response.status_code == 200
        assert response["Content-Type"] == mediatypes.OCI_INDEX
        assert body["schemaVersion"] == 2 and body["mediaType"] == mediatypes.OCI_INDEX
        assert body["manifests"] == [
            {
                "mediaType": mediatypes.OCI_MANIFEST,
                "digest": sbom.digest,
                "size": len(sbom.body),
                "artifactType": "application/vnd.example.sbom",
            }
        ]

    def test_artifact_type_and_annotations(self, repo):
        """ "The descriptors MUST include an `artifactType` field that is set to the value of
        the `artifactType` in the image manifest or index, if present"; "If the
        `artifactType` is empty or missing in the image manifest, the value of
        `artifactType` MUST be set to the config descriptor `mediaType` value"; "If the
        `artifactType` is empty or missing in an index, the `artifactType` MUST be omitted";
        "The descriptors MUST include annotations from the image manifest or index"."""
        subject = image(repo, author="subject")
        repo.push(subject)
        notes = {"org.opencontainers.image.created": "2022-01-01T14:42:55Z"}
        with_type = artifact(repo, subject=subject.descriptor(), payload=b"a", annotations=notes)
        config = b"NHL Peanut Butter on my NHL bagel"
        repo.push_blob(config)
        by_config = artifact(
            repo,
            subject=subject.descriptor(),
            artifact_type=None,
            payload=b"b",
            config=blob_descriptor("application/vnd.nhl.peanut.butter.bagel", config),
            annotations={"k": "config"},
        )
        empty_type = Pushed.of(
            {**json.loads(by_config.body), "artifactType": "", "annotations": {"k": "empty"}}
        )
        child = image(repo, author="child")
        repo.push(child)
        typed_index = index(
            [child],
            subject=subject.descriptor(),
            artifactType="application/vnd.food.stand",
            annotations={"k": "i"},
        )
        plain_index = index([child], subject=subject.descriptor(), annotations={"k": "plain"})
        for manifest in [with_type, by_config, empty_type, typed_index, plain_index]:
            repo.push(manifest)
        _, body = referrers(repo, subject.digest)
        found = {m["digest"]: m for m in body["manifests"]}
        assert found[with_type.digest]["artifactType"] == "application/vnd.example.sbom"
        assert found[with_type.digest]["annotations"] == notes
        for config_typed in [by_config, empty_type]:
            assert found[config_typed.digest]["artifactType"] == (
                "application/vnd.nhl.peanut.butter.bagel"
            )
        assert found[empty_type.digest]["annotations"] == {"k": "empty"}
        assert found[typed_index.digest]["artifactType"] == "application/vnd.food.stand"
        assert found[typed_index.digest]["mediaType"] == mediatypes.OCI_INDEX
        assert "artifactType" not in found[plain_index.digest]
        assert found[plain_index.digest]["annotations"] == {"k": "plain"}
        for manifest in [with_type, by_config, empty_type, typed_index, plain_index]:
            assert found[manifest.digest]["size"] == len(manifest.body)
            assert found[manifest.digest]["mediaType"] == manifest.media_type

    def test_images_and_indexes_as_subjects_and_referrers(self, repo):
        """conformance2 "Artifacts with Subject" and "Index with Subject": a plain image with
        a subject is listed with its config's media type as `artifactType`; an index can be
        a subject, and an index with a subject is listed as an index."""
        children = [image(repo, author=f"c{i}") for i in range(2)]
        for child in children:
            repo.push(child)
        subject_index = index(children)
        repo.push(subject_index, tag="index")
        plain = image(repo, author="plain", subject=subject_index.descriptor())
        bundle = index(
            children,
            subject=subject_index.descriptor(),
            artifactType="application/vnd.example.oci.conformance",
            annotations={"org.opencontainers.conformance": "hello conformance test"},
        )
        for manifest in [plain, bundle]:
            assert repo.push(manifest)["OCI-Subject"] == subject_index.digest
        _, body = referrers(repo, subject_index.digest)
        found = {m["digest"]: m for m in body["manifests"]}
        assert found[plain.digest]["artifactType"] == mediatypes.OCI_CONFIG
        assert found[plain.digest]["mediaType"] == mediatypes.OCI_MANIFEST
        assert found[bundle.digest] == {
            "mediaType": mediatypes.OCI_INDEX,
            "digest": bundle.digest,
            "size": len(bundle.body),
            "artifactType": "application/vnd.example.oci.conformance",
            "annotations": {"org.opencontainers.conformance": "hello conformance test"},
        }

    def test_no_referrers_is_an_empty_list_never_404(self, repo, as_owner):
        """ "If a query results in no matching referrers, an empty manifest list MUST be
        returned"; "If the registry supports the referrers API, the registry MUST NOT return
        a `404 Not Found` to a referrers API requests" (nor for a repository not yet
        pushed to: conformance2 "empty ... referrers")."""
        repo.push(image(repo))
        for session in [repo, Session(as_owner, "acme/not-yet")]:
            response, body = referrers(session, sha256(b"no such subject"))
            assert response.status_code == 200
            assert response["Content-Type"] == mediatypes.OCI_INDEX
            assert body == {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": []}

    def test_invalid_digest_is_400(self, repo):
        """ "If the request is invalid, such as a `<digest>` with an invalid syntax, a `400
        Bad Request` MUST be returned"."""
        for bad in ["sha256:abc", "nonsense", "sha256:" + "A" * 64, "md5:" + "0" * 32]:
            response = repo.request("GET", f"referrers/{bad}")
            assert response.status_code == 400, bad
            assert codes(response) == ["DIGEST_INVALID"]

    def test_filtering(self, repo):
        """ "The registry SHOULD support filtering on `artifactType`"; "If filtering is
        requested and applied, the response MUST include a header `OCI-Filters-Applied:
        artifactType`"."""
        subject = image(repo, author="subject")
        repo.push(subject)
        kinds = ["application/vnd.example.sbom", "application/vnd.example.signature"]
        pushed = {}
        for kind in kinds:
            referrer = artifact(
                repo, subject=subject.descriptor(), artifact_type=kind, payload=kind.encode()
            )
            repo.push(referrer)
            pushed[kind] = referrer.digest
        unfiltered, _ = referrers(repo, subject.digest)
        assert "OCI-Filters-Applied" not in unfiltered
        for kind in kinds:
            response, body = referrers(repo, subject.digest, f"?artifactType={kind}")
            assert response["OCI-Filters-Applied"] == "artifactType"
            assert [m["digest"] for m in body["manifests"]] == [pushed[kind]]
        response, body = referrers(repo, subject.digest, "?artifactType=application/x-none")
        assert response.status_code == 200 and body["manifests"] == []
        assert response["OCI-Filters-Applied"] == "artifactType"

    def test_only_the_same_repository(self, repo, as_owner):
        """ "Each descriptor is of an image manifest or index in the same `<name>`
        namespace"."""
        subject = image(repo)
        repo.push(subject)
        other = Session(as_owner, "acme/other")
        foreign = artifact(other, subject=subject.descriptor())
        other.push(foreign)
        _, here = referrers(repo, subject.digest)
        _, there = referrers(other, subject.digest)
        assert here["manifests"] == []
        assert [m["digest"] for m in there["manifests"]] == [foreign.digest]

    def test_missing_subject_is_listed(self, repo):
        """conformance "GET request to missing manifest should yield 200": the referrers of a
        subject that was never pushed are listed."""
        subject = {"mediaType": mediatypes.OCI_MANIFEST, "digest": sha256(b"missing"), "size": 9}
        referrer = artifact(repo, subject=subject)
        repo.push(referrer)
        response, body = referrers(repo, subject["digest"])
        assert response.status_code == 200
        assert [m["digest"] for m in body["manifests"]] == [referrer.digest]

    def test_deleted_referrers_leave_the_list(self, repo):
        """A referrers list shows manifests that exist: deleting a referrer by digest removes
        it ("Once deleted, a `GET` to `/v2/<name>/manifests/<digest>` ... will return a
        404")."""
        subject = image(repo)
        repo.push(subject)
        referrer = artifact(repo, subject=subject.descriptor())
        repo.push(referrer)
        assert repo.request("DELETE", f"manifests/{referrer.digest}").status_code == 202
        _, body = referrers(repo, subject.digest)
        assert body["manifests"] == []

    def test_a_single_page_needs_no_link(self, repo):
        """ "A `Link` header MUST be included in the response when the descriptor list cannot
        be returned in a single manifest": Portside returns the whole list in one page."""
        subject = image(repo)
        repo.push(subject)
        for i in range(30):
            repo.push(artifact(repo, subject=subject.descriptor(), payload=f"r{i}".encode()))
        response, body = referrers(repo, subject.digest)
        assert len(body["manifests"]) == 30 and "Link" not in response


class TestEnablingTheReferrersAPI:
    def test_referrers_of_the_tag_schema_are_listed(self, repo):
        """ "Registries MUST include preexisting image manifests that are listed in an image
        index tagged with the referrers tag schema and have a valid `subject` field in the
        referrers API response"; "Registries MUST include all newly pushed image manifests
        with a valid `subject` field"."""
        subject = image(repo)
        repo.push(subject)
        referrer = artifact(repo, subject=subject.descriptor())
        repo.push(referrer)
        # a client without the referrers API also maintains the fallback tag
        fallback = Pushed.of(
            {
                "schemaVersion": 2,
                "mediaType": mediatypes.OCI_INDEX,
                "manifests": [referrer.descriptor(artifactType="application/vnd.example.sbom")],
            }
        )
        repo.push(fallback, tag=subject.digest.replace(":", "-"))
        _, body = referrers(repo, subject.digest)
        assert [m["digest"] for m in body["manifests"]] == [referrer.digest]
