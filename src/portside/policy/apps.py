from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "portside.policy"
    label = "policy"
    verbose_name = "Vulnerability SLA"

    def ready(self) -> None:
        from portside.policy import wiring

        wiring.connect()
