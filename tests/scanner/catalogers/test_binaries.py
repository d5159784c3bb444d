"""The binary cataloger on the real programs and libraries of this machine, each checked
against the version the program itself prints, and on files built to look like them."""

from __future__ import annotations

import glob
import platform
import re
import shutil
import subprocess
import sysconfig
import time
from pathlib import Path

import pytest

from portside.scanner.catalogers.base import FileVersion
from portside.scanner.catalogers.binaries import MAX_BINARY_BYTES, BinaryCataloger, identify
from portside.scanner.model import Package
from tests.scanner.catalogers.conftest import Image, layer_digest

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57


def printed(*command: str) -> str:
    tool = shutil.which(command[0]) or command[0]
    if not Path(tool).exists():
        pytest.fail(f"{command[0]} is not on this machine")
    done = subprocess.run(
        [tool, *command[1:]], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout + done.stderr


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = BinaryCataloger().catalog(*image.build(BinaryCataloger()))
    return list(found), found.warnings


def one(path: str, data: bytes) -> Package:
    found, warnings = catalog(Image().add(path, data, mode=0o755))
    assert warnings == []
    assert len(found) == 1, found
    return found[0]


def real(path: str) -> bytes:
    resolved = Path(path).resolve()
    if not resolved.is_file():
        pytest.fail(f"{path} is not on this machine")
    return resolved.read_bytes()


def test_debian_python_interpreter() -> None:
    want = printed("/usr/bin/python3.11", "-c", "import platform; print(platform.python_version())")
    found = one("/usr/bin/python3.11", real("/usr/bin/python3.11"))
    assert (found.name, found.version) == ("python", want.strip())
    assert found.purl == f"pkg:generic/python@{want.strip()}"
    assert found.metadata["cpe"] == f"cpe:2.3:a:python:python:{want.strip()}:*:*:*:*:*:*:*"


def test_libpython_of_this_interpreter() -> None:
    library = Path(sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME"))
    found = one(f"/usr/local/lib/{library.name}", real(str(library)))
    assert found.version == platform.python_version()


def test_openssl_libraries_and_program() -> None:
    version = re.search(r"Library: OpenSSL (\S+)", printed("openssl", "version"))
    assert version is not None
    lib = "/usr/lib/x86_64-linux-gnu"
    image = (
        Image()
        .add(f"{lib}/libssl.so.3", real(f"{lib}/libssl.so.3"))
        .add(f"{lib}/libcrypto.so.3", real(f"{lib}/libcrypto.so.3"))
        .add("/usr/bin/openssl", real("/usr/bin/openssl"), mode=0o755)
    )
    found, warnings = catalog(image)
    assert warnings == []
    libraries = next(p for p in found if p.paths[0].endswith("libcrypto.so.3"))
    assert (libraries.name, libraries.version) == ("openssl", version.group(1))
    # libssl carries no version string: it is the libcrypto beside it.
    assert libraries.paths == (f"{lib}/libcrypto.so.3", f"{lib}/libssl.so.3")
    program = next(p for p in found if p.paths == ("/usr/bin/openssl",))
    own = re.match(r"OpenSSL (\S+)", printed("openssl", "version"))
    assert own is not None and program.version == own.group(1)


def test_libssl_alone_is_not_reported() -> None:
    found, warnings = catalog(
        Image().add("/lib/libssl.so.3", real("/usr/lib/x86_64-linux-gnu/libssl.so.3"))
    )
    assert found == [] and warnings == []


def test_redis_server() -> None:
    want = re.search(r"v=(\S+)", printed("redis-server", "--version"))
    assert want is not None
    found = one("/usr/local/bin/redis-server", real("/usr/bin/redis-server"))
    assert (found.name, found.version) == ("redis", want.group(1))


def test_perl() -> None:
    want = printed("perl", "-e", "print $^V").strip().removeprefix("v")
    assert one("/usr/bin/perl", real("/usr/bin/perl")).version == want


def test_node() -> None:
    node = shutil.which("node")
    assert node is not None, "no node on this machine"
    want = printed(node, "--version").strip().removeprefix("v")
    found = one("/usr/local/bin/node", real(node))
    assert (found.name, found.version) == ("node", want)


def test_curl_and_libcurl() -> None:
    first = printed("curl", "--version").splitlines()[0]
    match = re.match(r"curl (\S+) .* libcurl/(\S+)", first)
    assert match is not None
    assert one("/usr/bin/curl", real("/usr/bin/curl")).version == match.group(1)
    lib = one("/usr/lib/libcurl.so.4", real("/usr/lib/x86_64-linux-gnu/libcurl.so.4"))
    assert (lib.name, lib.version) == ("curl", match.group(2))


def test_postgres() -> None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    assert candidates, "no PostgreSQL server on this machine"
    want = re.search(r"\(PostgreSQL\) (\S+)", printed(candidates[-1], "--version"))
    assert want is not None
    found = one("/usr/lib/postgresql/bin/postgres", real(candidates[-1]))
    assert (found.name, found.version) == ("postgresql", want.group(1))


# The strings these programs compile in, as Debian bookworm's builds lay them out.
@pytest.mark.parametrize(
    ("path", "body", "name", "version"),
    [
        ("/bin/busybox", b"\0BusyBox v1.36.1 (2023-11-07 18:53:09 UTC)\0", "busybox", "1.36.1"),
        (
            "/usr/sbin/nginx",
            b"\0nginx version: nginx/1.25.3\n\0Server: nginx/1.25.3\r\n",
            "nginx",
            "1.25.3",
        ),
        (
            "/usr/local/apache2/bin/httpd",
            b"\0Apache/2.4\0Apache/2.4.58 (Unix)\0",
            "httpd",
            "2.4.58",
        ),
        ("/usr/local/bin/php", b"\0X-Powered-By: PHP/8.2.13\0PHP/8.2.13\0", "php", "8.2.13"),
        (
            "/usr/local/sbin/haproxy",
            b"\0 version 2.8.5-1~bpo12+1, released 2023/12/07\0\0002.8.5\0",
            "haproxy",
            "2.8.5",
        ),
        ("/usr/sbin/haproxy", b"\0HA-Proxy version 1.7.3 2017/02/28\0", "haproxy", "1.7.3"),
        (
            "/usr/local/lib/libcrypto.so.1.1",
            b"\0OpenSSL 1.1.1w  11 Sep 2023\0",
            "openssl",
            "1.1.1w",
        ),
        (
            "/usr/local/bin/node",
            b"\0OpenSSL 3.0.15+quic 3 Sep 2024\0node.js/v18.19.0\0",
            "node",
            "18.19.0",
        ),
        (
            "/usr/local/bin/redis-server",
            b"\0" + b"7.2.4\0" + b"7.2.4buildkitsandbox-1706600000000000000\0",
            "redis",
            "7.2.4",
        ),
        # A build host whose name starts with digits: the standalone string says where the
        # version ends.
        (
            "/usr/local/bin/redis-server",
            b"\0" + b"7.2.14\0" + b"7.2.143f2a9c-1706600000000000000\0",
            "redis",
            "7.2.14",
        ),
        ("/usr/local/bin/python3.12", b"\0/usr/local\x003.12.1\0", "python", "3.12.1"),
        ("/usr/lib/libperl.so.5.38", b"\0v5.38.2\0", "perl", "5.38.2"),
    ],
)
def test_version_strings(path: str, body: bytes, name: str, version: str) -> None:
    found = one(path, ELF + b"\0" * 1000 + body + b"\0" * 1000)
    assert (found.name, found.version, found.type) == (name, version, "generic")
    assert found.paths == (path,)


def test_files_that_only_look_like_binaries() -> None:
    image = (
        Image()
        .add("/usr/local/bin/node", b"#!/bin/sh\n# node.js/v20.0.0\nexec real-node\n", mode=0o755)
        .add("/usr/bin/python3.12", ELF + b"no version here", mode=0o755)
        .add("/usr/bin/nginx", ELF + b"nginx/1", mode=0o755)
    )
    assert catalog(image) == ([], [])


def test_a_file_full_of_near_misses_is_read_in_linear_time() -> None:
    data = ELF + b"OpenSSL 3.0.1" * 400_000 + b"7.0.1" * 400_000 + b"3.11.1" * 400_000
    started = time.monotonic()
    for name in ("libcrypto.so.3", "redis-server", "python3.11"):
        assert identify(data, name) is None
    assert time.monotonic() - started < 5


def test_layers() -> None:
    def crypto(version: str) -> bytes:
        return ELF + f"\0OpenSSL {version} 30 Jan 2024\0".encode()

    same = (
        Image()
        .add("/lib/libcrypto.so.3", crypto("3.0.13"), layer=0)
        .add("/lib/libcrypto.so.3", crypto("3.0.13") + b"\0stripped", layer=1)
    )
    (kept,), _ = catalog(same)
    assert kept.layer == layer_digest(0)
    upgraded = (
        Image()
        .add("/lib/libcrypto.so.3", crypto("3.0.13"), layer=0)
        .add("/lib/libcrypto.so.3", crypto("3.0.14"), layer=2)
    )
    (new,), _ = catalog(upgraded)
    assert (new.version, new.layer) == ("3.0.14", layer_digest(2))


def test_claims() -> None:
    cataloger = BinaryCataloger()
    for path in (
        "/bin/busybox",
        "/usr/lib/libssl.so.3",
        "/lib/libcrypto.so.1.1",
        "/usr/bin/python3.12",
        "/usr/lib/libpython3.12.so.1.0",
        "/usr/bin/node",
        "/usr/bin/redis-server",
        "/usr/sbin/nginx",
        "/usr/sbin/httpd",
        "/usr/bin/curl",
        "/usr/lib/libcurl.so.4",
        "/usr/lib/postgresql/16/bin/postgres",
        "/usr/bin/perl",
        "/usr/local/bin/php",
        "/usr/sbin/haproxy",
        "/usr/bin/openssl",
    ):
        assert cataloger.claims(path, 0o755, 1000), path
    for path in (
        "/usr/bin/python3",
        "/usr/bin/nodejs-wrapper",
        "/etc/nginx/nginx.conf",
        "/usr/lib/libssl.so.3.sig",
        "/usr/bin/perldoc",
    ):
        assert not cataloger.claims(path, 0o755, 1000), path
    assert not cataloger.claims("/usr/bin/node", 0o755, MAX_BINARY_BYTES + 1)


def test_only_its_own_files_are_read() -> None:
    """The pass hands every cataloger the files any of them claimed."""
    files, context = Image().add("/usr/bin/node", ELF + b"node.js/v20.1.0").build(BinaryCataloger())
    stranger = FileVersion("/app/server", 0, ELF + b"node.js/v1.0.0", 0o755)
    files.versions[stranger.path] = [stranger]
    files.final_paths.add(stranger.path)
    found = BinaryCataloger().catalog(files, context)
    assert [p.paths for p in found] == [("/usr/bin/node",)]


def test_the_combined_file_pattern_picks_the_rule_a_loop_would() -> None:
    from portside.scanner.catalogers.binaries import RULES, rule_for

    names = [
        "busybox",
        "libcrypto.so.3",
        "libssl.so.1.1",
        "openssl",
        "python3.11",
        "libpython3.11m.so.1.0",
        "node",
        "redis-server",
        "nginx",
        "apache2",
        "curl",
        "libcurl-gnutls.so.4",
        "postgres",
        "perl5.36.0",
        "libperl.so.5.36",
        "php8.2",
        "php-fpm",
        "libphp.so",
        "haproxy",
        "bash",
        "libcrypto.so.1.2.3.4",
        "python",
        "node.js",
        "nginx.conf",
        "",
        "perl",
        "libssl.so",
        "php-cgi8.1.so",
    ]
    for name in names:
        expected = next((rule for rule in RULES if rule.files.match(name)), None)
        assert rule_for(name) is expected, name
