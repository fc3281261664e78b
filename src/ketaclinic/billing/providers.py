"""What billing answers for the lower apps' hooks: the patient's superbills in the portal.

A visit's superbill is offered to the patient once the biller has finished its review:
every line that is not void is approved (a proposed line is not yet a charge, and a visit
still under review would show the patient a bill that may change).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import render

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.audit.services import record
from ketaclinic.billing import pdf
from ketaclinic.billing.forms import SuperbillRangeForm
from ketaclinic.billing.models import Charge, ChargeStatus
from ketaclinic.patients.hooks import PatientDocuments, PatientFile
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment

PORTAL_LIMIT = 100


def _reviewed_visits(clinic_id: int, patient_id: int) -> QuerySet[Any]:
    """(appointment_id, day) of the patient's visits whose every live line is approved."""
    return (
        Charge.objects.filter(clinic_id=clinic_id, patient_id=patient_id)
        .exclude(status=ChargeStatus.VOID)
        .values("appointment_id")
        .annotate(
            day=Min("service_date"),
            open=Count("pk", filter=~Q(status=ChargeStatus.APPROVED)),
        )
        .filter(open=0)
        .order_by("-day", "-appointment_id")
    )


def superbill_rows(clinic_id: int, patient_id: int) -> list[dict[str, Any]]:
    return [
        {"id": v["appointment_id"], "title": "Superbill", "date": v["day"], "note": "Visit"}
        for v in _reviewed_visits(clinic_id, patient_id)[:PORTAL_LIMIT]
    ]


def superbill_file(clinic_id: int, patient_id: int, appointment_id: int) -> PatientFile | None:
    if not _reviewed_visits(clinic_id, patient_id).filter(appointment_id=appointment_id).exists():
        return None
    appointment = Appointment.objects.filter(
        clinic_id=clinic_id, patient_id=patient_id, pk=appointment_id
    ).first()
    patient = (
        Patient.objects.select_related("clinic").filter(clinic_id=clinic_id, pk=patient_id).first()
    )
    if appointment is None or patient is None:
        return None
    return PatientFile(
        filename=f"superbill-{appointment.pk}.pdf",
        content=pdf.superbill_pdf(patient, appointment_id=appointment.pk),
        obj=appointment,
    )


def superbill_range_page(request: ClinicRequest, clinic_id: int, patient_id: int) -> HttpResponse:
    """The patient's superbill for the dates they choose: their reviewed visits only.

    The portal has checked the signed-in patient (their own clinic and patient ids come
    from the log-in, never from the URL). The dates travel in the POST body, not the URL.
    """
    form = SuperbillRangeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        visits = [
            v["appointment_id"]
            for v in _reviewed_visits(clinic_id, patient_id).filter(day__gte=start, day__lte=end)
        ]
        patient = Patient.objects.select_related("clinic").get(clinic_id=clinic_id, pk=patient_id)
        if visits:
            record(
                request.actor,
                "download",
                patient_id=patient_id,
                obj=patient,
                detail={"what": "portal_pdf", "kind": "superbills", "visits": len(visits)},
            )
            content = pdf.superbill_pdf(patient, start, end, appointment_ids=visits)
            response = HttpResponse(content, content_type="application/pdf")
            response["Content-Disposition"] = (
                f'attachment; filename="superbill-{start:%Y%m%d}-{end:%Y%m%d}.pdf"'
            )
            return response
        form.add_error(
            None, "No reviewed visit between these dates: a visit appears once its bill is final."
        )
    return render(
        request,
        "billing/portal_superbill_range.html",
        {"form": form, "nav": "documents"},
        status=422 if form.errors else 200,
    )


SUPERBILLS = PatientDocuments(
    rows=superbill_rows,
    open=superbill_file,
    page=superbill_range_page,
    page_title="Superbill for dates you choose",
)
