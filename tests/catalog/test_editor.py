"""The product editor: sections saved one at a time, each validating only its own items,
and the checklist of what submission for review still needs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from portside.audit.models import AuditEvent
from portside.catalog import editor
from portside.catalog import services as catalog
from portside.catalog.models import Product
from tests.factories import TEST_ORIGIN
from tests.moderation.world import PublishingWorld, build_publishing_world, png

pytestmark = pytest.mark.django_db

SECTION_IDS = ["basics", "description", "icon", "sources", "tiers", "support"]
BASICS = {
    "section": "basics",
    "name": "Fresh",
    "short_description": "A fresh database.",
    "category": "databases",
    "search_tags": "sql fresh",
    "platforms": ["community"],
}
DESCRIPTION = {
    "section": "description",
    "long_description": "# Fresh\n\nKeeps rows.",
    "install_instructions": "Pull it.",
}
SUPPORT = {
    "section": "support",
    "support_url": "https://acme.example.com/help",
    "support_email": "",
    "license_url": "https://acme.example.com/licence",
    "self_help": "",
    "support_hours": "",
    "response_critical_hours": "",
    "response_major_hours": "",
    "response_minor_hours": "",
}


@pytest.fixture
def world() -> PublishingWorld:
    return build_publishing_world()


@pytest.fixture
def fresh(world: PublishingWorld) -> Product:
    return catalog.create_product(
        organization=world.org, name="Fresh", acting=world.owner, origin=TEST_ORIGIN
    )


@pytest.fixture
def editor_client(client: Client, world: PublishingWorld) -> Client:
    client.force_login(world.editor)
    return client


def _url(product: Product) -> str:
    return f"/orgs/acme/products/{product.slug}/"


def _section(page: str, section: str) -> str:
    """The HTML of one section of the editor."""
    start = page.index(f'<section class="panel editor-section" id="{section}"')
    return page[start : page.index("</section>", start)]


def _checklist(page: str) -> str:
    start = page.index('id="readiness"')
    return page[start : page.index("</section>", start)]


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _updates(product: Product) -> list[dict[str, Any]]:
    return [
        event.details
        for event in AuditEvent.objects.filter(
            action="catalog:product:updated", target_id=str(product.pk)
        ).order_by("id")
    ]


# --- the page ----------------------------------------------------------------------------------


def test_each_section_has_a_heading_and_a_save_of_its_own(
    editor_client: Client, fresh: Product
) -> None:
    page = editor_client.get(_url(fresh)).content.decode()
    order = [page.index(f'id="{section}"') for section in SECTION_IDS]
    assert order == sorted(order)
    for section in ("basics", "description", "support"):
        html = _section(page, section)
        assert html.count("<form ") == 1
        assert f'<input type="hidden" name="section" value="{section}">' in html
        assert 'name="csrfmiddlewaretoken"' in html
        assert f'action="{_url(fresh)}#{section}"' in html
        assert re.search(r'<button type="submit">Save [a-z ]+</button>', html)
    # Each field is in exactly one section's form.
    assert 'name="name"' in _section(page, "basics")
    assert 'name="long_description"' not in _section(page, "basics")
    assert 'name="long_description"' in _section(page, "description")
    assert 'name="license_url"' in _section(page, "support")
    assert 'name="license_url"' not in _section(page, "description")
    for section in ("icon", "sources", "tiers"):
        assert "<h2" in _section(page, section)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    # Strict CSP: no inline script, no event handler attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+=", page)


def test_viewers_see_the_sections_without_save_buttons(
    client: Client, world: PublishingWorld, fresh: Product
) -> None:
    client.force_login(world.viewer)
    page = client.get(_url(fresh)).content.decode()
    assert "Save basics" not in page and "Upload icon" not in page
    assert 'id="basics"' in page and "of 6</strong> sections done" in page
    for section in ("basics", "description", "support"):
        assert "<fieldset disabled>" in _section(page, section)


# --- the checklist ------------------------------------------------------------------------------


def test_the_checklist_counts_sections_and_says_what_is_missing(
    editor_client: Client, world: PublishingWorld, fresh: Product
) -> None:
    page = editor_client.get(_url(fresh)).content.decode()
    checklist = _checklist(page)
    assert "<strong>0 of 6</strong> sections done" in checklist
    steps = re.findall(
        r'<li class="editor-step( is-done)?"><a href="#([a-z]+)">([^<]+)</a>\s*'
        r'<span class="editor-step-state">(.+?)</span></li>',
        checklist,
    )
    assert [anchor for _, anchor, _, _ in steps] == SECTION_IDS
    states = {anchor: _text(state) for _, anchor, _, state in steps}
    assert states["description"] == "2 to do : long description, installation instructions"
    assert states["icon"] == "1 to do : icon"
    assert states["support"] == "2 to do : support link, licence agreement"
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    for anchor in re.findall(r'<a href="#([^"]+)"', checklist):
        assert anchor in ids, anchor

    # Saving a section completes its step, and only its step.
    editor_client.post(_url(fresh), DESCRIPTION)
    checklist = _checklist(editor_client.get(_url(fresh)).content.decode())
    assert "<strong>1 of 6</strong> sections done" in checklist
    assert re.search(r'editor-step is-done"><a href="#description">', checklist)
    assert not re.search(r'editor-step is-done"><a href="#basics">', checklist)
    assert "Complete" in _section(editor_client.get(_url(fresh)).content.decode(), "description")


def test_a_complete_product_has_every_step_done(
    editor_client: Client, world: PublishingWorld
) -> None:
    product = world.ready_product()
    page = editor_client.get(_url(product)).content.decode()
    assert "<strong>6 of 6</strong> sections done" in page
    assert "The manifest is complete." in page
    assert "to do</span>" not in page


def test_the_checklist_follows_what_submission_needs(world: PublishingWorld) -> None:
    """Every item submission would refuse is in the checklist, in the step of the section
    that fixes it; an Enterprise product without publisher support is a Support item."""
    product = world.ready_product(platforms=["enterprise"])
    found = editor.checklist(product)
    assert [step.section.id for step in found.steps if not step.done] == ["support"]
    assert found.problems == [
        (
            "id_publisher_support",
            "Publisher support",
            "A product for Enterprise Edition must offer publisher support.",
        )
    ]
    catalog.update_product(
        product=product,
        acting=world.owner,
        origin=TEST_ORIGIN,
        publisher_support=True,
    )
    found = editor.checklist(product)
    assert [line[0] for line in found.problems] == ["id_support_hours"]
    assert found.done == 5


# --- saving one section -------------------------------------------------------------------------


def test_saving_basics_changes_only_basics(editor_client: Client, world: PublishingWorld) -> None:
    product = world.ready_product()
    before = Product.objects.filter(pk=product.pk).values().get()
    response = editor_client.post(
        _url(product),
        {
            **BASICS,
            "name": "Acme Database",
            "short_description": "Rows, fast.",
            "category": "analytics",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == _url(product) + "?saved=basics#basics"
    after = Product.objects.filter(pk=product.pk).values().get()
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {"short_description", "category_id", "search_tags", "updated_at"}
    assert _updates(product)[-1]["fields"] == ["category", "search_tags", "short_description"]
    page = editor_client.get(response["Location"]).content.decode()
    assert '<p class="editor-notice" role="status">Saved.</p>' in _section(page, "basics")
    assert "editor-notice" not in _section(page, "support")


def test_saving_description_and_support(editor_client: Client, fresh: Product) -> None:
    assert editor_client.post(_url(fresh), DESCRIPTION).status_code == 302
    assert editor_client.post(_url(fresh), SUPPORT).status_code == 302
    fresh.refresh_from_db()
    assert fresh.long_description == "# Fresh\n\nKeeps rows."
    assert fresh.install_instructions == "Pull it."
    assert fresh.support_url == "https://acme.example.com/help"
    assert fresh.license_url == "https://acme.example.com/licence"
    assert fresh.short_description == "" and fresh.platforms == []
    # An unticked box is sent as nothing: the section's save clears it.
    editor_client.post(_url(fresh), {**SUPPORT, "publisher_support": "on"})
    fresh.refresh_from_db()
    assert fresh.publisher_support
    editor_client.post(_url(fresh), SUPPORT)
    fresh.refresh_from_db()
    assert not fresh.publisher_support


def test_the_same_save_twice_changes_nothing_the_second_time(
    editor_client: Client, fresh: Product
) -> None:
    first = editor_client.post(_url(fresh), BASICS)
    assert first["Location"].endswith("?saved=basics#basics")
    stamp = Product.objects.get(pk=fresh.pk).updated_at
    second = editor_client.post(_url(fresh), BASICS)
    assert second.status_code == 302
    assert second["Location"].endswith("?unchanged=basics#basics")
    assert Product.objects.get(pk=fresh.pk).updated_at == stamp
    assert len(_updates(fresh)) == 1
    page = editor_client.get(second["Location"]).content.decode()
    assert "Nothing had changed, so nothing was saved." in _section(page, "basics")


def test_an_error_stays_in_its_section_and_saves_nothing(
    editor_client: Client, world: PublishingWorld
) -> None:
    product = world.ready_product()
    before = Product.objects.filter(pk=product.pk).values().get()
    response = editor_client.post(
        _url(product),
        {**SUPPORT, "support_url": "javascript:alert(1)", "support_hours": "Mon-Fri"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    support = _section(page, "support")
    errors = support[support.index("editor-errors") :]
    assert re.search(
        r'<li><a href="#id_support_url">Support link</a>: Give an http:// or https:// address.',
        errors,
    )
    # The input is kept where it was typed; the other sections show what is saved.
    assert 'value="Mon-Fri"' in support
    assert "editor-errors" not in _section(page, "basics")
    assert 'value="A fast database for containers."' in _section(page, "basics")
    assert Product.objects.filter(pk=product.pk).values().get() == before


def test_a_field_error_links_to_its_field(editor_client: Client, fresh: Product) -> None:
    response = editor_client.post(
        _url(fresh), {**BASICS, "name": "x" * 101, "search_tags": "<script>"}
    )
    assert response.status_code == 400
    basics = _section(response.content.decode(), "basics")
    links = re.findall(r'<li><a href="#([^"]+)">([^<]+)</a>: ([^<]+)</li>', basics)
    assert links[0] == ("id_name", "Name", "At most 100 characters; this has 101.")
    assert 'id="id_name"' in basics
    # The service's own check runs once the form's pass: the tags are refused next.
    fixed = editor_client.post(_url(fresh), {**BASICS, "search_tags": "<script>"})
    assert fixed.status_code == 400
    assert 'href="#id_search_tags"' in _section(fixed.content.decode(), "basics")


# --- hostile input ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["secrets", "icon", "tiers", "", "basics/../support", "x" * 500])
def test_a_section_that_is_not_saved_here_is_refused(
    editor_client: Client, fresh: Product, name: str
) -> None:
    response = editor_client.post(_url(fresh), {**BASICS, "section": name})
    assert response.status_code == 400
    text = _text(response.content.decode())
    assert "Nothing was saved: there is no section" in text
    assert "basics, description, support" in text
    assert "x" * 41 not in text  # the name is quoted short
    assert _updates(fresh) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({**BASICS, "short_description": "x" * 141}, "id_short_description", "At most 140"),
        ({**BASICS, "short_description": "x" * 100_000}, "id_short_description", "At most 140"),
        ({**BASICS, "category": "not-a-category"}, "id_category", "Select a valid choice"),
        ({**BASICS, "platforms": ["mainframe"]}, "id_platforms", "Select a valid choice"),
        ({**BASICS, "search_tags": "a " * 600}, "id_search_tags", "At most 1000"),
        ({**BASICS, "name": "Nul\x00name"}, "id_name", "Null characters are not allowed"),
        ({**DESCRIPTION, "long_description": "x" * 50_001}, "id_long_description", "50,000"),
        ({**SUPPORT, "support_email": "not-an-email"}, "id_support_email", "valid email"),
        ({**SUPPORT, "support_hours": "h" * 201}, "id_support_hours", "At most 200"),
        ({**SUPPORT, "response_critical_hours": "-1"}, "id_response_critical_hours", "Between"),
        ({**SUPPORT, "response_major_hours": "9" * 11}, "id_response_major_hours", "at most 10"),
    ],
)
def test_hostile_fields_are_refused_in_their_section(
    editor_client: Client, fresh: Product, data: dict[str, Any], field: str, message: str
) -> None:
    before = Product.objects.filter(pk=fresh.pk).values().get()
    response = editor_client.post(_url(fresh), data)
    assert response.status_code == 400
    html = _section(response.content.decode(), data["section"])
    errors = html[html.index("editor-errors") : html.index("</div>", html.index("editor-errors"))]
    assert f'href="#{field}"' in errors
    assert message.lower() in _text(errors).lower()
    assert Product.objects.filter(pk=fresh.pk).values().get() == before


def test_a_section_posted_without_its_fields_saves_nothing(
    editor_client: Client, world: PublishingWorld
) -> None:
    product = world.ready_product()
    before = Product.objects.filter(pk=product.pk).values().get()
    for data in (
        {"section": "support"},
        {"section": "description", "long_description": ""},
        {"section": "basics", "name": "Acme Database"},
    ):
        response = editor_client.post(_url(product), data)
        assert response.status_code == 400, data
        html = _section(response.content.decode(), data["section"])
        assert "Nothing was saved: the form came without" in html
    assert Product.objects.filter(pk=product.pk).values().get() == before


def test_a_body_too_large_is_refused(editor_client: Client, fresh: Product) -> None:
    response = editor_client.post(_url(fresh), {**DESCRIPTION, "long_description": "x" * 3_000_000})
    assert response.status_code == 400
    assert _updates(fresh) == []


def test_a_post_without_a_section_saves_only_what_it_carries(
    editor_client: Client, world: PublishingWorld
) -> None:
    product = world.ready_product()
    response = editor_client.post(_url(product), {"short_description": "Renamed."})
    assert response.status_code == 302
    product.refresh_from_db()
    assert product.short_description == "Renamed."
    assert product.platforms == ["community"] and product.license_url
    refused = editor_client.post(_url(product), {"license_url": "ftp://x", "name": "N"})
    assert refused.status_code == 400
    assert 'href="#id_license_url"' in _section(refused.content.decode(), "support")
    nothing = editor_client.post(_url(product), {"colour": "red"})
    assert nothing.status_code == 400
    assert "named no section and no item" in _text(nothing.content.decode())


def test_who_may_save_a_section(client: Client, world: PublishingWorld, fresh: Product) -> None:
    assert client.post(_url(fresh), BASICS)["Location"].startswith("/accounts/login/")
    for user, status in ((world.viewer, 403), (world.customer, 404), (world.other, 404)):
        client.force_login(user)
        assert client.post(_url(fresh), BASICS).status_code == status
    client.force_login(world.moderator)
    assert client.post(_url(fresh), BASICS).status_code == 403
    assert _updates(fresh) == []


def test_a_section_save_needs_the_csrf_token(world: PublishingWorld, fresh: Product) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.editor)
    assert client.post(_url(fresh), BASICS).status_code == 403
    page = client.get(_url(fresh))
    token = page.cookies["csrftoken"].value
    saved = client.post(_url(fresh), {**BASICS, "csrfmiddlewaretoken": token})
    assert saved.status_code == 302


def test_the_outcome_word_is_never_reflected(editor_client: Client, fresh: Product) -> None:
    page = editor_client.get(_url(fresh) + "?saved=<script>x</script>").content.decode()
    assert "<script>x" not in page and "editor-notice" not in page


# --- the sections with URLs of their own --------------------------------------------------------


def test_icon_sources_and_tiers_show_their_errors_in_their_section(
    editor_client: Client, world: PublishingWorld
) -> None:
    product = world.ready_product()
    small = SimpleUploadedFile("x.png", png(64, 64), content_type="image/png")
    icon = editor_client.post(_url(product) + "icon", {"image": small})
    assert icon.status_code == 400
    html = _section(icon.content.decode(), "icon")
    assert re.search(r'<a href="#icon-file">Icon</a>: .*128', html[html.index("editor-errors") :])
    empty = editor_client.post(_url(product) + "screenshots", {"caption": "No file"})
    assert empty.status_code == 400
    html = _section(empty.content.decode(), "icon")
    assert '<a href="#shot-file">Screenshot</a>: Choose an image file.' in html

    source = editor_client.post(_url(product) + "sources", {"repository": "acme/db", "tags": "9.9"})
    assert source.status_code == 400
    html = _section(source.content.decode(), "sources")
    assert re.search(r'<a href="#id_tags">Tags</a>: acme/db has no tag 9.9', html)
    assert 'value="9.9"' in html

    tier = editor_client.post(
        _url(product) + "tiers",
        {
            "name": "Gold",
            "price": "lots",
            "currency": "USD",
            "billing_period": "monthly",
            "access": ["acme/db:1.0"],
        },
    )
    assert tier.status_code == 400
    html = _section(tier.content.decode(), "tiers")
    assert re.search(r'<a href="#tier_price">Price</a>: A price such as', html)
    assert 'value="Gold"' in html  # what was typed is kept
    assert 'value="lots"' in html
    assert not product.tiers.filter(name="Gold").exists()


def test_icon_sources_and_tiers_go_back_to_their_section(
    editor_client: Client, world: PublishingWorld, fresh: Product
) -> None:
    upload = SimpleUploadedFile("x.png", png(256, 256), content_type="image/png")
    icon = editor_client.post(_url(fresh) + "icon", {"image": upload})
    assert icon["Location"] == _url(fresh) + "?saved=icon#icon"
    source = editor_client.post(_url(fresh) + "sources", {"repository": "acme/db", "tags": "1.0"})
    assert source["Location"] == _url(fresh) + "?saved=sources#sources"
    tier = editor_client.post(
        _url(fresh) + "tiers",
        {
            "name": "Community",
            "price": "0",
            "currency": "USD",
            "billing_period": "free",
            "access": ["acme/db:1.0"],
        },
    )
    assert tier["Location"] == _url(fresh) + "?saved=tiers#tiers"
    page = editor_client.get(tier["Location"]).content.decode()
    assert "Saved." in _section(page, "tiers")
    assert "<strong>3 of 6</strong> sections done" in page


def test_the_description_previews_without_saving(editor_client: Client, fresh: Product) -> None:
    page = editor_client.get(_url(fresh)).content.decode()
    button = re.search(r'<button class="secondary"[^>]*>Preview</button>', page)
    assert button and 'name="preview" value="1"' in button.group(0)
    assert f'formaction="{_url(fresh)}#description-preview"' in button.group(0)
    typed = "# Fresh\n\n**Bold** <script>alert(1)</script> [x](javascript:alert(1))"
    response = editor_client.post(
        _url(fresh), {**DESCRIPTION, "long_description": typed, "preview": "1"}
    )
    assert response.status_code == 200
    html = _section(response.content.decode(), "description")
    preview = html[html.index('class="editor-preview"') :]
    # Rendered as on the product page: headings below the page's own, nothing active.
    assert "<h3>Fresh</h3>" in preview and "<strong>Bold</strong>" in preview
    assert "<script>" not in preview and 'href="javascript' not in preview
    assert "<p>Pull it.</p>" in preview
    assert "**Bold**" in html  # what was typed stays in the field, unsaved
    fresh.refresh_from_db()
    assert fresh.long_description == "" and _updates(fresh) == []
    too_long = editor_client.post(
        _url(fresh), {**DESCRIPTION, "long_description": "x" * 50_001, "preview": "1"}
    )
    assert too_long.status_code == 400
    assert "editor-preview" not in too_long.content.decode()
    assert 'href="#id_long_description"' in _section(too_long.content.decode(), "description")
    # Preview is the Description's; elsewhere the button's value saves as usual.
    basics = editor_client.post(_url(fresh), {**BASICS, "preview": "1"})
    assert basics.status_code == 302
