from __future__ import annotations

from typing import Any, cast

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.functional import cached_property

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.queries import events_for
from ketaclinic.audit.services import health_warnings


class BoundedPaginator(Paginator):
    """Counts at most CAP events: a network's log holds millions, and counting them all
    on every page view cost more than the page (bench/network.py). Past the cap the page
    says "of N+"; the filters narrow the log."""

    CAP = 5000

    @cached_property
    def count(self) -> int:
        events = cast("QuerySet[Any]", self.object_list)  # the page passes a query
        found = events.order_by()[: self.CAP + 1].count()
        self.capped = found > self.CAP
        return min(found, self.CAP)


class AuditFilterForm(forms.Form):
    patient = forms.IntegerField(required=False, label="Patient id")
    user = forms.CharField(required=False, label="Username")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


@require("audit.view")
def audit_log(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = AuditFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    events = events_for(
        actor,
        patient_id=filters.get("patient"),
        username=filters.get("user") or None,
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = BoundedPaginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "audit_warnings": health_warnings(),
        },
    )
