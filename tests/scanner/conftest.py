"""Fixtures shared by the scanner's tests.

``real_image`` is the image of ``tests/scanner/realimage.py``: a debootstrapped Debian
with old PyPI and npm packages and a whiteout layer, built once and cached on disk across
runs (and across the SQLite and PostgreSQL passes of the suite). When it cannot be built
(no root, a tool or the network missing) the tests that need it fail with the reason:
a skipped comparison would pass for a successful one.
"""

from __future__ import annotations

import pytest

from tests.scanner.realimage import RealImage, RealImageError, ensure_image


@pytest.fixture(scope="session")
def real_image() -> RealImage:
    try:
        return ensure_image()
    except RealImageError as error:
        pytest.fail(f"the real test image could not be built: {error}", pytrace=False)
