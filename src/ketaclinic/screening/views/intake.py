"""The structured intake: the form, its saved versions, and what the patient added."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.patients.access import get_patient_for
from ketaclinic.screening import services
from ketaclinic.screening.forms import (
    HISTORY_LABELS,
    MEDICATION_LABELS,
    IntakeForm,
    RunScreeningForm,
)
from ketaclinic.screening.intake import RESPONSE_LABELS, failed_adequate_trials, trial_counts
from ketaclinic.screening.models import (
    IntakeVersion,
)


def intake_summary(version: IntakeVersion | None) -> dict[str, object]:
    """Readable view of a stored intake for templates."""
    if version is None:
        return {}
    data = version.data
    return {
        "version": version,
        "data": data,
        "trials": [
            {
                **t,
                "response_label": RESPONSE_LABELS.get(t["response"], t["response"]),
                "counts": trial_counts(t),
            }
            for t in data.get("trials", [])
        ],
        "failed_adequate_trials": failed_adequate_trials(data),
        "diagnosis_labels": [
            CONDITIONS[c].display for c in data.get("diagnoses", []) if c in CONDITIONS
        ],
        "history_labels": [HISTORY_LABELS[f] for f in data.get("history", [])],
        "medication_labels": [MEDICATION_LABELS[m] for m in data.get("medications", [])],
        "patient_added": _patient_added(version),
    }


TEXT_LABELS = {
    "psychiatric_history": "psychiatric history",
    "substance_use": "substance use",
    "allergies": "allergies",
}


def _patient_added(version: IntakeVersion) -> list[tuple[str, str]]:
    """What the patient added through the link, as (what, items) lines for staff to review."""
    added = version.patient_added or {}
    lines = []
    if added.get("history"):
        lines.append(("Medical history", ", ".join(HISTORY_LABELS[f] for f in added["history"])))
    if added.get("medications"):
        lines.append(
            ("Medication classes", ", ".join(MEDICATION_LABELS[m] for m in added["medications"]))
        )
    if added.get("trials"):
        lines.append(
            ("Antidepressant trials (adequacy not yet judged)", ", ".join(added["trials"]))
        )
    if added.get("text"):
        lines.append(("Wrote in", ", ".join(TEXT_LABELS.get(f, f) for f in added["text"])))
    return lines


# --- Intake ---------------------------------------------------------------------------


def _intake_page(
    request: ClinicRequest, patient, form: IntakeForm, status: int = 200
) -> HttpResponse:
    actor = request.actor
    current = services.latest_intake(patient)
    versions = list(
        IntakeVersion.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("created_by")
        .order_by("-version")[:20]
    )
    return render(
        request,
        "screening/intake.html",
        {
            "patient": patient,
            "form": form,
            "versions": versions,
            "current": current,
            "summary": intake_summary(current),
            # A later C-SSRS screen is what screenings read, not the intake's risk.
            "newer_cssrs": services.superseding_cssrs(patient, current),
            "run_form": RunScreeningForm(),
            "response_choices": list(RESPONSE_LABELS.items()),
        },
        status=status,
    )


@require("clinical.view")
def intake(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """The structured intake form (one screen, sections) pre-filled from the latest version."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view", read="intake")
    current = services.latest_intake(patient)
    data = current.data if current else {}
    initial = IntakeForm.initial_from(
        data,
        medications_on_file=services.medication_classes_on_file(patient),
        conditions_on_file=services.conditions_on_file(patient),
        weight_kg=patient.weight_kg,
        height_cm=patient.height_cm,
    )
    return _intake_page(
        request, patient, IntakeForm(initial=initial, trials=data.get("trials", []))
    )


@require_POST
@require("clinical.edit")
def intake_save(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Save the intake as a new version ("Add a trial" re-renders with one more row)."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    form = IntakeForm(request.POST)
    if "add_trial" in request.POST:
        form.is_valid()
        return _intake_page(request, patient, form)
    if form.is_valid():
        try:
            version = services.save_intake(actor=actor, patient=patient, data=form.intake_data())
        except ValidationError as exc:
            form.add_service_errors(exc.message_dict)
        else:
            messages.success(request, f"Intake saved as version {version.version}.")
            return redirect("screening_intake", patient_id=patient.pk)
    return _intake_page(request, patient, form, status=422)


@require("clinical.view")
def intake_version(request: ClinicRequest, patient_id: int, version: int) -> HttpResponse:
    """An older (or the current) intake version, read-only."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view")
    found = (
        IntakeVersion.objects.for_clinic(actor.clinic)
        .filter(patient=patient, version=version)
        .first()
    )
    if found is None:
        raise Http404("No such intake version.")
    services.record(actor, "view", patient_id=patient.pk, obj=found, detail={"version": version})
    return render(
        request,
        "screening/intake_version.html",
        {
            "patient": patient,
            "summary": intake_summary(found),
        },
    )
