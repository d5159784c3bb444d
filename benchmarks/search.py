"""Catalogue search and the product page: latency on SQLite and on PostgreSQL.

For each backend (the embedded SQLite default in a temporary data directory, and a
temporary PostgreSQL database on 127.0.0.1:5432, user postgres) the benchmark generates a
catalogue of 100,000 products from 2,000 publishers (names, descriptions of about 150
words in Markdown, tags, categories, free and paid tiers, certification, pulls), indexes
each listing with ``search.reindex_listing`` (the publishing path), then runs 200 queries
(one to three words, name prefixes, about a third with filters, some browsing by filter
alone) through ``search.search`` after 20 warm-up queries and prints p50, p95 and max.
Then ``portside serve --no-worker`` (gunicorn, gthread, its default workers and threads)
serves the store and wrk requests product pages of 1,000 different listings over
keep-alive connections on loopback: once over one connection (the latency of a page on
its own) and once over ``--connections`` (throughput, with queueing in the latency).

    .venv/bin/python benchmarks/search.py [--products 100000] [--queries 200]
        [--backend sqlite|postgresql|both] [--connections 4] [--seconds 10]

Needs wrk (apt-get install wrk) and, for PostgreSQL, a server on 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loopback import free_port, wait_http  # noqa: E402
from benchmarks.stores import scratch_store  # noqa: E402

# Product topics: what a listing is about, what customers search for.
TECH = (
    "postgres kubernetes redis nginx python kafka node java mysql golang monitoring "
    "grafana prometheus elasticsearch mongodb rabbitmq terraform ansible jenkins gitlab "
    "spark airflow jupyter tensorflow pytorch llm inference vector etl warehouse analytics "
    "dashboard backup vault secrets identity sso ldap keycloak proxy gateway envoy traefik "
    "haproxy caddy apache tomcat wordpress drupal php ruby rails django flask fastapi dotnet "
    "rust alpine debian ubuntu distroless fips hardened minimal runtime builder runner agent "
    "operator controller exporter collector logging tracing opentelemetry jaeger loki fluentd "
    "mariadb cassandra clickhouse timescale influxdb neo4j graph search index cache queue "
    "mqtt iot broker nats pulsar minio s3 storage ceph nfs sftp ftp smtp mail dns vpn "
    "wireguard firewall scanner compliance audit sbom registry helm argocd flux tekton "
    "serverless functions cdn ingress mesh istio linkerd certificate tls acme oauth jwt "
    "payments billing ledger crm erp cms wiki forum chat video ocr translation nlp "
    "embedding geo maps workflow scheduler cron notebook gpu cuda"
).split()
# Everything else a description says.
GENERAL = (
    "the and for with your a to of in on is that it this from by as you can be are or an "
    "all our we use run data teams fast secure simple reliable scalable open source "
    "production ready managed lightweight supported certified high availability performance "
    "deploy scale configure upgrade applications services workloads containers images "
    "developers operators platform tools modern small footprint batteries included cloud "
    "native enterprise community edition support release version latest stable long term "
    "updates security patches vulnerabilities scanning signed verified reproducible builds "
    "configuration environment variables volumes ports network cluster nodes replicas "
    "automatic failover replication sharding migration schema api rest grpc graphql http "
    "web server client library sdk command line interface documentation guide quick start "
    "example tutorial best practices architecture design integration plugin extension "
    "module feature features including provides offers built designed optimized tested "
    "compatible works runs every any new more most easy easily quickly without need "
    "single multiple many each one two three first default custom option options mode "
    "memory disk cpu resources limits requests health checks metrics logs events alerts "
    "users accounts roles permissions access control policy policies rules encryption "
    "keys tokens sessions requests responses traffic load balancing routing caching "
    "storage database queue stream streams jobs tasks pipelines batch real time "
    "processing analysis reports insights business customers companies organizations "
    "global regions zones edge devices mobile desktop browser frontend backend fullstack "
    "framework frameworks language languages compiler interpreter toolchain package "
    "packages dependencies manager install installation setup initial bootstrap "
    "professional premium standard basic free trial subscription licence license terms "
    "team contact email response hours business days critical issues major minor"
).split()
SYLLABLES = (
    "ar bel cor dra el fin gal hel ix jet kor lum mer nex or pix qua ros sol tor ul vex wyn zen"
).split()
SUFFIXES = ("Server", "Operator", "Stack", "Edition", "Agent", "Gateway", "Toolkit", "Platform")
TAGS = sorted(set(TECH) | {"sql", "nosql", "oss", "ci-cd", "arm64", "amd64", "ha", "ai", "web"})


_WEIGHTS: dict[tuple[int, float], list[float]] = {}


def zipf_pick(rng: random.Random, items: list[Any] | tuple[Any, ...], s: float = 0.7) -> Any:
    """One of ``items``, the k-th with a weight of 1/k**s (earlier items are more common)."""
    key = (len(items), s)
    if key not in _WEIGHTS:
        total, cumulative = 0.0, []
        for k in range(1, len(items) + 1):
            total += 1 / k**s
            cumulative.append(total)
        _WEIGHTS[key] = cumulative
    return rng.choices(items, cum_weights=_WEIGHTS[key])[0]


def brand(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).title()


def product_data(rng: random.Random, n: int, org: str, categories: list[tuple[str, str]]):
    topics = sorted({zipf_pick(rng, TECH) for _ in range(rng.choice((1, 2, 2, 3)))})
    name = f"{brand(rng)} {' '.join(t.title() for t in topics)}"
    if rng.random() < 0.5:
        name += f" {rng.choice(SUFFIXES)}"
    slug = f"{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}-{n}"[:100]
    tags = sorted(set(topics) | {zipf_pick(rng, TAGS) for _ in range(rng.randint(1, 4))})
    cat_slug, cat_name = zipf_pick(rng, categories, 0.5)

    def words(count: int) -> str:
        out = []
        for _ in range(count):
            r = rng.random()
            if r < 0.08:
                out.append(rng.choice(topics))
            elif r < 0.10:
                out.append(rng.choice(TECH))
            else:
                out.append(zipf_pick(rng, GENERAL, 1.0))
        return " ".join(out).capitalize() + "."

    long = "\n\n".join(
        [f"## About {name}", " ".join(words(rng.randint(10, 18)) for _ in range(5))]
        + ["- " + words(6) for _ in range(3)]
        + [" ".join(words(rng.randint(10, 18)) for _ in range(3))]
    )
    short = f"{' '.join(topics).capitalize()} {words(rng.randint(5, 12))}"[:140]
    repository = f"{org}/{slug}"[:200]
    access = [{"repository": repository, "tags": ["1.0", "latest"]}]
    kind = rng.random()
    tiers = []
    if kind < 0.70:
        tiers.append(
            {
                "name": "Community",
                "description": "",
                "price": "0.00",
                "currency": "USD",
                "billing_period": "free",
                "access": access,
            }
        )
    if kind > 0.45:
        tiers.append(
            {
                "name": "Business",
                "description": "Support included.",
                "price": f"{rng.choice((9, 19, 49, 99, 499))}.00",
                "currency": rng.choice(("USD", "EUR", "GBP")),
                "billing_period": rng.choice(("monthly", "yearly")),
                "access": access,
            }
        )
    return {
        "schema": 1,
        "name": name,
        "slug": slug,
        "icon": "",
        "short_description": short,
        "category": {"slug": cat_slug, "name": cat_name},
        "search_tags": tags,
        "long_description": long,
        "screenshots": [],
        "support_url": f"https://{org}.example.com/support",
        "support_email": f"support@{org}.example.com",
        "self_help": "See the [documentation](https://docs.example.com/).",
        "install_instructions": f"```\ndocker pull HOST/{repository}:latest\n```",
        "license_url": "https://example.com/licence",
        "sla": {
            "hours": "Mon-Fri 09:00-17:00",
            "critical_hours": 4,
            "major_hours": 24,
            "minor_hours": 72,
        },
        "platforms": ["enterprise"] if rng.random() < 0.3 else ["community"],
        "publisher_support": True,
        "publisher": {
            "organization": org,
            "name": f"{org.title()} Inc.",
            "website": f"https://{org}.example.com/",
        },
        "sources": [
            {
                "repository": repository,
                "tags": {"1.0": "sha256:" + "a" * 64, "latest": "sha256:" + "a" * 64},
            }
        ],
        "tiers": tiers,
    }


def queries(
    rng: random.Random, count: int, orgs: list[str], names: list[str]
) -> list[dict[str, Any]]:
    categories = [slug for slug, _ in CATEGORIES]
    out: list[dict[str, Any]] = []
    while len(out) < count:
        r = rng.random()
        q: dict[str, Any] = {}
        if r < 0.35:
            q["text"] = zipf_pick(rng, TECH)
        elif r < 0.60:
            q["text"] = f"{zipf_pick(rng, TECH)} {zipf_pick(rng, TECH + GENERAL[30:])}"
        elif r < 0.68:
            q["text"] = " ".join(zipf_pick(rng, TECH) for _ in range(3))
        elif r < 0.80:
            word = rng.choice(names).split()[0].lower()
            q["text"] = word[: rng.randint(3, len(word))]  # typing a brand name
        elif r < 0.88:
            word = zipf_pick(rng, TECH)
            q["text"] = f"{zipf_pick(rng, TECH)} {word[: max(2, len(word) - 2)]}"  # as typed
        else:
            q["text"] = ""  # browsing by filter
        f = rng.random()
        if f < 0.15 or not q["text"]:
            q["category"] = rng.choice(categories)
        elif f < 0.22:
            q["tag"] = zipf_pick(rng, TAGS)
        elif f < 0.28:
            q["price"] = rng.choice(("free", "paid"))
        elif f < 0.32:
            q["certified"] = True
        elif f < 0.35:
            q["publisher"] = zipf_pick(rng, orgs)
        if not q["text"] and rng.random() < 0.3:
            q["price"] = rng.choice(("free", "paid"))
        out.append(q)
    return out


CATEGORIES: list[tuple[str, str]] = []


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- one backend, in its own process ---------------------------------------------------------


def child(options: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from portside.accounts.models import Organization
    from portside.catalog.models import Category, Listing, Product

    call_command("migrate", interactive=False, verbosity=0)
    CATEGORIES.extend(Category.objects.values_list("slug", "name"))
    rng = random.Random(11)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    if options.reuse and Listing.objects.exists():
        org_names = list(Organization.objects.values_list("name", flat=True))
        names = list(Product.objects.values_list("name", flat=True))
    else:
        org_names, names = generate(options, rng, now)
    run_queries(options, org_names, names)


def generate(options: argparse.Namespace, rng: random.Random, now: dt.datetime):
    from django.db import connection, transaction

    from portside.accounts.models import Namespace, Organization
    from portside.catalog import search
    from portside.catalog.models import Listing, Product, Revision

    started = time.perf_counter()
    org_names = [f"pub{n:04d}{brand(rng).lower()}"[:39] for n in range(options.publishers)]
    Namespace.objects.bulk_create([Namespace(name=n, kind="org") for n in org_names])
    Organization.objects.bulk_create(
        [Organization(name=n, display_name=n.title(), created_at=now) for n in org_names],
        batch_size=1000,
    )
    orgs = dict(Organization.objects.values_list("name", "id"))
    names: list[str] = []
    for start in range(0, options.products, 2000):
        batch = range(start, min(start + 2000, options.products))
        products, manifests = [], []
        for n in batch:
            org = zipf_pick(rng, org_names, 0.8)
            data = product_data(rng, n, org, CATEGORIES)
            names.append(data["name"])
            manifests.append(data)
            products.append(
                Product(
                    organization_id=orgs[org],
                    slug=data["slug"],
                    name=f"{data['name']} {n}",
                    created_at=now,
                    updated_at=now,
                )
            )
        with transaction.atomic():
            Product.objects.bulk_create(products)
            revisions = Revision.objects.bulk_create(
                [
                    Revision(product=p, number=1, manifest=m, created_at=now)
                    for p, m in zip(products, manifests, strict=True)
                ]
            )
            Listing.objects.bulk_create(
                [
                    Listing(
                        product=p,
                        revision=r,
                        state="live",
                        first_published_at=now - dt.timedelta(minutes=n * 7 + rng.randint(0, 5)),
                        published_at=now,
                        certified=rng.random() < 0.15,
                        pulls=int(rng.lognormvariate(6, 2.2)),
                    )
                    for n, (p, r) in enumerate(zip(products, revisions, strict=True), start)
                ]
            )
    generated = time.perf_counter() - started
    print(
        f"  generated {options.products:,} products of {len(org_names):,} publishers "
        f"in {generated:.0f} s",
        flush=True,
    )

    started = time.perf_counter()
    done = search.reindex_all()
    indexed = time.perf_counter() - started
    print(
        f"  indexed {done:,} listings (reindex_all) in {indexed:.0f} s ({done / indexed:,.0f}/s)",
        flush=True,
    )
    sample = list(
        Listing.objects.select_related("product__organization", "revision").order_by("?")[:500]
    )
    started = time.perf_counter()
    for listing in sample:
        with transaction.atomic():
            search.reindex_listing(listing)
    per = (time.perf_counter() - started) / len(sample) * 1000
    print(f"  reindex_listing of an indexed listing (republishing): {per:.1f} ms", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            cursor.execute(
                "INSERT INTO catalog_search_fts (catalog_search_fts) VALUES ('optimize')"
            )

    return org_names, names


def measure(qs: list[dict[str, Any]]) -> dict[str, Any]:
    from portside.catalog import search

    times, slowest = [], []
    for q in qs:
        t = time.perf_counter()
        results = search.search(**q)
        elapsed = (time.perf_counter() - t) * 1000
        times.append(elapsed)
        slowest.append((elapsed, results.total, q))
    slowest.sort(key=lambda x: x[0], reverse=True)
    return {
        "p50": statistics.median(times),
        "p95": percentile(times, 95),
        "max": max(times),
        "slowest": [(round(ms, 1), total, q) for ms, total, q in slowest[:5]],
        "totals": sorted(total for _, total, _ in slowest),
    }


def run_queries(options: argparse.Namespace, org_names: list[str], names: list[str]) -> None:
    from django.db import connection

    from portside.catalog import search
    from portside.catalog.models import Listing

    qs = queries(random.Random(7), options.queries + 20, org_names, names)
    # Cold: no result is reused, every query is computed from the index.
    search.RESULT_CACHE.size = 0
    for q in qs[:20]:
        search.search(**q)
    cold = measure(qs[20:])
    # As served: results are reused until the index changes (repeated queries).
    search.RESULT_CACHE.size = 512
    search.RESULT_CACHE.clear()
    for q in qs[:20]:
        search.search(**q)
    served = measure(qs[20:])
    distinct = len({json.dumps(q, sort_keys=True) for q in qs[20:]})
    report = {
        "vendor": connection.vendor,
        "cold": cold,
        "served": served,
        "distinct": distinct,
        "paths": [
            f"/products/{org}/{slug}"
            for org, slug in Listing.objects.order_by("?").values_list(
                "product__organization__name", "product__slug"
            )[:1000]
        ],
    }
    Path(options.report).write_text(json.dumps(report))


# --- the product page under wrk ----------------------------------------------------------------


def serve_and_load(
    env: dict[str, str], paths: list[str], work: Path, options: argparse.Namespace
) -> dict[str, float]:
    port = free_port()
    log = open(work / "serve.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "portside.cli.main", "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        script = work / "paths.lua"
        script.write_text(
            "local paths = {" + ",".join(json.dumps(p) for p in paths) + "}\n"
            "local n = 0\n"
            "request = function()\n  n = n + 1\n"
            "  return wrk.format('GET', paths[(n % #paths) + 1])\nend\n"
        )
        for path in paths[:50]:  # warm: each worker process's connections and caches
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                assert r.status == 200
        binary = shutil.which("wrk")
        if binary is None:
            raise SystemExit("wrk is not installed (apt-get install wrk)")
        one = wrk(binary, script, port, 1, options.seconds)
        many = wrk(binary, script, port, options.connections, options.seconds)
        return {
            "page_p50_1": one["p50"],
            "page_p99_1": one["p99"],
            "page_rate_1": one["rate"],
            "page_rate": many["rate"],
            "page_p50": many["p50"],
            "page_p99": many["p99"],
        }
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def wrk(binary: str, script: Path, port: int, connections: int, seconds: int) -> dict[str, float]:
    """Requests per second and latency percentiles of wrk over ``connections``."""
    result = subprocess.run(
        [
            binary,
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", result):
        raise RuntimeError(f"{m.group(1)} error responses\n{result}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result)
    assert rate is not None, result
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    figures = {"rate": float(rate.group(1))}
    for label in ("50", "99"):
        found = re.search(label + r"%\s+([\d.]+)(us|ms|s)\b", result)
        assert found is not None, result
        figures[f"p{label}"] = float(found.group(1)) * scale[found.group(2)]
    return figures


def run_backend(vendor: str, options: argparse.Namespace) -> dict[str, Any]:
    kept = Path(options.keep) / vendor if options.keep else None
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
    database = "portside_search_bench_kept" if kept else ""
    with scratch_store(
        vendor, "search_bench", work=kept, database=database, keep=kept is not None
    ) as store:
        report = store.work / "report.json"
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--report",
                str(report),
                "--products",
                str(options.products),
                "--queries",
                str(options.queries),
                "--publishers",
                str(options.publishers),
                *(["--reuse"] if kept else []),
            ],
            env=store.env,
            check=True,
        )
        result = json.loads(report.read_text())
        paths = result.pop("paths")
        if not options.no_pages:
            result.update(serve_and_load(store.env, paths, store.work, options))
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--publishers", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--reuse", action="store_true", help="keep a catalogue already in the database"
    )
    parser.add_argument("--no-pages", action="store_true", help="measure search only")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the generated catalogues (DIR/sqlite, database portside_search_bench_kept) "
        "and reuse them on the next run",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        sys.path.insert(0, str(ROOT / "src"))
        child(options)
        return
    vendors = ("sqlite", "postgresql") if options.backend == "both" else (options.backend,)
    results = {}
    for vendor in vendors:
        print(f"{vendor}:", flush=True)
        results[vendor] = run_backend(vendor, options)
        for ms, total, q in results[vendor]["cold"]["slowest"]:
            print(f"  slowest cold: {ms} ms, {total:,} results, {q}")
        totals = results[vendor]["cold"]["totals"]
        print(
            f"  results per query: median {statistics.median(totals):,.0f}, "
            f"p95 {percentile(totals, 95):,.0f}, max {max(totals):,}; "
            f"{results[vendor]['distinct']} distinct queries of {len(totals)}"
        )
    print()
    print(
        f"{'backend':12} {'cold p50':>9} {'p95':>7} {'max':>7}   {'served p50':>10} {'p95':>7}"
        f"   {'page p50 1c':>11} {'req/s 1c':>8} {'req/s':>6} {'p50':>7} {'p99':>7}"
    )
    for vendor, r in results.items():
        cold, served = r["cold"], r["served"]
        page = (
            f"{r['page_p50_1']:9.1f}ms {r['page_rate_1']:8.0f} {r['page_rate']:6.0f} "
            f"{r['page_p50']:5.1f}ms {r['page_p99']:5.1f}ms"
            if "page_rate" in r
            else ""
        )
        print(
            f"{vendor:12} {cold['p50']:7.1f}ms {cold['p95']:5.1f}ms {cold['max']:5.0f}ms   "
            f"{served['p50']:8.1f}ms {served['p95']:5.1f}ms   {page}"
        )
    print(
        f"\n({options.products:,} products, {options.queries} queries after 20 warm-up; "
        "cold: no result reused; served: results reused until the index changes; "
        f"pages: wrk over 1,000 product pages for {options.seconds} s, 1 connection (1c) "
        f"then {options.connections}; "
        f"{os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
