import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portside.oci.digest import ALGORITHMS, Digest, Hasher, compute, verify
from portside.oci.errors import DigestInvalid

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HEX64 = "a" * 64


def test_parse_and_str_round_trip():
    digest = Digest.parse(f"sha256:{EMPTY_SHA256}")
    assert digest == Digest("sha256", EMPTY_SHA256)
    assert (digest.algorithm, digest.hex) == ("sha256", EMPTY_SHA256)
    assert str(digest) == f"sha256:{EMPTY_SHA256}"


def test_sha512_is_accepted():
    hex512 = hashlib.sha512(b"").hexdigest()
    assert Digest.parse(f"sha512:{hex512}") == compute(b"", "sha512")


def test_registered_algorithms():
    assert ALGORITHMS == {"sha256": 64, "sha512": 128}


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        " ",
        "\n",
        "sha256:",
        ":" + HEX64,
        "sha256",
        HEX64,
        "sha256:" + HEX64.upper(),
        "SHA256:" + HEX64,
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "g" * 64,
        "sha512:" + HEX64,
        "sha256:" + "a" * 128,
        "md5:" + "a" * 32,
        "sha384:" + "a" * 96,
        "sha256+b64u:" + HEX64,
        "sha256:" + HEX64 + "\n",
        "sha256:" + HEX64 + " ",
        " sha256:" + HEX64,
        "sha256::" + HEX64,
        "sha256:" + HEX64 + ":",
        "sha256:" + "a" * 62 + "==",
        "sha256:" + "\uff41" * 64,  # fullwidth letter a
        b"sha256:" + HEX64.encode(),
    ],
)
def test_parse_refuses(value):
    with pytest.raises(DigestInvalid):
        Digest.parse(value)


def test_constructor_validates_too():
    with pytest.raises(DigestInvalid):
        Digest("sha256", "xyz")
    with pytest.raises(DigestInvalid):
        Digest("md5", "a" * 32)


def test_digests_are_hashable_and_ordered():
    a, b = Digest("sha256", "0" * 64), Digest("sha256", "f" * 64)
    assert len({a, b, Digest.parse(str(a))}) == 2
    assert sorted([b, a]) == [a, b]


def test_compute_known_values():
    assert str(compute(b"")) == f"sha256:{EMPTY_SHA256}"
    assert compute(b"{}").hex == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def test_hasher_counts_bytes_and_can_be_read_midway():
    hasher = Hasher()
    assert hasher.size == 0
    hasher.update(b"hello ")
    assert hasher.digest() == compute(b"hello ")
    hasher.update(memoryview(b"world"))
    hasher.update(bytearray(b"!"))
    assert hasher.size == 12
    assert hasher.digest() == compute(b"hello world!")


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "SHA256", ""])
def test_hasher_refuses_unregistered_algorithms(algorithm):
    with pytest.raises(DigestInvalid):
        Hasher(algorithm)


def test_verify():
    verify(b"content", compute(b"content"))
    verify(b"content", compute(b"content", "sha512"))
    with pytest.raises(DigestInvalid) as caught:
        verify(b"content!", compute(b"content"))
    assert caught.value.detail == {
        "expected": str(compute(b"content")),
        "actual": str(compute(b"content!")),
    }


hex_digests = st.one_of(
    st.tuples(st.just("sha256"), st.binary(min_size=32, max_size=32).map(bytes.hex)),
    st.tuples(st.just("sha512"), st.binary(min_size=64, max_size=64).map(bytes.hex)),
)


@settings(database=None)
@given(hex_digests)
def test_property_digest_round_trips(parts):
    algorithm, encoded = parts
    digest = Digest.parse(f"{algorithm}:{encoded}")
    assert Digest.parse(str(digest)) == digest
    assert str(digest) == f"{algorithm}:{encoded}"


@st.composite
def chunked(draw):
    data = draw(st.binary(max_size=2048))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return data, [data[start:end] for start, end in itertools.pairwise(bounds)]


@settings(database=None)
@given(chunked(), st.sampled_from(sorted(ALGORITHMS)))
def test_property_hasher_agrees_with_compute_for_any_chunking(sample, algorithm):
    data, chunks = sample
    hasher = Hasher(algorithm)
    for chunk in chunks:
        hasher.update(chunk)
    assert hasher.size == len(data)
    assert hasher.digest() == compute(data, algorithm)
    assert hasher.digest().hex == hashlib.new(algorithm, data).hexdigest()
    verify(data, hasher.digest())
