"""Run every check over one analysed image."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from portside.core import clock
from portside.scanner.practices import config_checks, file_checks
from portside.scanner.practices.facts import REGISTRY, Facts, result, skipped
from portside.scanner.practices.model import Analysed, Check, Policy, Result

# The check modules register themselves when imported; naming them keeps that explicit.
_MODULES = (config_checks, file_checks)


def checks() -> list[Check]:
    """Every check the review runs, in id order."""
    return [REGISTRY[key][0] for key in sorted(REGISTRY)]


def review(
    analysis: Analysed,
    *,
    policy: Policy | None = None,
    today: dt.date | None = None,
    tags: Sequence[str] | None = None,
) -> list[Result]:
    """One result per check, in id order.

    ``today`` decides end-of-life questions (the clock's date by default, so tests and
    re-reviews can fix it); ``tags`` are the tags the image is published under, when the
    caller knows them (the tag check is skipped otherwise).
    """
    chosen = policy if policy is not None else Policy()
    facts = Facts.of(
        analysis,
        policy=chosen,
        today=today if today is not None else clock.now().date(),
        tags=tags,
    )
    results = []
    for key in sorted(REGISTRY):
        check, run = REGISTRY[key]
        if key in chosen.disabled:
            outcome = skipped("turned off by the store's policy")
        else:
            outcome = run(facts)
        results.append(result(check, outcome))
    return results
