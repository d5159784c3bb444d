from django.apps import AppConfig


class ModerationConfig(AppConfig):
    name = "portside.moderation"
    label = "moderation"
    verbose_name = "Moderation"
