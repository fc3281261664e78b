"""Patient pages: search, register, edit, and the chart."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.patients import chart, restricted, services
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.forms import CHART_FORMS, CHART_MODELS, PatientForm
from ketaclinic.patients.models import Patient

PAGE_SIZE = 25


@require("patient.view")
def patient_search(request: ClinicRequest) -> HttpResponse:
    """Search by name, MRN or birth date. The query travels in the POST body, never the URL."""
    actor = request.actor
    query = request.POST.get("q", "") if request.method == "POST" else ""
    page_number = request.POST.get("page") or request.GET.get("page") or 1
    page = Paginator(services.search_patients(actor=actor, query=query), PAGE_SIZE).get_page(
        page_number
    )
    services.record_search(actor=actor, patient_ids=[p.pk for p in page.object_list])
    # A restricted chart the actor may not open is listed by name only (break-glass to open).
    hidden = (
        restricted.hidden_patient_ids(actor)
        if any(p.restricted for p in page.object_list)
        else frozenset()
    )
    context = {"page": page, "query": query, "hidden": hidden}
    if request.htmx:
        return render(request, "patients/search.html#results", context)
    return render(request, "patients/search.html", context)


def _save_errors(form: PatientForm, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@require("patient.create")
def patient_new(request: ClinicRequest) -> HttpResponse:
    actor = request.actor
    # The instance carries the clinic so the model's own checks (a birth date in the
    # clinic's today) can run while the form validates.
    form = PatientForm(
        request.POST if request.method == "POST" else None, instance=Patient(clinic=actor.clinic)
    )
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.create_patient(actor=actor, data=form.record_data())
        except ValidationError as exc:
            _save_errors(form, exc)
        else:
            messages.success(request, f"{patient.display_name} registered as {patient.mrn}.")
            return redirect("patient_chart", patient_id=patient.pk)
    return render(request, "patients/edit.html", {"form": form, "patient": None})


@require("patient.edit")
def patient_edit(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    # Opening the form is a read of the record (audited here); a post audits its write.
    shown = "edit" if request.method != "POST" else False
    patient = get_patient_for(actor, patient_id, "patient.edit", read=shown)
    form = PatientForm(request.POST if request.method == "POST" else None, instance=patient)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_patient(
                actor=actor,
                patient=get_patient_for(actor, patient_id, "patient.edit"),
                data=form.record_data(),
                expected_version=form.cleaned_data.get("version"),
            )
        except services.StaleVersion:
            form.add_error(
                None, "Someone else saved this record while you were editing. Reload to see it."
            )
        except ValidationError as exc:
            _save_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("patient_chart", patient_id=patient.pk)
    return render(request, "patients/edit.html", {"form": form, "patient": patient})


@require("patient.view")
def patient_chart(request: ClinicRequest, patient_id: int) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, read="chart")
    context: dict[str, object] = {
        "patient": patient,
        "break_glass": restricted.open_grant(actor, patient),
        # What other apps add to the chart, read by their own functions (patients/chart.py).
        "sections": chart.sections_for(actor, patient),
    }
    if actor.may("clinical.view"):
        context.update(
            conditions=list(patient.conditions.filter(is_active=True).order_by("recorded_at")),
            medications=list(patient.medications.filter(is_active=True).order_by("name")),
            chart_forms={kind: form_class() for kind, form_class in CHART_FORMS.items()},
        )
    return render(request, "patients/chart.html", context)


@require_POST
@require("clinical.edit")
def chart_entry_add(request: ClinicRequest, patient_id: int, kind: str) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    form_class = CHART_FORMS.get(kind)
    if form_class is None:
        raise Http404
    form = form_class(request.POST)
    if form.is_valid():
        services.add_chart_entry(
            actor=actor, patient=patient, model=CHART_MODELS[kind], data=form.cleaned_data
        )
        messages.success(request, f"{kind.capitalize()} added.")
    else:
        errors = "; ".join(f"{f}: {' '.join(str(m) for m in e)}" for f, e in form.errors.items())
        messages.error(request, f"{kind.capitalize()} not added — {errors}")
    return redirect("patient_chart", patient_id=patient.pk)


@require_POST
@require("clinical.edit")
def chart_entry_stop(
    request: ClinicRequest, patient_id: int, kind: str, entry_id: int
) -> HttpResponse:
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    model = CHART_MODELS.get(kind)
    if model is None:
        raise Http404
    entry = model.objects.filter(patient=patient, pk=entry_id).first()
    if entry is None:
        raise Http404
    services.stop_chart_entry(actor=actor, entry=entry)
    return redirect("patient_chart", patient_id=patient.pk)


@require_POST
@require("clinical.edit")
def allergies_none_known(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Record "no known allergies" (NKDA) from the chart."""
    from ketaclinic.patients.allergies import set_no_known_allergies

    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    try:
        set_no_known_allergies(actor=actor, patient=patient)
    except ValidationError as exc:
        messages.error(request, " ".join(m for ms in exc.message_dict.values() for m in ms))
    else:
        messages.success(request, "Recorded: no known allergies.")
    return redirect("patient_chart", patient_id=patient.pk)
