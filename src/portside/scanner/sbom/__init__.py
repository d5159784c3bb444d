"""Software bills of materials for an analysed image: CycloneDX 1.6 and SPDX 2.3, in JSON.

Both writers take the analyser's :class:`~portside.scanner.model.Inventory` and see it
through the same normalised view (duplicates merged, purls made canonical, the image
named by its digest), so the two documents of one image list the same packages.
"""

from typing import Any

from portside.scanner.sbom._common import SbomError
from portside.scanner.sbom.cyclonedx import Finding, to_cyclonedx

__all__ = ["Finding", "SbomError", "to_cyclonedx", "to_spdx"]


def to_spdx(*args: Any, **kwargs: Any) -> str:
    """See :func:`portside.scanner.sbom.spdx.to_spdx`; imported on first use, since
    spdx-tools takes a noticeable time to load and most scans only want CycloneDX."""
    from portside.scanner.sbom.spdx import to_spdx as write

    return write(*args, **kwargs)
