from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "portside.storefront"
    label = "storefront"
    verbose_name = "Storefront"
