from django.apps import AppConfig


class PublishersConfig(AppConfig):
    name = "portside.publishers"
    label = "publishers"
    verbose_name = "Publishers"
