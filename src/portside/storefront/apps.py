from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "portside.storefront"
    label = "storefront"
    verbose_name = "Storefront"

    def ready(self) -> None:
        from portside.core import schedule
        from portside.storefront.tasks import refresh_popularity

        # Popularity orders the storefront; the registry's pull counters feed it.
        schedule.hourly("catalog.popularity", refresh_popularity.enqueue)
