"""The physician's consultation notes: sign and amend."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import ChoiceField
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.patients.access import get_patient_for
from ketaclinic.screening import services
from ketaclinic.screening.forms import (
    AmendForm,
    NoteForm,
)
from ketaclinic.screening.models import (
    ConsultationNote,
    Screening,
)
from ketaclinic.screening.views.intake import intake_summary


def _consultation_page(
    request: ClinicRequest, patient, form: NoteForm | None, status: int = 200
) -> HttpResponse:
    actor = request.actor
    notes = list(
        ConsultationNote.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("intake", "screening")
        .prefetch_related("amendments")
        .order_by("-signed_at")[:20]
    )
    current = services.latest_intake(patient)
    return render(
        request,
        "screening/consultation.html",
        {
            "patient": patient,
            "form": form,
            "notes": notes,
            "current": current,
            "baseline": services.baseline_scores(patient),
            "screenings": services.latest_screenings(patient),
            "amend_form": AmendForm(),
            "summary": intake_summary(current),
        },
        status=status,
    )


def _note_form(patient, data=None) -> NoteForm:
    form = NoteForm(data)
    cast(ChoiceField, form.fields["screening"]).choices = [("", "None")] + [
        (
            s.pk,
            f"{s.protocol_label} — {s.get_decision_display() or 'not decided'} ({s.created_at:%Y-%m-%d})",
        )
        for s in services.latest_screenings(patient)
    ]
    return form


@require("clinical.view")
def consultation(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """The physician's consultation notes: intake, baseline scores, screening; sign and amend."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view", read="consultation")
    form = _note_form(patient) if actor.may("medical.sign") else None
    return _consultation_page(request, patient, form)


@require_POST
@require("medical.sign")
def consultation_sign(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "medical.sign")
    form = _note_form(patient, request.POST)
    if form.is_valid():
        chosen = None
        if form.cleaned_data["screening"]:
            chosen = (
                Screening.objects.for_clinic(actor.clinic)
                .filter(patient=patient, pk=form.cleaned_data["screening"])
                .first()
            )
        try:
            services.sign_note(
                actor=actor, patient=patient, text=form.cleaned_data["text"], screening=chosen
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Consultation note signed.")
            return redirect("screening_consultation", patient_id=patient.pk)
    return _consultation_page(request, patient, form, status=422)


@require_POST
@require("medical.sign")
def note_amend(request: ClinicRequest, note_id: int) -> HttpResponse:
    actor = request.actor
    note = ConsultationNote.objects.for_clinic(actor.clinic).filter(pk=note_id).first()
    if note is None:
        raise Http404
    form = AmendForm(request.POST)
    if form.is_valid():
        services.amend_note(
            actor=actor,
            note=note,
            text=form.cleaned_data["text"],
            reason=form.cleaned_data["reason"],
        )
        messages.success(request, "Amendment signed; the original note is kept.")
    else:
        messages.error(request, "Amendment not saved — write the amendment and its reason.")
    return redirect("screening_consultation", patient_id=note.patient_id)


# --- Consent --------------------------------------------------------------------------
