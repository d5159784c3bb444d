from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "portside.core"
    label = "core"
    verbose_name = "Core"
