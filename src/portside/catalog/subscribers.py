"""What the catalogue does when the registry tells it something happened."""

from __future__ import annotations

from typing import Any

from portside.catalog import search


def count_pulls(*, pulls: list[dict[str, Any]], **_: Any) -> None:
    """Listings made from the pulled repositories show their new pull count at once (a
    recount from the registry's counters: delivering the same batch twice changes
    nothing)."""
    repositories = {pull["repository"] for pull in pulls if pull.get("repository")}
    if repositories:
        search.refresh_popularity(repositories)
