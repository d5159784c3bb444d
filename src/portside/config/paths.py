"""Where Portside keeps its files, and its own version: read from the environment alone,
without Django, so that the commands that need no server (``portside scan``) can use them
without setting Django up. The settings take the same values from here."""

from __future__ import annotations

from pathlib import Path

from portside.config import env


def data_dir() -> Path:
    """``PORTSIDE_DATA_DIR`` (default ``var``), absolute. Not created here."""
    return Path(env.get_str("PORTSIDE_DATA_DIR", "var")).expanduser().resolve()


def vulndb_path() -> Path:
    """The vulnerability database: ``PORTSIDE_VULNDB_PATH``, or ``vulndb.sqlite`` in the
    data directory."""
    return Path(env.get_str("PORTSIDE_VULNDB_PATH", str(data_dir() / "vulndb.sqlite"))).expanduser()


def portside_version() -> str:
    """The installed distribution's version ("0" when run from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("portside")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "0"
