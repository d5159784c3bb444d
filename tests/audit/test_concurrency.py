"""Several processes appending to the audit trail at once keep one intact chain.

This is the real deployment shape: gunicorn workers and the task worker are separate
processes. The test runs the writers as processes against a database of its own: a
SQLite file in the embedded pass, a scratch PostgreSQL database in the PostgreSQL pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import scratch_environment

WRITER = """
import django, sys
django.setup()
from portside.audit import services
for i in range(int(sys.argv[2])):
    services.record(f"writer{sys.argv[1]}", "test:row:concurrent", n=i)
"""
VERIFY = """
import django
django.setup()
from portside.audit import services
from portside.audit.models import AuditEvent
result = services.verify()
print(result.ok, result.checked, AuditEvent.objects.count())
"""

pytestmark = pytest.mark.e2e


@pytest.fixture
def scratch_env(tmp_path):
    with scratch_environment(tmp_path) as env:
        yield env | {"DJANGO_SETTINGS_MODULE": "portside.config.settings"}


def test_parallel_writers_keep_one_chain(scratch_env, tmp_path: Path):
    run = [sys.executable, "-m", "portside.cli.main"]
    subprocess.run(
        [*run, "migrate", "--no-input"],
        env=scratch_env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(n), "60"],
            env=scratch_env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=180)
        assert writer.returncode == 0, err
    out = subprocess.run(
        [sys.executable, "-c", VERIFY], env=scratch_env, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["True", "240", "240"], out.stdout + out.stderr
