"""podman, buildah and the docker CLI, unmodified, against a real `portside serve`.

podman and buildah run without a daemon, with their storage in a temporary folder (vfs
driver); the docker CLI needs no engine to log in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import BOB_PASSWORD, PASSWORD
from tests.interop.images import make_layout, random_files
from tests.servers import Server

pytestmark = pytest.mark.e2e


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return path


@pytest.fixture
def storage() -> Iterator[list[str]]:
    """Container storage in a short temporary folder (podman refuses long run roots)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    yield ["--root", str(base / "r"), "--runroot", str(base / "x"), "--storage-driver", "vfs"]
    shutil.rmtree(base, ignore_errors=True)


def run(
    *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=300, env=env)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_podman_push_and_pull(server: Server, tmp_path: Path, storage: list[str]):
    podman = [tool("podman"), *storage]
    authfile = ["--authfile", str(tmp_path / "auth.json")]
    layout = tmp_path / "layout"
    make_layout(layout, random_files(2, 50_000))
    image = f"{server.host}/acme/podman:v1"
    run(
        *podman,
        "login",
        "--tls-verify=false",
        *authfile,
        "-u",
        "alice",
        "-p",
        PASSWORD,
        server.host,
    )
    image_id = run(*podman, "pull", "-q", f"oci:{layout}:latest").stdout.split()[-1]
    run(*podman, "tag", image_id, image)
    digestfile = tmp_path / "digest"
    run(*podman, "push", "--tls-verify=false", *authfile, "--digestfile", str(digestfile), image)
    run(*podman, "rmi", "-a", "-f")
    run(*podman, "pull", "--tls-verify=false", *authfile, image)
    pulled = json.loads(run(*podman, "image", "inspect", image).stdout)[0]
    assert pulled["Digest"] == digestfile.read_text().strip()
    assert len(pulled["RootFS"]["Layers"]) == 2


def test_podman_without_rights_is_refused(server: Server, tmp_path: Path, storage: list[str]):
    podman = [tool("podman"), *storage]
    authfile = ["--authfile", str(tmp_path / "auth.json")]
    run(
        *podman,
        "login",
        "--tls-verify=false",
        *authfile,
        "-u",
        "bob",
        "-p",
        BOB_PASSWORD,
        server.host,
    )
    refused = run(
        *podman,
        "pull",
        "--tls-verify=false",
        *authfile,
        f"{server.host}/acme/podman:v1",
        check=False,
    )
    assert refused.returncode != 0


def test_buildah_builds_from_scratch_pushes_and_pulls(
    server: Server, tmp_path: Path, storage: list[str]
):
    buildah = [tool("buildah"), *storage]
    creds = ["--creds", f"alice:{PASSWORD}"]
    payload = tmp_path / "hello.txt"
    payload.write_text("hello from buildah\n")
    container = run(*buildah, "from", "scratch").stdout.strip()
    run(*buildah, "copy", container, str(payload), "/hello.txt")
    run(*buildah, "config", "--label", "org.opencontainers.image.title=hello", container)
    image = f"{server.host}/acme/buildah:v1"
    run(*buildah, "commit", container, image)
    run(*buildah, "push", "--tls-verify=false", *creds, image)
    run(*buildah, "rmi", "-a", "-f")
    run(*buildah, "pull", "--tls-verify=false", *creds, image)
    inspected = json.loads(run(*buildah, "inspect", "--type", "image", image).stdout)
    assert (
        inspected["ImageAnnotations"] is not None
        or inspected["OCIv1"]["config"]["Labels"]["org.opencontainers.image.title"] == "hello"
    )


def test_docker_cli_login_stores_an_identity_token(server: Server, tmp_path: Path):
    import os

    docker = tool("docker")
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker")}
    done = subprocess.run(
        [docker, "login", server.host, "-u", "alice", "--password-stdin"],
        input=PASSWORD,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0 and "Login Succeeded" in done.stdout, done.stderr
    config = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert config["auths"][server.host]["identitytoken"]
    wrong = subprocess.run(
        [docker, "login", server.host, "-u", "alice", "--password-stdin"],
        input="wrong-password",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert wrong.returncode != 0 and "unauthorized" in wrong.stderr.lower()
