from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "portside.notifications"
    label = "notifications"
    verbose_name = "Notifications"
