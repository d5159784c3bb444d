"""The best-practices review: what a store expects of a published image beyond its
vulnerabilities. Each check has a stable id (``PS-001`` ...), a level (info, warn, fatal)
and says pass, fail or skip with the layer and paths that decided it.

The review reads an analysis (the inventory, the final file index, the claimed bytes, and
what later layers hid of lower ones);
:class:`SecretsCollector` is the cataloger that makes the analysis keep the bytes of the
files the credential checks read.
"""

from portside.scanner.practices.model import (
    Analysed,
    Check,
    Evidence,
    Level,
    Policy,
    Result,
    Status,
)
from portside.scanner.practices.review import checks, review
from portside.scanner.practices.secrets import SecretsCollector, redact

__all__ = [
    "Analysed",
    "Check",
    "Evidence",
    "Level",
    "Policy",
    "Result",
    "SecretsCollector",
    "Status",
    "checks",
    "redact",
    "review",
]
