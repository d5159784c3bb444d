"""The ``portside`` command: Django's management commands under the store's own name."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portside.config.settings")
    from portside.core.errors import ConfigurationError

    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["scan"]:
            # Needs no server, so no Django: a scan costs what the analysis costs.
            from portside.cli import scan

            sys.exit(scan.main(args[1:]))
        from django.core.management import execute_from_command_line
        from django.db.utils import DatabaseError

        try:
            execute_from_command_line(["portside", *args])
        except DatabaseError as exc:
            if not _missing_table(exc):
                raise
            sys.stderr.write(
                "portside: the database has no tables yet (or misses some): run "
                "`portside migrate` first (`portside serve` does it when it starts)\n"
                f"  ({str(exc).splitlines()[0]})\n"
            )
            sys.exit(2)
    except ConfigurationError as exc:
        sys.stderr.write(f"portside: configuration error: {exc.message}\n")
        sys.exit(2)


def _missing_table(exc: Exception) -> bool:
    """SQLite's "no such table: X", PostgreSQL's 'relation "X" does not exist'."""
    message = str(exc)
    return "no such table" in message or ("relation" in message and "does not exist" in message)


if __name__ == "__main__":
    main()
