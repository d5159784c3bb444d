"""Catalogue factories: products, frozen revisions and live listings built with the ORM,
indexed for search as the publishing services do."""

from __future__ import annotations

import datetime as dt
from itertools import count
from typing import Any

from portside.accounts.models import Organization
from portside.catalog import search
from portside.catalog.models import Category, Listing, ListingState, Product, Revision
from portside.core import clock
from tests.factories import make_org, make_user

_seq = count(1)
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def organization(name: str) -> Organization:
    found = Organization.objects.filter(name=name).first()
    if found is not None:
        return found
    return make_org(name, make_user(f"{name}-owner"))


def tier(
    name: str = "Community",
    price: str = "0",
    *,
    currency: str = "USD",
    billing_period: str | None = None,
    access: list[dict[str, Any]] | None = None,
    description: str = "",
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "price": price,
        "currency": currency,
        "billing_period": billing_period or ("free" if float(price) == 0 else "monthly"),
        "access": access if access is not None else [],
    }


def manifest(
    org: str,
    slug: str,
    *,
    name: str,
    short_description: str = "",
    long_description: str = "",
    category: str | None = "databases",
    search_tags: list[str] | None = None,
    publisher_name: str | None = None,
    tiers: list[dict[str, Any]] | None = None,
    platforms: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    cat = Category.objects.filter(slug=category).first() if category else None
    repository = f"{org}/{slug}"
    data = {
        "schema": 1,
        "name": name,
        "slug": slug,
        "icon": "",
        "short_description": short_description,
        "category": {"slug": cat.slug, "name": cat.name} if cat else None,
        "search_tags": list(search_tags or []),
        "long_description": long_description,
        "screenshots": [],
        "support_url": "https://support.example.com/",
        "support_email": f"support@{org}.example.com",
        "self_help": "",
        "install_instructions": f"Pull `{repository}` and run it.",
        "license_url": "https://example.com/licence",
        "sla": {"hours": "", "critical_hours": None, "major_hours": None, "minor_hours": None},
        "platforms": list(platforms if platforms is not None else ["community"]),
        "publisher_support": False,
        "publisher": {
            "organization": org,
            "name": publisher_name or org.title(),
            "website": f"https://{org}.example.com/",
        },
        "sources": [{"repository": repository, "tags": {"1.0": "sha256:" + "a" * 64}}],
        "tiers": tiers
        if tiers is not None
        else [tier(access=[{"repository": repository, "tags": ["1.0"]}])],
    }
    data.update(extra)
    return data


def make_product(org: str, slug: str, *, name: str | None = None) -> Product:
    now = clock.now()
    return Product.objects.create(
        organization=organization(org),
        slug=slug,
        name=name or slug.replace("-", " ").title(),
        created_at=now,
        updated_at=now,
    )


def revise(product: Product, data: dict[str, Any]) -> Revision:
    number = (
        product.revisions.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    return Revision.objects.create(
        product=product, number=number, manifest=data, created_at=clock.now()
    )


def make_listing(
    org: str,
    slug: str,
    *,
    name: str,
    certified: bool = False,
    pulls: int = 0,
    published: dt.datetime | None = None,
    state: str = ListingState.LIVE,
    **fields: Any,
) -> Listing:
    """A product with one revision, listed (live by default) and indexed."""
    product = make_product(org, slug, name=name)
    revision = revise(product, manifest(org, slug, name=name, **fields))
    when = published or EPOCH + dt.timedelta(days=next(_seq))
    listing = Listing.objects.create(
        product=product,
        revision=revision,
        state=state,
        first_published_at=when,
        published_at=when,
        certified=certified,
        pulls=pulls,
    )
    search.reindex_listing(listing)
    return listing


def republish(listing: Listing, **fields: Any) -> Listing:
    """A new revision of the listing's product made live, replacing the old one; items not
    given are those of the current revision."""
    old = listing.revision.manifest
    kept: dict[str, Any] = {
        "name": old["name"],
        "short_description": old["short_description"],
        "long_description": old["long_description"],
        "search_tags": old["search_tags"],
        "category": (old["category"] or {}).get("slug"),
        "tiers": old["tiers"],
        "platforms": old["platforms"],
    }
    kept.update(fields)
    data = manifest(old["publisher"]["organization"], old["slug"], **kept)
    listing.revision = revise(listing.product, data)
    listing.state = ListingState.LIVE
    listing.published_at = clock.now()
    listing.save()
    search.reindex_listing(listing)
    return listing


def withdraw(listing: Listing, state: str = ListingState.UNPUBLISHED) -> Listing:
    listing.state = state
    listing.withdrawn_at = clock.now()
    listing.save()
    search.reindex_listing(listing)
    return listing


# --- the shared test catalogue -----------------------------------------------------------------

FREE = "free"
PAID = "paid"
BOTH = "both"

# org, slug, name, short description, tags, category, prices, certified, pulls, long description
CATALOGUE: list[tuple[str, str, str, str, list[str], str, str, bool, int, str]] = [
    (
        "acme",
        "postgres",
        "Acme PostgreSQL 16",
        "Managed PostgreSQL database server",
        ["postgres", "sql", "database"],
        "databases",
        BOTH,
        True,
        9000,
        "Run **PostgreSQL** with backups and replication.",
    ),
    (
        "globex",
        "postgres-backup",
        "Globex Postgres Backup",
        "Point-in-time backups for PostgreSQL",
        ["backup", "postgres"],
        "storage",
        PAID,
        False,
        1200,
        "Continuous archiving to S3 storage.",
    ),
    (
        "initech",
        "pgbouncer",
        "PgBouncer",
        "Connection pooler for Postgres",
        ["postgres", "proxy"],
        "databases",
        FREE,
        False,
        3000,
        "A lightweight pooler in front of your database.",
    ),
    (
        "hooli",
        "mysql",
        "Hooli MySQL",
        "The MySQL database, hardened",
        ["mysql", "sql", "database"],
        "databases",
        FREE,
        True,
        7000,
        "Migrate from PostgreSQL or MariaDB with the bundled tools.",
    ),
    (
        "umbrella",
        "redis",
        "Umbrella Redis",
        "In-memory data store and cache",
        ["redis", "cache", "nosql"],
        "databases",
        BOTH,
        False,
        8000,
        "Redis with persistence, replication and a Prometheus exporter.",
    ),
    (
        "acme",
        "redis-exporter",
        "Redis Exporter",
        "Prometheus metrics for Redis",
        ["redis", "prometheus", "monitoring"],
        "monitoring",
        FREE,
        False,
        500,
        "Exports Redis metrics for Prometheus and Grafana dashboards.",
    ),
    (
        "globex",
        "grafana",
        "Globex Grafana",
        "Dashboards for metrics and logs",
        ["grafana", "dashboard", "monitoring"],
        "monitoring",
        PAID,
        True,
        4000,
        "Works with Postgres, MySQL and Prometheus data sources.",
    ),
    (
        "hooli",
        "prometheus",
        "Prometheus Server",
        "Metrics collection and alerting",
        ["prometheus", "monitoring", "metrics"],
        "monitoring",
        FREE,
        False,
        6000,
        "Scrapes metrics from exporters such as the Redis exporter.",
    ),
    (
        "initech",
        "nginx",
        "Initech NGINX",
        "High-performance web server and reverse proxy",
        ["nginx", "web", "proxy"],
        "web-servers",
        FREE,
        False,
        10000,
        "Serve static files and proxy to application servers.",
    ),
    (
        "acme",
        "caddy",
        "Caddy Web Server",
        "Automatic HTTPS web server",
        ["web", "tls"],
        "web-servers",
        FREE,
        False,
        2000,
        "Certificates from ACME issuers, renewed automatically.",
    ),
    (
        "umbrella",
        "envoy",
        "Envoy Proxy",
        "Cloud-native edge and service proxy",
        ["proxy", "mesh"],
        "networking",
        PAID,
        True,
        1500,
        "An L7 proxy and communication bus for large service meshes.",
    ),
    (
        "hooli",
        "kafka",
        "Hooli Kafka",
        "Event streaming platform",
        ["kafka", "streaming", "messaging"],
        "messaging",
        BOTH,
        False,
        3500,
        "Durable event streams with connectors for Postgres and S3.",
    ),
    (
        "globex",
        "rabbitmq",
        "Globex RabbitMQ",
        "Message broker for queues",
        ["rabbitmq", "queue", "messaging"],
        "messaging",
        FREE,
        False,
        2500,
        "AMQP and MQTT messaging with a web management console.",
    ),
    (
        "initech",
        "python",
        "Python Runtime",
        "Slim Python base image",
        ["python", "runtime"],
        "programming-languages",
        FREE,
        True,
        12000,
        "CPython 3.12 on a minimal Debian base.",
    ),
    (
        "acme",
        "node",
        "Node.js Runtime",
        "JavaScript runtime on a minimal base",
        ["node", "javascript", "runtime"],
        "programming-languages",
        FREE,
        False,
        11000,
        "Node.js LTS with npm.",
    ),
    (
        "umbrella",
        "alpine",
        "Hardened Alpine",
        "Minimal Alpine Linux base image",
        ["alpine", "base", "minimal"],
        "base-images",
        FREE,
        True,
        15000,
        "A small base for static binaries.",
    ),
    (
        "hooli",
        "debian",
        "Debian Slim",
        "Debian base image with security updates",
        ["debian", "base"],
        "base-images",
        FREE,
        False,
        13000,
        "Rebuilt daily with the latest security updates.",
    ),
    (
        "globex",
        "vault",
        "Globex Vault",
        "Secrets management",
        ["secrets", "security", "vault"],
        "security",
        PAID,
        True,
        900,
        "Dynamic database credentials for Postgres and MySQL.",
    ),
    (
        "initech",
        "scanner",
        "Image Scanner",
        "Find vulnerabilities in container images",
        ["security", "scanner"],
        "security",
        BOTH,
        False,
        700,
        "Scans Debian, Alpine and Python packages.",
    ),
    (
        "acme",
        "jupyter",
        "Jupyter Notebook",
        "Data science notebooks with Python",
        ["python", "notebook", "data"],
        "machine-learning",
        FREE,
        False,
        4500,
        "Notebooks with pandas and a Spark kernel.",
    ),
    (
        "umbrella",
        "pytorch",
        "PyTorch Inference",
        "Serve machine learning models",
        ["pytorch", "gpu", "inference"],
        "machine-learning",
        PAID,
        False,
        3200,
        "GPU inference server for Python models.",
    ),
    (
        "hooli",
        "spark",
        "Spark Analytics",
        "Big data processing with Apache Spark",
        ["spark", "data", "analytics"],
        "analytics",
        BOTH,
        False,
        2100,
        "Batch and streaming jobs over data lakes.",
    ),
    (
        "globex",
        "clickhouse",
        "ClickHouse Server",
        "Column-oriented analytics database",
        ["clickhouse", "sql", "analytics"],
        "analytics",
        FREE,
        False,
        1900,
        "Fast SQL over billions of rows.",
    ),
    (
        "initech",
        "minio",
        "MinIO Object Storage",
        "S3-compatible object storage",
        ["s3", "storage"],
        "storage",
        BOTH,
        True,
        2800,
        "Erasure-coded object storage for Kubernetes.",
    ),
    (
        "acme",
        "terraform",
        "Terraform Runner",
        "Infrastructure as code in CI",
        ["terraform", "ci-cd"],
        "devops-tools",
        PAID,
        False,
        600,
        "Plans and applies from your pipeline.",
    ),
    (
        "umbrella",
        "jenkins",
        "Jenkins Controller",
        "Automation server for CI/CD pipelines",
        ["jenkins", "ci-cd"],
        "devops-tools",
        FREE,
        False,
        2200,
        "Pipelines as code with a plugin for every tool.",
    ),
    (
        "hooli",
        "ubuntu",
        "Ubuntu LTS",
        "Ubuntu base image",
        ["ubuntu", "base"],
        "operating-systems",
        FREE,
        False,
        14000,
        "Long-term support releases.",
    ),
    (
        "globex",
        "postgis",
        "PostGIS",
        "Spatial database extender for PostgreSQL",
        ["postgres", "gis", "geo"],
        "databases",
        PAID,
        False,
        800,
        "Geographic objects and spatial queries.",
    ),
    (
        "initech",
        "timescale",
        "Timescale",
        "Time-series database built on PostgreSQL",
        ["postgres", "timeseries", "database"],
        "databases",
        FREE,
        False,
        2600,
        "Hypertables and continuous aggregates.",
    ),
    (
        "acme",
        "cafe",
        "Café Crème Cache",
        "Straße-proof caching für Ünïcödé keys",
        ["cache"],
        "application-infrastructure",
        FREE,
        False,
        2600,
        "Documentation in Ελληνικά and 日本語; version ٣ (full-width \uff21\uff22\uff23).",
    ),
]


def _tiers(org: str, slug: str, prices: str) -> list[dict[str, Any]]:
    access = [{"repository": f"{org}/{slug}", "tags": ["1.0"]}]
    tiers = []
    if prices in (FREE, BOTH):
        tiers.append(tier("Community", "0", access=access))
    if prices in (PAID, BOTH):
        tiers.append(
            tier("Business", "49.00", currency="EUR", billing_period="yearly", access=access)
        )
    return tiers


def build_catalogue() -> dict[str, Listing]:
    """The 30 live listings of :data:`CATALOGUE`, keyed ``org/slug``, published one day
    apart in list order (the last is the newest)."""
    from tests.moderation.world import ensure_categories

    ensure_categories()
    listings = {}
    for n, (org, slug, name, short, tags, category, prices, certified, pulls, long) in enumerate(
        CATALOGUE
    ):
        listings[f"{org}/{slug}"] = make_listing(
            org,
            slug,
            name=name,
            short_description=short,
            search_tags=tags,
            category=category,
            tiers=_tiers(org, slug, prices),
            certified=certified,
            pulls=pulls,
            long_description=long,
            published=EPOCH + dt.timedelta(days=n),
        )
    return listings
