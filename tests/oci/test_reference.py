import pytest

from portside.oci.digest import Digest, compute
from portside.oci.errors import DigestInvalid, NameInvalid, TagInvalid
from portside.oci.reference import MAX_NAME_LENGTH, parse_reference, validate_name, validate_tag


@pytest.mark.parametrize(
    "name",
    [
        "a",
        "0",
        "alpine",
        "library/alpine",
        "acme/tools/builder",
        "my-org/my_app.v2",
        "a__b",
        "a---b",
        "a.b_c__d--e/f-g",
        "x" * MAX_NAME_LENGTH,
        "/".join(["ab"] * 85),
    ],
)
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        None,
        "",
        "..",
        "a/../b",
        "a/..",
        "../a",
        ".",
        "Alpine",
        "library/Alpine",
        "x" * (MAX_NAME_LENGTH + 1),
        "a//b",
        "a/",
        "/a",
        "/",
        "a\n",
        "a\nb",
        "\na",
        "a\x00",
        "café",
        "\uff41",  # fullwidth letter a
        "a b",
        "a:b",
        "a@b",
        "_a",
        "a_",
        "a___b",
        "a..b",
        ".a",
        "a.",
        "-a",
        "a-",
        "a/-b",
        "a\\b",
    ],
)
def test_invalid_names(name):
    with pytest.raises(NameInvalid):
        validate_name(name)


def test_name_limit_counts_the_whole_path():
    assert validate_name("/".join(["abc"] * 64))  # 255 characters
    with pytest.raises(NameInvalid) as caught:
        validate_name("/".join(["abc"] * 64) + "d")
    assert caught.value.detail == {"length": 256, "limit": 255}


@pytest.mark.parametrize(
    "tag", ["latest", "v1.2.3", "1.0-rc_1", "_private", "A", "0", "sha256-abc.sig", "a" * 128]
)
def test_valid_tags(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize(
    "tag",
    [None, "", "a" * 129, ".hidden", "-x", "a:b", "a/b", "a b", "latest\n", "ü", "a+b", "a@b"],
)
def test_invalid_tags(tag):
    with pytest.raises(TagInvalid):
        validate_tag(tag)


def test_parse_reference_tells_tags_from_digests():
    digest = compute(b"manifest")
    assert parse_reference("latest") == "latest"
    assert parse_reference(str(digest)) == digest
    assert isinstance(parse_reference(str(digest)), Digest)


@pytest.mark.parametrize("ref", ["sha256:bad", "sha256:", "latest:1", "SHA256:" + "a" * 64, ":x"])
def test_parse_reference_bad_digests(ref):
    with pytest.raises(DigestInvalid):
        parse_reference(ref)


@pytest.mark.parametrize("ref", ["", ".bad", "-bad", "a" * 129, "latest\n", "a/b"])
def test_parse_reference_bad_tags(ref):
    with pytest.raises(TagInvalid):
        parse_reference(ref)
