"""Vulnerability matching: packages per second against the full imported test data, and
the time the store takes to match 1,000 stored inventories again after an import.

The database holds every record in ../shared/data/vulndb (2,661 PyPA and 4,291 Go OSV
records). The inventory is that of the real test image (tests/scanner/realimage.py: 97
packages, built or taken from its cache). The store's re-match runs `rematch_all()` on the
embedded default (SQLite in a temporary data directory) over 1,000 stored scans of that
inventory, each with its version of urllib3 and requests varied so that the findings
differ between scans.

    .venv/bin/python benchmarks/match.py [--scans 1000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "vulndb"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=1000)
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="portside-match-"))
    os.environ["PORTSIDE_DATA_DIR"] = str(work)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "portside.config.settings"

    from tests.scanner.realimage import ensure_image

    from portside.core import records
    from portside.scanner.analyze import analyze
    from portside.vulndb import matcher
    from portside.vulndb.importers import import_osv
    from portside.vulndb.store import VulnStore

    started = time.perf_counter()
    store = VulnStore.open(work / "vulndb.sqlite")
    import_osv(store, DATA / "pypa" / "vulns", source="pypa")
    import_osv(store, DATA / "golang" / "osv", source="go")
    print(f"import of PyPA and Go OSV data: {time.perf_counter() - started:.1f} s")

    inventory = analyze(ensure_image().oci_dir).inventory
    packages = list(inventory.packages)
    variants = []
    for n in range(200):  # distinct versions: no answer can come from an earlier lookup
        for package in packages:
            if package.type == "pypi":
                version = f"{1 + n % 3}.{n}.{n % 7}"
                variants.append(records.replace(package, version=version))
            else:
                variants.append(package)
    for label, items in (("first lookups", variants), ("repeated", variants)):
        started = time.perf_counter()
        found = matcher.match(items, inventory.distro, store)
        elapsed = time.perf_counter() - started
        print(
            f"match {len(items):,} packages ({label}): {elapsed:.2f} s, "
            f"{len(items) / elapsed:,.0f} packages/s, {len(found):,} findings"
        )
    store.close()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from portside.accounts.models import User
    from portside.accounts.services import create_organization
    from portside.core import clock
    from portside.core.origin import CLI
    from portside.registry.models import Repository
    from portside.scanner.model import inventory_to_dict
    from portside.scanning.models import Scan, ScanStatus
    from portside.scanning.services import rematch_all

    owner = User.objects.create(username="bench", email="bench@example.com")
    org = create_organization(name="benchorg", owner=owner, acting="cli", origin=CLI)
    repository = Repository.objects.create(
        organization=org, name="benchorg/app", created_at=clock.now()
    )
    stored = inventory_to_dict(inventory, owned_files=False)
    scans = []
    for n in range(options.scans):
        varied = dict(stored)
        varied["packages"] = [
            {**p, "version": f"1.{n % 30}.{n % 5}"} if p["name"] in ("urllib3", "requests") else p
            for p in stored["packages"]
        ]
        scans.append(
            Scan(
                repository=repository,
                digest=f"sha256:{n:064x}",
                status=ScanStatus.DONE,
                requested_at=clock.now(),
                inventory=varied,
            )
        )
    Scan.objects.bulk_create(scans)
    for label in ("first re-match", "again, nothing new"):
        started = time.perf_counter()
        result = rematch_all()
        elapsed = time.perf_counter() - started
        print(
            f"re-match {result['scans']:,} stored inventories ({label}): {elapsed:.1f} s, "
            f"{result['new_findings']:,} new findings"
        )


if __name__ == "__main__":
    main()
