"""Fuzzing the feed files around the documents: OSV zip archives (as osv.dev serves them)
and gzip-compressed NVD pages, whole, damaged, with edited zip headers (flags, compression
methods, member names) or several gzip members.

``read_osv`` and ``read_nvd`` give records and a digest, or ``MalformedInput``; nothing
else. A gzip file of several members reads as all of them, never only the first.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from portside.vulndb.errors import MalformedInput, VulnDBError
from portside.vulndb.importers._input import gunzip
from portside.vulndb.importers.nvd import read_nvd
from portside.vulndb.importers.osv import digest_osv, read_osv
from tests.fuzz import feeds
from tests.fuzz.support import MiB, attempt, bounded_memory, fuzz, mutate_bytes

pytestmark = pytest.mark.nodb


def osv_zip(method: int) -> bytes:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", method) as archive:
        archive.writestr("GHSA-h5c8-rqwp-cp95.json", json.dumps(feeds.osv_ghsa()))
        archive.writestr("GO-2022-0493.yaml", yaml.safe_dump(feeds.osv_go()))
        archive.writestr("README.txt", "not a record")
    return raw.getvalue()


ZIPS = {method: osv_zip(method) for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)}


@st.composite
def edited_zip(draw: st.DrawFn, archive: bytes) -> bytes:
    """The archive with a field of one of its headers (local and central directory, the
    same way, as a tool writing a bad archive would) changed: the flags (encrypted, UTF-8
    names), the compression method, or the bytes of a name."""
    out = bytearray(archive)
    local = [i for i in range(len(out)) if out.startswith(b"PK\x03\x04", i)]
    central = [i for i in range(len(out)) if out.startswith(b"PK\x01\x02", i)]
    which = draw(st.integers(0, min(len(local), len(central)) - 1))
    field = draw(st.sampled_from(["flags", "method", "name"]))
    if field == "flags":
        flags = draw(st.sampled_from([0x1, 0x800, 0x801, 0x40, 0x8, 0xFFFF]))
        struct.pack_into("<H", out, local[which] + 6, flags)
        struct.pack_into("<H", out, central[which] + 8, flags)
    elif field == "method":
        method = draw(st.sampled_from([1, 6, 9, 12, 14, 93, 95, 98, 99]) | st.integers(0, 0xFFFF))
        struct.pack_into("<H", out, local[which] + 8, method)
        struct.pack_into("<H", out, central[which] + 10, method)
    else:
        length = struct.unpack_from("<H", out, central[which] + 28)[0]
        name = draw(
            st.sampled_from([b"../evil.json", b"/abs.json", b"C:x.json", b"a\xff\xfe.json"])
            | st.binary(min_size=length, max_size=length)
        )[:length].ljust(length, b"_")
        out[local[which] + 30 : local[which] + 30 + length] = name
        out[central[which] + 46 : central[which] + 46 + length] = name
        if draw(st.booleans()):  # and say the names are UTF-8
            struct.pack_into("<H", out, local[which] + 6, 0x800)
            struct.pack_into("<H", out, central[which] + 8, 0x800)
    return bytes(out)


def in_file(data: bytes, name: str, run: Any) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, name)
        path.write_bytes(data)
        with bounded_memory(64 * MiB):
            outcome = attempt(lambda: run(path), VulnDBError)
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, MalformedInput), repr(outcome)
        assert len(str(outcome)) < 2000
    return outcome


@fuzz(120)
@given(st.data(), st.sampled_from(sorted(ZIPS)))
@example(data=None, method=zipfile.ZIP_STORED)
def test_osv_zip_archives_read_or_are_refused(data: st.DataObject | None, method: int) -> None:
    archive = ZIPS[method]
    if data is None:
        archive = archive.replace(b"GO-2022-0493.yaml", b"GO-2022-\xff493.yaml")
        archive = archive.replace(b"\x14\x00\x00\x00", b"\x14\x00\x00\x08")  # UTF-8 names
    else:
        if data.draw(st.booleans(), label="edit a header"):
            archive = data.draw(edited_zip(archive))
        if data.draw(st.booleans(), label="damage the bytes"):
            archive = mutate_bytes(data, archive)

    def both(path: Path) -> Any:
        advisories, digest = read_osv(path)
        assert digest_osv(path) == digest
        return advisories

    outcome = in_file(archive, "all.zip", both)
    if isinstance(outcome, list):
        assert {a.id for a in outcome} <= {"GHSA-h5c8-rqwp-cp95", "GO-2022-0493"}


@fuzz(40)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=4), st.integers(0, 600))
def test_gzip_files_of_several_members_read_whole(parts: list[bytes], padding: int) -> None:
    data = b"".join(gzip.compress(part, mtime=0) for part in parts) + bytes(padding)
    assert gunzip("feed.json.gz", data, 10 * MiB) == b"".join(parts)


@fuzz(80)
@given(st.data(), st.sampled_from(["one", "two", "padded"]))
def test_gzip_nvd_pages_read_or_are_refused(data: st.DataObject, shape: str) -> None:
    page = json.dumps(feeds.nvd_page(), indent=1).encode()
    if shape == "one":
        blob = gzip.compress(page, mtime=0)
    elif shape == "two":
        blob = gzip.compress(page[:700], mtime=0) + gzip.compress(page[700:], mtime=0)
    else:
        blob = gzip.compress(page, mtime=0) + bytes(1024)
    whole = in_file(page, "page.json", lambda path: read_nvd(path)[0])
    damaged = data.draw(st.booleans(), label="damage")
    if damaged:
        blob = mutate_bytes(data, blob)
    outcome = in_file(blob, "page.json.gz", lambda path: read_nvd(path)[0])
    if not damaged or isinstance(outcome, list):
        # Damage that still reads is damage gzip cannot see (the header's time or system
        # fields): never a part of the page silently left out.
        assert outcome == whole
