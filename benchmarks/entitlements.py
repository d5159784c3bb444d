"""Entitlements on the registry's hot paths: the token endpoint and manifest GETs.

For each backend (the embedded SQLite default in a temporary data directory, and a
temporary PostgreSQL database on 127.0.0.1:5432, user postgres) the benchmark generates a
store of 2,000 products (500 publishers, one repository each with tags 1.0 and 2.0, a free
tier on 1.0 and a paid monthly tier on both), 100,000 customers and 300,000 subscriptions
(three per customer, a tenth of them held by 20,000 customer organisations), then serves it
with ``portside serve --no-worker`` and measures, on loopback:

1. ``GET /auth/token`` as a customer with a personal access token, asking ``pull`` on a
   repository their subscriptions cover: the full path (basic credentials, the token's
   lookup, the entitlement decision, signing) over one keep-alive connection, p50 / p95 /
   max of ``--tokens`` requests spread over 200 customers.
2. ``GET /v2/REPO/manifests/1.0`` with a bearer token: requests per second with wrk over
   ``--connections`` connections, for an entitled customer (a token limited to the tags
   their tiers cover) and for the publisher (the whole repository), alternating, in the
   same run.

Targets: token p95 under 10 ms; the customer's manifest GET rate at least 0.9x the
publisher's.

    .venv/bin/python benchmarks/entitlements.py [--backend sqlite|postgresql|both]
        [--customers 100000] [--tokens 2000] [--seconds 10] [--connections 8] [--rounds 3]

Needs wrk (apt-get install wrk) and, for PostgreSQL, a server on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loopback import free_port, wait_http  # noqa: E402
from benchmarks.stores import scratch_store  # noqa: E402

PUBLISHERS = 500
PRODUCTS_PER_PUBLISHER = 4


def child(options: argparse.Namespace) -> None:
    """Generate the store in the database the environment names; write the credentials
    the parent measures with to ``--report``."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from portside.accounts import services as accounts
    from portside.accounts.models import Membership, Namespace, Organization, User
    from portside.catalog.models import Listing, Product, Revision, Tier
    from portside.commerce.models import Subscription
    from portside.core.origin import CLI
    from portside.oci import mediatypes
    from portside.registry.models import Manifest, Repository, Tag

    call_command("migrate", interactive=False, verbosity=0)
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    pub_names = [f"pub{n:04d}" for n in range(PUBLISHERS)]
    Namespace.objects.bulk_create([Namespace(name=n, kind="org") for n in pub_names])
    Organization.objects.bulk_create(
        [Organization(name=n, display_name=n, created_at=now) for n in pub_names]
    )
    orgs = list(Organization.objects.filter(name__in=pub_names).order_by("name"))
    owner = User.objects.create_user("publisher", "publisher@example.com", "x" * 20)
    Membership.objects.bulk_create(
        [Membership(organization=o, user=owner, role="owner", created_at=now) for o in orgs]
    )
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": "sha256:" + "1" * 64,
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    digest = "sha256:" + __import__("hashlib").sha256(body).hexdigest()
    products, repos = [], []
    with transaction.atomic():
        for org in orgs:
            for k in range(PRODUCTS_PER_PUBLISHER):
                repos.append(
                    Repository(organization=org, name=f"{org.name}/app{k}", created_at=now)
                )
                products.append(
                    Product(
                        organization=org,
                        slug=f"app{k}",
                        name=f"App {k}",
                        created_at=now,
                        updated_at=now,
                    )
                )
        Repository.objects.bulk_create(repos, batch_size=1000)
        Product.objects.bulk_create(products, batch_size=1000)
        manifests = Manifest.objects.bulk_create(
            [
                Manifest(
                    repository=r,
                    digest=digest,
                    media_type=mediatypes.OCI_MANIFEST,
                    size=len(body),
                    content=body,
                    pushed_at=now,
                )
                for r in repos
            ],
            batch_size=1000,
        )
        Tag.objects.bulk_create(
            [
                Tag(repository=r, name=t, manifest=m, updated_at=now)
                for r, m in zip(repos, manifests, strict=True)
                for t in ("1.0", "2.0")
            ],
            batch_size=2000,
        )
        tiers = []
        for p in products:
            tiers.append(
                Tier(
                    product=p,
                    name="Free",
                    price=0,
                    currency="EUR",
                    billing_period="free",
                    position=0,
                )
            )
            tiers.append(
                Tier(
                    product=p,
                    name="Pro",
                    price=49,
                    currency="EUR",
                    billing_period="monthly",
                    position=1,
                )
            )
        Tier.objects.bulk_create(tiers, batch_size=2000)
        revisions = []
        for i, (p, r) in enumerate(zip(products, repos, strict=True)):
            free, pro = tiers[2 * i], tiers[2 * i + 1]
            revisions.append(
                Revision(
                    product=p,
                    number=1,
                    created_at=now,
                    manifest={
                        "name": p.name,
                        "license_url": "https://example.com/licence",
                        "sources": [{"repository": r.name, "tags": {"1.0": digest, "2.0": digest}}],
                        "tiers": [
                            {
                                "id": free.pk,
                                "name": "Free",
                                "price": "0",
                                "currency": "EUR",
                                "billing_period": "free",
                                "access": [{"repository": r.name, "tags": ["1.0"]}],
                            },
                            {
                                "id": pro.pk,
                                "name": "Pro",
                                "price": "49.00",
                                "currency": "EUR",
                                "billing_period": "monthly",
                                "access": [{"repository": r.name, "tags": ["1.0", "2.0"]}],
                            },
                        ],
                    },
                )
            )
        Revision.objects.bulk_create(revisions, batch_size=1000)
        listings = Listing.objects.bulk_create(
            [
                Listing(
                    product=p, revision=rv, state="live", first_published_at=now, published_at=now
                )
                for p, rv in zip(products, revisions, strict=True)
            ],
            batch_size=1000,
        )
    names = [f"cust{n:06d}" for n in range(options.customers)]
    for start in range(0, len(names), 10_000):
        batch = names[start : start + 10_000]
        with transaction.atomic():
            Namespace.objects.bulk_create([Namespace(name=n, kind="user") for n in batch])
            User.objects.bulk_create(
                [User(username=n, email=f"{n}@example.com", password="!") for n in batch]
            )
    user_ids = list(
        User.objects.filter(username__startswith="cust").order_by("pk").values_list("pk", flat=True)
    )
    org_count = options.customers // 5
    org_names = [f"corp{n:06d}" for n in range(org_count)]
    with transaction.atomic():
        Namespace.objects.bulk_create(
            [Namespace(name=n, kind="org") for n in org_names], batch_size=5000
        )
        Organization.objects.bulk_create(
            [Organization(name=n, created_at=now) for n in org_names], batch_size=5000
        )
        corp_ids = list(
            Organization.objects.filter(name__startswith="corp")
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Membership.objects.bulk_create(
            [
                Membership(organization_id=c, user_id=user_ids[i], role="owner", created_at=now)
                for i, c in enumerate(corp_ids)
            ],
            batch_size=5000,
        )
    end = now + dt.timedelta(days=30)
    subs: list[Subscription] = []
    measured: list[tuple[int, str]] = []  # (user id, repository) the token requests ask for
    for i, uid in enumerate(user_ids):
        for j in range(3):
            k = rng.randrange(len(products))
            paid = rng.random() < 0.4
            tier = tiers[2 * k + (1 if paid else 0)]
            org_held = i < len(corp_ids) and rng.random() < 0.5
            subs.append(
                Subscription(
                    product=products[k],
                    listing=listings[k],
                    tier=tier,
                    tier_name=tier.name,
                    tier_snapshot={},
                    revision_number=1,
                    user_id=uid,
                    organization_id=corp_ids[i] if org_held else None,
                    status="active",
                    currency="EUR",
                    price_minor=4900 if paid else 0,
                    billing_period=tier.billing_period,
                    created_at=now,
                    started_at=now,
                    current_period_start=now if paid else None,
                    current_period_end=end if paid else None,
                    access_until=end if paid else None,
                    next_attempt_at=end if paid else None,
                )
            )
            if j == 0 and len(measured) < 200 and i % max(len(user_ids) // 200, 1) == 0:
                measured.append((uid, repos[k].name))
        if len(subs) >= 30_000:
            Subscription.objects.bulk_create(subs, batch_size=5000)
            subs = []
    Subscription.objects.bulk_create(subs, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
    credentials = []
    for uid, repo in measured:
        user = User.objects.get(pk=uid)
        _, secret = accounts.create_token(
            user=user, name="bench", scopes=["read"], acting=user, origin=CLI
        )
        credentials.append({"user": user.username, "secret": secret, "repository": repo})
    _, pub_secret = accounts.create_token(
        user=owner, name="bench", scopes=["read"], acting=owner, origin=CLI
    )
    print(
        f"  generated {len(products):,} products, {len(user_ids):,} customers, "
        f"{Subscription.objects.count():,} subscriptions in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    Path(options.report).write_text(
        json.dumps(
            {"customers": credentials, "publisher": {"user": "publisher", "secret": pub_secret}}
        )
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def token_latencies(port: int, customers: list[dict[str, Any]], count: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for n in range(count):
        c = customers[n % len(customers)]
        auth = base64.b64encode(f"{c['user']}:{c['secret']}".encode()).decode()
        path = f"/auth/token?service=127.0.0.1:{port}&scope=repository:{c['repository']}:pull"
        started = time.perf_counter()
        conn.request("GET", path, headers={"Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        data = response.read()
        times.append((time.perf_counter() - started) * 1000)
        granted = json.loads(data)
        assert response.status == 200 and granted["token"], data[:300]
    conn.close()
    return times


def bearer(port: int, user: str, secret: str, repository: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    conn.request(
        "GET",
        f"/auth/token?service=127.0.0.1:{port}&scope=repository:{repository}:pull",
        headers={"Authorization": f"Basic {auth}"},
    )
    token = json.loads(conn.getresponse().read())["token"]
    conn.close()
    return token


def wrk_rate(port: int, path: str, token: str, seconds: int, connections: int, work: Path) -> float:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    script = work / "auth.lua"
    script.write_text(
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json"\n'
    )
    out = subprocess.run(
        [binary, "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise RuntimeError(f"{m.group(1)} error responses\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def run_backend(vendor: str, options: argparse.Namespace) -> dict[str, Any]:
    with scratch_store(vendor, "entitlements") as store:
        return _measure(store.work, store.env, options)


def _measure(work: Path, env: dict[str, str], options: argparse.Namespace) -> dict[str, Any]:
    process = None
    try:
        report = work / "report.json"
        command = [sys.executable, __file__, "--child", "--report", str(report)]
        subprocess.run([*command, "--customers", str(options.customers)], env=env, check=True)
        creds = json.loads(report.read_text())
        port = free_port()
        log = open(work / "serve.log", "wb")
        serve = [sys.executable, "-m", "portside.cli.main", "serve", "--no-worker"]
        process = subprocess.Popen(
            [*serve, "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_http(f"http://127.0.0.1:{port}/health")
        token_latencies(port, creds["customers"], 200)  # warm each worker
        times = token_latencies(port, creds["customers"], options.tokens)
        customer = creds["customers"][0]
        repository = customer["repository"]
        # The same request by the publisher (a member: no entitlement to look up).
        owner = [dict(creds["publisher"], repository=c["repository"]) for c in creds["customers"]]
        publisher_times = token_latencies(port, owner, options.tokens)
        path = f"/v2/{repository}/manifests/1.0"
        customer_token = bearer(port, customer["user"], customer["secret"], repository)
        publisher_token = bearer(port, "publisher", creds["publisher"]["secret"], repository)
        rates: dict[str, list[float]] = {"customer": [], "publisher": []}
        for _ in range(options.rounds):
            for who, token in (("customer", customer_token), ("publisher", publisher_token)):
                rates[who].append(
                    wrk_rate(port, path, token, options.seconds, options.connections, work)
                )
        return {
            "token_p50": statistics.median(times),
            "token_p95": percentile(times, 95),
            "token_max": max(times),
            "publisher_token_p50": statistics.median(publisher_times),
            "publisher_token_p95": percentile(publisher_times, 95),
            "customer_rate": statistics.median(rates["customer"]),
            "publisher_rate": statistics.median(rates["publisher"]),
            "rates": rates,
        }
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(options)
        return
    backends = ["sqlite", "postgresql"] if options.backend == "both" else [options.backend]
    print(
        f"{options.customers:,} customers, {options.customers * 3:,} subscriptions, "
        f"{PUBLISHERS * PRODUCTS_PER_PUBLISHER:,} products; {os.cpu_count()} CPUs"
    )
    for vendor in backends:
        print(f"== {vendor}", flush=True)
        r = run_backend(vendor, options)
        ratio = r["customer_rate"] / r["publisher_rate"]
        print(
            f"  token (customer, entitlement check): p50 {r['token_p50']:.2f} ms, "
            f"p95 {r['token_p95']:.2f} ms, max {r['token_max']:.1f} ms "
            f"[target p95 < 10 ms: {'met' if r['token_p95'] < 10 else 'NOT met'}]"
        )
        print(
            f"  token (publisher, same requests): p50 {r['publisher_token_p50']:.2f} ms, "
            f"p95 {r['publisher_token_p95']:.2f} ms"
        )
        print(
            f"  manifest GET, {options.connections} connections: "
            f"customer {r['customer_rate']:,.0f}/s, "
            f"publisher {r['publisher_rate']:,.0f}/s, ratio {ratio:.2f}x "
            f"[target >= 0.9x: {'met' if ratio >= 0.9 else 'NOT met'}]"
        )
        print(f"  rounds: {json.dumps(r['rates'])}", flush=True)


if __name__ == "__main__":
    main()
