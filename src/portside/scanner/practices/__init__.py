"""The best-practices review: what a store expects of a published image beyond its
vulnerabilities. Each check has a stable id (``PS-001`` ...), a level (info, warn, fatal)
and says pass, fail or skip with the layer and paths that decided it.

The review reads an analysis (the inventory, the final file index, the claimed bytes, and
what later layers hid of lower ones);
:class:`SecretsCollector` is the cataloger that makes the analysis keep the bytes of the
files the credential checks read.
"""

from typing import TYPE_CHECKING, Any

# The version of these checks, which the store keeps with every review it stores.
# Raise it by one in any change that can turn a check's verdict (pass, fail or skip), its
# evidence or its level for some image, and in a change that adds or removes a check:
# the store then marks the results it kept from before as made by older checks, and its
# sweep scans those images again, a few at a time. Wording alone does not need it.
RULES_VERSION = 1

if TYPE_CHECKING:
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

# Loaded when first asked for: every scan imports the secrets collector (a cataloger), but
# only a scan that reviews needs the checks, and importing them costs 10 ms of a 200 ms scan.
_HOMES = {
    "Analysed": "model",
    "Check": "model",
    "Evidence": "model",
    "Level": "model",
    "Policy": "model",
    "Result": "model",
    "Status": "model",
    "checks": "review",
    "review": "review",
    "SecretsCollector": "secrets",
    "redact": "secrets",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "RULES_VERSION",
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
