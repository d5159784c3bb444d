"""What the OCI distribution-spec tests (``test_spec_*.py``) share: a caller bound to one
repository that obtains its tokens the way the conformance suite's client does, readers for
responses, and builders for the manifests the specification and the suite push.

Everything goes through the real ``/v2/`` URLs with Django's test client, as in
``test_protocol.py``; tokens come from the real ``/auth/token`` endpoint, asked for with the
scope of the registry's own 401 challenges.
"""

from __future__ import annotations

import base64
import enum
import gzip
import hashlib
import io
import json
import re
import secrets
import tarfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from portside.oci import mediatypes
from tests.registry.helpers import Registry

OCTET = "application/octet-stream"
UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
# distribution-spec, "Error Codes": the code field MUST be one of these.
SPEC_ERROR_CODES = frozenset(
    {
        "BLOB_UNKNOWN",
        "BLOB_UPLOAD_INVALID",
        "BLOB_UPLOAD_UNKNOWN",
        "DIGEST_INVALID",
        "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID",
        "MANIFEST_UNKNOWN",
        "NAME_INVALID",
        "NAME_UNKNOWN",
        "SIZE_INVALID",
        "UNAUTHORIZED",
        "DENIED",
        "UNSUPPORTED",
        "TOOMANYREQUESTS",
    }
)
# "Legacy Docker support error codes": OPTIONAL codes a client MAY encounter.
LEGACY_ERROR_CODES = frozenset({"TAG_INVALID", "MANIFEST_UNVERIFIED"})

# Metadata checks do not depend on where blob bytes live: run them on the default store
# only (the autouse ``blob_store`` fixture of conftest.py is parametrised over both).
filesystem_only = pytest.mark.parametrize("blob_store", ["filesystem"], indirect=True)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return sha512(data) if algorithm == "sha512" else sha256(data)


def codes(response: Any) -> list[str]:
    return [error["code"] for error in json.loads(response.content)["errors"]]


def encode(document: dict[str, Any]) -> bytes:
    """Go's json.MarshalIndent style, as the conformance suite sends manifests."""
    return json.dumps(document, indent="\t").encode()


# The conformance suite's client keys the tokens it keeps by repository and request kind,
# the repository taken from the path with the name grammar (api.go's authCacheKey).
_NAME = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
_REPOSITORY_IN_PATH = re.compile(
    rf"/v2/({_NAME})(?:/(?:blobs|manifests|tags|referrers)/[^/]+|/blobs/uploads/[^/]*)"
)
_AUTH_TYPE = re.compile(r"(?i).*(bearer|basic).*")
_AUTH_PARAM = re.compile(r'([a-zA-Z]+)="(.+?)"')
_KINDS = {"GET": "pull", "HEAD": "pull", "POST": "push", "PATCH": "push", "PUT": "push"}
_TOKENS: weakref.WeakKeyDictionary[Registry, dict[tuple[str, str], str]] = (
    weakref.WeakKeyDictionary()
)


def token_key(method: str, url: str) -> tuple[str, str]:
    """(repository, request kind): GET and HEAD share the pull token, POST, PATCH and PUT
    the push token, and DELETE has its own."""
    path = url.split("?", 1)[0]
    repository = ""
    if path != "/v2/":
        found = _REPOSITORY_IN_PATH.search(path)
        repository = found[1] if found else path
    return repository, _KINDS.get(method, method)


def parse_challenge(header: str) -> dict[str, str]:
    """A ``WWW-Authenticate`` header read as the suite reads it: the type, and the
    ``realm``, ``service`` and ``scope`` parameters of a Bearer challenge."""
    kind = _AUTH_TYPE.sub(r"\1", header).lower()
    found = {"type": kind}
    if kind == "bearer":
        for key, value in _AUTH_PARAM.findall(header):
            if key.lower() in ("realm", "service", "scope", "error"):
                found[key.lower()] = value
    return found


class Session:
    """One caller on one repository, asking for tokens as the conformance suite's client
    does (api.go): a request goes out with the token kept for its repository and kind, or
    none; a 401 is answered by asking the token endpoint (with the caller's credentials) for
    exactly the scope its challenge names, keeping that token for the repository and kind,
    and sending the request once more. Sessions of one caller share the kept tokens."""

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry = registry
        self.client = registry.client
        self.name = name
        self.tokens = _TOKENS.setdefault(registry, {})
        self.token_requests: list[str] = []  # the scope of every token asked for

    def url(self, path: str) -> str:
        return path if path.startswith("/") else f"/v2/{self.name}/{path}"

    def token(self, kind: str = "pull", repository: str | None = None) -> str:
        """The bearer token kept for ``kind`` requests to ``repository`` (this one)."""
        return self.tokens[(self.name if repository is None else repository, kind)].split()[-1]

    def _send(self, method: str, url: str, data: bytes | None, content_type: str, **headers: Any):
        stream = headers.get("wsgi.input")
        if isinstance(stream, io.BytesIO):  # the body is sent again after a challenge
            headers["wsgi.input"] = io.BytesIO(stream.getvalue())
        send = getattr(self.client, method.lower())
        if method in ("POST", "PUT", "PATCH"):
            return send(url, data=data or b"", content_type=content_type, **headers)
        return send(url, **headers)

    def _answer(self, challenge: dict[str, str]) -> str | None:
        """The Authorization value for a challenge, from the token endpoint; None when it
        will not give one."""
        if challenge.get("type") != "bearer" or "realm" not in challenge:
            return None
        realm = challenge["realm"].removeprefix("http://testserver")
        query = {"service": challenge.get("service", "")}
        if challenge.get("scope"):
            query["scope"] = challenge["scope"]
        headers = {"HTTP_ACCEPT": "application/json"}
        if self.registry.login is not None:
            raw = f"{self.registry.login}:{self.registry.secret}".encode()
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(raw).decode()
        self.token_requests.append(challenge.get("scope", ""))
        answer = self.client.get(realm, query, **headers)
        if answer.status_code != 200:
            return None
        body = answer.json()
        return f"Bearer {body.get('access_token') or body['token']}"

    def request(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        content_type: str = OCTET,
        **headers: Any,
    ) -> Any:
        """Send a request; a streamed answer is read whole into ``payload`` (so every file
        the response holds is closed), any other answer's body is in ``payload`` too."""
        url = self.url(path)
        key = token_key(method, url)
        if key in self.tokens:
            headers["HTTP_AUTHORIZATION"] = self.tokens[key]
        response = self._send(method, url, data, content_type, **headers)
        if response.status_code == 401:
            auth = self._answer(parse_challenge(response.get("WWW-Authenticate", "")))
            if auth is not None:
                self.tokens[key] = auth
                headers["HTTP_AUTHORIZATION"] = auth
                response = self._send(method, url, data, content_type, **headers)
        if response.streaming:
            response.payload = b"".join(response.streaming_content)
        else:
            response.payload = response.content
        return response

    # --- blobs ------------------------------------------------------------------------
    def push_blob(self, data: bytes, algorithm: str = "sha256") -> str:
        """A monolithic POST then PUT, the upload every client supports."""
        digest = digest_of(data, algorithm)
        start = self.request("POST", "blobs/uploads/")
        assert start.status_code == 202, start.content
        done = self.request("PUT", f"{start['Location']}?digest={digest}", data)
        assert done.status_code == 201, done.content
        return digest

    def has_blob(self, digest: str) -> bool:
        return self.request("HEAD", f"blobs/{digest}").status_code == 200

    # --- manifests --------------------------------------------------------------------
    def put_manifest(
        self, reference: str, body: bytes, media_type: str = mediatypes.OCI_MANIFEST
    ) -> Any:
        return self.request("PUT", f"manifests/{reference}", body, content_type=media_type)

    def push(self, manifest: Pushed, *, tag: str | None = None) -> Any:
        """Push ``manifest`` by tag (when given) or by its digest; assert 201."""
        response = self.put_manifest(tag or manifest.digest, manifest.body, manifest.media_type)
        assert response.status_code == 201, response.content
        return response


@dataclass(frozen=True)
class Pushed:
    """A manifest's exact bytes, their media type and digest, and its descriptor."""

    body: bytes
    media_type: str
    digest: str

    @classmethod
    def of(cls, document: dict[str, Any], algorithm: str = "sha256") -> Pushed:
        body = encode(document)
        media_type = document.get("mediaType", mediatypes.OCI_MANIFEST)
        return cls(body, media_type, digest_of(body, algorithm))

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.body),
            **extra,
        }


def blob_descriptor(media_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **extra}


EMPTY_JSON = b"{}"
EMPTY_DESCRIPTOR = blob_descriptor(mediatypes.OCI_EMPTY, EMPTY_JSON)


def config_blob(author: str) -> bytes:
    return encode(
        {
            "architecture": "amd64",
            "os": "linux",
            "author": author,
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    )


def image(
    session: Session,
    *,
    author: str = "spec",
    layers: list[bytes] | None = None,
    layer_type: str = mediatypes.OCI_LAYER_GZIP,
    push_blobs: bool = True,
    **fields: Any,
) -> Pushed:
    """An image manifest whose config and layers are pushed first (unless ``push_blobs``
    is false); ``fields`` are added to (or replace) the manifest's own fields."""
    config = config_blob(author)
    layers = [b"layer of " + author.encode()] if layers is None else layers
    if push_blobs:
        for blob in [config, *layers]:
            session.push_blob(blob)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": blob_descriptor(mediatypes.OCI_CONFIG, config),
        "layers": [blob_descriptor(layer_type, layer) for layer in layers],
        **fields,
    }
    return Pushed.of(document)


def artifact(
    session: Session,
    *,
    subject: dict[str, Any] | None,
    artifact_type: str | None = "application/vnd.example.sbom",
    payload: bytes = b"artifact payload",
    config: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
) -> Pushed:
    """An artifact manifest (the empty config unless ``config`` is given) with one layer."""
    session.push_blob(EMPTY_JSON)
    session.push_blob(payload)
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config or EMPTY_DESCRIPTOR,
        "layers": [blob_descriptor(artifact_type or "application/octet-stream", payload)],
    }
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if subject is not None:
        document["subject"] = subject
    if annotations:
        document["annotations"] = annotations
    return Pushed.of(document)


def index(manifests: list[Pushed], **fields: Any) -> Pushed:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [
            m.descriptor(platform={"architecture": "amd64", "os": "linux"})
            if m.media_type in mediatypes.IMAGE_TYPES
            else m.descriptor()
            for m in manifests
        ],
        **fields,
    }
    return Pushed.of(document)


# --- the conformance suite's test data (testdata.go, re-made) -------------------------------

CONFORMANCE_TYPE_1 = "application/vnd.example.oci.conformance.v1"
CONFORMANCE_TYPE_2 = "application/vnd.example.oci.conformance.v2"
AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux"}


def random_text() -> str:
    """26 random base32 characters, like the suite's ``rand.Text()``."""
    return base64.b32encode(secrets.token_bytes(16)).decode()[:26]


def compact(document: dict[str, Any]) -> bytes:
    """Go's json.Marshal: no spaces."""
    return json.dumps(document, separators=(",", ":")).encode()


@dataclass
class SuiteData:
    """One data set of the suite (its ``testData``): blobs and manifests with their
    descriptors, the manifests in push order, the tags, and the referrers each subject must
    list. The generators take the suite's options as keyword arguments and pass them on
    the way its ``gen*`` functions do (an index hands its options to the images in it)."""

    name: str
    tags: dict[str, str] = field(default_factory=dict)
    tag_pushed: set[str] = field(default_factory=set)
    desc: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    referrers: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skip_pull: set[str] = field(default_factory=set)
    bad_digest: set[str] = field(default_factory=set)

    def _descriptor(self, media_type: str, data: bytes, algo: str, set_data: bool) -> str:
        digest = digest_of(data, algo)
        self.desc[digest] = {"mediaType": media_type, "digest": digest, "size": len(data)}
        if set_data:
            self.desc[digest]["data"] = base64.b64encode(data).decode()
        return digest

    def add_blob(self, data: bytes, **opts: Any) -> str:
        media_type = opts.get("descriptor_media_type", OCTET)
        digest = self._descriptor(
            media_type, data, opts.get("algo", "sha256"), opts.get("set_data", False)
        )
        self.blobs[digest] = data
        return digest

    def gen_blob(self, **opts: Any) -> tuple[str, bytes]:
        data = secrets.token_bytes(opts.get("blob_size", 2048))
        return self.add_blob(data, **opts), data

    def gen_layer(self, number: int, **opts: Any) -> tuple[str, str]:
        """A tar layer with one file (gzip unless ``gzip=False``): (its digest, the diff_id
        the suite gives it). The suite's diff_id is the digest of no bytes at all, whatever
        the layer holds, so two images of one platform and layer count have byte-identical
        configs: one blob that both manifests of a data set reference (two in "Nested
        Index", one in "Artifacts with Subject"), pushed, read and deleted once."""
        algo, set_data = opts.get("algo", "sha256"), opts.get("set_data", False)
        content = (
            f"Conformance test file contents for file number {number}.\n"
            f"Todays lucky number is {secrets.randbelow(2**63)}\n"
        ).encode()
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo(f"./conformance-{number}.txt")
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
        tar_bytes = raw.getvalue()
        if opts.get("gzip", True):
            body, media_type = gzip.compress(tar_bytes, mtime=0), mediatypes.OCI_LAYER_GZIP
        else:
            body, media_type = tar_bytes, mediatypes.OCI_LAYER
        digest = self._descriptor(media_type, body, algo, set_data)
        self.blobs[digest] = body
        return digest, digest_of(b"", algo)

    def gen_config(self, diff_ids: list[str], **opts: Any) -> str:
        """An image config for ``opts["platform"]`` (amd64 by default)."""
        config: dict[str, Any] = {
            "author": "OCI Conformance Test",
            **opts.get("platform", AMD64),
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if opts.get("extra_field"):
            config[f"org.{random_text()}"] = random_text()
        body = compact(config)
        media_type = opts.get("config_media_type") or mediatypes.OCI_CONFIG
        digest = self._descriptor(
            media_type, body, opts.get("algo", "sha256"), opts.get("set_data", False)
        )
        self.blobs[digest] = body
        return digest

    def _annotations(self, opts: dict[str, Any]) -> dict[str, str] | None:
        annotations = dict(opts["annotations"]) if opts.get("annotations") else None
        if opts.get("annotation_uniq"):
            annotations = {**(annotations or {}), f"org.example.{random_text()}": random_text()}
        return annotations

    def _record(
        self,
        document: dict[str, Any],
        opts: dict[str, Any],
        artifact_type: str,
    ) -> str:
        if opts.get("extra_field"):
            document[f"org.{random_text()}"] = random_text()
        body = compact(document)
        digest = self._descriptor(
            document["mediaType"], body, opts.get("algo", "sha256"), opts.get("set_data", False)
        )
        self.manifests[digest] = body
        self.order.append(digest)
        subject = opts.get("subject")
        if subject is not None:
            entry = {
                "mediaType": document["mediaType"],
                "artifactType": artifact_type,
                "digest": digest,
                "size": len(body),
                "annotations": document.get("annotations"),
            }
            self.referrers.setdefault(subject["digest"], []).append(entry)
        if opts.get("tag"):
            self.tags[opts["tag"]] = digest
        return digest

    def gen_manifest(
        self, config: dict[str, Any], layers: list[dict[str, Any]], **opts: Any
    ) -> str:
        document: dict[str, Any] = {"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST}
        if opts.get("artifact_type"):
            document["artifactType"] = opts["artifact_type"]
        document["config"], document["layers"] = config, layers
        if opts.get("subject") is not None:
            document["subject"] = opts["subject"]
        annotations = self._annotations(opts)
        if annotations:
            document["annotations"] = annotations
        return self._record(document, opts, opts.get("artifact_type") or config["mediaType"])

    def gen_manifest_full(self, **opts: Any) -> str:
        """An image (or artifact) with its layers and config."""
        settings = {"layer_count": 2, "platform": AMD64, **opts}
        compressed, uncompressed = [], []
        for number in range(settings["layer_count"]):
            layer_type = settings.get("layer_media_type") or ""
            if not layer_type or layer_type.startswith("application/vnd.oci.image.layer.v1."):
                digest, diff_id = self.gen_layer(number, **opts)
            else:
                layer_opts = {"descriptor_media_type": layer_type, **opts}
                if settings.get("layer_bytes") is not None:
                    digest = self.add_blob(settings["layer_bytes"], **layer_opts)
                else:
                    digest, _ = self.gen_blob(**layer_opts)
                diff_id = digest
            compressed.append(digest)
            uncompressed.append(diff_id)
        config_type = settings.get("config_media_type") or ""
        if not config_type or config_type == mediatypes.OCI_CONFIG:
            config = self.gen_config(uncompressed, **settings)
        else:
            config = self.add_blob(
                settings.get("config_bytes") or b"",
                **{**opts, "descriptor_media_type": config_type},
            )
        layers = [dict(self.desc[d]) for d in compressed]
        return self.gen_manifest(dict(self.desc[config]), layers, **opts)

    def gen_index(
        self, each_platform: list[dict[str, str] | None], manifests: list[str], **opts: Any
    ) -> str:
        document: dict[str, Any] = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX}
        if opts.get("artifact_type"):
            document["artifactType"] = opts["artifact_type"]
        entries = []
        for platform, digest in zip(each_platform, manifests, strict=True):
            entry = dict(self.desc[digest])
            if platform is not None:
                entry["platform"] = platform
            entries.append(entry)
        document["manifests"] = entries
        if opts.get("subject") is not None:
            document["subject"] = opts["subject"]
        annotations = self._annotations(opts)
        if annotations:
            document["annotations"] = annotations
        return self._record(document, opts, opts.get("artifact_type") or "")

    def gen_index_full(self, **opts: Any) -> str:
        """An index of one image per platform (amd64 and arm64 unless ``platforms``); the
        options go to every image as well as to the index."""
        platforms = opts.get("platforms", [AMD64, ARM64])
        images = [self.gen_manifest_full(**{"platform": p, **opts}) for p in platforms]
        return self.gen_index(platforms, images, **opts)


# --- the suite's report (results.go, state.go) ----------------------------------------------


class Status(enum.IntEnum):
    """The suite's statuses; a result only ever moves to a higher one."""

    UNKNOWN = 0
    DISABLED = 1
    SKIP = 2
    PASS = 3
    FAIL = 4


class Unsupported(Exception):
    """The registry answered with an alternative the specification allows (the suite then
    reports the API as skipped, not failed)."""


API_NAMES = [
    "Tag listing",
    "Tag delete",
    "Tag delete atomic",
    "Blob upload cancel",
    "Blob push",
    "Blob post only",
    "Blob post put",
    "Blob chunked",
    "Blob streaming",
    "Blob mount",
    "Blob anonymous mount",
    "Blob get",
    "Blob get range",
    "Blob head",
    "Blob delete",
    "Blob delete atomic",
    "Manifest put by digest",
    "Manifest put by tag",
    "Manifest put with tag params",
    "Manifest put with subject",
    "Manifest get by digest",
    "Manifest get by tag",
    "Manifest head by digest",
    "Manifest head by tag",
    "Manifest delete",
    "Manifest delete atomic",
    "Referrers",
    "Ping",
]


# The data sets the suite lists as Disabled with the 1.1 defaults.
DISABLED_DATA = ("Sparse Manifests", "Tag Param", "Tag Param sha512")


@dataclass
class Report:
    """The suite's summary: a status per API and per data set, and what failed."""

    apis: dict[str, Status] = field(default_factory=dict)
    data: dict[str, Status] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Disabled by the 1.1 configuration: pushing with tag parameters, and the data sets
        # that need it or that only a registry accepting sparse manifests passes.
        self.apis["Manifest put with tag params"] = Status.DISABLED
        for data in DISABLED_DATA:
            self.data[data] = Status.DISABLED

    def mark(self, status: Status, data: str | None, apis: tuple[str, ...]) -> None:
        for api in apis:
            self.apis[api] = max(self.apis.get(api, Status.UNKNOWN), status)
        if data is not None:
            self.data[data] = max(self.data.get(data, Status.UNKNOWN), status)

    def check(
        self,
        name: str,
        data: str | None,
        apis: tuple[str, ...],
        fn: Callable[..., Any],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> Status:
        """Run one of the suite's checks, ``fn(*args, **kwargs)``: Pass, Skip for a
        permitted alternative, FAIL for a failed assertion (recorded with its name, and the
        run goes on)."""
        try:
            fn(*args, **kwargs)
        except Unsupported:
            self.mark(Status.SKIP, data, apis)
            return Status.SKIP
        except AssertionError as exc:
            self.mark(Status.FAIL, data, apis)
            self.failures.append(f"{name}: {exc}")
            return Status.FAIL
        self.mark(Status.PASS, data, apis)
        return Status.PASS


# --- the suite's data sets (run.go's GenerateData) -------------------------------------------


def generate_data() -> list[SuiteData]:
    """The suite's data sets (GenerateData with the 1.1 defaults), in its order."""
    sets = []

    def new(name: str) -> SuiteData:
        sets.append(SuiteData(name))
        return sets[-1]

    new("Image").gen_manifest_full(tag="image")
    new("Image Uncompressed").gen_manifest_full(tag="image-uncompressed", gzip=False)
    large = {f"large-annotation-{i}": "A" * 10000 for i in range(390)}
    new("Image with Large Manifest").gen_manifest_full(tag="large-manifest", annotations=large)
    new("Index").gen_index_full(tag="index", platforms=[AMD64, ARM64])
    nested = new("Nested Index")
    children = [nested.gen_index_full(platforms=[AMD64, ARM64]) for _ in range(2)]
    nested.gen_index([None, None], children, tag="index-of-index")
    new("Empty Index").gen_index_full(tag="index", platforms=[])
    artifact = {
        "artifact_type": CONFORMANCE_TYPE_1,
        "config_media_type": mediatypes.OCI_EMPTY,
        "config_bytes": b"{}",
        "layer_count": 1,
        "layer_media_type": CONFORMANCE_TYPE_1,
    }
    new("Artifact").gen_manifest_full(tag="artifact", **artifact)
    new("Artifact Index").gen_index_full(tag="artifact-index", platforms=[AMD64, ARM64], **artifact)
    new("Artifact without Layers").gen_manifest_full(
        tag="artifact-without-layers",
        **{**artifact, "layer_bytes": b"{}", "layer_media_type": mediatypes.OCI_EMPTY},
    )
    hello = {"org.opencontainers.conformance": "hello conformance test"}
    with_subject = new("Artifacts with Subject")
    subject = with_subject.desc[with_subject.gen_manifest_full(tag="image")]
    with_subject.gen_manifest_full(subject=subject)
    for number, (kind, layer_type) in enumerate(
        [(CONFORMANCE_TYPE_1, CONFORMANCE_TYPE_1), (CONFORMANCE_TYPE_2, OCTET)], start=1
    ):
        with_subject.gen_manifest_full(
            **{**artifact, "artifact_type": kind, "layer_media_type": layer_type},
            annotations=hello,
            annotation_uniq=True,
            subject=subject,
            tag=f"tagged-artifact{number}",
        )
    index_subject = new("Index with Subject")
    subject = index_subject.desc[index_subject.gen_index_full(tag="index")]
    index_subject.gen_index_full(
        **artifact, annotations=hello, annotation_uniq=True, subject=subject, tag="tagged-artifact"
    )
    new("Missing Subject").gen_manifest_full(
        **artifact,
        annotations=hello,
        annotation_uniq=True,
        subject={
            "mediaType": mediatypes.OCI_MANIFEST,
            "size": 123,
            "digest": sha256(b"missing content"),
        },
        tag="tagged-artifact",
    )
    new("Data Field").gen_manifest_full(tag="data-field", set_data=True)
    foreign = new("Non-distributable Layers")
    layers, diff_ids = [], []
    for media_type in [
        mediatypes.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        mediatypes.OCI_LAYER_NONDISTRIBUTABLE,
    ]:
        digest = sha256(secrets.token_bytes(256))
        layers.append(
            {
                "mediaType": media_type,
                "digest": digest,
                "size": 123456,
                "urls": [f"https://store.example.com/blobs/sha256/{digest.split(':')[1]}"],
            }
        )
        diff_ids.append(digest)
    normal, diff_id = foreign.gen_layer(1)
    layers.append(dict(foreign.desc[normal]))
    config = foreign.gen_config([*diff_ids, diff_id], platform=AMD64)
    foreign.gen_manifest(dict(foreign.desc[config]), layers, tag="non-distributable-image")
    new("Custom Fields").gen_index_full(
        tag="custom-fields", platforms=[AMD64, ARM64], extra_field=True
    )
    new("No Layers").gen_manifest_full(tag="no-layers", layer_count=0)
    new("Digest Algorithm sha512").gen_index_full(algo="sha512")
    bad = new("Bad Digest Image")
    digest = bad.gen_manifest_full()
    bad.skip_pull.add(digest)
    bad.bad_digest.add(digest)
    bad.manifests[digest] += b"  "  # the bytes no longer match the digest they are pushed by
    return sets
