"""The product's working copy: every manifest item validated, hostile input refused."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from portside.catalog import services as catalog
from portside.catalog.models import Product, Tier
from portside.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portside.moderation import services as moderation
from tests.factories import TEST_ORIGIN
from tests.moderation.world import PublishingWorld, build_publishing_world, png

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> PublishingWorld:
    return build_publishing_world()


def _update(world: PublishingWorld, product: Product, **fields: object) -> Product:
    return catalog.update_product(product=product, acting=world.owner, origin=TEST_ORIGIN, **fields)


def test_names_are_unique_per_publisher(world: PublishingWorld) -> None:
    catalog.create_product(
        organization=world.org, name="Acme DB", acting=world.owner, origin=TEST_ORIGIN
    )
    with pytest.raises(Conflict):
        catalog.create_product(
            organization=world.org, name="acme db", acting=world.editor, origin=TEST_ORIGIN
        )
    other = catalog.create_product(
        organization=world.other_org, name="Acme DB", acting=world.other, origin=TEST_ORIGIN
    )
    assert other.slug == "acme-db"
    with pytest.raises(ValidationFailed):
        catalog.create_product(
            organization=world.org, name="!!!", acting=world.owner, origin=TEST_ORIGIN
        )
    with pytest.raises(PermissionDenied):
        catalog.create_product(
            organization=world.org, name="X", acting=world.viewer, origin=TEST_ORIGIN
        )
    with pytest.raises(NotFound):
        catalog.create_product(
            organization=world.org, name="X", acting=world.customer, origin=TEST_ORIGIN
        )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("short_description", "x" * 141),
        ("category", "not-a-category"),
        ("search_tags", [f"tag{i}" for i in range(11)]),
        ("search_tags", ["<script>"]),
        ("support_url", "javascript:alert(1)"),
        ("support_url", "ftp://example.com/"),
        ("license_url", "https://"),
        ("support_email", "not-an-email"),
        ("response_critical_hours", "-1"),
        ("response_major_hours", "soon"),
        ("platforms", ["mainframe"]),
        ("long_description", "x" * 50_001),
        ("password", "x"),
    ],
)
def test_hostile_items_are_refused_and_nothing_changes(
    world: PublishingWorld, field: str, value: object
) -> None:
    product = world.ready_product()
    before = Product.objects.filter(pk=product.pk).values().get()
    with pytest.raises(ValidationFailed) as caught:
        _update(world, product, name="Renamed", **{field: value})
    assert caught.value.field == field
    assert Product.objects.filter(pk=product.pk).values().get() == before


def test_a_140_character_short_description_fits(world: PublishingWorld) -> None:
    product = world.ready_product()
    _update(world, product, short_description="y" * 140)
    product.refresh_from_db()
    assert len(product.short_description) == 140


def test_tags_are_normalised(world: PublishingWorld) -> None:
    product = world.ready_product()
    _update(world, product, search_tags="SQL, postgres  sql c++")
    product.refresh_from_db()
    assert product.search_tags == ["sql", "postgres", "c++"]


def test_icon_and_screenshots_are_checked(world: PublishingWorld) -> None:
    product = world.ready_product()
    with pytest.raises(ValidationFailed, match="square"):
        catalog.set_icon(
            product=product, data=png(300, 200), acting=world.owner, origin=TEST_ORIGIN
        )
    with pytest.raises(ValidationFailed):
        catalog.set_icon(
            product=product, data=b"%PDF-1.7\n", acting=world.owner, origin=TEST_ORIGIN
        )
    for i in range(8):
        catalog.add_screenshot(
            product=product,
            data=png(800, 450, (i, i, i)),
            caption=f"shot {i}",
            acting=world.owner,
            origin=TEST_ORIGIN,
        )
    with pytest.raises(ValidationFailed, match="At most 8"):
        catalog.add_screenshot(
            product=product, data=png(800, 450), acting=world.owner, origin=TEST_ORIGIN
        )
    with pytest.raises(ValidationFailed, match="at least"):
        catalog.set_icon(product=product, data=png(64, 64), acting=world.owner, origin=TEST_ORIGIN)


def test_sources_are_the_organisations_own_repositories(world: PublishingWorld) -> None:
    product = world.ready_product()
    with pytest.raises(ValidationFailed, match="no repository"):
        catalog.set_source(
            product=product,
            repository="globex/secret",
            tags=["1.0"],
            acting=world.owner,
            origin=TEST_ORIGIN,
        )
    with pytest.raises(ValidationFailed, match="no tag"):
        catalog.set_source(
            product=product,
            repository="acme/db",
            tags=["9.9"],
            acting=world.owner,
            origin=TEST_ORIGIN,
        )
    # Narrowing a source narrows the tiers that grant it.
    catalog.set_source(
        product=product, repository="acme/db", tags=["2.0"], acting=world.owner, origin=TEST_ORIGIN
    )
    business = Tier.objects.get(product=product, name="Business")
    assert business.access.get().tags == ["2.0"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"access": [("globex/secret", ["1.0"])]}, "access"),  # another organisation's
        ({"access": [("acme/db", ["latest"])]}, "access"),  # not among the source's tags
        ({"access": []}, "access"),
        ({"price": "-1"}, "price"),
        ({"price": "1e400"}, "price"),
        ({"price": "9.999"}, "price"),
        ({"price": "NaN"}, "price"),
        ({"price": "12", "billing_period": "free"}, "billing_period"),
        ({"price": "0", "billing_period": "monthly"}, "billing_period"),
        ({"currency": "XBT"}, "currency"),
        ({"name": ""}, "name"),
    ],
)
def test_hostile_tiers(world: PublishingWorld, kwargs: dict, field: str) -> None:
    product = world.ready_product()
    arguments = {
        "name": "Gold",
        "price": "10",
        "billing_period": "yearly",
        "access": [("acme/db", ["1.0"])],
    } | kwargs
    with pytest.raises(ValidationFailed) as caught:
        catalog.save_tier(product=product, acting=world.owner, origin=TEST_ORIGIN, **arguments)
    assert caught.value.field == field
    assert not Tier.objects.filter(name="Gold").exists()


def test_tier_names_are_unique(world: PublishingWorld) -> None:
    product = world.ready_product()
    with pytest.raises(Conflict):
        catalog.save_tier(
            product=product,
            name="business",
            price="1",
            billing_period="one_time",
            access=[("acme/db", ["1.0"])],
            acting=world.owner,
            origin=TEST_ORIGIN,
        )


def test_a_draft_is_deleted_with_everything_it_holds(world: PublishingWorld) -> None:
    product = world.ready_product("Scratch")
    catalog.delete_product(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert not Product.objects.filter(name="Scratch").exists()
    assert not Tier.objects.filter(product_id=product.pk).exists()


def test_a_submitted_product_keeps_its_history(world: PublishingWorld) -> None:
    product = world.ready_product("Scratch")
    moderation.submit(product=product, acting=world.owner, origin=TEST_ORIGIN)
    with pytest.raises(Conflict, match="review history"):
        catalog.delete_product(product=product, acting=world.owner, origin=TEST_ORIGIN)
    assert Product.objects.filter(pk=product.pk).exists()


def test_deleting_from_the_page(world: PublishingWorld, client: Client) -> None:
    draft = world.ready_product("Scratch")
    kept = world.ready_product("Kept")
    moderation.submit(product=kept, acting=world.owner, origin=TEST_ORIGIN)
    client.force_login(world.editor)
    page = client.get(f"/orgs/acme/products/{draft.slug}/")
    assert b'id="delete"' in page.content
    assert b'id="delete"' not in client.get(f"/orgs/acme/products/{kept.slug}/").content
    confirm = {"confirmed": "yes"}
    refused = client.post(f"/orgs/acme/products/{kept.slug}/delete", confirm, follow=True)
    assert b"review history" in refused.content and Product.objects.filter(pk=kept.pk).exists()
    # The button on the page asks first, on a page of its own; nothing is deleted yet.
    asked = client.post(f"/orgs/acme/products/{draft.slug}/delete")
    assert asked.status_code == 200
    text = asked.content.decode()
    assert "Delete Scratch?" in text and "cannot be undone" in text
    assert 'name="confirmed" value="yes"' in text
    assert Product.objects.filter(pk=draft.pk).exists()
    done = client.post(f"/orgs/acme/products/{draft.slug}/delete", confirm, follow=True)
    assert done.redirect_chain[-1][0] == "/orgs/acme/products/"
    assert b"Scratch deleted." in done.content
    assert not Product.objects.filter(pk=draft.pk).exists()
    client.force_login(world.viewer)
    other = world.ready_product("Other")
    assert client.post(f"/orgs/acme/products/{other.slug}/delete", confirm).status_code == 403
    assert Product.objects.filter(pk=other.pk).exists()


def test_the_editor_checklist_links_to_what_exists(world: PublishingWorld, client: Client) -> None:
    """A new product's checklist: each item links to an element of the page (a field or
    its section), and no two elements share an id."""

    product = catalog.create_product(
        organization=world.org, name="Fresh", acting=world.owner, origin=TEST_ORIGIN
    )
    catalog.set_source(
        product=product,
        repository=world.repository.name,
        tags=["1.0"],
        acting=world.owner,
        origin=TEST_ORIGIN,
    )
    client.force_login(world.editor)
    page = client.get(f"/orgs/acme/products/{product.slug}/").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    checklist = page.split('id="readiness"')[1].split("</section>")[0]
    anchors = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', checklist)
    assert {label for _, label in anchors} >= {"Icon", "Tiers", "Short description"}
    for anchor, label in anchors:
        assert anchor in ids, f"{label} links to #{anchor}, which the page does not have"


def test_submitting_too_early_points_to_the_checklist(
    world: PublishingWorld, client: Client
) -> None:
    product = catalog.create_product(
        organization=world.org, name="Early", acting=world.owner, origin=TEST_ORIGIN
    )
    client.force_login(world.editor)
    response = client.post(f"/orgs/acme/products/{product.slug}/submit")
    assert response.status_code == 302
    assert response["Location"] == f"/orgs/acme/products/{product.slug}/#readiness"
    page = client.get(response["Location"]).content.decode()
    count = len(re.findall(r"<li><a href=\"#", page.split('id="readiness"')[1].split("</ul>")[0]))
    assert f"Not submitted: {count} items of the checklist below still need doing." in page
    assert count >= 5
