"""Treatment session API: start, checklist, dosing, vitals, events, discharge, signing.

Every write takes `version`, the session version the client loaded; a stale one is
answered 409 and changes nothing (appends such as vitals may omit it). A write the
session's state refuses is answered 409 with what blocks it.
"""

from datetime import date, datetime
from functools import wraps
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from ninja import Router, Status
from ninja.errors import HttpError  # noqa: F401 - re-exported for clients' type hints

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import PageNumber
from ketaclinic.api_schemas import StrictIn
from ketaclinic.scheduling.access import get_appointment_for
from ketaclinic.treatment import presenters, rems, reports, services
from ketaclinic.treatment import vitals as vitals_path
from ketaclinic.treatment.access import VITALS_RELATED, get_rems_form_for, get_session_for
from ketaclinic.treatment.api_schemas import (
    AdverseEventOut,
    DeviceOut,
    ObservationOut,
    RecordedReadingOut,
    RemsFormOut,
    RemsSubmittedOut,
    SessionAlertOut,
    TreatmentSessionOut,
    VersionConflictOut,
)

router = Router(tags=["treatment"])


def conflicts(handler: Any) -> Any:
    """Answer SessionConflict as 409 {"detail", ...what blocks it}."""

    @wraps(handler)
    def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(request, *args, **kwargs)
        except services.SessionConflict as exc:
            return Status(409, {"detail": exc.detail, **exc.extra})

    return wrapped


def _detail(session: Any) -> dict[str, Any]:
    return presenters.detail(session)


def _fresh(request: ClinicRequest, session_id: int, action: str = "clinical.view") -> Any:
    return get_session_for(request.auth, session_id, action)


class StartIn(StrictIn):
    pregnancy_possible: bool | None = None


@router.post(
    "/appointments/{appointment_id}/session",
    response={201: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def start(request: ClinicRequest, appointment_id: int, payload: StartIn | None = None):
    appointment = get_appointment_for(request.auth, appointment_id)
    session = services.start_session(
        actor=request.auth,
        appointment=appointment,
        pregnancy_possible=payload.pregnancy_possible if payload else None,
    )
    return Status(201, _detail(_fresh(request, session.pk)))


@router.get("/sessions/{session_id}", response=TreatmentSessionOut, auth=allow("clinical.view"))
def session_get(request: ClinicRequest, session_id: int):
    session = get_session_for(request.auth, session_id, read="api")
    return _detail(session)


class CheckIn(StrictIn):
    met: bool
    finding: str = ""
    # The fasting item only: what the patient reports.
    hours_since_food: float | None = None
    hours_since_liquids: float | None = None
    version: int


@router.post(
    "/sessions/{session_id}/checklist/{item_id}",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def checklist_item(request: ClinicRequest, session_id: int, item_id: str, payload: CheckIn):
    session = _fresh(request, session_id, "session.chart")
    services.check_item(
        actor=request.auth,
        session=session,
        item_id=item_id,
        met=payload.met,
        finding=payload.finding,
        hours_since_food=payload.hours_since_food,
        hours_since_liquids=payload.hours_since_liquids,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class OverrideIn(StrictIn):
    reason: str
    version: int


@router.post(
    "/sessions/{session_id}/checklist/{item_id}/override",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("medical.sign"),
)
@conflicts
def checklist_override(request: ClinicRequest, session_id: int, item_id: str, payload: OverrideIn):
    session = _fresh(request, session_id, "medical.sign")
    services.override_item(
        actor=request.auth,
        session=session,
        item_id=item_id,
        reason=payload.reason,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class DosingIn(StrictIn):
    product: str
    lot_number: str = ""
    dose_mg: float | None = None
    concentration_mg_per_ml: float | None = None
    started_at: datetime | None = None
    ledger_lot_id: int | None = None
    version: int


@router.post(
    "/sessions/{session_id}/dosing",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("dose.record"),
)
@conflicts
def dosing_start(request: ClinicRequest, session_id: int, payload: DosingIn):
    session = _fresh(request, session_id, "dose.record")
    lot = None
    if payload.ledger_lot_id is not None:
        from ketaclinic.inventory.models import Lot

        lot = Lot.objects.for_clinic(request.auth.clinic).filter(pk=payload.ledger_lot_id).first()
        if lot is None:
            raise ValidationError({"ledger_lot_id": "No such lot in this clinic."})
    services.begin_dosing(
        actor=request.auth,
        session=session,
        product=payload.product,
        lot_number=payload.lot_number,
        dose_mg=payload.dose_mg,
        concentration_mg_per_ml=payload.concentration_mg_per_ml,
        started_at=payload.started_at,
        ledger_lot=lot,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class DeviceIn(StrictIn):
    given_at: datetime | None = None
    version: int | None = None
    # A physician's reason to record a device sooner than the protocol's interval.
    override_reason: str = ""


@router.post(
    "/sessions/{session_id}/devices",
    response={201: DeviceOut, 409: VersionConflictOut},
    auth=allow("dose.record"),
)
@conflicts
def device(request: ClinicRequest, session_id: int, payload: DeviceIn):
    session = _fresh(request, session_id, "dose.record")
    found, warnings = services.record_device(
        actor=request.auth,
        session=session,
        given_at=payload.given_at,
        expected_version=payload.version,
        override_reason=payload.override_reason,
    )
    return Status(
        201,
        {
            "number": found.number,
            "given_at": found.given_at.isoformat(),
            "mg": float(found.mg),
            "warnings": warnings,
            "session_version": session.version,
        },
    )


class InfusionIn(StrictIn):
    kind: str
    reason: str
    rate_ml_per_h: float | None = None
    at: datetime | None = None
    version: int


@router.post(
    "/sessions/{session_id}/infusion",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("dose.record"),
)
@conflicts
def infusion(request: ClinicRequest, session_id: int, payload: InfusionIn):
    session = _fresh(request, session_id, "dose.record")
    services.change_infusion(
        actor=request.auth,
        session=session,
        kind=payload.kind,
        reason=payload.reason,
        rate_ml_per_h=payload.rate_ml_per_h,
        at=payload.at,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class DosingEndIn(StrictIn):
    drawn: float
    given: float
    left_over: float
    waste_manner: str = ""
    ended_at: datetime | None = None
    version: int


@router.post(
    "/sessions/{session_id}/dosing/end",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("dose.record"),
)
@conflicts
def dosing_end(request: ClinicRequest, session_id: int, payload: DosingEndIn):
    session = _fresh(request, session_id, "dose.record")
    services.end_dosing(
        actor=request.auth,
        session=session,
        drawn=payload.drawn,
        given=payload.given,
        left_over=payload.left_over,
        waste_manner=payload.waste_manner,
        ended_at=payload.ended_at,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class VitalsIn(StrictIn):
    systolic: float | None = None
    diastolic: float | None = None
    heart_rate: float | None = None
    spo2: float | None = None
    respiratory_rate: float | None = None
    temperature_c: float | None = None
    taken_at: datetime | None = None
    version: int | None = None


@router.post(
    "/sessions/{session_id}/vitals",
    response={201: RecordedReadingOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def vitals(request: ClinicRequest, session_id: int, payload: VitalsIn):
    session = get_session_for(request.auth, session_id, "session.chart", related=VITALS_RELATED)
    values = payload.dict(exclude={"taken_at", "version"})
    reading, alerts = vitals_path.record_vitals(
        actor=request.auth,
        session=session,
        values=values,
        taken_at=payload.taken_at,
        expected_version=payload.version,
    )
    body = presenters.reading_out(reading, alerts)
    body["session_version"] = session.version
    return Status(201, body)


class ObservationIn(StrictIn):
    kind: str
    value: float | None = None
    text: str = ""
    taken_at: datetime | None = None
    version: int | None = None


@router.post(
    "/sessions/{session_id}/observations",
    response={201: ObservationOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def observation(request: ClinicRequest, session_id: int, payload: ObservationIn):
    session = _fresh(request, session_id, "session.chart")
    found, alerts = services.record_observation(
        actor=request.auth,
        session=session,
        kind=payload.kind,
        value=payload.value,
        text=payload.text,
        taken_at=payload.taken_at,
        expected_version=payload.version,
    )
    return Status(
        201,
        {
            "id": found.pk,
            "kind": found.kind,
            "value": found.value,
            "text": found.text,
            "taken_at": found.taken_at.isoformat(),
            "alerts": [presenters.alert_out(a) for a in alerts],
            "session_version": session.version,
        },
    )


@router.post(
    "/sessions/{session_id}/alerts/{alert_id}/acknowledge",
    response={200: SessionAlertOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def acknowledge(request: ClinicRequest, session_id: int, alert_id: int):
    session = _fresh(request, session_id, "session.chart")
    alert = services.acknowledge_alert(actor=request.auth, session=session, alert_id=alert_id)
    return presenters.alert_out(alert)


class AdverseIn(StrictIn):
    type: str
    severity: str
    outcome: str
    onset_at: datetime | None = None
    interventions: list[str] = []
    drug_given: str = ""
    serious: bool = False
    note: str = ""
    version: int | None = None


@router.post(
    "/sessions/{session_id}/adverse-events",
    response={201: AdverseEventOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def adverse_event(request: ClinicRequest, session_id: int, payload: AdverseIn):
    session = _fresh(request, session_id, "session.chart")
    event = services.record_adverse_event(
        actor=request.auth,
        session=session,
        type=payload.type,
        severity=payload.severity,
        outcome=payload.outcome,
        onset_at=payload.onset_at,
        interventions=payload.interventions,
        drug_given=payload.drug_given,
        serious=payload.serious,
        note=payload.note,
        expected_version=payload.version,
    )
    return Status(201, {"id": event.pk, "type": event.type, "serious": event.serious})


class AssessmentIn(StrictIn):
    dissociation_resolved: bool | None = None
    walks_steadily: bool | None = None
    escort_present: bool | None = None
    respiratory_depression: bool | None = None
    could_have_left_at: datetime | None = None
    version: int


@router.post(
    "/sessions/{session_id}/assessment",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def assessment(request: ClinicRequest, session_id: int, payload: AssessmentIn):
    session = _fresh(request, session_id, "session.chart")
    services.assess_discharge(
        actor=request.auth,
        session=session,
        dissociation_resolved=payload.dissociation_resolved,
        walks_steadily=payload.walks_steadily,
        escort_present=payload.escort_present,
        respiratory_depression=payload.respiratory_depression,
        could_have_left_at=payload.could_have_left_at,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class DischargeIn(StrictIn):
    override_reason: str = ""
    could_have_left_at: datetime | None = None
    version: int


@router.post(
    "/sessions/{session_id}/discharge",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def discharge(request: ClinicRequest, session_id: int, payload: DischargeIn):
    session = _fresh(request, session_id, "session.chart")
    services.discharge(
        actor=request.auth,
        session=session,
        override_reason=payload.override_reason,
        could_have_left_at=payload.could_have_left_at,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class StopIn(StrictIn):
    reason: str
    # Stopping while dosing after the dose started: what was drawn, given and left over.
    drawn: float | None = None
    given: float | None = None
    left_over: float | None = None
    waste_manner: str = ""
    version: int


@router.post(
    "/sessions/{session_id}/stop",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def stop(request: ClinicRequest, session_id: int, payload: StopIn):
    session = _fresh(request, session_id, "session.chart")
    services.stop_session(
        actor=request.auth,
        session=session,
        reason=payload.reason,
        drawn=payload.drawn,
        given=payload.given,
        left_over=payload.left_over,
        waste_manner=payload.waste_manner,
        expected_version=payload.version,
    )
    return _detail(_fresh(request, session_id))


class SignIn(StrictIn):
    version: int


@router.post(
    "/sessions/{session_id}/sign",
    response={200: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def sign(request: ClinicRequest, session_id: int, payload: SignIn):
    session = _fresh(request, session_id, "session.chart")
    services.sign_session(actor=request.auth, session=session, expected_version=payload.version)
    return _detail(_fresh(request, session_id))


class AmendmentIn(StrictIn):
    target: str
    field: str
    new_value: str
    reason: str
    version: int


@router.post(
    "/sessions/{session_id}/amendments",
    response={201: TreatmentSessionOut, 409: VersionConflictOut},
    auth=allow("session.chart"),
)
@conflicts
def amend(request: ClinicRequest, session_id: int, payload: AmendmentIn):
    session = _fresh(request, session_id, "session.chart")
    services.add_amendment(
        actor=request.auth,
        session=session,
        target=payload.target,
        field=payload.field,
        new_value=payload.new_value,
        reason=payload.reason,
        expected_version=payload.version,
    )
    return Status(201, _detail(_fresh(request, session_id)))


@router.get("/sessions/{session_id}/summary.pdf", auth=allow("clinical.view"))
def summary_pdf(request: ClinicRequest, session_id: int):
    session = get_session_for(request.auth, session_id, read="summary_pdf")
    response = HttpResponse(reports.summary_pdf(session), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="session-{session.pk}.pdf"'
    return response


@router.get("/rems-forms", response=list[RemsFormOut], auth=allow("rems.manage"))
def rems_forms(request: ClinicRequest, page: PageNumber = 1):
    """Every overdue and due form (oldest due first), then one page of submitted ones."""
    today = request.auth.clinic.today()
    listing = rems.forms_listing(request.auth.clinic, today, page=page)
    forms = [*listing.overdue, *listing.due, *listing.submitted]
    return [
        {
            "id": f.pk,
            "session_id": f.session_id,
            "due_on": f.due_on.isoformat(),
            "submitted_on": f.submitted_on.isoformat() if f.submitted_on else None,
            "status": rems.status_of(f, today),
        }
        for f in forms
    ]


class SubmittedIn(StrictIn):
    submitted_on: date


@router.post(
    "/rems-forms/{form_id}/submitted", response=RemsSubmittedOut, auth=allow("rems.manage")
)
def rems_submitted(request: ClinicRequest, form_id: int, payload: SubmittedIn):
    form = get_rems_form_for(request.auth, form_id)
    rems.mark_submitted(actor=request.auth, form=form, submitted_on=payload.submitted_on)
    assert form.submitted_on is not None  # mark_submitted set it
    return {"id": form.pk, "submitted_on": form.submitted_on.isoformat()}
