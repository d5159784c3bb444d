from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "portside.cli"
    label = "cli"
    verbose_name = "Command line"
