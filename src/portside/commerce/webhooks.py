"""Webhooks of payment providers: verified, deduplicated, applied idempotently."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    from portside.commerce.providers import stripe as stripe_provider

    return stripe_provider.handle_webhook(request)
