"""The commerce pages through django.test.Client: taking and buying tiers, the library's
pull commands, cancelling, invoices (HTML and PDF), a publisher's sales and refunds, and
the store team's orders, tax rates, shares and ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from portside.catalog import services as catalog
from portside.catalog.models import Tier
from portside.commerce import ledger, services
from portside.commerce.models import (
    IdempotencyKey,
    Invoice,
    LicenceAcceptance,
    Order,
    OrderStatus,
    PublisherTerms,
    PullRecord,
    Subscription,
    SubscriptionStatus,
    TaxRate,
)
from portside.core import clock
from tests.commerce.world import Store, billed, customer, pay, publish
from tests.factories import TEST_ORIGIN, make_user
from tests.moderation.world import complete_profile, push_image

HOST = "testserver"


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _url(name: str, store: Store, tier: int) -> str:
    return reverse(name, args=["acme", store.product.slug, tier])


def _text(response: Any) -> str:
    return response.content.decode()


def _checkout_form(client: Client, store: Store, **query: str) -> dict[str, Any]:
    """What the checkout page shows: its signature and idempotency key."""
    url = _url("checkout", store, store.paid_tier)
    response = client.get(url, query)
    assert response.status_code == 200, _text(response)[:2000]
    return {
        "signature": response.context["signature"],
        "idempotency_key": response.context["idempotency_key"],
        "response": response,
    }


def _buy(client: Client, store: Store, **extra: str) -> Any:
    shown = _checkout_form(client, store)
    return client.post(
        _url("checkout", store, store.paid_tier),
        {
            "action": "confirm",
            "accept_licence": "on",
            "signature": shown["signature"],
            "idempotency_key": shown["idempotency_key"],
            **extra,
        },
    )


def _paid_order(store: Store, user: Any, country: str = "DE") -> Order:
    billed(user, country)
    response = _buy(signed_in(user), store)
    assert response.status_code == 302, _text(response)[:2000]
    order = Order.objects.get(subscription__user=user)
    services.mark_paid(order=order, acting=store.pub.admin, origin=TEST_ORIGIN)
    order.refresh_from_db()
    return order


# --- the product page's tier buttons ---------------------------------------------------------


def test_the_product_page_offers_each_tier_and_knows_what_is_held(store: Store) -> None:
    page = reverse("product_detail", args=["acme", store.product.slug])
    text = _text(Client().get(page))
    assert f'href="{_url("take_tier", store, store.free_tier)}"' in text
    assert f'href="{_url("checkout", store, store.paid_tier)}"' in text
    assert ">Get</a>" in text and ">Subscribe</a>" in text
    carol = customer()
    client = signed_in(carol)
    client.post(_url("take_tier", store, store.free_tier), {"accept_licence": "on"})
    sub = Subscription.objects.get(user=carol)
    text = _text(client.get(page))
    assert ">In your library</a>" in text
    assert f'href="{reverse("library_subscription", args=[sub.pk])}"' in text
    assert ">Subscribe</a>" in text
    # The navigation has the library for signed-in users, and loads the copy script.
    assert f'href="{reverse("library")}"' in text
    assert "portside/copy.js" in text


def test_a_revision_frozen_before_tiers_had_ids_offers_no_button(store: Store) -> None:
    revision = store.listing.revision
    for tier in revision.manifest["tiers"]:
        tier.pop("id")
    type(revision).objects.filter(pk=revision.pk).update(manifest=revision.manifest)
    text = _text(Client().get(reverse("product_detail", args=["acme", store.product.slug])))
    assert "Community" in text and "Business" in text
    assert "/tiers/" not in text and "/checkout/" not in text


# --- free tiers --------------------------------------------------------------------------------


def test_taking_a_free_tier_needs_the_licence_then_the_library_has_the_commands(
    store: Store,
) -> None:
    carol = customer()
    client = signed_in(carol)
    url = _url("take_tier", store, store.free_tier)
    page = client.get(url)
    assert page.status_code == 200
    assert "https://acme.example.com/licence" in _text(page)
    assert "I accept the licence agreement" in _text(page)
    refused = client.post(url, {})
    assert refused.status_code == 400
    assert "Accept the licence agreement to continue." in _text(refused)
    assert not Subscription.objects.exists()

    taken = client.post(url, {"accept_licence": "on"})
    sub = Subscription.objects.get(user=carol)
    assert taken.status_code == 302
    assert taken["Location"] == reverse("library_subscription", args=[sub.pk])
    assert sub.status == SubscriptionStatus.ACTIVE
    assert LicenceAcceptance.objects.get(subscription=sub).ip_address == "127.0.0.1"

    library = _text(client.get(reverse("library")))
    for command in (
        f"docker login {HOST}",
        f"skopeo login --tls-verify=false {HOST}",
        f"podman login --tls-verify=false {HOST}",
        f"docker pull {HOST}/acme/db:1.0",
        f"skopeo copy --src-tls-verify=false docker://{HOST}/acme/db:1.0 oci:./acme-db-1.0",
        f"podman pull --tls-verify=false {HOST}/acme/db:1.0",
    ):
        assert f'data-copy="{command}"' in library, command
    assert "acme/db:2.0" not in library  # the free tier covers 1.0 only
    assert 'href="/settings/tokens/"' in library
    assert "No end date" in library
    entry = _text(client.get(reverse("library_subscription", args=[sub.pk])))
    assert f"docker pull {HOST}/acme/db:1.0" in entry
    assert "https://acme.example.com/licence" in entry  # the acceptance
    # Taking it again leads to the same entry.
    again = client.post(url, {"accept_licence": "on"})
    assert again["Location"] == taken["Location"]


def test_an_organisation_takes_a_tier_through_its_owner_only(store: Store) -> None:
    from portside.accounts.models import Membership, OrgRole
    from tests.factories import make_org

    boss, member = make_user("boss-of-beta"), make_user("beta-dev")
    beta = make_org("beta", boss)
    Membership.objects.create(
        organization=beta, user=member, role=OrgRole.VIEWER, created_at=clock.now()
    )
    url = _url("take_tier", store, store.free_tier)
    page = _text(signed_in(member).get(url))
    assert "Organisation beta (owners only)" in page
    refused = signed_in(member).post(url, {"holder": "beta", "accept_licence": "on"})
    assert refused.status_code == 403
    assert (
        signed_in(member).post(url, {"holder": "nowhere", "accept_licence": "on"}).status_code
        == 404
    )
    taken = signed_in(boss).post(url, {"holder": "beta", "accept_licence": "on"})
    assert taken.status_code == 302
    sub = Subscription.objects.get(organization=beta)
    # Every member pulls under it, and sees it in the library, but only owners cancel it.
    library = _text(signed_in(member).get(reverse("library")))
    assert f"docker pull {HOST}/acme/db:1.0" in library
    assert signed_in(member).get(reverse("subscription_cancel", args=[sub.pk])).status_code == 403


def test_a_paid_tier_is_not_taken_but_bought(store: Store) -> None:
    response = signed_in(customer()).get(_url("take_tier", store, store.paid_tier))
    assert response.status_code == 302
    assert response["Location"] == _url("checkout", store, store.paid_tier)
    back = signed_in(customer("dora")).get(_url("checkout", store, store.free_tier))
    assert back["Location"] == _url("take_tier", store, store.free_tier)


def test_a_tampered_tier_id_is_not_found(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    client = signed_in(carol)
    for name in ("take_tier", "checkout"):
        assert client.get(_url(name, store, 999999)).status_code == 404
        assert client.post(_url(name, store, 999999), {"accept_licence": "on"}).status_code == 404
    # Another product's tier is not this product's.
    other = catalog.create_product(
        organization=store.pub.org, name="Other", acting=store.pub.owner, origin=TEST_ORIGIN
    )
    foreign = Tier.objects.create(
        product=other, name="Gold", price=5, currency="EUR", billing_period="monthly"
    )
    assert client.get(_url("checkout", store, foreign.pk)).status_code == 404
    assert (
        client.get(reverse("checkout", args=["acme", "ghost", store.paid_tier])).status_code == 404
    )
    assert not Order.objects.exists()


# --- checkout ----------------------------------------------------------------------------------


def test_checkout_in_germany_charges_vat_and_shows_the_payment_instructions(
    store: Store,
) -> None:
    carol = customer()
    client = signed_in(carol)
    url = _url("checkout", store, store.paid_tier)
    first = client.get(url)
    assert first.status_code == 200
    assert "Fill in the billing details" in _text(first)
    assert "Place order" not in _text(first)
    early = client.post(
        url, {"action": "confirm", "accept_licence": "on", "signature": first.context["signature"]}
    )
    assert early.status_code == 400 and "Fill in the billing details first." in _text(early)
    bad = client.post(url, {"action": "details", "name": "Carol", "country": "DE", "tax_id": "DE1"})
    assert bad.status_code == 400
    assert "is not a valid VAT id" in _text(bad)
    saved = client.post(
        url,
        {"action": "details", "name": "Carol Schmidt", "address": "Hauptstr. 1\nBerlin",
         "country": "DE"},
    )  # fmt: skip
    assert saved.status_code == 302 and saved["Location"] == url
    page = client.get(url)
    text = _text(page)
    assert page.context["billing_form"].initial["country"] == "DE"
    assert "EUR 49.00" in text and "VAT 19% (Germany)" in text
    assert "EUR 9.31" in text and "EUR 58.31" in text and "per month" in text
    assert 'name="idempotency_key"' in text and 'name="signature"' in text

    placed = _buy(client, store)
    order = Order.objects.get()
    assert placed.status_code == 302
    assert placed["Location"] == reverse("invoice_detail", args=[order.invoice.number])
    assert (order.net_minor, order.tax_minor, order.total_minor) == (4900, 931, 5831)
    assert order.status == OrderStatus.OPEN
    invoice = client.get(placed["Location"])
    text = _text(invoice)
    assert "Pay EUR 58.31 by bank transfer quoting invoice " + order.invoice.number in text
    assert "Carol Schmidt" in text and "Germany" in text and "VAT 19%" in text
    library = _text(client.get(reverse("library")))
    assert "Awaiting payment" in library
    assert "acme/db:2.0" not in library  # not paid yet: nothing to pull


def test_checkout_of_an_eu_business_elsewhere_is_reverse_charged(store: Store) -> None:
    client = signed_in(customer())
    url = _url("checkout", store, store.paid_tier)
    client.post(
        url, {"action": "details", "name": "Société", "country": "FR", "tax_id": "FR40303265045"}
    )
    text = _text(client.get(url))
    assert "Reverse charge" in text
    assert "EUR 49.00" in text and "EUR 9.31" not in text
    assert _buy(client, store).status_code == 302
    order = Order.objects.get()
    assert order.reverse_charge and order.tax_minor == 0 and order.total_minor == 4900
    invoice = _text(client.get(reverse("invoice_detail", args=[order.invoice.number])))
    assert "Reverse charge: VAT to be accounted for by the recipient" in invoice
    assert "FR40303265045" in invoice


def test_a_consumer_in_france_pays_french_vat(store: Store) -> None:
    carol = customer()
    billed(carol, "FR")
    client = signed_in(carol)
    text = _text(client.get(_url("checkout", store, store.paid_tier)))
    assert "VAT 20% (France)" in text and "EUR 9.80" in text and "EUR 58.80" in text
    assert _buy(client, store).status_code == 302
    order = Order.objects.get()
    invoice = _text(client.get(reverse("invoice_detail", args=[order.invoice.number])))
    assert "VAT 20%" in invoice and "EUR 58.80" in invoice


def test_a_changed_signature_shows_the_conflict_and_the_new_quote(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    client = signed_in(carol)
    shown = _checkout_form(client, store)
    # The tax rate changes between showing the page and confirming it.
    TaxRate.objects.create(
        country="DE", rate_bp=2100, starts_on=clock.now().date() - dt.timedelta(days=1),
        created_at=clock.now(),
    )  # fmt: skip
    response = client.post(
        _url("checkout", store, store.paid_tier),
        {"action": "confirm", "accept_licence": "on", **{k: shown[k] for k in ("signature",
         "idempotency_key")}},
    )  # fmt: skip
    assert response.status_code == 409
    text = _text(response)
    assert "The price, tax or tier changed since the checkout page was shown" in text
    assert "EUR 10.29" in text and "EUR 59.29" in text  # 21% now
    assert response.context["signature"] != shown["signature"]
    assert not Order.objects.exists() and not Invoice.objects.exists()
    # Confirming what is shown now works.
    assert _buy(client, store).status_code == 302
    assert Order.objects.get().total_minor == 5929
    # A forged signature is a conflict too.
    forged = client.post(
        _url("checkout", store, store.paid_tier),
        {"action": "confirm", "accept_licence": "on", "signature": "0" * 32},
    )
    assert forged.status_code == 409


def test_the_same_idempotency_key_twice_places_one_order(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    client = signed_in(carol)
    shown = _checkout_form(client, store)
    data = {
        "action": "confirm",
        "accept_licence": "on",
        "signature": shown["signature"],
        "idempotency_key": shown["idempotency_key"],
    }
    url = _url("checkout", store, store.paid_tier)
    first, second = client.post(url, data), client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Order.objects.count() == 1 and Invoice.objects.count() == 1
    assert IdempotencyKey.objects.filter(key=shown["idempotency_key"]).count() == 1
    # Every rendering of the page has a key of its own.
    assert _checkout_form(client, store)["idempotency_key"] != shown["idempotency_key"]


def test_confirming_needs_the_licence(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    client = signed_in(carol)
    shown = _checkout_form(client, store)
    response = client.post(
        _url("checkout", store, store.paid_tier),
        {"action": "confirm", "signature": shown["signature"]},
    )
    assert response.status_code == 400
    assert "Accept the licence agreement to continue." in _text(response)
    assert not Order.objects.exists()


# --- the library, cancelling -------------------------------------------------------------------


def test_a_paid_subscription_shows_both_tags_and_cancels_at_period_end(store: Store) -> None:
    carol = customer()
    order = _paid_order(store, carol)
    sub = order.subscription
    sub.refresh_from_db()
    client = signed_in(carol)
    entry = _text(client.get(reverse("library_subscription", args=[sub.pk])))
    assert f"docker pull {HOST}/acme/db:2.0" in entry
    assert f"Renews on {sub.current_period_end.date().isoformat()}" in entry
    assert order.invoice.number in entry
    url = reverse("subscription_cancel", args=[sub.pk])
    confirm = _text(client.get(url))
    assert "will not renew" in confirm and sub.current_period_end.date().isoformat() in confirm
    done = client.post(url)
    assert done.status_code == 302
    sub.refresh_from_db()
    assert sub.cancel_at_period_end and sub.status == SubscriptionStatus.ACTIVE
    entry = _text(client.get(reverse("library_subscription", args=[sub.pk])))
    assert f"Ends on {sub.current_period_end.date().isoformat()}" in entry


def test_cancelling_a_free_tier_ends_it_now(store: Store) -> None:
    carol = customer()
    client = signed_in(carol)
    client.post(_url("take_tier", store, store.free_tier), {"accept_licence": "on"})
    sub = Subscription.objects.get()
    url = reverse("subscription_cancel", args=[sub.pk])
    assert "The subscription ends now" in _text(client.get(url))
    assert client.post(url).status_code == 302
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELLED
    library = _text(client.get(reverse("library")))
    assert "Ended on" in library and "docker pull" not in library


def test_notifications_are_turned_off_and_on(store: Store) -> None:
    carol = customer()
    client = signed_in(carol)
    client.post(_url("take_tier", store, store.free_tier), {"accept_licence": "on"})
    sub = Subscription.objects.get()
    url = reverse("library_subscription", args=[sub.pk])
    assert client.post(url, {"notifications": "off"}).status_code == 302
    sub.refresh_from_db()
    assert not sub.notifications
    client.post(url, {"notifications": "on"})
    sub.refresh_from_db()
    assert sub.notifications


# --- invoices ----------------------------------------------------------------------------------


def test_invoices_as_html_and_pdf_for_who_may_see_them(store: Store) -> None:
    carol = customer()
    order = _paid_order(store, carol)
    number = order.invoice.number
    html, pdf = reverse("invoice_detail", args=[number]), reverse("invoice_pdf", args=[number])
    for user in (carol, store.pub.owner, store.pub.editor, store.pub.admin):
        page = signed_in(user).get(html)
        assert page.status_code == 200, user
        assert number in _text(page) and "EUR 58.31" in _text(page)
        assert "Pay EUR" not in _text(page)  # paid: no instructions
        document = signed_in(user).get(pdf)
        assert document.status_code == 200
        assert document["Content-Type"] == "application/pdf"
        assert document["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
        assert document.content.startswith(b"%PDF") and len(document.content) > 1000
    for user in (customer("dave"), store.pub.viewer, store.pub.other, store.pub.moderator):
        assert signed_in(user).get(html).status_code == 404, user
        assert signed_in(user).get(pdf).status_code == 404, user
    assert (
        signed_in(carol).get(reverse("invoice_detail", args=["PS-1999-000001"])).status_code == 404
    )
    anonymous = Client().get(pdf)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_a_customer_never_sees_another_customers_orders(store: Store) -> None:
    carol, dave = customer(), customer("dave")
    order = _paid_order(store, carol)
    sub = order.subscription
    client = signed_in(dave)
    for url in (
        reverse("library_subscription", args=[sub.pk]),
        reverse("subscription_cancel", args=[sub.pk]),
        reverse("invoice_detail", args=[order.invoice.number]),
        reverse("invoice_pdf", args=[order.invoice.number]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("subscription_cancel", args=[sub.pk])).status_code == 404
    assert order.invoice.number not in _text(client.get(reverse("billing_home")))
    assert "Acme Database" not in _text(client.get(reverse("library")))
    own = _text(signed_in(carol).get(reverse("billing_home")))
    assert order.invoice.number in own and "EUR 58.31" in own


# --- a publisher's sales and refunds -----------------------------------------------------------


def test_the_sales_page_shows_orders_subscriptions_owed_and_pulls(store: Store) -> None:
    carol = customer()
    order = _paid_order(store, carol)
    PullRecord.objects.create(
        user_id=carol.pk, username=carol.username, subscription=order.subscription,
        product=store.product, publisher_id=store.pub.org.pk, tier_name="Business", paid=True,
        repository="acme/db", tag="2.0", digest=store.pub.digest, pulled_at=clock.now(),
    )  # fmt: skip
    url = reverse("sales", args=["acme"])
    text = _text(signed_in(store.pub.owner).get(url))
    assert order.invoice.number in text
    assert "EUR 49.00" in text and "EUR 9.31" in text and "EUR 9.80" in text  # net, tax, share
    assert "EUR 39.20" in text  # owed: the net less the store's 20%
    assert "Acme Database · Business" in text
    assert "acme/db:2.0" in text and carol.username in text
    assert reverse("order_refund", args=["acme", order.pk]) in text
    editor = _text(signed_in(store.pub.editor).get(url))
    assert order.invoice.number in editor
    assert reverse("order_refund", args=["acme", order.pk]) not in editor  # owners refund
    assert signed_in(store.pub.viewer).get(url).status_code == 403
    assert signed_in(carol).get(url).status_code == 404


def test_a_publisher_sees_only_its_own_sales(store: Store) -> None:
    pub = store.pub
    complete_profile(pub.other_org)
    push_image(pub.other_repository, "1.0", seed="secret")
    product = catalog.create_product(
        organization=pub.other_org, name="Globex Vault", acting=pub.other, origin=TEST_ORIGIN
    )
    catalog.update_product(
        product=product, acting=pub.other, origin=TEST_ORIGIN, short_description="A vault.",
        category="databases", long_description="Vault.", support_email="s@globex.example.com",
        license_url="https://globex.example.com/licence", platforms=["community"],
        install_instructions="Pull it.",
    )  # fmt: skip
    from tests.moderation.world import png

    catalog.set_icon(product=product, data=png(256, 256), acting=pub.other, origin=TEST_ORIGIN)
    catalog.set_source(
        product=product, repository="globex/secret", tags=["1.0"], acting=pub.other,
        origin=TEST_ORIGIN,
    )  # fmt: skip
    catalog.save_tier(
        product=product, name="Pro", price="10.00", currency="EUR", billing_period="yearly",
        access=[("globex/secret", ["1.0"])], acting=pub.other, origin=TEST_ORIGIN,
    )  # fmt: skip
    listing = publish(pub, product)
    carol = customer()
    billed(carol, "DE")
    tier = product.tiers.get().pk
    offer = services.quote(listing=listing, tier_id=tier, profile=billed(carol, "DE"))
    theirs = services.checkout(
        listing=listing, tier_id=tier, user=carol, accept_licence=True,
        signature=offer.signature, origin=TEST_ORIGIN,
    )  # fmt: skip
    ours = _paid_order(store, customer("dave"))
    acme = _text(signed_in(pub.owner).get(reverse("sales", args=["acme"])))
    assert ours.invoice.number in acme and theirs.invoice.number not in acme
    assert "Globex Vault" not in acme
    globex = _text(signed_in(pub.other).get(reverse("sales", args=["globex"])))
    assert theirs.invoice.number in globex and ours.invoice.number not in globex
    assert signed_in(pub.other).get(reverse("sales", args=["acme"])).status_code == 404
    assert signed_in(pub.owner).get(reverse("sales", args=["globex"])).status_code == 404
    # Nor another publisher's invoice or refund page.
    assert (
        signed_in(pub.other).get(reverse("invoice_detail", args=[ours.invoice.number])).status_code
        == 404
    )
    assert (
        signed_in(pub.other).get(reverse("order_refund", args=["globex", ours.pk])).status_code
        == 404
    )


def test_the_publisher_refunds_part_then_the_rest(store: Store) -> None:
    carol = customer()
    order = _paid_order(store, carol)
    owner = signed_in(store.pub.owner)
    url = reverse("order_refund", args=["acme", order.pk])
    page = _text(owner.get(url))
    assert "EUR 58.31" in page and "Left to refund" in page
    bad = owner.post(url, {"amount": "10.001", "reason": "goodwill"})
    assert bad.status_code == 400 and "EUR amounts have at most 2 decimal places." in _text(bad)
    no_reason = owner.post(url, {"amount": "10"})
    assert no_reason.status_code == 400 and "Say why the order is refunded." in _text(no_reason)
    too_much = owner.post(url, {"amount": "100", "reason": "x"})
    assert too_much.status_code == 400 and "At most EUR 58.31 is left to refund." in _text(too_much)
    assert signed_in(store.pub.editor).post(url, {"amount": "1", "reason": "x"}).status_code == 403

    part = owner.post(url, {"amount": "10.00", "reason": "goodwill"})
    assert part.status_code == 302 and part["Location"] == reverse("sales", args=["acme"])
    order.refresh_from_db()
    assert order.refunded_minor == 1000
    assert order.subscription.status == SubscriptionStatus.ACTIVE
    rest = owner.post(url, {"amount": "", "reason": "did not work for them"})
    assert rest.status_code == 302
    order.refresh_from_db()
    order.subscription.refresh_from_db()
    assert order.refunded_minor == order.total_minor
    assert order.subscription.status == SubscriptionStatus.REFUNDED
    assert ledger.verify().ok and ledger.owed_to(store.pub.org.pk) == {}
    sales = _text(owner.get(reverse("sales", args=["acme"])))
    assert "did not work for them" in sales and "goodwill" in sales
    invoice = _text(signed_in(carol).get(reverse("invoice_detail", args=[order.invoice.number])))
    assert "Refund of EUR 10.00" in invoice
    assert "Everything paid has been refunded." in _text(owner.get(url))


def test_publishers_mark_orders_paid_only_when_the_store_allows_it(
    store: Store, settings: Any
) -> None:
    carol = customer()
    billed(carol, "DE")
    _buy(signed_in(carol), store)
    order = Order.objects.get()
    url = reverse("publisher_mark_paid", args=["acme", order.pk])
    owner = signed_in(store.pub.owner)
    assert owner.post(url).status_code == 403
    settings.COMMERCE_PUBLISHER_MARKS_PAID = True
    assert "Mark paid" in _text(owner.get(reverse("sales", args=["acme"])))
    assert signed_in(store.pub.editor).post(url).status_code == 403
    assert owner.post(url, {"reference": "TRF-1"}).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.provider_ref == "TRF-1"


# --- the store team ----------------------------------------------------------------------------


def test_the_store_marks_a_transfer_paid_and_reads_the_ledger(store: Store) -> None:
    carol = customer()
    billed(carol, "DE")
    _buy(signed_in(carol), store)
    order = Order.objects.get()
    admin = signed_in(store.pub.admin)
    listing = admin.get(reverse("staff_orders"), {"status": "open", "publisher": "acme"})
    assert listing.status_code == 200
    assert order.invoice.number in _text(listing) and "Mark paid" in _text(listing)
    assert order.invoice.number not in _text(admin.get(reverse("staff_orders"), {"status": "paid"}))
    assert order.invoice.number not in _text(
        admin.get(reverse("staff_orders"), {"publisher": "globex"})
    )
    done = admin.post(reverse("staff_mark_paid", args=[order.pk]), {"reference": "BANK-42"})
    assert done.status_code == 302 and done["Location"] == reverse("staff_order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    detail = _text(admin.get(done["Location"]))
    for expected in ("charge #", "payment #", "Customer receivable", "Publisher payable",
                     "publisher acme", "Germany", "EUR 58.31", "BANK-42"):  # fmt: skip
        assert expected in detail, expected
    ledger_page = _text(admin.get(reverse("ledger_page")))
    assert "The ledger checks out" in ledger_page and "EUR 39.20" in ledger_page
    # The store team refunds too.
    refund = reverse("staff_refund", args=[order.pk])
    assert admin.get(refund).status_code == 200
    assert admin.post(refund, {"amount": "5", "reason": "late start"}).status_code == 302
    order.refresh_from_db()
    assert order.refunded_minor == 500
    assert signed_in(store.pub.moderator).get(reverse("staff_orders")).status_code == 403


def test_the_store_adds_a_tax_rate(store: Store) -> None:
    admin = signed_in(store.pub.admin)
    url = reverse("tax_rates")
    page = _text(admin.get(url))
    assert "Germany" in page and "19%" in page
    bad = admin.post(url, {"country": "AT", "rate": "twenty", "starts_on": "2026-01-01"})
    assert bad.status_code == 400 and "A percentage such as 19 or 7.5." in _text(bad)
    unknown = admin.post(url, {"country": "XX", "rate": "20", "starts_on": "2026-01-01"})
    assert unknown.status_code == 400
    done = admin.post(
        url, {"country": "AT", "rate": "20", "starts_on": "2026-01-01", "name": "USt"}
    )
    assert done.status_code == 302
    rate = TaxRate.objects.get(country="AT")
    assert (rate.rate_bp, rate.name, rate.created_by) == (2000, "USt", store.pub.admin)
    assert "Austria" in _text(admin.get(url))


def test_the_store_sets_a_share_and_records_a_payout(store: Store) -> None:
    _paid_order(store, customer())
    admin = signed_in(store.pub.admin)
    url = reverse("revenue_shares")
    page = _text(admin.get(url))
    assert "20%" in page and "EUR 39.20" in page
    assert (
        admin.post(url, {"action": "share", "publisher": "ghost", "share": "10"}).status_code == 400
    )
    assert (
        admin.post(url, {"action": "share", "publisher": "acme", "share": "15"}).status_code == 302
    )
    assert PublisherTerms.objects.get(organization=store.pub.org).share_bp == 1500
    too_much = admin.post(
        url, {"action": "payout", "publisher": "acme", "currency": "EUR", "amount": "100"}
    )
    assert too_much.status_code == 400 and "at most what is owed" in _text(too_much)
    paid = admin.post(
        url,
        {"action": "payout", "publisher": "acme", "currency": "EUR", "amount": "39.20",
         "memo": "March"},
    )  # fmt: skip
    assert paid.status_code == 302
    assert ledger.owed_to(store.pub.org.pk) == {}
    assert admin.post(url, {"action": "share", "publisher": "acme", "share": ""}).status_code == 302
    assert not PublisherTerms.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["staff_orders", "tax_rates", "revenue_shares", "ledger_page", "library", "billing_home"],
)
def test_the_pages_without_arguments_render_empty(store: Store, name: str) -> None:
    assert signed_in(store.pub.admin).get(reverse(name)).status_code == 200


def test_security_notices_are_offered_once_per_product_in_the_library(store: Store) -> None:
    """Notices are chosen per product: with a free and a paid tier of it, the library offers
    the choice on one card and says so on the other."""
    carol = customer()
    services.take_free_tier(
        listing=store.listing,
        tier_id=store.free_tier,
        user=carol,
        accept_licence=True,
        origin=TEST_ORIGIN,
    )
    pay(store, carol)
    library = _text(signed_in(carol).get(reverse("library")))
    assert library.count("<h3>Security notices</h3>") == 2
    assert library.count("Security notices for Acme Database") == 1
    assert "Chosen for Acme Database as a whole: see its first tier above." in library
