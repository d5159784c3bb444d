"""The whole publishing path in a real browser against a real `portside serve`.

A publisher completes the profile (logo upload, company email verified from a real SMTP
server), pushes an image with skopeo, makes a product with two tiers and screenshots and
submits it; a moderator requests changes with a comment on one item; the publisher fixes
and resubmits; the moderator approves; the product is published and a visitor finds it by
search with filters, and its page shows the manifest and the pull commands.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from PIL import Image

from tests.e2e.conftest import Mailbox, body_of, find_link, running_store
from tests.interop.images import make_layout, random_files
from tests.servers import Server

pytestmark = pytest.mark.e2e

PUBLISHER_PASSWORD = "alice-publishes-long-passwords"
MODERATOR_PASSWORD = "mona-moderates-long-passwords"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Server, Mailbox]]:
    users = [
        ("alice", PUBLISHER_PASSWORD, []),
        ("mona", MODERATOR_PASSWORD, ["--role", "moderator"]),
    ]
    with running_store(tmp_path, users) as running:
        yield running


def _png(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> str:
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 16):  # some structure, so it is not a flat colour
        for y in range(0, size[1], 64):
            image.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    path.write_bytes(out.getvalue())
    return str(path)


# The authenticator secrets of the store-team members set up in this process's tests.
_SECRETS: dict[str, str] = {}


def _sign_in(page: Any, base: str, login: str, password: str) -> None:
    """Sign in as a person would. The store team must have two-factor authentication:
    the first time, a member is sent to set it up (the password is asked again, then a
    code from the new authenticator); later, the code is asked after the password."""
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_login", login)
    page.fill("#id_password", password)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, page.content()[:2000]
    if "/2fa/authenticate/" in page.url:
        page.fill("#id_code", pyotp.TOTP(_SECRETS[login]).now())
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
    elif "/reauthenticate/" in page.url or "/2fa/totp/activate/" in page.url:
        if "/reauthenticate/" in page.url:
            page.fill("#id_password", password)
            page.locator("main form button[type=submit]").first.click()
            page.wait_for_url("**/accounts/2fa/totp/activate/")
        _SECRETS[login] = page.input_value("#authenticator_secret")
        page.fill("#id_code", pyotp.TOTP(_SECRETS[login]).now())
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()
        assert "/2fa/totp/activate/" not in page.url, page.content()[:2000]


def _push(server: Server, tmp_path: Path, tag: str) -> None:
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is required (apt-get install skopeo)"
    layout = tmp_path / f"image-{tag}"
    make_layout(layout, random_files(2, 50_000), tag=tag)
    result = subprocess.run(
        [
            skopeo, "copy", "--dest-tls-verify=false",
            f"--dest-creds=alice:{PUBLISHER_PASSWORD}",
            f"oci:{layout}:{tag}", f"docker://{server.host}/acme/cache:{tag}",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _ok(page: Any) -> None:
    """The page shows no error message."""
    errors = page.locator(".message.error, .errors, p.error[role=alert]")
    assert errors.count() == 0, errors.all_inner_texts()


def _save_section(page: Any, section: str, button: str) -> None:
    """Save one section of the product editor: the page comes back at that section,
    which says it was saved."""
    page.locator(f"#{section}").get_by_role("button", name=button).click()
    page.wait_for_url(f"**#{section}")
    _ok(page)
    assert page.locator(f"#{section} .editor-notice").inner_text() == "Saved."


def test_publish_review_and_find(store, browser, screenshots, tmp_path):
    server, mailbox = store
    base = server.url
    files = tmp_path / "files"
    files.mkdir()
    publisher = browser.new_context()
    page = publisher.new_page()

    # The publisher signs in and makes an organisation, then pushes two tags with skopeo.
    _sign_in(page, base, "alice", PUBLISHER_PASSWORD)
    page.goto(f"{base}/orgs/")
    page.fill("#id_name", "acme")
    page.fill("#id_display_name", "Acme")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/orgs/acme/")
    _push(server, tmp_path, "1.0")
    _push(server, tmp_path, "2.0")

    # Publisher profile: details, a logo, and the company email verified from the mail.
    page.goto(f"{base}/orgs/acme/")
    page.get_by_role("link", name="Publisher profile").click()
    page.wait_for_url("**/orgs/acme/profile/")
    page.fill("#id_legal_name", "Acme Software Ltd")
    page.fill("#id_website", "https://acme.example.com")
    page.fill("#id_phone", "+44 20 7946 0958")
    page.fill("#id_email", "legal@acme.example.com")
    page.fill("#id_story", "We build **fast caches** since 2009.")
    page.get_by_role("button", name="Save profile").click()
    page.wait_for_load_state()
    _ok(page)
    page.set_input_files("#id_logo", _png(files / "logo.png", (512, 512), (20, 90, 160)))
    page.get_by_role("button", name="Upload logo").click()
    page.wait_for_load_state()
    _ok(page)
    page.get_by_role("button", name="Send verification link").click()
    page.wait_for_load_state()
    mail = mailbox.wait_for("legal@acme.example.com", "")
    page.goto(find_link(body_of(mail), "/publisher-email/"))
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()
    page.goto(f"{base}/orgs/acme/profile/")
    assert "+442079460958" in page.content()
    screenshots(page, "publishing-01-profile")

    # A product from the pushed repository, with icon, screenshots, a source and two tiers.
    page.goto(f"{base}/orgs/acme/products/")
    page.fill("#id_name", "Acme Cache")
    page.get_by_role("button", name="Create product").click()
    page.wait_for_url("**/orgs/acme/products/acme-cache/")
    # Each section of the editor is saved on its own.
    page.fill("#id_short_description", "An in-memory cache.")
    page.select_option("#id_category", "databases")
    page.fill("#id_search_tags", "cache redis-compatible memory")
    page.check("input[name=platforms][value=community]")
    _save_section(page, "basics", "Save basics")
    page.fill("#id_long_description", "# Acme Cache\n\nKeeps **hot data** close.")
    page.fill("#id_install_instructions", "Pull the image of your tier and run it.")
    _save_section(page, "description", "Save description")
    page.fill("#id_support_url", "https://acme.example.com/support")
    page.fill("#id_support_email", "support@acme.example.com")
    page.fill("#id_license_url", "https://acme.example.com/licence")
    _save_section(page, "support", "Save support and links")
    assert "3 of 6 sections done" in page.locator("#readiness").inner_text()
    page.set_input_files("#icon-file", _png(files / "icon.png", (256, 256), (200, 40, 40)))
    page.get_by_role("button", name="Upload icon").click()
    page.wait_for_load_state()
    _ok(page)
    for i, color in enumerate([(10, 120, 60), (120, 10, 160)]):
        page.set_input_files("#shot-file", _png(files / f"shot{i}.png", (1280, 720), color))
        page.fill("#shot-caption", f"Dashboard {i + 1}")
        page.get_by_role("button", name="Add screenshot").click()
        page.wait_for_load_state()
        _ok(page)
    page.select_option("#id_repository", "acme/cache")
    page.fill("#id_tags", "1.0 2.0")
    page.get_by_role("button", name="Save source").click()
    page.wait_for_load_state()
    _ok(page)
    tiers = [
        ("Community", "0", "USD", "free", ["acme/cache:1.0"]),
        ("Business", "29.00", "EUR", "monthly", ["acme/cache:1.0", "acme/cache:2.0"]),
    ]
    for name, price, currency, period, grants in tiers:
        form = page.locator("#tier-form")
        form.locator("#tier_name").fill(name)
        form.locator("#tier_price").fill(price)
        form.locator("#tier_currency").select_option(currency)
        form.locator("#tier_billing_period").select_option(period)
        for grant in grants:
            form.locator(f"input[name=access][value='{grant}']").check()
        form.get_by_role("button", name="Add tier").click()
        page.wait_for_load_state()
        _ok(page)
    assert "The manifest is complete." in page.content()
    screenshots(page, "publishing-02-product")
    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_url("**/reviews/*/")
    submission_url = page.url
    assert "Submitted" in page.locator("#state").inner_text()
    mailbox.wait_for("mona@example.com", "Acme")
    screenshots(page, "publishing-03-submitted")

    # The moderator takes it from the queue and requests a change to one item.
    moderator = browser.new_context()
    review = moderator.new_page()
    _sign_in(review, base, "mona", MODERATOR_PASSWORD)
    review.goto(f"{base}/staff/reviews/")
    screenshots(review, "publishing-04-queue")
    review.get_by_role("link", name="Acme Cache").click()
    review.get_by_role("button", name="Start review").click()
    review.wait_for_load_state()
    assert "In review" in review.locator("#state").inner_text()
    assert "Security and best practices" in review.content()
    screenshots(review, "publishing-05-review")
    review.select_option("#rc-field", "short_description")
    review.fill("#rc-body", "Say what the cache is compatible with.")
    review.get_by_role("button", name="Request changes").click()
    review.wait_for_load_state()
    assert "Changes requested" in review.locator("#state").inner_text()
    change_mail = mailbox.wait_for("alice@example.com", "Changes requested")
    assert "compatible with" in body_of(change_mail)

    # The publisher reads the comment, fixes the item and resubmits.
    page.goto(submission_url)
    assert "Say what the cache is compatible with." in page.locator("#thread").inner_text()
    assert "Short description" in page.locator("#thread").inner_text()
    page.goto(f"{base}/orgs/acme/products/acme-cache/")
    page.fill("#id_short_description", "An in-memory cache, compatible with Redis clients.")
    _save_section(page, "basics", "Save basics")
    page.get_by_role("button", name="Resubmit for review").click()
    page.wait_for_url("**/reviews/*/")
    assert "Resubmitted" in page.locator("#state").inner_text()

    # The moderator sees what changed, approves; the publisher publishes.
    review.goto(submission_url)
    assert "compatible with Redis clients" in review.locator("#diff").inner_text()
    review.get_by_role("button", name="Start review").click()
    review.wait_for_load_state()
    review.get_by_role("button", name="Approve").click()
    review.wait_for_load_state()
    assert "Approved" in review.locator("#state").inner_text()
    mailbox.wait_for("alice@example.com", "Approved")
    page.goto(submission_url)
    page.get_by_role("button", name="Publish").click()
    page.wait_for_load_state()
    assert "Published" in page.locator("#state").inner_text()
    history = page.locator("#history").inner_text()
    for state in ("submitted", "in_review", "changes_requested", "resubmitted", "approved"):
        assert state in history

    # A visitor finds it by search with filters, and its page shows everything.
    visitor = browser.new_context()
    shop = visitor.new_page()
    shop.goto(f"{base}/search?q=cache&category=databases&price=free")
    screenshots(shop, "publishing-06-search")
    assert "Acme Cache" in shop.content()
    shop.goto(f"{base}/search?q=cache&price=paid&certified=1")
    assert "Acme Cache" not in shop.locator("main").inner_text()
    shop.goto(f"{base}/products/acme/acme-cache")
    text = ""
    for tab in ("Overview", "Tags", "Pricing", "Support"):  # what each tab shows
        shop.get_by_role("tab", name=tab).first.click()
        text += shop.locator("main").inner_text()
    for expected in (
        "Acme Cache",
        "An in-memory cache, compatible with Redis clients.",
        "Keeps hot data close.",
        "Community",
        "Business",
        "29.00",
        "acme/cache:1.0",
        "acme/cache:2.0",
        "Dashboard 1",
        "support@acme.example.com",
    ):
        assert expected in text, expected
    # Pull commands are for the customers who may pull, not for a visitor.
    assert "docker pull" not in text
    screenshots(shop, "publishing-07-product")
    with contextlib.suppress(Exception):
        visitor.close()
    moderator.close()
    publisher.close()


def _editor_page(browser: Any, live_server: Any, user: Any, **options: Any) -> Any:
    from django.conf import settings
    from django.test import Client

    context = browser.new_context(viewport={"width": 1366, "height": 900}, **options)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    return context.new_page()


@pytest.mark.django_db(transaction=True)
def test_the_editor_saves_section_by_section(
    live_server: Any, browser: Any, screenshots: Any
) -> None:
    """The checklist at the top leads to each section; a section's save keeps its errors
    in that section, linked to the fields; the page fits a phone; without script too."""
    from portside.catalog import services as catalog
    from portside.catalog.models import Product
    from tests.factories import TEST_ORIGIN
    from tests.moderation.world import build_publishing_world, ensure_categories, png

    ensure_categories()
    world = build_publishing_world()
    product = catalog.create_product(
        organization=world.org, name="Acme Cache", acting=world.owner, origin=TEST_ORIGIN
    )
    catalog.update_product(
        product=product,
        acting=world.owner,
        origin=TEST_ORIGIN,
        short_description="An in-memory cache.",
        category="databases",
        platforms=["community"],
    )
    catalog.set_icon(product=product, data=png(256, 256), acting=world.owner, origin=TEST_ORIGIN)
    catalog.set_source(
        product=product,
        repository=world.repository.name,
        tags=["1.0", "2.0"],
        acting=world.owner,
        origin=TEST_ORIGIN,
    )
    url = f"{live_server.url}/orgs/acme/products/{product.slug}/"
    page = _editor_page(browser, live_server, world.editor)
    page.goto(url)
    checklist = page.locator("#readiness")
    assert "3 of 6 sections done" in checklist.inner_text()
    assert "Description\n2 to do" in checklist.inner_text()
    checklist.get_by_role("link", name="Tiers and pricing").click()
    assert page.url.endswith("#tiers")
    assert page.locator("#tiers").is_visible()
    screenshots(page, "editor-1366")

    # An error in Support is listed in Support, linked to its field; nothing is saved.
    page.fill("#id_support_url", "ftp://acme.example.com/")
    page.fill("#id_license_url", "https://acme.example.com/licence")
    page.locator("#support").get_by_role("button", name="Save support and links").click()
    page.wait_for_url("**#support")
    errors = page.locator("#support .editor-errors")
    assert "Give an http:// or https:// address." in errors.inner_text()
    assert page.locator("#basics .editor-errors").count() == 0
    assert page.input_value("#id_license_url") == "https://acme.example.com/licence"
    screenshots(page, "editor-error-1366")
    errors.get_by_role("link", name="Support link").click()
    assert page.url.endswith("#id_support_url")
    assert Product.objects.get(pk=product.pk).license_url == ""
    page.fill("#id_support_url", "https://acme.example.com/support")
    page.locator("#support").get_by_role("button", name="Save support and links").click()
    page.wait_for_url("**?saved=support#support")
    assert page.locator("#support .editor-notice").inner_text() == "Saved."
    assert "4 of 6 sections done" in page.locator("#readiness").inner_text()

    # The Description is previewed as customers will read it, without being saved.
    page.fill("#id_long_description", "# Acme Cache\n\nKeeps **hot data** close.")
    page.fill("#id_install_instructions", "Pull the image of your tier and run it.")
    page.locator("#description").get_by_role("button", name="Preview").click()
    page.wait_for_url("**#description-preview")
    preview = page.locator("#description-preview")
    assert "Keeps hot data close." in preview.inner_text()
    assert page.locator("#description .editor-preview strong").inner_text() == "hot data"
    assert page.input_value("#id_long_description").startswith("# Acme Cache")
    assert "4 of 6 sections done" in page.locator("#readiness").inner_text()
    screenshots(page, "editor-preview-1366")

    # A phone: nothing wider than the screen, the steps one under another.
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(url)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    boxes = [page.locator(".editor-step").nth(i).bounding_box() for i in range(3)]
    assert boxes[0] and boxes[1] and boxes[2]
    assert boxes[0]["y"] < boxes[1]["y"] < boxes[2]["y"]
    screenshots(page, "editor-375")

    # Without script, a section saves the same way.
    bare = _editor_page(browser, live_server, world.editor, java_script_enabled=False)
    bare.goto(url)
    bare.fill("#id_long_description", "# Acme Cache\n\nKeeps **hot data** close.")
    bare.fill("#id_install_instructions", "Pull the image of your tier and run it.")
    bare.locator("#description").get_by_role("button", name="Save description").click()
    bare.wait_for_url("**?saved=description#description")
    assert "5 of 6 sections done" in bare.locator("#readiness").inner_text()
    bare.context.close()
    page.context.close()
