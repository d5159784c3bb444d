"""Where Portside keeps its files, and its own version: read from the environment alone,
without Django, so that the commands that need no server (``portside scan``) can use them
without setting Django up. The settings take the same values from here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from portside.config import env

if TYPE_CHECKING:
    from pathlib import Path


def data_dir() -> Path:
    """``PORTSIDE_DATA_DIR`` (default ``var``), absolute. Not created here."""
    from pathlib import Path

    return Path(data_location())


def vulndb_path() -> Path:
    """The vulnerability database: ``PORTSIDE_VULNDB_PATH``, or ``vulndb.sqlite`` in the
    data directory."""
    from pathlib import Path

    return Path(vulndb_location())


# The same as text: ``portside scan`` needs the database's place, and pathlib (with the
# urllib.parse and ipaddress it imports) costs its start a few milliseconds.
def data_location() -> str:
    """``data_dir()`` as a string."""
    return os.path.realpath(os.path.expanduser(env.get_str("PORTSIDE_DATA_DIR", "var")))


def vulndb_location() -> str:
    """``vulndb_path()`` as a string."""
    default = os.path.join(data_location(), "vulndb.sqlite")
    return os.path.expanduser(env.get_str("PORTSIDE_VULNDB_PATH", default)) or "."


def portside_version() -> str:
    """The installed distribution's version ("0" when run from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("portside")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"
