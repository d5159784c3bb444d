from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "portside.registry"
    label = "registry"
    verbose_name = "Registry"
