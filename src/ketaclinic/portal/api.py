"""The portal's API under /api/v1/portal/ (a patient's token or session), and the staff
routes it needs (the invitation, the message inbox).

A portal route never takes a patient id: the patient is the one signed in. Any other id
is looked up among the patient's own rows, so another patient's id answers 404.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.utils import timezone
from ninja import Field, Router, Schema, Status

from ketaclinic.accounts.access import ClinicRequest
from ketaclinic.api_auth import allow
from ketaclinic.api_schemas import StrictIn
from ketaclinic.audit.services import record
from ketaclinic.integration.models import Homework, JournalEntry
from ketaclinic.measures.registry import instruments
from ketaclinic.patients.access import get_patient_for
from ketaclinic.portal import services, summaries
from ketaclinic.portal.access import account_of, own, portal_allow
from ketaclinic.portal.documents import documents_for
from ketaclinic.portal.models import Thread
from ketaclinic.portal.progress import progress_for
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.access import get_session_for

router = Router(tags=["portal"])
staff_router = Router(tags=["portal"])


class PortalMeOut(Schema):
    username: str
    given_name: str
    family_name: str
    clinic: str
    clinic_phone: str
    crisis_line: str
    late_cancel_hours: int


class PortalAppointmentOut(Schema):
    id: int
    kind: str
    start: datetime
    end: datetime
    status: Literal["Upcoming", "Past", "Cancelled"]
    may_change: bool
    checkin_open: bool


class PortalChangeIn(StrictIn):
    kind: Literal["cancel", "reschedule"] = "cancel"
    note: str = Field("", max_length=300)


class PortalChangeOut(Schema):
    id: int
    kind: str
    created_at: datetime


class PortalCheckinIn(StrictIn):
    escort_name: str = Field(..., max_length=120)
    escort_phone: str = Field(..., max_length=40)
    last_food_at: str = Field("", max_length=5)
    last_liquids_at: str = Field("", max_length=5)
    benzodiazepine_last_12h: bool
    new_medicines: str = Field("", max_length=1000)


class PortalCheckinOut(Schema):
    appointment_id: int
    escort_name: str
    escort_phone: str
    last_food_at: datetime | None
    last_liquids_at: datetime | None
    benzodiazepine_last_12h: bool
    new_medicines: str
    submitted_at: datetime


class PortalQuestionnaireOut(Schema):
    id: int
    instruments: list[str]
    titles: list[str]
    expires_at: datetime


class PortalScoreOut(Schema):
    at: datetime
    total: int


class PortalProgressOut(Schema):
    instrument: str
    title: str
    summary: str
    scores: list[PortalScoreOut]
    response: str
    remission: str


class PortalJournalIn(StrictIn):
    text: str = Field(..., max_length=services.TEXT_LIMIT)
    share: bool = False
    needs_help: bool = False


class PortalJournalOut(Schema):
    id: int
    text: str
    created_at: datetime
    shared_at: datetime | None
    needs_help: bool


class PortalMessageIn(StrictIn):
    body: str = Field(..., max_length=services.TEXT_LIMIT)
    subject: str = Field("", max_length=120)
    thread: int | None = None


class PortalMessageOut(Schema):
    id: int
    thread_id: int
    subject: str
    from_patient: bool
    body: str
    created_at: datetime


class PortalDocumentOut(Schema):
    kind: str
    id: int
    title: str
    date: date
    note: str
    url: str


class PortalHomeworkOut(Schema):
    id: int
    kind: str
    title: str
    instructions: str
    due_on: date | None
    done_at: datetime | None


class PortalInviteOut(Schema):
    username: str
    expires_at: datetime


class InboxThreadOut(Schema):
    id: int
    patient_id: int
    subject: str
    last_message_at: datetime
    assigned_to: int | None
    unread: bool
    done_at: datetime | None


def _appointments(account: Any) -> Any:
    return Appointment.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)


@router.get("/me", response=PortalMeOut, auth=portal_allow())
def me(request: ClinicRequest) -> dict[str, Any]:
    account = account_of(request.auth)
    services.audit_read(request.auth, account, "me")
    crisis = services.crisis_line()
    return {
        "username": account.user.username,
        "given_name": account.patient.given_name,
        "family_name": account.patient.family_name,
        "clinic": account.clinic.name,
        "clinic_phone": account.clinic.phone,
        "crisis_line": crisis["number"],
        "late_cancel_hours": services.late_cancel_hours(),
    }


@router.get("/appointments", response=list[PortalAppointmentOut], auth=portal_allow())
def appointments(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    now = timezone.now()
    rows = list(_appointments(account).select_related("clinic").order_by("start")[:200])
    services.audit_read(request.auth, account, "appointments")
    return [
        {
            "id": a.pk,
            "kind": a.kind,
            "start": a.start,
            "end": a.end,
            "status": services.patient_status(a, now),
            "may_change": services.may_change(a, now),
            "checkin_open": services.is_checkin_day(a, now),
        }
        for a in rows
    ]


@router.post(
    "/appointments/{appointment_id}/cancel",
    response={201: PortalChangeOut},
    auth=portal_allow(),
)
def cancel(request: ClinicRequest, appointment_id: int, payload: PortalChangeIn) -> Status:
    account = account_of(request.auth)
    appointment = own(account, _appointments(account), appointment_id, "appointment")
    made = services.request_change(
        actor=request.auth,
        account=account,
        appointment=appointment,
        kind=payload.kind,
        note=payload.note,
    )
    return Status(201, {"id": made.pk, "kind": made.kind, "created_at": made.created_at})


@router.post(
    "/appointments/{appointment_id}/checkin",
    response={201: PortalCheckinOut},
    auth=portal_allow(),
)
def checkin(request: ClinicRequest, appointment_id: int, payload: PortalCheckinIn) -> Status:
    account = account_of(request.auth)
    appointment = own(
        account, _appointments(account).select_related("clinic"), appointment_id, "appointment"
    )
    data = payload.dict()
    data["benzodiazepine_last_12h"] = "yes" if payload.benzodiazepine_last_12h else "no"
    made = services.check_in(
        actor=request.auth, account=account, appointment=appointment, data=data
    )
    return Status(
        201,
        {
            "appointment_id": made.appointment_id,
            "escort_name": made.escort_name,
            "escort_phone": made.escort_phone,
            "last_food_at": made.last_food_at,
            "last_liquids_at": made.last_liquids_at,
            "benzodiazepine_last_12h": made.benzodiazepine_last_12h,
            "new_medicines": made.new_medicines,
            "submitted_at": made.submitted_at,
        },
    )


@router.get("/questionnaires", response=list[PortalQuestionnaireOut], auth=portal_allow())
def questionnaires(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    loaded = instruments()
    services.audit_read(request.auth, account, "questionnaires")
    return [
        {
            "id": link.pk,
            "instruments": list(link.instruments),
            "titles": [loaded[c].title for c in link.instruments if c in loaded],
            "expires_at": link.expires_at,
        }
        for link in services.due_links(account)
    ]


@router.get("/progress", response=list[PortalProgressOut], auth=portal_allow())
def progress(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    services.audit_read(request.auth, account, "progress")
    return [
        {
            "instrument": p["code"],
            "title": p["title"],
            "summary": p["sentence"],
            "scores": [{"at": r["at"], "total": r["total"]} for r in p["rows"]],
            "response": p["response_text"],
            "remission": p["remission_text"],
        }
        for p in progress_for(account.patient)
    ]


def _entry_out(e: JournalEntry) -> dict[str, Any]:
    return {
        "id": e.pk,
        "text": e.text,
        "created_at": e.created_at,
        "shared_at": e.shared_at,
        "needs_help": e.needs_help,
    }


@router.get("/journal", response=list[PortalJournalOut], auth=portal_allow())
def journal(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    rows = JournalEntry.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)[
        :200
    ]
    services.audit_read(request.auth, account, "journal")
    return [_entry_out(e) for e in rows]


@router.post("/journal", response={201: PortalJournalOut}, auth=portal_allow())
def journal_write(request: ClinicRequest, payload: PortalJournalIn) -> Status:
    account = account_of(request.auth)
    entry = services.write_journal(
        actor=request.auth,
        account=account,
        text=payload.text,
        share=payload.share,
        needs_help=payload.needs_help,
    )
    return Status(201, _entry_out(entry))


@router.get("/homework", response=list[PortalHomeworkOut], auth=portal_allow())
def homework(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    rows = Homework.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)
    services.audit_read(request.auth, account, "homework")
    return [
        {
            "id": h.pk,
            "kind": h.kind,
            "title": h.title,
            "instructions": h.instructions,
            "due_on": h.due_on,
            "done_at": h.done_at,
        }
        for h in rows[:200]
    ]


@router.post("/homework/{homework_id}/done", response=PortalHomeworkOut, auth=portal_allow())
def homework_done(request: ClinicRequest, homework_id: int) -> dict[str, Any]:
    account = account_of(request.auth)
    item = own(account, Homework.objects.all(), homework_id, "practice")
    h = services.homework_done(actor=request.auth, account=account, homework=item)
    return {
        "id": h.pk,
        "kind": h.kind,
        "title": h.title,
        "instructions": h.instructions,
        "due_on": h.due_on,
        "done_at": h.done_at,
    }


@router.get("/messages", response=list[PortalMessageOut], auth=portal_allow())
def messages(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    threads = list(
        Thread.objects.filter(clinic_id=account.clinic_id, patient_id=account.patient_id)[:100]
    )
    out = []
    for t in threads:
        for m in services.read_thread(actor=request.auth, thread=t):
            out.append(
                {
                    "id": m.pk,
                    "thread_id": t.pk,
                    "subject": t.subject,
                    "from_patient": m.from_patient,
                    "body": m.body,
                    "created_at": m.created_at,
                }
            )
    return out


@router.post("/messages", response={201: PortalMessageOut}, auth=portal_allow())
def message_send(request: ClinicRequest, payload: PortalMessageIn) -> Status:
    account = account_of(request.auth)
    if payload.thread is not None:
        thread = own(account, Thread.objects.all(), payload.thread, "conversation")
        message = services.reply(actor=request.auth, thread=thread, body=payload.body)
    else:
        thread = services.start_thread(
            actor=request.auth, account=account, subject=payload.subject, body=payload.body
        )
        message = thread.messages.get()
    return Status(
        201,
        {
            "id": message.pk,
            "thread_id": thread.pk,
            "subject": thread.subject,
            "from_patient": message.from_patient,
            "body": message.body,
            "created_at": message.created_at,
        },
    )


@router.get("/documents", response=list[PortalDocumentOut], auth=portal_allow())
def documents(request: ClinicRequest) -> list[dict[str, Any]]:
    account = account_of(request.auth)
    services.audit_read(request.auth, account, "documents")
    return documents_for(account)


# --- staff -------------------------------------------------------------------------------


@staff_router.post(
    "/patients/{patient_id}/portal-invite",
    response={201: PortalInviteOut},
    auth=allow("portal.invite"),
)
def portal_invite(request: ClinicRequest, patient_id: int) -> Status:
    patient = get_patient_for(request.auth, patient_id, "portal.invite")
    invitation = services.invite(actor=request.auth, patient=patient)
    return Status(201, {"username": invitation.username, "expires_at": invitation.expires_at})


class SummaryReleaseOut(Schema):
    session_id: int
    released: bool


@staff_router.put(
    "/sessions/{session_id}/portal-summary",
    response=SummaryReleaseOut,
    auth=allow("session.chart"),
)
def release_summary(request: ClinicRequest, session_id: int) -> dict[str, Any]:
    """Show the patient this signed session's plain-language summary in the portal."""
    session = get_session_for(request.auth, session_id, "session.chart")
    summaries.release(actor=request.auth, session=session)
    return {"session_id": session.pk, "released": True}


@staff_router.delete(
    "/sessions/{session_id}/portal-summary",
    response=SummaryReleaseOut,
    auth=allow("session.chart"),
)
def withdraw_summary(request: ClinicRequest, session_id: int) -> dict[str, Any]:
    """Take the session's summary back from the patient's portal."""
    session = get_session_for(request.auth, session_id, "session.chart")
    summaries.withdraw(actor=request.auth, session=session)
    return {"session_id": session.pk, "released": False}


@staff_router.get("/messages", response=list[InboxThreadOut], auth=allow("messages.view"))
def inbox(request: ClinicRequest, show: Literal["open", "done"] = "open") -> list[dict[str, Any]]:
    actor = request.auth
    rows = Thread.objects.filter(clinic=actor.clinic, done_at__isnull=(show == "open"))[:200]
    threads = list(rows)
    record(actor, "view", detail={"what": "message_inbox", "count": len(threads)})
    return [
        {
            "id": t.pk,
            "patient_id": t.patient_id,
            "subject": t.subject,
            "last_message_at": t.last_message_at,
            "assigned_to": t.assigned_to_id,
            "unread": t.unread_by_staff,
            "done_at": t.done_at,
        }
        for t in threads
    ]
