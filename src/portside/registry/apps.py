from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "portside.registry"
    label = "registry"
    verbose_name = "Registry"

    def ready(self) -> None:
        from portside.registry import checks  # noqa: F401  (registers the system check)
