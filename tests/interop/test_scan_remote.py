"""`portside scan HOST/NAME:TAG` against a real `portside serve`: the image is read over
the distribution API with the token flow, and a stranger is refused with a clear error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.interop.conftest import BOB_PASSWORD, PASSWORD
from tests.interop.images import make_layout

pytestmark = pytest.mark.e2e

METADATA = b"Metadata-Version: 2.1\nName: idna\nVersion: 2.7\n"


def scan(server, tmp_path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    env = dict(server.env, PORTSIDE_DATA_DIR=str(tmp_path / "cli"))
    return subprocess.run(
        [sys.executable, "-m", "portside.cli.main", "scan", *args],
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_scan_an_image_in_the_registry(server, tmp_path):
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is not installed (apt-get install skopeo)"
    source = tmp_path / "src"
    make_layout(
        source,
        [
            ("etc/os-release", b"ID=alpine\nVERSION_ID=3.20.3\n"),
            ("usr/lib/python3.12/site-packages/idna-2.7.dist-info/METADATA", METADATA),
        ],
    )
    pushed = subprocess.run(
        [
            skopeo,
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            f"alice:{PASSWORD}",
            f"oci:{source}:latest",
            f"docker://{server.host}/acme/scanme:v1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pushed.returncode == 0, pushed.stderr
    ref = f"{server.host}/acme/scanme:v1"
    done = scan(
        server,
        tmp_path,
        "--insecure",
        "--username",
        "alice",
        "--password-stdin",
        "--format",
        "json",
        ref,
        password=PASSWORD,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["image"] == ref and report["distro"]["id"] == "alpine"
    assert [p["name"] for p in report["packages"]] == ["idna"]
    # Another organisation's owner, and nobody at all, may not read it.
    for args, password in [
        (["--username", "bob", "--password-stdin"], BOB_PASSWORD),
        ([], ""),
    ]:
        refused = scan(server, tmp_path, "--insecure", *args, ref, password=password)
        assert refused.returncode != 0
        assert "the registry answered 40" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
    # A refused sign-in says why, in the token service's own words.
    wrong = scan(
        server,
        tmp_path,
        "--insecure",
        "--username",
        "alice",
        "--password-stdin",
        ref,
        password="not-the-password",
    )
    assert wrong.returncode != 0
    assert "the token service answered 401: Incorrect user name or password." in wrong.stderr
