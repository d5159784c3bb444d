import subprocess
import sys
from pathlib import Path

import pytest

from portside.oci import mediatypes


def test_manifest_type_sets():
    assert mediatypes.MANIFEST_TYPES == {
        mediatypes.OCI_MANIFEST,
        mediatypes.OCI_INDEX,
        mediatypes.DOCKER_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
    }
    assert mediatypes.INDEX_TYPES == {mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST}
    assert mediatypes.INDEX_TYPES | mediatypes.IMAGE_TYPES == mediatypes.MANIFEST_TYPES
    assert not mediatypes.SCHEMA1_TYPES & mediatypes.MANIFEST_TYPES


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        (mediatypes.OCI_MANIFEST, mediatypes.OCI_MANIFEST),
        (f"{mediatypes.OCI_MANIFEST}; charset=utf-8", mediatypes.OCI_MANIFEST),
        (f" {mediatypes.OCI_INDEX.upper()} ;q=1", mediatypes.OCI_INDEX),
        ("; charset=utf-8", None),
    ],
)
def test_base_type(header, expected):
    assert mediatypes.base_type(header) == expected


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (mediatypes.OCI_LAYER_ZSTD, True),
        ("application/vnd.cncf.helm.chart.content.v1.tar+gzip", True),
        ("application/spdx+json", True),
        ("application", False),
        ("application/", False),
        ("/json", False),
        ("application/json; charset=utf-8", False),
        ("application/json\n", False),
        ("a/b/c", False),
        ("application/" + "x" * 128, False),
        (None, False),
    ],
)
def test_is_valid(value, valid):
    assert mediatypes.is_valid(value) is valid


def test_the_package_imports_no_django():
    code = (
        "import sys\n"
        "import portside.oci.digest, portside.oci.errors, portside.oci.manifest\n"
        "import portside.oci.mediatypes, portside.oci.reference\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2] / "src"
    )
