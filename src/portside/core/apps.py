from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "portside.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from portside.core import events, schedule

        schedule.hourly("events.maintain", events.maintain_deliveries.enqueue)
