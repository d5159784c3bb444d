from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "portside.catalog"
    label = "catalog"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        from portside.catalog import subscribers
        from portside.core import events

        events.subscribe("registry:pulls:recorded", subscribers.count_pulls)
