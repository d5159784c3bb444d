"""The product page's Tags and Security tabs: each tier's tags as the registry holds them
now (digest, platforms, compressed size, last pushed), pull commands for the customers
who may pull them, and public security facts that never name a finding."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import pytest
from django.test import Client

from portside.core import clock
from portside.oci import mediatypes
from portside.registry.models import Manifest, ManifestChild, Repository, Tag
from portside.scanning.models import Finding, Scan, ScanStatus
from tests.commerce.world import Store, build_store
from tests.factories import TEST_ORIGIN, make_user
from tests.html import text_of

PUSHED_1 = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)
PUSHED_2 = dt.datetime(2026, 4, 5, 6, 7, tzinfo=dt.UTC)
SCANNED = dt.datetime(2026, 4, 6, 8, 0, tzinfo=dt.UTC)
MATCHED = dt.datetime(2026, 4, 9, 10, 30, tzinfo=dt.UTC)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def blob_store(settings: Any, tmp_path: Any) -> Any:
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    yield
    from portside.registry import storage

    storage._store.cache_clear()


def _image(repository: Repository, platform: dict[str, str], layers: list[int]) -> Manifest:
    """An image manifest whose config (naming ``platform``) is in the blob store."""
    from portside.registry.storage import store

    config = json.dumps({**platform, "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    store().put(_digest(config), config)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": _digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": mediatypes.OCI_LAYER_GZIP,
                    "digest": _digest(f"{platform}-{n}".encode()),
                    "size": size,
                }
                for n, size in enumerate(layers)
            ],
        }
    ).encode()
    return Manifest.objects.create(
        repository=repository,
        digest=_digest(body),
        media_type=mediatypes.OCI_MANIFEST,
        size=len(body),
        content=body,
        total_size=len(config) + sum(layers),
        pushed_at=clock.now(),
    )


def _index(repository: Repository, images: list[tuple[Manifest, dict[str, str]]]) -> Manifest:
    """An index of ``images`` with a build attestation, as BuildKit pushes them."""
    entries: list[dict[str, Any]] = [
        {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": image.digest,
            "size": image.size,
            "platform": platform,
        }
        for image, platform in images
    ]
    attestation = _image(repository, {"os": "unknown", "architecture": "unknown"}, [100])
    entries.append(
        {
            "mediaType": mediatypes.OCI_MANIFEST,
            "digest": attestation.digest,
            "size": attestation.size,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        }
    )
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    ).encode()
    index = Manifest.objects.create(
        repository=repository,
        digest=_digest(body),
        media_type=mediatypes.OCI_INDEX,
        size=len(body),
        content=body,
        pushed_at=clock.now(),
    )
    for entry in entries:
        ManifestChild.objects.create(parent=index, child_digest=entry["digest"])
    return index


class Images:
    def __init__(self, store: Store) -> None:
        repository = store.pub.repository  # acme/db: Community has 1.0, Business 1.0 and 2.0
        self.single = _image(repository, {"os": "linux", "architecture": "amd64"}, [1000, 2_000])
        self.amd64 = _image(repository, {"os": "linux", "architecture": "amd64"}, [5_000_000])
        self.arm64 = _image(
            repository, {"os": "linux", "architecture": "arm64", "variant": "v8"}, [3_000_000]
        )
        self.index = _index(
            repository,
            [
                (self.amd64, {"os": "linux", "architecture": "amd64"}),
                (self.arm64, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
            ],
        )
        Tag.objects.filter(repository=repository, name="1.0").update(
            manifest=self.single, updated_at=PUSHED_1
        )
        Tag.objects.filter(repository=repository, name="2.0").update(
            manifest=self.index, updated_at=PUSHED_2
        )


@pytest.fixture
def store(db: Any) -> Store:
    return build_store()


@pytest.fixture
def images(store: Store) -> Images:
    return Images(store)


def _url(store: Store) -> str:
    return f"/products/acme/{store.product.slug}"


def tag_rows(page: str) -> dict[str, dict[str, str]]:
    """The Tags tab's tables: tier name -> repository:tag -> the row's HTML."""
    section = page[page.index('id="tags"') : page.index('id="pricing"')]
    tables: dict[str, dict[str, str]] = {}
    for block in re.split(r'<h3 id="tags-\d+">', section)[1:]:
        name = block[: block.index("<")].strip()
        rows = {}
        for row in re.findall(r"<tr>(.*?)</tr>", block, re.S):
            found = re.search(r'<th scope="row"><code>([^<]+)</code>', row)
            if found:
                rows[found.group(1)] = row
        tables[name] = rows
    return tables


def test_each_tier_lists_its_tags_as_the_registry_holds_them(
    client: Client, store: Store, images: Images
) -> None:
    page = client.get(_url(store)).content.decode()
    tables = tag_rows(page)
    assert list(tables) == ["Community", "Business"]
    assert list(tables["Community"]) == ["acme/db:1.0"]
    assert list(tables["Business"]) == ["acme/db:1.0", "acme/db:2.0"]

    single = tables["Business"]["acme/db:1.0"]
    digest = images.single.digest
    # The digest short on the page, whole on hover and for the copy button.
    assert f'<code title="{digest}">{digest[:19]}</code>' in single
    assert f'data-copy="{digest}"' in single
    assert text_of(single).split() == [
        "acme/db:1.0",
        digest[:19],
        "Copy",
        "linux/amd64",  # read from the image's config
        "3.0",  # config and layers: 3,000 bytes and the config's few
        "KB",
        "2026-03-04",
        "05:06",
    ]

    index = tables["Business"]["acme/db:2.0"]
    assert f'title="{images.index.digest}"' in index
    visible = text_of(index)
    # The index's platforms from its own entries, each with its size; the build
    # attestation is not a platform.
    assert "linux/amd64 linux/arm64/v8" in visible
    assert "4.8 MB (linux/amd64) 2.9 MB (linux/arm64/v8)" in visible
    assert "unknown" not in visible
    assert "2026-04-05 06:07" in visible
    # Nobody signed in pulls anything: no command, an invitation to take the tier.
    assert "docker pull" not in page
    assert "Sign in and take this tier" in text_of(page)


def test_a_tag_gone_from_the_registry_says_so(client: Client, store: Store) -> None:
    Tag.objects.filter(repository=store.pub.repository, name="2.0").delete()
    rows = tag_rows(client.get(_url(store)).content.decode())["Business"]
    assert "Not available at the moment." in text_of(rows["acme/db:2.0"])
    assert "Not available" not in text_of(rows["acme/db:1.0"])


def test_pull_commands_only_for_the_tags_a_customer_may_pull(
    client: Client, store: Store, images: Images
) -> None:
    from portside.commerce import services

    carol = make_user("carol")
    services.take_free_tier(
        listing=store.listing, tier_id=store.free_tier, user=carol, accept_licence=True,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    client.force_login(carol, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(_url(store)).content.decode()
    tables = tag_rows(page)
    command = "docker pull testserver/acme/db:1.0"
    assert (
        f'<code>{command}</code><button type="button" class="copy small secondary" data-copy="{command}"'
        in (tables["Community"]["acme/db:1.0"])
    )
    # Community's 1.0 is 1.0 in Business too; 2.0 is only in Business, which carol lacks.
    assert command in tables["Business"]["acme/db:1.0"]
    assert "docker pull" not in tables["Business"]["acme/db:2.0"]
    assert "Not in your tiers" in text_of(tables["Business"]["acme/db:2.0"])
    assert page.count("<code>docker pull") == 2
    # She holds a tier of the product: the approved VEX statements are hers to read.
    vex = f'href="/library/vex/acme/{store.product.slug}/"'
    assert vex in page

    dave = make_user("dave")  # signed in, no tier
    client.force_login(dave, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(_url(store)).content.decode()
    assert "docker pull" not in page
    assert vex not in page
    assert "Take this tier" in text_of(page)


def _scan(image: Manifest, *, finished: dt.datetime, matched: dt.datetime) -> Scan:
    scan = Scan.objects.create(
        repository=image.repository,
        digest=image.digest,
        status=ScanStatus.DONE,
        requested_at=finished,
        finished_at=finished,
        matched_at=matched,
        critical=1,
        major=2,
    )
    Finding.objects.create(
        scan=scan,
        advisory_id="CVE-2026-31337",
        aliases=["GHSA-xxxx-yyyy-zzzz"],
        package_type="deb",
        package_name="libsecret-widget",
        package_version="1.2.3",
        severity="critical",
        summary="Remote code execution in the widget parser",
        first_seen_at=finished,
        last_seen_at=finished,
    )
    return scan


def test_the_security_tab_says_what_is_scanned_and_never_names_a_finding(
    client: Client, store: Store, images: Images
) -> None:
    def security(page: str) -> str:
        return text_of(page[page.index('id="security"') : page.index('id="support"')])

    # Not scanned yet: the tags' images are the plain image and the index's two.
    shown = security(client.get(_url(store)).content.decode())
    assert "Scanned Not yet" in shown and "Last scanned Never" in shown
    assert "Security fixes No overdue fixes" in shown

    _scan(images.single, finished=SCANNED - dt.timedelta(days=2), matched=SCANNED)
    _scan(images.amd64, finished=SCANNED, matched=MATCHED)
    shown = security(client.get(_url(store)).content.decode())
    assert "Scanned 2 of 3 images" in shown
    _scan(images.arm64, finished=SCANNED - dt.timedelta(days=1), matched=MATCHED)
    store.listing.security_hold_since = dt.datetime(2026, 4, 10, 12, 0, tzinfo=dt.UTC)
    store.listing.save(update_fields=["security_hold_since"])

    for user in (None, make_user("carol")):
        if user is not None:
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        page = client.get(_url(store)).content.decode()
        shown = security(page)
        assert "Scanned Yes: all 3 images" in shown
        assert "Last scanned 2026-04-06 08:00 UTC" in shown
        assert "Last checked for new vulnerabilities 2026-04-09 10:30 UTC" in shown
        assert "Security fixes On hold: fixes overdue since 2026-04-10 12:00 UTC" in shown
        # The warning stays above the tabs, in its words.
        visible = text_of(page)
        assert "Security fixes overdue since 2026-04-10 12:00 UTC." in visible
        assert page.index('id="warnings"') < page.index('class="tabs"')
        for secret in ("CVE-2026-31337", "GHSA-xxxx", "libsecret-widget", "code execution"):
            assert secret not in page
        assert not re.search(r"\b(1|2) (critical|major)\b", visible)

    response = client.get(f"/api/v1/catalog/products/acme/{store.product.slug}")
    for secret in ("CVE-2026-31337", "libsecret-widget", "code execution"):
        assert secret not in response.content.decode()
    assert set(response.json()["security"]) == {
        "images",
        "scanned",
        "last_scanned_at",
        "last_matched_at",
        "hold_since",
    }


def test_the_api_gives_the_same_facts(client: Client, store: Store, images: Images) -> None:
    _scan(images.single, finished=SCANNED, matched=MATCHED)
    body = client.get(f"/api/v1/catalog/products/acme/{store.product.slug}").json()
    business = next(t for t in body["tiers"] if t["name"] == "Business")
    one, two = business["images"]
    assert one["reference"] == "acme/db:1.0" and one["digest"] == images.single.digest
    assert one["index"] is False and one["size"] == images.single.total_size
    assert one["platforms"] == [{"platform": "linux/amd64", "size": images.single.total_size}]
    assert one["pushed_at"].startswith("2026-03-04T05:06")
    assert two["index"] is True and two["size"] is None
    assert two["platforms"] == [
        {"platform": "linux/amd64", "size": images.amd64.total_size},
        {"platform": "linux/arm64/v8", "size": images.arm64.total_size},
    ]
    assert body["security"]["images"] == 3 and body["security"]["scanned"] == 1
    assert body["security"]["last_scanned_at"].startswith("2026-04-06T08:00")
    assert body["security"]["hold_since"] is None
