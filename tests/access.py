"""The access-matrix harness: (endpoint, role) -> expected outcome, through real URLs.

Each row names a method, a path (formatted with the ids of the world below), the form
data to send, and the outcome for every role. An outcome is an HTTP status, or ``LOGIN``
for a redirect to the sign-in page. Later capabilities append rows to ``ROWS`` (or to
their own table) and run them with :func:`check`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from portside.accounts import services
from portside.accounts.models import OrgRole, StoreRole
from tests.factories import TEST_ORIGIN, make_org, make_user

ROLES = (
    "anonymous",
    "customer",
    "other_member",
    "viewer",
    "editor",
    "owner",
    "moderator",
    "security",
    "admin",
)
LOGIN = "login"


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expect: dict[str, int | str]
    data: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(ROLES) - set(self.expect)
        if missing:
            raise ValueError(f"{self.method} {self.path}: no expectation for {sorted(missing)}")

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def outcomes(
    *, anonymous: int | str = LOGIN, default: int | str, **overrides: int | str
) -> dict[str, int | str]:
    """Expectations for every role: ``default`` unless overridden."""
    table = {role: default for role in ROLES}
    table["anonymous"] = anonymous
    table.update(overrides)
    return table


@dataclass
class World:
    users: dict[str, Any]
    ids: dict[str, Any]


def build_world() -> World:
    owner = make_user("owner")
    editor = make_user("editor")
    viewer = make_user("viewer")
    other = make_user("other")
    users = {
        "anonymous": None,
        "customer": make_user("customer"),
        "other_member": other,
        "viewer": viewer,
        "editor": editor,
        "owner": owner,
        "moderator": make_user("moderator", store_role=StoreRole.MODERATOR),
        "security": make_user("security", store_role=StoreRole.SECURITY),
        "admin": make_user("admin", store_role=StoreRole.ADMIN),
    }
    org = make_org("acme", owner, members={OrgRole.EDITOR: editor, OrgRole.VIEWER: viewer})
    make_org("globex", other)
    invitation, secret = services.invite_member(
        organization=org,
        email="invitee@example.com",
        role=OrgRole.VIEWER,
        acting=owner,
        origin=TEST_ORIGIN,
    )
    from portside.core import clock
    from portside.registry.models import Repository

    repository = Repository.objects.create(
        organization=org, name="acme/app", created_at=clock.now()
    )
    scan, finding, digest = _scanned_image(repository)
    token, _ = services.create_token(
        user=owner, name="ci", scopes=["read"], acting=owner, origin=TEST_ORIGIN
    )
    return World(
        users=users,
        ids={
            "invitation": invitation.pk,
            "secret": secret,
            "token": token.pk,
            "scan": scan.pk,
            "finding": finding.pk,
            "digest": digest,
        },
    )


def _scanned_image(repository: Any) -> tuple[Any, Any, str]:
    """An image manifest in the repository with a finished scan and one finding."""
    import hashlib
    import json

    from portside.core import clock
    from portside.oci import mediatypes
    from portside.registry.models import Manifest
    from portside.scanning.models import Finding, Scan, ScanInventory, ScanStatus

    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": "sha256:" + "0" * 64,
                "size": 2,
            },
            "layers": [],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    now = clock.now()
    Manifest.objects.create(
        repository=repository,
        digest=digest,
        media_type=mediatypes.OCI_MANIFEST,
        size=len(body),
        content=body,
        pushed_at=now,
    )
    scan = Scan.objects.create(
        repository=repository,
        digest=digest,
        status=ScanStatus.DONE,
        requested_at=now,
        finished_at=now,
    )
    scan.inventory_row = ScanInventory.objects.create(
        scan=scan, data={"image": digest, "layers": [], "packages": []}, created_at=now
    )
    scan.save(update_fields=["inventory_row"])
    # Its SBOM documents, as the worker makes them for a finished scan.
    from portside.scanning import services as scanning

    scanning.refresh_sboms(scan_id=scan.pk, kinds=["cyclonedx", "spdx"])
    finding = Finding.objects.create(
        scan=scan,
        advisory_id="CVE-2024-0001",
        package_type="pypi",
        package_name="demo",
        package_version="1.0",
        severity="major",
        first_seen_at=now,
        last_seen_at=now,
    )
    return scan, finding, digest


def check(client: Client, world: World, row: Row, role: str) -> None:
    user = world.users[role]
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    path = row.path.format(**world.ids)
    data = {
        key: value.format(**world.ids) if isinstance(value, str) else value
        for key, value in row.data.items()
    }
    response = getattr(client, row.method.lower())(path, data=data)
    if getattr(response, "streaming", False):
        # A streamed file (an SBOM): read to its end, where the test client closes it
        # (closing it directly would also close the test's database connection).
        for _ in response.streaming_content:  # type: ignore[attr-defined]
            pass
    expected = row.expect[role]
    if expected == LOGIN:
        assert response.status_code == 302, f"{row.id} as {role}: {response.status_code}"
        assert "/accounts/login/" in response["Location"], (
            f"{row.id} as {role}: {response['Location']}"
        )
    else:
        assert response.status_code == expected, (
            f"{row.id} as {role}: expected {expected}, got {response.status_code}"
        )
