"""The notifications' background work (thin: each task calls a service)."""

from __future__ import annotations

from django.tasks import task

from portside.notifications import retention, services


@task(queue_name=services.QUEUE)
def send(*, notification_id: int, attempt: int) -> str:
    """One try of one notice (mail or webhook); a failure queues the next try."""
    return services.dispatch(notification_id, attempt)


@task()
def send_digests() -> int:
    """Daily: each person's digest of the notices they chose to read that way."""
    return services.send_digests()


@task()
def sweep() -> int:
    """Every ten minutes: queue again the tries a dead worker lost."""
    return services.sweep()


@task()
def prune() -> int:
    """Daily: delete the notifications and webhook deliveries past their retention."""
    done = retention.prune()
    return done.notices + done.deliveries
