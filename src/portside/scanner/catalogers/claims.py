"""Which files each cataloger reads: the tests on a path, its mode and its size that
decide, for every regular file of every layer, whether the analysis keeps its bytes.

They live here, apart from the catalogers, so that an analysis can offer every file to
every cataloger while loading a cataloger's module (its parsers and what they import)
only when the image holds a file it claims: most images have a few kinds of package
metadata, and loading every cataloger took a third of the time a scan of a small image
takes. Each cataloger's ``claims`` is the function of its name here; the limits and
names they test are defined here and re-exported by the cataloger's module.

Every function is called for every regular file, so each is a few string tests.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from functools import cache

MiB = 1024 * 1024

# --- operating-system packages ---------------------------------------------------------------

DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_STATUS_D = "/var/lib/dpkg/status.d/"
DPKG_INFO = "/var/lib/dpkg/info/"
DPKG_DOC = "/usr/share/doc/"
DPKG_MAX_COPYRIGHT_BYTES = 4 * MiB


def dpkg(path: str, mode: int, size: int) -> bool:
    """The status file, distroless ``status.d`` paragraphs, owned-file lists and the
    copyright file of each package."""
    if path == DPKG_STATUS:
        return True
    if path.startswith(DPKG_STATUS_D):
        return "/" not in path[len(DPKG_STATUS_D) :]
    if path.startswith(DPKG_INFO):
        return path.endswith(".list") and "/" not in path[len(DPKG_INFO) :]
    return (
        path.startswith(DPKG_DOC)
        and path.endswith("/copyright")
        and path.count("/") == 5
        and size <= DPKG_MAX_COPYRIGHT_BYTES
    )


APK_DATABASES = ("/lib/apk/db/installed", "/usr/lib/apk/db/installed")


def apk(path: str, mode: int, size: int) -> bool:
    return path in APK_DATABASES


# In order of preference: a converted system may keep its old database beside the new.
RPM_DATABASES = (
    ("/usr/lib/sysimage/rpm/rpmdb.sqlite", "sqlite"),
    ("/var/lib/rpm/rpmdb.sqlite", "sqlite"),
    ("/usr/lib/sysimage/rpm/Packages.db", "ndb"),
    ("/var/lib/rpm/Packages.db", "ndb"),
    ("/usr/lib/sysimage/rpm/Packages", "bdb"),
    ("/var/lib/rpm/Packages", "bdb"),
)
_RPM_PATHS = frozenset(path for path, _ in RPM_DATABASES)


def rpm(path: str, mode: int, size: int) -> bool:
    return path in _RPM_PATHS


# --- languages -------------------------------------------------------------------------------

PYTHON_MAX_METADATA_BYTES = 8 * MiB
PYTHON_MAX_RECORD_BYTES = 32 * MiB
PYTHON_DIST_INFO_SUFFIX = ".dist-info/METADATA"
PYTHON_EGG_INFO_SUFFIX = ".egg-info/PKG-INFO"
PYTHON_EGG_SUFFIX = "/EGG-INFO/PKG-INFO"


def python_metadata(path: str) -> bool:
    """A distribution's core metadata (``METADATA``, ``PKG-INFO``, or an ``.egg-info``
    file)."""
    return (
        path.endswith(PYTHON_DIST_INFO_SUFFIX)
        or path.endswith(PYTHON_EGG_INFO_SUFFIX)
        or path.endswith(PYTHON_EGG_SUFFIX)
        or path.endswith(".egg-info")
    )


def python(path: str, mode: int, size: int) -> bool:
    """Core metadata and the lists of installed files beside it."""
    if python_metadata(path):
        return size <= PYTHON_MAX_METADATA_BYTES
    if path.endswith(".dist-info/RECORD") or path.endswith(".egg-info/installed-files.txt"):
        return size <= PYTHON_MAX_RECORD_BYTES
    return False


NPM_MAX_MANIFEST_BYTES = 4 * MiB
NPM_MAX_LOCK_BYTES = 64 * MiB
NPM_LOCK_FILES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml"}
)


def in_node_modules(path: str) -> bool:
    return "/node_modules/" in path


def npm_package_root(path: str) -> bool:
    """Whether a package.json inside node_modules is a package's root manifest."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[-3] == "node_modules":
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def npm(path: str, mode: int, size: int) -> bool:
    """Installed packages' root manifests, and an application's own manifest and lock
    files."""
    basename = path.rpartition("/")[2]
    if basename == "package.json":
        return size <= NPM_MAX_MANIFEST_BYTES and (
            not in_node_modules(path) or npm_package_root(path)
        )
    return basename in NPM_LOCK_FILES and size <= NPM_MAX_LOCK_BYTES and not in_node_modules(path)


GO_MAX_BINARY_BYTES = 256 * MiB
GO_MIN_BINARY_BYTES = 1024
# Executables that are certainly not Go programs, told apart by name alone (claims must
# be cheap, and every claimed file is held in memory until the image is read).
GO_NOT_GO = (".so", ".sh", ".py", ".pl", ".rb", ".js", ".txt", ".conf", ".json", ".a", ".o")


def golang(path: str, mode: int, size: int) -> bool:
    """Executables that may be Go programs: those with an executable bit, and Windows
    ones (``.exe``, ``.dll``) by name, which images often hold without one."""
    if not GO_MIN_BINARY_BYTES <= size <= GO_MAX_BINARY_BYTES:
        return False
    if not mode & 0o111:
        return windows_program(path)
    basename = path.rpartition("/")[2]
    return ".so." not in basename and not basename.endswith(GO_NOT_GO)


JAVA_ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
JAVA_MAX_ARCHIVE_BYTES = 256 * MiB


def java(path: str, mode: int, size: int) -> bool:
    """Java archives (a zip has at least its 22-byte end record)."""
    return path.lower().endswith(JAVA_ARCHIVE_SUFFIXES) and 22 <= size <= JAVA_MAX_ARCHIVE_BYTES


RUBY_MAX_GEMSPEC_BYTES = 1 * MiB
RUBY_MAX_LOCK_BYTES = 16 * MiB
RUBY_LOCK_FILES = frozenset({"Gemfile.lock", "gems.locked"})


def ruby_gemspec(path: str) -> bool:
    """An installed gem's specification (``.../specifications/NAME-VERSION.gemspec``)."""
    if not path.endswith(".gemspec"):
        return False
    parent = posixpath.dirname(path)
    return parent.endswith("/specifications") or parent.endswith("/specifications/default")


def in_gem(path: str) -> bool:
    """Whether a lock file lies inside an installed gem (``.../gems/rbs-2.1.0/...``): a
    gem's own development lock file, not what the image runs."""
    return "gems" in path.split("/")[:-2]


def ruby(path: str, mode: int, size: int) -> bool:
    """Installed gems' specifications and applications' lock files."""
    if ruby_gemspec(path):
        return size <= RUBY_MAX_GEMSPEC_BYTES
    return (
        path.rpartition("/")[2] in RUBY_LOCK_FILES
        and size <= RUBY_MAX_LOCK_BYTES
        and not in_gem(path)
    )


COMPOSER_MAX_INSTALLED_BYTES = 32 * MiB
COMPOSER_MAX_LOCK_BYTES = 32 * MiB
COMPOSER_INSTALLED_SUFFIX = "/vendor/composer/installed.json"
COMPOSER_LOCK_FILE = "composer.lock"


def in_vendor(path: str) -> bool:
    return "/vendor/" in path


def composer(path: str, mode: int, size: int) -> bool:
    """Composer's record of installed packages, and applications' lock files."""
    if path.endswith(COMPOSER_INSTALLED_SUFFIX):
        return size <= COMPOSER_MAX_INSTALLED_BYTES
    return (
        path.endswith("/" + COMPOSER_LOCK_FILE)
        and size <= COMPOSER_MAX_LOCK_BYTES
        and not in_vendor(path)
    )


DOTNET_MAX_DEPS_BYTES = 32 * MiB
DOTNET_SUFFIX = ".deps.json"


def dotnet(path: str, mode: int, size: int) -> bool:
    """An application's ``NAME.deps.json``."""
    return (
        path.endswith(DOTNET_SUFFIX)
        and not path.endswith("/" + DOTNET_SUFFIX)
        and size <= DOTNET_MAX_DEPS_BYTES
    )


RUST_MAX_BINARY_BYTES = 256 * MiB
RUST_MIN_BINARY_BYTES = 1024
RUST_MAX_LOCK_BYTES = 16 * MiB
RUST_LOCK_FILE = "Cargo.lock"
# Executables that are certainly not compiled programs, told apart by name alone.
RUST_NOT_BINARY = (".so", ".sh", ".py", ".pl", ".rb", ".js", ".txt", ".conf", ".json", ".a", ".o")
# Windows programs and libraries, in any case: images often hold them without an
# executable bit, which Windows does not use.
RUST_WINDOWS_SUFFIXES = frozenset({".exe", ".dll"})


def windows_program(path: str) -> bool:
    """Whether the name ends like a Windows program's or library's. Only a name whose
    fourth character from the end is a dot can: lowering case never shortens a string."""
    return path[-4:].lower() in RUST_WINDOWS_SUFFIXES


def rust(path: str, mode: int, size: int) -> bool:
    """``Cargo.lock`` files outside Cargo's registry, and executables that may carry
    ``cargo auditable`` data: those with an executable bit, and Windows ones by name."""
    basename = path.rpartition("/")[2]
    if basename == RUST_LOCK_FILE:
        return size <= RUST_MAX_LOCK_BYTES and "/.cargo/registry/" not in path
    if not RUST_MIN_BINARY_BYTES <= size <= RUST_MAX_BINARY_BYTES:
        return False
    if not mode & 0o111:
        return windows_program(path)
    return ".so." not in basename and not basename.endswith(RUST_NOT_BINARY)


BINARY_MAX_BYTES = 256 * MiB
# The file names of the programs and libraries ``binaries`` recognises, by rule.
BINARY_FILES = {
    "busybox": r"^busybox$",
    "libcrypto": r"^libcrypto\.so(?:\.\d{1,3}){0,3}$",
    "libssl": r"^libssl\.so(?:\.\d{1,3}){0,3}$",
    "openssl": r"^openssl$",
    "python": r"^(?:python\d\.\d{1,2}|libpython\d\.\d{1,2}m?\.so(?:\.\d{1,3}){0,3})$",
    "node": r"^node$",
    "redis": r"^redis-(?:server|sentinel|check-rdb|check-aof)$",
    "nginx": r"^nginx$",
    "httpd": r"^(?:httpd|apache2)$",
    "curl": r"^(?:curl|libcurl(?:-gnutls|-nss)?\.so(?:\.\d{1,3}){0,3})$",
    "postgresql": r"^(?:postgres|postmaster)$",
    "perl": r"^(?:perl(?:5[\d.]{0,8})?|libperl\.so(?:\.\d{1,3}){0,3})$",
    "php": r"^(?:php|php-fpm|php-cgi|libphp)(?:\d(?:\.\d{1,2})?)?(?:\.so)?$",
    "haproxy": r"^haproxy$",
}
# Every pattern above is one of these names, or starts with one of these prefixes: the
# names of most files fail this test before the patterns are asked (or even compiled).
_BINARY_EXACT = frozenset(
    {"busybox", "openssl", "node", "nginx", "httpd", "apache2", "curl", "postgres"}
    | {"postmaster", "haproxy"}
)
_BINARY_PREFIXES = (
    "libcrypto.so",
    "libssl.so",
    "python",
    "libpython",
    "redis-",
    "libcurl",
    "perl",
    "libperl.so",
    "php",
    "libphp",
)


@cache
def _binary_names() -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in BINARY_FILES.values()))


def binary_name(basename: str) -> bool:
    """Whether a file of this name may be one of the programs ``binaries`` recognises."""
    if basename not in _BINARY_EXACT and not basename.startswith(_BINARY_PREFIXES):
        return False
    return _binary_names().match(basename) is not None


def binary(path: str, mode: int, size: int) -> bool:
    return size <= BINARY_MAX_BYTES and binary_name(path.rpartition("/")[2])


# Each cataloger module's claims, by the module's name.
BY_MODULE: dict[str, Callable[[str, int, int], bool]] = {
    "dpkg": dpkg,
    "apk": apk,
    "rpm": rpm,
    "python": python,
    "npm": npm,
    "golang": golang,
    "java": java,
    "ruby": ruby,
    "composer": composer,
    "dotnet": dotnet,
    "rust": rust,
    "binaries": binary,
}


# What ``wanted`` tests before asking a cataloger: names that only some catalogers claim,
# and where the OS package databases live.
_NAMED = frozenset(
    {"package.json", *NPM_LOCK_FILES, *RUBY_LOCK_FILES, RUST_LOCK_FILE, COMPOSER_LOCK_FILE}
    | {COMPOSER_INSTALLED_SUFFIX.rpartition("/")[2]}
)
_DPKG_DIRECTORIES = ("/var/lib/dpkg/", DPKG_DOC)
_DATABASES = frozenset(APK_DATABASES) | _RPM_PATHS


def wanted(path: str, mode: int, size: int) -> bool:
    """Whether any cataloger of ``BY_MODULE`` claims the file, as asking each in turn
    would answer, in a fraction of the time: each cataloger is asked only when a
    condition without which it claims nothing holds (an executable bit, one of the few
    names or directories it reads, a suffix), and those conditions are tested once for
    all of them. Called for every regular file of every layer."""
    base = path.rpartition("/")[2]
    if mode & 0o111 and (golang(path, mode, size) or rust(path, mode, size)):
        return True
    if size <= BINARY_MAX_BYTES and binary_name(base):
        return True
    if base in _NAMED and (
        npm(path, mode, size)
        or ruby(path, mode, size)
        or rust(path, mode, size)
        or composer(path, mode, size)
    ):
        return True
    if path.startswith(_DPKG_DIRECTORIES) and dpkg(path, mode, size):
        return True
    if path in _DATABASES:
        return True
    if ("-info" in path or "-INFO" in path) and python(path, mode, size):
        return True
    if base.endswith(".gemspec") and ruby(path, mode, size):
        return True
    if base.endswith(DOTNET_SUFFIX) and dotnet(path, mode, size):
        return True
    # Every Java suffix, and every Windows one Rust and Go claim without an executable
    # bit, is a dot and three ASCII letters, which only ASCII letters give in lower case:
    # a path that ends in one has the dot fourth from its end.
    return path[-4:-3] == "." and (
        java(path, mode, size)
        or (windows_program(path) and (rust(path, mode, size) or golang(path, mode, size)))
    )
