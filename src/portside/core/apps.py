from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "portside.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from portside.core import events, schedule

        schedule.every("events.recover", 60, events.recover_deliveries.enqueue)
        schedule.hourly("tasks.prune", events.prune_tasks.enqueue)
