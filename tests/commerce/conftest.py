from __future__ import annotations

from typing import Any

import pytest

from tests.commerce.world import Store, build_store


@pytest.fixture
def store(db: Any) -> Store:
    return build_store()
