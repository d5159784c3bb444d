from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "portside.catalog"
    label = "catalog"
    verbose_name = "Catalogue"
