"""A screening: run a protocol, the explained result, the physician's decision."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.clinical.conditions import CONDITIONS
from ketaclinic.clinical.eligibility import FACT_SPECS, FactError
from ketaclinic.patients.access import get_patient_for
from ketaclinic.screening import services
from ketaclinic.screening.forms import (
    HISTORY_LABELS,
    MEDICATION_LABELS,
    DecisionForm,
    RunScreeningForm,
)


@require_POST
@require("screening.run")
def screening_run(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "screening.run")
    form = RunScreeningForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a protocol to evaluate.")
        return redirect("screening_intake", patient_id=patient.pk)
    try:
        screening = services.run_screening(
            actor=actor, patient=patient, protocol=form.cleaned_data["protocol"]
        )
    except (ValidationError, FactError) as exc:
        messages.error(request, f"Not evaluated — {exc}")
        return redirect("screening_intake", patient_id=patient.pk)
    return redirect("screening_result", screening_id=screening.pk)


LEVEL_BADGES = {
    "exclude": ("level-urgent", "⛔", "Exclude"),
    "require": ("level-high", "!", "Requirement not met"),
    "caution": ("level-caution", "⚠", "Caution"),
    "info": ("level-info", "ℹ", "Info"),
}
DECISION_BADGES = {
    "eligible": ("level-ok", "✓", "Eligible"),
    "needs_review": ("level-caution", "⚠", "Needs review"),
    "ineligible": ("level-urgent", "⛔", "Ineligible"),
}


@require("clinical.view")
def screening_result(request: ClinicRequest, screening_id: int) -> HttpResponse:
    """The explained evaluation: decision, each finding with level and source, missing facts."""
    actor = request.actor
    screening = services.get_screening_for(actor, screening_id, read=True)
    form = (
        DecisionForm(request.POST or None, result=screening.result)
        if actor.may("medical.sign") and not screening.decision
        else None
    )
    return _result_page(request, screening, form)


def _value_label(fact: str, code: str) -> str:
    """One item of a list fact as staff read it (a diagnosis, a history flag, a drug class)."""
    if fact == "diagnoses" and code in CONDITIONS:
        return CONDITIONS[code].display
    labels = {"history": HISTORY_LABELS, "medications": MEDICATION_LABELS}.get(fact, {})
    return labels.get(code, code.replace("_", " "))


def _result_page(request: HttpRequest, screening, form, status: int = 200) -> HttpResponse:
    findings = [
        {**f, "badge": LEVEL_BADGES.get(f["level"], LEVEL_BADGES["info"])}
        for f in screening.findings
    ]
    facts = [
        {
            "name": name,
            "meaning": FACT_SPECS[name].meaning[:1].upper() + FACT_SPECS[name].meaning[1:],
            "unit": FACT_SPECS[name].unit,
            "value": ", ".join(_value_label(name, v) for v in value)
            if isinstance(value, list)
            else value,
            "overridden": name in screening.overrides,
        }
        for name, value in screening.facts.items()
    ]
    missing = [
        {"name": m, "meaning": FACT_SPECS[m].meaning if m in FACT_SPECS else m}
        for m in screening.missing
    ]
    return render(
        request,
        "screening/result.html",
        {
            "patient": screening.patient,
            "screening": screening,
            "findings": findings,
            "facts": facts,
            "missing": missing,
            "badge": DECISION_BADGES[screening.result],
            "form": form,
        },
        status=status,
    )


@require_POST
@require("medical.sign")
def screening_decide(request: ClinicRequest, screening_id: int) -> HttpResponse:
    actor = request.actor
    screening = services.get_screening_for(actor, screening_id, "medical.sign")
    form = DecisionForm(request.POST, result=screening.result)
    if form.is_valid():
        try:
            services.decide(
                actor=actor,
                screening=screening,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        except services.DecisionConflict as exc:
            form.add_error(None, exc.detail)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Decision signed.")
            return redirect("screening_result", screening_id=screening.pk)
    return _result_page(request, screening, form, status=422)


# --- Consultation note ----------------------------------------------------------------
