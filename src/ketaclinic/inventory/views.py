"""Ledger pages: the ledger, balances, products and locations, and the shared helpers.

Movements are in ``movement_views``, counts and losses in ``count_views``, reports in
``report_views``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.inventory import forms, paging, services
from ketaclinic.inventory.models import Location
from ketaclinic.patients.models import Patient

PAGE_SIZE = 50


def _errors(form, exc: ValidationError, extra: dict[str, str] | None = None) -> None:
    """Put a service's errors on the form fields they name (the rest on the form)."""
    aliases = extra or {
        "supplier.name": "supplier_name",
        "supplier.address": "supplier_address",
        "supplier.dea_number": "supplier_dea_number",
        "patient": "patient_mrn",
        "unit": "quantity",
        "delta": "delta",
    }
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            name = aliases.get(field, field)
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _patient_by_mrn(actor, mrn: str) -> Patient | None:
    mrn = (mrn or "").strip()
    if not mrn:
        return None
    found = Patient.objects.for_clinic(actor.clinic).filter(mrn=mrn).first()
    if found is None:
        raise ValidationError({"patient": "No patient with this MRN in this clinic."})
    return found


def _banner_context(actor) -> dict[str, Any]:
    return {"due": services.inventory_due(actor.clinic, actor.clinic.today())}


@require("ledger.view")
def ledger(request: ClinicRequest) -> HttpResponse:
    """The ledger with running balances, filtered by product, lot and dates."""
    actor = request.actor
    form = forms.LedgerFilterForm(request.GET or None, clinic=actor.clinic)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "product": data["product"].pk if data["product"] else None,
            "lot": data["lot"].pk if data["lot"] else None,
            "start": data["start"],
            "end": data["end"],
        }
    entries = services.ledger_entries(actor.clinic, corrected=False, **filters)
    # Newest first on screen; the running balance is per lot + location, stored in each entry.
    page = paging.newest_first(
        entries,
        before=request.GET.get("before"),
        after=request.GET.get("after"),
        size=PAGE_SIZE,
    )
    paging.mark_corrected(page.object_list)
    patient_ids = sorted({e.patient_id for e in page.object_list if e.patient_id})
    record(actor, "view", detail={"view": "ledger", "patients": patient_ids})
    query = request.GET.copy()
    for key in ("page", "before", "after"):
        query.pop(key, None)
    return render(
        request,
        "inventory/ledger.html",
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "unwitnessed": services.unwitnessed_waste(actor.clinic).count(),
            **_banner_context(actor),
        },
    )


@require("ledger.view")
def balances(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    today = actor.clinic.today()
    rows = services.balances(actor.clinic)
    return render(
        request,
        "inventory/balances.html",
        {
            "rows": rows,
            "today": today,
            "soon": today + timedelta(days=60),
            **_banner_context(actor),
        },
    )


@require("inventory.setup")
def product_new(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    form = forms.ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.create_product(actor=actor, **form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"{product.name} added.")
            return redirect("inventory_receive")
    return render(
        request,
        "inventory/form.html",
        {
            "form": form,
            "title": "New product",
            "submit": "Add product",
        },
    )


@require("ledger.view")
def locations(request: ClinicRequest, form: forms.LocationForm | None = None) -> HttpResponse:
    actor = request.actor
    services.default_location(actor.clinic)
    return render(
        request,
        "inventory/locations.html",
        {
            "form": form or forms.LocationForm(),
            "locations": Location.objects.for_clinic(actor.clinic).order_by("name"),
        },
    )


@require_POST
@require("inventory.setup")
def location_add(request: ClinicRequest) -> HttpResponseBase:
    actor = request.actor
    form = forms.LocationForm(request.POST)
    if form.is_valid():
        try:
            location = services.create_location(actor=actor, name=form.cleaned_data["name"])
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(request, f"{location.name} added.")
            return redirect("inventory_locations")
    return locations(request, form=form)
