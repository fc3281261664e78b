"""Adverse-event reports and liver tests under /api/v1 (the same services as the pages)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import PageNumber
from ketaclinic.api_schemas import StrictIn
from ketaclinic.audit.services import record
from ketaclinic.patients.access import get_patient_for
from ketaclinic.treatment import ae_reports, longterm
from ketaclinic.treatment.access import get_session_for
from ketaclinic.treatment.models import AdverseEventReport

router = Router(tags=["treatment"])


class ReportOut(Schema):
    id: int
    kind: str
    status: str
    reason: str
    event_id: int
    session_id: int
    patient_id: int
    created_at: datetime
    drafted_at: datetime | None
    drafted_by: str | None
    submitted_on: date | None
    submitted_by: str | None
    reference: str


class FieldOut(Schema):
    field: str
    label: str
    value: str


class SectionOut(Schema):
    title: str
    fields: list[FieldOut]


class ReportDetailOut(ReportOut):
    sections: list[SectionOut]
    missing: list[dict[str, str]]


class DraftIn(StrictIn):
    description: str = Field(..., max_length=ae_reports.MAX_TEXT)
    tests: str = Field("", max_length=ae_reports.MAX_TEXT)
    history: str = Field("", max_length=ae_reports.MAX_TEXT)
    outcomes: list[str] = Field(default_factory=list, max_length=len(ae_reports.OUTCOMES))
    death_date: date | None = None


class ReportSubmittedIn(StrictIn):
    submitted_on: date
    reference: str = Field("", max_length=100)


class ReportableIn(StrictIn):
    reason: str = Field(..., max_length=500)


class LiverTestIn(StrictIn):
    taken_on: date
    result: str = Field(..., max_length=10)
    note: str = Field("", max_length=longterm.MAX_NOTE)


class LiverTestOut(Schema):
    id: int
    patient_id: int
    taken_on: date
    result: str
    note: str


def _name(user: Any) -> str | None:
    return None if user is None else (user.get_full_name() or user.username)


def _out(report: AdverseEventReport) -> dict[str, Any]:
    return {
        "id": report.pk,
        "kind": report.kind,
        "status": report.status,
        "reason": report.reason,
        "event_id": report.event_id,
        "session_id": report.event.session_id,
        "patient_id": report.event.session.patient_id,
        "created_at": report.created_at,
        "drafted_at": report.drafted_at,
        "drafted_by": _name(report.drafted_by),
        "submitted_on": report.submitted_on,
        "submitted_by": _name(report.submitted_by),
        "reference": report.reference,
    }


def _detail(report: AdverseEventReport) -> dict[str, Any]:
    return {
        **_out(report),
        "sections": [
            {
                "title": title,
                "fields": [{"field": k, "label": label, "value": v} for k, label, v in rows],
            }
            for title, rows in ae_reports.prefilled(report)
        ],
        "missing": ae_reports.missing(report),
    }


@router.get("/adverse-event-reports", response=list[ReportOut], auth=allow("aereport.view"))
def list_reports(request: ClinicRequest, page: PageNumber = 1) -> list[dict[str, Any]]:
    """Every due and drafted report, then one page of submitted ones (newest first)."""
    actor = request.auth
    listing = ae_reports.reports_listing(actor.clinic, page=page)
    rows = [*listing.due, *listing.drafted, *listing.submitted]
    record(
        actor,
        "view",
        object_type="treatment.adverseeventreport",
        detail={
            "view": "ae_reports",
            "patients": sorted({r.event.session.patient_id for r in rows}),
        },
    )
    return [_out(r) for r in rows]


@router.get(
    "/adverse-event-reports/{report_id}", response=ReportDetailOut, auth=allow("aereport.view")
)
def get_report(request: ClinicRequest, report_id: int) -> dict[str, Any]:
    actor = request.auth
    report = ae_reports.get_report_for(actor, report_id, read=True)
    return _detail(report)


@router.get("/adverse-event-reports/{report_id}/report.pdf", auth=allow("aereport.view"))
def report_pdf(request: ClinicRequest, report_id: int) -> HttpResponse:
    actor = request.auth
    report = ae_reports.get_report_for(actor, report_id)
    record(
        actor,
        "download",
        patient_id=report.event.session.patient_id,
        obj=report,
        detail={"format": "pdf", "kind": report.kind},
    )
    response = HttpResponse(ae_reports.as_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="ae-report-{report.pk}.pdf"'
    return response


@router.put(
    "/adverse-event-reports/{report_id}/draft",
    response=ReportDetailOut,
    auth=allow("aereport.draft"),
)
def put_draft(request: ClinicRequest, report_id: int, payload: DraftIn) -> dict[str, Any]:
    actor = request.auth
    report = ae_reports.get_report_for(actor, report_id, "aereport.draft")
    ae_reports.save_draft(actor=actor, report=report, **payload.dict())
    return _detail(ae_reports.get_report_for(actor, report_id))


@router.post(
    "/adverse-event-reports/{report_id}/submitted",
    response=ReportOut,
    auth=allow("aereport.submit"),
)
def post_submitted(
    request: ClinicRequest, report_id: int, payload: ReportSubmittedIn
) -> dict[str, Any]:
    actor = request.auth
    report = ae_reports.get_report_for(actor, report_id, "aereport.submit")
    ae_reports.mark_submitted(
        actor=actor, report=report, submitted_on=payload.submitted_on, reference=payload.reference
    )
    return _out(ae_reports.get_report_for(actor, report_id))


@router.post(
    "/sessions/{session_id}/adverse-events/{event_id}/reportable",
    response={201: list[ReportOut]},
    auth=allow("medical.sign"),
)
def post_reportable(
    request: ClinicRequest, session_id: int, event_id: int, payload: ReportableIn
) -> Status:
    actor = request.auth
    session = get_session_for(actor, session_id)
    made = ae_reports.mark_reportable(
        actor=actor, session=session, event_id=event_id, reason=payload.reason
    )
    return Status(201, [_out(ae_reports.get_report_for(actor, r.pk)) for r in made])


@router.post(
    "/patients/{patient_id}/liver-tests",
    response={201: LiverTestOut},
    auth=allow("clinical.edit"),
)
def post_liver_test(request: ClinicRequest, patient_id: int, payload: LiverTestIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.edit")
    test = longterm.record_liver_test(actor=actor, patient=patient, **payload.dict())
    return Status(
        201,
        {
            "id": test.pk,
            "patient_id": patient.pk,
            "taken_on": test.taken_on,
            "result": test.result,
            "note": test.note,
        },
    )
