"""The ``portside`` command: Django's management commands under the store's own name."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portside.config.settings")
    from portside.core.errors import ConfigurationError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["portside", *(sys.argv[1:] if argv is None else argv)])
    except ConfigurationError as exc:
        sys.stderr.write(f"portside: configuration error: {exc.message}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
