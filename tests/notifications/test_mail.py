"""Mail from the policy context's events: who is told of what, once, and what a customer
never reads; digests; one-click unsubscribe."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from portside.notifications import services, tokens
from portside.notifications.models import Channel, Mode, Notification, Preference, State
from tests.notifications.conftest import (
    Mailbox,
    World,
    clock_payload,
    held_payload,
    pulled,
    text_of,
)

OWNER, EDITOR, VIEWER = "pub-owner@", "pub-editor@", "pub-viewer@"


def subject(message: Any) -> str:
    return " ".join(str(message["Subject"]).split())


def _link(message: Any) -> str:
    header = str(message["List-Unsubscribe"])
    match = re.fullmatch(r"<(https://store\.example\.com/notifications/unsubscribe/\S+)>", header)
    assert match, header
    return match.group(1)


def test_a_new_finding_is_mailed_to_owners_and_editors_once(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    payload = clock_payload(world)
    emit("policy:clock:started", **payload)
    emit("policy:clock:started", **payload)  # delivered again
    owner = mailbox.to(OWNER)
    assert len(owner) == 1 and len(mailbox.to(EDITOR)) == 1
    assert mailbox.to(VIEWER) == []  # viewers only once they ask
    assert mailbox.to("payer@") == [] and mailbox.to("freeloader@") == []
    mail = owner[0]
    assert subject(mail).startswith("[Portside] Critical finding in Acme Database")
    body = text_of(mail)
    for words in ("CVE-2026-1234", "openssl", "acme/db:1.0", world.digest, "2026-12-04 10:00 UTC"):
        assert words in body
    assert "installed 3.0.1-1; fixed in 3.0.2-1" in body
    assert "https://store.example.com/orgs/acme/products/" in body
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    _link(mail)
    rows = Notification.objects.filter(event="policy:clock:started")
    assert rows.count() == 2 and set(rows.values_list("state", flat=True)) == {State.SENT}


def test_reminders_stops_and_reviews_reach_publishers(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    base = clock_payload(world)
    emit("policy:clock:reminder", **base, reminder="half")
    emit("policy:clock:reminder", **base, reminder="day")
    emit("policy:clock:reminder", **base, reminder="day")
    stopped = {k: base[k] for k in ("clock_id", "product_id", "organization_id", "product")}
    emit(
        "policy:clock:stopped",
        **stopped,
        advisory_id="CVE-2026-1234",
        package="openssl",
        reason="fixed",
    )
    emit(
        "policy:vex:reviewed",
        statement_id=3,
        product_id=world.product.pk,
        organization_id=world.org.pk,
        product=world.product.name,
        advisory_id="CVE-2026-9",
        review="rejected",
        reason="The function is reachable from the entry point.",
    )
    subjects = [subject(m) for m in mailbox.to(OWNER)]
    assert len(subjects) == 4, subjects
    assert sum("Reminder" in s for s in subjects) == 2
    assert any(s.startswith("[Portside] Resolved: CVE-2026-1234 in openssl") for s in subjects)
    review = next(m for m in mailbox.to(OWNER) if "VEX" in subject(m))
    assert "rejected" in text_of(review) and "reachable from the entry point" in text_of(review)


def test_a_hold_reaches_paying_customers_who_pulled_and_never_names_the_finding(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    emit("policy:clock:started", **clock_payload(world))
    mailbox.clear()
    emit("policy:listing:held", **held_payload(world))
    emit("policy:listing:held", **held_payload(world))
    payer = mailbox.to("payer@")
    assert len(payer) == 1
    text = text_of(payer[0]) + subject(payer[0])
    assert "Acme Database" in text and "on hold" in text and "acme/db:1.0" in text
    for secret in ("CVE", "openssl", "deb", world.digest):
        assert secret not in text
    assert "https://store.example.com/products/acme/" in text
    assert mailbox.to("freeloader@") == []  # a free tier: offered, not on by default
    assert mailbox.to("bystander@") == []  # paid, but never pulled an affected image
    assert len(mailbox.to(OWNER)) == 1


def test_a_customer_who_turned_notices_on_hears_of_holds_and_one_who_turned_off_does_not(
    world: World, mailbox: Mailbox, emit: Any, client: Client
) -> None:
    client.force_login(world.freeloader)
    page = client.get("/library/").content.decode()
    assert "Security notices for Acme Database are <strong>off</strong>" in page
    turned = client.post(
        "/settings/notifications/",
        {"scope": f"product:{world.product.pk}", "mode": "immediate", "next": "/library/"},
    )
    assert turned.status_code == 302 and turned["Location"] == "/library/"
    assert "Turn off" in client.get("/library/").content.decode()
    client.force_login(world.payer)
    assert "(on while you pay for it)" in client.get("/library/").content.decode()
    client.post("/settings/notifications/", {"scope": f"product:{world.product.pk}", "mode": "off"})
    emit("policy:listing:held", **held_payload(world))
    assert len(mailbox.to("freeloader@")) == 1
    assert mailbox.to("payer@") == []


def test_released_tells_whoever_was_told_of_that_hold(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    emit("policy:listing:held", **held_payload(world, hold_id=7))
    later = pulled  # someone who pulls after the hold is not told it was lifted
    later(world.store, world.bystander)
    released = {
        "hold_id": 7,
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "held_since": "2026-12-01T10:00:00+00:00",
        "lifted_at": "2026-12-03T09:00:00+00:00",
    }
    mailbox.clear()
    emit("policy:listing:released", **released)
    emit("policy:listing:released", **released)
    assert len(mailbox.to("payer@")) == 1
    assert "no longer on hold" in subject(mailbox.to("payer@")[0])
    assert len(mailbox.to(OWNER)) == 1 and len(mailbox.to(EDITOR)) == 1
    assert mailbox.to("bystander@") == [] and mailbox.to("freeloader@") == []
    emit("policy:listing:released", **dict(released, hold_id=8))  # a hold nobody was told of
    assert len(mailbox.to("payer@")) == 1


def test_revoked_then_reinstated(world: World, mailbox: Mailbox, emit: Any) -> None:
    revoked = {
        "hold_id": 9,
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "revoked_at": "2026-12-31T10:00:00+00:00",
        "pull_until": "2027-01-30T10:00:00+00:00",
        "affected": held_payload(world)["affected"],
    }
    emit("policy:listing:revoked", **revoked)
    mail = mailbox.to("payer@")
    assert len(mail) == 1 and "revoked" in subject(mail[0])
    assert "until 2027-01-30 10:00 UTC" in text_of(mail[0])
    # A revocation changes what every customer may pull: those who never pulled an
    # affected image, or have notices off by default (a free tier), are told too.
    for name in ("bystander@", "freeloader@"):
        told = mailbox.to(name)
        assert [subject(m) for m in told] == [
            "[Portside] Security notice: Acme Database is revoked"
        ]
    reinstated = {
        "product_id": world.product.pk,
        "organization_id": world.org.pk,
        "product": world.product.name,
        "reason": "Fixed images were pushed.",
    }
    emit("policy:listing:reinstated", **reinstated)
    emit("policy:listing:reinstated", **reinstated)
    subjects = [subject(m) for m in mailbox.to("payer@")]
    assert subjects[1:] == ["[Portside] Security notice: Acme Database is reinstated"]
    assert sum("reinstated" in subject(m) for m in mailbox.to(OWNER)) == 1


def test_the_digest_gathers_a_day_into_one_mail(
    world: World, mailbox: Mailbox, emit: Any, django_capture_on_commit_callbacks: Any
) -> None:
    owner = world.store.pub.owner
    Preference.objects.create(
        user=owner, organization=world.org, mode=Mode.DIGEST, updated_at=world.org.created_at
    )
    emit("policy:clock:started", **clock_payload(world, clock_id=1))
    emit("policy:clock:started", **dict(clock_payload(world, clock_id=2), advisory_id="CVE-2"))
    assert mailbox.to(OWNER) == []
    assert len(mailbox.to(EDITOR)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_digests() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert services.send_digests() == 0  # nothing new
    digest = mailbox.to(OWNER)
    assert len(digest) == 1
    assert subject(digest[0]) == "[Portside] Your daily digest: 2 notices"
    assert "CVE-2026-1234" in text_of(digest[0]) and "CVE-2 in openssl" in text_of(digest[0])
    # Its one-click link turns the digest off: the next finding is not collected.
    assert Client().post(_link(digest[0]).split("store.example.com")[1]).status_code == 200
    assert Preference.objects.get(user=owner, organization=world.org).mode == Mode.OFF
    emit("policy:clock:started", **clock_payload(world, clock_id=3))
    assert not Notification.objects.filter(user=owner, key__contains="clock:3").exists()


def test_one_click_unsubscribe_needs_no_session_or_csrf(
    world: World, mailbox: Mailbox, emit: Any
) -> None:
    emit("policy:clock:started", **clock_payload(world, clock_id=1))
    link = _link(mailbox.to(EDITOR)[0])
    path = link.split("store.example.com")[1]
    client = Client(enforce_csrf_checks=True)
    confirm = client.get(path)
    assert confirm.status_code == 200 and "Unsubscribe" in confirm.content.decode()
    editor = world.store.pub.editor
    assert not Preference.objects.filter(user=editor).exists()  # a GET changes nothing
    for _ in range(2):  # the same link twice: still unsubscribed, still fine
        done = client.post(
            path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert done.status_code == 200
    assert Preference.objects.get(user=editor, organization=world.org).mode == Mode.OFF
    emit("policy:clock:started", **clock_payload(world, clock_id=2))
    assert len(mailbox.to(EDITOR)) == 1 and len(mailbox.to(OWNER)) == 2


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        "eyJ1IjoxLCJzIjoib3JnOjEifQ:1abc:forgedsignature",
        "x" * 5000,
        "%00%0a",
        "..%2f..%2fetc",
        "eyJ1IjoxfQ",
    ],
)
def test_hostile_unsubscribe_tokens_change_nothing(world: World, token: str) -> None:
    client = Client()
    for method in (client.get, client.post):
        response = method(f"/notifications/unsubscribe/{token}")
        assert response.status_code in (400, 404)
    assert not Preference.objects.exists()


def test_a_token_for_another_scope_or_a_tampered_one_is_refused(world: World) -> None:
    good = tokens.make(world.payer.pk, f"product:{world.product.pk}")
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    assert Client().post(f"/notifications/unsubscribe/{tampered}").status_code == 400
    with pytest.raises(ValueError):
        tokens.make(world.payer.pk, "org:1; DROP TABLE")
    world.payer.is_active = False
    world.payer.save()
    assert Client().post(f"/notifications/unsubscribe/{good}").status_code == 400
    assert not Preference.objects.exists()


def test_a_mail_server_that_fails_is_tried_again_later(
    world: World, mailbox: Mailbox, emit: Any, settings: Any, deferred: list[Any]
) -> None:
    from tests.notifications.conftest import run_deferred
    from tests.servers import free_port

    good = settings.MAILERS
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }
    emit("policy:clock:started", **clock_payload(world))
    rows = Notification.objects.filter(channel=Channel.MAIL)
    assert set(rows.values_list("state", flat=True)) == {State.RETRYING}
    assert len(deferred) == rows.count() == 2
    settings.MAILERS = good
    run_deferred(deferred)
    assert set(rows.values_list("state", flat=True)) == {State.SENT}
    assert len(mailbox.to(OWNER)) == 1


def test_the_settings_page_lists_organisations_and_products(world: World, client: Client) -> None:
    client.force_login(world.store.pub.viewer)
    page = client.get("/settings/notifications/").content.decode()
    assert "acme" in page and "(default)" in page
    assert (
        client.post("/settings/notifications/", {"scope": "org:acme", "mode": "digest"}).status_code
        == 302
    )
    assert Preference.objects.get(user=world.store.pub.viewer).mode == Mode.DIGEST
    client.force_login(world.payer)
    page = client.get("/settings/notifications/").content.decode()
    assert "Acme Database (acme)" in page and "acme</td>" not in page


@pytest.mark.parametrize(
    "data, status",
    [
        ({"scope": "org:globex", "mode": "off"}, 404),  # not a member
        ({"scope": "org:nope", "mode": "off"}, 404),
        ({"scope": "product:999999", "mode": "off"}, 404),
        ({"scope": "product:1e3", "mode": "off"}, 400),
        ({"scope": "product:" + "9" * 40, "mode": "off"}, 400),
        ({"scope": "user:1", "mode": "off"}, 400),
        ({"scope": "org:acme", "mode": "loud"}, 400),
        ({"scope": "x" * 100000, "mode": "off"}, 400),
        ({"mode": "off"}, 400),
    ],
)
def test_hostile_settings_are_refused(
    world: World, client: Client, data: dict[str, str], status: int
) -> None:
    client.force_login(world.store.pub.viewer)
    assert client.post("/settings/notifications/", data).status_code == status
    assert not Preference.objects.exists()


def test_next_never_leaves_the_site(world: World, client: Client) -> None:
    client.force_login(world.payer)
    answer = client.post(
        "/settings/notifications/",
        {"scope": f"product:{world.product.pk}", "mode": "off", "next": "https://evil.example/"},
    )
    assert answer["Location"] == "/settings/notifications/"


def test_a_try_lost_with_its_worker_is_queued_again_by_the_sweep(
    world: World, mailbox: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    import datetime as dt

    from portside.core import clock

    # Recorded, and the tries queued, but never run: the worker that took them died.
    assert services.announce("policy:clock:started", "clock:11", clock_payload(world)) == 2
    rows = Notification.objects.filter(channel=Channel.MAIL)
    assert rows.count() == 2 and mailbox.messages == []
    assert services.sweep() == 0  # not lost yet
    later = clock.now() + dt.timedelta(minutes=20)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep(later) == 2
    assert len(mailbox.to(OWNER)) == 1 and len(mailbox.to(EDITOR)) == 1
    assert set(rows.values_list("state", flat=True)) == {State.SENT}
    assert services.sweep(later + dt.timedelta(hours=1)) == 0


def test_every_revocation_and_reinstatement_is_told(
    world: World, mailbox: Mailbox, django_capture_on_commit_callbacks: Any
) -> None:
    """The security team revokes a listing that was never on hold, reinstates it, and does
    both again: each step is news, to the product's own customers only. (Revocations used
    to be known by the product's last hold, so the second one, and every revocation of a
    product never held, shared a key and was not sent.)"""
    from portside.policy import services as policy
    from tests.commerce.world import publish
    from tests.factories import TEST_ORIGIN

    other = publish(world.store.pub, world.store.pub.ready_product("Acme Cache")).product
    admin = world.store.pub.admin
    for step in range(2):
        for product in (world.product, other):
            with django_capture_on_commit_callbacks(execute=True):
                policy.revoke(product=product, reason=f"r{step}", acting=admin, origin=TEST_ORIGIN)
        with django_capture_on_commit_callbacks(execute=True):
            policy.reinstate(
                product=world.product, reason=f"f{step}", acting=admin, origin=TEST_ORIGIN
            )
        with django_capture_on_commit_callbacks(execute=True):
            policy.reinstate(product=other, reason=f"f{step}", acting=admin, origin=TEST_ORIGIN)
    subjects = [subject(m) for m in mailbox.to("payer@")]
    assert (
        subjects
        == [
            "[Portside] Security notice: Acme Database is revoked",
            "[Portside] Security notice: Acme Database is reinstated",
        ]
        * 2
    )
    owner = [subject(m) for m in mailbox.to(OWNER)]
    for name in ("Acme Database", "Acme Cache"):
        assert sum(f"{name} is revoked" in s for s in owner) == 2, owner
        assert sum(f"{name} is reinstated" in s for s in owner) == 2, owner
