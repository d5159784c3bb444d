from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from portside.accounts.models import Organization, OrgRole, StoreRole, User
from tests.factories import make_org, make_user


@pytest.fixture(autouse=True)
def media_storage(settings: Any, tmp_path: Any) -> Any:
    """Uploaded images go to a directory of their own for each test."""
    root = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root},
        },
    }
    return root


@dataclass
class Publisher:
    org: Organization
    owner: User
    editor: User
    viewer: User
    outsider: User
    moderator: User


@pytest.fixture
def publisher(db: Any) -> Publisher:
    owner, editor, viewer = make_user("owner"), make_user("editor"), make_user("viewer")
    org = make_org("acme", owner, members={OrgRole.EDITOR: editor, OrgRole.VIEWER: viewer})
    outsider = make_user("outsider")
    make_org("globex", outsider)
    return Publisher(
        org=org,
        owner=owner,
        editor=editor,
        viewer=viewer,
        outsider=outsider,
        moderator=make_user("moderator", store_role=StoreRole.MODERATOR),
    )


def sign_in(client: Any, user: User) -> Any:
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client
