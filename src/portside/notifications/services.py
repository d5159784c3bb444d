"""The notifications' use cases: record who is told of an event (once, however often
the event arrives), send each notice by mail or webhook with retries, gather the daily
digests, manage organisations' webhook endpoints, and unsubscribe in one click."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.urls import reverse

from portside.accounts import permissions
from portside.accounts.models import Organization, User
from portside.audit import services as audit
from portside.catalog.models import Product
from portside.core import clock
from portside.core.errors import NotFound, PermissionDenied, ValidationFailed
from portside.core.origin import Origin
from portside.notifications import preferences, texts, tokens, webhooks
from portside.notifications.models import (
    Audience,
    Channel,
    Mode,
    Notification,
    PrunedKey,
    State,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

HELD = "policy:listing:held"
RELEASED = "policy:listing:released"
REVOKED = "policy:listing:revoked"
REINSTATED = "policy:listing:reinstated"
TEST = "notifications:webhook:test"
DIGEST = "notifications:digest:daily"
WEBHOOK_EVENTS = tuple(texts.PUBLISHER)
# Waits before the 2nd, 3rd... try of a notice that failed; the last one repeats.
BACKOFF_SECONDS = (60, 300, 1800, 7200, 21600)
# A notice claimed this long ago and not finished (its worker died) is tried again.
STALE = dt.timedelta(minutes=15)
MAX_ENDPOINTS = 20
QUEUE = "events"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class Planned:
    user: User
    mode: str
    audience: str
    scope: str
    message: texts.Message


# --- who is told of an event -----------------------------------------------------------------


def announce(event: str, key: str, payload: dict[str, Any]) -> int:
    """Record the notices of one event and queue those sent now; returns how many were
    new. ``key`` identifies the event (a clock, a hold...): with the recipient it is the
    notice's unique key, so an event delivered again adds nothing."""
    org_id = _int(payload.get("organization_id"))
    product_id = _int(payload.get("product_id"))
    if org_id is None:
        raise ValueError(f"{event} without an organisation id")
    people = _people(event, payload, org_id, product_id)
    made = 0
    with transaction.atomic():
        for person in people:
            made += _record(
                key=f"{event}/{key}/user:{person.user.pk}",
                event=event,
                channel=Channel.MAIL if person.mode == Mode.IMMEDIATE else Channel.DIGEST,
                audience=person.audience,
                user=person.user,
                scope=person.scope,
                organization_id=org_id,
                product_id=product_id,
                hold_id=_int(payload.get("hold_id")),
                subject=person.message.subject,
                body=person.message.body,
            )
        endpoints = WebhookEndpoint.objects.filter(
            organization_id=org_id, active=True, deleted_at__isnull=True
        )
        for endpoint in endpoints:
            if event in endpoint.events:
                made += _record(
                    key=f"{event}/{key}/webhook:{endpoint.pk}",
                    event=event,
                    channel=Channel.WEBHOOK,
                    audience=Audience.PUBLISHER,
                    endpoint=endpoint,
                    organization_id=org_id,
                    product_id=product_id,
                    hold_id=_int(payload.get("hold_id")),
                    subject=event,
                    data=payload,
                )
    return made


def _people(
    event: str, payload: dict[str, Any], org_id: int, product_id: int | None
) -> list[Planned]:
    if event == RELEASED:
        return _told_again(_int(payload.get("hold_id")), event, payload)
    message = texts.PUBLISHER[event](payload)
    people = [
        Planned(user, mode, Audience.PUBLISHER, f"org:{org_id}", message)
        for user, mode in preferences.members(org_id)
    ]
    if product_id is None or event not in texts.CUSTOMER:
        return people
    if event == REINSTATED:
        last = _last_revocation(product_id)
        told = _told_again(last, event, payload) if last is not None else []
        return people + [p for p in told if p.audience == Audience.CUSTOMER]
    publishers = {p.user.pk for p in people}
    found = preferences.pullers(product_id, payload.get("affected"))
    told_anyway: set[int] = set()
    if event == REVOKED:  # it changes what every customer may pull
        told_anyway = preferences.subscribers(product_id) - publishers
        for user_id in told_anyway:
            found.setdefault(user_id, [])
    users = User.objects.in_bulk([uid for uid in found if uid not in publishers])
    for user_id, tags in sorted(found.items()):
        user = users.get(user_id)
        if user is None or not user.is_active:
            continue
        scope = f"product:{product_id}"
        mode = preferences.mode_for(user_id, scope)
        if user_id in told_anyway and preferences.explicit(user_id, scope) is None:
            mode = Mode.IMMEDIATE
        if mode != Mode.OFF:
            message = texts.CUSTOMER[event](payload, tags)
            people.append(Planned(user, mode, Audience.CUSTOMER, scope, message))
    return people


def _last_revocation(product_id: int) -> int | None:
    found = Notification.objects.filter(event=REVOKED, product_id=product_id)
    return found.order_by("-created_at", "-pk").values_list("hold_id", flat=True).first()


def _told_again(hold_id: int | None, event: str, payload: dict[str, Any]) -> list[Planned]:
    """The people told of a hold (or a revocation), for the news that it ended: by the
    channel they were told on, unless they have chosen otherwise since."""
    if hold_id is None:
        return []
    told_of = HELD if event == RELEASED else REVOKED
    rows = (
        Notification.objects.filter(event=told_of, hold_id=hold_id, user__isnull=False)
        .select_related("user")
        .order_by("pk")
    )
    people = []
    for row in rows:
        assert row.user is not None
        mode = preferences.explicit(row.user.pk, row.scope) or (
            Mode.IMMEDIATE if row.channel == Channel.MAIL else Mode.DIGEST
        )
        if mode == Mode.OFF or not row.user.is_active:
            continue
        if row.audience == Audience.CUSTOMER:
            message = texts.CUSTOMER[event](payload, [])
        else:
            message = texts.PUBLISHER[event](payload)
        people.append(Planned(row.user, mode, row.audience, row.scope, message))
    return people


def reinstated_key(payload: dict[str, Any]) -> str:
    """A reinstatement names no hold: it follows the product's last revocation told of,
    or (with none) it is known by its reason and day."""
    product_id = _int(payload.get("product_id"))
    last = _last_revocation(product_id) if product_id is not None else None
    if last is not None:
        return f"product:{product_id}/after:{last}"
    reason = hashlib.sha256(str(payload.get("reason") or "").encode()).hexdigest()[:16]
    return f"product:{product_id}/{clock.now():%Y-%m-%d}/{reason}"


class _ToldBefore(Exception):
    pass


def _record(*, key: str, channel: str, **fields: Any) -> int:
    now = clock.now()
    try:
        with transaction.atomic():
            notice = Notification.objects.create(
                key=key[:255], channel=channel, created_at=now, next_attempt_at=now, **fields
            )
            # Told so long ago that retention has deleted the notice and kept its key.
            # Looked for after the insert: a prune deleting that notice at this moment
            # has committed by then (the insert waited for it), so its key is seen.
            if PrunedKey.objects.filter(key=notice.key).exists():
                raise _ToldBefore
    except (IntegrityError, _ToldBefore):
        return 0  # told already: this event was delivered before
    if channel != Channel.DIGEST:
        _enqueue(notice.pk, attempt=1)
    return 1


def _enqueue(notification_id: int, *, attempt: int, run_after: dt.datetime | None = None) -> None:
    """Queue a try in the caller's transaction (the task table is the outbox)."""
    from portside.notifications.tasks import send

    options: dict[str, Any] = {"backend": settings.EVENTS_TASK_BACKEND, "queue_name": QUEUE}
    if run_after is not None:
        options["run_after"] = run_after
    send.using(**options).enqueue(notification_id=notification_id, attempt=attempt)


# --- sending ---------------------------------------------------------------------------------


def dispatch(notification_id: int, attempt: int) -> str:
    """Try to send one notice (the ``attempt``-th try); returns its state afterwards. A
    try already made (a task run twice) does nothing."""
    with transaction.atomic():
        notice = (
            Notification.objects.select_for_update(of=("self",))
            .select_related("user", "endpoint")
            .filter(pk=notification_id)
            .first()
        )
        if notice is None:
            return "gone"
        if notice.state not in (State.PENDING, State.RETRYING) or notice.attempts != attempt - 1:
            return str(notice.state)
        notice.attempts = attempt
        notice.next_attempt_at = clock.now() + STALE
        notice.save(update_fields=["attempts", "next_attempt_at"])
    if notice.channel == Channel.WEBHOOK:
        error, final = _send_webhook(notice, attempt)
    else:
        error, final = _send_mail(notice)
    now = clock.now()
    with transaction.atomic():
        if not error:
            notice.state, notice.sent_at, notice.next_attempt_at = State.SENT, now, None
        elif final or attempt >= settings.NOTIFICATIONS_ATTEMPTS:
            notice.state, notice.next_attempt_at = State.FAILED, None
        else:
            wait = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1]
            notice.state = State.RETRYING
            notice.next_attempt_at = now + dt.timedelta(seconds=wait)
            _enqueue(notice.pk, attempt=attempt + 1, run_after=notice.next_attempt_at)
        notice.error = error[:500]
        notice.save(update_fields=["state", "sent_at", "next_attempt_at", "error"])
    return str(notice.state)


def unsubscribe_url(user_id: int, scope: str) -> str:
    token = tokens.make(user_id, scope)
    return texts.absolute(reverse("notification_unsubscribe", args=[token]))


def scope_label(scope: str) -> str:
    kind, _, ident = scope.partition(":")
    if kind == "org":
        name = Organization.objects.filter(pk=int(ident)).values_list("name", flat=True).first()
        return f"a member of {name or 'an organisation'}"
    if kind == "product":
        name = Product.objects.filter(pk=int(ident)).values_list("name", flat=True).first()
        return f"someone who pulled {name or 'a product'}"
    return "the daily digest of your notifications"


def _send_mail(notice: Notification) -> tuple[str, bool]:
    """("", _) when sent; (error, whether trying again is pointless) otherwise."""
    user = notice.user
    if user is None or not user.email or not user.is_active:
        return "the recipient has no address", True
    link = unsubscribe_url(user.pk, notice.scope)
    message = EmailMessage(
        subject=f"[Portside] {notice.subject}",
        body=notice.body.rstrip("\n") + "\n" + texts.footer(scope_label(notice.scope), link),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    try:
        message.send()
    except Exception as exc:
        logger.warning("could not mail notice %s to %s: %s", notice.pk, user.email, exc)
        return f"{type(exc).__name__}: {exc}", False
    return "", False


def webhook_body(notice: Notification) -> bytes:
    document = {
        "id": str(notice.uid),
        "type": notice.event,
        "created_at": notice.created_at.isoformat(),
        "data": notice.data,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _send_webhook(notice: Notification, attempt: int) -> tuple[str, bool]:
    endpoint = notice.endpoint
    if endpoint is None or endpoint.deleted_at is not None:
        return "the endpoint was removed", True
    if not endpoint.active and notice.event != TEST:
        return "the endpoint is paused", True
    answer = webhooks.post(
        endpoint.url,
        webhook_body(notice),
        {"Portside-Event": notice.event, "Portside-Delivery": str(notice.uid)},
        secret=endpoint.secret,
        allow_private=settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE,
        timeout=settings.NOTIFICATIONS_WEBHOOK_TIMEOUT,
    )
    WebhookDelivery.objects.create(
        notification=notice,
        endpoint=endpoint,
        attempt=attempt,
        at=clock.now(),
        status_code=answer.status,
        error=answer.error[:300],
        duration_ms=answer.duration_ms,
    )
    return ("", False) if answer.ok else (answer.error or "failed", False)


def send_digests(now: dt.datetime | None = None) -> int:
    """Once a day: one mail per person gathering the notices they chose to read in a
    digest. Returns how many digests were queued."""
    now = now or clock.now()
    waiting = Notification.objects.filter(channel=Channel.DIGEST, state=State.PENDING)
    made = 0
    for user_id in sorted(set(waiting.values_list("user_id", flat=True))):
        with transaction.atomic():
            rows = list(
                waiting.select_for_update().filter(user_id=user_id).order_by("created_at", "pk")
            )
            if not rows:
                continue
            count = len(rows)
            digest = Notification.objects.create(
                key=f"{DIGEST}/user:{user_id}/from:{rows[0].pk}",
                event=DIGEST,
                channel=Channel.MAIL,
                audience=rows[0].audience,
                user_id=user_id,
                scope="digest",
                subject=f"Your daily digest: {count} notice{'s' if count != 1 else ''}",
                body="\n\n".join(
                    f"== {row.subject}\n({texts.when(row.created_at.isoformat())})\n\n"
                    f"{row.body.strip()}"
                    for row in rows
                ),
                created_at=now,
                next_attempt_at=now,
            )
            Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
                state=State.DIGESTED, digest=digest, sent_at=now
            )
            _enqueue(digest.pk, attempt=1)
            made += 1
    return made


def sweep(now: dt.datetime | None = None) -> int:
    """Queue again the notices whose try was lost (a worker died): due for longer than
    ``STALE``. A try already made is not made twice (``dispatch`` checks)."""
    now = now or clock.now()
    lost = Notification.objects.filter(
        state__in=[State.PENDING, State.RETRYING],
        channel__in=[Channel.MAIL, Channel.WEBHOOK],
        next_attempt_at__lt=now - STALE,
    )
    count = 0
    with transaction.atomic():
        for notice in lost.select_for_update()[:500]:
            notice.next_attempt_at = now
            notice.save(update_fields=["next_attempt_at"])
            _enqueue(notice.pk, attempt=notice.attempts + 1)
            count += 1
    return count


# --- unsubscribing ---------------------------------------------------------------------------


def unsubscribe(token: str) -> tuple[User, str]:
    """Turn off what the token names; (the person, what was turned off). The same link
    used again changes nothing more. ``tokens.BadToken`` for a forged or stale token."""
    user_id, scope = tokens.read(token)
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise tokens.BadToken("no such person")
    label = scope_label(scope)
    if scope == "digest":
        preferences.turn_off_digest(user)
        return user, label
    kind, _, ident = scope.partition(":")
    model = Organization if kind == "org" else Product
    if model.objects.filter(pk=int(ident)).exists():
        preferences.set_mode(user=user, scope=scope, mode=Mode.OFF)
    return user, label


# --- webhook endpoints -----------------------------------------------------------------------


_KEY = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")


def _events(events: Any) -> list[str]:
    if not isinstance(events, list | tuple) or len(events) > len(WEBHOOK_EVENTS):
        raise ValidationFailed("Choose the events to send.", field="events")
    chosen = [e for e in WEBHOOK_EVENTS if e in events]
    if len(chosen) != len(set(events)) or not chosen:
        raise ValidationFailed("Choose at least one of the listed events.", field="events")
    return chosen


def _description(text: Any) -> str:
    text = str(text or "").strip()
    if len(text) > 100 or any(ord(c) < 32 for c in text):
        raise ValidationFailed("A description has at most 100 characters.", field="description")
    return text


def _allowed(acting: User, organization: Organization) -> None:
    if not permissions.can_manage_webhooks(acting, organization):
        raise PermissionDenied("Only the organisation's owners manage its webhooks.")


def create_endpoint(
    *,
    organization: Organization,
    url: Any,
    events: Any,
    description: Any = "",
    creation_key: str = "",
    acting: User,
    origin: Origin,
) -> tuple[WebhookEndpoint, str | None]:
    """A new endpoint and its secret (to show once). The same ``creation_key`` again
    returns the endpoint it made, without the secret."""
    _allowed(acting, organization)
    if creation_key and not _KEY.match(creation_key):
        raise ValidationFailed("The form has expired; open the page again.")
    if creation_key:
        made = WebhookEndpoint.objects.filter(
            organization=organization, creation_key=creation_key
        ).first()
        if made is not None:
            return made, None
    checked = webhooks.check(url, allow_private=settings.NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE)
    chosen, text = _events(events), _description(description)
    live = WebhookEndpoint.objects.filter(organization=organization, deleted_at__isnull=True)
    if live.count() >= MAX_ENDPOINTS:
        raise ValidationFailed(f"An organisation has at most {MAX_ENDPOINTS} webhooks.")
    secret = webhooks.new_secret()
    try:
        with transaction.atomic():
            endpoint = WebhookEndpoint.objects.create(
                organization=organization,
                url=checked,
                description=text,
                secret=secret,
                events=chosen,
                created_at=clock.now(),
                created_by=acting,
                creation_key=creation_key,
            )
            audit.record(
                acting,
                "notifications:webhook:created",
                endpoint,
                organization=organization,
                url=checked,
                events=chosen,
                **origin.audit_fields(),
            )
    except IntegrityError:  # the same form, sent twice at once
        found = WebhookEndpoint.objects.get(organization=organization, creation_key=creation_key)
        return found, None
    return endpoint, secret


def endpoint_of(organization: Organization, pk: int) -> WebhookEndpoint:
    found = WebhookEndpoint.objects.filter(organization=organization, pk=pk).first()
    if found is None:
        raise NotFound("No such webhook.")
    return found


def update_endpoint(
    *,
    endpoint: WebhookEndpoint,
    events: Any,
    active: bool,
    description: Any,
    acting: User,
    origin: Origin,
) -> WebhookEndpoint:
    _allowed(acting, endpoint.organization)
    if endpoint.deleted_at is not None:
        raise NotFound("No such webhook.")
    chosen, text = _events(events), _description(description)
    with transaction.atomic():
        changed = {
            name: value
            for name, value in (("events", chosen), ("active", bool(active)), ("description", text))
            if getattr(endpoint, name) != value
        }
        if not changed:
            return endpoint
        for name, value in changed.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=list(changed))
        audit.record(
            acting,
            "notifications:webhook:updated",
            endpoint,
            organization=endpoint.organization,
            changes=dict(changed),
            **origin.audit_fields(),
        )
    return endpoint


def rotate_secret(*, endpoint: WebhookEndpoint, acting: User, origin: Origin) -> str:
    _allowed(acting, endpoint.organization)
    if endpoint.deleted_at is not None:
        raise NotFound("No such webhook.")
    secret = webhooks.new_secret()
    with transaction.atomic():
        endpoint.secret = secret
        endpoint.save(update_fields=["secret"])
        audit.record(
            acting,
            "notifications:webhook:secret_rotated",
            endpoint,
            organization=endpoint.organization,
            **origin.audit_fields(),
        )
    return secret


def delete_endpoint(*, endpoint: WebhookEndpoint, acting: User, origin: Origin) -> bool:
    """Stop sending to the endpoint (its log stays); False if it was already removed."""
    _allowed(acting, endpoint.organization)
    with transaction.atomic():
        done = WebhookEndpoint.objects.filter(pk=endpoint.pk, deleted_at__isnull=True).update(
            deleted_at=clock.now(), active=False
        )
        if done:
            audit.record(
                acting,
                "notifications:webhook:deleted",
                endpoint,
                organization=endpoint.organization,
                url=endpoint.url,
                **origin.audit_fields(),
            )
    return bool(done)


def send_test(
    *, endpoint: WebhookEndpoint, nonce: str, acting: User, origin: Origin
) -> Notification | None:
    """Queue a test delivery; the same ``nonce`` (a form sent twice) queues one."""
    _allowed(acting, endpoint.organization)
    if endpoint.deleted_at is not None:
        raise NotFound("No such webhook.")
    if not _KEY.match(nonce or ""):
        raise ValidationFailed("The form has expired; open the page again.")
    key = f"{TEST}/endpoint:{endpoint.pk}/{nonce}"
    with transaction.atomic():
        made = _record(
            key=key,
            event=TEST,
            channel=Channel.WEBHOOK,
            audience=Audience.PUBLISHER,
            endpoint=endpoint,
            organization_id=endpoint.organization_id,
            subject=TEST,
            data={
                "organization": endpoint.organization.name,
                "endpoint_id": endpoint.pk,
                "message": "A test delivery, sent from the organisation's notifications page.",
            },
        )
        if not made:
            return None
        audit.record(
            acting,
            "notifications:webhook:tested",
            endpoint,
            organization=endpoint.organization,
            **origin.audit_fields(),
        )
    return Notification.objects.get(key=key)
