"""The vulnerability SLA through a real browser and a real SMTP server, time moved by the
injected clock: a publisher told of a critical finding, the listing held at 72 hours
(the label on the product page and in search, mail to the customer who pulled), the hold
lifted by a fixed image, then a second finding left overdue until the listing is revoked
30 days later; the publisher's security page, the customer's notification setting and the
security team's console along the way. Screenshots: ``test-artifacts/screenshots/sla-*``."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from portside.commerce import services as commerce
from portside.commerce.models import PullRecord
from portside.core import clock
from portside.policy import services as policy
from tests.commerce.world import build_store
from tests.e2e.conftest import Mailbox, body_of
from tests.factories import TEST_ORIGIN
from tests.moderation.world import ensure_categories
from tests.policy.world import CRITICAL, MINOR, retag, scanned

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def _signed_in(browser: Any, live_server: Any, user: Any) -> Any:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    if user is not None:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
        context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
        )
    return context.new_page()


def _text(page: Any) -> str:
    return " ".join(page.inner_text("main").split())


@pytest.mark.django_db(transaction=True)
def test_hold_lift_and_revocation_as_each_side_sees_them(
    live_server: Any, browser: Any, smtp_server: Mailbox, screenshots: Any
) -> None:
    ensure_categories()
    with clock.frozen(START) as time:
        store = build_store()
        pub, product = store.pub, store.product
        carol = pub.customer
        commerce.take_free_tier(
            listing=store.listing,
            tier_id=store.free_tier,
            user=carol,
            accept_licence=True,
            origin=TEST_ORIGIN,
        )
        PullRecord.objects.create(
            user_id=carol.pk,
            username=carol.username,
            product=product,
            publisher_id=pub.org.pk,
            tier_name="Community",
            paid=False,
            repository=pub.repository.name,
            tag="1.0",
            digest=pub.digest,
            pulled_at=clock.now(),
        )
        customer = _signed_in(browser, live_server, carol)
        publisher = _signed_in(browser, live_server, pub.owner)
        security = _signed_in(browser, live_server, pub.admin)
        anonymous = _signed_in(browser, live_server, None)

        # The customer turns security notices on from the library (free tier: off).
        customer.goto(live_server.url + "/library/")
        customer.get_by_role("button", name="Turn on").first.click()
        customer.wait_for_load_state()
        assert "Security notices for Acme Database: immediate" in _text(customer).replace(
            "Immediate", "immediate"
        )
        screenshots(customer, "sla-customer-library")

        # A critical finding: the publisher is told, with the deadline.
        scanned(pub.repository, pub.digest, [CRITICAL, MINOR])
        started = smtp_server.wait_for(pub.owner.email, "Critical finding in Acme Database")
        assert "2026-03-05 09:00" in body_of(started)
        publisher.goto(live_server.url + "/orgs/acme/security/")
        page = _text(publisher)
        assert "CVE-2026-0001" in page and "The listing goes on hold on 2026-03-05 09:00" in page
        screenshots(publisher, "sla-publisher-running")

        # 72 hours later the listing is on hold: the label, the mails.
        time.advance(hours=72)
        assert policy.sweep()["held"] == 1
        held = smtp_server.wait_for(carol.email, "Security notice: Acme Database is on hold")
        assert f"{pub.repository.name}:1.0" in body_of(held)
        assert not re.search(r"CVE-|jinja2", body_of(held) + str(held["Subject"]))
        assert held["List-Unsubscribe"] and "One-Click" in held["List-Unsubscribe-Post"]
        smtp_server.wait_for(pub.owner.email, "Acme Database is on hold")
        anonymous.goto(live_server.url + f"/products/acme/{product.slug}")
        assert "Security fixes overdue since 2026-03-05 09:00 UTC." in _text(anonymous)
        assert not re.search(r"CVE-|jinja2", anonymous.content())
        screenshots(anonymous, "sla-product-on-hold")
        anonymous.goto(live_server.url + "/search?q=database")
        assert "Security fixes overdue since 2026-03-05" in _text(anonymous)
        screenshots(anonymous, "sla-search-on-hold")
        security.goto(live_server.url + "/staff/security/listings/")
        assert "Acme Database" in _text(security)
        screenshots(security, "sla-console-listings-held")
        security.goto(live_server.url + "/staff/security/?vulnerability=CVE-2026-0001")
        assert "CVE-2026-0001" in _text(security)
        screenshots(security, "sla-console-findings")

        # A fixed image on both tags, scanned: the hold lifts by itself.
        time.advance(hours=5)
        fixed = retag(pub.repository, "1.0", "2.0", seed="fixed")
        scanned(pub.repository, fixed, [MINOR])
        smtp_server.wait_for(carol.email, "Acme Database is no longer on hold")
        anonymous.goto(live_server.url + f"/products/acme/{product.slug}")
        assert "Security fixes overdue" not in _text(anonymous)

        # A second critical finding is left overdue: hold, then revocation 30 days on.
        scanned(pub.repository, fixed, [{**CRITICAL, "advisory": "CVE-2026-0009"}])
        time.advance(hours=72)
        policy.sweep()
        time.advance(days=30)
        assert policy.sweep()["revoked"] == 1
        revoked = smtp_server.wait_for(carol.email, "Security notice: Acme Database is revoked")
        assert "until 2026-05-07 14:00 UTC" in body_of(revoked)  # 30 more days of pulls
        smtp_server.wait_for(pub.owner.email, "Acme Database is revoked")
        response = anonymous.goto(live_server.url + f"/products/acme/{product.slug}")
        assert response is not None and response.status == 404
        anonymous.goto(live_server.url + "/search?q=database")
        assert "Acme Database" not in _text(anonymous)
        publisher.goto(live_server.url + "/orgs/acme/security/")
        assert "Revoked" in _text(publisher)
        screenshots(publisher, "sla-publisher-revoked")
        security.goto(live_server.url + "/staff/security/listings/")
        page = _text(security)
        assert "Revoked" in page or "revoked" in page
        screenshots(security, "sla-console-listings-revoked")
        security.goto(live_server.url + "/staff/security/trend/")
        screenshots(security, "sla-console-trend")
