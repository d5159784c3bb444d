from django.apps import AppConfig


class ScanningConfig(AppConfig):
    name = "portside.scanning"
    label = "scanning"
    verbose_name = "Security scanning"

    def ready(self) -> None:
        from portside.core import events
        from portside.scanning import subscribers

        events.subscribe("registry:manifest:pushed", subscribers.scan_pushed_manifest)
        events.subscribe("registry:manifest:deleted", subscribers.forget_deleted_manifest)
