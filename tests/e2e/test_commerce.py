"""Buying in a real browser against a real `portside serve`, pulling with skopeo.

A publisher pushes two tags with skopeo and publishes a product with a free tier (1.0) and
a paid monthly tier (1.0 and 2.0). A customer takes the free tier (accepting the licence),
makes a token and pulls 1.0; 2.0 is refused with the store's message naming the product
page. The customer buys the paid tier (billed in Germany, with VAT), the store's admin
confirms the bank transfer, and 2.0 pulls; the publisher refunds the order in full, and
2.0 is refused again. The receipt and the invoice arrive by mail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Mailbox, body_of, find_link, running_store
from tests.e2e.test_publishing import PUBLISHER_PASSWORD, _ok, _png, _push, _sign_in
from tests.servers import Server

pytestmark = pytest.mark.e2e

CUSTOMER_PASSWORD = "carol-buys-with-long-passwords"
ADMIN_PASSWORD = "sam-runs-the-store-with-long-passwords"
PRODUCT = "/products/acme/acme-cache"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Server, Mailbox]]:
    users = [
        ("alice", PUBLISHER_PASSWORD, []),
        ("carol", CUSTOMER_PASSWORD, []),
        ("sam", ADMIN_PASSWORD, ["--role", "admin"]),
    ]
    with running_store(tmp_path, users, PORTSIDE_STORE_COUNTRY="IE") as running:
        yield running


def _pull(server: Server, tmp_path: Path, tag: str, token: str) -> subprocess.CompletedProcess[str]:
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is required (apt-get install skopeo)"
    target = tmp_path / f"pulled-{tag}-{len(list(tmp_path.glob('pulled-*')))}"
    return subprocess.run(
        [
            skopeo, "copy", "--src-tls-verify=false", "--src-creds", f"carol:{token}",
            f"docker://{server.host}/acme/cache:{tag}", f"oci:{target}",
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _click(page: Any, role: str, name: str) -> None:
    page.get_by_role(role, name=name).first.click()
    page.wait_for_load_state()


def _publish(server: Server, mailbox: Mailbox, browser: Any, tmp_path: Path) -> None:
    """alice pushes 1.0 and 2.0, completes the publisher profile, makes the product with
    its two tiers and submits it; sam (an admin) approves; alice publishes."""
    base = server.url
    files = tmp_path / "files"
    files.mkdir()
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, base, "alice", PUBLISHER_PASSWORD)
    page.goto(f"{base}/orgs/")
    page.fill("#id_name", "acme")
    page.fill("#id_display_name", "Acme")
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/orgs/acme/")
    _push(server, tmp_path, "1.0")
    _push(server, tmp_path, "2.0")

    page.goto(f"{base}/orgs/acme/profile/")
    page.fill("#id_legal_name", "Acme Software Ltd")
    page.fill("#id_website", "https://acme.example.com")
    page.fill("#id_phone", "+44 20 7946 0958")
    page.fill("#id_email", "legal@acme.example.com")
    page.fill("#id_story", "We build **fast caches**.")
    _click(page, "button", "Save profile")
    page.set_input_files("#id_logo", _png(files / "logo.png", (512, 512), (20, 90, 160)))
    _click(page, "button", "Upload logo")
    _click(page, "button", "Send verification link")
    page.goto(find_link(body_of(mailbox.wait_for("legal@acme.example.com", "")), "/publisher-"))
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_load_state()

    page.goto(f"{base}/orgs/acme/products/")
    page.fill("#id_name", "Acme Cache")
    _click(page, "button", "Create product")
    page.fill("#id_short_description", "An in-memory cache.")
    page.select_option("#id_category", "databases")
    page.check("input[name=platforms][value=community]")
    _click(page, "button", "Save basics")
    _ok(page)
    page.fill("#id_long_description", "# Acme Cache\n\nKeeps **hot data** close.")
    page.fill("#id_install_instructions", "Pull the image of your tier and run it.")
    _click(page, "button", "Save description")
    _ok(page)
    page.fill("#id_support_email", "support@acme.example.com")
    page.fill("#id_license_url", "https://acme.example.com/licence")
    _click(page, "button", "Save support and links")
    _ok(page)
    page.set_input_files("#icon-file", _png(files / "icon.png", (256, 256), (200, 40, 40)))
    _click(page, "button", "Upload icon")
    page.select_option("#id_repository", "acme/cache")
    page.fill("#id_tags", "1.0 2.0")
    _click(page, "button", "Save source")
    for name, price, period, grants in [
        ("Community", "0", "free", ["acme/cache:1.0"]),
        ("Business", "29.00", "monthly", ["acme/cache:1.0", "acme/cache:2.0"]),
    ]:
        form = page.locator("#tier-form")
        form.locator("#tier_name").fill(name)
        form.locator("#tier_price").fill(price)
        form.locator("#tier_currency").select_option("EUR")
        form.locator("#tier_billing_period").select_option(period)
        for grant in grants:
            form.locator(f"input[name=access][value='{grant}']").check()
        form.get_by_role("button", name="Add tier").click()
        page.wait_for_load_state()
        _ok(page)
    _click(page, "button", "Submit for review")
    page.wait_for_url("**/reviews/*/")
    submission = page.url

    staff = browser.new_context()
    review = staff.new_page()
    _sign_in(review, base, "sam", ADMIN_PASSWORD)
    review.goto(submission)
    _click(review, "button", "Start review")
    _click(review, "button", "Approve")
    page.goto(submission)
    _click(page, "button", "Publish")
    assert "Published" in page.locator("#state").inner_text()
    staff.close()
    context.close()


def test_take_buy_pay_pull_and_refund(store, browser, screenshots, tmp_path):
    server, mailbox = store
    base = server.url
    _publish(server, mailbox, browser, tmp_path)

    # The store's admin sets the German VAT rate.
    staff = browser.new_context()
    admin = staff.new_page()
    _sign_in(admin, base, "sam", ADMIN_PASSWORD)
    admin.goto(f"{base}/staff/commerce/tax-rates/")
    admin.select_option("#id_country", "DE")
    admin.fill("#id_rate", "19")
    admin.fill("#id_starts_on", "2020-01-01")
    _click(admin, "button", "Add rate")
    _ok(admin)
    assert "Germany" in admin.locator("#rates").inner_text()
    screenshots(admin, "commerce-01-tax-rates")

    # The customer takes the free tier from the product page, accepting the licence.
    shopper = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    page = shopper.new_page()
    _sign_in(page, base, "carol", CUSTOMER_PASSWORD)
    page.goto(base + PRODUCT + "#pricing")
    screenshots(page, "commerce-02-product")
    _click(page, "link", "Get: Community")
    assert "/tiers/" in page.url
    screenshots(page, "commerce-03-take-free-tier")
    page.get_by_role("button", name="Get Community").click()
    page.wait_for_load_state()
    assert "Accept the licence agreement to continue." in page.content()
    page.check("#id_accept_licence")
    page.get_by_role("button", name="Get Community").click()
    page.wait_for_url("**/library/*/")
    _ok(page)
    text = page.locator("main").inner_text()
    assert f"docker pull {server.host}/acme/cache:1.0" in text
    assert "acme/cache:2.0" not in text
    screenshots(page, "commerce-04-library-free")
    started = mailbox.wait_for("carol@example.com", "You have Acme Cache (Community)")
    assert "/library/" in body_of(started)
    # The copy button works from the keyboard and says so.
    button = page.locator("button[data-copy]").first
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#copy-status")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == button.get_attribute(
        "data-copy"
    )
    expect(button).to_have_text("Copied")

    # A read token, then skopeo pulls 1.0 and is refused 2.0 with the store's message.
    page.goto(f"{base}/settings/tokens/")
    page.fill("#id_name", "pulls")
    _click(page, "button", "Create token")
    token = page.locator("#new-token").inner_text().strip()
    assert token
    pulled = _pull(server, tmp_path, "1.0", token)
    assert pulled.returncode == 0, pulled.stderr
    refused = _pull(server, tmp_path, "2.0", token)
    assert refused.returncode != 0
    assert f"{base}{PRODUCT}" in refused.stderr, refused.stderr
    assert "Business" in refused.stderr, refused.stderr

    # The customer subscribes to the paid tier, billed in Germany.
    page.goto(base + PRODUCT + "#pricing")
    _click(page, "link", "Subscribe: Business")
    assert "/checkout/" in page.url
    assert "Fill in the billing details" in page.content()
    page.fill("#id_name", "Carol Schmidt GmbH")
    page.fill("#id_address", "Hauptstrasse 1\n10115 Berlin")
    page.select_option("#id_country", "DE")
    _click(page, "button", "Save billing details")
    _ok(page)
    quote = page.locator("#quote").inner_text()
    for expected in ("EUR 29.00", "VAT 19% (Germany)", "EUR 5.51", "EUR 34.51"):
        assert expected in quote, (expected, quote)
    screenshots(page, "commerce-05-checkout")
    page.check("#id_accept_licence")
    page.get_by_role("button", name=re.compile("Place order")).click()
    page.wait_for_url("**/billing/invoices/*/")
    _ok(page)
    instructions = page.locator("#instructions").inner_text()
    assert "Pay EUR 34.51 by bank transfer" in instructions
    number = page.locator("h1").inner_text().removeprefix("Invoice ").strip()
    screenshots(page, "commerce-06-invoice")
    invoice_mail = mailbox.wait_for("carol@example.com", f"Invoice {number}")
    assert "Pay EUR 34.51 by bank transfer" in body_of(invoice_mail)
    attachments = list(invoice_mail.iter_attachments())
    assert attachments and attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content().startswith(b"%PDF")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    assert download.value.suggested_filename == f"{number}.pdf"
    assert _pull(server, tmp_path, "2.0", token).returncode != 0  # not paid yet

    # The store's admin confirms the transfer; the receipt arrives; 2.0 pulls.
    admin.goto(f"{base}/staff/commerce/")
    assert number in admin.locator("#orders").inner_text()
    screenshots(admin, "commerce-07-staff-orders")
    admin.get_by_role("button", name=re.compile(r"Mark paid: order \d+")).first.click()
    admin.wait_for_load_state()
    _ok(admin)
    assert "payment #" in admin.locator("#ledger").inner_text()
    screenshots(admin, "commerce-08-staff-order")
    receipt = mailbox.wait_for("carol@example.com", "Receipt for Acme Cache (Business)")
    assert "EUR 34.51" in body_of(receipt)
    pulled = _pull(server, tmp_path, "2.0", token)
    assert pulled.returncode == 0, pulled.stderr
    page.goto(f"{base}/library/")
    assert f"docker pull {server.host}/acme/cache:2.0" in page.locator("main").inner_text()
    assert "Renews on" in page.locator("main").inner_text()
    screenshots(page, "commerce-09-library-paid")

    # The publisher sees the sale and refunds it in full.
    publisher = browser.new_context()
    sales = publisher.new_page()
    _sign_in(sales, base, "alice", PUBLISHER_PASSWORD)
    sales.goto(f"{base}/orgs/acme/sales/")
    text = sales.locator("main").inner_text()
    assert number in text and "EUR 23.20" in text  # owed: 29.00 less the store's 20%
    assert "carol" in sales.locator("#pulls").inner_text()
    screenshots(sales, "commerce-10-sales")
    sales.get_by_role("link", name=re.compile(r"Refund order \d+")).first.click()
    sales.wait_for_load_state()
    sales.fill("#id_reason", "The customer changed their mind.")
    screenshots(sales, "commerce-11-refund")
    _click(sales, "button", "Refund")
    _ok(sales)
    assert "Refunded EUR 34.51" in sales.locator(".messages").inner_text()
    assert "The customer changed their mind." in sales.locator("#refunds").inner_text()
    refund_mail = mailbox.wait_for("carol@example.com", "Refund of EUR 34.51")
    assert "The subscription has ended." in body_of(refund_mail)

    # 2.0 is refused again, with the message; 1.0 still pulls under the free tier.
    refused = _pull(server, tmp_path, "2.0", token)
    assert refused.returncode != 0
    assert f"{base}{PRODUCT}" in refused.stderr, refused.stderr
    assert "ended" in refused.stderr and "(refunded)" in refused.stderr, refused.stderr
    assert _pull(server, tmp_path, "1.0", token).returncode == 0
    page.goto(f"{base}/library/")
    assert "Refunded" in page.locator("main").inner_text()
    screenshots(page, "commerce-12-library-refunded")
    page.goto(f"{base}/billing/")
    screenshots(page, "commerce-13-billing")
    # What cancelling the free tier would do (not done: it is shown on a page of its own).
    page.goto(f"{base}/library/")
    page.get_by_role("link", name="Acme Cache").first.click()
    page.wait_for_load_state()
    _click(page, "link", "Cancel this subscription")
    assert "The subscription ends now" in page.locator("main").inner_text()
    screenshots(page, "commerce-14-cancel")

    # The store's books: every transaction balances; nothing is owed after the refund.
    admin.goto(f"{base}/staff/commerce/ledger/")
    assert "The ledger checks out" in admin.locator("#verify").inner_text()
    screenshots(admin, "commerce-15-ledger")
    admin.goto(f"{base}/staff/commerce/revenue-share/")
    assert "Nothing is owed." in admin.locator("#owed").inner_text()
    screenshots(admin, "commerce-16-revenue-shares")
    for context in (publisher, shopper, staff):
        context.close()
