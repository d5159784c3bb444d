"""The Ruby cataloger on specifications RubyGems wrote and a lock file Bundler wrote,
and on gemspecs and lock files built to hurt.

No Ruby is installed on a fresh machine of this project, so the artefacts are kept here
as RubyGems 3.3 and Bundler 2.3.7 (Debian bookworm's ruby 3.1) wrote them.
"""

from __future__ import annotations

import time

import pytest

from portside.scanner.catalogers.ruby import (
    MAX_GEMSPEC_BYTES,
    RubyCataloger,
    RubyMetadataError,
    parse_gemfile_lock,
    parse_gemspec,
)
from portside.scanner.errors import PackageDatabaseError
from portside.scanner.model import Package
from tests.scanner.catalogers.conftest import Image, layer_digest

# specifications/default/json-2.6.1.gemspec: the second stub line lists the extensions
# separated by NUL bytes.
JSON_GEMSPEC = (
    b"# -*- encoding: utf-8 -*-\n# stub: json 2.6.1 ruby lib\n"
    b"# stub: ext/json/ext/generator/extconf.rb\x00ext/json/ext/parser/extconf.rb\x00"
    b"ext/json/extconf.rb\n\nGem::Specification.new do |s|\n"
    b'  s.name = "json".freeze\n  s.version = "2.6.1"\n\n'
    b'  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? '
    b":required_rubygems_version=\n"
    b'  s.require_paths = ["lib".freeze]\n  s.authors = ["Florian Frank".freeze]\n'
    b'  s.date = "2026-11-21"\n'
    b'  s.description = "This is a JSON implementation as a Ruby extension in C.".freeze\n'
    b'  s.homepage = "http://flori.github.com/json".freeze\n  s.licenses = ["Ruby".freeze]\n'
    b'  s.required_ruby_version = Gem::Requirement.new(">= 2.3".freeze)\n'
    b'  s.rubygems_version = "3.3.7".freeze\n  s.summary = "JSON Implementation for Ruby".freeze\n'
    b"end\n"
)

# specifications/net-ftp-0.1.3.gemspec, a bundled gem with two licences and dependencies.
NET_FTP_GEMSPEC = b"""# -*- encoding: utf-8 -*-
# stub: net-ftp 0.1.3 ruby lib

Gem::Specification.new do |s|
  s.name = "net-ftp".freeze
  s.version = "0.1.3"

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.metadata = { "homepage_uri" => "https://github.com/ruby/net-ftp", "source_code_uri" => "https://github.com/ruby/net-ftp" } if s.respond_to? :metadata=
  s.require_paths = ["lib".freeze]
  s.authors = ["Shugo Maeda".freeze]
  s.bindir = "exe".freeze
  s.date = "2021-07-07"
  s.description = "Support for the File Transfer Protocol.".freeze
  s.email = ["shugo@ruby-lang.org".freeze]
  s.homepage = "https://github.com/ruby/net-ftp".freeze
  s.licenses = ["Ruby".freeze, "BSD-2-Clause".freeze]
  s.required_ruby_version = Gem::Requirement.new(">= 2.3.0".freeze)
  s.rubygems_version = "3.3.7".freeze
  s.summary = "Support for the File Transfer Protocol.".freeze

  s.installed_by_version = "3.3.7" if s.respond_to? :installed_by_version

  if s.respond_to? :specification_version then
    s.specification_version = 4
  end

  if s.respond_to? :add_runtime_dependency then
    s.add_runtime_dependency(%q<net-protocol>.freeze, [">= 0"])
    s.add_runtime_dependency(%q<time>.freeze, [">= 0"])
  else
    s.add_dependency(%q<net-protocol>.freeze, [">= 0"])
    s.add_dependency(%q<time>.freeze, [">= 0"])
  end
end
"""

# `bundle lock --local` for a Gemfile naming rack, rake and net-ftp.
GEMFILE_LOCK = b"""GEM
  remote: https://rubygems.org/
  specs:
    date (3.2.2)
    io-wait (0.2.1)
    net-ftp (0.1.3)
      net-protocol
      time
    net-protocol (0.1.2)
      io-wait
      timeout
    rack (2.2.22)
    rake (13.0.6)
    time (0.2.0)
      date
    timeout (0.2.0)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  net-ftp
  rack
  rake

BUNDLED WITH
   2.3.7
"""

GEM_HOME = "/usr/local/bundle/specifications"


def catalog(image: Image) -> tuple[list[Package], list[str]]:
    found = RubyCataloger().catalog(*image.build(RubyCataloger()))
    return list(found), found.warnings


def test_installed_gem_specifications() -> None:
    image = (
        Image()
        .add("/usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", JSON_GEMSPEC)
        .add(f"{GEM_HOME}/net-ftp-0.1.3.gemspec", NET_FTP_GEMSPEC, layer=1)
    )
    found, warnings = catalog(image)
    assert warnings == []
    json_gem, net_ftp = sorted(found, key=lambda p: p.name)
    assert (json_gem.name, json_gem.version, json_gem.purl) == (
        "json",
        "2.6.1",
        "pkg:gem/json@2.6.1",
    )
    assert json_gem.licenses == ("Ruby",)
    assert json_gem.metadata["default_gem"] is True
    assert json_gem.layer == layer_digest(0)
    assert net_ftp.licenses == ("Ruby", "BSD-2-Clause")
    assert net_ftp.paths == (f"{GEM_HOME}/net-ftp-0.1.3.gemspec",)
    assert net_ftp.layer == layer_digest(1)
    assert net_ftp.type == "gem" and net_ftp.cataloger == "ruby"


def test_platform_gem() -> None:
    spec = (
        b"# -*- encoding: utf-8 -*-\n# stub: nokogiri 1.15.4 x86_64-linux lib\n\n"
        b'Gem::Specification.new do |s|\n  s.name = "nokogiri".freeze\n  s.version = "1.15.4"\n'
        b'  s.platform = "x86_64-linux".freeze\n  s.licenses = ["MIT".freeze]\nend\n'
    )
    (gem,), _ = catalog(Image().add(f"{GEM_HOME}/nokogiri-1.15.4-x86_64-linux.gemspec", spec))
    assert gem.purl == "pkg:gem/nokogiri@1.15.4?platform=x86_64-linux"
    assert gem.metadata["platform"] == "x86_64-linux"


def test_gemfile_lock_from_bundler() -> None:
    found, warnings = catalog(Image().add("/app/Gemfile.lock", GEMFILE_LOCK))
    assert warnings == []
    assert {(p.name, p.version) for p in found} == {
        ("date", "3.2.2"),
        ("io-wait", "0.2.1"),
        ("net-ftp", "0.1.3"),
        ("net-protocol", "0.1.2"),
        ("rack", "2.2.22"),
        ("rake", "13.0.6"),
        ("time", "0.2.0"),
        ("timeout", "0.2.0"),
    }
    assert all(p.paths == ("/app/Gemfile.lock",) for p in found)


def test_lock_sections_and_platforms() -> None:
    lock = (
        b"GIT\n  remote: https://github.com/acme/patched.git\n  revision: 0123abcd\n  specs:\n"
        b"    patched (1.1.0)\n\nPATH\n  remote: .\n  specs:\n    myapp (0.1.0)\n\n"
        b"GEM\n  remote: https://rubygems.org/\n  specs:\n    nokogiri (1.15.4-x86_64-linux)\n"
        b"      racc (~> 1.4)\n    racc (1.7.1)\n\nPLATFORMS\n  x86_64-linux\n\n"
        b"DEPENDENCIES\n  myapp!\n  nokogiri\n  patched!\n\nCHECKSUMS\n  racc (1.7.1) sha256=ab\n"
    )
    gems = {(g.name, g.version, g.platform, g.source) for g in parse_gemfile_lock(lock)}
    assert gems == {
        ("patched", "1.1.0", "ruby", "GIT"),
        ("nokogiri", "1.15.4", "x86_64-linux", "GEM"),
        ("racc", "1.7.1", "ruby", "GEM"),
    }


def test_locked_gems_already_installed_are_reported_once() -> None:
    image = (
        Image()
        .add(f"{GEM_HOME}/net-ftp-0.1.3.gemspec", NET_FTP_GEMSPEC)
        .add("/app/Gemfile.lock", GEMFILE_LOCK)
    )
    found, _ = catalog(image)
    net_ftp = [p for p in found if p.name == "net-ftp"]
    assert [p.paths for p in net_ftp] == [(f"{GEM_HOME}/net-ftp-0.1.3.gemspec",)]
    assert len(found) == 8


def test_lock_layers() -> None:
    older = GEMFILE_LOCK.replace(b"    rack (2.2.22)\n", b"    rack (2.2.20)\n")
    image = (
        Image()
        .add("/app/Gemfile.lock", older, layer=0)
        .add("/app/Gemfile.lock", GEMFILE_LOCK, layer=3)
    )
    found, _ = catalog(image)
    layers = {p.name: p.layer for p in found}
    assert layers["rack"] == layer_digest(3)
    assert layers["rake"] == layer_digest(0)


def test_hand_written_gemspec_falls_back_to_the_stub_and_file_name() -> None:
    evaluated = (
        b"# stub: sneaky 3.0.0 ruby lib\nGem::Specification.new do |s|\n"
        b"  s.name = File.read('/etc/passwd')\n  s.version = Sneaky::VERSION\nend\n"
    )
    assert (parse_gemspec(evaluated).name, parse_gemspec(evaluated).version) == ("sneaky", "3.0.0")
    bare = b"Gem::Specification.new do |spec|\n  spec.summary = 'x'\nend\n"
    gem = parse_gemspec(bare, "tiny-0.2.1.gemspec")
    assert (gem.name, gem.version, gem.platform) == ("tiny", "0.2.1", "ruby")


def test_a_ten_thousand_character_line() -> None:
    long_line = b'  s.description = "' + b"a" * 10_000 + b'".freeze\n'
    spec = NET_FTP_GEMSPEC.replace(b"  s.require_paths", long_line + b"  s.require_paths")
    hostile = b"  s.name = " + b'"x' * 5_000 + b"\n" + NET_FTP_GEMSPEC
    started = time.monotonic()
    assert parse_gemspec(spec).name == "net-ftp"
    assert parse_gemspec(hostile).name == "net-ftp"
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(range(256)) * 20, "no valid name"),
        (
            b'Gem::Specification.new do |s|\n  s.name = "../../etc"\n  s.version = "1"\nend\n',
            "no valid name",
        ),
        (
            b'Gem::Specification.new do |s|\n  s.name = "ok"\n  s.version = "1; rm -rf /"\nend\n',
            "no valid version",
        ),
        (b"x" * (MAX_GEMSPEC_BYTES + 1), "over"),
    ],
)
def test_hostile_gemspecs(data: bytes, message: str) -> None:
    with pytest.raises(RubyMetadataError, match=message) as caught:
        parse_gemspec(data)
    assert isinstance(caught.value, PackageDatabaseError)
    path = f"{GEM_HOME}/x.gemspec"
    files, context = Image().add(path, data[:MAX_GEMSPEC_BYTES]).build(RubyCataloger())
    found = RubyCataloger().catalog(files, context)
    assert list(found) == [] and len(found.warnings) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"    rake (13.0.6)\n", "no sections"),
        (b"GEM\n  specs:\n    " + b"a" * 10_000 + b" (1.0)\n", "over 4096 characters"),
    ],
)
def test_hostile_lock_files(data: bytes, message: str) -> None:
    with pytest.raises(RubyMetadataError, match=message):
        parse_gemfile_lock(data)
    found, warnings = catalog(Image().add("/app/Gemfile.lock", data))
    assert found == [] and len(warnings) == 1


def test_claims() -> None:
    cataloger = RubyCataloger()
    assert cataloger.claims(f"{GEM_HOME}/rack-2.2.22.gemspec", 0o644, 100)
    assert cataloger.claims(
        "/usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec", 0o644, 100
    )
    assert cataloger.claims("/app/Gemfile.lock", 0o644, 100)
    assert not cataloger.claims("/src/rack/rack.gemspec", 0o644, 100)  # a source checkout
    # Gems ship their own development lock files.
    assert not cataloger.claims(
        "/usr/lib/ruby/gems/3.1.0/gems/rbs-2.1.0/steep/Gemfile.lock", 0o644, 100
    )
    assert cataloger.claims("/srv/gems/Gemfile.lock", 0o644, 100)
    assert not cataloger.claims(f"{GEM_HOME}/rack-2.2.22.gemspec", 0o644, MAX_GEMSPEC_BYTES + 1)
