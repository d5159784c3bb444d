"""``portside serve``: migrate, then run the web server and the background worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from portside.cli.base import PortsideCommand


class Command(PortsideCommand):
    help = "Apply migrations, then serve the store (gunicorn) with a background worker"

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=settings.WEB_WORKERS)
        parser.add_argument("--threads", type=int, default=settings.WEB_THREADS)
        parser.add_argument(
            "--no-worker", action="store_true", help="run only the web server (scale-out nodes)"
        )
        parser.add_argument(
            "--no-migrate", action="store_true", help="do not apply migrations first"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port must be between 1 and 65535, not {port}")
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
            call_command("createcachetable", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        url_host = f"[{host}]" if ":" in host else host
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="portside.config.settings")
        children: list[subprocess.Popen[bytes]] = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "portside.config.wsgi:application",
                    "--bind",
                    bind,
                    "--workers",
                    str(options["workers"]),
                    "--threads",
                    str(options["threads"]),
                    "--worker-class",
                    "gthread",
                    "--timeout",
                    "300",
                    "--graceful-timeout",
                    "30",
                    "--access-logfile",
                    "-",
                    "--no-control-socket",
                    "--log-level",
                    settings.LOG_LEVEL.lower(),
                ],
                env=env,
            )
        ]
        if not options["no_worker"]:
            children.append(
                subprocess.Popen([sys.executable, "-m", "portside.cli.main", "worker"], env=env)
            )

        def stop(signum: int, frame: Any) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        wildcard = host in ("0.0.0.0", "::", "")  # noqa: S104  (compared, not bound)
        probe = f"http://{'127.0.0.1' if wildcard else url_host}:{port}/health"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and all(c.poll() is None for c in children):
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers (a 400 only means 127.0.0.1 is not an allowed host)
            except OSError:
                time.sleep(0.2)
        if all(c.poll() is None for c in children):
            self.stdout.write(
                f"Portside is running at http://{url_host}:{port}/ "
                f"(data in {settings.DATA_DIR}; press Ctrl+C to stop)"
            )
            self.stdout.flush()

        exit_code = 0
        while True:
            for child in children:
                code = child.poll()
                if code is not None:
                    exit_code = exit_code or code
                    stop(signal.SIGTERM, None)
                    for other in children:
                        try:
                            other.wait(timeout=35)
                        except subprocess.TimeoutExpired:
                            other.kill()
                    sys.exit(exit_code if exit_code > 0 else 0)
            time.sleep(0.5)
