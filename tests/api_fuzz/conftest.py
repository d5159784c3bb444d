from __future__ import annotations

import sys

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How much the fuzzing did in this process: operations, callers, requests, time."""
    fuzz = sys.modules.get("tests.api_fuzz.test_schemathesis")
    if fuzz is None or not fuzz.SENT:
        return
    documented = {
        (method, path)
        for (sent, _) in fuzz.SENT
        for method, path in [sent.split(" ", 1)]
        if method.lower() in fuzz.DOCUMENT["paths"].get(path, {})
    }
    terminalreporter.write_line(
        f"schemathesis: {len(documented)} operations x "
        f"{len({caller for _, caller in fuzz.SENT})} callers, {sum(fuzz.SENT.values())} "
        f"requests; server ready in {fuzz.TIMES.get('ready', 0):.1f} s, fuzzing took "
        f"{fuzz.TIMES.get('fuzzed', 0):.1f} s"
    )
