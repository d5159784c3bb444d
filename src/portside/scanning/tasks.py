"""The scanning tasks the worker runs: thin, they take ids and call the services."""

from django.tasks import task

from portside.scanning import services


@task()
def run_scan(scan_id: int) -> str:
    scan = services.run(scan_id=scan_id)
    return str(scan.status) if scan is not None else "gone"


@task()
def rematch_all() -> dict[str, int]:
    return services.rematch_all()


@task()
def refresh_sboms(scan_id: int, kinds: list[str] | None = None) -> bool:
    return services.refresh_sboms(scan_id=scan_id, kinds=kinds or ["cyclonedx", "spdx"])


@task()
def sweep_scans() -> dict[str, int]:
    return services.sweep()


@task(queue_name="vulndb")
def sync_vulndb() -> dict[str, object]:
    """The worker's scheduled sync of the vulnerability feeds."""
    from portside.scanning.vulndata import sync_feeds

    report = sync_feeds()
    return {
        "synced": {r.source: r.status for r in report.done},
        "failed": dict(report.failed),
        "rematched": report.rematched,
    }
