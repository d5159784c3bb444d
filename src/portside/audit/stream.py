"""Copies of audit rows streamed, as they are committed, to a file or to syslog.

``PORTSIDE_AUDIT_STREAM`` is a comma-separated list of sinks:
``file:/var/log/portside/audit.jsonl``, ``syslog:udp://HOST:PORT``,
``syslog:tcp://HOST:PORT`` or ``syslog:unix:/dev/log``. Each row is one JSON object.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import threading
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from portside.audit.chain import canonical_json
from portside.core.errors import ConfigurationError

logger = logging.getLogger(__name__)


class _SysLogHandler(logging.handlers.SysLogHandler):
    """Raises delivery errors instead of printing them, so the sink can reconnect."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise


class FileSink:
    def __init__(self, path: str) -> None:
        if not os.path.isabs(path):
            raise ConfigurationError(f"audit stream file {path!r} must be an absolute path")
        self.path = path
        self._lock = threading.Lock()

    def write(self, line: str) -> None:
        data = (line + "\n").encode()
        with self._lock:
            # O_APPEND makes each write land whole at the end, even across processes.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)


class SyslogSink:
    def __init__(self, spec: str) -> None:
        if spec.startswith("unix:"):
            address: Any = spec.removeprefix("unix:")
            socktype = None
        else:
            parts = urlsplit(spec)
            if parts.scheme not in {"udp", "tcp"} or not parts.hostname or not parts.port:
                raise ConfigurationError(
                    f"audit syslog sink {spec!r} must be udp://HOST:PORT, tcp://HOST:PORT "
                    "or unix:/path"
                )
            address = (parts.hostname, parts.port)
            socktype = socket.SOCK_STREAM if parts.scheme == "tcp" else socket.SOCK_DGRAM
        self.spec = spec
        self._address = address
        self._socktype = socktype
        self._lock = threading.Lock()
        self._handler = self._connect()

    def _connect(self) -> _SysLogHandler:
        handler = _SysLogHandler(
            address=self._address,
            facility=logging.handlers.SysLogHandler.LOG_AUTH,
            socktype=self._socktype,
        )
        handler.ident = "portside-audit: "
        return handler

    def write(self, line: str) -> None:
        record = logging.LogRecord("portside.audit", logging.INFO, "", 0, line, None, None)
        with self._lock:
            try:
                self._handler.emit(record)
            except OSError:
                # A stream socket whose peer restarted: reconnect once and resend.
                self._handler.close()
                self._handler = self._connect()
                self._handler.emit(record)


def parse_sink(spec: str) -> FileSink | SyslogSink:
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return FileSink(rest)
    if kind == "syslog" and rest:
        return SyslogSink(rest)
    raise ConfigurationError(
        f"PORTSIDE_AUDIT_STREAM entry {spec!r} must start with file: or syslog:"
    )


@cache
def sinks(specs: tuple[str, ...]) -> list[FileSink | SyslogSink]:
    return [parse_sink(spec) for spec in specs]


def publish(specs: tuple[str, ...], row: dict[str, Any]) -> None:
    if not specs:
        return
    line = canonical_json(row)
    for sink in sinks(specs):
        try:
            sink.write(line)
        except OSError:  # the database row is the record; a sink outage must not lose it
            logger.exception("could not stream audit row %s", row.get("id"))
