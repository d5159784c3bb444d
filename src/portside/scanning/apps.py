from django.apps import AppConfig
from django.conf import settings


class ScanningConfig(AppConfig):
    name = "portside.scanning"
    label = "scanning"
    verbose_name = "Security scanning"

    def ready(self) -> None:
        from portside.core import events, schedule
        from portside.scanning import conf, subscribers, tasks

        events.subscribe("registry:manifest:pushed", subscribers.scan_pushed_manifest)
        events.subscribe("registry:manifest:deleted", subscribers.forget_deleted_manifest)
        # Scans whose worker died are queued again (or given up) by this sweep.
        schedule.every("scanning.sweep", conf.sweep_seconds(), tasks.sweep_scans.enqueue)
        # The vulnerability feeds, synced every so many hours (0: never, an air-gapped
        # store imports them by hand); the first sync comes with the first tick.
        if settings.VULNDB_SYNC_HOURS:
            hours = settings.VULNDB_SYNC_HOURS
            schedule.every("vulndb.sync", hours * 3600, tasks.sync_vulndb.enqueue)
