"""Software bills of materials for an analysed image: CycloneDX 1.6 and SPDX 2.3, in JSON.

Both writers take the analyser's :class:`~portside.scanner.model.Inventory` and see it
through the same normalised view (duplicates merged, purls made canonical, the image
named by its digest), so the two documents of one image list the same packages. Each
writes to a stream as it goes (``write_cyclonedx``, ``write_spdx``), in time and extra
memory linear in the packages, or returns the document as a string (``to_cyclonedx``,
``to_spdx``).
"""

from typing import Any

from portside.scanner.sbom._common import SbomError, Writable
from portside.scanner.sbom.cyclonedx import Finding, to_cyclonedx, write_cyclonedx

__all__ = [
    "Finding",
    "SbomError",
    "Writable",
    "to_cyclonedx",
    "to_spdx",
    "write_cyclonedx",
    "write_spdx",
]


def to_spdx(*args: Any, **kwargs: Any) -> str:
    """See :func:`portside.scanner.sbom.spdx.to_spdx`; imported on first use, since
    spdx-tools takes a noticeable time to load and most scans only want CycloneDX."""
    from portside.scanner.sbom.spdx import to_spdx as write

    return write(*args, **kwargs)


def write_spdx(*args: Any, **kwargs: Any) -> None:
    """See :func:`portside.scanner.sbom.spdx.write_spdx` (imported on first use)."""
    from portside.scanner.sbom.spdx import write_spdx as write

    write(*args, **kwargs)
