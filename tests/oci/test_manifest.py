import json

import pytest

from portside.oci import mediatypes as mt
from portside.oci.digest import Digest, compute
from portside.oci.errors import ManifestInvalid, Unsupported
from portside.oci.manifest import MAX_MANIFEST_BYTES, MAX_NESTING, Descriptor, parse_manifest

EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def dig(label):
    return str(compute(label.encode()))


def desc(media_type, label, size=1234, **extra):
    return {"mediaType": media_type, "digest": dig(label), "size": size, **extra}


def encode(document):
    return json.dumps(document, indent=3).encode()


def oci_image(**overrides):
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": desc(mt.OCI_CONFIG, "config", 1469),
        "layers": [
            desc(mt.OCI_LAYER_GZIP, "layer-1", 3623807),
            desc(mt.OCI_LAYER_ZSTD, "layer-2", 2104),
        ],
        "annotations": {"org.opencontainers.image.created": "2026-01-15T10:00:00Z"},
    }
    document.update(overrides)
    return document


# --- valid manifests ------------------------------------------------------------------


def test_oci_image_manifest():
    manifest = parse_manifest(encode(oci_image()), mt.OCI_MANIFEST)
    assert manifest.media_type == mt.OCI_MANIFEST
    assert manifest.schema_version == 2
    assert not manifest.is_index
    assert not manifest.is_artifact
    assert manifest.config == Descriptor(mt.OCI_CONFIG, Digest.parse(dig("config")), 1469)
    assert [layer.size for layer in manifest.layers] == [3623807, 2104]
    assert manifest.references() == (manifest.config, *manifest.layers)
    assert manifest.manifests == ()
    assert manifest.subject is None
    assert manifest.artifact_type is None
    assert manifest.effective_artifact_type == mt.OCI_CONFIG
    assert manifest.annotations == {"org.opencontainers.image.created": "2026-01-15T10:00:00Z"}


def test_oci_index_with_platforms_and_an_attestation():
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            desc(mt.OCI_MANIFEST, "amd64", 1042, platform={"architecture": "amd64", "os": "linux"}),
            desc(
                mt.OCI_MANIFEST,
                "arm64",
                1042,
                platform={"architecture": "arm64", "os": "linux", "variant": "v8"},
            ),
            desc(
                mt.OCI_MANIFEST,
                "windows",
                1042,
                platform={
                    "architecture": "amd64",
                    "os": "windows",
                    "os.version": "10.0.20348.2227",
                    "os.features": ["win32k"],
                },
            ),
            desc(
                mt.OCI_MANIFEST,
                "attestation",
                839,
                platform={"architecture": "unknown", "os": "unknown"},
                annotations={
                    "vnd.docker.reference.digest": dig("amd64"),
                    "vnd.docker.reference.type": "attestation-manifest",
                },
            ),
        ],
    }
    manifest = parse_manifest(encode(document), f"{mt.OCI_INDEX}; charset=utf-8")
    assert manifest.is_index
    assert manifest.config is None and manifest.layers == ()
    assert manifest.references() == manifest.manifests
    assert [m.platform["architecture"] for m in manifest.manifests] == [
        "amd64",
        "arm64",
        "amd64",
        "unknown",
    ]
    assert manifest.manifests[1].platform["variant"] == "v8"
    assert manifest.manifests[3].annotations["vnd.docker.reference.type"] == "attestation-manifest"
    assert manifest.annotations == {}
    assert manifest.effective_artifact_type is None
    assert not manifest.is_artifact


def test_docker_v2_manifest_as_docker_pushes_it():
    body = (
        b'{\n   "schemaVersion": 2,\n'
        b'   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",\n'
        b'   "config": {\n'
        b'      "mediaType": "application/vnd.docker.container.image.v1+json",\n'
        b'      "size": 1472,\n'
        b'      "digest": "' + dig("docker-config").encode() + b'"\n   },\n'
        b'   "layers": [\n      {\n'
        b'         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",\n'
        b'         "size": 3408729,\n'
        b'         "digest": "' + dig("docker-layer").encode() + b'"\n      }\n   ]\n}'
    )
    manifest = parse_manifest(body, mt.DOCKER_MANIFEST)
    assert manifest.media_type == mt.DOCKER_MANIFEST
    assert manifest.config.media_type == mt.DOCKER_CONFIG
    assert manifest.layers[0].media_type == mt.DOCKER_LAYER_GZIP
    assert manifest.layers[0].size == 3408729
    assert not manifest.is_artifact


def test_docker_windows_manifest_with_foreign_layers():
    document = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": desc(mt.DOCKER_CONFIG, "win-config"),
        "layers": [
            desc(
                mt.DOCKER_FOREIGN_LAYER,
                "win-base",
                1651058428,
                urls=[f"https://mcr.microsoft.com/v2/windows/servercore/blobs/{dig('win-base')}"],
            ),
            desc(mt.DOCKER_LAYER_GZIP, "win-app"),
        ],
    }
    manifest = parse_manifest(encode(document), None)
    foreign, local = manifest.layers
    assert foreign.is_foreign and foreign.urls[0].startswith("https://mcr.microsoft.com/")
    assert not local.is_foreign and local.urls == ()


def test_docker_manifest_list():
    document = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            desc(
                mt.DOCKER_MANIFEST,
                "l-amd64",
                528,
                platform={"architecture": "amd64", "os": "linux"},
            ),
            desc(
                mt.DOCKER_MANIFEST,
                "l-arm",
                528,
                platform={"architecture": "arm", "os": "linux", "variant": "v7", "features": []},
            ),
        ],
    }
    manifest = parse_manifest(encode(document), mt.DOCKER_MANIFEST_LIST)
    assert manifest.is_index
    assert len(manifest.references()) == 2


def test_artifact_with_subject_and_artifact_type():
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": mt.OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2, "data": "e30="},
        "layers": [desc("application/spdx+json", "sbom", 48213)],
        "subject": desc(mt.OCI_MANIFEST, "the-image", 1042),
        "annotations": {"org.opencontainers.image.created": "2026-01-15T10:00:00Z"},
    }
    manifest = parse_manifest(encode(document), mt.OCI_MANIFEST)
    assert manifest.artifact_type == manifest.effective_artifact_type == "application/spdx+json"
    assert manifest.is_artifact
    assert manifest.subject == Descriptor(mt.OCI_MANIFEST, Digest.parse(dig("the-image")), 1042)
    assert manifest.subject not in manifest.references()
    assert str(manifest.config.digest) == EMPTY_DIGEST


def test_empty_config_artifact_without_layers():
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.signature.v1",
        "config": {"mediaType": mt.OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [],
        "subject": desc(mt.OCI_INDEX, "the-index", 2048),
    }
    manifest = parse_manifest(encode(document), mt.OCI_MANIFEST)
    assert manifest.layers == ()
    assert manifest.references() == (manifest.config,)
    assert manifest.subject.media_type == mt.OCI_INDEX


def test_config_media_type_is_the_artifact_type_when_none_is_given():
    document = oci_image(
        config=desc("application/vnd.cncf.helm.config.v1+json", "chart-config", 317),
        layers=[desc("application/vnd.cncf.helm.chart.content.v1.tar+gzip", "chart", 3881)],
        annotations=None,
    )
    manifest = parse_manifest(encode(document), None)
    assert manifest.artifact_type is None
    assert manifest.effective_artifact_type == "application/vnd.cncf.helm.config.v1+json"
    assert manifest.is_artifact
    assert manifest.annotations == {}


def test_index_with_artifact_type_and_subject():
    document = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "artifactType": "application/vnd.example.bundle",
        "manifests": [],
        "subject": desc(mt.OCI_MANIFEST, "base"),
    }
    manifest = parse_manifest(encode(document), None)
    assert manifest.effective_artifact_type == "application/vnd.example.bundle"
    assert manifest.is_artifact
    assert manifest.references() == ()


def test_image_without_layers_is_accepted():
    manifest = parse_manifest(encode(oci_image(layers=[])), mt.OCI_MANIFEST)
    assert manifest.layers == ()


def test_media_type_falls_back_to_the_header_then_to_the_shape():
    without = oci_image()
    del without["mediaType"]
    assert parse_manifest(encode(without), mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST
    assert parse_manifest(encode(without), "").media_type == mt.OCI_MANIFEST
    docker = dict(without, config=desc(mt.DOCKER_CONFIG, "c"))
    assert parse_manifest(encode(docker), mt.DOCKER_MANIFEST).media_type == mt.DOCKER_MANIFEST
    index = {"schemaVersion": 2, "manifests": []}
    assert parse_manifest(encode(index), None).media_type == mt.OCI_INDEX


def test_unknown_fields_are_ignored_and_descriptors_are_hashable():
    document = oci_image(extra={"anything": [1, 2, {"x": None}]})
    document["config"]["future"] = True
    manifest = parse_manifest(encode(document), None)
    assert len(set(manifest.references())) == 3


def test_exactly_the_size_limit_is_accepted():
    body = encode(oci_image())
    body += b" " * (MAX_MANIFEST_BYTES - len(body))
    assert len(body) == MAX_MANIFEST_BYTES
    assert parse_manifest(body, mt.OCI_MANIFEST).media_type == mt.OCI_MANIFEST


# --- hostile and broken input ---------------------------------------------------------


def refused(body, content_type=mt.OCI_MANIFEST, error=ManifestInvalid):
    with pytest.raises(error) as caught:
        parse_manifest(body, content_type)
    return caught.value


def test_truncated_json():
    body = encode(oci_image())
    for cut in (1, len(body) // 2, len(body) - 1):
        refused(body[:cut])


def test_one_byte_over_the_limit():
    body = encode(oci_image())
    body += b" " * (MAX_MANIFEST_BYTES + 1 - len(body))
    error = refused(body)
    assert str(MAX_MANIFEST_BYTES) in error.message
    assert error.detail == {"size": MAX_MANIFEST_BYTES + 1, "limit": MAX_MANIFEST_BYTES}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"\xff\xfe{}",
        b'{"schemaVersion": 2, "mediaType": "\xc3\x28"}',
        b"\xef\xbb\xbf" + encode(oci_image()),  # a byte order mark
        b"{'schemaVersion': 2}",
        b'{"schemaVersion": 2,}',
        encode(oci_image()) + b"{}",
    ],
)
def test_undecodable_bodies(body):
    refused(body)


@pytest.mark.parametrize("body", [b"[]", b"2", b'"manifest"', b"null", b"true"])
def test_non_object_bodies(body):
    refused(body)


def test_duplicate_keys_at_top_level_and_nested():
    body = encode(oci_image()).replace(b'"schemaVersion": 2,', b'"schemaVersion": 2, "layers": [],')
    assert refused(body).detail == {"key": "layers"}
    digest = dig("config").encode()
    body = encode(oci_image()).replace(
        b'"size": 1469', b'"size": 1469, "digest": "' + digest + b'"'
    )
    assert refused(body).detail == {"key": "digest"}


@pytest.mark.parametrize("version", [1, None, "2", 2.0, 3, 0, True, -2])
def test_schema_version_must_be_the_integer_two(version):
    document = oci_image(schemaVersion=version)
    if version is None:
        del document["schemaVersion"]
    error = Unsupported if version == 1 and version is not True else ManifestInvalid
    refused(encode(document), error=error)


@pytest.mark.parametrize("content_type", [mt.DOCKER_MANIFEST_V1, mt.DOCKER_MANIFEST_V1_SIGNED])
def test_docker_schema_1_is_unsupported(content_type):
    schema1 = {
        "schemaVersion": 1,
        "name": "library/alpine",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": dig("l")}],
        "history": [{"v1Compatibility": "{}"}],
        "signatures": [],
    }
    assert refused(encode(schema1), content_type, Unsupported).status == 415
    refused(encode(schema1), None, Unsupported)
    refused(encode(dict(schema1, mediaType=content_type, schemaVersion=2)), None, Unsupported)
    refused(b"not even json", content_type, Unsupported)


@pytest.mark.parametrize("content_type", [mt.OCI_INDEX, mt.DOCKER_MANIFEST])
def test_content_type_must_match_the_body(content_type):
    error = refused(encode(oci_image()), content_type)
    assert error.detail == {"contentType": content_type, "mediaType": mt.OCI_MANIFEST}


@pytest.mark.parametrize("content_type", ["application/json", "application/octet-stream"])
def test_generic_content_types_are_ignored(content_type):
    """Some clients send a generic header; the body (or its shape) decides then."""
    assert parse_manifest(encode(oci_image()), content_type).media_type == mt.OCI_MANIFEST
    without = oci_image()
    del without["mediaType"]
    assert parse_manifest(encode(without), content_type).media_type == mt.OCI_MANIFEST


@pytest.mark.parametrize("media_type", ["application/json", mt.OCI_CONFIG, "text/plain"])
def test_unknown_manifest_media_types(media_type):
    refused(encode(oci_image(mediaType=media_type)), None)
    refused(encode(oci_image(mediaType=media_type)), media_type)


def test_media_type_case():
    """Header media types are case-insensitive; the body's must be written exactly."""
    without = oci_image()
    del without["mediaType"]
    assert parse_manifest(encode(without), mt.OCI_MANIFEST.upper()).media_type == mt.OCI_MANIFEST
    refused(encode(oci_image(mediaType=mt.OCI_MANIFEST.upper())), None)


def test_media_type_must_be_a_string():
    refused(encode(oci_image(mediaType=["x"])), None)
    refused(encode(oci_image(mediaType={"a": 1})), None)


def test_shape_cannot_decide_when_ambiguous_or_empty():
    refused(encode({"schemaVersion": 2}), None)
    refused(encode({"schemaVersion": 2, "config": {}, "manifests": []}), None)


def test_image_and_index_fields_do_not_mix():
    refused(encode(oci_image(manifests=[])))
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
    refused(encode(dict(index, layers=[])), mt.OCI_INDEX)
    refused(encode(dict(index, config=desc(mt.OCI_CONFIG, "c"))), mt.OCI_INDEX)


def test_required_lists_and_config():
    refused(encode(oci_image(layers=None)))
    refused(encode(oci_image(layers={})))
    refused(encode(oci_image(config=None)))
    without_config = oci_image()
    del without_config["config"]
    refused(encode(without_config))
    without_layers = oci_image()
    del without_layers["layers"]
    refused(encode(without_layers))
    refused(encode({"schemaVersion": 2, "mediaType": mt.OCI_INDEX}), mt.OCI_INDEX)
    refused(encode({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": {}}), mt.OCI_INDEX)


def test_empty_config_needs_an_artifact_type():
    document = oci_image(config={"mediaType": mt.OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2})
    assert refused(encode(document)).detail == {"field": "artifactType"}


def bad_layer(**changes):
    layer = desc(mt.OCI_LAYER_GZIP, "layer")
    layer.update(changes)
    return encode(oci_image(layers=[desc(mt.OCI_LAYER_GZIP, "ok"), layer]))


@pytest.mark.parametrize(
    "changes",
    [
        {"digest": "sha256:" + "A" * 64},
        {"digest": "sha256:abc"},
        {"digest": "md5:" + "a" * 32},
        {"digest": "sha256:"},
        {"digest": dig("x") + "\n"},
        {"digest": 12},
        {"digest": None},
    ],
)
def test_descriptor_with_bad_digest(changes):
    error = refused(bad_layer(**changes))
    assert error.detail["field"] == "layers[1].digest"


@pytest.mark.parametrize("size", [-1, 1.0, 1.5, True, False, "12", None, 2**63])
def test_descriptor_with_bad_size(size):
    error = refused(bad_layer(size=size))
    assert error.detail["field"] == "layers[1].size"


@pytest.mark.parametrize("literal", [b"1e400", b"1E3", b"1.0", b"-0.0"])
def test_descriptor_size_written_as_a_float(literal):
    body = encode(oci_image()).replace(b'"size": 1469', b'"size": ' + literal)
    assert refused(body).detail["field"] == "config.size"


def test_details_name_the_field_and_echo_short_scalars_only():
    assert refused(bad_layer(size=-1)).detail == {"field": "layers[1].size", "value": -1}
    assert refused(bad_layer(size=[1] * 1000)).detail == {"field": "layers[1].size"}
    error = refused(encode(oci_image(schemaVersion="2" * 5000)))
    assert error.detail == {"field": "schemaVersion", "value": "2" * 200}
    assert error.body()["errors"][0]["code"] == "MANIFEST_INVALID"


def test_descriptor_size_may_be_zero_or_the_int64_maximum():
    assert parse_manifest(bad_layer(size=0), None).layers[1].size == 0
    assert parse_manifest(bad_layer(size=2**63 - 1), None).layers[1].size == 2**63 - 1


@pytest.mark.parametrize("media_type", [None, "", 7, "gzip", "application/json; x=y", "a/b\n"])
def test_descriptor_with_bad_media_type(media_type):
    body = bad_layer(mediaType=media_type)
    assert refused(body).detail["field"] == "layers[1].mediaType"


def test_descriptor_without_media_type():
    layer = desc(mt.OCI_LAYER_GZIP, "layer")
    del layer["mediaType"]
    assert refused(encode(oci_image(layers=[layer]))).detail == {"field": "layers[0].mediaType"}


def test_descriptor_must_be_an_object():
    refused(encode(oci_image(layers=["sha256:abc"])))
    refused(encode(oci_image(config=[])))
    refused(encode(oci_image(subject="sha256:abc")))


@pytest.mark.parametrize(
    "changes",
    [
        {"annotations": {"a": 1}},
        {"annotations": ["a"]},
        {"urls": "https://example.com/layer"},
        {"urls": [1]},
        {"artifactType": 5},
        {"platform": "linux/amd64"},
        {"platform": {"os": "linux"}},
        {"platform": {"architecture": "amd64", "os": 1}},
        {"platform": {"architecture": "amd64", "os": "linux", "os.features": "x"}},
        {"platform": {"architecture": "amd64", "os": "linux", "features": [1]}},
        {"data": "not base64!"},
        {"data": "e30="},  # the right encoding, but of other content than the digest's
        {"data": 1},
    ],
)
def test_descriptor_optional_fields_are_checked(changes):
    refused(bad_layer(**changes))


def test_manifest_annotations_and_artifact_type_are_checked():
    refused(encode(oci_image(annotations={"k": ["v"]})))
    refused(encode(oci_image(annotations="k=v")))
    refused(encode(oci_image(artifactType="not a media type")))


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a":' * 100_000, b"[" * 2000 + b"]" * 2000])
def test_deeply_nested_json_is_refused_without_crashing(body):
    refused(body)


def test_nesting_below_the_parser_limit_is_still_bounded():
    deep = "[" * 500 + "]" * 500
    body = encode(oci_image()).replace(
        b'"annotations"', b'"deep": ' + deep.encode() + b', "annotations"'
    )
    assert "nested" in refused(body).message
    ok = "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1)
    body = encode(oci_image()).replace(
        b'"annotations"', b'"deep": ' + ok.encode() + b', "annotations"'
    )
    assert parse_manifest(body, None)


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1" * 5000])
def test_non_json_numbers_are_refused(literal):
    refused(encode(oci_image()).replace(b'"size": 1469', b'"size": ' + literal))


@pytest.mark.parametrize("escape", [b"\\u0000", b"\\ud800", b"\\udfff"])
def test_unstorable_characters_are_refused(escape):
    body = encode(oci_image(annotations={"note": "X"})).replace(b'"X"', b'"a' + escape + b'b"')
    refused(body)


def test_non_ascii_text_is_kept():
    manifest = parse_manifest(encode(oci_image(annotations={"description": "café ☕ 𝄞"})), None)
    assert manifest.annotations["description"] == "café ☕ 𝄞"


@pytest.mark.parametrize(
    ("literal", "value"),
    [(b"1e999", None), (b"-1e999", None), (b"9" * 4299, None), (b"2.5", 2.5), (b"3", 3)],
)
def test_details_echo_only_numbers_strict_json_carries(literal, value):
    """1e999 parses to infinity, which an error body could only write as ``Infinity``
    (not JSON); a 4299-digit number is not a short excerpt. Neither is echoed."""
    error = refused(b'{"schemaVersion": ' + literal + b', "config": {}}', None)
    expected = (
        {"field": "schemaVersion"} if value is None else {"field": "schemaVersion", "value": value}
    )
    assert error.detail == expected
    json.dumps(error.body(), allow_nan=False)


def test_a_number_too_long_to_convert_is_named_as_such():
    error = refused(b'{"schemaVersion": ' + b"9" * 5000 + b"}", None)
    assert error.detail == {"reason": "a number has too many digits"}


def test_details_cut_long_media_types_and_keys():
    long_type = "application/" + "x" * 100_000
    body = json.dumps({"schemaVersion": 2, "mediaType": long_type, "config": {}}).encode()
    assert len(refused(body, mt.OCI_MANIFEST).detail["mediaType"]) == 200
    assert len(refused(body, None).detail["mediaType"]) == 200
    key = "k" * 100_000
    duplicated = ('{"%s": 1, "%s": 2}' % (key, key)).encode()  # noqa: UP031
    assert len(refused(duplicated, None).detail["key"]) == 200
    assert len(json.dumps(refused(body, None).body())) < 1024
