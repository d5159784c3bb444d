from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portside.accounts"
    label = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self) -> None:
        from portside.accounts import signals

        signals.connect()
