"""Measures API: questionnaire responses, instruments, alerts, outcomes."""

from typing import cast

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import PageNumbers
from ketaclinic.measures import services
from ketaclinic.measures.models import Alert, Response
from ketaclinic.measures.registry import instruments, patient_may_fill
from ketaclinic.measures.schemas import (
    AlertOut,
    AlertResolveIn,
    AlertsQuery,
    InstrumentOut,
    MeasureIn,
    MeasureListItem,
    MeasureOut,
    MeasuresQuery,
    OutcomesOut,
)
from ketaclinic.patients.access import get_patient_for
from ketaclinic.patients.models import Patient

router = Router(tags=["measures"])


class MeasuresRequest(ClinicRequest):
    """The list handler leaves the patient it lists for its paginator's audit event."""

    _measures_patient: Patient


def _measure_out(response: Response) -> dict:
    result = response.score
    return {
        "id": response.pk,
        "instrument": response.instrument,
        "version": response.version,
        "total": response.total,
        "severity": response.severity or None,
        "severity_label": response.severity_label or None,
        "subscores": response.subscores,
        "prorated": response.prorated,
        "missing_items": response.missing_items,
        "provisional_diagnosis": response.provisional_diagnosis,
        "above_cutoff": response.above_cutoff,
        "alerts": [{"code": a.code, "level": a.level, "message": a.message} for a in result.alerts],
        "taken_at": response.taken_at,
    }


@router.post(
    "/patients/{patient_id}/measures", response={201: MeasureOut}, auth=allow("measures.record")
)
def record_measure(request: ClinicRequest, patient_id: int, payload: MeasureIn) -> Status:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "measures.record")
    response, _alerts = services.record_response(
        actor=actor,
        patient=patient,
        instrument=payload.instrument,
        answers=payload.answers,
        taken_at=payload.taken_at,
    )
    return Status(201, _measure_out(response))


class AuditedMeasures(PageNumbers):
    """Page numbers; the page shown is audited with the ids of its responses."""

    def paginate_queryset(self, queryset, pagination, request: HttpRequest, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        listed = cast(MeasuresRequest, request)
        services.view_measures(
            actor=listed.auth,
            patient=listed._measures_patient,
            what="api",
            ids=[r.pk for r in page["items"]],
        )
        return page


@router.get(
    "/patients/{patient_id}/measures", response=list[MeasureListItem], auth=allow("clinical.view")
)
@paginate(AuditedMeasures, page_size=25)
def list_measures(request: MeasuresRequest, patient_id: int, filters: Query[MeasuresQuery]):
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view")
    request._measures_patient = patient
    return services.responses_for(actor=actor, patient=patient, instrument=filters.instrument)


@router.get("/instruments", response=list[InstrumentOut], auth=allow("instruments.view"))
def list_instruments(request: HttpRequest) -> list[dict]:
    return [
        {
            "code": inst.code,
            "version": inst.version,
            "title": inst.title,
            "recall_period": inst.recall_period,
            "rater": inst.rater,
            "license": inst.license,
            "items": [
                {
                    "number": item.number,
                    "text": item.text,
                    "options": [{"value": o.value, "label": o.label} for o in item.options],
                }
                for item in inst.items
            ],
            "severity_codes": list(inst.severity_codes()),
            "patient_may_fill": patient_may_fill(inst),
        }
        for inst in sorted(instruments().values(), key=lambda i: i.code)
    ]


class AuditedAlerts(PageNumbers):
    """Page numbers; the page shown is audited with its alert and patient ids."""

    def paginate_queryset(self, queryset, pagination, request: HttpRequest, **params):
        page = super().paginate_queryset(queryset, pagination, request, **params)
        services.view_alerts(
            actor=cast(ClinicRequest, request).auth, alerts=list(page["items"]), what="api"
        )
        return page


@router.get("/alerts", response=list[AlertOut], auth=allow("clinical.view"))
@paginate(AuditedAlerts, page_size=50)
def list_alerts(request: ClinicRequest, filters: Query[AlertsQuery]):
    status = None if filters.status == "all" else filters.status
    return services.alerts_for(actor=request.auth, status=status)


@router.post("/alerts/{alert_id}/resolve", response=AlertOut, auth=allow("alerts.resolve"))
def resolve_alert(request: ClinicRequest, alert_id: int, payload: AlertResolveIn) -> Alert:
    actor = request.auth
    alert = services.get_alert_for(actor, alert_id, "alerts.resolve")
    return services.resolve_alert(
        actor=actor, alert=alert, action=payload.action, note=payload.note
    )


@router.get("/patients/{patient_id}/outcomes", response=OutcomesOut, auth=allow("clinical.view"))
def patient_outcomes(request: ClinicRequest, patient_id: int) -> dict:
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "clinical.view")
    return {"instruments": services.outcomes_for(actor=actor, patient=patient)}
