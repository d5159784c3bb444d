from django.tasks import task

from portside.audit import services


@task()
def purge_audit_trail() -> int:
    return services.purge_expired()
