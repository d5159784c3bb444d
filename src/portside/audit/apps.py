from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "portside.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from portside.audit import checks  # noqa: F401  (registers the system checks)
        from portside.audit.tasks import purge_audit_trail
        from portside.core import schedule

        schedule.daily("audit.purge", purge_audit_trail.enqueue)
