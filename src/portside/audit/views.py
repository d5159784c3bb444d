"""The store team's view of the audit trail: browse with filters, export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portside.accounts import permissions
from portside.audit import services
from portside.core.origin import from_request


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        required=False, max_length=80, help_text="Exact, or a prefix ending in ':'"
    )
    actor = forms.CharField(required=False, max_length=150)
    organization = forms.CharField(required=False, max_length=64, label="Organisation")
    target_type = forms.CharField(required=False, max_length=64)
    target_id = forms.CharField(required=False, max_length=128)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive",
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def to_filter(self) -> services.AuditFilter:
        data = self.cleaned_data

        def day(value: dt.date | None, plus: int = 0) -> dt.datetime | None:
            if value is None:
                return None
            return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=plus)

        return services.AuditFilter(
            action=data["action"].strip(),
            actor=data["actor"].strip(),
            organization=data["organization"].strip(),
            target_type=data["target_type"].strip(),
            target_id=data["target_id"].strip(),
            since=day(data["since"]),
            until=day(data["until"], 1),
        )


def _require_auditor(request: HttpRequest) -> None:
    if not permissions.can_view_audit(request.user):
        raise PermissionDenied("Only store admins and the security team read the audit trail.")


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    _require_auditor(request)
    form = AuditFilterForm(request.GET)
    rows: list = []
    next_before = None
    if form.is_valid():
        rows, next_before = services.page(form.to_filter(), before=form.cleaned_data["before"])
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "audit/list.html",
        {
            "form": form,
            "rows": rows,
            "next_before": next_before,
            "query": query.urlencode(),
        },
        status=200 if form.is_valid() else 400,
    )


def _export(
    request: HttpRequest, fmt: str, producer: Callable[[services.AuditFilter], Iterator[str]]
) -> HttpResponseBase:
    _require_auditor(request)
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponse(form.errors.as_text(), status=400, content_type="text/plain")
    flt = form.to_filter()
    services.record(
        request.user,
        "audit:trail:exported",
        format=fmt,
        filter={k: str(v) for k, v in vars(flt).items() if v},
        **from_request(request).audit_fields(),
    )
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(producer(flt), content_type=content_type)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="portside-audit-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def audit_export_csv(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "csv", services.export_csv)


@login_required
@require_GET
def audit_export_jsonl(request: HttpRequest) -> HttpResponseBase:
    return _export(request, "jsonl", services.export_jsonl)
