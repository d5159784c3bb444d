"""Feed importers. Each reads and validates a whole feed before it writes anything, then
replaces one source's rows in a single transaction."""

from portside.vulndb.importers._input import Limits
from portside.vulndb.importers.alpine import import_alpine
from portside.vulndb.importers.debian import import_debian
from portside.vulndb.importers.nvd import import_nvd
from portside.vulndb.importers.osv import import_osv

__all__ = ["Limits", "import_alpine", "import_debian", "import_nvd", "import_osv"]
