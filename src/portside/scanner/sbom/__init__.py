"""Software bills of materials for an analysed image: CycloneDX 1.6 and SPDX 2.3, in JSON.

Both writers take the analyser's :class:`~portside.scanner.model.Inventory` and see it
through the same normalised view (duplicates merged, purls made canonical, the image
named by its digest), so the two documents of one image list the same packages.
"""

from portside.scanner.sbom._common import SbomError
from portside.scanner.sbom.cyclonedx import Finding, to_cyclonedx
from portside.scanner.sbom.spdx import to_spdx

__all__ = ["Finding", "SbomError", "to_cyclonedx", "to_spdx"]
