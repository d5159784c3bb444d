"""Catalogue search: the same results, in the same order, on SQLite and on PostgreSQL.

The suite runs on SQLite, and again on PostgreSQL with ``DATABASE_URL``. Exact orders are
asserted for a set of queries over the shared catalogue (``factories.CATALOGUE``), and
``search_golden.json`` holds the results of many more, recorded once (set
``PORTSIDE_RECORD_SEARCH=1`` to record it again): the same file must pass on both.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from portside.catalog import search
from portside.catalog.models import ListingState, Product
from portside.core import schedule
from tests.catalog.factories import (
    build_catalogue,
    make_listing,
    make_product,
    republish,
    tier,
    withdraw,
)

GOLDEN = Path(__file__).with_name("search_golden.json")


def ids(results: search.Results) -> list[str]:
    return [f"{hit.organization}/{hit.slug}" for hit in results.hits]


@pytest.fixture
def catalogue(db: Any) -> dict[str, Any]:
    return build_catalogue()


# --- tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", ["hello", "world"]),
        ("Café CRÈME", ["cafe", "creme"]),
        ("Straße", ["strasse"]),
        ("\uff21\uff22\uff23\uff11\uff12\uff13", ["abc123"]),  # NFKC: full-width forms
        ("ﬁle", ["file"]),  # NFKC: ligature
        ("version ٣", ["version", "3"]),  # any script's decimal digits
        ("ci/cd_pipeline-v2.1", ["ci", "cd", "pipeline", "v2", "1"]),
        ("Ελληνικά 日本語", ["ελληνικα", "日本語"]),
        ('"*NEAR( {name}: AND"', ["near", "name", "and"]),
        ("a\x00b", ["a", "b"]),
        ("!!! ... ***", []),
        ("", []),
        ("x" * 100, ["x" * search.MAX_TOKEN]),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert search.tokens(text) == expected


def test_query_terms_are_distinct_and_bounded() -> None:
    assert search.query_terms("redis Redis REDIS cache") == ["redis", "cache"]
    assert len(search.query_terms(" ".join(f"w{n}" for n in range(50)))) == search.MAX_TERMS


# --- exact orders ------------------------------------------------------------------------------

ORDERS: list[tuple[dict[str, Any], list[str]]] = [
    (
        # The last term is a prefix: postgres* finds PostgreSQL. Name 8 + tags 4 + short
        # description 2 + long description 1 = 15, and so on; then pulls.
        {"text": "postgres"},
        [
            "acme/postgres",
            "globex/postgres-backup",
            "initech/pgbouncer",
            "initech/timescale",
            "globex/postgis",
            "hooli/mysql",
            "globex/grafana",
            "hooli/kafka",
            "globex/vault",
        ],
    ),
    (
        {"text": "postgresql"},
        [
            "acme/postgres",
            "initech/timescale",
            "globex/postgres-backup",
            "globex/postgis",
            "hooli/mysql",
        ],
    ),
    # "postg" is a prefix of PostGIS too, which now matches in its name.
    (
        {"text": "postg"},
        [
            "acme/postgres",
            "globex/postgres-backup",
            "globex/postgis",
            "initech/pgbouncer",
            "initech/timescale",
            "hooli/mysql",
            "globex/grafana",
            "hooli/kafka",
            "globex/vault",
        ],
    ),
    # Only the last term is a prefix: "postg" alone as an earlier term matches nothing.
    ({"text": "postg server"}, []),
    # Every term must occur, each in some field: ClickHouse has "sql" only in its tags and
    # "database" only in its short description (no field holds both: score 0).
    ({"text": "sql database"}, ["acme/postgres", "hooli/mysql", "globex/clickhouse"]),
    ({"text": "redis"}, ["acme/redis-exporter", "umbrella/redis", "hooli/prometheus"]),
    ({"text": "web server"}, ["acme/caddy", "initech/nginx"]),
    ({"text": "proxy"}, ["umbrella/envoy", "initech/nginx", "initech/pgbouncer"]),
    # Same score (short description 2): then pulls.
    ({"text": "base image"}, ["umbrella/alpine", "hooli/ubuntu", "hooli/debian", "initech/python"]),
    ({"text": "metrics redis"}, ["acme/redis-exporter", "hooli/prometheus"]),
    # Folding: accents, ß, full-width letters, other scripts, other digits.
    ({"text": "CAFE"}, ["acme/cafe"]),
    ({"text": "strasse"}, ["acme/cafe"]),
    ({"text": "unicode keys"}, ["acme/cafe"]),
    ({"text": "ΕΛΛΗΝΙΚΆ"}, ["acme/cafe"]),
    ({"text": "日本語"}, ["acme/cafe"]),
    ({"text": "abc"}, ["acme/cafe"]),
    ({"text": "version 3"}, ["acme/cafe"]),
    ({"text": "16"}, ["acme/postgres"]),
    # Filters.
    (
        {"text": "postgres", "category": "databases"},
        [
            "acme/postgres",
            "initech/pgbouncer",
            "initech/timescale",
            "globex/postgis",
            "hooli/mysql",
        ],
    ),
    (
        {"text": "postgres", "price": "paid"},
        [
            "acme/postgres",
            "globex/postgres-backup",
            "globex/postgis",
            "globex/grafana",
            "hooli/kafka",
            "globex/vault",
        ],
    ),
    (
        {"text": "postgres", "price": "free"},
        ["acme/postgres", "initech/pgbouncer", "initech/timescale", "hooli/mysql", "hooli/kafka"],
    ),
    (
        {"text": "postgres", "certified": True},
        ["acme/postgres", "hooli/mysql", "globex/grafana", "globex/vault"],
    ),
    (
        {"text": "postgres", "publisher": "globex"},
        ["globex/postgres-backup", "globex/postgis", "globex/grafana", "globex/vault"],
    ),
    (
        {"text": "", "tag": "postgres"},
        [
            "acme/postgres",
            "initech/pgbouncer",
            "initech/timescale",
            "globex/postgres-backup",
            "globex/postgis",
        ],
    ),
    ({"text": "", "tag": "base", "certified": True}, ["umbrella/alpine"]),
    (
        {"text": "", "category": "monitoring", "price": "free"},
        ["hooli/prometheus", "acme/redis-exporter"],
    ),
    ({"text": "", "category": "databases", "tag": "sql", "publisher": "hooli"}, ["hooli/mysql"]),
    ({"text": "redis", "category": "web-servers"}, []),
    ({"text": "", "category": "no-such-category"}, []),
]


@pytest.mark.django_db
@pytest.mark.parametrize("query, expected", ORDERS, ids=[json.dumps(q) for q, _ in ORDERS])
def test_order(catalogue: dict[str, Any], query: dict[str, Any], expected: list[str]) -> None:
    results = search.search(**query)
    assert ids(results) == expected
    assert results.total == len(expected)


@pytest.mark.django_db
def test_scores(catalogue: dict[str, Any]) -> None:
    hits = {f"{h.organization}/{h.slug}": h.score for h in search.search("postgres").hits}
    assert hits["acme/postgres"] == 8 + 4 + 2 + 1  # name, tags, short and long description
    assert hits["globex/postgres-backup"] == 8 + 4 + 2  # not in its long description
    assert hits["hooli/mysql"] == 1  # only its long description
    hits = {f"{h.organization}/{h.slug}": h.score for h in search.search("globex vault").hits}
    assert hits == {"globex/vault": 8}  # the publisher field does not hold "vault"
    hits = {f"{h.organization}/{h.slug}": h.score for h in search.search("globex").hits}
    assert hits["globex/vault"] == 8 + 3  # name, and publisher
    assert hits["globex/postgis"] == 3  # publisher only


@pytest.mark.django_db
def test_empty_query_lists_everything_by_popularity(catalogue: dict[str, Any]) -> None:
    results = search.search("", page_size=100)
    assert results.total == 30
    pulls = [hit.pulls for hit in results.hits]
    assert pulls == sorted(pulls, reverse=True)
    assert ids(results)[:3] == ["umbrella/alpine", "hooli/ubuntu", "hooli/debian"]
    # Equal pulls (2600): the newer first publication first.
    assert ids(results).index("acme/cafe") + 1 == ids(results).index("initech/timescale")


@pytest.mark.django_db
def test_ties_go_to_the_newest_then_the_lowest_id(db: Any) -> None:
    when = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    older = make_listing("acme", "one", name="Widget One", pulls=10, published=when)
    newer = make_listing(
        "acme", "two", name="Widget Two", pulls=10, published=when + dt.timedelta(hours=1)
    )
    same_a = make_listing("acme", "three", name="Widget Three", pulls=10, published=when)
    assert older.pk < same_a.pk
    assert [h.slug for h in search.search("widget").hits] == ["two", "one", "three"]
    assert newer.pk


@pytest.mark.django_db
def test_facets_count_the_matching_set(catalogue: dict[str, Any]) -> None:
    facets = search.search("postgres").facets
    assert [(f.value, f.count) for f in facets.categories] == [
        ("databases", 5),
        ("messaging", 1),
        ("monitoring", 1),
        ("security", 1),
        ("storage", 1),
    ]
    assert [f.label for f in facets.categories][:1] == ["Databases"]
    assert [(f.value, f.count) for f in facets.publishers] == [
        ("globex", 4),
        ("hooli", 2),
        ("initech", 2),
        ("acme", 1),
    ]
    assert facets.price == {"free": 5, "paid": 6}
    assert facets.certified == 4
    tags = {f.value: f.count for f in facets.tags}
    assert tags["postgres"] == 5
    assert tags["sql"] == 2
    assert tags["database"] == 3

    everything = search.search("").facets
    assert everything.price == {"free": 23, "paid": 13}
    assert everything.certified == 8
    assert sum(f.count for f in everything.categories) == 30
    assert {f.value: f.count for f in everything.publishers} == {
        "acme": 7,
        "globex": 6,
        "hooli": 6,
        "initech": 6,
        "umbrella": 5,
    }
    # Filters narrow the facets too.
    narrowed = search.search("", category="databases").facets
    assert [(f.value, f.count) for f in narrowed.categories] == [("databases", 6)]
    assert narrowed.price == {"free": 5, "paid": 3}


@pytest.mark.django_db
def test_facet_values_are_most_frequent_first_and_bounded(db: Any) -> None:
    for n in range(25):
        make_listing("acme", f"p{n}", name=f"Product {n}", search_tags=[f"tag{n:02d}", "common"])
    tags = search.search("").facets.tags
    assert len(tags) == search.FACET_LIMIT
    assert (tags[0].value, tags[0].count) == ("common", 25)
    assert [t.value for t in tags[1:4]] == ["tag00", "tag01", "tag02"]


# --- what is live ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_live_listings_appear(db: Any) -> None:
    make_product("acme", "draft", name="Draft Gadget")  # never submitted: no listing
    make_listing("acme", "gone", name="Gone Gadget", state=ListingState.UNPUBLISHED)
    make_listing("acme", "down", name="Down Gadget", state=ListingState.TAKEN_DOWN)
    make_listing("acme", "live", name="Live Gadget")
    assert ids(search.search("gadget")) == ["acme/live"]
    assert search.search("").total == 1
    assert search.category_counts() == {"databases": 1}


@pytest.mark.django_db
@pytest.mark.parametrize("state", [ListingState.UNPUBLISHED, ListingState.TAKEN_DOWN])
def test_withdrawn_listings_disappear(catalogue: dict[str, Any], state: str) -> None:
    withdraw(catalogue["acme/postgres"], state)
    assert "acme/postgres" not in ids(search.search("postgres"))
    assert search.search("postgres").total == 8
    everything = search.search("")
    assert everything.total == 29
    assert everything.facets.certified == 7
    assert everything.facets.price == {"free": 22, "paid": 12}
    assert search.category_counts()["databases"] == 5
    assert search.search("", publisher="acme").total == 6
    # Back again.
    republish(catalogue["acme/postgres"], name="Acme PostgreSQL 17")
    assert ids(search.search("postgres"))[0] == "acme/postgres"
    assert search.search("").total == 30


@pytest.mark.django_db
def test_republishing_replaces_the_indexed_revision(catalogue: dict[str, Any]) -> None:
    listing = catalogue["umbrella/redis"]
    republish(
        listing,
        name="Umbrella Valkey",
        short_description="A fork of an in-memory store",
        long_description="Compatible with the protocol you know.",
        search_tags=["valkey", "cache"],
        category="messaging",
        tiers=[tier("Pro", "99.00", access=[])],
    )
    assert ids(search.search("valkey")) == ["umbrella/redis"]
    assert "umbrella/redis" not in ids(search.search("redis"))
    assert search.search("", tag="redis").total == 1
    assert search.search("", category="messaging").total == 3
    assert search.search("", price="free").total == 22
    assert search.search("", price="paid").total == 13
    assert search.search("").total == 30
    assert search.search("umbrella valkey").hits[0].card["tiers"][0]["price"] == "99.00"


@pytest.mark.django_db
def test_reindexing_twice_changes_nothing(catalogue: dict[str, Any]) -> None:
    before = search.search("", page_size=100)
    for listing in catalogue.values():
        search.reindex_listing(listing)
    after = search.search("", page_size=100)
    assert ids(after) == ids(before)
    assert after.facets == before.facets


@pytest.mark.django_db
def test_reindex_all_rebuilds_the_same_index(catalogue: dict[str, Any]) -> None:
    before = [(ids(search.search(q)), search.search(q).facets) for q in ("", "postgres", "da")]
    assert search.reindex_all() == 30
    after = [(ids(search.search(q)), search.search(q).facets) for q in ("", "postgres", "da")]
    assert after == before


@pytest.mark.django_db
def test_deleting_a_product_removes_it_from_the_index(catalogue: dict[str, Any]) -> None:
    product = Product.objects.get(organization__name="initech", slug="pgbouncer")
    product.listing.delete()
    product.delete()
    assert "initech/pgbouncer" not in ids(search.search("postgres"))
    assert search.search("pooler").total == 0
    assert search.search("").total == 29
    assert search.category_counts()["databases"] == 5
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM catalog_search_fts")
            assert cursor.fetchone()[0] == 29


# --- hostile input ----------------------------------------------------------------------------

HOSTILE = [
    '"',
    '""',
    "*",
    "postgres*",
    "NEAR(",
    "NEAR(postgres redis)",
    "AND",
    "postgres AND",
    "OR redis",
    "NOT postgres",
    "{name}:",
    "{name}: redis",
    "name:redis",
    "redis:A",
    "redis:*",
    "'redis' & 'cache'",
    "!redis | cache",
    "(redis",
    "redis)",
    "^redis",
    "-redis",
    "+redis",
    "redis\x00cache",
    "\x00",
    "x" * 10_000,
    "redis " * 2_000,
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "\\",
    "%",
    "_",
    "' OR 1=1 --",
    "; DROP TABLE catalog_searchentry; --",
    "\u202e\u200b\ufeff",
    "🐘 postgres",
]


@pytest.mark.django_db
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_are_words_and_never_syntax(catalogue: dict[str, Any], text: str) -> None:
    results = search.search(text)
    # Exactly what the words alone find: nothing was read as query syntax.
    plain = search.search(" ".join(search.query_terms(text)))
    assert ids(results) == ids(plain)
    assert results.total == plain.total
    # And the same text as every filter matches nothing, without an error.
    filtered = search.search(text, category=text, tag=text, publisher=text, price=text)
    assert filtered.total == 0 or text.replace("\x00", "").strip() == ""


@pytest.mark.django_db
def test_punctuation_only_lists_everything(catalogue: dict[str, Any]) -> None:
    assert search.search("!!! ... ???").total == 30


@pytest.mark.django_db
def test_operators_are_plain_words(catalogue: dict[str, Any]) -> None:
    # "and" is an ordinary term: no listing holds "or" or "not" as a word prefix here.
    assert search.search("NOT postgres").total == 0
    assert search.search("postgres OR").total == 0
    assert set(ids(search.search("streaming AND"))) == {"hooli/spark", "hooli/kafka"}
    assert ids(search.search("processing and"))[0] == "hooli/spark"


# --- pagination -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pages_cover_the_results_once(catalogue: dict[str, Any]) -> None:
    everything = ids(search.search("", page_size=100))
    pages = [ids(search.search("", page=n, page_size=7)) for n in range(1, 6)]
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    assert [i for page in pages for i in page] == everything
    results = search.search("", page=1, page_size=7)
    assert (results.pages, results.has_previous, results.has_next) == (5, False, True)
    last = search.search("", page=5, page_size=7)
    assert (last.has_previous, last.has_next) == (True, False)


@pytest.mark.django_db
def test_pagination_bounds(catalogue: dict[str, Any]) -> None:
    beyond = search.search("", page=99, page_size=10)
    assert beyond.hits == [] and beyond.total == 30 and beyond.pages == 3
    assert search.search("", page=0).page == 1
    assert search.search("", page=-5).page == 1
    assert search.search("", page=10**12).page == search.MAX_PAGE
    assert search.search("", page_size=0).page_size == 1
    assert search.search("", page_size=1000).page_size == search.MAX_PAGE_SIZE
    assert len(search.search("", page_size=1000).hits) == 30
    loose = search.make_query("redis", page="abc", page_size="\x00", certified="yes")
    assert (loose.page, loose.page_size, loose.certified) == (1, search.DEFAULT_PAGE_SIZE, False)
    assert search.make_query(price="FREE").price == "free"
    assert search.make_query(price="cheap").price == ""
    assert search.search("redis", page=2).hits == []


# --- popularity -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refresh_popularity_counts_the_pulls_of_the_sources(catalogue: dict[str, Any]) -> None:
    from portside.core import clock
    from portside.registry.models import PullCount, Repository

    def pulls(org: str, name: str, counts: list[int]) -> None:
        repository = Repository.objects.create(
            organization=catalogue[f"{org}/{name}"].product.organization,
            name=f"{org}/{name}",
            created_at=clock.now(),
        )
        for n, count in enumerate(counts):
            PullCount.objects.create(
                repository=repository,
                digest="sha256:" + "a" * 64,
                tag="1.0",
                user_id=n,
                day=dt.date(2026, 1, 1 + n),
                count=count,
            )

    pulls("acme", "caddy", [40_000, 2_000])
    pulls("hooli", "ubuntu", [5])
    changed = search.refresh_popularity()
    assert changed == 30  # every listing's pulls now come from the registry
    assert ids(search.search(""))[:1] == ["acme/caddy"]
    caddy = catalogue["acme/caddy"]
    caddy.refresh_from_db()
    assert caddy.pulls == 42_000
    assert search.search("ubuntu").hits[0].pulls == 5
    assert search.search("debian").hits[0].pulls == 0
    assert search.refresh_popularity() == 0


def test_popularity_is_a_periodic_job() -> None:
    assert "catalog.popularity" in {job.name for job in schedule.jobs()}


# --- both backends, one file ------------------------------------------------------------------

GOLDEN_QUERIES: list[dict[str, Any]] = [
    {"text": text}
    for text in [
        "",
        "p",
        "po",
        "pos",
        "postgres",
        "postgresql database",
        "database",
        "data",
        "d",
        "server",
        "web",
        "redis cache",
        "cache",
        "metrics",
        "prometheus redis",
        "python",
        "runtime base",
        "base",
        "image",
        "s3 storage",
        "security",
        "ci cd",
        "pipelines",
        "kafka postgres",
        "a",
        "the",
        "and",
        "with",
        "for",
        "café",
        "ünïcödé",
        "日本",
        "日本語",
        "ελλην",
        "\uff13",
        "abc",
        "x" * 300,
        '"redis" NEAR(cache',
    ]
] + [
    {"text": "", "price": "free", "page_size": 100},
    {"text": "", "price": "paid", "page_size": 100},
    {"text": "", "certified": True},
    {"text": "d", "category": "databases"},
    {"text": "s", "tag": "postgres"},
    {"text": "a", "publisher": "acme", "page": 2, "page_size": 3},
    {"text": "e", "price": "free", "certified": True},
    {"text": "", "category": "base-images", "tag": "base", "price": "free"},
]


def _record(results: search.Results) -> dict[str, Any]:
    facets = results.facets
    return {
        "total": results.total,
        "hits": [[f"{h.organization}/{h.slug}", h.score] for h in results.hits],
        "facets": {
            "categories": [[f.value, f.count] for f in facets.categories],
            "tags": [[f.value, f.count] for f in facets.tags],
            "publishers": [[f.value, f.count] for f in facets.publishers],
            "price": facets.price,
            "certified": facets.certified,
        },
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "among, prefix_words",
    [(search.MAX_AMONG, search.MAX_PREFIX_WORDS), (0, 0)],
    ids=["as-configured", "no-shortcuts"],
)
def test_both_backends_give_the_recorded_results(
    catalogue: dict[str, Any], monkeypatch: pytest.MonkeyPatch, among: int, prefix_words: int
) -> None:
    """The recorded results, with PostgreSQL's shortcuts as configured (filters that leave
    few listings tested first, a last term looked up as the words it begins) and with
    neither (every match found by the GIN indexes, the last term as a prefix query)."""
    monkeypatch.setattr(search, "MAX_AMONG", among)
    monkeypatch.setattr(search, "MAX_PREFIX_WORDS", prefix_words)
    search.RESULT_CACHE.clear()
    recorded = {json.dumps(q, sort_keys=True): _record(search.search(**q)) for q in GOLDEN_QUERIES}
    if os.environ.get("PORTSIDE_RECORD_SEARCH") and among:
        GOLDEN.write_text(json.dumps(recorded, indent=1, ensure_ascii=False) + "\n")
    expected = json.loads(GOLDEN.read_text())
    assert set(recorded) == set(expected)
    for key, value in recorded.items():
        assert value == expected[key], f"{connection.vendor}: {key}"


# --- the columns that order and count the matches ------------------------------------------


@pytest.mark.django_db
def test_columns_follow_every_change_to_the_index(catalogue: dict[str, Any]) -> None:
    """Filters and facets come from columns loaded once per index token: a change to the
    index is seen by the very next query, in the same process."""
    search.RESULT_CACHE.clear()
    before = search.search("", category="databases")
    listing = catalogue["acme/postgres"]
    withdraw(listing, ListingState.UNPUBLISHED)
    after = search.search("", category="databases")
    assert after.total == before.total - 1
    assert "acme/postgres" not in ids(after)
    republish(listing, name="Acme PostgreSQL 17")
    assert search.search("", category="databases").total == before.total


@pytest.mark.django_db
def test_a_value_holding_the_separator_is_still_counted(catalogue: dict[str, Any]) -> None:
    """The columns are read as one joined string per column; a category that holds the
    separator makes that column be read row by row instead, with the same result."""
    from portside.catalog.search import SearchEntry

    listing = catalogue["acme/postgres"]
    SearchEntry.objects.filter(pk=listing.pk).update(category="odd\x1fslug")
    search._changed()
    found = search.search("", category="odd\x1fslug")
    assert ids(found) == ["acme/postgres"]
    assert [f.value for f in search.search("postgres").facets.categories].count("odd\x1fslug") == 1


@pytest.mark.django_db
def test_a_search_leaves_the_planner_settings_as_they_were(db: Any) -> None:
    """On PostgreSQL the match turns sequential scans off for its own statement only:
    inside a caller's transaction (which outlives a SET LOCAL) the setting is put back."""
    from django.db import transaction

    build_catalogue()
    with connection.cursor() as cursor, transaction.atomic():
        assert search.search("postgres").total == 9
        if connection.vendor == "postgresql":
            cursor.execute("SHOW enable_seqscan")
            assert cursor.fetchone()[0] == "on"
