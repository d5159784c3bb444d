"""Ruby gems: the specifications RubyGems writes for every installed gem, and the gems an
application's ``Gemfile.lock`` pins.

RubyGems keeps one ``NAME-VERSION.gemspec`` per installed gem in the ``specifications``
directory of each gem home (``/usr/local/bundle``, ``/usr/lib/ruby/gems/3.1.0``,
``vendor/bundle/ruby/3.1.0``; the gems that ship with Ruby itself under
``specifications/default``). That file is Ruby code. It is never evaluated: the gem's
name, version, platform and licences are read from the literal assignments RubyGems
generates (``s.name = "rack".freeze``) and, failing those, from its ``# stub:`` line and
the file name. Lines longer than ``MAX_LINE`` are not looked at, so a hostile file costs
linear time whatever it holds.

A ``Gemfile.lock`` (but not one inside an installed gem's directory, which only pins
that gem's development tools) lists under ``GEM`` (and ``GIT``) each resolved gem as
``    name (version)`` or ``    name (version-platform)``. Gems under ``PATH`` are the
application's own code and are left out. A locked gem whose specification is also in the
image is reported once, from the specification.

Hostile input: ``parse_gemspec`` and ``parse_gemfile_lock`` raise ``RubyMetadataError`` (a
``PackageDatabaseError``, so a ``ScanError``) with a message; ``catalog`` never raises,
skips the file and returns a ``Findings`` list whose ``warnings`` name the file and the
reason.
"""

from __future__ import annotations

import posixpath
import re

from portside.core.records import record
from portside.scanner import purl as purls
from portside.scanner.catalogers import claims, introduced
from portside.scanner.catalogers.base import Context, Files, FileVersion, Findings
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package

MAX_GEMSPEC_BYTES = claims.RUBY_MAX_GEMSPEC_BYTES
MAX_LOCK_BYTES = claims.RUBY_MAX_LOCK_BYTES
MAX_LINE = 4096
LOCK_FILES = claims.RUBY_LOCK_FILES

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
# Gem versions are dot-separated segments of digits and letters ("1.0.0.pre.2").
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.]{0,127}$")
_PLATFORM = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

# One Ruby string literal: "..." or '...' (no escapes, which generated specs do not use
# in these fields), or %q{...} / %q<...>.
_LITERAL = r"""(?:"([^"\\\n]{0,500})"|'([^'\\\n]{0,500})'|%q[{<]([^}>\n]{0,500})[}>])"""
_ASSIGN = re.compile(
    r"^\s*[a-z_]\w{0,30}\.(name|version|platform|license|licenses)\s*=\s*(.{0,3000})$"
)
_SCALAR = re.compile(rf"^{_LITERAL}(?:\.freeze)?\s*$")
_ITEM = re.compile(rf"\s*{_LITERAL}(?:\.freeze)?\s*(,|\])")
_STUB = re.compile(r"^# stub: (\S{1,200}) (\S{1,128}) (\S{1,100})(?: |$)")
_LOCK_SPEC = re.compile(
    r"^ {4}([A-Za-z0-9][A-Za-z0-9._-]{0,199}) \(([0-9][0-9A-Za-z.]{0,127})"
    r"(?:-([A-Za-z0-9_.-]{1,100}))?\)$"
)


class RubyMetadataError(PackageDatabaseError):
    """A gemspec or Gemfile.lock that cannot be read as one."""


@record
class Gem:
    name: str
    version: str
    platform: str = "ruby"
    licenses: tuple[str, ...] = ()
    source: str = ""  # for a locked gem: "GEM" or "GIT"

    @property
    def purl(self) -> str:
        qualifiers = {"platform": self.platform} if self.platform != "ruby" else None
        return purls.build(type="gem", name=self.name, version=self.version, qualifiers=qualifiers)


# Control characters and lone surrogates (which JSON's \u escapes can produce) cannot be
# stored as text by the databases the inventory is kept in.
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNSTORABLE.sub("", text)


def _decode(data: bytes, limit: int, what: str) -> str:
    if len(data) > limit:
        raise RubyMetadataError(f"{what} is {len(data)} bytes, over {limit}")
    # No check for NUL: RubyGems itself separates the extensions on the second stub line
    # with NUL bytes.
    return data.decode("utf-8", "replace")


def _literal(match: re.Match[str]) -> str:
    return _clean(next(group for group in match.groups()[:3] if group is not None))


def _values(expression: str) -> list[str]:
    """The value of a right-hand side that is a string literal or a list of them, as
    RubyGems writes (``"rack".freeze``, ``["MIT".freeze, "Ruby".freeze]``); anything else
    (a constant, a method call) is code, whose value cannot be known without running it."""
    expression = expression.strip()
    scalar = _SCALAR.match(expression)
    if scalar:
        return [_literal(scalar)]
    if not expression.startswith("["):
        return []
    values: list[str] = []
    position = 1
    while position < len(expression):
        item = _ITEM.match(expression, position)
        if item is None:
            return []
        values.append(_literal(item))
        position = item.end()
        if item.group(4) == "]":
            return values if not expression[position:].strip() else []
    return []


def _from_file_name(filename: str) -> tuple[str, str, str]:
    """``rack-2.2.22.gemspec`` or ``nokogiri-1.15.4-x86_64-linux.gemspec``."""
    stem = filename.removesuffix(".gemspec")
    parts = stem.split("-")
    for i in range(len(parts) - 1, 0, -1):
        if _VERSION.match(parts[i]):
            return "-".join(parts[:i]), parts[i], "-".join(parts[i + 1 :]) or "ruby"
    return "", "", "ruby"


def parse_gemspec(data: bytes, filename: str = "") -> Gem:
    """The gem a RubyGems-generated specification describes, without evaluating it."""
    text = _decode(data, MAX_GEMSPEC_BYTES, "gemspec")
    fields: dict[str, list[str]] = {}
    stub: tuple[str, str, str] | None = None
    for line in text.split("\n"):
        if len(line) > MAX_LINE:
            continue
        if stub is None and (match := _STUB.match(line)):
            stub = (match.group(1), match.group(2), match.group(3))
            continue
        match = _ASSIGN.match(line)
        if match and match.group(1) not in fields:
            fields[match.group(1)] = _values(match.group(2))
    guessed = _from_file_name(filename)
    name = next(iter(fields.get("name", ())), "") or (stub[0] if stub else "") or guessed[0]
    version = next(iter(fields.get("version", ())), "") or (stub[1] if stub else "") or guessed[1]
    platform = next(iter(fields.get("platform", ())), "") or (stub[2] if stub else "") or guessed[2]
    if not _NAME.match(name):
        raise RubyMetadataError(f"gemspec has no valid name (found {name[:80]!r})")
    if not _VERSION.match(version):
        raise RubyMetadataError(f"gemspec has no valid version (found {version[:80]!r})")
    if not _PLATFORM.match(platform):
        platform = "ruby"
    licenses = tuple(
        dict.fromkeys(
            value.strip()
            for value in fields.get("licenses", []) + fields.get("license", [])
            if value.strip()
        )
    )
    return Gem(name, version, platform, licenses)


def parse_gemfile_lock(data: bytes) -> list[Gem]:
    """The gems a Gemfile.lock pins under ``GEM`` and ``GIT``."""
    text = _decode(data, MAX_LOCK_BYTES, "Gemfile.lock")
    found: dict[tuple[str, str, str], Gem] = {}
    section = ""
    in_specs = False
    sections = 0
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if len(line) > MAX_LINE:
            raise RubyMetadataError(f"Gemfile.lock has a line over {MAX_LINE} characters")
        if line and not line[0].isspace():
            section, in_specs = line.strip(), False
            sections += 1
            continue
        if line.strip() == "specs:":
            in_specs = True
            continue
        if not in_specs or section not in ("GEM", "GIT"):
            continue
        match = _LOCK_SPEC.match(line)
        if match:
            gem = Gem(match.group(1), match.group(2), match.group(3) or "ruby", source=section)
            found.setdefault((gem.name, gem.version, gem.platform), gem)
    if sections == 0 and text.strip():
        raise RubyMetadataError("Gemfile.lock has no sections: not a lock file")
    return list(found.values())


_is_gemspec = claims.ruby_gemspec
_in_gem = claims.in_gem


class RubyCataloger:
    """Installed gems and Gemfile.lock entries."""

    name = "ruby"

    def claims(self, path: str, mode: int, size: int) -> bool:
        return claims.ruby(path, mode, size)

    def catalog(self, files: Files, context: Context) -> Findings:
        found = Findings()
        locks: list[FileVersion] = []
        for current in files.present():
            if not self.claims(current.path, current.mode, len(current.data)):
                continue  # another cataloger's file
            if not _is_gemspec(current.path):
                locks.append(current)
                continue
            try:
                found.append(self._installed(current, files, context))
            except RubyMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
        installed = {(p.name, p.version) for p in found}
        for current in locks:
            try:
                found.extend(self._locked(current, installed, files, context))
            except RubyMetadataError as error:
                found.warnings.append(f"{current.path}: {error}")
        return found

    def _installed(self, current: FileVersion, files: Files, context: Context) -> Package:
        filename = current.path.rpartition("/")[2]
        gem = parse_gemspec(current.data, filename)

        def keys(data: bytes) -> list[tuple[str, str]]:
            earlier = gem if data is current.data else parse_gemspec(data, filename)
            return [(earlier.name, earlier.version)]

        since = introduced(files.history(current.path), keys)
        metadata: dict[str, object] = {"gem_home": posixpath.dirname(current.path)}
        if gem.platform != "ruby":
            metadata["platform"] = gem.platform
        if current.path.endswith(f"/specifications/default/{filename}"):
            metadata["default_gem"] = True
        return Package(
            type="gem",
            name=gem.name,
            version=gem.version,
            purl=gem.purl,
            cataloger=self.name,
            layer=context.layer_digest(since.get((gem.name, gem.version), current.layer)),
            paths=(current.path,),
            licenses=gem.licenses,
            metadata=metadata,
        )

    def _locked(
        self,
        current: FileVersion,
        installed: set[tuple[str, str]],
        files: Files,
        context: Context,
    ) -> list[Package]:
        gems = [g for g in parse_gemfile_lock(current.data) if (g.name, g.version) not in installed]
        since = introduced(
            files.history(current.path), lambda data: [g.purl for g in parse_gemfile_lock(data)]
        )
        return [
            Package(
                type="gem",
                name=gem.name,
                version=gem.version,
                purl=gem.purl,
                cataloger=self.name,
                layer=context.layer_digest(since.get(gem.purl, current.layer)),
                paths=(current.path,),
                metadata={"lock_file": current.path.rpartition("/")[2], "source": gem.source}
                | ({"platform": gem.platform} if gem.platform != "ruby" else {}),
            )
            for gem in gems
        ]
