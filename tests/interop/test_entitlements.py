"""Who pulls what, asked of the real registry with skopeo: the entitlement matrix.

A publisher's repository ``acme/db`` holds an image on ``1.0``, a two-platform index on
``2.0`` (with its own images), an SBOM whose subject is the ``1.0`` image, and an image on
``edge`` that no tier offers. The product offers ``Community`` (free: 1.0) and
``Business`` (paid monthly: 1.0 and 2.0). Each principal asks skopeo for tags, manifests
by tag and by digest, and whole images (blobs included); a refusal must carry the store's
own message naming the product page, as skopeo prints it.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from portside.accounts import services as accounts
from portside.accounts.models import OrgRole, StoreRole
from portside.catalog import services as catalog
from portside.commerce import billing, renewals, services
from portside.core import clock
from portside.oci import mediatypes
from portside.oci.digest import Digest
from portside.registry import restricted
from portside.registry import services as registry
from portside.registry.models import Repository
from tests.commerce.world import publish
from tests.factories import TEST_ORIGIN, make_org, make_user
from tests.moderation.world import complete_profile, ensure_categories, png

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
START = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)


def _layer(content: bytes) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("payload")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0), "sha256:" + hashlib.sha256(
        raw.getvalue()
    ).hexdigest()


def _image(repo: Repository, seed: str, arch: str = "amd64") -> tuple[str, int, list[str]]:
    layer, diff_id = _layer(f"{seed} ".encode() * 1000)
    layer_blob = registry.store_blob(repository=repo, data=layer)
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
    ).encode()
    config_blob = registry.store_blob(repository=repo, data=config)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {
                "mediaType": mediatypes.OCI_CONFIG,
                "digest": config_blob.digest,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": mediatypes.OCI_LAYER_GZIP,
                    "digest": layer_blob.digest,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    registry.put_manifest(
        repository=repo, reference=Digest.parse(digest), body=body,
        content_type=mediatypes.OCI_MANIFEST, user=None, origin=TEST_ORIGIN,
    )  # fmt: skip
    return digest, len(body), [layer_blob.digest, config_blob.digest]


def _tag(repo: Repository, tag: str, body: bytes, media_type: str) -> str:
    manifest, _ = registry.put_manifest(
        repository=repo,
        reference=tag,
        body=body,
        content_type=media_type,
        user=None,
        origin=TEST_ORIGIN,
    )
    return manifest.digest


@dataclass
class World:
    host: str
    tokens: dict[str, str]
    digests: dict[str, str]
    blobs: dict[str, list[str]]
    product_url: str


def _build(host: str) -> World:
    ensure_categories()
    owner = make_user("alice")
    org = make_org("acme", owner)
    complete_profile(org)
    repo = Repository.objects.create(organization=org, name="acme/db", created_at=clock.now())
    a, a_size, a_blobs = _image(repo, "a")
    b, b_size, b_blobs = _image(repo, "b")
    c, c_size, _ = _image(repo, "c", arch="arm64")
    d, d_size, d_blobs = _image(repo, "d")

    def image_manifest(digest: str, size: int) -> bytes:
        return bytes(repo.manifests.get(digest=digest).content)

    _tag(repo, "1.0", image_manifest(a, a_size), mediatypes.OCI_MANIFEST)
    _tag(repo, "edge", image_manifest(d, d_size), mediatypes.OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mediatypes.OCI_MANIFEST,
                    "digest": b,
                    "size": b_size,
                    "platform": {"os": "linux", "architecture": "amd64"},
                },
                {
                    "mediaType": mediatypes.OCI_MANIFEST,
                    "digest": c,
                    "size": c_size,
                    "platform": {"os": "linux", "architecture": "arm64"},
                },
            ],
        }
    ).encode()
    index_digest = _tag(repo, "2.0", index, mediatypes.OCI_INDEX)
    sbom = registry.store_blob(repository=repo, data=b'{"bomFormat": "CycloneDX"}')
    empty = registry.store_blob(repository=repo, data=b"{}")
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "artifactType": "application/vnd.cyclonedx+json",
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty.digest,
                "size": 2,
            },
            "layers": [
                {"mediaType": "application/vnd.cyclonedx+json", "digest": sbom.digest, "size": 26}
            ],
            "subject": {"mediaType": mediatypes.OCI_MANIFEST, "digest": a, "size": a_size},
        }
    ).encode()
    sbom_digest = "sha256:" + hashlib.sha256(artifact).hexdigest()
    registry.put_manifest(
        repository=repo, reference=Digest.parse(sbom_digest), body=artifact,
        content_type=mediatypes.OCI_MANIFEST, user=None, origin=TEST_ORIGIN,
    )  # fmt: skip

    product = catalog.create_product(
        organization=org, name="Acme DB", acting=owner, origin=TEST_ORIGIN
    )
    catalog.update_product(
        product=product, acting=owner, origin=TEST_ORIGIN,
        short_description="A database.", category="databases", long_description="# DB",
        support_url="https://acme.example.com/s", install_instructions="Pull it.",
        license_url="https://acme.example.com/licence", platforms=["community"],
    )  # fmt: skip
    catalog.set_icon(product=product, data=png(256, 256), acting=owner, origin=TEST_ORIGIN)
    catalog.set_source(
        product=product, repository="acme/db", tags=["1.0", "2.0"], acting=owner, origin=TEST_ORIGIN
    )
    catalog.save_tier(
        product=product, name="Community", price="0", billing_period="free",
        access=[("acme/db", ["1.0"])], acting=owner, origin=TEST_ORIGIN,
    )  # fmt: skip
    catalog.save_tier(
        product=product, name="Business", price="49.00", currency="EUR", billing_period="monthly",
        access=[("acme/db", ["1.0", "2.0"])], acting=owner, origin=TEST_ORIGIN,
    )  # fmt: skip
    admin = make_user("root", store_role=StoreRole.ADMIN)
    from portside.catalog.models import Tier

    listing = publish(type("P", (), {"owner": owner, "admin": admin})(), product)  # type: ignore[arg-type]
    free = Tier.objects.get(product=product, name="Community").pk
    paid = Tier.objects.get(product=product, name="Business").pk

    def buy(user: Any, organization: Any = None) -> Any:
        billing.save_profile(user=user, organization=organization, name=user.username, country="US")
        offer = services.quote(
            listing=listing,
            tier_id=paid,
            profile=billing.profile_of(user=user, organization=organization),
        )
        order = services.checkout(
            listing=listing, tier_id=paid, user=user, organization=organization,
            accept_licence=True, signature=offer.signature, origin=TEST_ORIGIN,
        )  # fmt: skip
        services.mark_paid(order=order, acting=admin, origin=TEST_ORIGIN)
        return order

    users = {
        "stranger": make_user("stranger"),
        "community": make_user("cora"),
        "business": make_user("bill"),
        "lapsed": make_user("lapsy"),
        "refunded": make_user("rufus"),
        "org_member": make_user("mia"),
        "publisher": owner,
        "moderator": make_user("mod", store_role=StoreRole.MODERATOR),
    }
    services.take_free_tier(
        listing=listing,
        tier_id=free,
        user=users["community"],
        accept_licence=True,
        origin=TEST_ORIGIN,
    )
    buy(users["business"])
    refunded = buy(users["refunded"])
    services.refund(
        order=refunded, amount_minor=None, reason="asked", acting=admin, origin=TEST_ORIGIN
    )
    buyer = make_user("olga")
    customer_org = make_org("initech", buyer, members={OrgRole.VIEWER: users["org_member"]})
    buy(buyer, customer_org)
    # The lapsed customer's month ends unpaid: the worker retries and lets it lapse.
    with clock.frozen(clock.now() - dt.timedelta(days=60)) as frozen:
        buy(users["lapsed"])
        for _ in range(6):
            frozen.advance(days=8)
            renewals.run_due()
    tokens = {}
    for role, user in users.items():
        _, secret = accounts.create_token(
            user=user, name="pull", scopes=["read"], acting=user, origin=TEST_ORIGIN
        )
        tokens[role] = f"{user.username}:{secret}"
    return World(
        host=host,
        tokens=tokens,
        digests={"a": a, "b": b, "c": c, "d": d, "index": index_digest, "sbom": sbom_digest},
        blobs={"a": a_blobs, "b": b_blobs, "d": d_blobs},
        product_url=f"/products/acme/{product.slug}",
    )


def _skopeo(world: World, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is required (apt-get install skopeo)"
    command, rest = args[0], list(args[1:])
    prefix = "--src-" if command == "copy" else "--"
    creds = [f"{prefix}no-creds"] if role == "anonymous" else [f"{prefix}creds", world.tokens[role]]
    return subprocess.run(
        [skopeo, command, f"{prefix}tls-verify=false", *creds, *rest],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _ref(world: World, suffix: str) -> str:
    return f"docker://{world.host}/acme/db{suffix}"


@pytest.fixture
def world(live_server: Any, settings: Any, tmp_path: Path) -> World:
    settings.BLOB_STORE_URL = (tmp_path / "blobs").as_uri()
    from portside.registry import storage

    storage._store.cache_clear()
    restricted.CACHE.clear()
    host = live_server.url.removeprefix("http://")
    settings.BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    return _build(host)


# tag -> principals that may read it
READABLE = {
    "1.0": {"community", "business", "org_member", "publisher", "moderator"},
    "2.0": {"business", "org_member", "publisher", "moderator"},
    "edge": {"publisher", "moderator"},
}
ROLES = [
    "anonymous",
    "stranger",
    "community",
    "business",
    "lapsed",
    "refunded",
    "org_member",
    "publisher",
    "moderator",
]


def test_the_entitlement_matrix_through_skopeo(world: World, tmp_path: Path) -> None:
    failures = []
    for role in ROLES:
        for tag, allowed in READABLE.items():
            result = _skopeo(world, role, "inspect", "--raw", _ref(world, f":{tag}"))
            ok = result.returncode == 0
            if ok != (role in allowed):
                failures.append(
                    f"{role} inspect {tag}: exit {result.returncode} {result.stderr[-300:]}"
                )
            elif not ok and tag != "edge" and world.product_url not in result.stderr:
                failures.append(
                    f"{role} inspect {tag}: refusal without the product page: {result.stderr[-400:]}"
                )
        # By digest: the image under 2.0's index (B-only) and the edge image.
        for name, readers in [
            ("b", READABLE["2.0"]),
            ("c", READABLE["2.0"]),
            ("a", READABLE["1.0"]),
            ("sbom", READABLE["1.0"]),
            ("d", READABLE["edge"]),
        ]:
            result = _skopeo(
                world, role, "inspect", "--raw", _ref(world, f"@{world.digests[name]}")
            )
            if (result.returncode == 0) != (role in readers):
                failures.append(
                    f"{role} inspect @{name}: exit {result.returncode} {result.stderr[-300:]}"
                )
    assert not failures, "\n".join(failures)


def test_tag_lists_show_only_covered_tags(world: World) -> None:
    expected = {
        "community": ["1.0"],
        "business": ["1.0", "2.0"],
        "org_member": ["1.0", "2.0"],
        "publisher": ["1.0", "2.0", "edge"],
    }
    for role, tags in expected.items():
        result = _skopeo(world, role, "list-tags", _ref(world, ""))
        assert result.returncode == 0, (role, result.stderr)
        assert json.loads(result.stdout)["Tags"] == tags, role
    for role in ["anonymous", "stranger", "lapsed", "refunded"]:
        result = _skopeo(world, role, "list-tags", _ref(world, ""))
        assert result.returncode != 0, role


def test_whole_images_are_pulled_and_refusals_say_why(world: World, tmp_path: Path) -> None:
    copied = _skopeo(world, "community", "copy", _ref(world, ":1.0"), f"oci:{tmp_path / 'a'}:1.0")
    assert copied.returncode == 0, copied.stderr
    copied = _skopeo(world, "business", "copy", _ref(world, ":2.0"), f"oci:{tmp_path / 'b'}:2.0")
    assert copied.returncode == 0, copied.stderr
    refused = _skopeo(world, "community", "copy", _ref(world, ":2.0"), f"oci:{tmp_path / 'c'}:2.0")
    assert refused.returncode != 0
    assert "not in your tier" in refused.stderr and world.product_url in refused.stderr, (
        refused.stderr
    )
    anonymous = _skopeo(
        world, "anonymous", "copy", _ref(world, ":1.0"), f"oci:{tmp_path / 'd'}:1.0"
    )
    assert (
        "sign in and take a tier" in anonymous.stderr and world.product_url in anonymous.stderr
    ), anonymous.stderr
    lapsed = _skopeo(world, "lapsed", "inspect", "--raw", _ref(world, ":2.0"))
    assert "ended" in lapsed.stderr and "lapsed" in lapsed.stderr, lapsed.stderr
    refunded = _skopeo(world, "refunded", "inspect", "--raw", _ref(world, ":1.0"))
    assert "ended" in refunded.stderr and "refunded" in refunded.stderr, refunded.stderr


def test_a_customer_pull_is_recorded_with_its_subscription(world: World, tmp_path: Path) -> None:
    from portside.catalog.models import Listing
    from portside.commerce.models import PullRecord

    copied = _skopeo(world, "business", "copy", _ref(world, ":1.0"), f"oci:{tmp_path / 'a'}:1.0")
    assert copied.returncode == 0, copied.stderr
    record = PullRecord.objects.get(username="bill")
    assert (record.repository, record.tag, record.digest) == ("acme/db", "1.0", world.digests["a"])
    assert record.tier_name == "Business" and record.paid
    assert not PullRecord.objects.filter(username="alice").exists()  # the publisher's own pulls
    from portside.catalog.search import refresh_popularity

    refresh_popularity()
    assert Listing.objects.get().pulls >= 1
