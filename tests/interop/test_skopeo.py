"""skopeo, unmodified, against a real `portside serve`: log in, push, inspect, list, pull,
mount, delete; with a password and with a personal access token; strangers refused."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.interop.conftest import BOB_PASSWORD, PASSWORD
from tests.interop.images import make_layout, random_files
from tests.servers import Server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def skopeo() -> str:
    path = shutil.which("skopeo")
    if path is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    return path


def run(skopeo: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([skopeo, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_push_inspect_list_pull_delete_with_password(skopeo, server, tmp_path):
    source = tmp_path / "src"
    digest = make_layout(source, random_files(3, 300_000))
    ref = f"docker://{server.host}/acme/hello"
    creds = ["--creds", f"alice:{PASSWORD}"]
    run(
        skopeo,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"alice:{PASSWORD}",
        f"oci:{source}:latest",
        f"{ref}:latest",
    )
    run(
        skopeo,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"alice:{PASSWORD}",
        f"oci:{source}:latest",
        f"{ref}:v1",
    )
    inspected = json.loads(
        run(skopeo, "inspect", "--tls-verify=false", *creds, f"{ref}:latest").stdout
    )
    assert inspected["Digest"] == digest and inspected["Architecture"] == "amd64"
    tags = json.loads(run(skopeo, "list-tags", "--tls-verify=false", *creds, ref).stdout)
    assert tags["Tags"] == ["latest", "v1"]
    out = tmp_path / "out"
    run(
        skopeo,
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        f"alice:{PASSWORD}",
        f"{ref}:latest",
        f"oci:{out}:latest",
    )
    assert json.loads((out / "index.json").read_text())["manifests"][0]["digest"] == digest
    for blob in (source / "blobs" / "sha256").iterdir():
        assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    # Pulls are written by each web process's background recorder within a moment.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        exported = server.cli(
            "audit", "export", "--format", "jsonl", "--action-filter", "registry:manifest:pulled"
        )
        if '"repository":"acme/hello"' in exported.stdout:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the pull never reached the audit trail")
    run(skopeo, "delete", "--tls-verify=false", *creds, f"{ref}:v1")
    missing = run(skopeo, "inspect", "--tls-verify=false", *creds, f"{ref}:v1", check=False)
    assert missing.returncode != 0 and "manifest unknown" in missing.stderr


def test_docker_archive_with_an_access_token_and_a_mount(skopeo, server, tmp_path):
    token = server.cli(
        "token", "create", "alice", "--name", "ci", "--scopes", "read", "write", "delete"
    ).stdout.strip()
    assert token.startswith("psp_")
    layout = tmp_path / "layout"
    make_layout(layout, random_files(2, 100_000))
    archive = tmp_path / "image.tar"
    run(skopeo, "copy", f"oci:{layout}:latest", f"docker-archive:{archive}:acme/archived:v1")
    creds = f"alice:{token}"
    run(
        skopeo,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        f"docker-archive:{archive}",
        f"docker://{server.host}/acme/archived:v1",
    )
    pushed = json.loads(
        run(
            skopeo,
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            creds,
            f"docker://{server.host}/acme/archived:v1",
        ).stdout
    )
    assert pushed["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    run(
        skopeo,
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        "--src-creds",
        creds,
        "--dest-creds",
        creds,
        f"docker://{server.host}/acme/archived:v1",
        f"docker://{server.host}/acme/copied:v1",
    )
    log = (server.data_dir / "serve.log").read_text()
    assert "POST /v2/acme/copied/blobs/uploads/?from=acme%2Farchived&mount=" in log
    copied = json.loads(
        run(
            skopeo,
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            creds,
            f"docker://{server.host}/acme/copied:v1",
        ).stdout
    )
    assert copied == pushed


def test_login_logout_with_an_auth_file(skopeo, server, tmp_path):
    authfile = tmp_path / "auth.json"
    run(
        skopeo,
        "login",
        "--tls-verify=false",
        "--authfile",
        str(authfile),
        "-u",
        "alice",
        "-p",
        PASSWORD,
        server.host,
    )
    assert server.host in json.loads(authfile.read_text())["auths"]
    wrong = run(
        skopeo,
        "login",
        "--tls-verify=false",
        "--authfile",
        str(tmp_path / "x.json"),
        "-u",
        "alice",
        "-p",
        "wrong",
        server.host,
        check=False,
    )
    assert wrong.returncode != 0
    run(skopeo, "logout", "--authfile", str(authfile), server.host)


def test_strangers_and_anonymous_callers_cannot_pull(skopeo, server, tmp_path):
    layout = tmp_path / "secret"
    make_layout(layout, random_files(1, 1000))
    run(
        skopeo,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"alice:{PASSWORD}",
        f"oci:{layout}:latest",
        f"docker://{server.host}/acme/secret:latest",
    )
    anonymous = run(
        skopeo,
        "inspect",
        "--tls-verify=false",
        f"docker://{server.host}/acme/secret:latest",
        check=False,
    )
    assert anonymous.returncode != 0 and (
        "unauthorized" in anonymous.stderr or "denied" in anonymous.stderr
    )
    stranger = run(
        skopeo,
        "inspect",
        "--tls-verify=false",
        "--creds",
        f"bob:{BOB_PASSWORD}",
        f"docker://{server.host}/acme/secret:latest",
        check=False,
    )
    assert stranger.returncode != 0 and "denied" in stranger.stderr
    push = run(
        skopeo,
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        f"bob:{BOB_PASSWORD}",
        f"oci:{layout}:latest",
        f"docker://{server.host}/acme/secret:evil",
        check=False,
    )
    assert push.returncode != 0


def _token(server: Server, scope: str) -> str:
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{server.url}/auth/token?service={server.host}&scope={scope}",
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def _call(
    server: Server, method: str, path: str, token: str, data: bytes | None = None, **headers: str
):
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_chunked_upload_survives_a_server_restart(server):
    import hashlib

    scope = "repository:acme/resume:pull,push"
    data = bytes(range(256)) * 4096  # 1 MiB
    token = _token(server, scope)
    status, headers, _ = _call(server, "POST", "/v2/acme/resume/blobs/uploads/", token)
    assert status == 202
    location = headers["Location"]
    status, headers, _ = _call(
        server,
        "PATCH",
        location,
        token,
        data[:600_000],
        **{"Content-Range": "0-599999", "Content-Type": "application/octet-stream"},
    )
    assert status == 202 and headers["Range"] == "0-599999"
    assert server.stop() == 0
    server.start()
    token = _token(server, scope)
    status, headers, _ = _call(server, "GET", location, token)
    assert status == 204 and headers["Range"] == "0-599999"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = _call(
        server,
        "PUT",
        f"{location}?digest={digest}",
        token,
        data[600_000:],
        **{"Content-Type": "application/octet-stream"},
    )
    assert status == 201, headers
    status, _, body = _call(server, "GET", f"/v2/acme/resume/blobs/{digest}", token)
    assert status == 200 and body == data
