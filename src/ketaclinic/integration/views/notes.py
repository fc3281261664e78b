"""Progress notes and the therapist's private psychotherapy notes."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.audit.services import record
from ketaclinic.integration import notes
from ketaclinic.integration.forms import (
    AmendForm,
    ProgressNoteForm,
    PsychotherapyNoteForm,
    ReleaseForm,
)
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import THERAPY_KINDS, Appointment


def _therapy_appointments(actor: Any, patient: Patient) -> list[Appointment]:
    return list(
        Appointment.objects.for_clinic(actor.clinic)
        .filter(patient=patient, kind__in=THERAPY_KINDS)
        .exclude(status="cancelled")
        .order_by("-start")[:30]
    )


@require("integration.note")
def progress_note_new(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "integration.note")
    appointments = _therapy_appointments(actor, patient)
    initial: dict[str, object] = {"template": "dap", "risk": "none"}
    chosen = request.GET.get("appointment")
    if chosen and chosen.isdigit():
        initial["appointment"] = int(chosen)
    form = ProgressNoteForm(
        request.POST if request.method == "POST" else None,
        appointments=appointments,
        initial=initial,
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            fields = {
                k: data[k] for k in (*notes.TEMPLATE_FIELDS[data["template"]], *notes.COMMON_FIELDS)
            }
            fields["risk"] = data["risk"]
            try:
                note = notes.create_progress_note(
                    actor=actor,
                    patient=patient,
                    template=data["template"],
                    fields=fields,
                    text=data["text"],
                    appointment=data["appointment"],
                    sign=data["sign"],
                    psychotherapy_minutes=data["psychotherapy_minutes"],
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                if note.alert_id:
                    messages.warning(request, "Urgent suicidality alert opened: see Alerts.")
                messages.success(
                    request,
                    "Progress note signed."
                    if note.signed_at
                    else "Progress note saved (not signed yet).",
                )
                return redirect("integration_note", note.pk)
        status = 422
    return render(
        request,
        "integration/note_form.html",
        {"patient": patient, "form": form, "template_fields": notes.TEMPLATE_FIELDS},
        status=status,
    )


@require("integration.view")
def progress_note(request: ClinicRequest, note_id: int) -> HttpResponse:
    actor = request.actor
    note = notes.get_progress_note(actor, note_id)
    mine = note.author_id == actor.user.pk and actor.may("integration.note")
    amend_form = (
        AmendForm(request.POST if request.method == "POST" else None)
        if mine and note.signed_at
        else None
    )
    status = 200
    error = ""
    if request.method == "POST":
        if not mine:
            raise PermissionDenied("Only the note's author can sign or amend it.")
        action = request.POST.get("action")
        try:
            if action == "sign":
                notes.sign_progress_note(actor=actor, note=note)
                messages.success(request, "Progress note signed.")
                return redirect("integration_note", note.pk)
            if action == "amend" and amend_form is not None:
                if amend_form.is_valid():
                    notes.amend_progress_note(actor=actor, note=note, **amend_form.cleaned_data)
                    messages.success(request, "Amendment added; the signed note is kept as it was.")
                    return redirect("integration_note", note.pk)
            else:
                raise ValidationError({"note": "Choose sign, or amend a signed note."})
        except ValidationError as exc:
            if amend_form is not None and action == "amend":
                add_errors(amend_form, exc)
            else:
                error = " ".join(exc.messages)
        status = 422
    record(actor, "view", patient_id=note.patient_id, obj=note)
    return render(
        request,
        "integration/note.html",
        {
            "note": note,
            "patient": note.patient,
            "mine": mine,
            "amend_form": amend_form,
            "error": error,
            "amendments": list(note.amendments.select_related("author")),
            "labels": notes.FIELD_LABELS,
            "order": (*notes.TEMPLATE_FIELDS[note.template], *notes.COMMON_FIELDS),
        },
        status=status,
    )


@require("psychotherapy.note")
def private_note_new(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "psychotherapy.note")
    form = PsychotherapyNoteForm(request.POST if request.method == "POST" else None)
    appointment = request.GET.get("appointment")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                note = notes.write_psychotherapy_note(
                    actor=actor,
                    patient=patient,
                    text=form.cleaned_data["text"],
                    appointment=int(appointment) if appointment and appointment.isdigit() else None,
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, "Private note saved. Only you can read it.")
                return redirect("integration_private_note", note.pk)
        status = 422
    return render(
        request, "integration/private_form.html", {"patient": patient, "form": form}, status=status
    )


@require("integration.view")
def private_note(request: ClinicRequest, note_id: int) -> HttpResponse:
    """The author's own psychotherapy note; 404 for everybody else (admin included)."""
    actor = request.actor
    note = notes.get_own_psychotherapy_note(actor, note_id)
    edit_form = PsychotherapyNoteForm(
        request.POST if request.POST.get("action") == "edit" else None, initial={"text": note.text}
    )
    release_form = ReleaseForm(request.POST if request.POST.get("action") == "release" else None)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "edit" and edit_form.is_valid():
                notes.edit_psychotherapy_note(
                    actor=actor, note=note, text=edit_form.cleaned_data["text"]
                )
                messages.success(request, "Private note saved.")
                return redirect("integration_private_note", note.pk)
            if action == "release" and release_form.is_valid():
                notes.release_psychotherapy_note(
                    actor=actor, note=note, **release_form.cleaned_data
                )
                messages.success(request, "Release recorded with the patient's authorization.")
                return redirect("integration_private_note", note.pk)
            if action not in ("edit", "release"):
                messages.error(request, "Choose save or release.")
        except ValidationError as exc:
            add_errors(release_form if action == "release" else edit_form, exc)
        status = 422
    notes.audit_read(actor, note)
    return render(
        request,
        "integration/private_note.html",
        {
            "note": note,
            "patient": note.patient,
            "edit_form": edit_form,
            "release_form": release_form,
            "releases": list(note.releases.all()),
        },
        status=status,
    )
