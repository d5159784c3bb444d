from django.db import models


class PeriodicRun(models.Model):
    """One row per periodic job and period: the unique constraint makes sure that, however
    many workers run the scheduler, each job is enqueued once per period."""

    job = models.CharField(max_length=100)
    period = models.CharField(max_length=32)
    enqueued_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "period"], name="one_run_per_period")]

    def __str__(self) -> str:
        return f"{self.job} {self.period}"
