"""Follow-up calls under /api/v1/follow-up-calls (the same service as the page)."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Field, Router, Schema, Status

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.audit.services import record
from ketaclinic.treatment import followup

router = Router(tags=["treatment"])


class FollowUpCallOut(Schema):
    id: int
    patient_id: int
    session_id: int
    due_on: date
    age_days: int
    attempts: int
    completed_at: datetime | None


class FollowUpAttemptIn(StrictIn):
    reached: bool
    suicidality: bool | None = None
    side_effects: list[str] = Field(default_factory=list, max_length=10)
    symptoms: str = Field("", max_length=followup.MAX_TEXT)


class FollowUpAttemptOut(Schema):
    call: FollowUpCallOut
    alert_id: int | None


def _out(call, today: date) -> dict:
    return {
        "id": call.pk,
        "patient_id": call.patient_id,
        "session_id": call.session_id,
        "due_on": call.due_on,
        "age_days": (today - call.due_on).days,
        "attempts": len(call.attempts.all()),
        "completed_at": call.completed_at,
    }


@router.get("/follow-up-calls", response=list[FollowUpCallOut], auth=allow("followup.view"))
def list_calls(request: ClinicRequest) -> list[dict]:
    actor = request.auth
    today = actor.clinic.today()
    calls = list(followup.open_calls(actor.clinic)[:200])
    record(
        actor,
        "view",
        detail={"what": "follow_up_calls", "patients": sorted({c.patient_id for c in calls})},
    )
    return [_out(call, today) for call in calls]


@router.post(
    "/follow-up-calls/{call_id}/attempts",
    response={201: FollowUpAttemptOut},
    auth=allow("followup.call"),
)
def add_attempt(request: ClinicRequest, call_id: int, payload: FollowUpAttemptIn) -> Status:
    actor = request.auth
    call = followup.get_call_for(actor, call_id, "followup.call")
    _attempt, alert = followup.record_attempt(
        actor=actor,
        call=call,
        reached=payload.reached,
        suicidality=payload.suicidality,
        side_effects=payload.side_effects,
        symptoms=payload.symptoms,
    )
    call.refresh_from_db()
    today = actor.clinic.today()
    return Status(201, {"call": _out(call, today), "alert_id": alert.pk if alert else None})
