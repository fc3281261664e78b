"""Questionnaire links and schedules in the API: what the chart's measures section does.

Everything a page can do, the API can do: send a patient a single-use questionnaire link,
list the links sent, start a schedule (every N days, or before every appointment), list
and stop them. The same services as the pages (measures/services), the same permission
(`measures.send`), the same audit events; another clinic's patient or schedule is a 404.
No link token is ever returned: the patient receives it by e-mail only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.utils import timezone
from ninja import Router, Schema, Status
from pydantic import Field

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.measures import services
from ketaclinic.measures.models import QuestionnaireLink, Schedule
from ketaclinic.patients.access import get_patient_for

router = Router(tags=["measures"])

InstrumentCode = Annotated[str, Field(min_length=1, max_length=40)]


class MeasureLinkIn(StrictIn):
    instruments: Annotated[list[InstrumentCode], Field(min_length=1, max_length=10)]


class MeasureLinkOut(Schema):
    id: int
    instruments: list[str]
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    reminders_sent: int
    scheduled: bool
    # valid (may still be filled in), used, or expired
    state: Literal["valid", "used", "expired"]


class MeasureScheduleIn(StrictIn):
    instruments: Annotated[list[InstrumentCode], Field(min_length=1, max_length=10)]
    kind: Literal["every_n_days", "before_appointment"]
    every_days: Annotated[int, Field(ge=1, le=365)] | None = None


class MeasureScheduleOut(Schema):
    id: int
    instruments: list[str]
    kind: str
    every_days: int | None
    next_due_at: datetime | None
    active: bool
    created_at: datetime


def _link_out(link: QuestionnaireLink) -> dict[str, object]:
    now = timezone.now()
    state = "used" if link.used_at else "expired" if link.expires_at <= now else "valid"
    return {
        "id": link.pk,
        "instruments": list(link.instruments),
        "created_at": link.created_at,
        "expires_at": link.expires_at,
        "used_at": link.used_at,
        "reminders_sent": link.reminders_sent,
        "scheduled": link.schedule_id is not None,
        "state": state,
    }


def _schedule_out(schedule: Schedule) -> dict[str, object]:
    return {
        "id": schedule.pk,
        "instruments": list(schedule.instruments),
        "kind": schedule.kind,
        "every_days": schedule.every_days,
        "next_due_at": schedule.next_due_at,
        "active": schedule.is_active,
        "created_at": schedule.created_at,
    }


@router.get(
    "/patients/{patient_id}/measure-links",
    response=list[MeasureLinkOut],
    auth=allow("measures.send"),
)
def list_measure_links(request: ClinicRequest, patient_id: int) -> list[dict[str, object]]:
    """The questionnaire links sent to the patient, newest first (at most 50)."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "measures.send")
    return [_link_out(link) for link in services.links_of(actor=actor, patient=patient)]


@router.post(
    "/patients/{patient_id}/measure-links",
    response={201: MeasureLinkOut},
    auth=allow("measures.send"),
)
def send_measure_link(request: ClinicRequest, patient_id: int, payload: MeasureLinkIn) -> Status:
    """E-mail the patient a single-use, expiring link to these questionnaires (422 when the
    patient has no e-mail address or an instrument cannot be self-reported)."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "measures.send")
    link = services.send_questionnaire(
        actor=actor, patient=patient, instruments=payload.instruments
    )
    return Status(201, _link_out(link))


@router.get(
    "/patients/{patient_id}/measure-schedules",
    response=list[MeasureScheduleOut],
    auth=allow("measures.send"),
)
def list_measure_schedules(request: ClinicRequest, patient_id: int) -> list[dict[str, object]]:
    """The patient's running questionnaire schedules, oldest first."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "measures.send")
    return [_schedule_out(s) for s in services.schedules_of(actor=actor, patient=patient)]


@router.post(
    "/patients/{patient_id}/measure-schedules",
    response={201: MeasureScheduleOut},
    auth=allow("measures.send"),
)
def add_measure_schedule(
    request: ClinicRequest, patient_id: int, payload: MeasureScheduleIn
) -> Status:
    """Send the questionnaires every N days (`every_days`), or before every appointment."""
    actor = request.auth
    patient = get_patient_for(actor, patient_id, "measures.send")
    schedule = services.add_schedule(
        actor=actor,
        patient=patient,
        instruments=payload.instruments,
        kind=payload.kind,
        every_days=payload.every_days,
    )
    return Status(201, _schedule_out(schedule))


@router.post(
    "/measure-schedules/{schedule_id}/stop",
    response=MeasureScheduleOut,
    auth=allow("measures.send"),
)
def stop_measure_schedule(request: ClinicRequest, schedule_id: int) -> dict[str, object]:
    """Stop a schedule (kept for the record); stopping a stopped one changes nothing."""
    actor = request.auth
    schedule = services.get_schedule_for(actor, schedule_id)
    if schedule.is_active:
        services.stop_schedule(actor=actor, schedule=schedule)
        schedule.refresh_from_db()
    return _schedule_out(schedule)
