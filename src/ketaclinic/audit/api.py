"""Audit log API (admins only): /api/v1/audit/events."""

from datetime import date, datetime

from ninja import Query, Router, Schema
from ninja.pagination import paginate

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_safety import PageNumbers, RecordId
from ketaclinic.audit.queries import events_for

router = Router(tags=["audit"])


class EventFilters(Schema):
    patient: RecordId | None = None
    user: str | None = None
    date_from: date | None = None
    date_to: date | None = None


class EventOut(Schema):
    id: int
    at: datetime
    username: str
    role: str
    patient_id: int | None
    action: str
    object_type: str
    object_id: str
    ip: str | None
    via_token: int | None
    sealed: bool


@router.get("/events", response=list[EventOut], auth=allow("audit.view"))
@paginate(PageNumbers, page_size=50)
def list_events(request: ClinicRequest, filters: Query[EventFilters]):
    return events_for(
        request.auth,
        patient_id=filters.patient,
        username=filters.user,
        date_from=filters.date_from,
        date_to=filters.date_to,
    )
