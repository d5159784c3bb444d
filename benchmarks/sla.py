"""The vulnerability SLA at store scale: the periodic sweep, and the clocks a re-match starts.

For each backend (the embedded SQLite default in a temporary data directory, and a
temporary PostgreSQL database on 127.0.0.1:5432, user postgres) the benchmark builds, in a
child process and with ``bulk_create``, a store of 5,000 live products (4 per publisher),
each listing one repository with 4 tags on 4 distinct image manifests (20,000 listed
images; the listing's revision names them as ``catalog.manifest.freeze`` does). The
vulnerability database is generated OSV data for PyPI packages (``--pool`` advisories in
each of two pools, a realistic mix: about 8 % Critical, 24 % Major, 44 % Minor, 24 % with
no score). Every image has a stored inventory of 40 packages (15 clean ones, 20 from its
product's base layer, shared by its 4 images, and 5 of its own) and a done scan whose 25
open findings are what the store's matcher finds in it (500,000 findings). Open clocks are
what ``clocks.reconcile`` would have made for the Critical and Major keys (about 13 a
product), their deadlines and next reminders spread over the coming days as the sweep,
every minute, would have left them, and a day's backlog at the measured instant:
``--due`` clocks past their deadline across ``--due-products`` products, ``--reminders``
reminders due, ``--revocations`` listings on hold for 30 days, ``--lapsed`` approved VEX
statements expired, and 50 listings already on hold. Events go through the configured
task backend (the database one), so every hold and reminder is queued for its
subscribers as in production.

1. **Sweep with a day's backlog**: one ``policy.services.sweep()`` at the measured
   instant (``core.clock.frozen``): clocks made overdue, holds placed (search index,
   hold history, audit row, event), reminders queued, listings revoked, lapsed
   statements matched again. The store is put back as it was between ``--runs`` runs
   (clocks, listings, hold history and statements of the products touched); best and
   every run are printed.
2. **Steady state**: the same sweep again with nothing due, best of ``--runs``; and the
   sweep a minute later (the clocks that fall due in that minute).
3. **A feed import and the clocks it starts**: ``--new-advisories`` advisories are added
   to the feed (packages of the ``--hit-products`` products' images, clean until then:
   250 products, 1,000 images), the feed is imported again, and the stored inventories
   are matched again (timed): by default only the 1,000 images the import hits, with
   ``rematch_all()``'s own loop (``services.rematch`` per scan, one connection to the
   vulnerability database), which is the least the re-match can cost; with
   ``--rematch-all``, ``rematch_all()`` itself over all 20,000. Then the policy's
   reaction to the ``scanning:findings:rematched`` events it queued: ``clocks.reconcile``
   of every product listing a repository with new findings (timed, and the clocks
   started).

``--profile`` adds, after the measures, one more backlog sweep with its statements
counted and timed by kind and table, its hottest functions (cProfile), and the plans
(``EXPLAIN ANALYZE`` on PostgreSQL) of the three queries that find the sweep's work.

Targets: the sweep (find due clocks, place holds, queue mails) under 2 s on PostgreSQL and
SQLite; the clocks of a re-match after a feed import of 1,000 advisories started in less
time than the re-match itself.

    .venv/bin/python benchmarks/sla.py [--backend sqlite|postgresql|both] [--products 5000]
        [--due 1000] [--due-products 200] [--reminders 1000] [--new-advisories 1000]
        [--hit-products 250] [--runs 3] [--rematch-all] [--profile]

Needs, for PostgreSQL, a server on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stores import scratch_store  # noqa: E402

PRODUCTS_PER_PUBLISHER = 4
TAGS = ("1.0", "1.1", "2.0", "2.1")  # sorted, as reconcile lists them
SHARED, OWN, CLEAN = 20, 5, 15  # packages of an image: base layer, its own, clean ones
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)  # the measured instant
BUILT = NOW - dt.timedelta(days=60)  # when the images were first scanned
VECTORS = {
    "critical": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "major": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N",
    "minor": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
}


def severity_of(n: int) -> str:
    """The class of pool advisory ``n``: 2 in 25 Critical, 6 Major, 11 Minor, 6 unscored."""
    r = n % 25
    return "critical" if r < 2 else "major" if r < 8 else "minor" if r < 19 else "unknown"


def osv_record(ident: str, package: str, severity: str, n: int) -> dict[str, Any]:
    record: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z",
        "aliases": [f"CVE-2026-{100000 + n}"],
        "summary": f"A flaw in {package}",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": package},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            }
        ],
        "references": [{"type": "ADVISORY", "url": f"https://example.com/advisories/{ident}"}],
    }
    if severity in VECTORS:
        record["severity"] = [{"type": "CVSS_V3", "score": VECTORS[severity]}]
    return record


def write_feed(folder: Path, pool: int, extra: int) -> None:
    """The OSV feed: ``pool`` advisories on base-layer packages, ``pool`` on images' own
    packages, and ``extra`` advisories on packages that had none before (the import)."""
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, kind, count, offset in (
        ("base", "B", pool, 0),
        ("app", "A", pool, pool),
        ("extra", "N", extra, 2 * pool),
    ):
        for n in range(count):
            ident = f"PSB-{kind}-{n:05d}"
            record = osv_record(ident, f"{prefix}-lib-{n}", severity_of(n), offset + n)
            (folder / f"{ident}.json").write_text(json.dumps(record))


def package(name: str, version: str, layer: str) -> dict[str, Any]:
    return {
        "type": "pypi",
        "name": name,
        "version": version,
        "purl": f"pkg:pypi/{name}@{version}",
        "cataloger": "python",
        "layer": layer,
        "paths": [f"/usr/lib/python3/site-packages/{name}-{version}.dist-info/METADATA"],
        "source_name": "",
        "source_version": "",
        "licenses": ["MIT"],
        "files": [],
        "metadata": {},
    }


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


# --- the store ---------------------------------------------------------------------------------


def build(options: argparse.Namespace, feed: Path) -> dict[str, Any]:
    """Generate the store; returns the product ids of each slice of the backlog."""
    from django.conf import settings
    from django.db import connection, transaction

    from portside.accounts.models import Namespace, Organization
    from portside.catalog import search
    from portside.catalog.models import Listing, Product, ProductSource, Revision
    from portside.core import clock
    from portside.oci import mediatypes
    from portside.policy import clocks
    from portside.policy.models import Clock, HoldEvent, VexStatement
    from portside.registry.models import Manifest, Repository, Tag
    from portside.scanner.model import inventory_from_dict
    from portside.scanning import results
    from portside.scanning.models import Finding, Scan, ScanInventory
    from portside.vulndb.importers.osv import import_osv
    from portside.vulndb.store import VulnStore

    rng = random.Random(11)
    started = time.perf_counter()
    write_feed(feed, options.pool, 0)
    store = VulnStore.open(Path(settings.VULNDB_PATH))
    import_osv(store, feed, source="bench")
    publishers = -(-options.products // PRODUCTS_PER_PUBLISHER)
    names = [f"pub{n:05d}" for n in range(publishers)]
    with transaction.atomic():
        Namespace.objects.bulk_create([Namespace(name=n, kind="org") for n in names])
        orgs = Organization.objects.bulk_create(
            [Organization(name=n, display_name=f"Publisher {n}", created_at=BUILT) for n in names]
        )
    hit = set(range(0, options.products, max(options.products // options.hit_products, 1)))
    extra_of: dict[int, list[str]] = {}  # product -> its images' packages the import hits
    spare = list(range(options.new_advisories))
    rng.shuffle(spare)
    for i, p in enumerate(sorted(hit)):
        # one in the base layer (all 4 images) and one of each image's own
        base_extra = f"extra-lib-{spare[(5 * i) % len(spare)]}"
        extra_of[p] = [
            f"{base_extra},extra-lib-{spare[(5 * i + 1 + k) % len(spare)]}"
            for k in range(len(TAGS))
        ]
    # What the matcher finds in each package (a finding depends on the package, not on the
    # image, but for the layer that brought it): one match of every vulnerable package.
    every = [package(f"base-lib-{n}", f"1.{n % 9}", "") for n in range(options.pool)]
    every += [
        package(f"app-lib-{n}", f"1.{k}.{n % 7}", "")
        for k in range(len(TAGS))
        for n in range(options.pool)
    ]
    template = results.plan(
        Scan(match_count=0),
        inventory_from_dict({"image": "all", "packages": every}),
        vulndb=store,
    )
    found_in = {(f.package_name, f.package_version): f for f in template.new}
    assert len(found_in) == len(every), len(found_in)
    keys: dict[int, dict[tuple[str, str, str], list[dict[str, Any]]]] = {}
    product_ids: list[int] = []
    org_of: dict[int, int] = {}
    batch = 250
    with clock.frozen(BUILT):
        for first in range(0, options.products, batch):
            chunk = range(first, min(first + batch, options.products))
            with transaction.atomic():
                products = Product.objects.bulk_create(
                    [
                        Product(
                            organization=orgs[p // PRODUCTS_PER_PUBLISHER],
                            slug=f"app{p % PRODUCTS_PER_PUBLISHER}",
                            name=f"App {p}",
                            short_description="A containerised service",
                            created_at=BUILT,
                            updated_at=BUILT,
                        )
                        for p in chunk
                    ]
                )
                repos = Repository.objects.bulk_create(
                    [
                        Repository(
                            organization=orgs[p // PRODUCTS_PER_PUBLISHER],
                            name=f"{names[p // PRODUCTS_PER_PUBLISHER]}/app{p % 4}",
                            created_at=BUILT,
                        )
                        for p in chunk
                    ]
                )
                ProductSource.objects.bulk_create(
                    [
                        ProductSource(product=prod, repository=repo, tags=list(TAGS))
                        for prod, repo in zip(products, repos, strict=True)
                    ]
                )
                manifests, inventories = [], []
                for p, repo in zip(chunk, repos, strict=True):
                    base = sha(f"base-layer-{p}")
                    shared = rng.sample(range(options.pool), SHARED)
                    clean = rng.sample(range(500), CLEAN)
                    for k in range(len(TAGS)):
                        own_layer = sha(f"app-layer-{p}-{k}")
                        body = json.dumps(
                            {
                                "schemaVersion": 2,
                                "mediaType": mediatypes.OCI_MANIFEST,
                                "config": {
                                    "mediaType": mediatypes.OCI_CONFIG,
                                    "digest": sha(f"config-{p}-{k}"),
                                    "size": 1200,
                                },
                                "layers": [
                                    {"mediaType": mediatypes.OCI_LAYER, "digest": d, "size": 1}
                                    for d in (base, own_layer)
                                ],
                            }
                        ).encode()
                        digest = "sha256:" + hashlib.sha256(body).hexdigest()
                        manifests.append(
                            Manifest(
                                repository=repo,
                                digest=digest,
                                media_type=mediatypes.OCI_MANIFEST,
                                size=len(body),
                                content=body,
                                pushed_at=BUILT,
                            )
                        )
                        pkgs = [package(f"clean-lib-{n}", "3.1.0", base) for n in clean]
                        pkgs += [package(f"base-lib-{n}", f"1.{n % 9}", base) for n in shared]
                        own = rng.sample(range(options.pool), OWN)
                        pkgs += [package(f"app-lib-{n}", f"1.{k}.{n % 7}", own_layer) for n in own]
                        for name in extra_of.get(p, [""] * len(TAGS))[k].split(","):
                            if name:
                                pkgs.append(package(name, "1.0.3", base))
                        inventories.append(
                            {
                                "image": digest,
                                "platform": "linux/amd64",
                                "distro": None,
                                "layers": [
                                    {
                                        "index": i,
                                        "digest": d,
                                        "diff_id": d,
                                        "media_type": mediatypes.OCI_LAYER,
                                        "size": 1,
                                        "created_by": "",
                                    }
                                    for i, d in enumerate((base, own_layer))
                                ],
                                "packages": pkgs,
                            }
                        )
                manifests = Manifest.objects.bulk_create(manifests)
                Tag.objects.bulk_create(
                    [
                        Tag(repository=m.repository, name=TAGS[i % 4], manifest=m, updated_at=BUILT)
                        for i, m in enumerate(manifests)
                    ]
                )
                revisions = Revision.objects.bulk_create(
                    [
                        Revision(
                            product=prod,
                            number=1,
                            created_at=BUILT,
                            manifest=listing_manifest(prod, repo, manifests[4 * i : 4 * i + 4]),
                        )
                        for i, (prod, repo) in enumerate(zip(products, repos, strict=True))
                    ]
                )
                Listing.objects.bulk_create(
                    [
                        Listing(
                            product=prod,
                            revision=rev,
                            state="live",
                            first_published_at=BUILT,
                            published_at=BUILT,
                        )
                        for prod, rev in zip(products, revisions, strict=True)
                    ]
                )
            # Each image's result: the findings of its packages, as a match stores them.
            plans = []
            for inventory in inventories:
                found = []
                for item in inventory["packages"]:
                    if (item["name"], item["version"]) in found_in:
                        f = copy.copy(found_in[item["name"], item["version"]])
                        f.layer_digest, f.pending, f.seen_in = item["layer"], False, 1
                        found.append(f)
                assert len(found) == SHARED + OWN, len(found)  # before the import
                plans.append(found)
            with transaction.atomic():
                scans = Scan.objects.bulk_create(
                    [
                        Scan(
                            repository=m.repository,
                            digest=m.digest,
                            status="done",
                            requested_at=BUILT,
                            started_at=BUILT,
                            finished_at=BUILT,
                            matched_at=BUILT,
                            platform="linux/amd64",
                            package_count=len(inv["packages"]),
                            layer_count=2,
                            feeds=template.feeds,
                            match_count=1,
                            **{
                                s: sum(f.severity == s for f in plan)
                                for s in ("critical", "major", "minor", "unknown")
                            },
                        )
                        for m, inv, plan in zip(manifests, inventories, plans, strict=True)
                    ]
                )
                ScanInventory.objects.bulk_create(
                    [
                        ScanInventory(scan=s, data=inv, created_at=BUILT)
                        for s, inv in zip(scans, inventories, strict=True)
                    ]
                )
                rows = []
                for s, plan in zip(scans, plans, strict=True):
                    for f in plan:
                        f.scan_id = s.pk
                        rows.append(f)
                Finding.every_row.bulk_create(rows, batch_size=5000)
            for i, prod in enumerate(products):
                product_ids.append(prod.pk)
                org_of[prod.pk] = prod.organization_id
                seen: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
                for k in range(len(TAGS)):
                    m, plan = manifests[4 * i + k], plans[4 * i + k]
                    for f in plan:
                        if f.severity not in ("critical", "major"):
                            continue
                        seen.setdefault((f.advisory_id, f.package_type, f.package_name), []).append(
                            {
                                "repository": repos[i].name,
                                "tag": TAGS[k],
                                "digest": m.digest,
                                "image": m.digest,
                                "version": f.package_version,
                                "fixed": list(f.fixed_versions),
                                "severity": f.severity,
                                "covered": False,
                            }
                        )
                keys[prod.pk] = seen
    store.close()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE scanning_scan SET inventory_row_id = (SELECT MAX(i.id) FROM "
            "scanning_scaninventory i WHERE i.scan_id = scanning_scan.id)"
        )
    print(
        f"  products, images, scans and {Finding.objects.count():,} findings: "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )

    # The clocks, as reconcile and the sweep every minute would have left them.
    order = list(product_ids)
    rng.shuffle(order)
    cut = [0]

    def take(n: int) -> list[int]:
        cut[0] += n
        return order[cut[0] - n : cut[0]]

    held, revoking = take(50), take(options.revocations)
    lapsed, due_products = take(options.lapsed), take(options.due_products)
    due_each = max(options.due // max(len(due_products), 1), 1)
    clock_rows: list[Clock] = []
    statements, holds = [], []
    for pid in product_ids:
        items = sorted(keys[pid].items())
        for n in range(2):  # fixed findings of the past
            clock_rows.append(
                Clock(
                    product_id=pid,
                    organization_id=org_of[pid],
                    advisory_id=f"PSB-OLD-{pid}-{n}",
                    package_type="pypi",
                    package_name=f"old-lib-{n}",
                    severity="major",
                    started_at=BUILT,
                    due_at=BUILT + clocks.window("major"),
                    state="stopped",
                    stopped_at=BUILT + dt.timedelta(days=2),
                    stop_reason="fixed",
                    reminders=1,
                )
            )
        overdue_from: dt.datetime | None = None
        for j, (key, places) in enumerate(items):
            severity = "critical" if any(p["severity"] == "critical" for p in places) else "major"
            window = clocks.window(severity)
            c = Clock(
                product_id=pid,
                organization_id=org_of[pid],
                advisory_id=key[0],
                package_type=key[1],
                package_name=key[2],
                severity=severity,
                affected=places,
            )
            if pid in lapsed and j == 0:
                # covered by a statement that expired an hour ago: its clock was stopped
                c.due_at = NOW + window
                c.started_at, c.state = NOW - dt.timedelta(days=20), "stopped"
                c.stopped_at, c.stop_reason = c.started_at, "not_affected"
                statements.append(
                    VexStatement(
                        product_id=pid,
                        organization_id=org_of[pid],
                        advisory_id=key[0],
                        package_type=key[1],
                        package_name=key[2],
                        status="not_affected",
                        justification="vulnerable_code_not_in_execute_path",
                        impact_statement="Never called.",
                        expires_at=NOW - dt.timedelta(hours=1),
                        review="approved",
                        created_at=c.started_at,
                        reviewed_at=c.started_at,
                    )
                )
            elif (pid in held or pid in revoking) and j < 2:
                days = rng.uniform(2, 20) if pid in held else rng.uniform(31, 35)
                c.due_at = NOW - dt.timedelta(days=days)
                c.state, c.overdue_at, c.reminders = "overdue", c.due_at, 2
                overdue_from = min(overdue_from or c.due_at, c.due_at)
            elif pid in due_products and j < due_each:
                c.due_at = NOW - dt.timedelta(seconds=rng.uniform(0, 86400))
                c.reminders = 2
            else:
                c.due_at = NOW + dt.timedelta(seconds=rng.uniform(60, window.total_seconds()))
            c.started_at = c.started_at or (c.due_at - window)
            if c.state == "running" and c.due_at > NOW:
                half, day = c.started_at + window / 2, c.due_at - dt.timedelta(hours=24)
                if half > NOW:
                    c.reminders, c.next_reminder_at = 0, half
                elif day > NOW:
                    c.reminders, c.next_reminder_at = 1, day
                else:
                    c.reminders = 2
            clock_rows.append(c)
        if overdue_from is not None:
            holds.append((pid, overdue_from))
    # A day's reminders due: the half-time reminder of clocks started 1.5 to 3.5 days ago.
    candidates = [
        c
        for c in clock_rows
        if c.state == "running" and c.next_reminder_at and c.product_id not in due_products
    ]
    for c in rng.sample(candidates, min(options.reminders, len(candidates))):
        window = clocks.window(c.severity)
        c.started_at = NOW - window / 2 - dt.timedelta(seconds=rng.uniform(0, 86400))
        c.due_at = c.started_at + window
        c.reminders, c.next_reminder_at = 0, c.started_at + window / 2
    with transaction.atomic():
        Clock.objects.bulk_create(clock_rows, batch_size=5000)
        VexStatement.objects.bulk_create(statements)
        HoldEvent.objects.bulk_create(
            [
                HoldEvent(product_id=pid, action="held", at=since, reason="Security fixes overdue")
                for pid, since in holds
            ]
        )
        for pid, since in holds:
            Listing.objects.filter(product_id=pid).update(security_hold_since=since)
    search.reindex_all()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    # The clocks are what reconcile makes of the findings: reconciling a product changes
    # nothing.
    sample = order[-1]
    before = list(Clock.objects.filter(product_id=sample).order_by("pk").values())
    with clock.frozen(NOW):
        assert clocks.reconcile(sample) == {"started": 0, "moved": 0, "stopped": 0}
    assert before == list(Clock.objects.filter(product_id=sample).order_by("pk").values())
    print(
        f"  {Clock.objects.filter(state__in=['running', 'overdue']).count():,} open clocks, "
        f"{Clock.objects.count():,} in all; built in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return {
        "touched": sorted({*held, *revoking, *lapsed, *due_products}),
        "hit": sorted(product_ids[p] for p in hit),
    }


def listing_manifest(product: Any, repo: Any, manifests: list[Any]) -> dict[str, Any]:
    """The revision's manifest, shaped as ``catalog.manifest.freeze`` writes it."""
    organization = repo.name.split("/")[0]
    return {
        "schema": 1,
        "name": product.name,
        "slug": product.slug,
        "icon": "",
        "short_description": product.short_description,
        "category": None,
        "search_tags": ["service"],
        "long_description": "",
        "screenshots": [],
        "support_url": "",
        "support_email": "",
        "self_help": "",
        "install_instructions": "",
        "license_url": "https://example.com/licence",
        "sla": {"hours": "", "critical_hours": None, "major_hours": None, "minor_hours": None},
        "platforms": ["linux/amd64"],
        "publisher_support": False,
        "publisher": {"organization": organization, "name": organization, "website": ""},
        "sources": [
            {
                "repository": repo.name,
                "tags": {tag: m.digest for tag, m in zip(TAGS, manifests, strict=True)},
            }
        ],
        "tiers": [],
    }


# --- the measures ------------------------------------------------------------------------------


def queued() -> int:
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.count()


def snapshot(touched: list[int]) -> dict[str, Any]:
    from django.db.models import Q

    from portside.catalog.models import Listing
    from portside.policy.models import Clock, HoldEvent, VexStatement

    return {
        # the clocks of the products held, revoked or matched again, and the reminders due
        "clocks": list(
            Clock.objects.filter(
                Q(product_id__in=touched) | Q(state="running", next_reminder_at__lte=NOW)
            )
        ),
        "last_clock": Clock.objects.order_by("-pk").values_list("pk", flat=True).first(),
        "listings": list(Listing.objects.filter(product_id__in=touched)),
        "last_hold": HoldEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0,
        "statements": list(VexStatement.objects.filter(product_id__in=touched)),
    }


def restore(saved: dict[str, Any]) -> None:
    """Put the products the sweep touched back as they were (outside the measure)."""
    from django.db import transaction

    from portside.catalog import search
    from portside.catalog.models import Listing, ListingState
    from portside.policy.models import Clock, HoldEvent, VexStatement

    with transaction.atomic():
        Clock.objects.filter(pk__gt=saved["last_clock"]).delete()
        Clock.objects.bulk_update(
            saved["clocks"],
            [
                *("state", "due_at", "overdue_at", "next_reminder_at", "reminders", "severity"),
                *("stopped_at", "stop_reason", "affected"),
            ],
            batch_size=500,
        )
        HoldEvent.objects.filter(pk__gt=saved["last_hold"]).delete()
        Listing.objects.bulk_update(
            saved["listings"],
            ["state", "security_hold_since", "withdrawn_at", "withdrawn_reason", "access_ends_at"],
        )
        VexStatement.objects.bulk_update(saved["statements"], ["lapsed_at"])
        for listing in Listing.objects.filter(
            pk__in=[x.pk for x in saved["listings"]], state=ListingState.LIVE
        ).select_related("revision", "product__organization"):
            search.reindex_listing(listing)


def measure_sweep(options: argparse.Namespace, world: dict[str, Any]) -> dict[str, Any]:
    from portside.core import clock
    from portside.policy import services

    saved = snapshot(world["touched"])
    runs = []
    for n in range(options.runs):
        tasks = queued()
        with clock.frozen(NOW):
            started = time.perf_counter()
            done = services.sweep()
            elapsed = time.perf_counter() - started
        runs.append({"seconds": elapsed, "done": done, "queued": queued() - tasks})
        print(f"  sweep with the backlog, run {n + 1}: {elapsed:.2f} s, {done}", flush=True)
        if n + 1 < options.runs or options.profile:
            restore(saved)
    if options.profile:
        profile_sweep()
    idle = []
    with clock.frozen(NOW):
        for _ in range(max(options.runs, 3)):
            started = time.perf_counter()
            done = services.sweep()
            idle.append(time.perf_counter() - started)
            assert not any(done.values()), done
    tasks = queued()
    with clock.frozen(NOW + dt.timedelta(minutes=1)):
        started = time.perf_counter()
        minute = services.sweep()
        minute_seconds = time.perf_counter() - started
    return {
        "backlog": runs,
        "idle": idle,
        "minute": {"seconds": minute_seconds, "done": minute, "queued": queued() - tasks},
    }


def statement(sql: str) -> str:
    """A statement's kind and first table: ``SELECT policy_clock``."""
    verb = sql.split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    return f"{verb} {table.group(1) if table else ''}".strip()


def profile_sweep() -> None:
    """One more backlog sweep, with its statements counted and timed by kind and table,
    its hottest functions, and the plans of the queries that find the work."""
    import cProfile
    import io
    import pstats

    from django.db import connection

    from portside.catalog.models import Listing
    from portside.core import clock
    from portside.policy import services
    from portside.policy.models import Clock

    with clock.frozen(NOW):
        for label, query in (
            ("clocks past their deadline", Clock.objects.filter(state="running", due_at__lte=NOW)),
            (
                "live listings with an overdue clock, no hold",
                Listing.objects.filter(
                    state="live",
                    security_hold_since__isnull=True,
                    product_id__in=Clock.objects.filter(state="overdue").values("product_id"),
                ),
            ),
            (
                "reminders due",
                Clock.objects.filter(state="running", next_reminder_at__lte=NOW),
            ),
        ):
            options = {"analyze": True} if connection.vendor == "postgresql" else {}
            plan = query.values_list("pk", flat=True)[:1000].explain(**options)
            print(f"  plan, {label}:\n    " + plan.replace("\n", "\n    "))
    counts: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = counts[statement(sql)]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    profiler = cProfile.Profile()
    with connection.execute_wrapper(timed), clock.frozen(NOW):
        started = time.perf_counter()
        profiler.enable()
        done = services.sweep()
        profiler.disable()
        elapsed = time.perf_counter() - started
    in_db = sum(t for _, t in counts.values())
    print(
        f"  profiled backlog sweep: {elapsed:.2f} s (with the profiler), {done}; "
        f"{sum(int(n) for n, _ in counts.values()):,} statements, {in_db:.2f} s in the database",
        flush=True,
    )
    for name, (n, t) in sorted(counts.items(), key=lambda kv: -kv[1][1])[:15]:
        print(f"    {name:<40} {int(n):>6,} statements {t * 1000:>8.0f} ms")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print("  " + out.getvalue().replace("\n", "\n  "), flush=True)


def rematch_of(products: list[int]) -> dict[str, int]:
    """``rematch_all()`` over the scans of ``products`` only: its loop, as it is."""
    from portside.catalog.models import ProductSource
    from portside.scanning.models import Scan, ScanStatus
    from portside.scanning.services import open_vulndb, rematch

    repositories = ProductSource.objects.filter(product_id__in=products).values("repository_id")
    scans = new = 0
    db = open_vulndb()
    try:
        ids = list(
            Scan.objects.filter(status=ScanStatus.DONE, repository_id__in=repositories)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for pk in ids:
            scan = Scan.objects.filter(pk=pk, status=ScanStatus.DONE).first()
            if scan is None:
                continue
            new += rematch(scan, vulndb=db)
            scans += 1
    finally:
        db.close()
    return {"scans": scans, "new_findings": new}


def measure_rematch(options: argparse.Namespace, feed: Path, hit: list[int]) -> dict[str, Any]:
    from django.conf import settings
    from django_tasks_db.models import DBTaskResult

    from portside.core import clock, events
    from portside.policy import clocks
    from portside.policy.models import Clock
    from portside.scanning.services import rematch_all
    from portside.vulndb.importers.osv import import_osv
    from portside.vulndb.store import VulnStore

    DBTaskResult.objects.all().delete()  # what the sweeps queued: the worker's business
    write_feed(feed, options.pool, options.new_advisories)
    started = time.perf_counter()
    store = VulnStore.open(Path(settings.VULNDB_PATH))
    imported = import_osv(store, feed, source="bench")
    store.close()
    import_seconds = time.perf_counter() - started
    clocks_before = Clock.objects.count()
    with clock.frozen(NOW + dt.timedelta(hours=1)):
        started = time.perf_counter()
        result = rematch_all() if options.rematch_all else rematch_of(hit)
        rematch_seconds = time.perf_counter() - started
        deliveries = DBTaskResult.objects.filter(
            task_path=events.deliver.module_path,
            args_kwargs__kwargs__event="scanning:findings:rematched",
        ).values_list("args_kwargs", flat=True)
        repositories = sorted({d["kwargs"]["payload"]["repository"] for d in deliveries})
        started = time.perf_counter()
        products = sorted({p for r in repositories for p in clocks.products_listing(r)})
        totals: dict[str, int] = defaultdict(int)
        for pid in products:
            for name, value in clocks.reconcile(pid).items():
                totals[name] += value
        reconcile_seconds = time.perf_counter() - started
    return {
        "advisories": imported.records,
        "import_seconds": import_seconds,
        "scans": result["scans"],
        "new_findings": result["new_findings"],
        "rematch_seconds": rematch_seconds,
        "events": len(deliveries),
        "repositories": len(repositories),
        "products": len(products),
        "reconcile_seconds": reconcile_seconds,
        "reconciled": dict(totals),
        "clocks_added": Clock.objects.count() - clocks_before,
    }


def child(options: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    feed = Path(options.report).parent / "feed"
    world = build(options, feed)
    report: dict[str, Any] = {"vendor": connection.vendor}
    report["sweep"] = measure_sweep(options, world)
    report["rematch"] = measure_rematch(options, feed, world["hit"])
    Path(options.report).write_text(json.dumps(report, default=str))


# --- the parent --------------------------------------------------------------------------------


def run_backend(vendor: str, options: argparse.Namespace) -> dict[str, Any]:
    with scratch_store(vendor, "sla", keep=options.keep) as store:
        report = store.work / "report.json"
        command = [sys.executable, __file__, "--child", "--report", str(report)]
        for name in ("products", "pool", "due", "due_products", "reminders", "revocations"):
            command += [f"--{name.replace('_', '-')}", str(getattr(options, name))]
        for name in ("lapsed", "new_advisories", "hit_products", "runs"):
            command += [f"--{name.replace('_', '-')}", str(getattr(options, name))]
        if options.rematch_all:
            command.append("--rematch-all")
        if options.profile:
            command.append("--profile")
        subprocess.run(command, env=store.env, check=True)
        return dict(json.loads(report.read_text()))


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--pool", type=int, default=3000, help="advisories in each pool")
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--due-products", type=int, default=200)
    parser.add_argument("--reminders", type=int, default=1000)
    parser.add_argument("--revocations", type=int, default=10)
    parser.add_argument("--lapsed", type=int, default=5)
    parser.add_argument("--new-advisories", type=int, default=1000)
    parser.add_argument("--hit-products", type=int, default=250)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rematch-all",
        action="store_true",
        help="match every stored image again, not only those of the --hit-products",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measures, one more backlog sweep profiled, and the plans",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database and data")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options)
        return
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    print(
        f"{options.products:,} products, {options.products * len(TAGS):,} listed images, "
        f"{options.products * len(TAGS) * (SHARED + OWN):,} findings; {os.cpu_count()} CPUs, "
        f"load average {open('/proc/loadavg').read().split()[:3]}",
        flush=True,
    )
    for vendor in backends:
        print(f"== {vendor}", flush=True)
        r = run_backend(vendor, options)
        sweep, again = r["sweep"], r["rematch"]
        best = min(sweep["backlog"], key=lambda run: run["seconds"])
        print(
            f"  sweep with a day's backlog: best {best['seconds']:.2f} s of "
            f"{[round(x['seconds'], 2) for x in sweep['backlog']]}; did {best['done']}, "
            f"queued {best['queued']:,} tasks "
            f"[target < 2 s: {verdict(best['seconds'] < 2)}]"
        )
        print(
            f"  sweep with nothing due: best {min(sweep['idle']) * 1000:.1f} ms, median "
            f"{statistics.median(sweep['idle']) * 1000:.1f} ms "
            f"[target < 2 s: {verdict(max(sweep['idle']) < 2)}]"
        )
        minute = sweep["minute"]
        print(
            f"  sweep a minute later: {minute['seconds'] * 1000:.1f} ms, did {minute['done']}, "
            f"queued {minute['queued']:,} tasks"
        )
        ratio = again["reconcile_seconds"] / again["rematch_seconds"]
        print(
            f"  feed import of {again['advisories']:,} advisories "
            f"({options.new_advisories:,} new): {again['import_seconds']:.1f} s"
        )
        print(
            f"  re-match of {again['scans']:,} stored inventories: "
            f"{again['rematch_seconds']:.1f} s, {again['new_findings']:,} new findings, "
            f"{again['events']:,} rematched events over {again['repositories']:,} repositories"
        )
        print(
            f"  reconcile of the {again['products']:,} products listing them: "
            f"{again['reconcile_seconds']:.1f} s, {again['reconciled']}; ratio to the "
            f"re-match {ratio:.2f} [target < 1: {verdict(ratio < 1)}]",
            flush=True,
        )
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
