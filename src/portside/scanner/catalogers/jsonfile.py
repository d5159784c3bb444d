"""Reading the JSON package metadata of the language catalogers (Composer, .NET) the same
way: a size limit checked before the bytes are decoded, nesting too deep refused rather
than crashing the parser, and text stripped of what the inventory cannot store."""

from __future__ import annotations

import json
import re
from typing import Any

from portside.scanner.errors import PackageDatabaseError

# Control characters and lone surrogates (which JSON's \u escapes can produce) cannot be
# stored as text by the databases the inventory is kept in.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def load_json(data: bytes, limit: int, error: type[PackageDatabaseError]) -> Any:
    """The document in ``data``; ``error`` with a reason for a file over ``limit`` bytes,
    one that is not JSON, or one nested past the parser's recursion limit."""
    if len(data) > limit:
        raise error(f"file is {len(data)} bytes, over {limit}")
    try:
        return json.loads(data)
    except RecursionError as exc:
        raise error("JSON is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, numbers too long
        raise error(f"not valid JSON: {str(exc)[:200]}") from exc


def licenses(declared: object) -> tuple[str, ...]:
    """A ``license`` field given as one string or a list of strings (Composer's form)."""
    candidates = declared if isinstance(declared, list) else [declared]
    found: list[str] = []
    for candidate in candidates[:50]:
        value = clean(candidate).strip() if isinstance(candidate, str) else ""
        if 0 < len(value) <= 200 and value not in found:
            found.append(value)
    return tuple(found)
