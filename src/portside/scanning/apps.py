from django.apps import AppConfig


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
