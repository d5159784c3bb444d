"""A publishing world for tests: a publisher with a complete profile, a pushed repository
with tags, and a product whose manifest is ready to submit. Built through the services."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

from PIL import Image

from portside.accounts.models import Organization, OrgRole, StoreRole, User
from portside.catalog import services as catalog
from portside.catalog.models import Product
from portside.core import clock
from portside.oci import mediatypes
from portside.publishers.models import PublisherProfile
from portside.registry.models import Manifest, Repository, Tag
from tests.factories import TEST_ORIGIN, make_org, make_user


def png(width: int, height: int, color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def push_image(repository: Repository, *tags: str, seed: str = "") -> str:
    """Record an image manifest and point ``tags`` at it; returns its digest."""
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": "sha256:" + hashlib.sha256(seed.encode()).hexdigest(),
                "size": 2,
            },
            "layers": [],
            "annotations": {"seed": seed or repository.name},
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    now = clock.now()
    manifest, _ = Manifest.objects.get_or_create(
        repository=repository,
        digest=digest,
        defaults={
            "media_type": mediatypes.OCI_MANIFEST,
            "size": len(body),
            "content": body,
            "pushed_at": now,
        },
    )
    for tag in tags:
        Tag.objects.update_or_create(
            repository=repository, name=tag, defaults={"manifest": manifest, "updated_at": now}
        )
    return digest


def complete_profile(org: Organization) -> PublisherProfile:
    profile, _ = PublisherProfile.objects.update_or_create(
        organization=org,
        defaults={
            "legal_name": f"{org.name.title()} Ltd",
            "website": f"https://{org.name}.example.com",
            "phone": "+442079460958",
            "email": f"legal@{org.name}.example.com",
            "email_verified_at": clock.now(),
            "story": "We make **software**.",
            "logo": "images/" + "a" * 64 + ".png",
            "updated_at": clock.now(),
        },
    )
    return profile


@dataclass
class PublishingWorld:
    owner: User
    editor: User
    viewer: User
    moderator: User
    admin: User
    customer: User
    other: User
    org: Organization
    other_org: Organization
    repository: Repository
    other_repository: Repository
    digest: str

    def ready_product(self, name: str = "Acme Database", **overrides: Any) -> Product:
        """A product whose manifest is complete, with one free and one paid tier."""
        product = catalog.create_product(
            organization=self.org, name=name, acting=self.owner, origin=TEST_ORIGIN
        )
        fields: dict[str, Any] = {
            "short_description": "A fast database for containers.",
            "category": "databases",
            "search_tags": ["sql", "database"],
            "long_description": "# Acme Database\n\nStores **rows**.",
            "support_url": "https://acme.example.com/support",
            "support_email": "support@acme.example.com",
            "install_instructions": "Run `docker run acme/db`.",
            "license_url": "https://acme.example.com/licence",
            "platforms": ["community"],
        }
        fields.update(overrides)
        catalog.update_product(product=product, acting=self.owner, origin=TEST_ORIGIN, **fields)
        catalog.set_icon(product=product, data=png(256, 256), acting=self.owner, origin=TEST_ORIGIN)
        catalog.set_source(
            product=product,
            repository=self.repository.name,
            tags=["1.0", "2.0"],
            acting=self.owner,
            origin=TEST_ORIGIN,
        )
        catalog.save_tier(
            product=product,
            name="Community",
            price="0",
            billing_period="free",
            access=[(self.repository.name, ["1.0"])],
            acting=self.owner,
            origin=TEST_ORIGIN,
        )
        catalog.save_tier(
            product=product,
            name="Business",
            price="49.00",
            currency="EUR",
            billing_period="monthly",
            access=[(self.repository.name, ["1.0", "2.0"])],
            acting=self.owner,
            origin=TEST_ORIGIN,
        )
        return product


def ensure_categories() -> None:
    """The categories a migration writes. A transactional test (a live server's) flushes
    the database when it ends and Django restores the migrations' rows only when the
    next such test starts, so a test after it in the same process would find none."""
    import importlib

    from portside.catalog.models import Category

    defaults = importlib.import_module("portside.catalog.migrations.0002_default_categories")
    if Category.objects.count() < len(defaults.DEFAULT):
        for position, (slug, name) in enumerate(defaults.DEFAULT):
            Category.objects.get_or_create(slug=slug, defaults={"name": name, "position": position})


def build_publishing_world() -> PublishingWorld:
    ensure_categories()
    owner = make_user("pub-owner")
    editor = make_user("pub-editor")
    viewer = make_user("pub-viewer")
    other = make_user("rival")
    org = make_org("acme", owner, members={OrgRole.EDITOR: editor, OrgRole.VIEWER: viewer})
    other_org = make_org("globex", other)
    now = clock.now()
    repository = Repository.objects.create(organization=org, name="acme/db", created_at=now)
    other_repository = Repository.objects.create(
        organization=other_org, name="globex/secret", created_at=now
    )
    digest = push_image(repository, "1.0", "2.0", "latest", seed="db")
    push_image(other_repository, "1.0", seed="secret")
    complete_profile(org)
    return PublishingWorld(
        owner=owner,
        editor=editor,
        viewer=viewer,
        moderator=make_user("mod", store_role=StoreRole.MODERATOR),
        admin=make_user("boss", store_role=StoreRole.ADMIN),
        customer=make_user("shopper"),
        other=other,
        org=org,
        other_org=other_org,
        repository=repository,
        other_repository=other_repository,
        digest=digest,
    )
