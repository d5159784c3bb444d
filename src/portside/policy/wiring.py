"""What the policy context listens to, and its periodic sweep."""

from portside.core import events, schedule

# Events after which a product's listed images may carry other findings.
IMAGE_EVENTS = (
    "scanning:scan:finished",
    "scanning:findings:rematched",
    "scanning:finding:reclassified",
    "registry:manifest:pushed",
    "registry:manifest:deleted",
)
LISTING_EVENTS = ("catalog:listing:published", "catalog:listing:withdrawn")
SWEEP_SECONDS = 60


def connect() -> None:
    from portside.policy import subscribers, tasks

    for name in IMAGE_EVENTS:
        events.subscribe(name, subscribers.image_changed)
    for name in LISTING_EVENTS:
        events.subscribe(name, subscribers.listing_changed)
    # Deadlines, holds, reminders, revocations and expired statements: every minute.
    schedule.every("policy.sweep", SWEEP_SECONDS, tasks.sweep_sla.enqueue)
