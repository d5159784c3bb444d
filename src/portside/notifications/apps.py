from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "portside.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from portside.core import events, schedule
        from portside.notifications import subscribers, tasks

        for name, handler in subscribers.HANDLERS.items():
            events.subscribe(name, handler)
        schedule.daily("notifications.digests", tasks.send_digests.enqueue)
        schedule.every("notifications.sweep", 600, tasks.sweep.enqueue)
        schedule.daily("notifications.prune", tasks.prune.enqueue)
