"""Pages of commerce (being written)."""

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse


def take_tier(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def checkout(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def library(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def library_subscription(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def subscription_cancel(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def billing_home(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def invoice_detail(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def invoice_pdf(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def sales(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def order_refund(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def publisher_mark_paid(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def staff_orders(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def staff_order(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def staff_mark_paid(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def staff_refund(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def tax_rates(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def revenue_shares(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404


def ledger_page(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    raise Http404
