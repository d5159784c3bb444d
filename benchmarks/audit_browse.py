"""Audit trail browsing at scale: pages and exports through the real services.

Fills ``audit_auditevent`` in a dedicated PostgreSQL database to ``--rows`` rows (once;
re-runs reuse the data), then times :func:`portside.audit.services.page` for the filters
the admin screen offers, the first rows of :func:`portside.audit.services.export_jsonl`,
and, for contrast, OFFSET pagination at the same depth. Prints a Markdown table and a
verdict against the target of 100 ms per page.

    .venv/bin/python benchmarks/audit_browse.py --rows 10000000

The database named by ``--database-url`` is created if missing and only ever holds
generated rows; ``--drop`` removes it at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

if TYPE_CHECKING:
    from portside.audit.services import AuditFilter

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portside_bench"
TARGET_MS = 100.0
BATCH = 500_000
SPAN_DAYS = 400
ACTORS = 50_000
ORGANISATIONS = 2_000
BENCH_AGENT = "portside-bench/1"
STATEMENT_TIMEOUT_MS = 120_000

# (action, relative weight): pulls dominate, as on any registry; some actions are rare.
ACTIONS: list[tuple[str, float]] = [
    ("registry:manifest:pulled", 55.0),
    ("registry:blob:pulled", 12.0),
    ("account:session:signed_in", 6.0),
    ("registry:manifest:pushed", 5.0),
    ("registry:blob:pushed", 3.0),
    ("account:session:signed_out", 3.0),
    ("account:token:used", 2.5),
    ("registry:tag:created", 2.0),
    ("account:session:sign_in_failed", 1.5),
    ("scan:image:started", 1.5),
    ("scan:image:completed", 1.45),
    ("account:token:created", 0.3),
    ("registry:tag:deleted", 0.3),
    ("registry:manifest:deleted", 0.2),
    ("registry:repository:created", 0.2),
    ("listing:product:updated", 0.2),
    ("account:token:revoked", 0.1),
    ("account:password:changed", 0.05),
    ("account:password:reset_requested", 0.05),
    ("account:email:confirmed", 0.05),
    ("account:user:signed_up", 0.05),
    ("org:member:invited", 0.05),
    ("org:member:joined", 0.05),
    ("review:submission:opened", 0.05),
    ("scan:image:failed", 0.05),
    ("account:email:added", 0.03),
    ("listing:product:published", 0.03),
    ("review:submission:approved", 0.03),
    ("registry:repository:deleted", 0.02),
    ("account:mfa:enabled", 0.02),
    ("org:member:removed", 0.02),
    ("org:member:role_changed", 0.02),
    ("org:settings:changed", 0.02),
    ("listing:product:created", 0.02),
    ("certification:image:granted", 0.02),
    ("org:organization:created", 0.01),
    ("listing:product:unpublished", 0.01),
    ("review:submission:rejected", 0.01),
    ("audit:trail:exported", 0.01),
    ("account:mfa:disabled", 0.005),
    ("audit:retention:purged", 0.004),
    ("certification:image:revoked", 0.002),
]

# One INSERT ... SELECT per batch. Every "random" value comes from md5(id), so a given
# --rows always produces the same table; ids ascend with created_at, as in production.
# "OFFSET 0" keeps each subquery from being inlined, which would recompute its
# expressions (md5, width_bucket) once per reference.
FILL_SQL = """
INSERT INTO audit_auditevent (
    id, created_at, action, actor_id, actor_name, target_type, target_id, target_label,
    organization_id, organization_name, ip_address, user_agent, details, prev_hash, hash
)
SELECT
    g,
    %(start)s::timestamptz + make_interval(secs => (g - 1) * %(step)s::float8),
    action,
    CASE WHEN family = 'scan' OR action = 'audit:retention:purged' THEN NULL
         ELSE actor + 1 END,
    CASE WHEN family = 'scan' OR action = 'audit:retention:purged' THEN 'system'
         ELSE 'user' || lpad(actor::text, 5, '0') END,
    CASE family
        WHEN 'registry' THEN 'registry.repository'
        WHEN 'account' THEN 'accounts.user'
        WHEN 'org' THEN 'accounts.organization'
        WHEN 'listing' THEN 'storefront.product'
        WHEN 'review' THEN 'storefront.submission'
        WHEN 'audit' THEN ''
        ELSE 'registry.image' END,
    CASE WHEN family = 'audit' THEN '' ELSE (bits %% 200000)::text END,
    CASE WHEN family = 'audit' THEN ''
         ELSE 'org-' || lpad(org::text, 4, '0') || '/app-' || (bits %% 200000)::text END,
    CASE WHEN family IN ('account', 'audit') THEN NULL ELSE org + 1 END,
    CASE WHEN family IN ('account', 'audit') THEN ''
         ELSE 'org-' || lpad(org::text, 4, '0') END,
    ('10.' || ((bits >> 16) & 255) || '.' || ((bits >> 8) & 255) || '.' || (bits & 255))::inet,
    CASE WHEN family = 'registry' THEN %(agent)s || ' containerd/2.0.2'
         ELSE %(agent)s || ' Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' END,
    CASE WHEN family = 'registry' THEN jsonb_build_object('digest', 'sha256:' || m || md5(m))
         ELSE '{}'::jsonb END,
    CASE WHEN g = 1 THEN '' ELSE md5((g - 1)::text) || md5(md5((g - 1)::text)) END,
    m || md5(m)
FROM (
    SELECT
        g,
        m,
        split_part(action, ':', 1) AS family,
        action,
        floor(%(actors)s * u2 * u2)::int AS actor,
        floor(%(orgs)s * u3 * u3)::int AS org,
        bits
    FROM (
        SELECT
            g,
            m,
            (%(actions)s::text[])[width_bucket(
                ('x' || substr(m, 1, 8))::bit(32)::bigint / 4294967296.0::float8,
                %(bounds)s::float8[]
            )] AS action,
            ('x' || substr(m, 9, 8))::bit(32)::bigint / 4294967296.0::float8 AS u2,
            ('x' || substr(m, 17, 8))::bit(32)::bigint / 4294967296.0::float8 AS u3,
            ('x' || substr(m, 25, 8))::bit(32)::bigint AS bits
        FROM (
            SELECT g, md5(g::text) AS m
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS g
            OFFSET 0
        ) AS seeds
        OFFSET 0
    ) AS uniform
    OFFSET 0
) AS picked
"""


# --- setting up ---------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        sys.exit("--database-url must name a database")
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(name))))
            print(f"created database {name}")


def drop_database(url: str) -> None:
    from django.db import connections

    connections.close_all()
    name = str(conninfo_to_dict(url)["dbname"])
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
    print(f"dropped database {name}")


def setup_django(url: str, data_dir: str) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "portside.config.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["PORTSIDE_DATA_DIR"] = data_dir
    import django

    django.setup()

    from django.core.management import call_command
    from django.db.backends.signals import connection_created

    def bound_statements(sender: Any, connection: Any, **kwargs: Any) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")

    connection_created.connect(bound_statements, weak=False)
    call_command("migrate", verbosity=0)


# --- filling ------------------------------------------------------------------------------


def action_table() -> tuple[list[str], list[float]]:
    """The action names and the lower bound of each one's share of [0, 1)."""
    total = sum(weight for _, weight in ACTIONS)
    names, bounds, acc = [], [], 0.0
    for name, weight in ACTIONS:
        names.append(name)
        bounds.append(round(acc / total, 9))
        acc += weight
    return names, bounds


def fill(rows: int) -> None:
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), coalesce(max(id), 0) FROM audit_auditevent")
        count, top = cursor.fetchone()
        if count == rows:
            print(f"audit_auditevent already holds {rows:,} rows: not filling")
            cursor.execute("ANALYZE audit_auditevent")
            return
        if count > rows or top != count:
            sys.exit(
                f"audit_auditevent holds {count:,} rows (max id {top:,}), not a prefix of the "
                f"{rows:,} this benchmark generates: use another --database-url or --drop"
            )
        if count:
            cursor.execute("SELECT created_at, user_agent FROM audit_auditevent WHERE id = 1")
            start, agent = cursor.fetchone()
            if not agent.startswith(BENCH_AGENT):
                sys.exit("audit_auditevent holds rows this benchmark did not write: refusing")
        else:
            today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            start = today - dt.timedelta(days=SPAN_DAYS)

    names, bounds = action_table()
    step = SPAN_DAYS * 86400 / rows
    began = time.perf_counter()
    print(f"filling audit_auditevent from {count:,} to {rows:,} rows, {BATCH:,} per batch")
    for lo in range(count + 1, rows + 1, BATCH):
        hi = min(lo + BATCH - 1, rows)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SET LOCAL statement_timeout = 0")
            cursor.execute(
                FILL_SQL,
                {
                    "start": start,
                    "step": step,
                    "agent": BENCH_AGENT,
                    "actors": ACTORS,
                    "orgs": ORGANISATIONS,
                    "actions": names,
                    "bounds": bounds,
                    "lo": lo,
                    "hi": hi,
                },
            )
        elapsed = time.perf_counter() - began
        print(f"  {hi:>12,} rows  {elapsed:7.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('audit_auditevent', 'id'), %s)", [rows]
        )
    print("VACUUM (ANALYZE) audit_auditevent ...", flush=True)
    vacuum_began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
        cursor.execute("VACUUM (ANALYZE) audit_auditevent")
        cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
    print(
        f"filled in {time.perf_counter() - began:.0f} s "
        f"(vacuum and analyze {time.perf_counter() - vacuum_began:.0f} s)"
    )


# --- measuring ----------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    samples: list[float] = field(default_factory=list)
    rows: int = 0
    matching: int | None = None
    plan: str = ""
    scanned: int | None = None
    is_page: bool = True
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def passed(self) -> bool:
        return not self.error and self.median <= TARGET_MS


def timed(fn: Callable[[], int], repeat: int, result: Result) -> None:
    """One warm-up call, then ``repeat`` timed calls (fewer if one call takes seconds)."""
    from django.db.utils import OperationalError

    try:
        start = time.perf_counter()
        result.rows = fn()
        warm_up = time.perf_counter() - start
        runs = repeat if warm_up < 2 else 3
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            result.samples.append((time.perf_counter() - start) * 1000)
    except OperationalError as exc:  # statement_timeout: report it, do not hide it
        result.error = f"failed: {str(exc).splitlines()[0]}"


@contextmanager
def captured() -> Iterator[list[tuple[str, Any]]]:
    """The statements Django sends while the block runs, with their parameters."""
    from django.db import connection

    statements: list[tuple[str, Any]] = []

    def wrapper(execute: Any, query: str, params: Any, many: bool, context: Any) -> Any:
        statements.append((query, params))
        return execute(query, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield statements


SCAN = re.compile(r"(Scan|Sort|Aggregate)")


def explain(statement: tuple[str, Any]) -> tuple[str, int]:
    """The scan nodes of the statement's actual plan, and how many rows they read."""
    from django.db import connection

    query, params = statement
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        import json

        plan = json.loads(plan)
    nodes: list[str] = []
    read = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal read
        kind = node["Node Type"]
        if "Scan" in kind:
            index = node.get("Index Name")
            backward = " backward" if node.get("Scan Direction") == "Backward" else ""
            nodes.append(f"{kind} {index}{backward}" if index else kind)
            if kind != "Bitmap Heap Scan":
                loops = node.get("Actual Loops", 1)
                removed = node.get("Rows Removed by Filter", 0) + node.get(
                    "Rows Removed by Index Recheck", 0
                )
                read += (node.get("Actual Rows", 0) + removed) * loops
        elif kind in ("Sort", "Incremental Sort"):
            nodes.append(kind)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return " > ".join(nodes), int(read)


def measure_page(name: str, flt: AuditFilter, repeat: int, before: int | None = None) -> Result:
    from portside.audit import services

    result = Result(name)
    with captured() as statements:
        timed(lambda: len(services.page(flt, before=before)[0]), repeat, result)
    if statements and not result.error:
        # A date range sends its id-window probes before the page query: explain them all.
        per_call = len(statements) // (len(result.samples) + 1)
        explained = [explain(statement) for statement in statements[:per_call]]
        *probes, (result.plan, result.scanned) = explained
        if probes:
            result.plan = " + ".join(f"probe: {plan}" for plan, _ in probes) + (
                f" + page: {result.plan}"
            )
            result.scanned += sum(read for _, read in probes)
    qs = flt.apply(services.AuditEvent.objects.all())
    if before is not None:
        qs = qs.filter(id__lt=before)
    result.matching = qs.count()
    return result


def measure_export(name: str, flt: AuditFilter, rows: int, repeat: int) -> Result:
    from portside.audit import services

    def stream() -> int:
        return sum(1 for _ in islice(services.export_jsonl(flt), rows))

    result = Result(name, is_page=False)
    with captured() as statements:
        timed(stream, repeat, result)
    if statements and not result.error:
        result.plan, result.scanned = explain(statements[0])
        result.plan += f" ({len(statements) // (len(result.samples) + 1)} batches)"
    result.matching = flt.apply(services.AuditEvent.objects.all()).count()
    return result


def measure_offset(offset: int, repeat: int) -> Result:
    from django.db import connection

    query = "SELECT * FROM audit_auditevent ORDER BY id DESC LIMIT 50 OFFSET %s"
    result = Result(f"OFFSET {offset:,} LIMIT 50, no filter (raw SQL)", is_page=False)

    def run() -> int:
        with connection.cursor() as cursor:
            cursor.execute(query, [offset])
            return len(cursor.fetchall())

    timed(run, repeat, result)
    if not result.error:
        result.plan, result.scanned = explain((query, [offset]))
    return result


def middle_day(rows: int) -> tuple[dt.datetime, dt.datetime]:
    from portside.audit.models import AuditEvent

    middle = AuditEvent.objects.values_list("created_at", flat=True).get(pk=rows // 2)
    since = middle.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return since, since + dt.timedelta(days=1)


def run_benchmark(rows: int, repeat: int, export_rows: int) -> list[Result]:
    from portside.audit.services import AuditFilter

    depth = rows // 2
    since, until = middle_day(rows)
    actor, organisation = "user01000", "org-0010"
    pages: list[tuple[str, AuditFilter, int | None]] = [
        ("first page, no filter", AuditFilter(), None),
        (f"deep page (id < {rows - depth + 1:,}), no filter", AuditFilter(), rows - depth + 1),
        ("action, rare (account:mfa:disabled)", AuditFilter(action="account:mfa:disabled"), None),
        (
            "action, common (registry:manifest:pulled)",
            AuditFilter(action="registry:manifest:pulled"),
            None,
        ),
        (f"actor ({actor})", AuditFilter(actor=actor), None),
        (f"organisation ({organisation})", AuditFilter(organization=organisation), None),
        ('action prefix ("account:")', AuditFilter(action="account:"), None),
        ('action prefix, rare family ("audit:")', AuditFilter(action="audit:"), None),
        (
            f"date range (one day, {since:%Y-%m-%d})",
            AuditFilter(since=since, until=until),
            None,
        ),
        (
            f"actor + action ({actor}, account:session:signed_in)",
            AuditFilter(actor=actor, action="account:session:signed_in"),
            None,
        ),
    ]
    results = []
    for name, flt, before in pages:
        print(f"  {name} ...", flush=True)
        results.append(measure_page(name, flt, repeat, before))
    name = f"export_jsonl, first {export_rows:,} rows of {organisation}"
    print(f"  {name} ...", flush=True)
    results.append(
        measure_export(
            name, AuditFilter(organization=organisation), export_rows, max(3, repeat // 2)
        )
    )
    print(f"  OFFSET {depth:,} ...", flush=True)
    results.append(measure_offset(depth, max(3, repeat // 2)))
    return results


# --- reporting ----------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def report(results: list[Result]) -> None:
    print()
    print("| query | median ms | min-max ms | rows | matching | rows read | plan |")
    print("|---|--:|--:|--:|--:|--:|---|")
    for r in results:
        if r.error:
            print(f"| {r.name} | {r.error} | | | | | |")
            continue
        spread = f"{fmt_ms(min(r.samples))}-{fmt_ms(max(r.samples))}"
        matching = f"{r.matching:,}" if r.matching is not None else ""
        scanned = f"{r.scanned:,}" if r.scanned is not None else ""
        print(
            f"| {r.name} | {fmt_ms(r.median)} | {spread} | {r.rows:,} | {matching} "
            f"| {scanned} | {r.plan} |"
        )
    print()
    pages = [r for r in results if r.is_page]
    slow = [r for r in pages if not r.passed]
    worst = max(pages, key=lambda r: float("inf") if r.error else r.median)
    worst_ms = worst.error or f"{fmt_ms(worst.median)} ms"
    if slow:
        names = "; ".join(f"{r.name}: {r.error or fmt_ms(r.median) + ' ms'}" for r in slow)
        print(
            f"VERDICT: FAIL: {len(slow)} of {len(pages)} page queries exceed the "
            f"{TARGET_MS:.0f} ms target ({names})"
        )
    else:
        print(
            f"VERDICT: PASS: all {len(pages)} page queries are within the {TARGET_MS:.0f} ms "
            f"target (slowest: {worst.name}, {worst_ms})"
        )
    offset = results[-1]
    deep = pages[1]
    if not offset.error and deep.samples:
        print(
            f"OFFSET at the same depth: {fmt_ms(offset.median)} ms against "
            f"{fmt_ms(deep.median)} ms by keyset ({offset.median / deep.median:,.0f}x slower)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows in the audit trail")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a dedicated database")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per query")
    parser.add_argument("--export-rows", type=int, default=10_000, help="rows to export")
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    args = parser.parse_args(argv)
    if args.rows < 1_000:
        parser.error("--rows must be at least 1000")

    ensure_database(args.database_url)
    data_dir = tempfile.mkdtemp(prefix="portside-bench-")
    try:
        setup_django(args.database_url, data_dir)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            print(cursor.fetchone()[0])
        print(f"{os.cpu_count()} CPUs; {args.rows:,} rows; median of {args.repeat} runs")
        fill(args.rows)
        print("timing ...")
        results = run_benchmark(args.rows, args.repeat, args.export_rows)
        report(results)
        if args.drop:
            drop_database(args.database_url)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
