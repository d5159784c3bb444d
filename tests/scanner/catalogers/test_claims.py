"""``claims.wanted`` answers as asking every built-in cataloger's claims in turn would."""

from __future__ import annotations

import itertools
import random

from portside.scanner.catalogers import claims

MiB = 1024 * 1024

DIRECTORIES = [
    "",
    "/var/lib/dpkg",
    "/var/lib/dpkg/status.d",
    "/var/lib/dpkg/info",
    "/var/lib/dpkg/info/sub",
    "/usr/share/doc/bash",
    "/usr/share/doc/bash/more",
    "/usr/share/doc",
    "/lib/apk/db",
    "/usr/lib/apk/db",
    "/var/lib/rpm",
    "/usr/lib/sysimage/rpm",
    "/usr/lib/python3/dist-packages/six-1.16.0.dist-info",
    "/usr/lib/python3/dist-packages/six-1.16.0.egg-info",
    "/opt/egg/EGG-INFO",
    "/usr/lib/python3/dist-packages",
    "/app/node_modules/lodash",
    "/app/node_modules/@scope/pkg",
    "/app/node_modules/lodash/lib",
    "/app",
    "/usr/lib/ruby/gems/3.1.0/specifications",
    "/usr/lib/ruby/gems/3.1.0/specifications/default",
    "/usr/lib/ruby/gems/3.1.0/gems/rbs-2.1.0",
    "/srv/vendor/composer",
    "/srv/vendor/pkg",
    "/root/.cargo/registry/src/x",
    "/usr/local/bin",
    "/usr/lib/x86_64-linux-gnu",
    "/opt/app/lib",
    "/étrange/ΣΑΣ",
]
NAMES = [
    "status",
    "status.d",
    "bash",
    "bash.md5sums",
    "bash.list",
    "bash:amd64.list",
    "copyright",
    "installed",
    "Packages",
    "Packages.db",
    "rpmdb.sqlite",
    "METADATA",
    "RECORD",
    "PKG-INFO",
    "installed-files.txt",
    "six-1.16.0.egg-info",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "rake-13.0.6.gemspec",
    "Gemfile.lock",
    "gems.locked",
    "installed.json",
    "composer.lock",
    "shop.deps.json",
    ".deps.json",
    "Cargo.lock",
    "tool",
    "tool.so",
    "libfoo.so.1",
    "run.sh",
    "app.jar",
    "APP.JAR",
    "app.War",
    "x.ear",
    "x.jpi",
    "x.hpi",
    "jar",
    ".jar",
    "x.jarx",
    "busybox",
    "libcrypto.so.3",
    "libssl.so.1.1",
    "openssl",
    "python3.11",
    "libpython3.11.so.1.0",
    "node",
    "redis-server",
    "nginx",
    "httpd",
    "apache2",
    "curl",
    "libcurl-gnutls.so.4",
    "postgres",
    "perl5.36.0",
    "libperl.so.5.36",
    "php-fpm8.2",
    "haproxy",
    "os-release",
    "x.JAK",
    "İ.jpi",
    "xİ",
    "tool.exe",
    "LIB.DLL",
    "a.Exe",
    ".dll",
    "exe",
    "x.exe.txt",
    "İexe",
]
MODES = [0o644, 0o755, 0o100, 0o4755]
SIZES = [0, 21, 22, 1023, 1024, MiB, 4 * MiB, 4 * MiB + 1, 8 * MiB + 1, 16 * MiB + 1]
SIZES += [32 * MiB + 1, 64 * MiB + 1, 256 * MiB, 256 * MiB + 1]


def asked_in_turn(path: str, mode: int, size: int) -> bool:
    return any(test(path, mode, size) for test in claims.BY_MODULE.values())


def test_wanted_is_every_cataloger_asked_in_turn() -> None:
    paths = [f"{d}/{n}" for d, n in itertools.product(DIRECTORIES, NAMES)]
    claimed = 0
    for path, mode, size in itertools.product(paths, MODES, SIZES):
        expected = asked_in_turn(path, mode, size)
        assert claims.wanted(path, mode, size) == expected, (path, oct(mode), size)
        claimed += expected
    assert claimed > 1000  # the corpus reaches every cataloger's claims


def test_wanted_on_random_paths() -> None:
    rng = random.Random(11)
    pieces = [*NAMES, *(d.strip("/") for d in DIRECTORIES), ".", "-info", "-INFO", ".JAR", "K"]
    pieces += [".EXE", ".dLl", "İ"]
    for _ in range(20000):
        path = "/" + "/".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        if rng.random() < 0.3:
            path += rng.choice(["", ".jar", ".deps.json", ".gemspec", ".egg-info", "/", ".exe"])
        mode, size = rng.choice(MODES), rng.choice(SIZES)
        assert claims.wanted(path, mode, size) == asked_in_turn(path, mode, size), path


def test_binary_names_are_the_rules_patterns() -> None:
    """``binary_name`` asks the patterns only for one of its exact names or a name with
    one of its prefixes: it answers as the patterns do, for every name tried."""
    import re

    rng = random.Random(3)
    samples = [*NAMES, "libcrypto.so", "python3.12", "perl5", "php8.2", "php", "phpx"]
    samples += ["libssl.so.3", "redis-check-aof", "libperl.so.5", "libphp.so", "libcurl.so.4"]
    samples += ["perl5.36.0x", "python3", "redis-", "curl2", "Node", "node.js", "libphp8.2.so"]
    letters = "abcdehilnoprsuxy0123456789.-_"
    samples += [
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(20000)
    ]
    patterns = [re.compile(p) for p in claims.BINARY_FILES.values()]
    for name in samples:
        assert claims.binary_name(name) == any(p.match(name) for p in patterns), name
