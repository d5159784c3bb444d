"""The review as a whole: through the real analysis pass, at scale, and on hostile configs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest

from portside.core import clock
from portside.core.records import replace
from portside.scanner.analyze import analyze
from portside.scanner.catalogers import default_catalogers
from portside.scanner.catalogers.base import Entry
from portside.scanner.practices import SecretsCollector, Status, review
from tests.scanner import images
from tests.scanner.images import file, layer, oci_layout, whiteout
from tests.scanner.practices.builders import ImageBuilder

TODAY = dt.date(2026, 1, 15)
NPM_TOKEN = "npm_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
DB_PASSWORD = "pa55-" + "w0rd-for-the-db"


def by_id(results: list[Any]) -> dict[str, Any]:
    return {r.id: r for r in results}


def test_default_catalogers_include_the_secrets_collector() -> None:
    assert any(isinstance(c, SecretsCollector) for c in default_catalogers())


def test_an_image_read_from_disk(tmp_path: Path) -> None:
    """The real analysis pass keeps what the collector claims, and the review finds it."""
    base = layer(
        [
            file("etc/os-release", 'ID=debian\nVERSION_ID="10"\n'),
            file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            file("usr/bin/sudo", b"\x7fELF", mode=0o4755),
            file("usr/bin/gcc-12", b"\x7fELF", mode=0o755),
            file("var/cache/apt/archives/gcc-12_12.2.0-14_amd64.deb", b"x" * 4096),
        ],
        created_by="ADD rootfs.tar /",
    )
    leaked = layer(
        [file("root/.npmrc", f"//registry.npmjs.org/:_authToken={NPM_TOKEN}\n", mode=0o600)],
        created_by="COPY .npmrc /root/.npmrc",
    )
    removed = layer([whiteout("root/.npmrc")], created_by="RUN rm /root/.npmrc")
    layers = [base, leaked, removed]
    config = images.config_of(
        layers,
        extra={"config": {"Env": [f"DB_PASSWORD={DB_PASSWORD}"], "Cmd": ["/bin/sh"]}},
    )
    oci_layout(tmp_path, layers, config=config)
    analysis = analyze(tmp_path)
    results = by_id(review(analysis, today=TODAY, tags=["latest"]))

    secrets = results["PS-003"]
    assert secrets.status is Status.FAIL
    (evidence,) = secrets.evidence
    assert (evidence.layer_index, evidence.paths) == (1, ("/root/.npmrc",))
    assert evidence.layer_digest == leaked.digest
    assert evidence.created_by == "COPY .npmrc /root/.npmrc"
    assert "still readable" in evidence.detail

    assert results["PS-004"].status is Status.FAIL
    assert results["PS-001"].status is Status.FAIL
    assert results["PS-005"].evidence[0].paths == ("/usr/bin/sudo",)
    assert results["PS-007"].status is Status.FAIL
    assert results["PS-008"].evidence[0].paths == ("/usr/bin/gcc-12",)
    assert results["PS-012"].status is Status.FAIL  # Debian 10
    assert results["PS-013"].status is Status.FAIL
    assert results["PS-017"].status is Status.FAIL

    everything = json.dumps([r.as_dict() for r in results.values()])
    assert NPM_TOKEN not in everything and DB_PASSWORD not in everything


def test_a_hundred_thousand_entries_are_reviewed_quickly() -> None:
    image = ImageBuilder.clean()
    for number in range(40):
        image.layer(f"RUN step {number}")
    index = dict(image.index)
    for number in range(100_000):
        directory = f"/usr/lib/app{number % 500}"
        path = f"{directory}/file{number}.py"
        mode = 0o4755 if number % 10_000 == 0 else 0o666 if number % 7_000 == 0 else 0o644
        index[path] = Entry(path=path, layer=number % 40, kind="file", size=1000, mode=mode)
        if number % 1000 == 0:
            cache = f"/root/.cache/pip/http/{number}"
            index[cache] = Entry(path=cache, layer=3, kind="file", size=10, mode=0o644)
    image.index = index
    analysis = image.build()
    started = time.monotonic()
    results = by_id(review(analysis, today=TODAY))
    elapsed = time.monotonic() - started
    assert results["PS-005"].status is Status.FAIL
    assert results["PS-006"].status is Status.FAIL
    assert results["PS-007"].status is Status.FAIL
    assert results["PS-009"].status is Status.FAIL
    # Every check walks the index once; quadratic work on 10^5 entries would take minutes.
    assert elapsed < 10, elapsed


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"config": "not an object"},
        {"config": None, "history": "not a list"},
        {
            "config": {
                "User": 0,
                "Env": "A=B",
                "Labels": ["x"],
                "Healthcheck": {"Test": "CMD true"},
                "WorkingDir": ["/app"],
            }
        },
        {"config": {"Env": [None, 5, "NOEQUALS", "=value", "A=" + "x" * 100_000]}},
        {"history": [1, None, "x", {"created_by": 5, "empty_layer": "yes"}, {}]},
        {"history": [{"created_by": "RUN " + "apt-get " * 50_000 + "x"}]},
        {"history": [{"created_by": "ADD " + "--x " * 50_000}]},
        {"history": [{"created_by": "FROM " * 50_000}]},
        {"history": [{"created_by": "A=" * 200_000}]},
        {"config": {"Labels": {"org.opencontainers.image.base.name": "\x00\n" * 1000}}},
    ],
)
def test_hostile_configs_never_break_the_review(config: dict[str, Any]) -> None:
    analysis = ImageBuilder.clean().build()
    analysis = dataclasses.replace(analysis, inventory=replace(analysis.inventory, config=config))
    started = time.monotonic()
    results = review(analysis, today=TODAY)
    assert time.monotonic() - started < 10
    assert len(results) == len({r.id for r in results})
    json.dumps([r.as_dict() for r in results])


def test_an_empty_image_is_reviewed() -> None:
    image = ImageBuilder()
    image.distro = None
    results = by_id(review(image.build(), today=TODAY))
    assert results["PS-001"].status is Status.FAIL
    assert results["PS-003"].status is Status.PASS
    assert results["PS-011"].status is Status.FAIL
    assert results["PS-012"].status is Status.SKIP


def test_today_comes_from_the_clock_by_default() -> None:
    image = ImageBuilder.clean()
    image.distro = replace(image.distro, version_id="11") if image.distro else None
    with clock.frozen(dt.datetime(2026, 8, 31, 23, 0, tzinfo=dt.UTC)) as frozen:
        assert by_id(review(image.build()))["PS-012"].status is Status.PASS
        frozen.advance(hours=2)
        assert by_id(review(image.build()))["PS-012"].status is Status.FAIL
