"""The policy context's tasks: thin, they call the services."""

from django.tasks import task

from portside.policy import services


@task()
def sweep_sla() -> dict[str, int]:
    return services.sweep()
