"""Pages for adverse-event reports, marking an event reportable, and liver tests."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from ketaclinic.accounts.access import ClinicRequest, require
from ketaclinic.accounts.form_errors import add_errors
from ketaclinic.audit.services import record
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient
from ketaclinic.treatment import ae_reports, longterm
from ketaclinic.treatment.access import get_session_for
from ketaclinic.treatment.models import LiverTest


class DraftForm(forms.Form):
    description = forms.CharField(
        label="Describe the event (what happened, when, what was done)",
        max_length=ae_reports.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    tests = forms.CharField(
        label="Relevant tests or laboratory data",
        required=False,
        max_length=ae_reports.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    history = forms.CharField(
        label="Other relevant history (pre-existing conditions, allergies, alcohol, smoking)",
        required=False,
        max_length=ae_reports.MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    outcomes = forms.MultipleChoiceField(
        label="Outcome attributed to the event (check all that apply)",
        choices=list(ae_reports.OUTCOMES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    death_date = forms.DateField(
        label="Date of death (only with Death)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


class SubmittedForm(forms.Form):
    submitted_on = forms.DateField(label="Sent on", widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(
        label="Reference (FDA or REMS case number, if given)", required=False, max_length=100
    )


class LiverTestForm(forms.Form):
    taken_on = forms.DateField(
        label="Blood taken on", widget=forms.DateInput(attrs={"type": "date"})
    )
    result = forms.ChoiceField(
        label="Result", choices=LiverTest.Result.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Note (values if abnormal)", required=False, max_length=longterm.MAX_NOTE
    )


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    add_errors(form, exc)


@require("aereport.view")
def report_list(request: ClinicRequest) -> HttpResponse:
    """Reports due, drafted and submitted (with the date and who sent them)."""
    actor = request.actor
    listing = ae_reports.reports_listing(actor.clinic, page=request.GET.get("page") or 1)
    shown = sorted(
        {
            r.event.session.patient_id
            for group in (listing.due, listing.drafted, listing.submitted)
            for r in group
        }
    )
    record(
        actor,
        "view",
        object_type="treatment.adverseeventreport",
        detail={"view": "ae_reports", "patients": shown},
    )
    return render(request, "treatment/ae_reports.html", {"listing": listing})


@require("aereport.view")
def report_page(request: ClinicRequest, report_id: int) -> HttpResponse:
    """One report: what the record pre-fills, the reporter's draft, and its submission."""
    actor = request.actor
    report = ae_reports.get_report_for(actor, report_id)
    draft_form = DraftForm(initial=report.draft or {})
    sent_form = SubmittedForm(initial={"submitted_on": actor.clinic.today()})
    status = 200
    if request.method == "POST":
        if request.POST.get("step") == "submitted":
            actor.check("aereport.submit")
            sent_form = SubmittedForm(request.POST)
            if sent_form.is_valid():
                try:
                    ae_reports.mark_submitted(actor=actor, report=report, **sent_form.cleaned_data)
                except ValidationError as exc:
                    _add_errors(sent_form, exc)
                else:
                    messages.success(request, "Submission recorded.")
                    return redirect("treatment_ae_report", report_id=report.pk)
        else:
            actor.check("aereport.draft")
            draft_form = DraftForm(request.POST)
            if draft_form.is_valid():
                try:
                    ae_reports.save_draft(actor=actor, report=report, **draft_form.cleaned_data)
                except ValidationError as exc:
                    _add_errors(draft_form, exc)
                else:
                    messages.success(request, "Draft saved.")
                    return redirect("treatment_ae_report", report_id=report.pk)
        status = 422
    record(actor, "view", patient_id=report.event.session.patient_id, obj=report)
    return render(
        request,
        "treatment/ae_report.html",
        {
            "report": report,
            "patient": report.event.session.patient,
            "sections": ae_reports.prefilled(report),
            "missing": ae_reports.missing(report),
            "draft_form": draft_form,
            "sent_form": sent_form,
            "alert": ae_reports.open_alert_for(report),
        },
        status=status,
    )


@require("aereport.view")
def report_pdf(request: ClinicRequest, report_id: int) -> HttpResponse:
    actor = request.actor
    report = ae_reports.get_report_for(actor, report_id)
    record(
        actor,
        "download",
        patient_id=report.event.session.patient_id,
        obj=report,
        detail={"format": "pdf", "kind": report.kind},
    )
    response = HttpResponse(ae_reports.as_pdf(report), content_type="application/pdf")
    name = "medwatch-3500" if report.kind == "medwatch" else "rems-adverse-event"
    response["Content-Disposition"] = f'inline; filename="{name}-{report.pk}.pdf"'
    return response


@require_POST
@require("medical.sign")
def mark_reportable(request: ClinicRequest, session_id: int, event_id: int) -> HttpResponse:
    """A physician marks an event reportable from the session page."""
    actor = request.actor
    session = get_session_for(actor, session_id)
    try:
        made = ae_reports.mark_reportable(
            actor=actor, session=session, event_id=event_id, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        messages.error(
            request, "Not marked reportable — " + " ".join(sum(exc.message_dict.values(), []))
        )
        return redirect(f"/treatment/sessions/{session.pk}/#events")
    messages.success(request, f"Marked reportable: {len(made)} report(s) due.")
    return redirect("treatment_ae_report", report_id=made[0].pk)


@require("clinical.view")
def liver_tests(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """The patient's liver tests, when the next are due, and the form to record new ones."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.view")
    return _liver_page(request, patient, LiverTestForm())


@require_POST
@require("clinical.edit")
def liver_test_new(request: ClinicRequest, patient_id: int) -> HttpResponse:
    """Record liver tests; a refused form comes back with its errors (422)."""
    actor = request.actor
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    form = LiverTestForm(request.POST)
    if form.is_valid():
        try:
            longterm.record_liver_test(actor=actor, patient=patient, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Liver tests recorded.")
            return redirect("treatment_liver_tests", patient_id=patient.pk)
    return _liver_page(request, patient, form, status=422)


def _liver_page(
    request: ClinicRequest, patient: Patient, form: LiverTestForm, status: int = 200
) -> HttpResponse:
    actor = request.actor
    tests = list(
        LiverTest.objects.for_clinic(actor.clinic)
        .filter(patient=patient)
        .select_related("recorded_by")[:20]
    )
    record(actor, "view", patient_id=patient.pk, object_type="treatment.livertest")
    return render(
        request,
        "treatment/liver_tests.html",
        {
            "patient": patient,
            "tests": tests,
            "form": form,
            "monitoring": longterm.monitoring_for_patient(patient),
        },
        status=status,
    )
