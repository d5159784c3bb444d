"""What the policy context does when another context tells it something happened:
the clocks of every product that lists the image are matched again. Deliveries may
repeat; ``clocks.reconcile`` is idempotent."""

from __future__ import annotations

from typing import Any

from portside.policy import clocks


def image_changed(*, repository: str, **_: Any) -> None:
    """A scan finished or was matched again, a finding was reclassified, or a tag moved
    or was deleted: every product listing the repository is matched again."""
    for product_id in clocks.products_listing(repository):
        clocks.reconcile(product_id)


def listing_changed(*, product_id: int, **_: Any) -> None:
    """A listing was published, withdrawn, revoked or reinstated."""
    clocks.reconcile(product_id)
