"""Every operation of /api/openapi.json, fuzzed by schemathesis against a real
``portside serve`` on loopback: as nobody, as a publisher and as a store admin."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portside.api.urls import api
from tests.servers import Server, scratch_environment

pytestmark = pytest.mark.e2e

# Bounded so that the module takes about a minute on two cores; the same inputs on every
# run (CI stays reproducible). To explore further:
# PORTSIDE_FUZZ_SEED=7 PORTSIDE_FUZZ_EXAMPLES=50 pytest tests/api_fuzz
MAX_EXAMPLES = int(os.environ.get("PORTSIDE_FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("PORTSIDE_FUZZ_SEED", "1"))
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        # Credentials are the caller's own (below), never generated.
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "database": "none",
            "with-security-parameters": False,
        },
        # Boundary values (coverage) and random ones (fuzzing); methods outside the
        # document are Django's 405, not the API's, and are left out.
        "phases": {
            "coverage": {"unexpected-methods": []},
            "stateful": {"enabled": False},
        },
    }
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# The database migrated, then a publisher with a product in review and a store admin, and
# a token for each: one process, before the server starts.
WORLD = """
import json
from django.core.management import call_command
call_command("migrate", "--no-input", verbosity=0)
call_command("createcachetable", verbosity=0)
from portside.moderation import services
from tests.api_publishing.helpers import secret_for
from tests.factories import TEST_ORIGIN
from tests.moderation.world import build_publishing_world
world = build_publishing_world()
product = world.ready_product()
services.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
print(json.dumps({"publisher": secret_for(world.owner), "admin": secret_for(world.admin)}))
"""

# The document /api/openapi.json serves (checked against the running server below).
DOCUMENT = json.loads(json.dumps(api.get_openapi_schema()))
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
# What was sent, by operation and caller, and how long it took: tests/api_fuzz/conftest.py
# prints it after the run.
SENT: Counter[tuple[str, str]] = Counter()
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    """``portside serve`` (gunicorn) on loopback, without the background worker: nothing
    here waits for a task."""
    started = time.monotonic()
    data_dir = tmp_path_factory.mktemp("api-fuzz")
    with scratch_environment(data_dir) as env:
        server = Server(env=env, data_dir=data_dir)
        made = server.cli("shell", "--no-imports", "-c", WORLD)
        assert made.returncode == 0, made.stderr
        server.start("--no-migrate", "--no-worker")
        TIMES["ready"] = time.monotonic() - started
        try:
            yield server, json.loads(made.stdout.strip().splitlines()[-1])
        finally:
            server.stop()
            TIMES["fuzzed"] = time.monotonic() - started - TIMES["ready"]


@pytest.fixture(scope="module", params=["nobody", "publisher", "admin"])
def caller(request: pytest.FixtureRequest, server: tuple[Server, dict[str, str]]) -> dict[str, Any]:
    running, tokens = server
    token = tokens.get(request.param)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"name": request.param, "base_url": running.url, "headers": headers}


def test_the_document_fuzzed_is_the_one_served(server: tuple[Server, dict[str, str]]) -> None:
    with urllib.request.urlopen(server[0].url + "/api/openapi.json", timeout=30) as response:
        assert json.load(response) == DOCUMENT
    operations = [op for item in DOCUMENT["paths"].values() for op in item.values()]
    assert len(operations) >= 50


@schema.parametrize()
def test_the_api_answers_as_documented(case: Any, caller: dict[str, Any]) -> None:
    SENT[(f"{case.method} {case.path}", caller["name"])] += 1
    case.call_and_validate(base_url=caller["base_url"], headers=caller["headers"], checks=CHECKS)
