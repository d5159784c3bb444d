from __future__ import annotations

from typing import Any

import pytest

from tests.moderation.world import PublishingWorld, build_publishing_world


@pytest.fixture
def world(db: Any) -> PublishingWorld:
    return build_publishing_world()
