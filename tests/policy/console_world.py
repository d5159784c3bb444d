"""A store with a live listing whose image is scanned, for the console's tests: findings
of several classes, and SLA clocks on some of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from portside.core import clock
from portside.policy.models import Clock, ClockState
from portside.registry.models import Repository
from portside.scanning.models import Finding, Scan, ScanStatus
from tests.commerce.world import Store, build_store
from tests.factories import make_user
from tests.moderation.world import push_image


@dataclass
class ConsoleWorld:
    store: Store
    security: Any
    scan: Scan
    other_scan: Scan  # an image no listing offers

    @property
    def product(self) -> Any:
        return self.store.product


def finding(
    scan: Scan, advisory: str, severity: str, package: str = "openssl", **extra: Any
) -> Finding:
    now = clock.now()
    return Finding.objects.create(
        scan=scan,
        advisory_id=advisory,
        package_type="deb",
        package_name=package,
        package_version="1.0",
        severity=severity,
        first_seen_at=now,
        last_seen_at=now,
        **extra,
    )


def scan_of(repository: Repository, digest: str) -> Scan:
    now = clock.now()
    return Scan.objects.create(
        repository=repository,
        digest=digest,
        status=ScanStatus.DONE,
        requested_at=now,
        finished_at=now,
        matched_at=now,
    )


def clock_for(
    world: ConsoleWorld,
    advisory: str,
    *,
    state: str = ClockState.RUNNING,
    severity: str = "critical",
    package: str = "openssl",
    started: dt.datetime | None = None,
    stopped: dt.datetime | None = None,
    digest: str | None = None,
) -> Clock:
    started = started or clock.now()
    return Clock.objects.create(
        product=world.product,
        organization_id=world.product.organization_id,
        advisory_id=advisory,
        package_type="deb",
        package_name=package,
        severity=severity,
        started_at=started,
        due_at=started + dt.timedelta(days=7),
        state=state,
        overdue_at=started + dt.timedelta(days=7) if state == ClockState.OVERDUE else None,
        stopped_at=stopped,
        stop_reason="fixed" if state == ClockState.STOPPED else "",
        affected=[
            {
                "repository": "acme/db",
                "tag": "1.0",
                "digest": digest or world.scan.digest,
                "version": "1.0",
                "fixed": "1.1",
            }
        ],
    )


def build_console_world() -> ConsoleWorld:
    store = build_store()
    scan = scan_of(store.pub.repository, store.pub.digest)
    other_digest = push_image(store.pub.repository, "nightly", seed="nightly")
    other_scan = scan_of(store.pub.repository, other_digest)
    return ConsoleWorld(
        store=store,
        security=make_user("sec", store_role="security"),
        scan=scan,
        other_scan=other_scan,
    )
