"""The test command's one list of system packages: what it reports missing, and what it
tells a user who cannot install them."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system-packages.sh"


def bash(code: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-c", f"source {SCRIPT}\n{code}"],
        env={"PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_every_package_is_reported_missing_on_a_bare_path(tmp_path: Path) -> None:
    result = bash("missing_system_packages", str(tmp_path))
    missing = result.stdout.split()
    for package in ("skopeo", "podman", "buildah", "docker.io", "golang-go", "rpm", "npm"):
        assert package in missing
    # chromium is found by its path, which a bare PATH does not hide.
    assert ("chromium" in missing) != Path("/usr/bin/chromium").exists()


def test_a_user_who_cannot_install_is_told_the_one_command(tmp_path: Path) -> None:
    for tool in ("skopeo", "podman", "buildah", "docker", "pg_isready", "debootstrap", "rpm"):
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    # Not root: nothing is installed, the command to run is printed, the run stops.
    result = bash("id() { echo 1000; }\nensure_system_packages\necho went-on", str(tmp_path))
    assert result.returncode == 1
    assert "went-on" not in result.stdout
    [line] = [x for x in result.stderr.splitlines() if "apt-get" in x]
    assert "sudo apt-get install -y --no-install-recommends" in line
    assert "golang-go npm" in line and "skopeo" not in line


def test_nothing_to_do_when_everything_is_there(tmp_path: Path) -> None:
    for tool in ("skopeo", "podman", "buildah", "docker", "pg_isready", "debootstrap", "rpm",
                 "go", "npm", "objcopy"):  # fmt: skip
        (tmp_path / tool).write_text("#!/bin/sh\n")
        (tmp_path / tool).chmod(0o755)
    result = bash("id() { echo 1000; }\nensure_system_packages\necho went-on", str(tmp_path))
    if Path("/usr/bin/chromium").exists():
        assert result.returncode == 0 and "went-on" in result.stdout
    else:
        assert result.returncode == 1
