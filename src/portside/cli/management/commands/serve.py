"""``portside serve``: migrate, then run the web server and the background worker.

The web server is the store: if it stops, ``serve`` stops. The worker is supervised: when
it dies (killed, out of memory, a crash), it is started again with a growing delay and
the web server keeps serving meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from argparse import ArgumentParser
from collections.abc import Callable
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
        # The cache table holds sign-in throttles: needed even when migrations are left to
        # another node (it is created only if missing).
        call_command("createcachetable", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        url_host = f"[{host}]" if ":" in host else host
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="portside.config.settings")
        derived, warning = base_url(host, port, os.environ.get("PORTSIDE_BASE_URL"))
        if derived is not None:
            env["PORTSIDE_BASE_URL"] = derived  # links in mails point where the store listens
        if warning is not None:
            self._say(warning)
        web = subprocess.Popen(
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
                # Request lines up to 8 KiB: the search API's parameters allow long ones.
                "--limit-request-line",
                "8190",
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
        # Two workers: one for scans, deliveries and periodic jobs, and one for the
        # vulnerability feeds' sync, which can take many minutes and must not hold them up.
        workers = (
            []
            if options["no_worker"]
            else [
                Supervised(self._say, env, ["--exclude-queue", "vulndb"], "background worker"),
                Supervised(
                    self._say,
                    env,
                    ["--queue", "vulndb", "--no-scheduler"],
                    "vulnerability-data worker",
                ),
            ]
        )
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True
            for child in (web, *(w.process for w in workers)):
                if child is not None and child.poll() is None:
                    child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

        wildcard = host in ("0.0.0.0", "::", "")  # noqa: S104  (compared, not bound)
        probe = f"http://{'127.0.0.1' if wildcard else url_host}:{port}/health"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and web.poll() is None and not stopping:
            try:
                with urllib.request.urlopen(probe, timeout=2):
                    break
            except urllib.error.HTTPError:
                break  # it answers (a 400 only means 127.0.0.1 is not an allowed host)
            except OSError:
                time.sleep(0.2)
        if web.poll() is None and not stopping:
            self._say(
                f"Portside is running at http://{url_host}:{port}/ "
                f"(data in {settings.DATA_DIR}; press Ctrl+C to stop)"
            )

        # The web server is the store: when it stops, everything stops. The worker is
        # restarted whenever it dies, so that a crash in background work (a scan that
        # runs out of memory, say) never takes the web server down with it.
        while web.poll() is None and not stopping:
            for worker in workers:
                worker.check()
            time.sleep(0.5)
        asked_to_stop = stopping
        stop(signal.SIGTERM, None)
        for child in (web, *(w.process for w in workers)):
            if child is None:
                continue
            try:
                child.wait(timeout=35)
            except subprocess.TimeoutExpired:
                child.kill()
        code = web.returncode or 0
        sys.exit(code if code > 0 and not asked_to_stop else 0)

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def base_url(host: str, port: int, given: str | None) -> tuple[str | None, str | None]:
    """The base URL the web server and workers should use when none is set (the address
    the store listens on, so that links in mails work), and a warning when one is set that
    names this machine on another port: ``(derived or None, warning or None)``."""
    local = host in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "")  # noqa: S104
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    shown = f"[{shown}]" if ":" in shown else shown
    if not given:
        return f"http://{shown}:{port}", None
    parts = urllib.parse.urlsplit(given)
    if not local or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None, None  # a public name in front of a proxy: nothing to compare
    other = parts.port or (443 if parts.scheme == "https" else 80)
    if other == port:
        return None, None
    return None, (
        f"PORTSIDE_BASE_URL is {given}, but the store listens on port {port}: links in "
        f"mails and pages will point to port {other}. Unset it to use http://{shown}:{port}."
    )


class Supervised:
    """The background worker as a child process, started again whenever it exits: after
    1 s, then twice as long each time it dies again, up to a minute; a worker that ran
    for a minute or more counts as healthy again."""

    FIRST_DELAY = 1.0
    MAX_DELAY = 60.0
    HEALTHY_AFTER = 60.0

    def __init__(
        self,
        say: Callable[[str], None],
        env: dict[str, str],
        args: list[str] | None = None,
        label: str = "background worker",
    ) -> None:
        self.say = say
        self.env = env
        self.args = args or []
        self.label = label
        self.delay = self.FIRST_DELAY
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.restart_at: float | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "portside.cli.main", "worker", *self.args], env=self.env
        )
        self.started = time.monotonic()
        self.restart_at = None
        self.say(f"The {self.label} is running (pid {self.process.pid}).")

    def check(self) -> None:
        """Restart the worker if it has died and its delay has passed."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return
        if self.process is None or self.process.poll() is None:
            return
        code = self.process.returncode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
        if now - self.started >= self.HEALTHY_AFTER:
            self.delay = self.FIRST_DELAY
        self.say(
            f"The {self.label} (pid {self.process.pid}) {how}; "
            f"starting it again in {self.delay:g} s."
        )
        self.restart_at = now + self.delay
        self.delay = min(self.delay * 2, self.MAX_DELAY)
