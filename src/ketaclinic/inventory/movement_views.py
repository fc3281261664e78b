"""Ledger pages that record a movement: receive, administer, waste and its witness, correct."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.audit.services import record
from ketaclinic.inventory import forms, services
from ketaclinic.inventory.access import (
    get_entry_for,
)
from ketaclinic.inventory.models import Kind, LossReport
from ketaclinic.inventory.views import _errors, _patient_by_mrn


def _form_page(
    request: ClinicRequest,
    form: Any,
    post: Callable[[dict[str, Any]], Any],
    done: Callable[[Any], HttpResponse],
    **context: Any,
) -> HttpResponse:
    """A ledger form page: a valid post runs ``post`` on the cleaned data and answers with
    ``done`` of its result; a refusal is shown by the fields, and the form comes back."""
    if request.method == "POST" and form.is_valid():
        try:
            result = post(form.cleaned_data)
        except ValidationError as exc:
            _errors(form, exc)
        else:
            return done(result)
    return render(request, "inventory/form.html", {"form": form, **context})


@require("ledger.record")
def receive(request: ClinicRequest) -> HttpResponse:
    actor = request.actor

    def post(data: dict[str, Any]) -> Any:
        return services.receive(
            actor=actor,
            product=data["product"],
            lot_number=data["lot"],
            expiry=data["expiry"],
            containers=data["containers"],
            supplier_name=data["supplier_name"],
            supplier_address=data["supplier_address"],
            supplier_dea_number=data["supplier_dea_number"],
            invoice=data["invoice"],
            location=data["location"],
        )

    def done(entry: Any) -> HttpResponse:
        messages.success(
            request,
            f"Received {entry.containers} × {entry.product.name}, lot {entry.lot.number}. "
            f"Balance {entry.balance_after.normalize():f} {entry.product.unit}.",
        )
        return redirect("inventory_balances")

    return _form_page(
        request,
        forms.ReceiveForm(request.POST or None, clinic=actor.clinic),
        post,
        done,
        title="Receive stock",
        submit="Record receipt",
        aside="receive",
    )


@require("ledger.record")
def administer(request: ClinicRequest) -> HttpResponse:
    """Record a dose given (until treatment sessions post it themselves)."""
    actor = request.actor

    def post(data: dict[str, Any]) -> Any:
        patient = _patient_by_mrn(actor, data["patient_mrn"])
        if patient is None:  # the form asks for the MRN; the service's own words
            raise ValidationError({"patient": "No such patient in this clinic."})
        return services.post_administration(
            actor=actor,
            lot=data["lot"],
            quantity=data["quantity"],
            unit=data["lot"].product.unit,
            patient=patient,
            session_ref=data["session_ref"],
            given_at=data["given_at"],
            location=data["location"],
        )

    def done(entry: Any) -> HttpResponse:
        messages.success(
            request,
            f"Administration recorded: {entry.quantity.normalize():f} "
            f"{entry.product.unit} ({entry.mg.normalize():f} mg).",
        )
        return redirect("inventory_ledger")

    return _form_page(
        request,
        forms.AdministerForm(request.POST or None, clinic=actor.clinic),
        post,
        done,
        title="Record an administration",
        submit="Record administration",
    )


@require("ledger.record")
def waste(request: ClinicRequest) -> HttpResponse:
    """Record waste; the witness types their password now, or confirms it later."""
    actor = request.actor

    def post(data: dict[str, Any]) -> Any:
        return services.record_waste(
            actor=actor,
            request=request,
            lot=data["lot"],
            quantity=data["quantity"],
            unit=data["lot"].product.unit,
            manner=data["manner"],
            witness=data["witness"],
            witness_password=data["witness_password"],
            witness_code=data["witness_code"],
            patient=_patient_by_mrn(actor, data["patient_mrn"]),
            session_ref=data["session_ref"],
            location=data["location"],
        )

    def done(entry: Any) -> HttpResponse:
        if entry.witness_id:
            messages.success(request, "Waste recorded and witnessed.")
            return redirect("inventory_ledger")
        messages.success(request, "Waste recorded: it waits for its witness.")
        return redirect("inventory_unwitnessed")

    return _form_page(
        request,
        forms.WasteForm(request.POST or None, clinic=actor.clinic),
        post,
        done,
        title="Record waste",
        submit="Record waste",
        aside="witness",
    )


@require("ledger.view")
def unwitnessed(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    entries = list(services.unwitnessed_waste(actor.clinic)[:200])
    record(
        actor,
        "view",
        detail={
            "view": "unwitnessed_waste",
            "patients": sorted({e.patient_id for e in entries if e.patient_id}),
        },
    )
    return render(request, "inventory/unwitnessed.html", {"entries": entries})


@require("ledger.record")
def witness(request: ClinicRequest, entry_id: int) -> HttpResponse:
    """The witness confirms a waste with their own password or code, on this tablet."""
    actor = request.actor
    entry = get_entry_for(actor, entry_id, "ledger.record")
    if entry.kind != Kind.WASTE:
        raise Http404
    initial = {"username": entry.witness_requested.username if entry.witness_requested else ""}
    form = forms.WitnessForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid() and entry.witness_id is None:
        try:
            services.confirm_waste_witness(
                actor=actor, entry=entry, request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(
                form,
                exc,
                {"witness": "username", "witness_password": "password", "witness_code": "code"},
            )
        else:
            messages.success(request, f"Waste #{entry.pk} witnessed.")
            return redirect("inventory_unwitnessed")
    return render(request, "inventory/witness.html", {"entry": entry, "form": form})


@require("ledger.record")
def movement(request: ClinicRequest, kind: str) -> HttpResponse:
    """Destroy, return, adjust, report a loss, or transfer between locations."""
    actor = request.actor
    if kind not in forms.MOVEMENT_FORMS:
        raise Http404
    title, form_class = forms.MOVEMENT_FORMS[kind]

    def done(result: Any) -> HttpResponse:
        if isinstance(result, LossReport):
            messages.success(request, "Loss recorded. Send the DEA notice by the due date.")
            return redirect("inventory_loss", report_id=result.pk)
        messages.success(request, f"{title}: recorded.")
        return redirect("inventory_ledger")

    return _form_page(
        request,
        form_class(request.POST or None, clinic=actor.clinic),
        lambda data: _movement(actor, request, kind, dict(data)),
        done,
        title=title,
        submit="Record",
        aside="witness" if kind in ("destroy", "adjust") else "",
    )


def _movement(actor, request, kind: str, data: dict[str, Any]):
    if kind == "destroy":
        return services.destroy(actor=actor, request=request, **data)
    if kind == "return":
        return services.return_stock(actor=actor, **data)
    if kind == "adjust":
        return services.adjust(actor=actor, request=request, **data)
    if kind == "loss":
        return services.record_loss(actor=actor, **data)
    return services.transfer(actor=actor, **data)


@require("ledger.record")
def correct(request: ClinicRequest, entry_id: int) -> HttpResponse:
    """Reverse a mistaken entry by a new, co-signed entry that references it."""
    actor = request.actor
    entry = get_entry_for(actor, entry_id, "ledger.record")
    form = forms.CorrectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            fix = services.correct_entry(
                actor=actor, request=request, entry=entry, **form.cleaned_data
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            messages.success(
                request, f"Entry #{entry.pk} reversed by #{fix.pk}. Now record the right entry."
            )
            return redirect("inventory_ledger")
    return render(request, "inventory/correct.html", {"entry": entry, "form": form})
